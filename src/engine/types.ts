/**
 * Plain data the engine takes and hands out. Everything here is a snapshot: the engine never hands
 * out its internal records, so callers cannot change engine state by mutating what they receive.
 */
import type { ErrorCode, ReclaimReason } from '../protocol/codes.js';
import type { ErrorDetails } from '../protocol/errors.js';

/**
 * DESIGN §2: how a feature's seats are shared. `concurrent`: one pool anyone allowed may use;
 * `named`: only users with a named assignment may check out, one seat each; `mixed`: named
 * assignments carved out of `seats`, the rest a concurrent pool.
 */
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

/** FlexLM DUP_GROUP: which repeated checkouts share the seat their user already holds. */
export const DedupeMode = {
  None: 'none',
  User: 'user',
  UserHost: 'user-host',
} as const;
export type DedupeMode = (typeof DedupeMode)[keyof typeof DedupeMode];

/** Who an include or exclude list names: a holder matches if any entry matches. */
export interface AccessList {
  readonly users?: readonly string[];
  readonly hosts?: readonly string[];
  readonly groups?: readonly string[];
}

/** A group's share of one feature (DESIGN §2 "groups"): guaranteed seats and a cap. */
export interface GroupRule {
  readonly group: string;
  /** Seats only this group may take while its usage is below the reserve. */
  readonly reserve?: number;
  /** The most seats the group may use at once. */
  readonly max?: number;
}

export interface FeatureConfig {
  readonly name: string;
  /** Licensed seats: an integer >= 0 (0 licenses nothing but keeps the feature known). */
  readonly seats: number;
  readonly model: FeatureModel;
  /** Reclaim a lease whose holder reported no user activity for this long (DESIGN §2 reclaim b). */
  readonly idleTimeoutMs?: number;
  /** Users with a named seat (named and mixed models only); each carves one seat out of `seats`. */
  readonly namedUsers?: readonly string[];
  /**
   * Whether users not in the directory may check out. Default: true when the directory has no
   * users and the feature has no user cap, else false.
   */
  readonly open?: boolean;
  /** Cap on the enabled users allowed to use the feature (concurrent and mixed models). */
  readonly maxUsers?: number;
  /** The same cap as a ratio: floor(usersPerSeat × seats). Only one of the two may be set. */
  readonly usersPerSeat?: number;
  /** Default 'none'. */
  readonly dedupe?: DedupeMode;
  readonly include?: AccessList;
  readonly exclude?: AccessList;
  /** In the order given; a holder's lease counts against the first of its groups with a rule. */
  readonly groupRules?: readonly GroupRule[];
  /** While someone waits, reclaim the lease idle longest once it has been idle this long. */
  readonly reclaimIdleWhenQueuedMs?: number;
}

export interface UserConfig {
  readonly name: string;
  /** Default true. */
  readonly enabled?: boolean;
  /** Groups the user belongs to, besides those that list the user or the user's host. */
  readonly groups?: readonly string[];
  /** A human name, for listings. */
  readonly display?: string;
  readonly email?: string;
  /**
   * sha256 of the user's personal token, 64 lowercase hex characters. The engine never sees the
   * token itself; two users may not share a hash.
   */
  readonly tokenHash?: string;
}

export interface GroupConfig {
  readonly name: string;
  readonly users?: readonly string[];
  /** Every holder on one of these hosts is a member. */
  readonly hosts?: readonly string[];
  /** Queue priority of the group's members: higher is served first. Default 0. */
  readonly priority?: number;
}

/** The users and groups the engine starts with (config), changed later through engine calls. */
export interface DirectoryConfig {
  readonly users: readonly UserConfig[];
  readonly groups: readonly GroupConfig[];
}

export interface UserView {
  readonly name: string;
  readonly enabled: boolean;
  /** Every group the user is a member of by name (not by host), in directory order. */
  readonly groups: readonly string[];
  /** Features on which the user has a named seat, in feature order. */
  readonly named: readonly string[];
  readonly display?: string;
  readonly email?: string;
  /** Whether a personal token is set (its hash is never handed out). */
  readonly hasToken: boolean;
}

/** A change to a user's descriptive fields: a string sets it, `null` clears it, absent keeps it. */
export interface UserUpdate {
  readonly display?: string | null;
  readonly email?: string | null;
}

/**
 * An administrator's block (a removal that sticks): the holder may not check out until it ends.
 * No `host`: every host of the user; no `feature`: every feature.
 */
export interface BlockSpec {
  readonly user: string;
  readonly host?: string;
  readonly feature?: string;
  /** An integer of milliseconds, 1 ms to 366 days. */
  readonly durationMs: number;
  /** Who placed the block, for the denial message. */
  readonly by?: string;
}

export interface BlockView {
  /** 32 lowercase hex characters, random. */
  readonly id: string;
  readonly user: string;
  readonly host?: string;
  readonly feature?: string;
  readonly by?: string;
  /** How long the block still lasts, by the monotonic clock. */
  readonly remainingMs: number;
  /** When it ends, in wall-clock epoch milliseconds (for display and persistence only). */
  readonly untilWall: number;
}

/** Which leases `freeLeases` reclaims: the user's, narrowed to a host and a feature when given. */
export interface FreeFilter {
  readonly user: string;
  readonly host?: string;
  readonly feature?: string;
}

