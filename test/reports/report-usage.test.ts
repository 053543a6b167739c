/** Issue 7 §3: the Concurrent Usage Report and right-sizing, from rollups of a scripted scenario. */
import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditLease } from '../../src/reports/audit-events.js';
import { renderRightsize, rightsizeRows } from '../../src/reports/report-rightsize.js';
import {
  defaultGranularity,
  parseReportTime,
  renderUsage,
  reportPeriod,
  type UsageReportOptions,
  usageRows,
  waitText,
} from '../../src/reports/report-usage.js';
import { DAY_MS, HOUR_MS, type UsageRecord, UsageRollups } from '../../src/reports/rollups.js';

const MIN = 60_000;
const DAY0 = Date.UTC(2025, 2, 3); // 2025-03-03T00:00Z
const at = (h: number, m = 0, day = 0) => DAY0 + day * DAY_MS + h * HOUR_MS + m * MIN;
const NOW = at(12, 0, 2); // 2025-03-05T12:00Z: the scenario lies in the past

function lease(id: string, user: string, count: number, group?: string, feature = 'cad'): AuditLease {
  return { lease: id, feature, user, host: 'ws', count, type: 'concurrent', ...(group ? { group } : {}) };
}
const start = (seats: number, leases: AuditLease[] = [], feature = 'cad'): AuditEvent => ({
  t: 'start',
  version: '1',
  features: [{ name: feature, seats }],
  leases,
});
const grant = (l: AuditLease): AuditEvent => ({ t: 'grant', ...l, session: 's', fencing: 1 });
const release = (l: AuditLease): AuditEvent => ({ t: 'release', ...l });
const erin = { ticket: 'T', feature: 'cad', user: 'erin', host: 'ws', count: 1, group: 'eng' };

function rollupsOf(...events: [number, AuditEvent][]): UsageRollups {
  const r = new UsageRollups();
  events.forEach(([ts, e], i) => {
    r.apply({ ...e, seq: i + 1, ts } as UsageRecord);
  });
  r.advance(NOW);
  return r;
}

const A = lease('A', 'alice', 2, 'eng');
const B = lease('B', 'bob', 1);
const C = lease('C', 'erin', 1, 'eng');
const D = lease('D', 'alice', 4, 'eng');

/**
 * cad, 4 seats. 2025-03-03: 09:00 alice takes 2 (eng) · 09:30 bob 1 (no group) · 09:45 carol is
 * denied · 10:05 alice gives hers back · 10:15 erin queues (eng) · 10:45 she gets a seat after
 * 30 min · 11:00 stop. 2025-03-04: 09:00 start, alice takes all 4 · 09:30 gives them back · 10:00 stop.
 */
const scenario = () =>
  rollupsOf(
    [at(9), start(4)],
    [at(9), grant(A)],
    [at(9, 30), grant(B)],
    [at(9, 45), { t: 'deny', feature: 'cad', user: 'carol', host: 'ws', count: 1, code: 'NO_SEATS' }],
    [at(10, 5), release(A)],
    [at(10, 15), { t: 'queue', ...erin, position: 1 }],
    [at(10, 45), { t: 'dequeue', ...erin, reason: 'granted', waitedMs: 30 * MIN }],
    [at(10, 45), grant(C)],
    [at(11), { t: 'stop' }],
    [at(9, 0, 1), start(4)],
    [at(9, 0, 1), grant(D)],
    [at(9, 30, 1), release(D)],
    [at(10, 0, 1), { t: 'stop' }],
  );

const DAY3 = { fromMs: at(0), toMs: at(0, 0, 1) };
const BOTH = { fromMs: at(0), toMs: at(0, 0, 2) };
const hourly: UsageReportOptions = { ...DAY3, by: 'hour', nowMs: NOW };
const daily: UsageReportOptions = { ...BOTH, by: 'day', nowMs: NOW };

