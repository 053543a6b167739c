/**
 * The errors the engine throws, with their messages in one place so a denial reads the same
 * wherever it is reported (DESIGN §2 "denial": a stable code and a human message).
 */
import { ReclaimReason } from '../protocol/codes.js';
import {
  CountExceedsSeatsError,
  DrainingError,
  InvalidRequestError,
  KeyConflictError,
  LeaseExpiredError,
  type LeaseholdError,
  LeaseNotFoundError,
  LeaseRevokedError,
  LimitExceededError,
  NoSeatsError,
  SessionNotFoundError,
  UnknownFeatureError,
} from '../protocol/errors.js';
import type { FeaturePool } from './feature-pool.js';
import type { KeyedGrant } from './request-keys.js';

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
  return new CountExceedsSeatsError(
    `Feature '${pool.name}' has ${pool.seats} ${seatWord(pool.seats)}; a checkout of ${count} can never be granted.`,
    { details: poolDetails(pool, count) },
  );
}

/** DESIGN §2's NO_SEATS message, with variants for a partial fit and for an overdraft. */
export function noSeats(pool: FeaturePool, count: number): NoSeatsError {
  const { name, seats, inUse } = pool;
  let message: string;
  if (inUse > seats) {
    message =
      `Feature '${name}' was lowered to ${seats} ${seatWord(seats)} while ${inUse} were in use; ` +
      `no seat is granted until fewer than ${seats} are in use. ` +
      'Wait for a free seat or ask an admin to free one.';
  } else if (inUse === seats) {
    const taken =
      seats === 1
        ? `The only seat of feature '${name}' is in use.`
        : `All ${seats} seats of feature '${name}' are in use.`;
    message = `${taken} Wait for a free seat or ask an admin to free one.`;
  } else {
    const free = seats - inUse;
    message =
      `Only ${free} of ${seats} seats of feature '${name}' ${free === 1 ? 'is' : 'are'} free ` +
      `and the checkout asks for ${count}. Wait for free seats or ask an admin to free some.`;
  }
  return new NoSeatsError(message, { details: poolDetails(pool, count) });
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
