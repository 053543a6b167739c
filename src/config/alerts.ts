/**
 * [alerts.NAME] (issue 7 §4): tell someone when a feature (or one group's share of it) runs out of
 * seats — the vendors' "no concurrent seats are available" and "concurrent seats are running out".
 *
 *   [alerts.cad-running-out]
 *   feature = "cad"                   # required: a configured feature
 *   group = "design"                  # optional: watch this group's share (needs a
 *                                     # [features.cad.groups.design] rule; capacity = its max, else
 *                                     # the concurrent pool)
 *   free_at_most = 2                  # exactly one of: when = "exhausted" | free_at_most = N |
 *                                     # used_percent_at_least = P (1..100)
 *   rearm_margin = 1                  # seats; default max(1, round(10% of capacity))
 *   webhooks = ["https://hooks.example.com/leasehold"]
 *   webhook_timeout = "5s"
 *   webhook_retries = 3
 *   command = ["/usr/local/bin/page-oncall", "--team", "cad"]
 *   command_timeout = "10s"
 *
 * Every condition is held as "free ≤ threshold" (alertThreshold): `when = "exhausted"` is free ≤ 0,
 * `used_percent_at_least = P` is used ≥ ceil(P × capacity / 100).
 */

import type { FeatureConfig } from '../engine/types.js';
import { isName } from '../protocol/names.js';
import type { DirectoryConfig } from './directory.js';
import type { ConfigReader } from './reader.js';

export type AlertCondition =
  | { readonly when: 'exhausted' }
  | { readonly when: 'free_at_most'; readonly seats: number }
  | { readonly when: 'used_percent_at_least'; readonly percent: number };

export interface AlertConfig {
  readonly name: string;
  readonly feature: string;
  /** Watch this group's seats of the feature instead of the whole feature. */
  readonly group?: string;
  readonly condition: AlertCondition;
  /** Seats above the threshold free again before a fired alert re-arms; undefined: the default. */
  readonly rearmMargin?: number;
  /** http(s) URLs that get a JSON POST per notification. */
  readonly webhooks: readonly string[];
  readonly webhookTimeoutMs: number;
  /** Further attempts after a failed one (network error, timeout, HTTP 5xx/408/429). */
  readonly webhookRetries: number;
  /** argv of a program run (no shell) with the notification as JSON on stdin. */
  readonly command?: readonly string[];
  readonly commandTimeoutMs: number;
}

export const ALERT_DEFAULTS = {
  webhookTimeout: '5s',
  webhookRetries: 3,
  commandTimeout: '10s',
} as const;

const ALERT_KEYS = [
  'feature',
  'group',
  'when',
  'free_at_most',
  'used_percent_at_least',
  'rearm_margin',
  'webhooks',
  'webhook_timeout',
  'webhook_retries',
  'command',
  'command_timeout',
] as const;

const CONDITION_KEYS = ['when', 'free_at_most', 'used_percent_at_least'] as const;

/** The threshold T of "free ≤ T" for a capacity (seats, or the group's max). */
export function alertThreshold(condition: AlertCondition, capacity: number): number {
  switch (condition.when) {
    case 'exhausted':
      return 0;
    case 'free_at_most':
      return condition.seats;
    case 'used_percent_at_least':
      // used ≥ ceil(P·capacity/100), in integers so 70% of 10 is 7, not 7.000000000000001.
      return capacity - Math.floor((condition.percent * capacity + 99) / 100);
  }
}

/** The default hysteresis band: 10% of the capacity, at least one seat. */
export function defaultRearmMargin(capacity: number): number {
  return Math.max(1, Math.round(capacity / 10));
}

/**
 * The seats an alert watches, as configured: the concurrent pool (seats minus named assignments:
 * "no concurrent seats are available" is about the seats anyone may take), or for a group alert the
 * group's max if it has one. The evaluator reads the same numbers live from the engine.
 */
export function alertCapacity(alert: Pick<AlertConfig, 'group'>, feature: FeatureConfig): number {
  const pool = Math.max(0, feature.seats - (feature.namedUsers?.length ?? 0));
  if (alert.group === undefined) return pool;
  return feature.groupRules?.find((r) => r.group === alert.group)?.max ?? pool;
}

function isWebhookUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/**
 * Reads [alerts.*]; call after the features and directory are read. `doc` is the whole parsed file:
 * `command` is read from it directly, since an argv may repeat an argument (stringList refuses that).
 */