describe('report usage', () => {
  it('by hour: one row per hour, feature and group, with the hand-computed numbers', () => {
    const rows = usageRows(scenario(), hourly);
    const pick = rows.map((r) => [
      new Date(r.start).toISOString().slice(11, 16),
      r.group,
      r.seats,
      r.peak,
      r.avg,
      r.users,
      r.grants,
      r.denials,
      r.queued,
      r.waitP50Ms,
      r.waitP95Ms,
      r.longestQueue,
    ]);
    expect(pick).toEqual([
      // 09h: 2 seats 30 min + 3 seats 30 min = 150 seat·min → 2.5
      ['09:00', '*', 4, 3, 2.5, 2, 2, 1, 0, null, null, 0],
      ['09:00', '-', 4, 1, 0.5, 1, 1, 0, 0, null, null, 0],
      ['09:00', 'eng', 4, 2, 2, 1, 1, 0, 0, null, null, 0],
      // 10h: 3 seats 5 min, 1 seat 40 min, 2 seats 15 min = 85 seat·min → 1.42
      ['10:00', '*', 4, 3, 1.42, 3, 1, 0, 1, 30 * MIN, 30 * MIN, 1],
      ['10:00', '-', 4, 1, 1, 1, 0, 0, 0, null, null, 0],
      // eng: 2 seats 5 min, 1 seat 15 min = 25 seat·min → 0.42
      ['10:00', 'eng', 4, 2, 0.42, 2, 1, 0, 1, 30 * MIN, 30 * MIN, 1],
    ]);
    expect(rows[0]?.denialsByCode).toEqual({ NO_SEATS: 1 });
  });

  it('by day: peaks are maxima, avg over 24 h, users the union, counts summed', () => {
    const rows = usageRows(scenario(), daily);
    const pick = rows.map((r) => [
      new Date(r.start).toISOString().slice(0, 10),
      r.group,
      r.peak,
      r.avg,
      r.users,
      r.grants,
    ]);
    expect(pick).toEqual([
      ['2025-03-03', '*', 3, 0.16, 3, 3], // 235 seat·min / 1440 min
      ['2025-03-03', '-', 1, 0.06, 1, 1], // 90 / 1440
      ['2025-03-03', 'eng', 2, 0.1, 2, 2], // 145 / 1440
      ['2025-03-04', '*', 4, 0.08, 1, 1], // 120 / 1440
      ['2025-03-04', 'eng', 4, 0.08, 1, 1],
    ]);
    expect(rows[0]).toMatchObject({
      denials: 1,
      queued: 1,
      waitP50Ms: 30 * MIN,
      waitP95Ms: 30 * MIN,
      longestQueue: 1,
    });
  });

  it('filters by feature and group; "(all)" rows are the feature totals', () => {
    const r = scenario();
    expect(usageRows(r, { ...daily, group: 'eng' }).map((x) => x.group)).toEqual(['eng', 'eng']);
    expect(usageRows(r, { ...daily, group: '*' }).map((x) => x.peak)).toEqual([3, 4]);
    expect(usageRows(r, { ...daily, feature: 'other' })).toEqual([]);
  });

  it('the current hour and day average over the time elapsed', () => {
    const r = new UsageRollups();
    r.apply({ ...start(4), seq: 1, ts: at(9) } as UsageRecord);
    r.apply({ ...grant(lease('A', 'alice', 2)), seq: 2, ts: at(9) } as UsageRecord);
    // Read at 09:30 of the same day: 2 seats for the 30 minutes so far.
    r.advance(at(9, 30));
    const hours = usageRows(r, { fromMs: at(0), toMs: at(9, 30), by: 'hour', nowMs: at(9, 30) });
    expect(hours.map((x) => [x.group, x.avg])).toEqual([
      ['*', 2],
      ['-', 2],
    ]);
    const days = usageRows(r, { fromMs: at(0), toMs: at(9, 30), by: 'day', nowMs: at(9, 30) });
    // 60 seat·min in the 570 minutes of the day so far.
    expect(days[0]?.avg).toBe(Math.round((60 / 570) * 100) / 100);
  });

  it('renders the table with a bar of the peak against the seats', () => {
    const text = renderUsage(usageRows(scenario(), hourly), {
      ...hourly,
      format: 'table',
      source: 'rollups',
    });
    expect(text).toBe(
      [
        'Concurrent Usage Report, per hour, between 2025-03-03 00:00 UTC and 2025-03-04 00:00 UTC',
        '',
        'HOUR              FEATURE  GROUP  SEATS  PEAK  PEAK OF SEATS          AVG  USERS  GRANTS  DENIALS  QUEUED  WAIT P50  WAIT P95  LONGEST QUEUE',
        '2025-03-03 09:00  cad      (all)      4     3  ███████████████·····  2.50      2       2        1       0  -         -                     0',
        '2025-03-03 09:00  cad      -          4     1  █████···············  0.50      1       1        0       0  -         -                     0',
        '2025-03-03 09:00  cad      eng        4     2  ██████████··········  2.00      1       1        0       0  -         -                     0',
        '2025-03-03 10:00  cad      (all)      4     3  ███████████████·····  1.42      3       1        0       1  30m       30m                   1',
        '2025-03-03 10:00  cad      -          4     1  █████···············  1.00      1       0        0       0  -         -                     0',
        '2025-03-03 10:00  cad      eng        4     2  ██████████··········  0.42      2       1        0       1  30m       30m                   1',
        '',
      ].join('\n'),
    );
  });

  it('renders csv with a header row and the denial codes', () => {
    const text = renderUsage(usageRows(scenario(), daily), { ...daily, format: 'csv', source: 'rollups' });
    expect(text.split('\r\n')).toEqual([
      'day,feature,group,seats,peak,avg,users,grants,denials,denialsByCode,queued,waitP50Ms,waitP95Ms,longestQueue',
      '2025-03-03,cad,(all),4,3,0.16,3,3,1,NO_SEATS=1,1,1800000,1800000,1',
      '2025-03-03,cad,-,4,1,0.06,1,1,0,,0,,,0',
      '2025-03-03,cad,eng,4,2,0.1,2,2,0,,1,1800000,1800000,1',
      '2025-03-04,cad,(all),4,4,0.08,1,1,0,,0,,,0',
      '2025-03-04,cad,eng,4,4,0.08,1,1,0,,0,,,0',
      '',
    ]);
  });

  it('renders json: the period, the unit, the source and the rows', () => {
    const text = renderUsage(usageRows(scenario(), hourly), { ...hourly, format: 'json', source: 'audit' });
    const doc = JSON.parse(text) as { usage: Record<string, unknown>[] };
    expect(doc).toMatchObject({
      report: 'usage',
      from: '2025-03-03T00:00:00.000Z',
      to: '2025-03-04T00:00:00.000Z',
      by: 'hour',
      source: 'audit',
    });
    expect(doc.usage).toHaveLength(6);
    expect(doc.usage[3]).toEqual({
      hour: '2025-03-03T10:00:00Z',
      feature: 'cad',
      group: '(all)',
      seats: 4,
      peak: 3,
      avg: 1.42,
      users: 3,
      grants: 1,
      denials: 0,
      denialsByCode: '',
      queued: 1,
      waitP50Ms: 1_800_000,
      waitP95Ms: 1_800_000,
      longestQueue: 1,
    });
  });

  it('says so when nothing was recorded (table); csv and json stay parseable', () => {
    const empty = usageRows(new UsageRollups(), hourly);
    expect(empty).toEqual([]);
    expect(renderUsage(empty, { ...hourly, format: 'table', source: 'rollups' })).toBe(
      'No usage recorded between 2025-03-03 00:00 UTC and 2025-03-04 00:00 UTC.\n',
    );
    expect(JSON.parse(renderUsage(empty, { ...hourly, format: 'json', source: 'rollups' })).usage).toEqual(
      [],
    );
    expect(renderUsage(empty, { ...hourly, format: 'csv', source: 'rollups' }).split('\r\n')).toHaveLength(2);
  });
});

