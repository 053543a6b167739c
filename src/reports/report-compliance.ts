/**
 * `report compliance` (issue 7 §3): the auditor's answer for a period [from, to), computed from the
 * audit trail alone. Per feature: the licensed seats at `from` and at `to` and every change between,
 * the peak of seats in use, and every interval of overdraft (seats in use > licensed seats, which
 * DESIGN §3.1 allows only after an admin lowers `seats`), with a verdict.
 *
 * Replay (the same rules as the usage rollups, rollups.ts): records in trail (seq) order from the
 * start of the trail, so the state at `from` is known. `start` resets the licensed seats to its
 * feature list (a feature known before but missing from it now has 0) and the held leases to its
 * lease list; `seats` changes one feature's licensed count; grant / release / reclaim add and remove
 * leases; a `shared` lease takes no seat of its own. A release or reclaim of a lease the replay never
 * saw granted (the trail begins after retention removed older files) is ignored: until the next
 * `start` the seats in use may then be too low, and the report says so (`exact`).
 *
 * Unlike the rollups, `stop` does not empty the held leases: leases are durable (DESIGN §3.6) and the
 * next `start` lists them again, so an overdraft across a restart stays one interval. Peaks are the
 * same either way (the next `start` resets the state).
 *
 * Overdraft intervals: one opens at the record after which in use > licensed and ends at the record
 * after which it no longer is. When the licensed count changes during one, it ends there and a new
 * one opens with the new count (if still over), so each interval has one licensed count. Intervals
 * are reported with their true start (which may be before `from`) and the most seats in use during
 * them; one still open at `to` is "ongoing".
 */

import type { TimedAuditEvent } from './report-denials.js';
import type { Column, ReportFormat } from './report-format.js';
import { render } from './report-format.js';

export interface ComplianceOptions {
  /** Start of the period (inclusive), epoch ms. */
  readonly fromMs: number;
  /** End of the period (exclusive), epoch ms. */
  readonly toMs: number;
  /** Only this feature. */
  readonly feature?: string;
}

export interface SeatChange {
  readonly feature: string;
  /** When (ISO UTC). */
  readonly at: string;
  /** The count before; null when the trail named none before. */
  readonly previous: number | null;
  readonly seats: number;
  /** The record that changed it: a `seats` event, or the feature list of a `start`. */
  readonly source: 'seats' | 'start';
}

export interface OverdraftInterval {
  readonly feature: string;
  /** When seats in use first exceeded the licensed count (ISO UTC; may be before `from`). */
  readonly start: string;
  /** When they no longer did; null: still exceeded at `to` (ongoing). */
  readonly end: string | null;
  readonly licensed: number;
  /** The most seats in use during the interval, and when that was first reached. */
  readonly maxInUse: number;
  readonly maxAt: string;
}

export interface FeatureCompliance {
  readonly feature: string;
  /** Licensed seats at `from` and at the end of the period; null: the trail names none. */
  readonly licensedAtFrom: number | null;
  readonly licensedAtTo: number | null;
  readonly changes: readonly SeatChange[];
  /** The most seats in use at once during the period, and when that was first reached (null: 0). */
  readonly peakInUse: number;
  readonly peakAt: string | null;
  readonly overdrafts: readonly OverdraftInterval[];
  readonly verdict: string;
}

export interface ComplianceReport {
  readonly fromMs: number;
  readonly toMs: number;
  readonly feature?: string;
  /**
   * Whether the replayed state is exact for the whole period: the trail begins with a `start`, or
   * a `start` came at or before `from`. Otherwise it is exact only from `exactFrom` on.
   */
  readonly exact: boolean;
  /** The time of the first `start` replayed (ISO UTC), from which the state is exact; null: none. */
  readonly exactFrom: string | null;
  /** Audit records replayed (from the beginning of the trail to `to`). */
  readonly records: number;
  /** True when no feature exceeded its licensed count in the period. */
  readonly compliant: boolean;
  readonly features: readonly FeatureCompliance[];
}

interface OpenInterval {
  readonly startMs: number;
  readonly licensed: number;
  maxInUse: number;
  maxAtMs: number;
}

interface Closed {
  readonly startMs: number;
  readonly endMs: number | null;
  readonly licensed: number;
  readonly maxInUse: number;
  readonly maxAtMs: number;
}

