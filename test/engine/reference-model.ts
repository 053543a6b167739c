/**
 * A deliberately naive model of the lease engine for the property test: plain maps, full scans, no
 * heap, no caches. It predicts the outcome of every call; the test compares the real engine with it.
 *
 * One thing it cannot predict is the reason of a reclaim when a lease is both idle and in an
 * expired session at the same sweep (either is right); it records the set of acceptable reasons
 * and the test adopts the one the engine reported.
 */
import { codeForReclaim, type ErrorCode, type ReclaimReason } from '../../src/protocol/codes.js';

export interface ModelSession {
  readonly id: string;
  readonly token: string;
  lastHeartbeatAt: number;
  readonly leases: Set<string>;
}

export interface ModelLease {
  readonly id: string;
  readonly feature: string;
  readonly count: number;
  readonly fencing: number;
  readonly sessionId: string;
  lastActivityAt: number;
}

export interface ModelFeature {
  seats: number;
  idleTimeoutMs: number | undefined;
}

type Ending = 'checked_in' | ReclaimReason;

export type CheckoutOutcome =
  | { kind: 'granted' }
  | { kind: 'replay'; leaseId: string }
  | { kind: 'error'; code: ErrorCode; denial: boolean };

export class ReferenceModel {
  readonly sessions = new Map<string, ModelSession>();
  readonly leases = new Map<string, ModelLease>();
  readonly features = new Map<string, ModelFeature>();
  readonly ended = new Map<string, { sessionId: string; fencing: number; ending: Ending }>();
  readonly keys = new Map<string, { leaseId: string; feature: string; count: number }>();
  draining = false;
  fencing: number;

  constructor(
    readonly ttlMs: number,
    readonly maxLeasesPerSession: number,
    initialFencing: number,
  ) {
    this.fencing = initialFencing;
  }

  inUse(feature: string): number {
    let sum = 0;
    for (const lease of this.leases.values()) if (lease.feature === feature) sum += lease.count;
    return sum;
  }

  /**
   * What the engine settles at the start of every state-changing call: sessions past their deadline
   * and idle leases. Returns the acceptable reclaim reasons by lease, and the expired sessions.
   */
  settle(now: number): { reclaims: Map<string, Set<ReclaimReason>>; expired: Set<string> } {
    const reclaims = new Map<string, Set<ReclaimReason>>();
    const expired = new Set<string>();
    for (const session of this.sessions.values()) {
      if (now >= session.lastHeartbeatAt + this.ttlMs) expired.add(session.id);
    }
    for (const lease of this.leases.values()) {
      const reasons = new Set<ReclaimReason>();
      if (expired.has(lease.sessionId)) reasons.add('expired');
      const idle = this.features.get(lease.feature)?.idleTimeoutMs;
      if (idle !== undefined && now >= lease.lastActivityAt + idle) reasons.add('idle');
      if (reasons.size > 0) reclaims.set(lease.id, reasons);
    }
    for (const [leaseId, reasons] of reclaims) this.end(leaseId, reasons.values().next().value!);
    for (const id of expired) this.sessions.delete(id);
    return { reclaims, expired };
  }

  /** Records the reason the engine chose among the acceptable ones. */
  adoptReason(leaseId: string, reason: ReclaimReason): void {
    const tomb = this.ended.get(leaseId);
    if (tomb !== undefined) this.ended.set(leaseId, { ...tomb, ending: reason });
  }

  end(leaseId: string, ending: Ending): void {
    const lease = this.leases.get(leaseId)!;
    this.leases.delete(leaseId);
    this.sessions.get(lease.sessionId)?.leases.delete(leaseId);
    this.ended.set(leaseId, { sessionId: lease.sessionId, fencing: lease.fencing, ending });
  }

