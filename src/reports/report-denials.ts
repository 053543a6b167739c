/**
 * `report denials` (issue 7 §3): the denials of a period [from, to) from the audit trail, by reason
 * (error code), by user, by UTC hour or by feature, and how many were "true" denials.
 *
 * A denial is *retried* when a grant of the same feature to the same user follows it (later in the
 * trail) within `windowMs` (inclusive): the user got a seat soon after, so the denial cost a short
 * wait, not the work. Any other denial is a *true* denial. A denial shortly before `to` is decided by
 * grants up to `to + windowMs`, so the caller reads the trail that far. A denial whose window reaches
 * past the end of the trail (a report up to "now") counts as true: no grant is known.
 *
 * Time: records are taken in trail (seq) order; a `ts` earlier than the one before it (the wall
 * clock stepped back) is booked at the earlier record's time, as the usage rollups do.
 */
import { formatDuration } from '../config/duration.js';
import type { AuditEvent } from './audit-events.js';
import { type Column, type ReportFormat, render } from './report-format.js';

/** An audit event with its time (`ts`: ISO UTC), as audit-reader.ts's AuditRecord carries it. */
export type TimedAuditEvent = AuditEvent & { readonly ts: string };

export const DEFAULT_RETRY_WINDOW_MS = 5 * 60_000;
const HOUR_MS = 3_600_000;

export interface DenialsOptions {
  /** Start of the period (inclusive), epoch ms. */
  readonly fromMs: number;
  /** End of the period (exclusive), epoch ms. */
  readonly toMs: number;
  /** Only this feature. */
  readonly feature?: string;
  /** A grant this soon after a denial makes it "retried". */
  readonly windowMs: number;
}

export interface DenialCounts {
  readonly denials: number;
  readonly trueDenials: number;
  readonly retried: number;
}

export const DENIAL_VIEWS = ['reason', 'user', 'hour', 'feature'] as const;
export type DenialView = (typeof DENIAL_VIEWS)[number];

/** One row of a view: `key` is the reason code, the user, the UTC hour (ISO) or the feature. */
export interface DenialRow extends DenialCounts {
  readonly key: string;
}

export interface DenialsReport {
  readonly fromMs: number;
  readonly toMs: number;
  readonly feature?: string;
  readonly windowMs: number;
  readonly summary: { readonly total: number; readonly trueDenials: number; readonly retried: number };
  /** Most denials first, then by code. */
  readonly byReason: readonly DenialRow[];
  /** Most denials first, then by user. */
  readonly byUser: readonly DenialRow[];
  /** Hours with at least one denial, in time order; `key` is the hour's start (ISO UTC). */
  readonly byHour: readonly DenialRow[];
  /** Most denials first, then by feature. */
  readonly byFeature: readonly DenialRow[];
}

interface Pending {
  readonly ms: number;
  readonly code: string;
  readonly user: string;
  readonly feature: string;
}

interface Tally {
  denials: number;
  trueDenials: number;
  retried: number;
}

class Tallies {
  readonly views: Record<DenialView, Map<string, Tally>> = {
    reason: new Map(),
    user: new Map(),
    hour: new Map(),
    feature: new Map(),
  };
  readonly total: Tally = { denials: 0, trueDenials: 0, retried: 0 };

  add(d: Pending, retried: boolean): void {
    const keys: Record<DenialView, string> = {
      reason: d.code,
      user: d.user,
      hour: new Date(Math.floor(d.ms / HOUR_MS) * HOUR_MS).toISOString(),
      feature: d.feature,
    };
    for (const view of DENIAL_VIEWS) {
      const map = this.views[view];
      const t = map.get(keys[view]) ?? { denials: 0, trueDenials: 0, retried: 0 };
      map.set(keys[view], t);
      count(t, retried);
    }
    count(this.total, retried);
  }

  rows(view: DenialView): DenialRow[] {
    const rows = [...this.views[view]].map(([key, t]) => ({ key, ...t }));
    // Hours read best in time order (ISO strings sort by time); the others most denials first.
    return view === 'hour'
      ? rows.sort((a, b) => compare(a.key, b.key))
      : rows.sort((a, b) => b.denials - a.denials || compare(a.key, b.key));
  }
}

function count(t: Tally, retried: boolean): void {
  t.denials++;
  if (retried) t.retried++;
  else t.trueDenials++;
}