/** What the period found about one feature (filled once the replay reaches `from`). */
interface Track {
  licensedAtFrom: number | undefined;
  readonly changes: SeatChange[];
  peak: number;
  peakAtMs: number | undefined;
  readonly overdrafts: Closed[];
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The live state of the replay: licensed seats, held leases and seats in use per feature. */
class SeatReplay {
  readonly licensed = new Map<string, number>();
  readonly inUse = new Map<string, number>();
  private readonly leases = new Map<string, { readonly feature: string; readonly seats: number }>();

  features(): Set<string> {
    return new Set([...this.licensed.keys(), ...this.inUse.keys()]);
  }

  hold(lease: { lease: string; feature: string; count: number; shared?: boolean }): void {
    this.drop(lease.lease);
    // A shared lease joins a seat another lease of its user holds: it takes none of its own.
    const seats = lease.shared ? 0 : lease.count;
    this.leases.set(lease.lease, { feature: lease.feature, seats });
    this.inUse.set(lease.feature, (this.inUse.get(lease.feature) ?? 0) + seats);
  }

  /** Returns the feature of the lease, or undefined when the replay never saw it granted. */
  drop(id: string): string | undefined {
    const held = this.leases.get(id);
    if (!held) return undefined;
    this.leases.delete(id);
    this.inUse.set(held.feature, (this.inUse.get(held.feature) ?? 0) - held.seats);
    return held.feature;
  }

  clearLeases(): void {
    this.leases.clear();
    for (const f of this.inUse.keys()) this.inUse.set(f, 0);
  }
}

/** Replays the trail up to `to`; see the file header. */
export async function complianceReport(
  records: Iterable<TimedAuditEvent> | AsyncIterable<TimedAuditEvent>,
  options: ComplianceOptions,
): Promise<ComplianceReport> {
  const { fromMs, toMs, feature: only } = options;
  const state = new SeatReplay();
  const open = new Map<string, OpenInterval>();
  const tracks = new Map<string, Track>();
  let entered = false;
  /** Licensed seats at `from`, kept when the replay reaches it. */
  let licensedAtFrom = new Map<string, number>();
  let count = 0;
  let firstWasStart: boolean | undefined;
  let firstStartMs: number | undefined;
  let last = Number.NEGATIVE_INFINITY;

  const wanted = (f: string) => only === undefined || f === only;
  /** A feature's findings; created only once the replay has reached `from`. */
  const track = (f: string): Track => {
    let t = tracks.get(f);
    if (!t) {
      t = {
        licensedAtFrom: licensedAtFrom.get(f),
        changes: [],
        peak: 0,
        peakAtMs: undefined,
        overdrafts: [],
      };
      tracks.set(f, t);
    }
    return t;
  };
  /** The state at `from`: what is licensed and in use then, and the overdrafts still open. */
  const enter = () => {
    licensedAtFrom = new Map(state.licensed);
    for (const f of state.features()) {
      if (!wanted(f)) continue;
      const inUse = state.inUse.get(f) ?? 0;
      const licensed = state.licensed.get(f);
      if (inUse === 0 && (licensed ?? 0) === 0) continue; // nothing licensed, nothing used
      const t = track(f);
      if (inUse > 0) {
        t.peak = inUse;
        t.peakAtMs = fromMs;
      }
    }
    entered = true;
  };
  const close = (f: string, o: OpenInterval, endMs: number | null) => {
    open.delete(f);
    // An interval over before the period began is not the period's.
    if (endMs !== null && endMs <= fromMs && o.startMs < fromMs) return;
    if (!wanted(f)) return;
    track(f).overdrafts.push({ ...o, endMs });
  };
  const setLicensed = (f: string, seats: number, ms: number, source: SeatChange['source']) => {
    const previous = state.licensed.get(f);
    if (previous === seats) return;
    state.licensed.set(f, seats);
    if (entered && wanted(f)) {
      track(f).changes.push({ feature: f, at: iso(ms), previous: previous ?? null, seats, source });
    }
  };
  /** After a record: peaks, and overdraft intervals opened, extended or closed. */
  const settle = (f: string, ms: number) => {
    const inUse = state.inUse.get(f) ?? 0;
    const licensed = state.licensed.get(f);
    const over = licensed !== undefined && inUse > licensed;
    let o = open.get(f);
    if (o && (!over || o.licensed !== licensed)) {
      close(f, o, ms);
      o = undefined;
    }
    if (over) {
      if (!o) open.set(f, { startMs: ms, licensed, maxInUse: inUse, maxAtMs: ms });
      else if (inUse > o.maxInUse) {
        o.maxInUse = inUse;
        o.maxAtMs = ms;
      }
    }
    if (entered && wanted(f) && (inUse > 0 || (licensed ?? 0) > 0 || tracks.has(f))) {
      const t = track(f);
      if (inUse > t.peak) {
        t.peak = inUse;
        t.peakAtMs = ms;
      }
    }
  };

  for await (const record of records) {
    const parsed = Date.parse(record.ts);
    // The wall clock may step back: book such a record at the time of the one before.
    const ms = Number.isNaN(parsed) ? last : Math.max(parsed, last);
    last = ms;
    if (!entered && ms >= fromMs) enter();
    if (ms >= toMs) break;
    count++;
    firstWasStart ??= record.t === 'start';
    let touched: Iterable<string> = [];
    switch (record.t) {
      case 'start': {
        firstStartMs ??= ms;
        const listed = new Set(record.features.map((f) => f.name));
        // A feature the daemon no longer has (removed while it was down) has no licensed seats.
        for (const f of state.licensed.keys()) if (!listed.has(f)) setLicensed(f, 0, ms, 'start');
        for (const f of record.features) setLicensed(f.name, f.seats, ms, 'start');
        // A start above START_LEASE_LIMIT lists no leases: those the trail left held are held.
        if (record.leases !== undefined) {
          state.clearLeases();
          for (const lease of record.leases) state.hold(lease);
        }
        touched = state.features();
        break;
      }
      case 'seats':
        setLicensed(record.feature, record.seats, ms, 'seats');
        touched = [record.feature];
        break;
      case 'grant':
        state.hold(record);
        touched = [record.feature];
        break;
      case 'release':
      case 'reclaim': {
        const f = state.drop(record.lease);
        if (f !== undefined) touched = [f];
        break;
      }
      case 'stop': // leases are durable: the next `start` lists them again
      case 'deny':
      case 'queue':
      case 'dequeue':
      case 'reload':
      case 'admin':
        break;
      default: {
        const never: never = record;
        void never;
      }
    }
    for (const f of touched) settle(f, ms);
  }
  if (!entered) enter();
  for (const [f, o] of [...open]) close(f, o, null);
  if (only !== undefined) track(only);

  const features = [...tracks]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, t]) => featureResult(name, t, state.licensed.get(name)));
  return {
    fromMs,
    toMs,
    ...(only === undefined ? {} : { feature: only }),
    exact: firstWasStart !== false || (firstStartMs !== undefined && firstStartMs <= fromMs),
    exactFrom: firstStartMs === undefined ? null : iso(firstStartMs),
    records: count,
    compliant: features.every((f) => f.overdrafts.length === 0),
    features,
  };
}

