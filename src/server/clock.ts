import { performance } from 'node:perf_hooks';
import type { Clock } from '../engine/clock.js';

/**
 * The daemon's clock: monotonic milliseconds since the process started (DESIGN §3.2: deadlines
 * never come from wall time, so a wall-clock step cannot expire a lease).
 */
export const monotonicClock: Clock = {
  now: () => performance.now(),
};

export interface StallOptions {
  /** How often the watchdog ticks. Default 100 ms. */
  readonly tickMs?: number;
  /** A gap between ticks longer than this is a stall. Default 500 ms. */
  readonly thresholdMs?: number;
  /** Called once per stall detected, with its length. */
  readonly onStall?: (stalledMs: number) => void;
}

/**
 * A monotonic clock that does not count the time the daemon itself could not run (issue 9): an
 * event loop blocked by a long task, the process stopped by SIGSTOP or descheduled. While the
 * daemon is frozen its clients' heartbeats cannot be read, so counting that time would reclaim
 * leases whose holders are alive and whose client-side deadlines may still be live (DESIGN §3.3).
 * Instead every deadline is extended by the measured stall: the time between two watchdog ticks
 * beyond the tick interval, once the gap exceeds `thresholdMs`.
 *
 * The stall is taken into account by the first `now()` after it, whichever callback runs first
 * when the daemon resumes (the sweep timer, a socket read), so no deadline is judged on the
 * uncompensated time. Stopping the clock or extending deadlines never makes a lease expire
 * earlier; it only reclaims later, which is the safe side.
 */
export class StallCompensatedClock implements Clock {
  readonly #raw: () => number;
  readonly #tickMs: number;
  readonly #thresholdMs: number;
  readonly #onStall: ((stalledMs: number) => void) | undefined;
  #lastTick: number;
  #stalled = 0;
  /** The stall already counted in the current gap between ticks. */
  #countedInGap = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(raw: () => number = () => performance.now(), options: StallOptions = {}) {
    this.#raw = raw;
    this.#tickMs = options.tickMs ?? 100;
    this.#thresholdMs = options.thresholdMs ?? 500;
    this.#onStall = options.onStall;
    this.#lastTick = raw();
  }

  /** Starts the watchdog timer (unref'd: it never keeps the process alive). */
  start(): this {
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.tick(), this.#tickMs);
      this.#timer.unref();
    }
    return this;
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The watchdog's beat (public for tests that drive it by hand). */
  tick(): void {
    const raw = this.#raw();
    this.#observe(raw);
    if (this.#countedInGap > 0) this.#onStall?.(this.#countedInGap);
    if (raw > this.#lastTick) this.#lastTick = raw;
    this.#countedInGap = 0;
  }

  /** Total time not counted so far. */
  get stalledMs(): number {
    return this.#stalled;
  }

  now(): number {
    const raw = this.#raw();
    this.#observe(raw);
    return raw - this.#stalled;
  }

  /**
   * Counts the part of the current gap since the last tick that is a stall. Only the watchdog's
   * tick closes a gap: a long task that reads the clock while it blocks the loop is still a stall.
   */
  #observe(raw: number): void {
    const gap = raw - this.#lastTick;
    const stall = gap > this.#thresholdMs ? gap - this.#tickMs : 0;
    if (stall > this.#countedInGap) {
      this.#stalled += stall - this.#countedInGap;
      this.#countedInGap = stall;
    }
  }
}
