/**
 * The engine's only source of time (DESIGN §3.2). Deadlines are computed from a monotonic clock,
 * never wall time, and the clock is injected so every timing rule can be tested with a fake one.
 */
export interface Clock {
  /** Monotonic milliseconds: never decreases; the origin is arbitrary. */
  now(): number;
}

/** A clock that moves only when told to: for tests and benchmarks. */
export class ManualClock implements Clock {
  #now: number;

  constructor(start = 0) {
    ManualClock.#check(start);
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Moves the clock forward by `ms` (>= 0) and returns the new time. */
  advance(ms: number): number {
    ManualClock.#check(ms);
    if (ms < 0) throw new RangeError(`A monotonic clock cannot go back; advance(${ms}) was asked.`);
    this.#now += ms;
    return this.#now;
  }

  /** Moves the clock to `ms`, which must not be earlier than now: the clock is monotonic. */
  set(ms: number): void {
    ManualClock.#check(ms);
    if (ms < this.#now) {
      throw new RangeError(`A monotonic clock cannot go back from ${this.#now} to ${ms}.`);
    }
    this.#now = ms;
  }

  static #check(ms: number): void {
    if (!Number.isFinite(ms)) throw new RangeError(`Clock times must be finite numbers; got ${ms}.`);
  }
}
