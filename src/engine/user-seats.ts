/**
 * The seat type each directory user is given on a feature (issue 6 `users list --feature F
 * --type named|concurrent`, as the vendors' admin centers show it): `named` with a named seat of
 * it; `concurrent` when the user may use its concurrent pool (enabled, the feature has a pool, and
 * the include/exclude lists admit the user by name or group — hosts are not known at rest);
 * otherwise `none`.
 */
import { matchAccess } from './access.js';
import type { Directory } from './directory.js';
import type { FeaturePool } from './feature-pool.js';

export type SeatType = 'named' | 'concurrent' | 'none';

export function userSeatTypes(pool: FeaturePool, directory: Directory): Map<string, SeatType> {
  const out = new Map<string, SeatType>();
  for (const user of directory.users()) {
    if (pool.namedUsers.has(user.name)) {
      out.set(user.name, 'named');
      continue;
    }
    let seat: SeatType = user.enabled && pool.model !== 'named' ? 'concurrent' : 'none';
    if (seat === 'concurrent') {
      const groups = directory.groupNamesOf(user.name);
      if (pool.exclude !== undefined && matchAccess(pool.exclude, user.name, undefined, groups))
        seat = 'none';
      if (pool.include !== undefined && !matchAccess(pool.include, user.name, undefined, groups))
        seat = 'none';
    }
    out.set(user.name, seat);
  }
  return out;
}
