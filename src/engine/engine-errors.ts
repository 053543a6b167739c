/**
 * The errors the engine throws, with their messages in one place so a denial reads the same
 * wherever it is reported (DESIGN §2 "denial": a stable code and a human message).
 */
import { ErrorCode, ReclaimReason } from '../protocol/codes.js';
import {
  BlockedError,
  CountExceedsSeatsError,
  DrainingError,
  GroupMaxError,
  InvalidRequestError,
  KeyConflictError,
  LeaseExpiredError,
  type LeaseholdError,
  LeaseNotFoundError,
  LeaseRevokedError,
  LimitExceededError,
  NoSeatsError,
  NotAssignedError,
  SeatsReservedError,
  SessionNotFoundError,
  UnknownFeatureError,
  UserCapError,
  UserExcludedError,
  UserNotEnabledError,
} from '../protocol/errors.js';
import type { AccessMatch } from './access.js';
import type { BlockRecord } from './blocks.js';
import { capBasis } from './feature-config-check.js';
import type { FeaturePool } from './feature-pool.js';
import type { KeyedGrant } from './request-keys.js';
import { QueueLeftReason } from './types.js';
import type { WaiterRecord } from './wait-queue.js';

function poolDetails(pool: FeaturePool, requested: number) {
  return { feature: pool.name, seats: pool.seats, in_use: pool.inUse, requested };
}

function seatWord(n: number): string {
  return n === 1 ? 'seat' : 'seats';
}

export function unknownFeature(feature: string, requested?: number): UnknownFeatureError {
  const details = requested === undefined ? { feature } : { feature, requested };
  return new UnknownFeatureError(`Feature '${feature}' is not licensed on this server.`, { details });
}

export function countExceedsSeats(pool: FeaturePool, count: number): CountExceedsSeatsError {
  const capacity = pool.concurrentCapacity;
  if (capacity === pool.seats) {
    return new CountExceedsSeatsError(
      `Feature '${pool.name}' has ${pool.seats} ${seatWord(pool.seats)}; a checkout of ${count} can never be granted.`,
      { details: poolDetails(pool, count) },
    );
  }
  return new CountExceedsSeatsError(
    `Feature '${pool.name}' has ${capacity} shared ${seatWord(capacity)} (${pool.seats} minus ` +
      `${pool.seats - capacity} named); a checkout of ${count} from the shared pool can never be granted.`,
    { details: { ...poolDetails(pool, count), concurrent_seats: capacity } },
  );
}

/** A named seat is one seat: an assigned user of a `named` feature asked for more. */
export function namedCountExceeds(pool: FeaturePool, user: string, count: number): CountExceedsSeatsError {
  return new CountExceedsSeatsError(
    `Feature '${pool.name}' has only named seats and a named seat is one seat; user '${user}' ` +
      `asked for ${count}. Check out 1.`,
    { details: { ...poolDetails(pool, count), user } },
  );
}

export function notAssigned(pool: FeaturePool, user: string, count: number): NotAssignedError {
  return new NotAssignedError(
    `Feature '${pool.name}' has only named seats and none is assigned to user '${user}'. ` +
      'Ask an admin to assign one.',
    { details: { ...poolDetails(pool, count), user } },
  );
}

export function userDisabled(pool: FeaturePool, user: string, count: number): UserNotEnabledError {
  return new UserNotEnabledError(
    `User '${user}' is not enabled for feature '${pool.name}': the user is disabled. ` +
      'Ask an admin to enable them.',
    { details: { ...poolDetails(pool, count), user } },
  );
}

export function userNotInDirectory(pool: FeaturePool, user: string, count: number): UserNotEnabledError {
  return new UserNotEnabledError(
    `User '${user}' is not enabled for feature '${pool.name}'. Ask an admin to add and enable them.`,
    { details: { ...poolDetails(pool, count), user } },
  );
}

export function excluded(
  pool: FeaturePool,
  user: string,
  host: string,
  count: number,
  match: AccessMatch,
): UserExcludedError {
  return new UserExcludedError(
    `User '${user}' on host '${host}' is excluded from feature '${pool.name}' ` +
      `(the exclude list names ${match.kind} '${match.name}'). Ask an admin if this is wrong.`,
    { details: { ...poolDetails(pool, count), user, host, list: 'exclude', [match.kind]: match.name } },
  );
}

