/**
 * Issue 5 reload: what a new configuration changes, worked out and validated as a whole before the
 * engine changes anything (DESIGN §3.7: an invalid config changes nothing and the old one stays in
 * force). The engine then applies the plan (LeaseEngine.reconfigure).
 */
import { InvalidRequestError } from '../protocol/errors.js';
import { Directory } from './directory.js';
import { DirectoryOpKind } from './directory-ops.js';
import { validateFeatureConfig } from './feature-config-check.js';
import type { FeaturePool } from './feature-pool.js';
import type { DirectoryConfig, FeatureConfig } from './types.js';

export interface ReconfigureResult {
  /** Feature names, in the new configuration's order. */
  added: string[];
  removed: string[];
  changed: string[];
}

export interface ReconfigurePlan {
  /** Directory changes, in the order they apply (groups first, then users, then removals). */
  readonly directoryOps: readonly { kind: DirectoryOpKind; detail: Record<string, unknown> }[];
  /** Features to remove (their leases are reclaimed). */
  readonly removed: readonly string[];
  /** Every feature of the new configuration, to add or update, in its order. */
  readonly configs: readonly FeatureConfig[];
  readonly result: ReconfigureResult;
}

/** Key order and absent-vs-undefined do not make two configurations differ. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort()) {
      const item = (v as Record<string, unknown>)[key];
      if (item !== undefined) sorted[key] = item;
    }
    return sorted;
  });
}

/** Named assignments as a set: their order is not a change (kept ones keep theirs). */
function comparable(config: FeatureConfig): FeatureConfig {
  const { namedUsers, ...rest } = config;
  return namedUsers === undefined || namedUsers.length === 0
    ? rest
    : { ...rest, namedUsers: [...namedUsers].sort() };
}

/**
 * The directory operations that turn `draft` into `target` (applied to `draft` as they are listed),
 * in an order where each applies: groups set, users set, users removed, groups removed, then the
 * group order when it differs (a holder's groups are read in directory order).
 */
function directoryDiff(draft: Directory, target: Directory): ReconfigurePlan['directoryOps'] {
  const ops: { kind: DirectoryOpKind; detail: Record<string, unknown> }[] = [];
  const wanted = target.toConfig();
  for (const group of wanted.groups) {
    if (draft.setGroup(group)) {
      ops.push({
        kind: DirectoryOpKind.GroupSet,
        detail: { group: group.name, users: group.users, hosts: group.hosts, priority: group.priority },
      });
    }
  }
  for (const user of wanted.users) {
    if (draft.setUser(user)) {
      ops.push({
        kind: DirectoryOpKind.UserSet,
        detail: { user: user.name, enabled: user.enabled, groups: user.groups },
      });
    }
  }
  for (const user of [...draft.users()]) {
    if (target.user(user.name) !== undefined) continue;
    draft.removeUser(user.name);
    ops.push({ kind: DirectoryOpKind.UserRemoved, detail: { user: user.name } });
  }
  for (const group of [...draft.groups()]) {
    if (target.hasGroup(group.name)) continue;
    draft.removeGroup(group.name);
    ops.push({ kind: DirectoryOpKind.GroupRemoved, detail: { group: group.name } });
  }
  const order = target.groupOrder();
  if (canonical(draft.groupOrder()) !== canonical(order)) {
    draft.orderGroups(order);
    ops.push({ kind: DirectoryOpKind.GroupsOrdered, detail: { groups: order } });
  }
  return ops;
}

export function planReconfigure(
  pools: ReadonlyMap<string, FeaturePool>,
  current: Directory,
  features: readonly FeatureConfig[],
  directory: DirectoryConfig | undefined,
): ReconfigurePlan {
  if (!Array.isArray(features)) throw new InvalidRequestError('The features must be a list.');
  const draft = current.clone();
  const directoryOps = directory === undefined ? [] : directoryDiff(draft, Directory.from(directory));
  const names = new Set<string>();
  for (const config of features) {
    validateFeatureConfig(config, draft);
    if (names.has(config.name)) {
      throw new InvalidRequestError(`Feature '${config.name}' is defined twice.`, {
        details: { feature: config.name },
      });
    }
    names.add(config.name);
  }
  const result: ReconfigureResult = { added: [], removed: [], changed: [] };
  for (const name of pools.keys()) if (!names.has(name)) result.removed.push(name);
  for (const config of features) {
    const pool = pools.get(config.name);
    if (pool === undefined) result.added.push(config.name);
    else if (canonical(comparable(pool.currentConfig())) !== canonical(comparable(config))) {
      result.changed.push(config.name);
    }
  }
  return { directoryOps, removed: result.removed, configs: features, result };
}
