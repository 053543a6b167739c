/**
 * Checks for run-time directory changes and named assignments (issue 4 §1–§2). A change is tried on
 * a copy of the directory and kept only if every feature's user cap still holds, so a refused change
 * leaves the state as it was (DESIGN §3.7).
 */
import { InvalidRequestError, type UserCapError } from '../protocol/errors.js';
import { countedUsers } from './access.js';
import type { Directory } from './directory.js';
import { userCapReached } from './engine-errors.js';
import type { FeaturePool } from './feature-pool.js';
import { FeatureModel } from './types.js';

/**
 * The first feature whose counted users the change would push over its cap (a count that does not
 * grow is never refused, so a feature already over its cap does not block unrelated changes).
 */
export function capBreach(
  pools: Iterable<FeaturePool>,
  before: Directory,
  after: Directory,
): UserCapError | undefined {
  for (const pool of pools) {
    const cap = pool.userCap;
    if (cap === undefined || pool.model === FeatureModel.Named) continue;
    const now = countedUsers(pool, after);
    if (now <= cap) continue;
    const was = countedUsers(pool, before);
    if (now > was) return userCapReached(pool, cap, was);
  }
  return undefined;
}

/**
 * Decided: a named assignment needs the user to be in the directory whenever the directory has
 * users; with an empty directory (every feature open by default) any user name may be assigned.
 */
export function checkAssign(pool: FeaturePool, user: string, directory: Directory): void {
  const details = { feature: pool.name, user };
  if (typeof user !== 'string' || user.length === 0) {
    throw new InvalidRequestError('A user name must be a non-empty string.', { details });
  }
  if (pool.model === FeatureModel.Concurrent) {
    throw new InvalidRequestError(
      `Feature '${pool.name}' uses model 'concurrent', which has no named seats; use 'named' or 'mixed'.`,
      { details },
    );
  }
  if (directory.userCount > 0 && directory.user(user) === undefined) {
    throw new InvalidRequestError(`No user '${user}' in the directory; add the user first.`, { details });
  }
  const named = pool.namedUsers.size;
  if (named + 1 > pool.seats) {
    throw new InvalidRequestError(
      `Feature '${pool.name}' has ${pool.seats} seats and ${named} named assignments; ` +
        'no seat is left to assign.',
      { details: { ...details, seats: pool.seats, named } },
    );
  }
  let reserved = 0;
  for (const rule of pool.groupRules.values()) reserved += rule.reserve ?? 0;
  if (reserved > pool.seats - named - 1) {
    throw new InvalidRequestError(
      `Feature '${pool.name}' reserves ${reserved} of its ${pool.seats - named} shared seats for groups; ` +
        'a named assignment would leave too few. Lower a reserve first.',
      { details: { ...details, reserved } },
    );
  }
}

export function checkUnassign(pool: FeaturePool, user: string): void {
  if (!pool.namedUsers.has(user)) {
    throw new InvalidRequestError(`User '${String(user)}' has no named seat of feature '${pool.name}'.`, {
      details: { feature: pool.name, user },
    });
  }
}