export function notIncluded(pool: FeaturePool, user: string, host: string, count: number): UserExcludedError {
  return new UserExcludedError(
    `User '${user}' on host '${host}' is not on the include list of feature '${pool.name}'. ` +
      'Ask an admin to include them.',
    { details: { ...poolDetails(pool, count), user, host, list: 'include' } },
  );
}

export function groupMax(pool: FeaturePool, group: string, max: number, count: number): GroupMaxError {
  const usage = pool.usageOf(group);
  const details = { ...poolDetails(pool, count), group, max, group_in_use: usage };
  if (count > max) {
    return new GroupMaxError(
      `Group '${group}' may use at most ${max} ${seatWord(max)} of '${pool.name}'; ` +
        `a checkout of ${count} can never be granted.`,
      { details },
    );
  }
  return new GroupMaxError(
    `Group '${group}' may use at most ${max} ${seatWord(max)} of '${pool.name}' and uses ${usage}. ` +
      'Wait, or ask an admin.',
    { details },
  );
}

/** The group has room, but an earlier waiter of the group waits for it: FIFO within the group. */
export function groupQueued(pool: FeaturePool, group: string, count: number, ahead: number): GroupMaxError {
  return new GroupMaxError(
    `An earlier checkout of group '${group}' waits for the group's share of '${pool.name}' ` +
      `(queue position ${ahead + 1}). Wait, or ask an admin.`,
    { details: { ...poolDetails(pool, count), group, queue_position: ahead + 1 } },
  );
}

function andList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

export function seatsReserved(
  pool: FeaturePool,
  count: number,
  reserved: ReadonlyMap<string, number>,
): SeatsReservedError {
  const groups = [...reserved].map(([group, seats]) => `'${group}' (${seats})`);
  return new SeatsReservedError(
    `The free seats of '${pool.name}' are reserved for ${groups.length === 1 ? 'group' : 'groups'} ` +
      `${andList(groups)}. Wait for a free seat or ask an admin.`,
    {
      details: {
        ...poolDetails(pool, count),
        free: pool.concurrentCapacity - pool.concurrentInUse,
        reserved: Object.fromEntries(reserved),
      },
    },
  );
}

/**
 * DESIGN §2's NO_SEATS message, with variants for a partial fit and for an overdraft. For a feature
 * with named seats the numbers are those of the shared (concurrent) pool.
 */
export function noSeats(pool: FeaturePool, count: number): NoSeatsError {
  const { name } = pool;
  const seats = pool.concurrentCapacity;
  const inUse = pool.concurrentInUse;
  const shared = seats === pool.seats && pool.namedInUse === 0 ? '' : 'shared ';
  let message: string;
  if (inUse > seats) {
    message =
      `Feature '${name}' was lowered to ${seats} ${shared}${seatWord(seats)} while ${inUse} were in use; ` +
      `no seat is granted until fewer than ${seats} are in use. ` +
      'Wait for a free seat or ask an admin to free one.';
  } else if (inUse === seats) {
    const taken =
      seats === 1
        ? `The only ${shared}seat of feature '${name}' is in use.`
        : `All ${seats} ${shared}seats of feature '${name}' are in use.`;
    message = `${taken} Wait for a free seat or ask an admin to free one.`;
  } else {
    const free = seats - inUse;
    message =
      `Only ${free} of ${seats} ${shared}seats of feature '${name}' ${free === 1 ? 'is' : 'are'} free ` +
      `and the checkout asks for ${count}. Wait for free seats or ask an admin to free some.`;
  }
  const details =
    shared === '' ? poolDetails(pool, count) : { ...poolDetails(pool, count), concurrent_seats: seats };
  return new NoSeatsError(message, { details });
}

/** Seats are free, but earlier waiters wait for them: the queue is not overtaken (issue 4 §6). */
export function queuedAhead(pool: FeaturePool, count: number, ahead: number): NoSeatsError {
  const free = Math.max(0, pool.concurrentCapacity - pool.concurrentInUse);
  return new NoSeatsError(
    `${free} ${seatWord(free)} of feature '${pool.name}' ${free === 1 ? 'is' : 'are'} free but held for ` +
      `earlier checkouts in the queue. Wait for a free seat (queue position ${ahead + 1}) or ask an admin to free one.`,
    { details: { ...poolDetails(pool, count), queue_position: ahead + 1 } },
  );
}

export function userCapReached(pool: FeaturePool, cap: number, count: number): UserCapError {
  return new UserCapError(
    `Feature '${pool.name}' allows ${cap} enabled users${capBasis(pool)} and has ${count}. Disable a user first.`,
    { details: { feature: pool.name, cap, users: count } },
  );
}

