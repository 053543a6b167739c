/**
 * The engine's internal record of one lease, and its public view. Kept small on purpose: a million
 * leases may be held at once (DESIGN §7), so the holder identity and heartbeat time are read from
 * the session rather than copied into every lease.
 */
import type { FeaturePool } from './feature-pool.js';
import type { SeatClaim } from './seat-claim.js';
import type { SessionRecord } from './session-record.js';
import type { LeaseView } from './types.js';

export class LeaseRecord {
  readonly id: string;
  readonly pool: FeaturePool;
  readonly count: number;
  readonly fencing: number;
  readonly session: SessionRecord;
  /** The request key of the checkout that granted it, if the client sent one. */
  readonly key: string | undefined;
  readonly grantedAt: number;
  /** The seats it occupies, possibly shared with other leases of the same user. */
  readonly claim: SeatClaim;
  /** Whether it joined a claim that already existed. */
  readonly shared: boolean;
  lastActivityAt: number;
  /** The deadline of this lease's live idle entry in the expiry heap (older entries are stale). */
  idleArmedAt: number | undefined = undefined;
  ended = false;

  constructor(
    id: string,
    pool: FeaturePool,
    count: number,
    fencing: number,
    session: SessionRecord,
    key: string | undefined,
    now: number,
    claim: SeatClaim,
    shared: boolean = claim.leases.length > 0,
  ) {
    this.id = id;
    this.pool = pool;
    this.count = count;
    this.fencing = fencing;
    this.session = session;
    this.key = key;
    this.grantedAt = now;
    this.lastActivityAt = now;
    this.shared = shared;
    this.claim = claim;
  }
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
  if (lease.claim.group !== undefined) view.group = lease.claim.group;
  if (identity.display !== undefined) view.display = identity.display;
  if (identity.peer !== undefined) view.peer = identity.peer;
  return view;
}

/** Orders leases by grant time, then id: the order of every lease list the engine hands out. */
export function compareLeaseViews(a: LeaseView, b: LeaseView): number {
  if (a.grantedAt !== b.grantedAt) return a.grantedAt - b.grantedAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