function featureResult(name: string, t: Track, licensedAtTo: number | undefined): FeatureCompliance {
  const overdrafts = t.overdrafts
    .map((o) => ({
      feature: name,
      start: iso(o.startMs),
      end: o.endMs === null ? null : iso(o.endMs),
      licensed: o.licensed,
      maxInUse: o.maxInUse,
      maxAt: iso(o.maxAtMs),
    }))
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const known = t.licensedAtFrom !== undefined || licensedAtTo !== undefined;
  const n = overdrafts.length;
  const verdict =
    n > 0
      ? `exceeded the licensed count ${n} ${n === 1 ? 'time' : 'times'}`
      : known
        ? 'never exceeded the licensed count'
        : 'no licensed count in the audit trail';
  return {
    feature: name,
    licensedAtFrom: t.licensedAtFrom ?? null,
    licensedAtTo: licensedAtTo ?? null,
    changes: t.changes,
    peakInUse: t.peak,
    peakAt: t.peakAtMs === undefined ? null : iso(t.peakAtMs),
    overdrafts,
    verdict,
  };
}

// --- output ---

export const COMPLIANCE_TABLES = ['features', 'overdrafts', 'seat-changes'] as const;
export type ComplianceTable = (typeof COMPLIANCE_TABLES)[number];

const featureColumns: Column<FeatureCompliance>[] = [
  { key: 'feature', value: (f) => f.feature },
  { key: 'licensedAtFrom', header: 'LICENSED AT FROM', value: (f) => f.licensedAtFrom },
  { key: 'licensedAtTo', header: 'LICENSED AT TO', value: (f) => f.licensedAtTo },
  { key: 'licensedChanges', header: 'CHANGES', value: (f) => f.changes.length },
  { key: 'peakInUse', header: 'PEAK IN USE', value: (f) => f.peakInUse },
  { key: 'peakAt', header: 'PEAK AT', value: (f) => f.peakAt },
  { key: 'overdrafts', header: 'OVERDRAFTS', value: (f) => f.overdrafts.length },
  { key: 'verdict', value: (f) => f.verdict },
];