/** "9m 58s", "2d 3h 0m 5s": from the largest unit present down to seconds, rounded up. */
export function formatRemaining(ms: number): string {
  let seconds = Math.max(1, Math.ceil(ms / 1000));
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
  ] as const) {
    const n = Math.floor(seconds / size);
    seconds -= n * size;
    if (n > 0 || parts.length > 0) parts.push(`${n}${unit}`);
  }
  parts.push(`${seconds}s`);
  return parts.join(' ');
}

/** An administrator's block keeps this holder out (blocks.ts). Retryable: it ends by itself. */
export function blocked(
  block: BlockRecord,
  pool: FeaturePool,
  user: string,
  host: string,
  count: number,
  now: number,
): BlockedError {
  const remaining = Math.max(0, block.deadline - now);
  const until = new Date(block.untilWall).toISOString();
  const who =
    block.host === undefined ? `User '${block.user}'` : `User '${block.user}' on host '${block.host}'`;
  const what = block.feature === undefined ? 'every feature' : `feature '${block.feature}'`;
  const by = block.by === undefined ? 'an administrator' : `an administrator (${block.by})`;
  return new BlockedError(
    `${who} is blocked from ${what} by ${by} until ${until} (${formatRemaining(remaining)} from now). ` +
      `Ask an admin to lift the block (leasehold unblock ${block.id}).`,
    {
      details: {
        ...poolDetails(pool, count),
        user,
        host,
        block: block.id,
        until,
        remaining_ms: remaining,
      },
    },
  );
}

export function draining(pool: FeaturePool, count: number): DrainingError {
  return new DrainingError(
    'The server is draining and grants no new seats. Try another server, or retry once it is back.',
    { details: poolDetails(pool, count) },
  );
}

export function tooManyLeases(limit: number, pool: FeaturePool, count: number): LimitExceededError {
  return new LimitExceededError(
    `This session already holds ${limit} leases, the most one session may hold. ` +
      'Check some in before checking out more.',
    { details: { ...poolDetails(pool, count), limit } },
  );
}

export function invalidCount(count: number): InvalidRequestError {
  return new InvalidRequestError(`A checkout count must be an integer of at least 1; got ${String(count)}.`, {
    details: { field: 'count' },
  });
}

export function invalidKey(): InvalidRequestError {
  return new InvalidRequestError('A request key must be a non-empty string of at most 1024 characters.', {
    details: { field: 'key' },
  });
}

/** The same error whether the session is unknown, expired or the token is wrong: reveal nothing. */
export function sessionNotFound(): SessionNotFoundError {
  return new SessionNotFoundError('No such session: it expired or ended, or the resume token is wrong.');
}

export function leaseNotFound(leaseId: string, bySession = true): LeaseNotFoundError {
  const where = bySession ? ' by this session' : '';
  return new LeaseNotFoundError(`No lease '${leaseId}' is held${where}.`, { details: { lease: leaseId } });
}

export function fencingMismatch(leaseId: string, fencing: number): LeaseRevokedError {
  return new LeaseRevokedError(`Fencing token ${String(fencing)} is not valid for lease '${leaseId}'.`, {
    details: { lease: leaseId },
  });
}

/** DESIGN §3.4: the holder of a reclaimed lease learns why, with LEASE_EXPIRED or LEASE_REVOKED. */
export function leaseReclaimed(leaseId: string, reason: ReclaimReason): LeaseholdError {
  const details = { lease: leaseId, reason };
  switch (reason) {
    case ReclaimReason.Expired:
      return new LeaseExpiredError(
        `Lease '${leaseId}' was reclaimed: its session sent no heartbeat for the lease ttl.`,
        { details },
      );
    case ReclaimReason.Idle:
      return new LeaseRevokedError(
        `Lease '${leaseId}' was reclaimed: its holder was idle for the feature's idle timeout.`,
        { details },
      );
    case ReclaimReason.Admin:
      return new LeaseRevokedError(`Lease '${leaseId}' was freed by an administrator.`, { details });
    case ReclaimReason.FeatureRemoved:
      return new LeaseRevokedError(
        `Lease '${leaseId}' was reclaimed: its feature was removed from the configuration.`,
        { details },
      );
    case ReclaimReason.IdlePreempted:
      return new LeaseRevokedError(
        `Lease '${leaseId}' was reclaimed for a waiting checkout: its holder was idle the longest, ` +
          "past the feature's reclaim_idle_when_queued.",
        { details },
      );
    default:
      return reason satisfies never;
  }
}

