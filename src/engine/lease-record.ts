/**
 * The engine's internal record of one lease, and its public view. Kept small on purpose: a million
 * leases may be held at once (DESIGN §7), so the holder identity and heartbeat time are read from
 * the session rather than copied into every lease, the pool from the claim, and a lease that shares
 * its seats with nobody has no SeatClaim of its own (seat-claim.ts LoneClaim).
 */
import type { FeaturePool } from './feature-pool.js';
import { type LoneClaim, SeatClaim } from './seat-claim.js';
import type { SessionRecord } from './session-record.js';
import type { LeaseView } from './types.js';

/** A lease's claim: its SeatClaim, or for a lease shared with nobody the LoneClaim of its pool. */
export type LeaseClaim = SeatClaim | LoneClaim;

export class LeaseRecord {
  readonly id: string;
  readonly count: number;
  readonly fencing: number;
  readonly session: SessionRecord;
  /** The request key of the checkout that granted it, if the client sent one. */
  readonly key: string | undefined;
  readonly grantedAt: number;
  /** The seats it occupies, possibly shared with other leases of the same user; names its pool. */
  claim: LeaseClaim;
  lastActivityAt: number;
  /**
   * The deadline of this lease's live idle entry in the expiry heap (older entries are stale).
   * Cleared when the lease ends, which makes every entry of it stale.
   */
  idleArmedAt: number | undefined = undefined;
  /** Its neighbours in its pool's list of leases (pool-leases.ts). */
  poolPrev: LeaseRecord | undefined = undefined;
  poolNext: LeaseRecord | undefined = undefined;

  constructor(
    id: string,
    count: number,
    fencing: number,
    session: SessionRecord,
    key: string | undefined,
    now: number,
    claim: LeaseClaim,
    shared: boolean = claim instanceof SeatClaim && claim.leases.length > 0,
  ) {
    this.id = id;
    this.count = count;
    this.fencing = fencing;
    this.session = session;
    this.key = key;
    this.grantedAt = now;
    this.lastActivityAt = now;
    this.claim = claim;
    if (!shared && claim instanceof SeatClaim && claim.founder === undefined) claim.founder = this;
  }

  /** Read from the claim rather than kept in every lease (DESIGN §7). */
  get pool(): FeaturePool {
    return this.claim.pool;
  }

  /**
   * Whether it joined a claim that already existed: whether it has a SeatClaim it did not found
   * (kept on the claim rather than in a field of every lease, DESIGN §7).
   */
  get shared(): boolean {
    const claim = this.claim;
    return claim instanceof SeatClaim && claim.founder !== this;
  }
}

/** The leases of the lease's claim, in grant order (a lone claim: the lease alone). */
export function claimLeases(lease: LeaseRecord): readonly LeaseRecord[] {
  const claim = lease.claim;
  return claim instanceof SeatClaim ? claim.leases : [lease];
}

export function toLeaseView(lease: LeaseRecord): LeaseView {
  const identity = lease.session.identity;
  const view: { -readonly [K in keyof LeaseView]: LeaseView[K] } = {
    id: lease.id,
    feature: lease.pool.name,
    count: lease.count,
    fencing: lease.fencing,
    sessionId: lease.session.id,
    user: identity.user,
    host: identity.host,
    clientName: identity.clientName,
    type: lease.claim.type,
    shared: lease.shared,
    grantedAt: lease.grantedAt,
    lastHeartbeatAt: lease.session.lastHeartbeatAt,
    lastActivityAt: lease.lastActivityAt,
  };
  const group = lease.claim.group;
  if (group !== undefined) view.group = group;
  if (identity.display !== undefined) view.display = identity.display;
  if (identity.peer !== undefined) view.peer = identity.peer;
  return view;
}

/** Orders leases by grant time, then id: the order of every lease list the engine hands out. */
export function compareLeaseViews(a: LeaseView, b: LeaseView): number {
  if (a.grantedAt !== b.grantedAt) return a.grantedAt - b.grantedAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
