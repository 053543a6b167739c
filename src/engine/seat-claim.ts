/**
 * Seat claims: what occupies a feature's seats. Every live lease belongs to exactly one claim, and a
 * claim holds its seats until its last lease ends. A named claim is one seat per (feature, user),
 * shared by every lease of that user in any session (issue 4 §1); with dedupe, a repeated checkout
 * by the same user (on the same host) joins the concurrent claim it already holds (FlexLM
 * DUP_GROUP) instead of taking more seats.
 */
import type { FeaturePool } from './feature-pool.js';
import type { LeaseRecord } from './lease-record.js';
import { LeaseType } from './types.js';

export class SeatClaim {
  readonly pool: FeaturePool;
  readonly type: LeaseType;
  readonly seats: number;
  /** The group whose share the claim counts against (concurrent claims only). */
  readonly group: string | undefined;
  readonly user: string;
  readonly host: string;
  /**
   * In grant order. An array, not a Set: a claim has one lease, or a few (named seat, dedupe),
   * and a million claims may exist at once (DESIGN §7), where a Set costs ~100 bytes more each.
   * The first lease makes a one-slot array (`[lease]`): push onto `[]` would reserve 17 slots.
   */
  leases: LeaseRecord[] = [];
  /**
   * The lease that made the claim; every other lease of the claim joined it (LeaseView.shared).
   * Kept after it ends, so that its last view (the released or reclaimed event) still says it
   * did not join. Undefined when a restore met the claim at a lease that had joined it.
   */
  founder: LeaseRecord | undefined = undefined;

  constructor(
    pool: FeaturePool,
    type: LeaseType,
    seats: number,
    group: string | undefined,
    user: string,
    host: string,
  ) {
    this.pool = pool;
    this.type = type;
    this.seats = seats;
    this.group = group;
    this.user = user;
    this.host = host;
  }

  /** The latest user activity among the claim's leases: the claim is as idle as its busiest lease. */
  lastActivityAt(): number {
    let latest = Number.NEGATIVE_INFINITY;
    for (const lease of this.leases) if (lease.lastActivityAt > latest) latest = lease.lastActivityAt;
    return latest;
  }
}

/**
 * The claim of a lease that is a concurrent claim of its own, shared with nobody: its seats are its
 * count, its user and host its session's. The common lease (no dedupe) is one; a SeatClaim and its
 * lease array would cost it ~130 bytes more (DESIGN §7). So there is one LoneClaim per pool and
 * group, shared by all such leases (FeaturePool.loneClaim), and FeaturePool.claimOf makes a lease
 * a SeatClaim when another lease joins it.
 */
export class LoneClaim {
  readonly pool: FeaturePool;
  readonly type = LeaseType.Concurrent;
  readonly group: string | undefined;

  constructor(pool: FeaturePool, group: string | undefined) {
    this.pool = pool;
    this.group = group;
  }
}