describe('report periods', () => {
  it('parses dates and ISO times as UTC', () => {
    expect(parseReportTime('2025-03-03')).toEqual({ ms: at(0), dateOnly: true });
    expect(parseReportTime('2025-03-03T14:30')).toEqual({ ms: at(14, 30), dateOnly: false });
    expect(parseReportTime('2025-03-03T14:30:00Z')).toEqual({ ms: at(14, 30), dateOnly: false });
    expect(parseReportTime('2025-03-03T14:30:00.500+01:00')).toEqual({
      ms: at(13, 30) + 500,
      dateOnly: false,
    });
    for (const bad of ['2025-02-30', '2025-3-3', 'yesterday', '2025-03-03T25:00', '']) {
      expect(parseReportTime(bad), bad).toBeNull();
    }
  });

  it('a date in --to includes the day; defaults are today and now; by hour up to a day', () => {
    const now = at(14, 5);
    expect(reportPeriod(undefined, undefined, now)).toEqual({ fromMs: at(0), toMs: now });
    const day = reportPeriod(parseReportTime('2025-03-03')!, parseReportTime('2025-03-03')!, now);
    expect(day).toEqual({ fromMs: at(0), toMs: at(0, 0, 1) });
    expect(defaultGranularity(day as { fromMs: number; toMs: number })).toBe('hour');
    expect(defaultGranularity({ fromMs: at(0), toMs: at(0, 1, 1) })).toBe('day');
    expect(reportPeriod(parseReportTime('2025-03-04')!, parseReportTime('2025-03-03')!, now)).toBeInstanceOf(
      Error,
    );
  });

  it('shows waits for people', () => {
    expect([null, 850, 12_340, 200_000, 3_900_000].map(waitText)).toEqual([
      '-',
      '850ms',
      '12.3s',
      '3m20s',
      '1h5m',
    ]);
  });
});

