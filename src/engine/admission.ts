/**
 * The one question "may this holder take `count` seats of this feature now?" (DESIGN §3.1: the seat
 * limit is a safety rule; issue 4: models, directory, groups, include/exclude, dedupe, queue order).
 * Kept apart from the engine so the rules live in one place. The engine asks before every grant,
 * including grants to queued waiters. Unknown features and draining are the engine's to answer.
 *
 * Order of the checks (each denial names what to do):
 * - named path: an assigned user checking out 1 seat of a named/mixed feature gets their named seat
 *   whatever the pool's state; only a disabled directory user or the leases-per-session limit stop it.
 *   An assigned user asking for more: `named` → COUNT_EXCEEDS_SEATS, `mixed` → concurrent path.
 *   An unassigned user of a `named` feature → NOT_ASSIGNED.
 * - concurrent path: disabled user → USER_NOT_ENABLED; closed feature and user not in the directory →
 *   USER_NOT_ENABLED; exclude list → USER_EXCLUDED; include list → USER_EXCLUDED; leases per session;
 *   dedupe join (no new seats); count > pool → COUNT_EXCEEDS_SEATS; group max → GROUP_MAX; shortage →
 *   NO_SEATS, or SEATS_RESERVED when only seats reserved for other groups are free.
 */
import type { LeaseholdError } from '../protocol/errors.js';
import { isOpen, matchAccess } from './access.js';
import type { Directory } from './directory.js';
import {
  countExceedsSeats,
  excluded,
  groupMax,
  groupQueued,
  namedCountExceeds,
  noSeats,
  notAssigned,
  notIncluded,
  queuedAhead,
  seatsReserved,
  tooManyLeases,
  userDisabled,
  userNotInDirectory,
} from './engine-errors.js';
import type { FeaturePool } from './feature-pool.js';
import type { SeatClaim } from './seat-claim.js';
import { FeatureModel, type HolderIdentity, LeaseType } from './types.js';

/**
 * What the waiters ahead of a checkout in its feature's queue hold back (the no-starvation rule,
 * see engine.ts #scanQueue): `seats` once one of them is short of seats, `groups` for groups with a
 * waiter ahead that is held back by the group's share.
 */
export interface QueueBlock {
  seats: boolean;
  readonly groups: Set<string>;
  /** Waiters ahead: the checkout's queue position would be `ahead + 1`. */
  ahead: number;
}

/**
 * How a denied checkout relates to the queue: `seats` (NO_SEATS / SEATS_RESERVED: may wait, and holds
 * back later waiters' unreserved seats), `group` (GROUP_MAX: may wait, holds back its group), `none`
 * (a directory or permanent reason: never queued, holds nobody back).
 */
export type WaitKind = 'seats' | 'group' | 'none';

export type Admission =
  | {
      readonly granted: true;
      readonly type: LeaseType;
      readonly group: string | undefined;
      /** The existing claim the lease joins (a named seat already held, or dedupe). */
      readonly join: SeatClaim | undefined;
    }
  | Denial;

/**
 * A denied admission. Its error is built when first read: a queue scan decides every waiter it
 * passes and almost never reads why one still waits, and building the error (its message, its
 * details) for each of them was the largest cost of a contended feature (issue 8).
 */
export class Denial {
  readonly granted = false;
  readonly wait: WaitKind;
  readonly group: string | undefined;
  #build: (() => LeaseholdError) | undefined;
  #error: LeaseholdError | undefined;

  constructor(build: () => LeaseholdError, wait: WaitKind, group: string | undefined) {
    this.#build = build;
    this.wait = wait;
    this.group = group;
  }

  /**
   * The error, built once, without a stack trace: it is an answer, not a fault (and a trace
   * would show where the queue was scanned, not why).
   */
  get error(): LeaseholdError {
    if (this.#error === undefined) {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      try {
        this.#error = this.#build!();
      } finally {
        Error.stackTraceLimit = limit;
      }
      this.#build = undefined;
    }
    return this.#error;
  }
}

export interface AdmissionRequest {
  readonly pool: FeaturePool;
  readonly directory: Directory;
  readonly holder: HolderIdentity;
  /** An integer >= 1. */
  readonly count: number;
  readonly sessionLeases: number;
  readonly maxLeasesPerSession: number;
  /** The waiters ahead in the queue, if any. */
  readonly block: QueueBlock | undefined;
}

function deny(build: () => LeaseholdError, wait: WaitKind = 'none', group?: string): Denial {
  return new Denial(build, wait, group);
}