const overdraftColumns: Column<OverdraftInterval>[] = [
  { key: 'feature', value: (o) => o.feature },
  { key: 'start', value: (o) => o.start },
  { key: 'end', value: (o) => o.end, show: (o) => o.end ?? 'ongoing' },
  { key: 'ongoing', value: (o) => o.end === null },
  { key: 'licensed', value: (o) => o.licensed },
  { key: 'maxInUse', header: 'MAX IN USE', value: (o) => o.maxInUse },
  { key: 'maxAt', header: 'MAX AT', value: (o) => o.maxAt },
];

const changeColumns: Column<SeatChange>[] = [
  { key: 'feature', value: (c) => c.feature },
  { key: 'at', value: (c) => c.at },
  { key: 'previous', value: (c) => c.previous },
  { key: 'seats', value: (c) => c.seats },
  { key: 'source', value: (c) => c.source },
];

const overdraftsOf = (r: ComplianceReport) => r.features.flatMap((f) => f.overdrafts);
const changesOf = (r: ComplianceReport) => r.features.flatMap((f) => f.changes);

/** Rows as the json format writes them (the columns' keys and values). */
function plain<R>(rows: readonly R[], columns: readonly Column<R>[]): Record<string, unknown>[] {
  return rows.map((row) => Object.fromEntries(columns.map((c) => [c.key, c.value(row) ?? null])));
}

function section(report: ComplianceReport, table: ComplianceTable, format: 'table' | 'csv'): string {
  switch (table) {
    case 'features':
      return render(format, 'features', report.features, featureColumns);
    case 'overdrafts':
      return render(format, 'overdrafts', overdraftsOf(report), overdraftColumns);
    case 'seat-changes':
      return render(format, 'seatChanges', changesOf(report), changeColumns);
  }
}

/**
 * The report as text. `json`: one document with everything (`compliant`, `features`, `overdrafts`,
 * `seatChanges`). `csv` holds one table: `only`, default the features. `table`: a heading, then
 * the features, the overdraft intervals and the licensed-seat changes (or only `only`).
 */
export function formatCompliance(
  report: ComplianceReport,
  format: ReportFormat,
  only?: ComplianceTable,
): string {
  if (format === 'json') {
    return render('json', 'features', report.features, featureColumns, {
      from: iso(report.fromMs),
      to: iso(report.toMs),
      ...(report.feature === undefined ? {} : { feature: report.feature }),
      compliant: report.compliant,
      exact: report.exact,
      exactFrom: report.exactFrom,
      records: report.records,
      overdrafts: plain(overdraftsOf(report), overdraftColumns),
      seatChanges: plain(changesOf(report), changeColumns),
    });
  }
  if (format === 'csv') return section(report, only ?? 'features', 'csv');
  if (only !== undefined) return section(report, only, 'table');
  const what = report.feature === undefined ? 'all features' : `feature '${report.feature}'`;
  let out =
    `Compliance of ${what}, ${iso(report.fromMs)} to ${iso(report.toMs)} (UTC, end excluded), ` +
    `replayed from ${report.records} audit records.\n`;
  if (!report.exact) {
    out +=
      report.exactFrom === null
        ? 'The trail holds no daemon start (older files removed): leases granted before its first ' +
          'record are unknown, so seats in use may be too low.\n'
        : 'The trail begins after older files were removed: seats in use may be too low until the ' +
          `daemon start at ${report.exactFrom}.\n`;
  }
  const n = overdraftsOf(report).length;
  out += report.compliant
    ? 'Verdict: no feature exceeded its licensed count.\n'
    : `Verdict: seats in use exceeded the licensed count (${n} overdraft ${n === 1 ? 'interval' : 'intervals'} below).\n`;
  out +=
    report.features.length > 0
      ? `\n${section(report, 'features', 'table')}`
      : '\nNo feature was licensed or used in the period.\n';
  if (overdraftsOf(report).length > 0) {
    out += `\nOverdraft intervals (seats in use > licensed):\n${section(report, 'overdrafts', 'table')}`;
  }
  if (changesOf(report).length > 0) {
    out += `\nLicensed seat changes:\n${section(report, 'seat-changes', 'table')}`;
  }
  return out;
}
