/**
 * Issue 5 reload, and the config half of a restart: what a new configuration changes, worked out
 * and validated as a whole before the engine changes anything (DESIGN §3.7: an invalid config
 * changes nothing and the old one stays in force). The engine then applies the plan
 * (feature-changes.ts applyReconfigure).
 *
 * Features (seats, model, idle timeouts, groups rules, lists, caps) come entirely from the new
 * configuration. The directory and named assignments are merged three ways (config-merge.ts): the
 * differences between the config baseline and the new configuration are applied onto the run-time
 * state. Two checks, so an error says whose it is: the configuration on its own first (plain
 * messages), then the merged result (messages saying the config conflicts with run-time changes).
 */
import { InvalidRequestError } from '../protocol/errors.js';
import { baselineNamed, type ConfigBaselineData, canonical, namedOf } from './config-baseline.js';
import { type DirectoryOp, mergeDirectory, mergeNamed } from './config-merge.js';
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
  /** Directory changes, in the order they apply (config-merge.ts mergeDirectory). */
  readonly directoryOps: readonly DirectoryOp[];
  /** Features to remove (their leases are reclaimed). */
  readonly removed: readonly string[];
  /** Every feature of the new configuration, with its merged named assignments, in its order. */
  readonly configs: readonly FeatureConfig[];
  /** The baseline once the plan is applied, and whether it differs from the current one. */
  readonly baseline: ConfigBaselineData;
  readonly baselineChanged: boolean;
  readonly result: ReconfigureResult;
}

/** How a merge conflict is introduced in its error message. */
export const RELOAD_CONFLICT =
  'The configuration conflicts with changes made at run time (they are kept unless the file changed the same thing)';

/** Named assignments as a set: their order is not a change (kept ones keep theirs). */
function comparable(config: FeatureConfig): FeatureConfig {
  const { namedUsers, ...rest } = config;
  return namedUsers === undefined || namedUsers.length === 0
    ? rest
    : { ...rest, namedUsers: [...namedUsers].sort() };
}

/** Runs `check`; an InvalidRequestError it throws is rethrown introduced by `conflict`. */
function asConflict<T>(conflict: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof InvalidRequestError)) throw error;
    throw new InvalidRequestError(`${conflict}: ${error.message}`, {
      ...(error.details === undefined ? {} : { details: error.details }),
      cause: error,
    });
  }
}

/**
 * `directory` undefined: the configuration has no directory to apply; the run-time directory is
 * left alone (named assignments are still merged). `conflict` introduces the message of an
 * error found only in the merged result.
 */
export function planReconfigure(
  pools: ReadonlyMap<string, FeaturePool>,
  current: Directory,
  baseline: ConfigBaselineData,
  features: readonly FeatureConfig[],
  directory: DirectoryConfig | undefined,
  conflict: string = RELOAD_CONFLICT,
): ReconfigurePlan {
  if (!Array.isArray(features)) throw new InvalidRequestError('The features must be a list.');
  // The configuration on its own.
  const own = directory === undefined ? current : Directory.from(directory);
  const names = new Set<string>();
  for (const config of features) {
    validateFeatureConfig(config, own);
    if (names.has(config.name)) {
      throw new InvalidRequestError(`Feature '${config.name}' is defined twice.`, {
        details: { feature: config.name },
      });
    }
    names.add(config.name);
  }

  // Merged with the run-time state.
  const draft = current.clone();
  const next = directory === undefined ? baseline.directory : own.toConfig();
  const directoryOps = asConflict(conflict, () => mergeDirectory(draft, baseline.directory, next));
  const removedUsers = new Set<string>();
  for (const op of directoryOps) {
    if (op.kind === DirectoryOpKind.UserRemoved) removedUsers.add(op.detail.user as string);
  }
  const configs = features.map((config) => {
    const named = mergeNamed(
      pools.get(config.name)?.namedUsers,
      baselineNamed(baseline, config.name),
      config.namedUsers ?? [],
      removedUsers,
    );
    const { namedUsers: _named, ...rest } = config;
    const merged: FeatureConfig = named.length === 0 ? rest : { ...rest, namedUsers: named };
    asConflict(conflict, () => validateFeatureConfig(merged, draft));
    return merged;
  });

  const result: ReconfigureResult = { added: [], removed: [], changed: [] };
  for (const name of pools.keys()) if (!names.has(name)) result.removed.push(name);
  for (const config of configs) {
    const pool = pools.get(config.name);
    if (pool === undefined) result.added.push(config.name);
    else if (canonical(comparable(pool.currentConfig())) !== canonical(comparable(config))) {
      result.changed.push(config.name);
    }
  }
  const nextBaseline: ConfigBaselineData = { directory: next, named: namedOf(features) };
  return {
    directoryOps,
    removed: result.removed,
    configs,
    baseline: nextBaseline,
    baselineChanged: canonical(nextBaseline) !== canonical(baseline),
    result,
  };
}