/** The group a holder's concurrent lease counts against: its first group with a rule here. */
export function ruleGroupOf(pool: FeaturePool, groups: readonly { name: string }[]): string | undefined {
  if (pool.groupRules.size === 0) return undefined;
  for (const group of groups) if (pool.groupRules.has(group.name)) return group.name;
  return undefined;
}

/** Unused reserves of every group but `group`: seats a checkout of `group` may not take. */
export function reservedForOthers(pool: FeaturePool, group: string | undefined): Map<string, number> {
  const reserved = new Map<string, number>();
  for (const rule of pool.groupRules.values()) {
    if (rule.group === group) continue;
    const unused = pool.unusedReserve(rule.group);
    if (unused > 0) reserved.set(rule.group, unused);
  }
  return reserved;
}

/** Decides one checkout or waiter. A denial's error is built only when read (Denial). */
export function decideAdmission(req: AdmissionRequest): Admission {
  const { pool, directory, holder, count } = req;
  const user = directory.user(holder.user);
  const limited = req.sessionLeases >= req.maxLeasesPerSession;

  // ---- named path ----
  if (pool.model !== FeatureModel.Concurrent && pool.namedUsers.has(holder.user)) {
    if (count === 1) {
      if (user !== undefined && !user.enabled) return deny(() => userDisabled(pool, holder.user, count));
      if (limited) return deny(() => tooManyLeases(req.maxLeasesPerSession, pool, count));
      const join = pool.namedClaims.get(holder.user);
      return { granted: true, type: LeaseType.Named, group: undefined, join };
    }
    if (pool.model === FeatureModel.Named) return deny(() => namedCountExceeds(pool, holder.user, count));
  }
  if (pool.model === FeatureModel.Named) return deny(() => notAssigned(pool, holder.user, count));

  // ---- concurrent path: who may use the pool at all ----
  if (user !== undefined && !user.enabled) return deny(() => userDisabled(pool, holder.user, count));
  if (user === undefined && !isOpen(pool, directory)) {
    return deny(() => userNotInDirectory(pool, holder.user, count));
  }
  const groups = directory.groupsOf(holder.user, holder.host);
  if (pool.exclude !== undefined || pool.include !== undefined) {
    const groupNames = groups.map((g) => g.name);
    const out = pool.exclude && matchAccess(pool.exclude, holder.user, holder.host, groupNames);
    if (out !== undefined) return deny(() => excluded(pool, holder.user, holder.host, count, out));
    if (pool.include !== undefined && !matchAccess(pool.include, holder.user, holder.host, groupNames)) {
      return deny(() => notIncluded(pool, holder.user, holder.host, count));
    }
  }
  if (limited) return deny(() => tooManyLeases(req.maxLeasesPerSession, pool, count));

  // ---- dedupe: joining a claim takes no seat, so no seat rule applies ----
  const join = pool.joinableClaim(holder.user, holder.host, count);
  if (join !== undefined) return { granted: true, type: LeaseType.Concurrent, group: join.group, join };

  // ---- seats ----
  const capacity = pool.concurrentCapacity;
  // Permanent: no amount of waiting makes this fit, so it is not a NO_SEATS (which invites a retry).
  if (count > capacity) return deny(() => countExceedsSeats(pool, count));
  const group = ruleGroupOf(pool, groups);
  const max = group === undefined ? undefined : pool.groupRules.get(group)?.max;
  if (group !== undefined && max !== undefined) {
    if (count > max) return deny(() => groupMax(pool, group, max, count), 'none', group);
    if (pool.usageOf(group) + count > max)
      return deny(() => groupMax(pool, group, max, count), 'group', group);
  }
  const block = req.block;
  if (group !== undefined && block?.groups.has(group)) {
    const ahead = block.ahead;
    return deny(() => groupQueued(pool, group, count, ahead), 'group', group);
  }
  // During an overdraft `free` is negative, so this also holds every grant back until usage drops
  // below the lowered count (DESIGN §3.1).
  const free = capacity - pool.concurrentInUse;
  if (count > free) return deny(() => noSeats(pool, count), 'seats', group);
  const reserved = reservedForOthers(pool, group);
  let othersReserve = 0;
  for (const seats of reserved.values()) othersReserve += seats;
  if (count > free - othersReserve) return deny(() => seatsReserved(pool, count, reserved), 'seats', group);
  // Behind a waiter short of seats, only the group's own unused reserve may be taken.
  if (block?.seats && count > pool.unusedReserve(group)) {
    const ahead = block.ahead;
    return deny(() => queuedAhead(pool, count, ahead), 'seats', group);
  }
  return { granted: true, type: LeaseType.Concurrent, group, join: undefined };
}
