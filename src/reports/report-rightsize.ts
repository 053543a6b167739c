/**
 * Right-sizing (issue 7 §3, `leasehold report rightsize`): per feature, how many seats the observed
 * demand needed, from the '*' demand histograms of the hourly rollups over the period.
 *
 * Demand at a moment = seats in use + seats waited for in the queue; a denied request (no queue)
 * is not in it, so the denials are shown next to it. "Seats for p%" is the smallest n such that the
 * demand was ≤ n during at least p% of the time the daemon ran in the period.
 */
import { type Column, type ReportFormat, render } from './report-format.js';
import { type ReportPeriod, utcMinute } from './report-usage.js';
import { ALL_GROUPS, HOUR_MS, type UsageRollups, weightedRank } from './rollups.js';

export interface RightsizeOptions extends ReportPeriod {
  readonly feature?: string;
}

export interface RightsizeRow {
  readonly feature: string;
  /** Licensed seats: those of the latest hour in the period. */
  readonly seats: number;
  /** The most seats in use at once in the period. */
  readonly peak: number;
  /** seats − peak (negative after an overdraft). */
  readonly unused: number;
  readonly seatsFor95: number | null;
  readonly seatsFor99: number | null;
  readonly seatsFor100: number | null;
  /** How long the daemon ran in the period (the time the demand was observed). */
  readonly observedMs: number;
  readonly denials: number;
  readonly suggestion: string;
}

export function rightsizeRows(rollups: UsageRollups, options: RightsizeOptions): RightsizeRow[] {
  const buckets = rollups.buckets({
    fromMs: options.fromMs,
    toMs: options.toMs,
    group: ALL_GROUPS,
    ...(options.feature === undefined ? {} : { feature: options.feature }),
  });
  const byFeature = new Map<string, typeof buckets>();
  for (const b of buckets) {
    const list = byFeature.get(b.feature);
    if (list) list.push(b);
    else byFeature.set(b.feature, [b]);
  }
  const rows: RightsizeRow[] = [];
  for (const [feature, hours] of [...byFeature].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const demand = new Map<number, number>();
    for (const b of hours) {
      for (const [level, ms] of Object.entries(b.demand ?? {})) {
        demand.set(Number(level), (demand.get(Number(level)) ?? 0) + ms);
      }
    }
    const seats = hours[hours.length - 1]!.seats; // buckets are sorted by hour
    const peak = Math.max(...hours.map((b) => b.peak));
    const denials = hours.reduce((s, b) => s + Object.values(b.denials).reduce((t, n) => t + n, 0), 0);
    const need = {
      p95: weightedRank(demand, 0.95),
      p99: weightedRank(demand, 0.99),
      p100: weightedRank(demand, 1),
    };
    rows.push({
      feature,
      seats,
      peak,
      unused: seats - peak,
      seatsFor95: need.p95,
      seatsFor99: need.p99,
      seatsFor100: need.p100,
      observedMs: [...demand.values()].reduce((s, ms) => s + ms, 0),
      denials,
      suggestion: suggest(seats, peak, need.p99, need.p100, denials),
    });
  }
  return rows;
}

function suggest(
  seats: number,
  peak: number,
  p99: number | null,
  p100: number | null,
  denials: number,
): string {
  const denied =
    denials > 0 ? `; ${denials} denied request${denials === 1 ? ' is' : 's are'} not in the demand` : '';
  if (p99 === null || p100 === null) return `the daemon did not run in the period${denied}`;
  if (p100 === 0) return `no seat was used${denied} — consider whether the feature is still needed`;
  if (p99 > seats) {
    return `demand went above the ${seats} seats more than 1% of the time; ${p99} would cover 99% of it — consider ${p99}${denied}`;
  }
  if (p99 === seats)
    return `${seats} seats cover 99% of the demand (it reached ${p100}) — keep ${seats}${denied}`;
  return `usage never went above ${peak} of ${seats} seats; ${p99} would cover 99% of the demand — consider ${p99}${denied}`;
}

export interface RightsizeRenderOptions extends ReportPeriod {
  readonly format: ReportFormat;
}

const COLUMNS: Column<RightsizeRow>[] = [
  { key: 'feature', value: (r) => r.feature },
  { key: 'seats', value: (r) => r.seats },
  { key: 'peak', value: (r) => r.peak },
  { key: 'unused', value: (r) => r.unused },
  { key: 'seatsFor95', header: '95%', value: (r) => r.seatsFor95 },
  { key: 'seatsFor99', header: '99%', value: (r) => r.seatsFor99 },
  { key: 'seatsFor100', header: '100%', value: (r) => r.seatsFor100 },
  {
    key: 'observedMs',
    header: 'OBSERVED',
    value: (r) => r.observedMs,
    show: (r) => `${(r.observedMs / HOUR_MS).toFixed(1)}h`,
  },
  { key: 'denials', value: (r) => r.denials },
  { key: 'suggestion', value: (r) => r.suggestion },
];

/** The report as text; without rows the table says "No usage recorded between ... and ...". */
export function renderRightsize(rows: readonly RightsizeRow[], options: RightsizeRenderOptions): string {
  const between = `${utcMinute(options.fromMs)} and ${utcMinute(options.toMs)}`;
  if (options.format === 'json') {
    return render('json', 'rightsize', rows, COLUMNS, {
      report: 'rightsize',
      from: new Date(options.fromMs).toISOString(),
      to: new Date(options.toMs).toISOString(),
    });
  }
  if (options.format === 'csv') return render('csv', 'rightsize', rows, COLUMNS);
  if (rows.length === 0) return `No usage recorded between ${between}.\n`;
  const title =
    `Right-sizing between ${between}: seats that would have met the demand (seats in use + ` +
    'seats waited for) 95%, 99% and 100% of the time';
  return `${title}\n\n${render('table', 'rightsize', rows, COLUMNS)}`;
}
