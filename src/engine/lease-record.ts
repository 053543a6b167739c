/**
 * The engine's internal record of one lease, and its public view. Kept small on purpose: a million
 * leases may be held at once (DESIGN §7), so the holder identity and heartbeat time are read from
 * the session rather than copied into every lease, the pool from the claim, a lease that shares
 * its seats with nobody has no SeatClaim of its own (seat-claim.ts LoneClaim), and its numbers
 * live in its pool's typed-array columns (lease-columns.ts) rather than in fields of its own.
 */
import type { FeaturePool } from './feature-pool.js';
import type { LeaseColumns, LeaseNumbers } from './lease-columns.js';
import { type LoneClaim, SeatClaim } from './seat-claim.js';
import type { SessionRecord } from './session-record.js';
import type { LeaseView } from './types.js';

/** A lease's claim: its SeatClaim, or for a lease shared with nobody the LoneClaim of its pool. */
export type LeaseClaim = SeatClaim | LoneClaim;

export class LeaseRecord {
  readonly id: string;
  readonly session: SessionRecord;
  /** The request key of the checkout that granted it, if the client sent one. */
  readonly key: string | undefined;
  /** The seats it occupies, possibly shared with other leases of the same user; names its pool. */
  claim: LeaseClaim;
  /**
   * Where its numbers are: its slot in its pool's columns while it is in the pool, its own copy
   * once it left (retire). One field for both, so that a held lease carries no second one.
   */
  #numbers: number | LeaseNumbers;
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
    this.session = session;
    this.key = key;
    this.claim = claim;
    // Its pool is its claim's for good: a claim that replaces it (FeaturePool.claimOf) has the same.
    this.#numbers = claim.pool.leases.columns.allocate(count, fencing, now);
    if (!shared && claim instanceof SeatClaim && claim.founder === undefined) claim.founder = this;
  }

  get count(): number {
    const at = this.#numbers;
    return typeof at === 'number' ? columnsOf(this).count(at) : at.count;
  }

  get fencing(): number {
    const at = this.#numbers;
    return typeof at === 'number' ? columnsOf(this).fencing(at) : at.fencing;
  }

  get grantedAt(): number {
    const at = this.#numbers;
    return typeof at === 'number' ? columnsOf(this).grantedAt(at) : at.grantedAt;
  }

  get lastActivityAt(): number {
    const at = this.#numbers;
    return typeof at === 'number' ? columnsOf(this).lastActivityAt(at) : at.lastActivityAt;
  }

  set lastActivityAt(time: number) {
    const at = this.#numbers;
    if (typeof at === 'number') columnsOf(this).setLastActivityAt(at, time);
    else at.lastActivityAt = time;
  }

  /**
   * The deadline of this lease's live idle entry in the expiry heap (older entries are stale).
   * Cleared when the lease ends, which makes every entry of it stale.
   */
  get idleArmedAt(): number | undefined {
    const at = this.#numbers;
    return typeof at === 'number' ? columnsOf(this).idleArmedAt(at) : at.idleArmedAt;
  }

  set idleArmedAt(deadline: number | undefined) {
    const at = this.#numbers;
    if (typeof at === 'number') columnsOf(this).setIdleArmedAt(at, deadline);
    else at.idleArmedAt = deadline;
  }

  /**
   * Moves its numbers out of its pool's columns into a copy of its own and frees its slot: called
   * once it left the pool (PoolLeases.delete). It may still be read after that (its last view in
   * the released or reclaimed event, its stale expiry entries, a claim's founder), and must then
   * answer as it did, never with the numbers of the lease that gets the slot next.
   */
  retire(): void {
    const at = this.#numbers;
    if (typeof at !== 'number') return;
    const columns = columnsOf(this);
    this.#numbers = columns.numbers(at);
    columns.free(at);
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

/**
 * The columns that hold a lease's numbers: its pool's. A function rather than a private method: a
 * class with private methods gives every instance a hidden brand field, 8 bytes a lease.
 */
function columnsOf(lease: LeaseRecord): LeaseColumns {
  return lease.claim.pool.leases.columns;
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