  checkout(
    sessionId: string,
    feature: string,
    count: number,
    key: string | undefined,
    now: number,
  ): CheckoutOutcome {
    const session = this.sessions.get(sessionId);
    if (session === undefined) return { kind: 'error', code: 'SESSION_NOT_FOUND', denial: false };
    // PROTOCOL.md §9: any checkout by a live session renews it.
    session.lastHeartbeatAt = now;
    if (!Number.isInteger(count) || count < 1)
      return { kind: 'error', code: 'INVALID_REQUEST', denial: false };
    if (key !== undefined) {
      const grant = this.keys.get(`${sessionId}/${key}`);
      if (grant !== undefined) {
        if (grant.feature !== feature || grant.count !== count) {
          return { kind: 'error', code: 'KEY_CONFLICT', denial: false };
        }
        if (this.leases.has(grant.leaseId)) return { kind: 'replay', leaseId: grant.leaseId };
        const tomb = this.ended.get(grant.leaseId)!;
        if (tomb.ending === 'checked_in') return { kind: 'error', code: 'KEY_CONFLICT', denial: false };
        return { kind: 'error', code: codeForReclaim(tomb.ending), denial: false };
      }
    }
    const pool = this.features.get(feature);
    if (pool === undefined) return { kind: 'error', code: 'UNKNOWN_FEATURE', denial: true };
    if (this.draining) return { kind: 'error', code: 'DRAINING', denial: true };
    if (session.leases.size >= this.maxLeasesPerSession)
      return { kind: 'error', code: 'LIMIT_EXCEEDED', denial: true };
    if (count > pool.seats) return { kind: 'error', code: 'COUNT_EXCEEDS_SEATS', denial: true };
    if (this.inUse(feature) + count > pool.seats) return { kind: 'error', code: 'NO_SEATS', denial: true };
    return { kind: 'granted' };
  }

  grant(
    leaseId: string,
    sessionId: string,
    feature: string,
    count: number,
    key: string | undefined,
    now: number,
  ) {
    const lease: ModelLease = {
      id: leaseId,
      feature,
      count,
      fencing: ++this.fencing,
      sessionId,
      lastActivityAt: now,
    };
    this.leases.set(leaseId, lease);
    this.sessions.get(sessionId)!.leases.add(leaseId);
    if (key !== undefined) this.keys.set(`${sessionId}/${key}`, { leaseId, feature, count });
    return lease;
  }

  /** The code a heartbeat reports for an entry, or undefined when the lease is held (and touched). */
  heartbeatEntry(
    session: ModelSession,
    leaseId: string,
    fencing: number,
    idleMs: number | undefined,
    now: number,
  ) {
    const lease = this.leases.get(leaseId);
    if (lease !== undefined) {
      if (lease.sessionId !== session.id) return 'LEASE_NOT_FOUND';
      if (lease.fencing !== fencing) return 'LEASE_REVOKED';
      if (idleMs !== undefined)
        lease.lastActivityAt = Math.max(lease.lastActivityAt, Math.min(now, now - idleMs));
      return undefined;
    }
    const tomb = this.ended.get(leaseId);
    if (tomb === undefined || tomb.sessionId !== session.id || tomb.ending === 'checked_in')
      return 'LEASE_NOT_FOUND';
    return codeForReclaim(tomb.ending);
  }

  checkin(sessionId: string, leaseId: string, fencing: number): { released: boolean } | { code: ErrorCode } {
    if (!this.sessions.has(sessionId)) return { code: 'SESSION_NOT_FOUND' };
    const lease = this.leases.get(leaseId);
    if (lease !== undefined) {
      if (lease.sessionId !== sessionId) return { code: 'LEASE_NOT_FOUND' };
      if (lease.fencing !== fencing) return { code: 'LEASE_REVOKED' };
      this.end(leaseId, 'checked_in');
      return { released: true };
    }
    const tomb = this.ended.get(leaseId);
    if (tomb === undefined || tomb.sessionId !== sessionId) return { code: 'LEASE_NOT_FOUND' };
    if (tomb.ending !== 'checked_in') return { code: codeForReclaim(tomb.ending) };
    if (tomb.fencing !== fencing) return { code: 'LEASE_REVOKED' };
    return { released: false };
  }
}
