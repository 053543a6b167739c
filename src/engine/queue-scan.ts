/**
 * Granting a feature's wait queue (issue 4 §6), and the order rule that keeps it fair.
 *
 * Order: priority (highest first), then arrival (FIFO). Each scan walks the queue in that order and
 * grants every waiter that is admissible now, under this no-starvation rule:
 *
 *   A waiter denied for lack of seats (NO_SEATS or SEATS_RESERVED) blocks every later waiter from
 *   taking unreserved seats of the feature; later waiters may still be granted seats reserved for
 *   their own group, within that group's unused reserve. A waiter denied because its group is at
 *   its max (GROUP_MAX) blocks only later waiters of the same group. A waiter denied for any other
 *   reason (user disabled or excluded since it arrived, a count the pool can never hold, the
 *   session's lease limit) blocks nobody and keeps waiting until its deadline.
 *
 * So the head of the queue is never overtaken for the seats it waits for, even when it wants more
 * seats than are free: freed seats stay idle until it fits. Reserves stay a guarantee to their
 * group: a group below its reserve gets its reserved seats even behind a blocked head. A new
 * checkout is judged as if it joined the queue at its place (behind every waiter of its priority or
 * higher), so it cannot overtake the queue either; a checkout that joins an existing seat (a named
 * seat, or dedupe) takes no seat and is never held back.
 */
import type { Admission, QueueBlock } from './admission.js';
import type { FeaturePool } from './feature-pool.js';
import { claimLeases, type LeaseRecord } from './lease-record.js';
import { SeatClaim } from './seat-claim.js';
import { LeaseType } from './types.js';
import type { WaiterRecord } from './wait-queue.js';

export interface ScanHooks {
  /** The admission of `waiter` now, given what the waiters ahead of it hold back. */
  decide(waiter: WaiterRecord, block: QueueBlock): Admission;
  /** Grants `waiter` (removing it from the queue). */
  grant(waiter: WaiterRecord, admission: Admission & { granted: true }): void;
}

export function emptyBlock(): QueueBlock {
  return { seats: false, groups: new Set(), ahead: 0 };
}

/** Adds what a denied waiter holds back to `block`. */
export function holdBack(block: QueueBlock, admission: Admission): void {
  if (admission.granted) return;
  if (admission.wait === 'seats') block.seats = true;
  else if (admission.wait === 'group' && admission.group !== undefined) block.groups.add(admission.group);
}

/**
 * Grants every waiter admissible under the rule above; returns whether a waiter short of seats
 * remains (for idle preemption). A grant behind a waiter that was held back is followed by another
 * pass: the grant may have changed what that waiter holds back (its group reached its max: it now
 * holds back only its group) or let it join a new claim of its user. Each pass after the first
 * needs a new grant, so the scan ends.
 */
export function scanQueue(pool: FeaturePool, hooks: ScanHooks): boolean {
  for (;;) {
    let repeat = false;
    let shortOfSeats = false;
    const block = emptyBlock();
    for (const waiter of pool.queue.snapshot()) {
      if (!waiter.queued) continue;
      const admission = hooks.decide(waiter, block);
      if (admission.granted) {
        hooks.grant(waiter, admission);
        if (block.ahead > 0) repeat = true;
        continue;
      }
      waiter.deniedBy(admission);
      if (admission.wait === 'seats') shortOfSeats = true;
      holdBack(block, admission);
      block.ahead++;
    }
    if (!repeat) return shortOfSeats;
  }
}

/** What the waiters ahead of a new checkout of `priority` hold back (none: undefined). */
export function blockAhead(
  pool: FeaturePool,
  priority: number,
  decide: (waiter: WaiterRecord, block: QueueBlock) => Admission,
): QueueBlock | undefined {
  if (pool.queue.size === 0) return undefined;
  const block = emptyBlock();
  for (const waiter of pool.queue) {
    if (waiter.priority < priority) break;
    holdBack(block, decide(waiter, block));
    block.ahead++;
  }
  return block;
}

/**
 * The leases of the concurrent claim idle longest, if idle for at least `threshold` (a claim is as
 * idle as its most recently active lease), and otherwise the earliest time one will be. Ties go to
 * the claim granted first. Walks the pool's leases in grant order, meeting each claim at its first
 * lease, since lone claims (seat-claim.ts LoneClaim) are in no index of claims.
 */
export function longestIdleClaim(
  pool: FeaturePool,
  now: number,
  threshold: number,
): { leases: readonly LeaseRecord[] | undefined; nextAt: number | undefined } {
  let idlest: LeaseRecord | undefined;
  let idlestAt = Number.POSITIVE_INFINITY;
  let nextAt = Number.POSITIVE_INFINITY;
  for (const lease of pool.leases) {
    const claim = lease.claim;
    let activeAt = lease.lastActivityAt;
    if (claim instanceof SeatClaim) {
      if (claim.type !== LeaseType.Concurrent || claim.leases[0] !== lease) continue;
      activeAt = claim.lastActivityAt();
    }
    if (now - activeAt >= threshold) {
      if (activeAt < idlestAt) {
        idlest = lease;
        idlestAt = activeAt;
      }
    } else if (activeAt + threshold < nextAt) {
      nextAt = activeAt + threshold;
    }
  }
  return {
    leases: idlest === undefined ? undefined : claimLeases(idlest),
    nextAt: Number.isFinite(nextAt) ? nextAt : undefined,
  };
}
