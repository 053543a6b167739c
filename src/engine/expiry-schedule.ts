/**
 * When sessions, idle leases, waiters and idle preemption come due, kept in one deadline heap
 * (DESIGN §2 reclaim a and b, issue 4 §6).
 *
 * One heap entry per live session and one per idle-tracked lease. A heartbeat or an activity report
 * only moves `lastHeartbeatAt` / `lastActivityAt`: no heap work, so a heartbeat costs O(1). When an
 * entry pops, its real deadline is recomputed: if it moved later the entry is re-inserted there
 * (once per ttl per session at most), if the record ended the entry is dropped. Each record
 * remembers the deadline of its one live entry (`armedAt`), so an entry left behind when a deadline
 * moved earlier (a shorter idle timeout) is recognised as stale and dropped.
 */
import { DeadlineHeap } from './deadline-heap.js';
import { FeaturePool } from './feature-pool.js';
import { LeaseRecord } from './lease-record.js';
import { SessionRecord, sessionDeadline } from './session-record.js';
import type { WaiterRecord } from './wait-queue.js';

type Expirable = SessionRecord | LeaseRecord | WaiterRecord | FeaturePool;

export interface DueHandlers {
  /** The session sent nothing for the lease ttl: `now >= lastHeartbeatAt + ttl`. */
  sessionExpired(session: SessionRecord): void;
  /** The holder reported no activity for the idle timeout: `now >= lastActivityAt + idleTimeoutMs`. */
  leaseIdle(lease: LeaseRecord): void;
  /** A waiter's wait ran out: `now >= deadline`. */
  waiterTimedOut(waiter: WaiterRecord): void;
  /** A feature with waiters may have a lease idle long enough to preempt. */
  preemptDue(pool: FeaturePool): void;
}

export class ExpirySchedule {
  readonly #heap = new DeadlineHeap<Expirable>();
  readonly #leaseTtlMs: number;

  constructor(leaseTtlMs: number) {
    this.#leaseTtlMs = leaseTtlMs;
  }

  /** Entries in the heap, stale ones included. */
  get size(): number {
    return this.#heap.size;
  }

  /** Entries popped since construction. */
  get popped(): number {
    return this.#heap.popped;
  }

  /** The earliest time anything may be due; may be early (a stale entry), never late. */
  nextAt(): number | undefined {
    return this.#heap.peekAt();
  }

  /** Called once, when the session opens: later heartbeats only move its deadline later. */
  armSession(session: SessionRecord): void {
    const at = sessionDeadline(session, this.#leaseTtlMs);
    session.armedAt = at;
    this.#heap.push(at, session);
  }

  /** After the deadline moved earlier (a restart grace ended by a resume): adds an earlier entry. */
  rearmSession(session: SessionRecord): void {
    const at = sessionDeadline(session, this.#leaseTtlMs);
    if (session.armedAt !== undefined && session.armedAt <= at) return;
    session.armedAt = at;
    this.#heap.push(at, session);
  }

  /**
   * Tracks a lease's idleness (at grant, or when its feature's idle timeout is set or shortened).
   * Adds an entry only when none is live or the live one is later than the real deadline.
   */
  armIdle(lease: LeaseRecord): void {
    const at = this.#idleDeadline(lease);
    if (at === undefined) return;
    if (lease.idleArmedAt !== undefined && lease.idleArmedAt <= at) return;
    lease.idleArmedAt = at;
    this.#heap.push(at, lease);
  }

  /** A waiter's deadline is fixed when it enqueues; a waiter that leaves earlier is dropped lazily. */
  armWaiter(waiter: WaiterRecord): void {
    this.#heap.push(waiter.deadline, waiter);
  }

  /**
   * When the longest-idle lease of a feature with waiters crosses its preemption threshold. Adds an
   * entry only when none is live or the live one is later; an early entry is harmless (re-checked).
   */
  armPreempt(pool: FeaturePool, at: number): void {
    if (pool.preemptArmedAt !== undefined && pool.preemptArmedAt <= at) return;
    pool.preemptArmedAt = at;
    this.#heap.push(at, pool);
  }

  /** Hands every record due at `now` to `handlers`; returns the entries popped. */
  drainDue(now: number, handlers: DueHandlers): number {
    return this.#heap.drainDue(now, (item, at) => {
      if (item instanceof SessionRecord) return this.#visitSession(item, at, now, handlers);
      if (item instanceof LeaseRecord) return this.#visitLease(item, at, now, handlers);
      if (item instanceof FeaturePool) {
        if (item.removed || item.preemptArmedAt !== at) return undefined;
        item.preemptArmedAt = undefined;
        handlers.preemptDue(item);
        return undefined;
      }
      if (item.queued) handlers.waiterTimedOut(item);
      return undefined;
    });
  }

  #visitSession(session: SessionRecord, at: number, now: number, handlers: DueHandlers): number | undefined {
    if (session.ended || session.armedAt !== at) return undefined;
    const deadline = sessionDeadline(session, this.#leaseTtlMs);
    if (deadline > now) {
      session.armedAt = deadline;
      return deadline;
    }
    session.armedAt = undefined;
    handlers.sessionExpired(session);
    return undefined;
  }

  #visitLease(lease: LeaseRecord, at: number, now: number, handlers: DueHandlers): number | undefined {
    // An ended lease has no live entry (LeaseBook.remove clears idleArmedAt).
    if (lease.idleArmedAt !== at) return undefined;
    const deadline = this.#idleDeadline(lease);
    if (deadline === undefined) {
      // The feature's idle timeout was removed: stop tracking this lease.
      lease.idleArmedAt = undefined;
      return undefined;
    }
    if (deadline > now) {
      lease.idleArmedAt = deadline;
      return deadline;
    }
    lease.idleArmedAt = undefined;
    handlers.leaseIdle(lease);
    return undefined;
  }

  #idleDeadline(lease: LeaseRecord): number | undefined {
    const timeout = lease.pool.idleTimeoutMs;
    return timeout === undefined ? undefined : lease.lastActivityAt + timeout;
  }
}