/** Plain code-unit order: the same on every machine and locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const keyOf = (feature: string, user: string) => `${feature}\u0000${user}`;

/** Counts the denials of the period; see the file header for "true" and "retried". */
export async function denialsReport(
  records: Iterable<TimedAuditEvent> | AsyncIterable<TimedAuditEvent>,
  options: DenialsOptions,
): Promise<DenialsReport> {
  const { fromMs, toMs, feature, windowMs } = options;
  const tallies = new Tallies();
  /** feature\0user → its undecided denials, oldest first. */
  const pending = new Map<string, Pending[]>();
  let last = Number.NEGATIVE_INFINITY;
  for await (const record of records) {
    const parsed = Date.parse(record.ts);
    const ms = Number.isNaN(parsed) ? last : Math.max(parsed, last);
    last = ms;
    // A grant later than this could not decide any denial of the period.
    if (ms > toMs + windowMs) break;
    if (record.t === 'deny') {
      if (ms < fromMs || ms >= toMs) continue;
      if (feature !== undefined && record.feature !== feature) continue;
      const key = keyOf(record.feature, record.user);
      const list = pending.get(key) ?? [];
      pending.set(key, list);
      // Denials of this user whose window has passed are decided: true.
      while (list.length > 0 && ms - list[0]!.ms > windowMs) tallies.add(list.shift()!, false);
      list.push({ ms, code: record.code, user: record.user, feature: record.feature });
    } else if (record.t === 'grant') {
      const key = keyOf(record.feature, record.user);
      const list = pending.get(key);
      if (!list) continue;
      for (const d of list) tallies.add(d, ms - d.ms <= windowMs);
      pending.delete(key);
    }
  }
  for (const list of pending.values()) for (const d of list) tallies.add(d, false);
  const { denials, trueDenials, retried } = tallies.total;
  return {
    fromMs,
    toMs,
    ...(feature === undefined ? {} : { feature }),
    windowMs,
    summary: { total: denials, trueDenials, retried },
    byReason: tallies.rows('reason'),
    byUser: tallies.rows('user'),
    byHour: tallies.rows('hour'),
    byFeature: tallies.rows('feature'),
  };
}

export function denialRows(report: DenialsReport, view: DenialView): readonly DenialRow[] {
  switch (view) {
    case 'reason':
      return report.byReason;
    case 'user':
      return report.byUser;
    case 'hour':
      return report.byHour;
    case 'feature':
      return report.byFeature;
  }
}

/** `2025-03-04T09:00:00.000Z` → `2025-03-04 09:00Z` for the table. */
function shortHour(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;
}

function columns(view: DenialView): Column<DenialRow>[] {
  return [
    {
      key: view,
      value: (r) => r.key,
      ...(view === 'hour' ? { header: 'HOUR (UTC)', show: (r: DenialRow) => shortHour(r.key) } : {}),
    },
    { key: 'denials', value: (r) => r.denials },
    { key: 'trueDenials', header: 'TRUE', value: (r) => r.trueDenials },
    { key: 'retried', header: 'RETRIED', value: (r) => r.retried },
  ];
}

/**
 * The report as text: `table` a heading with the summary, then the rows of `view`; `csv` the rows
 * alone; `json` `{from, to, feature?, windowMs, by, summary, denials: rows}`.
 */
export function formatDenials(report: DenialsReport, view: DenialView, format: ReportFormat): string {
  const rows = denialRows(report, view);
  const from = new Date(report.fromMs).toISOString();
  const to = new Date(report.toMs).toISOString();
  if (format !== 'table') {
    return render(format, 'denials', rows, columns(view), {
      from,
      to,
      ...(report.feature === undefined ? {} : { feature: report.feature }),
      windowMs: report.windowMs,
      by: view,
      summary: report.summary,
    });
  }
  const { total, trueDenials, retried } = report.summary;
  const what = report.feature === undefined ? 'all features' : `feature '${report.feature}'`;
  const heading =
    `Denials of ${what}, ${from} to ${to} (UTC, end excluded): ${total}\n` +
    `  true: ${trueDenials}, retried: ${retried} (the user got a seat of the feature within ` +
    `${formatDuration(report.windowMs)} after the denial)\n`;
  if (rows.length === 0) return `${heading}\nNo denials.\n`;
  return `${heading}\n${render('table', 'denials', rows, columns(view))}`;
}
