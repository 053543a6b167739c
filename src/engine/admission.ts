/**
 * The one question "may this holder take `count` seats of this feature now?" (DESIGN §3.1: the seat
 * limit is a safety rule). Kept apart from the engine so the rules to come (named seats, group
 * reserve/max/priority, include/exclude, user caps, dedupe) grow here without touching lease
 * bookkeeping. The engine asks before every grant, including grants to queued waiters.
 */
import type { LeaseholdError } from '../protocol/errors.js';
import { countExceedsSeats, noSeats } from './engine-errors.js';
import type { FeaturePool } from './feature-pool.js';
import { type HolderIdentity, LeaseType } from './types.js';

export type Admission =
  | { readonly granted: true; readonly type: LeaseType }
  | { readonly granted: false; readonly error: LeaseholdError };

/**
 * `count` must already be an integer >= 1. `holder` is unused while only the concurrent model
 * exists; named seats and groups decide by it.
 */
export function decideAdmission(pool: FeaturePool, _holder: HolderIdentity, count: number): Admission {
  // Permanent: no amount of waiting makes this fit, so it is not a NO_SEATS (which invites a retry).
  if (count > pool.seats) return { granted: false, error: countExceedsSeats(pool, count) };
  // During an overdraft inUse > seats, so this also holds every grant back until usage drops
  // below the lowered count (DESIGN §3.1).
  if (pool.inUse + count > pool.seats) return { granted: false, error: noSeats(pool, count) };
  return { granted: true, type: LeaseType.Concurrent };
}
