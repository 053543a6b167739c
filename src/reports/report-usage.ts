/**
 * The Concurrent Usage Report (issue 7 §3, `leasehold report usage`): per UTC hour or day, per
 * feature and group, from the hourly rollups. Building the rows is a pure function of the rollups
 * and the options; rendering goes through report-format.ts.
 *
 * A row covers its hour or day clipped to the report's period and to now: its `avg` is the seat
 * integral divided by that time (a complete hour: 3 600 000 ms; the current hour: the time elapsed;
 * a complete day: 24 h). Day rows merge their hours: peak and longest queue the maximum, users the
 * union, counts summed, waits merged for the percentiles.
 */
import { bar, type Column, type ReportFormat, render } from './report-format.js';
import {
  ALL_GROUPS,
  DAY_MS,
  HOUR_MS,
  type HourBucket,
  hourOf,
  type UsageRollups,
  waitPercentile,
} from './rollups.js';

export type Granularity = 'hour' | 'day';
export const GRANULARITIES: readonly Granularity[] = ['hour', 'day'];

/** How the report shows the group key '*' (the feature total). */
export const ALL_GROUPS_LABEL = '(all)';

// --- the period ---

/** A --from/--to value: `YYYY-MM-DD` (a UTC day) or an ISO time (UTC unless it has an offset). */
export interface ReportTime {
  readonly ms: number;
  readonly dateOnly: boolean;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/** Parses a --from/--to value; null when it is neither form (or not a real day, e.g. 02-30). */
export function parseReportTime(text: string): ReportTime | null {
  const date = DATE.exec(text);
  const time = date ? null : TIME.exec(text);
  const m = date ?? time;
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = Date.UTC(y, mo - 1, d);
  const check = new Date(day);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) return null;
  if (date) return { ms: day, dateOnly: true };
  // All report times are UTC: a time without an offset is read as UTC, not as local time.
  const ms = Date.parse(time![7] ? text.replace(' ', 'T') : `${text.replace(' ', 'T')}Z`);
  return Number.isNaN(ms) ? null : { ms, dateOnly: false };
}

export interface ReportPeriod {
  readonly fromMs: number;
  readonly toMs: number;
}

/**
 * The period of --from/--to: a date in --from is the start of that UTC day, a date in --to its
 * end (the day is included); an ISO time is taken as given (--to is exclusive). Defaults: from =
 * `defaultFromMs` (the start of today, UTC), to = now. An Error when from is not before to.
 */
export function reportPeriod(
  from: ReportTime | undefined,
  to: ReportTime | undefined,
  nowMs: number,
  defaultFromMs: number = startOfDay(nowMs),
): ReportPeriod | Error {
  const fromMs = from?.ms ?? defaultFromMs;
  const toMs = to ? (to.dateOnly ? to.ms + DAY_MS : to.ms) : nowMs;
  if (!(fromMs < toMs))
    return new Error(`--from (${utcMinute(fromMs)}) must be before --to (${utcMinute(toMs)})`);
  return { fromMs, toMs };
}

/** --by's default: per hour for a period of at most a day, else per day. */
export function defaultGranularity(period: ReportPeriod): Granularity {
  return period.toMs - period.fromMs <= DAY_MS ? 'hour' : 'day';
}

