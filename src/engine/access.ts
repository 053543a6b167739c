/**
 * Who may use a feature's concurrent seats at all (issue 4 §2, §4): open or closed features,
 * include/exclude lists (FlexLM INCLUDE/EXCLUDE by user, host and group), and the cap on enabled
 * users (`maxUsers` or `usersPerSeat`).
 */
import type { Directory } from './directory.js';
import type { AccessSets, FeaturePool } from './feature-pool.js';

/**
 * Whether users not in the directory may check out. Decided: an explicit `open` wins; otherwise a
 * feature is open while the directory has no users at all (FlexLM's "anyone may check out"), and
 * closed once it has some, or when it caps its users (a cap counts directory users, so an open
 * feature would make it meaningless). The default is evaluated live, so a restart that replays
 * the same directory changes decides the same way.
 */
export function isOpen(pool: FeaturePool, directory: Directory): boolean {
  if (pool.open !== undefined) return pool.open;
  return pool.userCap === undefined && directory.userCount === 0;
}

/** What an access list entry matched, for the denial message. */
export interface AccessMatch {
  readonly kind: 'user' | 'host' | 'group';
  readonly name: string;
}

/** The first entry of `list` that names the holder, its host (if given) or one of its groups. */
export function matchAccess(
  list: AccessSets,
  user: string,
  host: string | undefined,
  groups: readonly string[],
): AccessMatch | undefined {
  if (list.users.has(user)) return { kind: 'user', name: user };
  if (host !== undefined && list.hosts.has(host)) return { kind: 'host', name: host };
  for (const group of groups) if (list.groups.has(group)) return { kind: 'group', name: group };
  return undefined;
}

/**
 * Enabled directory users who pass the feature's include/exclude lists: what the user cap counts.
 * Hosts are not known for a user at rest, so host entries and memberships by host are left out.
 */
export function countedUsers(pool: FeaturePool, directory: Directory): number {
  let count = 0;
  for (const user of directory.users()) {
    if (!user.enabled) continue;
    if (pool.include === undefined && pool.exclude === undefined) {
      count++;
      continue;
    }
    const groups = directory.groupNamesOf(user.name);
    if (pool.exclude !== undefined && matchAccess(pool.exclude, user.name, undefined, groups)) continue;
    if (pool.include !== undefined && !matchAccess(pool.include, user.name, undefined, groups)) continue;
    count++;
  }
  return count;
}

export interface UserCapBreach {
  readonly pool: FeaturePool;
  readonly cap: number;
  readonly count: number;
}

/** The first feature (in `pools` order) whose counted users exceed its cap, if any. */
export function userCapBreach(pools: Iterable<FeaturePool>, directory: Directory): UserCapBreach | undefined {
  for (const pool of pools) {
    const cap = pool.userCap;
    if (cap === undefined || pool.model === 'named') continue;
    const count = countedUsers(pool, directory);
    if (count > cap) return { pool, cap, count };
  }
  return undefined;
}
