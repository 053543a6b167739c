/**
 * Plain data the engine takes and hands out. Everything here is a snapshot: the engine never hands
 * out its internal records, so callers cannot change engine state by mutating what they receive.
 */
import type { ErrorCode, ReclaimReason } from '../protocol/codes.js';
import type { ErrorDetails } from '../protocol/errors.js';

/** DESIGN §2: how a feature's seats are shared. Only `concurrent` is supported so far. */
export const FeatureModel = {
  Concurrent: 'concurrent',
  Named: 'named',
  Mixed: 'mixed',
} as const;
export type FeatureModel = (typeof FeatureModel)[keyof typeof FeatureModel];

/** Which kind of seat a lease occupies: a named seat or one from the concurrent pool. */
export const LeaseType = {
  Concurrent: 'concurrent',
  Named: 'named',
} as const;
export type LeaseType = (typeof LeaseType)[keyof typeof LeaseType];

/** Why a session ended: its holder closed it, or it missed heartbeats for the lease ttl. */
export const SessionEndReason = {
  Closed: 'closed',
  Expired: 'expired',
} as const;
export type SessionEndReason = (typeof SessionEndReason)[keyof typeof SessionEndReason];

export interface FeatureConfig {
  readonly name: string;
  /** Licensed seats: an integer >= 0 (0 licenses nothing but keeps the feature known). */
  readonly seats: number;
  readonly model: FeatureModel;
  /** Reclaim a lease whose holder reported no user activity for this long (DESIGN §2 reclaim b). */
  readonly idleTimeoutMs?: number;
}

/** Who holds a session's leases (DESIGN §2 "lease"). */
export interface HolderIdentity {
  readonly user: string;
  readonly host: string;
  readonly display?: string;
  readonly clientName: string;
  /** The address of the connection the session last arrived on. */
  readonly peer?: string;
}

/** A lease as seen from outside. Times are clock milliseconds. */
export interface LeaseView {
  readonly id: string;
  readonly feature: string;
  readonly count: number;
  readonly fencing: number;
  readonly sessionId: string;
  readonly user: string;
  readonly host: string;
  readonly display?: string;
  readonly clientName: string;
  readonly peer?: string;
  readonly type: LeaseType;
  readonly grantedAt: number;
  /** The last heartbeat of the lease's session: heartbeats are per session (DESIGN §2). */
  readonly lastHeartbeatAt: number;
  readonly lastActivityAt: number;
}

export interface FeatureStatus {
  readonly name: string;
  readonly model: FeatureModel;
  readonly seats: number;
  readonly inUse: number;
  readonly free: number;
  /** Checkouts waiting for a seat; always 0 until the wait queue exists. */
  readonly queued: number;
  /** Seats in use beyond `seats` after an admin lowered it (DESIGN §3.1). */
  readonly overdraft: number;
  readonly idleTimeoutMs?: number;
  /** Sorted by grant time, then id. */
  readonly leases: readonly LeaseView[];
}

export interface SessionView {
  readonly id: string;
  readonly identity: HolderIdentity;
  readonly openedAt: number;
  readonly lastHeartbeatAt: number;
  /** `lastHeartbeatAt + leaseTtlMs`: the sweep reclaims the session from this time on. */
  readonly deadline: number;
  /** In grant order. */
  readonly leaseIds: readonly string[];
}

export interface CheckoutRequest {
  readonly feature: string;
  readonly count: number;
  /** Client-chosen, scoped to the session: a retry with the same key returns the same lease (DESIGN §3.5). */
  readonly key?: string;
}

export interface HeartbeatLeaseEntry {
  readonly lease: string;
  readonly fencing: number;
  /** How long ago the holder's user was last active; omitted = the client has no activity data. */
  readonly idleMs?: number;
}

export interface HeartbeatRequest {
  readonly leases?: readonly HeartbeatLeaseEntry[];
}

export interface LostLease {
  readonly lease: string;
  readonly code: ErrorCode;
}

export interface HeartbeatResult {
  readonly ttlMs: number;
  readonly lost: readonly LostLease[];
}

export interface LeaseFilter {
  readonly feature?: string;
  readonly user?: string;
  readonly host?: string;
  readonly sessionId?: string;
}

/** The events the engine emits, by name, with their payloads (all plain data). */
export interface EngineEvents {
  granted: { readonly lease: LeaseView };
  /** The holder gave the lease back: a checkin, or the end of its session. */
  released: { readonly lease: LeaseView };
  reclaimed: { readonly lease: LeaseView; readonly reason: ReclaimReason };
  denied: {
    readonly sessionId: string;
    readonly user: string;
    readonly host: string;
    readonly feature: string;
    readonly count: number;
    readonly code: ErrorCode;
    readonly message: string;
    readonly details: ErrorDetails | undefined;
  };
  sessionOpened: { readonly session: SessionView };
  sessionEnded: { readonly sessionId: string; readonly reason: SessionEndReason };
  seatsChanged: {
    readonly feature: string;
    readonly seats: number;
    readonly inUse: number;
    readonly overdraft: number;
  };
}

export type EngineEventName = keyof EngineEvents;
