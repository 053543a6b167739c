/**
 * A small typed event emitter that delivers after the state change is complete.
 *
 * The engine queues events while it changes state and delivers them when the public call that made
 * the change is done, so a listener always sees consistent state and cannot stop an operation
 * halfway (an endSession that releases ten leases releases all ten). A listener that throws does not
 * stop delivery either: every listener gets every event, and the failures are handed back to the
 * engine, which rethrows them as one EventListenerError. A listener may call the engine again; the
 * events of that nested call are delivered after the current ones, in order.
 */

type Listener<P> = (payload: P) => void;

export interface ListenerFailure {
  readonly event: string;
  readonly error: unknown;
}

const NO_FAILURES: readonly ListenerFailure[] = Object.freeze([]);

export class EventQueue<M> {
  /**
   * Each event's listeners, an array replaced (never changed) by on/off: a delivery walks the array
   * it started with, so a listener added or removed meanwhile takes effect from the next event, and
   * no copy is made per event (issue 8: events are delivered on every checkout and checkin).
   */
  readonly #listeners = new Map<keyof M, readonly Listener<never>[]>();
  /**
   * The queued events' names and payloads, side by side (no wrapper object per event), in slots
   * reused from call to call: the first `#queued` are this call's.
   */
  readonly #names: (keyof M | undefined)[] = [];
  readonly #payloads: unknown[] = [];
  #queued = 0;
  #delivering = false;

  on<E extends keyof M>(name: E, listener: Listener<M[E]>): void {
    const listeners = this.#listeners.get(name) ?? [];
    if (listeners.includes(listener as Listener<never>)) return;
    this.#listeners.set(name, [...listeners, listener as Listener<never>]);
  }

  off<E extends keyof M>(name: E, listener: Listener<M[E]>): void {
    const listeners = this.#listeners.get(name);
    if (listeners === undefined || !listeners.includes(listener as Listener<never>)) return;
    const rest = listeners.filter((l) => l !== listener);
    if (rest.length === 0) this.#listeners.delete(name);
    else this.#listeners.set(name, rest);
  }

  /** Whether anyone listens, so the engine can skip building payloads nobody reads. */
  wants(name: keyof M): boolean {
    return this.#listeners.has(name);
  }

  queue<E extends keyof M>(name: E, payload: M[E]): void {
    if (!this.#listeners.has(name)) return;
    const slot = this.#queued++;
    this.#names[slot] = name;
    this.#payloads[slot] = payload;
  }

  /**
   * Delivers every queued event in order and returns the listeners' failures. A call made while
   * delivering (from inside a listener) returns nothing: the outer delivery picks its events up.
   */
  deliver(): readonly ListenerFailure[] {
    if (this.#delivering || this.#queued === 0) return NO_FAILURES;
    this.#delivering = true;
    const names = this.#names;
    const payloads = this.#payloads;
    let failures: ListenerFailure[] | undefined;
    try {
      // Index loop against #queued: listeners may queue more events while we deliver.
      for (let i = 0; i < this.#queued; i++) {
        const name = names[i] as keyof M;
        const payload = payloads[i] as M[keyof M];
        // Delivered: the slot no longer keeps its payload alive.
        names[i] = undefined;
        payloads[i] = undefined;
        const listeners = this.#listeners.get(name);
        if (listeners === undefined) continue;
        for (const listener of listeners) {
          try {
            (listener as Listener<M[keyof M]>)(payload);
          } catch (error) {
            failures ??= [];
            failures.push({ event: String(name), error });
          }
        }
      }
    } finally {
      this.#queued = 0;
      this.#delivering = false;
    }
    return failures ?? NO_FAILURES;
  }
}

/**
 * One or more event listeners threw. The engine's state is consistent and every event was delivered
 * to every listener; this error only reports the listeners' failures (never a protocol error:
 * STYLE §9). If the operation itself failed too, its error is `operationError`.
 */
export class EventListenerError extends Error {
  override name = 'EventListenerError';
  readonly failures: readonly ListenerFailure[];
  readonly operationError: unknown;

  constructor(failures: readonly ListenerFailure[], operationError?: unknown) {
    const first = failures[0];
    super(
      `${failures.length} engine event listener(s) threw, the first on '${first?.event ?? '?'}'. ` +
        'Engine state is consistent and every event was delivered.',
      { cause: first?.error },
    );
    this.failures = failures;
    this.operationError = operationError;
  }
}
