/**
 * The wait queues' bookkeeping for LeaseEngine (DESIGN §2 "queue", issue 4 §5–§6): waiters join
 * (enqueue), leave (cancel, timeout, disconnect, session end, feature removed) or are granted, the
 * queues marked as possibly grantable are scanned before the engine's call returns (see
 * queue-scan.ts for the order rule), idle leases are preempted where waiters are short of seats, and
 * the waiters whose position changed are told their new one.
 *
 * The grant itself and the admission rules belong to the lease flow (lease-flow.ts), which hands
 * them in as a QueueHost.
 */
import { ReclaimReason } from '../protocol/codes.js';
import type { Admission, QueueBlock } from './admission.js';
import type { EngineContext } from './engine-context.js';
import { queueLeftNotice } from './engine-errors.js';
import type { FeaturePool } from './feature-pool.js';
import type { LeaseRecord } from './lease-record.js';
import { toLeaseView } from './lease-record.js';
import type { LeaseEnding } from './lease-tombstones.js';
import { longestIdleClaim, scanQueue } from './queue-scan.js';
import { uniqueHexId } from './random-ids.js';
import type { SessionRecord } from './session-record.js';
import type { CheckoutResult, QueueLeftReason } from './types.js';
import { toWaiterView, WaiterRecord } from './wait-queue.js';

/** What the queues need from the lease flow. */
export interface QueueHost {
  /** The admission of a waiter's checkout as of now, `block` holding it back; records a denial on it. */
  decideFor(waiter: WaiterRecord, block: QueueBlock): Admission;
  grant(
    session: SessionRecord,
    pool: FeaturePool,
    count: number,
    key: string | undefined,
    now: number,
    admission: Admission & { granted: true },
  ): LeaseRecord;
  endLease(lease: LeaseRecord, ending: LeaseEnding): void;
}

export interface WaitRequest {
  count: number;
  key: string | undefined;
  waitMs: number;
  priority: number;
  admission: Admission & { granted: false };
}

export class QueueDesk {
  readonly #ctx: EngineContext;
  readonly #host: QueueHost;
  /** Every queued waiter, by ticket. */
  readonly #tickets = new Map<string, WaiterRecord>();
  #waiterSeq = 0;
  /** Features whose queue may have become grantable: scanned before the call returns. */
  readonly #toScan = new Set<FeaturePool>();
  /** Features whose queue changed: their waiters' new positions are announced before the call returns. */
  readonly #queueMoved = new Set<FeaturePool>();

  constructor(ctx: EngineContext, host: QueueHost) {
    this.#ctx = ctx;
    this.#host = host;
  }

  /** The queued waiter with this ticket, if any. */
  waiter(ticket: string): WaiterRecord | undefined {
    return this.#tickets.get(ticket);
  }

  /** Marks a feature's queue for a scan before the call returns. */
  markForScan(pool: FeaturePool): void {
    this.#toScan.add(pool);
  }

  /** Every release of seats comes through here: the feature's queue is scanned before the call returns. */
  afterSeatsFreed(pool: FeaturePool): void {
    if (!pool.removed && pool.queue.size > 0) this.#toScan.add(pool);
  }

