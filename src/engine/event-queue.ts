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

type QueuedEvent<M> = { [E in keyof M]: { readonly name: E; readonly payload: M[E] } }[keyof M];

export interface ListenerFailure {
  readonly event: string;
  readonly error: unknown;
}

export class EventQueue<M> {
  readonly #listeners = new Map<keyof M, Set<Listener<never>>>();
  #pending: QueuedEvent<M>[] = [];
  #delivering = false;

  on<E extends keyof M>(name: E, listener: Listener<M[E]>): void {
    let set = this.#listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    set.add(listener as Listener<never>);
  }

  off<E extends keyof M>(name: E, listener: Listener<M[E]>): void {
    const set = this.#listeners.get(name);
    if (set === undefined) return;
    set.delete(listener as Listener<never>);
    if (set.size === 0) this.#listeners.delete(name);
  }

  /** Whether anyone listens, so the engine can skip building payloads nobody reads. */
  wants(name: keyof M): boolean {
    return this.#listeners.has(name);
  }

  queue<E extends keyof M>(name: E, payload: M[E]): void {
    if (!this.#listeners.has(name)) return;
    this.#pending.push({ name, payload } as QueuedEvent<M>);
  }

  /**
   * Delivers every queued event in order and returns the listeners' failures. A call made while
   * delivering (from inside a listener) returns nothing: the outer delivery picks its events up.
   */
  deliver(): ListenerFailure[] {
    if (this.#delivering || this.#pending.length === 0) return [];
    this.#delivering = true;
    const failures: ListenerFailure[] = [];
    try {
      // Index loop: listeners may queue more events while we deliver.
      for (let i = 0; i < this.#pending.length; i++) {
        const event = this.#pending[i]!;
        const set = this.#listeners.get(event.name);
        if (set === undefined) continue;
        for (const listener of Array.from(set)) {
          try {
            (listener as Listener<M[keyof M]>)(event.payload);
          } catch (error) {
            failures.push({ event: String(event.name), error });
          }
        }
      }
    } finally {
      this.#pending = [];
      this.#delivering = false;
    }
    return failures;
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