describe('report rightsize', () => {
  it('finds the seats for 95/99/100% of a known demand: 10 for 90% of the time, 14 for 9%, 15 for 1%', () => {
    const r = rollupsOf(
      [at(10), start(30)],
      [at(10), grant(lease('A', 'alice', 10))],
      [at(11, 30), grant(lease('B', 'bob', 4))], // 90 min at 10
      [at(11, 39), grant(lease('C', 'carol', 1))], // 9 min at 14
      [at(11, 40), { t: 'stop' }], // 1 min at 15
    );
    const rows = rightsizeRows(r, { fromMs: at(0), toMs: at(0, 0, 1) });
    expect(rows).toEqual([
      {
        feature: 'cad',
        seats: 30,
        peak: 15,
        unused: 15,
        // ≤ 10 for 90% of the time (< 95%); ≤ 14 for 99% (≥ 95% and ≥ 99%); ≤ 15 always.
        seatsFor95: 14,
        seatsFor99: 14,
        seatsFor100: 15,
        observedMs: 100 * MIN,
        denials: 0,
        suggestion: 'usage never went above 15 of 30 seats; 14 would cover 99% of the demand — consider 14',
      },
    ]);
  });

  it('counts the seats waited for as demand, and says denials are not in it', () => {
    const r = rollupsOf(
      [at(10), start(2, [], 'sim')],
      [at(10), grant(lease('A', 'alice', 2, undefined, 'sim'))],
      [at(10), { t: 'queue', ticket: 'T', feature: 'sim', user: 'bob', host: 'ws', count: 1, position: 1 }],
      [at(10, 50), { t: 'deny', feature: 'sim', user: 'carol', host: 'ws', count: 1, code: 'NO_SEATS' }],
      [
        at(10, 50),
        {
          t: 'dequeue',
          ticket: 'T',
          feature: 'sim',
          user: 'bob',
          host: 'ws',
          count: 1,
          reason: 'timeout',
          waitedMs: 50 * MIN,
        },
      ],
      [at(11, 40), { t: 'stop' }],
    );
    // Demand 3 for 50 min, 2 for 50 min.
    const [row] = rightsizeRows(r, { fromMs: at(0), toMs: at(0, 0, 1) });
    expect(row).toMatchObject({
      seats: 2,
      peak: 2,
      unused: 0,
      seatsFor95: 3,
      seatsFor99: 3,
      seatsFor100: 3,
      denials: 1,
    });
    expect(row?.suggestion).toBe(
      'demand went above the 2 seats more than 1% of the time; 3 would cover 99% of it — consider 3; ' +
        '1 denied request is not in the demand',
    );
  });

  it('renders table, csv and json; says when nothing was recorded', () => {
    const rows = rightsizeRows(scenario(), BOTH);
    // Demand (min): 0 for 30, 1 for 10, 2 for 75, 3 for 35, 4 for 30 → 95%, 99%, 100%: 4.
    expect(rows).toMatchObject([
      { feature: 'cad', seats: 4, peak: 4, unused: 0, seatsFor95: 4, seatsFor99: 4 },
    ]);
    const table = renderRightsize(rows, { ...BOTH, format: 'table' });
    expect(table).toContain('FEATURE  SEATS  PEAK  UNUSED  95%  99%  100%  OBSERVED  DENIALS  SUGGESTION');
    expect(table).toContain(
      'cad          4     4       0    4    4     4  3.0h            1  4 seats cover 99% of the demand (it reached 4) — keep 4; 1 denied request is not in the demand',
    );
    expect(renderRightsize(rows, { ...BOTH, format: 'csv' }).split('\r\n')[0]).toBe(
      'feature,seats,peak,unused,seatsFor95,seatsFor99,seatsFor100,observedMs,denials,suggestion',
    );
    expect(JSON.parse(renderRightsize(rows, { ...BOTH, format: 'json' })).rightsize[0].observedMs).toBe(
      180 * MIN,
    );
    expect(renderRightsize([], { ...BOTH, format: 'table' })).toBe(
      'No usage recorded between 2025-03-03 00:00 UTC and 2025-03-05 00:00 UTC.\n',
    );
  });
});
