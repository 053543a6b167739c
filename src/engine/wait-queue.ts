/**
 * A feature's wait queue (DESIGN §2 "queue"): checkouts that could not be granted yet and asked to
 * wait. Ordered by priority (higher first), then by arrival. Queues are short (people waiting for a
 * seat), so a sorted array with a binary-search insert is the simplest structure that is fast enough.
 */
import type { LeaseholdError } from '../protocol/errors.js';
import type { FeaturePool } from './feature-pool.js';
import type { LeaseRecord } from './lease-record.js';
import type { SessionRecord } from './session-record.js';
import type { WaiterView } from './types.js';

export class WaiterRecord {
  readonly ticket: string;
  readonly pool: FeaturePool;
  readonly session: SessionRecord;
  readonly count: number;
  readonly key: string | undefined;
  readonly priority: number;
  /** The group the checkout would count against, as of its arrival (for display). */
  readonly group: string | undefined;
  readonly enqueuedAt: number;
  readonly deadline: number;
  readonly waitMs: number;
  /** Arrival order within the engine: FIFO within a priority. */
  readonly seq: number;
  /** Why the checkout could not be granted, as of the last look at the queue (built when read). */
  #denial: LeaseholdError | { readonly error: LeaseholdError };
  /** The position last announced (the `queued` or the latest `queuePosition` event). */
  reportedPosition = 0;
  /** True while the waiter is in its queue. */
  queued = true;
  /** The lease the queue granted, once it did. */
  lease: LeaseRecord | undefined = undefined;

  constructor(
    init: Omit<WaiterRecord, 'reportedPosition' | 'queued' | 'lease' | 'denial' | 'deniedBy'>,
    denial: LeaseholdError | { readonly error: LeaseholdError },
  ) {
    this.ticket = init.ticket;
    this.pool = init.pool;
    this.session = init.session;
    this.count = init.count;
    this.key = init.key;
    this.priority = init.priority;
    this.group = init.group;
    this.enqueuedAt = init.enqueuedAt;
    this.deadline = init.deadline;
    this.waitMs = init.waitMs;
    this.seq = init.seq;
    this.#denial = denial;
  }

  get denial(): LeaseholdError {
    const denial = this.#denial;
    return 'error' in denial ? denial.error : denial;
  }

  set denial(error: LeaseholdError) {
    this.#denial = error;
  }

  /** Records a denial whose error is built only if someone reads it (admission.ts Denial). */
  deniedBy(denial: { readonly error: LeaseholdError }): void {
    this.#denial = denial;
  }
}

export class WaitQueue {
  /** In queue order. */
  #waiters: WaiterRecord[] = [];

  get size(): number {
    return this.#waiters.length;
  }

  [Symbol.iterator](): IterableIterator<WaiterRecord> {
    return this.#waiters[Symbol.iterator]();
  }

  /** A copy in queue order, safe to iterate while the queue changes. */
  snapshot(): WaiterRecord[] {
    return [...this.#waiters];
  }

  /** Inserts in (priority, arrival) order and returns the 1-based position. */
  insert(waiter: WaiterRecord): number {
    let lo = 0;
    let hi = this.#waiters.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (WaitQueue.before(this.#waiters[mid]!, waiter)) lo = mid + 1;
      else hi = mid;
    }
    this.#waiters.splice(lo, 0, waiter);
    return lo + 1;
  }

  remove(waiter: WaiterRecord): void {
    const index = this.#waiters.indexOf(waiter);
    if (index >= 0) this.#waiters.splice(index, 1);
  }

  positionOf(waiter: WaiterRecord): number {
    return this.#waiters.indexOf(waiter) + 1;
  }

  /** Whether `a` is served before `b`: higher priority first, then earlier arrival. */
  static before(a: WaiterRecord, b: WaiterRecord): boolean {
    return a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
  }
}

export function toWaiterView(waiter: WaiterRecord, position: number): WaiterView {
  const identity = waiter.session.identity;
  const view: { -readonly [K in keyof WaiterView]: WaiterView[K] } = {
    ticket: waiter.ticket,
    feature: waiter.pool.name,
    count: waiter.count,
    sessionId: waiter.session.id,
    user: identity.user,
    host: identity.host,
    priority: waiter.priority,
    enqueuedAt: waiter.enqueuedAt,
    deadline: waiter.deadline,
    position,
  };
  if (waiter.group !== undefined) view.group = waiter.group;
  return view;
}