export interface GroupView {
  readonly name: string;
  /** Members by name: the group's own list plus users who name the group. */
  readonly users: readonly string[];
  readonly hosts: readonly string[];
  readonly priority: number;
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
  /** The group whose share the lease counts against (concurrent leases of a group with a rule). */
  readonly group?: string;
  /** Whether the lease joined a seat its user already held (a named seat, or dedupe). */
  readonly shared: boolean;
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
  /** Checkouts waiting for a seat. */
  readonly queued: number;
  /** Named assignments. */
  readonly namedSeats: number;
  /** Named seats occupied. */
  readonly namedInUse: number;
  /** The concurrent pool: seats minus named assignments (and named seats still held after unassign). */
  readonly concurrentSeats: number;
  readonly concurrentInUse: number;
  /** One entry per group rule, in configuration order. */
  readonly groups: readonly GroupUsage[];
  /** Seats in use beyond `seats` after an admin lowered it (DESIGN §3.1). */
  readonly overdraft: number;
  readonly idleTimeoutMs?: number;
  /** Sorted by grant time, then id. */
  readonly leases: readonly LeaseView[];
}

export interface GroupUsage {
  readonly name: string;
  /** Seats of the feature the group's leases occupy. */
  readonly inUse: number;
  readonly reserve?: number;
  readonly max?: number;
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
  /**
   * How long the checkout may wait in the feature's queue when no seat can be granted now (NO_SEATS,
   * SEATS_RESERVED, GROUP_MAX). Absent or 0: deny at once.
   */
  readonly waitMs?: number;
}

/** A checkout waiting in a feature's queue (DESIGN §2 "queue"). */
export interface WaiterView {
  /** 32 lowercase hex characters, random. */
  readonly ticket: string;
  readonly feature: string;
  readonly count: number;
  readonly sessionId: string;
  readonly user: string;
  readonly host: string;
  readonly priority: number;
  readonly group?: string;
  readonly enqueuedAt: number;
  /** `enqueuedAt + waitMs`: the waiter leaves the queue at this time if not granted. */
  readonly deadline: number;
  /** 1-based, in the feature's queue order (priority, then arrival). */
  readonly position: number;
}

export type CheckoutResult =
  | { readonly kind: 'granted'; readonly lease: LeaseView }
  | { readonly kind: 'queued'; readonly waiter: WaiterView };

export const QueueLeftReason = {
  Timeout: 'timeout',
  Cancelled: 'cancelled',
  Disconnected: 'disconnected',
  SessionEnded: 'session_ended',
  FeatureRemoved: 'feature_removed',
  /** An administrator blocked the waiter's holder from the feature. */
  Blocked: 'blocked',
} as const;
export type QueueLeftReason = (typeof QueueLeftReason)[keyof typeof QueueLeftReason];

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
  readonly type?: LeaseType;
}

/** The events the engine emits, by name, with their payloads (all plain data). */
export interface EngineEvents {
  /**
   * `key` and `claimOf` complete the lease for the journal (journal-records.ts): the request key of
   * the checkout, and for a lease that joined a seat its user already held (named seat, dedupe) the
   * id of a live lease of that claim.
   */
  granted: { readonly lease: LeaseView; readonly key?: string; readonly claimOf?: string };
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
  /** `tokenHash`: sha256 of the resume token's raw bytes, hex (what the journal persists). */
  sessionOpened: { readonly session: SessionView; readonly tokenHash: string };
  sessionEnded: { readonly sessionId: string; readonly reason: SessionEndReason };
  seatsChanged: {
    readonly feature: string;
    readonly seats: number;
    readonly inUse: number;
    readonly overdraft: number;
  };
  /** A checkout started waiting (it was not denied). */
  queued: { readonly waiter: WaiterView };
  /** A waiter's position changed because the queue changed ahead of it. */
  queuePosition: { readonly waiter: WaiterView };
  /** A waiter got its lease (a `granted` event is emitted too). */
  queueGranted: { readonly waiter: WaiterView; readonly lease: LeaseView };
  /** A waiter left the queue without a lease; `code` and `message` say what it was waiting out. */
  queueLeft: {
    readonly waiter: WaiterView;
    readonly reason: QueueLeftReason;
    readonly code: ErrorCode;
    readonly message: string;
  };
  /** A user, group membership, enablement or named assignment changed. */
  directoryChanged: { readonly kind: string; readonly detail: Readonly<Record<string, unknown>> };
  /** An administrator placed a block. */
  blocked: BlockView;
  /** An administrator lifted a block before its end (a block that runs out announces nothing). */
  unblocked: { readonly id: string };
  /**
   * The config baseline changed (config-baseline.ts): the directory and named assignments of the
   * configuration last applied, which the next reload or restart diffs against.
   */
  configBaseline: ConfigBaselineData;
}

/** The directory and named assignments of the configuration last applied (config-baseline.ts). */
export interface ConfigBaselineData {
  /** Normalised: every user and group field filled in, in the config's order. */
  readonly directory: DirectoryConfig;
  /** Features of that configuration with named assignments, in its order. */
  readonly named: readonly { readonly feature: string; readonly users: readonly string[] }[];
}

export type EngineEventName = keyof EngineEvents;
