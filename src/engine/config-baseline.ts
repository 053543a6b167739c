/**
 * The config baseline (decision "config vs. run-time provisioning"): the directory and the named
 * assignments of the configuration the engine last applied. Run-time admin calls change the
 * engine's directory and named assignments, never the baseline; a reload or a restart diffs the
 * baseline against the new configuration and applies only what the file changed
 * (config-merge.ts), then the new configuration becomes the baseline.
 *
 * Kept normalised (every user and group field filled in, as Directory.toConfig writes them) so
 * two baselines compare by value. Persisted in snapshots (engine-state.ts) and journaled with a
 * `configBaseline` event whenever it changes (journal-records.ts 'cb').
 */
import { InvalidRequestError } from '../protocol/errors.js';
import { Directory } from './directory.js';
import type { ConfigBaselineData, DirectoryConfig, FeatureConfig } from './types.js';

export type { ConfigBaselineData } from './types.js';

/** The baseline of a configuration. Throws InvalidRequestError for an invalid directory. */
export function baselineOf(
  features: readonly FeatureConfig[],
  directory: DirectoryConfig | undefined,
): ConfigBaselineData {
  return {
    directory: Directory.from(directory ?? { users: [], groups: [] }).toConfig(),
    named: namedOf(features),
  };
}

/** The named assignments of a configuration's features that have some, in its order. */
export function namedOf(features: readonly FeatureConfig[]): ConfigBaselineData['named'] {
  const named: { feature: string; users: string[] }[] = [];
  for (const config of features) {
    const users = config.namedUsers ?? [];
    if (users.length > 0) named.push({ feature: config.name, users: [...users] });
  }
  return named;
}

/** A feature's named assignments in a baseline (none when it has no entry). */
export function baselineNamed(baseline: ConfigBaselineData, feature: string): readonly string[] {
  return baseline.named.find((entry) => entry.feature === feature)?.users ?? [];
}

export function sameBaseline(a: ConfigBaselineData, b: ConfigBaselineData): boolean {
  return canonical(a) === canonical(b);
}

/**
 * A persisted baseline, checked and normalised (a snapshot's or a `cb` record's). Throws
 * InvalidRequestError saying what is wrong.
 */
export function checkedBaseline(value: unknown): ConfigBaselineData {
  const data = value as Partial<ConfigBaselineData> | null;
  if (
    data === null ||
    typeof data !== 'object' ||
    data.directory === null ||
    typeof data.directory !== 'object' ||
    !Array.isArray(data.named)
  ) {
    throw new InvalidRequestError('a config baseline needs a directory and a list of named assignments.');
  }
  const named: { feature: string; users: string[] }[] = [];
  for (const entry of data.named) {
    const users = entry?.users;
    if (
      typeof entry?.feature !== 'string' ||
      !Array.isArray(users) ||
      !users.every((user) => typeof user === 'string')
    ) {
      throw new InvalidRequestError('a config baseline has a malformed named assignment entry.');
    }
    if (users.length > 0) named.push({ feature: entry.feature, users: [...users] });
  }
  return { directory: Directory.from(data.directory).toConfig(), named };
}

/** Key order and absent-vs-undefined do not make two values differ. */
export function canonical(value: unknown): string {
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
