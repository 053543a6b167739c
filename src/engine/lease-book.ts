/**
 * Where every feature pool, session and lease is filed, and what is remembered of ended leases.
 * It keeps the indexes consistent (a lease is in the id map, its session and its pool, and counted
 * in the pool's `inUse`, or in none of them) and answers lookups; the rules live in the engine.
 */
import type { ReclaimReason } from '../protocol/codes.js';
import {
  keyUsedForCheckedInLease,
  keyUsedForEndedLease,
  keyUsedForOtherCheckout,
  leaseReclaimed,
} from './engine-errors.js';
import type { FeaturePool } from './feature-pool.js';
import { compareLeaseViews, type LeaseRecord, toLeaseView } from './lease-record.js';
import { CHECKED_IN, EndedLeases, type LeaseEnding } from './lease-tombstones.js';
import type { SessionRecord } from './session-record.js';
import type { FeatureStatus, GroupUsage, LeaseFilter, LeaseView } from './types.js';

/** What a lease id and fencing token are to the session that presents them. */
export type LeaseStanding =
  | { readonly kind: 'held'; readonly lease: LeaseRecord }
  /** Unknown, forgotten, or another session's: this session has no business with it. */
  | { readonly kind: 'not_held' }
  /** This session holds the lease, but under another token: a stale or forged one. */
  | { readonly kind: 'wrong_fencing' }
  | { readonly kind: 'checked_in'; readonly fencingMatches: boolean }
  | { readonly kind: 'reclaimed'; readonly reason: ReclaimReason };

export class LeaseBook {
  /** In configuration order. */
  readonly pools = new Map<string, FeaturePool>();
  readonly sessions = new Map<string, SessionRecord>();
  readonly #leases = new Map<string, LeaseRecord>();
  /** Tombstones and request keys of ended leases (lease-tombstones.ts). */
  readonly #ended: EndedLeases;

  constructor(endedLeaseCacheSize: number, requestKeyCacheSize: number) {
    this.#ended = new EndedLeases(endedLeaseCacheSize, requestKeyCacheSize);
  }

  lease(id: string): LeaseRecord | undefined {
    return this.#leases.get(id);
  }

  /** Every live lease, in grant order (what a snapshot writes, and restores in the same order). */
  leases(): IterableIterator<LeaseRecord> {
    return this.#leases.values();
  }

  get leaseCount(): number {
    return this.#leases.size;
  }

  /** Whether an id is in use or remembered: a new lease must not be mistaken for an ended one. */
  isLeaseIdTaken(id: string): boolean {
    return this.#leases.has(id) || this.#ended.has(id);
  }

  /** Files a lease; false (and nothing filed) when its id is filed already. */
  add(lease: LeaseRecord): boolean {
    const before = this.#leases.size;
    this.#leases.set(lease.id, lease);
    // One hash lookup instead of two: an id already filed leaves the size as it was (then the
    // caller, a restore, fails; a live grant never reuses an id: see isLeaseIdTaken).
    if (this.#leases.size === before) return false;
    lease.session.leases.add(lease);
    lease.pool.attach(lease);
    return true;
  }

  /** Unfiles a lease; a tombstone, and its request key, remember how it ended. */
  remove(lease: LeaseRecord, ending: LeaseEnding): void {
    // Every expiry heap entry of the lease is stale from now on (expiry-schedule.ts).
    lease.idleArmedAt = undefined;
    this.#leases.delete(lease.id);
    lease.session.leases.delete(lease);
    lease.pool.detach(lease);
    this.#ended.remember(lease, ending);
  }

  /** An ended session sends no retries: the index of its ended leases' keys goes. */
  forgetSession(session: SessionRecord): void {
    this.#ended.forgetSession(session.id);
  }

  standing(session: SessionRecord, leaseId: string, fencing: number): LeaseStanding {
    const lease = this.#leases.get(leaseId);
    if (lease !== undefined) {
      if (lease.session !== session) return { kind: 'not_held' };
      return lease.fencing === fencing ? { kind: 'held', lease } : { kind: 'wrong_fencing' };
    }
    const tombstone = this.#ended.tombstone(leaseId);
    if (tombstone === undefined || tombstone.sessionId !== session.id) return { kind: 'not_held' };
    if (tombstone.ending === CHECKED_IN) {
      return { kind: 'checked_in', fencingMatches: tombstone.fencing === fencing };
    }
    return { kind: 'reclaimed', reason: tombstone.ending };
  }

  /**
   * DESIGN §3.5: the lease an earlier checkout of this session with this request key got, or
   * undefined for a new key. A key whose lease has ended is never used for a new grant: the client
   * is told how the lease ended (or KEY_CONFLICT when the request differs from the original).
   */
  leaseForRetry(
    session: SessionRecord,
    key: string,
    feature: string,
    count: number,
  ): LeaseRecord | undefined {
    const held = session.leases.withKey(key);
    if (held !== undefined) {
      if (held.pool.name === feature && held.count === count) return held;
      throw keyUsedForOtherCheckout(key, { leaseId: held.id, feature: held.pool.name, count: held.count });
    }
    const grant = this.#ended.keyed(session.id, key);
    if (grant === undefined) return undefined;
    if (grant.feature !== feature || grant.count !== count) throw keyUsedForOtherCheckout(key, grant);
    const tombstone = this.#ended.tombstone(grant.leaseId);
    if (tombstone === undefined) throw keyUsedForEndedLease(key, grant.leaseId);
    if (tombstone.ending === CHECKED_IN) throw keyUsedForCheckedInLease(key, grant.leaseId);
    throw leaseReclaimed(grant.leaseId, tombstone.ending);
  }

  list(filter: LeaseFilter): LeaseView[] {
    let source: Iterable<LeaseRecord>;
    if (filter.sessionId !== undefined) source = this.sessions.get(filter.sessionId)?.leases ?? [];
    else if (filter.feature !== undefined) source = this.pools.get(filter.feature)?.leases ?? [];
    else source = this.#leases.values();
    const views: LeaseView[] = [];
    for (const lease of source) {
      if (filter.feature !== undefined && lease.pool.name !== filter.feature) continue;
      const identity = lease.session.identity;
      if (filter.user !== undefined && identity.user !== filter.user) continue;
      if (filter.host !== undefined && identity.host !== filter.host) continue;
      if (filter.type !== undefined && lease.claim.type !== filter.type) continue;
      views.push(toLeaseView(lease));
    }
    return views.sort(compareLeaseViews);
  }

  status(pool: FeaturePool, withLeases = true): FeatureStatus {
    const groups: GroupUsage[] = [];
    for (const rule of pool.groupRules.values()) {
      const usage: { -readonly [K in keyof GroupUsage]: GroupUsage[K] } = {
        name: rule.group,
        inUse: pool.usageOf(rule.group),
      };
      if (rule.reserve !== undefined) usage.reserve = rule.reserve;
      if (rule.max !== undefined) usage.max = rule.max;
      groups.push(usage);
    }
    const status: FeatureStatus = {
      name: pool.name,
      model: pool.model,
      seats: pool.seats,
      inUse: pool.inUse,
      free: pool.free,
      queued: pool.queue.size,
      overdraft: pool.overdraft,
      namedSeats: pool.namedUsers.size,
      namedInUse: pool.namedInUse,
      concurrentSeats: pool.concurrentCapacity,
      concurrentInUse: pool.concurrentInUse,
      groups,
      leases: withLeases ? Array.from(pool.leases, toLeaseView).sort(compareLeaseViews) : [],
    };
    return pool.idleTimeoutMs === undefined ? status : { ...status, idleTimeoutMs: pool.idleTimeoutMs };
  }
}
