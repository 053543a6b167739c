/**
 * [audit] and [usage] (issue 7): how long the audit trail and the hourly usage rollups are kept,
 * and how often the rollups are saved.
 *
 *   [audit]
 *   retention = "400d"        # audit files older than this are deleted
 *
 *   [usage]
 *   retention = "400d"        # hourly rollups older than this are dropped (at least 13 months)
 *   save_interval = "1m"      # how often the rollups are written to usage.json (and at stop)
 */
import type { ConfigReader } from './reader.js';

export interface HistoryConfig {
  readonly auditRetentionMs: number;
  readonly usageRetentionMs: number;
  readonly usageSaveIntervalMs: number;
}

export const HISTORY_DEFAULTS = { retention: '400d', saveInterval: '1m' } as const;

const DAY_MS = 86_400_000;

export function readHistory(top: ConfigReader): HistoryConfig {
  const audit = top.child('audit');
  audit?.allowOnly(['retention']);
  const usage = top.child('usage');
  usage?.allowOnly(['retention', 'save_interval']);
  return {
    auditRetentionMs: audit ? audit.duration('retention', HISTORY_DEFAULTS.retention, DAY_MS) : 400 * DAY_MS,
    usageRetentionMs: usage ? usage.duration('retention', HISTORY_DEFAULTS.retention, DAY_MS) : 400 * DAY_MS,
    usageSaveIntervalMs: usage
      ? usage.duration('save_interval', HISTORY_DEFAULTS.saveInterval, 1000)
      : 60_000,
  };
}
