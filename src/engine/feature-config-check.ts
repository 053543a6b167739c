/**
 * Checks a feature's configuration against itself and the directory, before anything changes
 * (DESIGN §3.7). Every message names the feature and what is wrong.
 */
import { InvalidRequestError } from '../protocol/errors.js';
import { countedUsers } from './access.js';
import type { Directory } from './directory.js';
import { FeaturePool } from './feature-pool.js';
import { type AccessList, DedupeMode, type FeatureConfig, FeatureModel } from './types.js';

const DEDUPE_MODES: ReadonlySet<string> = new Set(Object.values(DedupeMode));

function invalid(feature: string, message: string): InvalidRequestError {
  return new InvalidRequestError(`Feature '${feature}': ${message}`, { details: { feature } });
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

export function validateSeats(feature: string, seats: number): void {
  if (!isCount(seats)) {
    throw new InvalidRequestError(
      `Feature '${feature}': seats must be an integer of at least 0; got ${String(seats)}.`,
      { details: { feature } },
    );
  }
}

function validateModel(feature: string, model: FeatureModel): void {
  switch (model) {
    case FeatureModel.Concurrent:
    case FeatureModel.Named:
    case FeatureModel.Mixed:
      return;
    default:
      throw invalid(
        feature,
        `model must be 'concurrent', 'named' or 'mixed'; got ${String(model satisfies never)}.`,
      );
  }
}

function names(feature: string, value: unknown, what: string): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every(isName)) {
    throw invalid(feature, `${what} must be a list of non-empty strings.`);
  }
  return value;
}

function validateAccessList(feature: string, list: AccessList | undefined, what: string, dir: Directory) {
  if (list === undefined) return;
  if (typeof list !== 'object' || list === null) throw invalid(feature, `${what} must be a table.`);
  names(feature, list.users, `${what}.users`);
  names(feature, list.hosts, `${what}.hosts`);
  for (const group of names(feature, list.groups, `${what}.groups`)) {
    if (!dir.hasGroup(group)) throw invalid(feature, `${what} names group '${group}', which does not exist.`);
  }
}

/**
 * Named assignments: only in the named and mixed models, each user once, at most `seats` of them,
 * and (when the directory has users) only users it knows.
 */
function validateNamedUsers(config: FeatureConfig, dir: Directory): readonly string[] {
  const feature = config.name;
  const named = names(feature, config.namedUsers, 'namedUsers');
  if (named.length === 0) return named;
  if (config.model === FeatureModel.Concurrent) {
    throw invalid(feature, "named assignments need model 'named' or 'mixed'; the model is 'concurrent'.");
  }
  if (new Set(named).size !== named.length) throw invalid(feature, 'namedUsers lists a user twice.');
  if (named.length > config.seats) {
    throw new InvalidRequestError(
      `Feature '${feature}' has ${config.seats} seats and ${named.length} named assignments; ` +
        'named assignments cannot exceed the seats.',
      { details: { feature, seats: config.seats, named: named.length } },
    );
  }
  if (dir.userCount > 0) {
    for (const user of named) {
      if (dir.user(user) === undefined) {
        throw invalid(feature, `named user '${user}' is not in the directory; add the user first.`);
      }
    }
  }
  return named;
}

function validateCap(config: FeatureConfig): void {
  const { name, maxUsers, usersPerSeat } = config;
  if (maxUsers !== undefined && !isCount(maxUsers)) {
    throw invalid(name, `maxUsers must be an integer of at least 0; got ${String(maxUsers)}.`);
  }
  if (usersPerSeat !== undefined && !(Number.isFinite(usersPerSeat) && usersPerSeat > 0)) {
    throw invalid(name, `usersPerSeat must be a positive number; got ${String(usersPerSeat)}.`);
  }
  if (maxUsers === undefined && usersPerSeat === undefined) return;
  if (maxUsers !== undefined && usersPerSeat !== undefined) {
    throw invalid(name, 'set maxUsers or usersPerSeat, not both.');
  }
  if (config.open === true) {
    throw invalid(
      name,
      'an open feature cannot cap its users (maxUsers/usersPerSeat count directory users).',
    );
  }
  if (config.model === FeatureModel.Named) {
    throw invalid(name, "maxUsers/usersPerSeat cap concurrent seats; model 'named' has none.");
  }
}