export function readAlerts(
  top: ConfigReader,
  doc: Record<string, unknown>,
  features: readonly FeatureConfig[],
  directory: DirectoryConfig,
): AlertConfig[] {
  const r = top.child('alerts');
  if (!r) return [];
  const raw = doc.alerts as Record<string, unknown>;
  const out: AlertConfig[] = [];
  for (const name of r.keys()) {
    if (!isName(name)) {
      r.problem(
        name,
        'an alert name is 1..64 letters, digits, "_", "." or "-", starting with a letter or digit',
      );
      continue;
    }
    const a = r.child(name);
    if (!a) continue;
    a.allowOnly(ALERT_KEYS);
    const featureName = a.has('feature') ? a.string('feature', '') : undefined;
    if (featureName === undefined) a.problem('feature', 'is required (the feature to watch)');
    const feature = featureName ? features.find((f) => f.name === featureName) : undefined;
    if (featureName && !feature) a.problem('feature', `no [features.${featureName}] defines this feature`);

    let group: string | undefined;
    if (a.has('group')) {
      group = a.string('group', '') || undefined;
      if (group !== undefined && !directory.groups.some((g) => g.name === group)) {
        a.problem('group', `no [groups.${group}] defines this group`);
      } else if (group !== undefined && feature && !feature.groupRules?.some((g) => g.group === group)) {
        // Seats count toward a group only where the feature has a rule for it (admission.ts).
        a.problem(
          'group',
          `'${feature.name}' has no [features.${feature.name}.groups.${group}] rule, so the seats ` +
            `group '${group}' uses are not counted`,
        );
      }
    }
    let capacity = feature ? alertCapacity({ group }, feature) : undefined;
    if (feature?.model === 'named') {
      a.problem('feature', `'${feature.name}' is model = "named": it has no concurrent seats to watch`);
      capacity = undefined;
    } else if (capacity === 0) {
      a.problem(group === undefined ? 'feature' : 'group', 'watches 0 seats: nothing can run out');
    }

    const given = CONDITION_KEYS.filter((k) => a.has(k));
    let condition: AlertCondition | undefined;
    if (given.length !== 1) {
      a.problem(
        '',
        given.length === 0
          ? 'needs a condition: when = "exhausted", free_at_most = N or used_percent_at_least = P'
          : `give one condition, not ${given.join(' and ')}`,
      );
    } else if (given[0] === 'when') {
      if (a.oneOf<'exhausted' | 'invalid'>('when', 'invalid', ['exhausted']) === 'exhausted') {
        condition = { when: 'exhausted' };
      }
    } else if (given[0] === 'free_at_most') {
      const seats = a.requiredInteger('free_at_most', 0, 1_000_000);
      if (seats !== undefined && capacity !== undefined && capacity > 0 && seats >= capacity) {
        a.problem(
          'free_at_most',
          `must be less than the ${capacity} seats watched (it would always fire), got ${seats}`,
        );
      } else if (seats !== undefined) {
        condition = { when: 'free_at_most', seats };
      }
    } else {
      const percent = a.requiredInteger('used_percent_at_least', 1, 100);
      if (percent !== undefined) condition = { when: 'used_percent_at_least', percent };
    }

    const rearmMargin = a.has('rearm_margin') ? a.requiredInteger('rearm_margin', 1, 1_000_000) : undefined;
    const webhooks = a.stringList('webhooks', isWebhookUrl, 'http:// or https:// URLs');
    const webhookTimeoutMs = a.duration('webhook_timeout', ALERT_DEFAULTS.webhookTimeout, 100);
    const webhookRetries = a.integer('webhook_retries', ALERT_DEFAULTS.webhookRetries, 0, 10);
    const command = readCommand(a, (raw[name] as Record<string, unknown>).command);
    const commandTimeoutMs = a.duration('command_timeout', ALERT_DEFAULTS.commandTimeout, 100);
    if (!featureName || !feature || !condition) continue;
    out.push({
      name,
      feature: feature.name,
      ...(group === undefined ? {} : { group }),
      condition,
      ...(rearmMargin === undefined ? {} : { rearmMargin }),
      webhooks,
      webhookTimeoutMs,
      webhookRetries,
      ...(command === undefined ? {} : { command }),
      commandTimeoutMs,
    });
  }
  return out;
}

function readCommand(a: ConfigReader, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const ok =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((s) => typeof s === 'string' && s.length > 0 && !s.includes('\0'));
  if (!ok) {
    a.problem('command', 'must be a non-empty list of strings: the program, then its arguments (no shell)');
    return undefined;
  }
  return value as string[];
}