export function startOfDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** `2025-03-03 10:00 UTC`. */
export function utcMinute(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

// --- the rows ---

export interface UsageReportOptions extends ReportPeriod {
  readonly feature?: string;
  /** A group, '-' for leases of no group, '*' for the feature totals. */
  readonly group?: string;
  readonly by: Granularity;
  readonly nowMs: number;
}

export interface UsageRow {
  /** Start of the hour or day, epoch ms. */
  readonly start: number;
  readonly by: Granularity;
  readonly feature: string;
  readonly group: string;
  readonly seats: number;
  readonly peak: number;
  /** Time-weighted average of the seats in use (2 decimals). */
  readonly avg: number;
  readonly users: number;
  readonly grants: number;
  readonly denials: number;
  readonly denialsByCode: Readonly<Record<string, number>>;
  readonly queued: number;
  readonly waitP50Ms: number | null;
  readonly waitP95Ms: number | null;
  readonly longestQueue: number;
}

export function usageRows(rollups: UsageRollups, options: UsageReportOptions): UsageRow[] {
  const buckets = rollups.buckets({
    fromMs: options.fromMs,
    toMs: options.toMs,
    ...(options.feature === undefined ? {} : { feature: options.feature }),
    ...(options.group === undefined ? {} : { group: options.group }),
  });
  const span = options.by === 'hour' ? HOUR_MS : DAY_MS;
  const groups = new Map<string, HourBucket[]>();
  for (const b of buckets) {
    const start = Math.floor(b.hour / span) * span;
    const key = `${start}\u0000${b.feature}\u0000${b.group}`;
    const list = groups.get(key);
    if (list) list.push(b);
    else groups.set(key, [b]);
  }
  // Buckets come sorted by hour, feature, group; the keys keep that order within an hour but
  // not across the hours of a day, so sort the rows.
  return [...groups.values()].map((hours) => row(hours, span, options)).sort(compareRows);
}

function row(hours: readonly HourBucket[], span: number, options: UsageReportOptions): UsageRow {
  const first = hours[0]!;
  const start = Math.floor(first.hour / span) * span;
  const covered =
    Math.min(start + span, hourOf(options.toMs - 1) + HOUR_MS, options.nowMs) -
    Math.max(start, hourOf(options.fromMs));
  const seatMs = hours.reduce((s, b) => s + b.seatMs, 0);
  const denialsByCode: Record<string, number> = {};
  for (const b of hours) {
    for (const [code, n] of Object.entries(b.denials)) denialsByCode[code] = (denialsByCode[code] ?? 0) + n;
  }
  const sorted = Object.fromEntries(Object.entries(denialsByCode).sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    start,
    by: options.by,
    feature: first.feature,
    group: first.group,
    seats: Math.max(...hours.map((b) => b.seats)),
    peak: Math.max(...hours.map((b) => b.peak)),
    avg: covered > 0 ? Math.round((seatMs / covered) * 100) / 100 : 0,
    users: new Set(hours.flatMap((b) => b.users)).size,
    grants: hours.reduce((s, b) => s + b.grants, 0),
    denials: Object.values(denialsByCode).reduce((s, n) => s + n, 0),
    denialsByCode: sorted,
    queued: hours.reduce((s, b) => s + b.queueEntries, 0),
    waitP50Ms: waitPercentile(hours, 0.5),
    waitP95Ms: waitPercentile(hours, 0.95),
    longestQueue: Math.max(...hours.map((b) => b.longestQueue)),
  };
}

function compareRows(a: UsageRow, b: UsageRow): number {
  const s = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  return a.start - b.start || s(a.feature, b.feature) || s(a.group, b.group);
}

// --- rendering ---

export interface UsageRenderOptions extends ReportPeriod {
  readonly by: Granularity;
  readonly format: ReportFormat;
  readonly source: 'rollups' | 'audit';
}

export function groupLabel(group: string): string {
  return group === ALL_GROUPS ? ALL_GROUPS_LABEL : group;
}

/** A wait for people: `850ms`, `12.5s`, `3m20s`, `1h5m`; '-' without waits. */
export function waitText(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ''}`;
}

function codesText(codes: Readonly<Record<string, number>>): string {
  return Object.entries(codes)
    .map(([code, n]) => `${code}=${n}`)
    .join(' ');
}

function columns(by: Granularity, format: ReportFormat): Column<UsageRow>[] {
  const period: Column<UsageRow> =
    by === 'hour'
      ? {
          key: 'hour',
          value: (r) => `${new Date(r.start).toISOString().slice(0, 19)}Z`,
          show: (r) => new Date(r.start).toISOString().slice(0, 16).replace('T', ' '),
        }
      : { key: 'day', value: (r) => new Date(r.start).toISOString().slice(0, 10) };
  const all: (Column<UsageRow> | false)[] = [
    period,
    { key: 'feature', value: (r) => r.feature },
    { key: 'group', value: (r) => groupLabel(r.group) },
    { key: 'seats', value: (r) => r.seats },
    { key: 'peak', value: (r) => r.peak },
    // Table only: the peak against the licensed seats, next to the numbers.
    format === 'table' && { key: 'use', header: 'PEAK OF SEATS', value: (r) => bar(r.peak, r.seats) },
    { key: 'avg', value: (r) => r.avg, show: (r) => r.avg.toFixed(2) },
    { key: 'users', value: (r) => r.users },
    { key: 'grants', value: (r) => r.grants },
    { key: 'denials', value: (r) => r.denials },
    format !== 'table' && { key: 'denialsByCode', value: (r) => codesText(r.denialsByCode) },
    { key: 'queued', value: (r) => r.queued },
    { key: 'waitP50Ms', header: 'WAIT P50', value: (r) => r.waitP50Ms, show: (r) => waitText(r.waitP50Ms) },
    { key: 'waitP95Ms', header: 'WAIT P95', value: (r) => r.waitP95Ms, show: (r) => waitText(r.waitP95Ms) },
    { key: 'longestQueue', header: 'LONGEST QUEUE', value: (r) => r.longestQueue },
  ];
  return all.filter((c): c is Column<UsageRow> => c !== false);
}

/**
 * The report as text. No rows: the table says "No usage recorded between ... and ..."; csv and
 * json stay machine-readable (a header row; an empty list).
 */
export function renderUsage(rows: readonly UsageRow[], options: UsageRenderOptions): string {
  const between = `${utcMinute(options.fromMs)} and ${utcMinute(options.toMs)}`;
  if (options.format === 'json') {
    return render('json', 'usage', rows, columns(options.by, 'json'), {
      report: 'usage',
      from: new Date(options.fromMs).toISOString(),
      to: new Date(options.toMs).toISOString(),
      by: options.by,
      source: options.source,
    });
  }
  if (options.format === 'csv') return render('csv', 'usage', rows, columns(options.by, 'csv'));
  if (rows.length === 0) return `No usage recorded between ${between}.\n`;
  const title = `Concurrent Usage Report, per ${options.by}, between ${between}`;
  return `${title}\n\n${render('table', 'usage', rows, columns(options.by, 'table'))}`;
}