function validateGroupRules(config: FeatureConfig, namedCount: number, dir: Directory): void {
  const feature = config.name;
  const rules = config.groupRules ?? [];
  if (!Array.isArray(rules)) throw invalid(feature, 'groupRules must be a list.');
  const seen = new Set<string>();
  let reserved = 0;
  for (const rule of rules) {
    if (!isName(rule?.group)) throw invalid(feature, 'every group rule needs a group name.');
    const { group, reserve, max } = rule;
    if (!dir.hasGroup(group))
      throw invalid(feature, `group rule names group '${group}', which does not exist.`);
    if (seen.has(group)) throw invalid(feature, `group '${group}' has two rules.`);
    seen.add(group);
    if (reserve !== undefined && !isCount(reserve)) {
      throw invalid(feature, `group '${group}': reserve must be an integer of at least 0.`);
    }
    if (max !== undefined && !isCount(max)) {
      throw invalid(feature, `group '${group}': max must be an integer of at least 0.`);
    }
    if (reserve !== undefined && max !== undefined && max < reserve) {
      throw invalid(feature, `group '${group}': max (${max}) is below its reserve (${reserve}).`);
    }
    reserved += reserve ?? 0;
  }
  const pool = config.seats - namedCount;
  if (reserved > pool) {
    throw invalid(
      feature,
      `the group reserves add up to ${reserved} seats but the concurrent pool has ${pool}.`,
    );
  }
}

/** Checks a feature's configuration; throws InvalidRequestError naming the feature and the problem. */
export function validateFeatureConfig(config: FeatureConfig, dir: Directory): void {
  if (!isName(config?.name)) throw new InvalidRequestError('A feature name must be a non-empty string.');
  const feature = config.name;
  validateSeats(feature, config.seats);
  validateModel(feature, config.model);
  const idle = config.idleTimeoutMs;
  if (idle !== undefined && !(Number.isSafeInteger(idle) && idle > 0)) {
    throw invalid(feature, `idleTimeoutMs must be a positive integer of milliseconds; got ${String(idle)}.`);
  }
  const reclaim = config.reclaimIdleWhenQueuedMs;
  if (reclaim !== undefined && !(Number.isSafeInteger(reclaim) && reclaim > 0)) {
    throw invalid(
      feature,
      `reclaimIdleWhenQueuedMs must be a positive integer of milliseconds; got ${String(reclaim)}.`,
    );
  }
  if (config.open !== undefined && typeof config.open !== 'boolean') {
    throw invalid(feature, 'open must be true or false.');
  }
  if (config.dedupe !== undefined && !DEDUPE_MODES.has(config.dedupe)) {
    throw invalid(feature, `dedupe must be 'none', 'user' or 'user-host'; got ${String(config.dedupe)}.`);
  }
  const named = validateNamedUsers(config, dir);
  validateCap(config);
  validateAccessList(feature, config.include, 'include', dir);
  validateAccessList(feature, config.exclude, 'exclude', dir);
  validateGroupRules(config, named.length, dir);
  const probe = new FeaturePool(config);
  const cap = probe.userCap;
  if (cap !== undefined) {
    const count = countedUsers(probe, dir);
    if (count > cap) {
      throw new InvalidRequestError(
        `Feature '${feature}' allows ${cap} enabled users${capBasis(probe)} but the directory has ${count}. ` +
          'Raise the cap or disable users.',
        { details: { feature, cap, users: count } },
      );
    }
  }
}

/** " (3 per seat × 10 seats)" for a ratio cap, "" for maxUsers. */
export function capBasis(pool: FeaturePool): string {
  if (pool.maxUsers !== undefined || pool.usersPerSeat === undefined) return '';
  return ` (${pool.usersPerSeat} per seat × ${pool.seats} seats)`;
}

/**
 * The rules a seat count must keep for a feature as it is: named assignments and group reserves fit,
 * and a ratio cap on users still holds. Lowering below the seats in use is allowed (an overdraft).
 */
export function validateSeatChange(pool: FeaturePool, seats: number, dir: Directory): void {
  validateSeats(pool.name, seats);
  const named = pool.namedUsers.size;
  if (named > seats) {
    throw new InvalidRequestError(
      `Feature '${pool.name}' has ${named} named assignments; its seats cannot go below ${named}.`,
      { details: { feature: pool.name, seats, named } },
    );
  }
  let reserved = 0;
  for (const rule of pool.groupRules.values()) reserved += rule.reserve ?? 0;
  if (reserved > seats - named) {
    throw invalid(
      pool.name,
      `the group reserves add up to ${reserved} seats; seats cannot go below ${reserved + named}.`,
    );
  }
  if (pool.usersPerSeat !== undefined && pool.model !== FeatureModel.Named) {
    const cap = Math.floor(pool.usersPerSeat * seats);
    const count = countedUsers(pool, dir);
    if (count > cap) {
      throw invalid(
        pool.name,
        `${seats} seats allow ${cap} enabled users (${pool.usersPerSeat} per seat) but the directory has ${count}.`,
      );
    }
  }
}
