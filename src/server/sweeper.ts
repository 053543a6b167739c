/**
 * The daemon's one sweep timer (issue 3): armed at the engine's next deadline, re-armed after every
 * sweep and whenever a request may have brought a deadline forward. The engine decides what is due;
 * this only makes sure `sweep()` runs soon after it is.
 */

import type { Clock } from '../engine/clock.js';
import type { LeaseEngine } from '../engine/engine.js';

export class Sweeper {
  #timer: NodeJS.Timeout | undefined;
  #armedFor = Number.POSITIVE_INFINITY;
  #stopped = false;

  constructor(
    private readonly engine: LeaseEngine,
    private readonly clock: Clock,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Re-arms the timer if the engine's next deadline is earlier than the one armed. */
  poke(): void {
    if (this.#stopped) return;
    const next = this.engine.nextDeadline();
    if (next === undefined || next >= this.#armedFor) return;
    this.#arm(next);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
  }

  #arm(at: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#armedFor = at;
    // +1: timers may fire a fraction of a millisecond early against performance.now().
    const delay = Math.max(0, Math.ceil(at - this.clock.now()) + 1);
    this.#timer = setTimeout(() => this.#fire(), delay);
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    try {
      this.engine.sweep();
    } catch (err) {
      this.onError(err);
    }
    this.poke();
  }
}