  scanAll(): void {
    for (const pool of this.#ctx.book.pools.values()) if (pool.queue.size > 0) this.#toScan.add(pool);
  }

  enqueue(session: SessionRecord, pool: FeaturePool, wait: WaitRequest, now: number): CheckoutResult {
    const ticket = uniqueHexId(this.#ctx.random, (candidate) => this.#tickets.has(candidate));
    const waiter = new WaiterRecord(
      {
        ticket,
        pool,
        session,
        count: wait.count,
        key: wait.key,
        priority: wait.priority,
        group: wait.admission.group,
        enqueuedAt: now,
        deadline: now + wait.waitMs,
        waitMs: wait.waitMs,
        seq: ++this.#waiterSeq,
      },
      wait.admission,
    );
    const position = pool.queue.insert(waiter);
    waiter.reportedPosition = position;
    this.#tickets.set(ticket, waiter);
    session.waiters.add(waiter);
    this.#ctx.expiry.armWaiter(waiter);
    this.#queueMoved.add(pool);
    this.#ctx.events.queue('queued', { waiter: toWaiterView(waiter, position) });
    if (pool.reclaimIdleWhenQueuedMs !== undefined) {
      // Issue 4 §6: someone waits, so a lease idle long enough may be taken for them now.
      pool.preemptWanted = true;
      this.#toScan.add(pool);
      this.grantQueues(now);
      if (waiter.lease !== undefined) return { kind: 'granted', lease: toLeaseView(waiter.lease) };
    }
    return { kind: 'queued', waiter: toWaiterView(waiter, pool.queue.positionOf(waiter)) };
  }

  leave(waiter: WaiterRecord, reason: QueueLeftReason): void {
    const { queue } = waiter.pool;
    const position = queue.positionOf(waiter);
    const { code, message } = queueLeftNotice(waiter, reason, position, queue.size);
    this.#remove(waiter);
    this.#ctx.events.queue('queueLeft', { waiter: toWaiterView(waiter, position), reason, code, message });
  }

  /** Grants every queue marked for a scan, then preempts idle leases where waiters are short of seats. */
  grantQueues(now: number): void {
    // Nothing marked (most calls): no Set iterator is made (issue 8: twice per engine call).
    if (this.#toScan.size === 0 || this.#ctx.draining) return;
    // A Set visits entries added while it is iterated, so pools marked by these grants are scanned too.
    for (const pool of this.#toScan) {
      this.#toScan.delete(pool);
      if (pool.removed || pool.queue.size === 0) continue;
      const shortOfSeats = this.#scan(pool, now);
      if (pool.preemptWanted) this.#preempt(pool, now, shortOfSeats);
    }
  }

  /** Announces the new position of every waiter whose position changed since it was last told. */
  reportPositions(): void {
    // Most calls move no queue: neither a Set iterator nor a clear(), which reallocates the Set.
    if (this.#queueMoved.size === 0) return;
    for (const pool of this.#queueMoved) {
      let position = 0;
      for (const waiter of pool.queue) {
        position++;
        if (waiter.reportedPosition === position) continue;
        waiter.reportedPosition = position;
        this.#ctx.events.queue('queuePosition', { waiter: toWaiterView(waiter, position) });
      }
    }
    this.#queueMoved.clear();
  }

  #remove(waiter: WaiterRecord): void {
    waiter.queued = false;
    waiter.pool.queue.remove(waiter);
    this.#tickets.delete(waiter.ticket);
    waiter.session.waiters.delete(waiter);
    this.#queueMoved.add(waiter.pool);
    // A waiter that held others back is gone: they may be granted now.
    this.afterSeatsFreed(waiter.pool);
  }

  #grantWaiter(waiter: WaiterRecord, admission: Admission & { granted: true }, now: number): void {
    const position = waiter.pool.queue.positionOf(waiter);
    this.#remove(waiter);
    const lease = this.#host.grant(waiter.session, waiter.pool, waiter.count, waiter.key, now, admission);
    waiter.lease = lease;
    const { events } = this.#ctx;
    if (events.wants('queueGranted')) {
      events.queue('queueGranted', {
        waiter: toWaiterView(waiter, position),
        lease: toLeaseView(lease),
      });
    }
  }

  #scan(pool: FeaturePool, now: number): boolean {
    return scanQueue(pool, {
      decide: (waiter, block) => this.#host.decideFor(waiter, block),
      grant: (waiter, admission) => this.#grantWaiter(waiter, admission, now),
    });
  }

  /**
   * Issue 4 §6 `reclaim_idle_when_queued`: while a waiter is short of seats, the concurrent seat idle
   * longest (at least the threshold) is reclaimed (`idle-preempted`) and the queue granted again,
   * until no waiter is short of seats or no seat is idle long enough. Then an entry is armed for
   * when the next one will be.
   */
  #preempt(pool: FeaturePool, now: number, shortOfSeats: boolean): void {
    pool.preemptWanted = false;
    const threshold = pool.reclaimIdleWhenQueuedMs;
    let short = shortOfSeats;
    while (short && threshold !== undefined && !pool.removed) {
      const { leases, nextAt } = longestIdleClaim(pool, now, threshold);
      if (leases === undefined) {
        if (nextAt !== undefined) this.#ctx.expiry.armPreempt(pool, nextAt);
        return;
      }
      for (const lease of [...leases]) {
        this.#ctx.reclaimedBySettle++;
        this.#host.endLease(lease, ReclaimReason.IdlePreempted);
      }
      this.#toScan.delete(pool);
      short = this.#scan(pool, now);
    }
  }
}