export function keyUsedForOtherCheckout(key: string, grant: KeyedGrant): KeyConflictError {
  return new KeyConflictError(
    `Request key '${key}' was already used for a checkout of ${grant.count} ${seatWord(grant.count)} ` +
      `of feature '${grant.feature}' (lease '${grant.leaseId}').`,
    { details: { key, lease: grant.leaseId, feature: grant.feature, count: grant.count } },
  );
}

export function keyUsedForCheckedInLease(key: string, leaseId: string): KeyConflictError {
  return new KeyConflictError(
    `Request key '${key}' was already used for lease '${leaseId}', which was checked in.`,
    { details: { key, lease: leaseId } },
  );
}

/** The key's lease ended so long ago that how it ended is forgotten. */
export function keyUsedForEndedLease(key: string, leaseId: string): KeyConflictError {
  return new KeyConflictError(
    `Request key '${key}' was already used for lease '${leaseId}', which has ended.`,
    {
      details: { key, lease: leaseId },
    },
  );
}

export function keyUsedForWaitingCheckout(key: string, waiter: WaiterRecord): KeyConflictError {
  return new KeyConflictError(
    `Request key '${key}' is already used for a checkout of ${waiter.count} ${seatWord(waiter.count)} ` +
      `of feature '${waiter.pool.name}', which waits in the queue (ticket '${waiter.ticket}').`,
    { details: { key, ticket: waiter.ticket, feature: waiter.pool.name, count: waiter.count } },
  );
}

export function invalidWait(waitMs: unknown): InvalidRequestError {
  return new InvalidRequestError(
    `A checkout's waitMs must be an integer of milliseconds of at least 0; got ${String(waitMs)}.`,
    { details: { field: 'waitMs' } },
  );
}

/** The code and message of a `queueLeft` event: what the waiter was waiting out, and why it stopped. */
export function queueLeftNotice(
  waiter: WaiterRecord,
  reason: QueueLeftReason,
  position: number,
  size: number,
): { code: ErrorCode; message: string } {
  const feature = waiter.pool.name;
  const where = `position ${position} of ${size}`;
  const wanted = `${waiter.count} ${seatWord(waiter.count)} of '${feature}'`;
  const denial = waiter.denial;
  switch (reason) {
    case QueueLeftReason.Timeout: {
      const waited = `${waiter.waitMs} ms`;
      switch (denial.code) {
        case ErrorCode.NoSeats: {
          const what = waiter.count === 1 ? 'No seat' : `Not ${waiter.count} seats`;
          return { code: denial.code, message: `${what} of '${feature}' freed within ${waited} (${where}).` };
        }
        case ErrorCode.SeatsReserved:
          return {
            code: denial.code,
            message: `The free seats of '${feature}' stayed reserved for other groups for ${waited} (${where}).`,
          };
        case ErrorCode.GroupMax: {
          const group = String(denial.details?.group ?? '?');
          return {
            code: denial.code,
            message: `Group '${group}' did not get ${wanted} within its share in ${waited} (${where}).`,
          };
        }
        default:
          return { code: denial.code, message: `${denial.message} (waited ${waited}, ${where})` };
      }
    }
    case QueueLeftReason.Cancelled:
      return { code: denial.code, message: `The wait for ${wanted} was cancelled at ${where}.` };
    case QueueLeftReason.Disconnected:
      return {
        code: denial.code,
        message: `The wait for ${wanted} ended: the client disconnected (${where}).`,
      };
    case QueueLeftReason.SessionEnded:
      return { code: denial.code, message: `The wait for ${wanted} ended: its session ended (${where}).` };
    case QueueLeftReason.FeatureRemoved:
      return {
        code: ErrorCode.UnknownFeature,
        message: `The wait for ${wanted} ended: the feature was removed from the configuration.`,
      };
    case QueueLeftReason.Blocked:
      // The block placer records the BLOCKED denial on the waiter before it leaves (block-admin.ts).
      return {
        code: ErrorCode.Blocked,
        message:
          denial.code === ErrorCode.Blocked
            ? `The wait for ${wanted} ended (${where}): ${denial.message}`
            : `The wait for ${wanted} ended (${where}): an administrator blocked its holder.`,
      };
    default:
      return reason satisfies never;
  }
}
