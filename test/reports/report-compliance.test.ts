/** Issue 7 §3: compliance from the audit trail alone: licensed seats, peaks, overdraft intervals. */
import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditLease } from '../../src/reports/audit-events.js';
import { complianceReport, formatCompliance } from '../../src/reports/report-compliance.js';
import type { TimedAuditEvent } from '../../src/reports/report-denials.js';

const MIN = 60_000;
/** 2025-01-06T00:00Z */
const DAY0 = Date.UTC(2025, 0, 6);
/** `at(9, 2)`: 09:02 UTC on 2025-01-06; `iso(9, 2)` the same as the report writes it. */
const at = (h: number, m = 0) => DAY0 + h * 3_600_000 + m * MIN;
const iso = (h: number, m = 0) => new Date(at(h, m)).toISOString();
const rec = (ms: number, event: AuditEvent): TimedAuditEvent => ({
  ...event,
  ts: new Date(ms).toISOString(),
});

function lease(id: string, extra: Partial<AuditLease> = {}): AuditLease {
  return {
    lease: id,
    feature: 'cad',
    user: `user-${id}`,
    host: 'ws',
    count: 1,
    type: 'concurrent',
    ...extra,
  };
}
const start = (ms: number, features: Record<string, number>, leases: AuditLease[] = []) =>
  rec(ms, {
    t: 'start',
    version: '0.1.0',
    features: Object.entries(features).map(([name, seats]) => ({ name, seats })),
    leases,
  });
const grant = (ms: number, l: AuditLease) => rec(ms, { t: 'grant', ...l, session: 's', fencing: 1 });
const release = (ms: number, l: AuditLease) => rec(ms, { t: 'release', ...l });
const reclaim = (ms: number, l: AuditLease) => rec(ms, { t: 'reclaim', ...l, reason: 'expired' });
const seats = (ms: number, feature: string, n: number) => rec(ms, { t: 'seats', feature, seats: n });

const L = [1, 2, 3, 4, 5, 6].map((n) => lease(`L${n}`));
/**
 * cad has 5 seats, all 5 in use; at 09:10 an admin lowers it to 3: overdraft (DESIGN §3.1) until
 * in use is back to 3 at 09:25. A shared lease at 09:30 takes no seat.
 */
const LOWERED: TimedAuditEvent[] = [
  start(at(8), { cad: 5, analytics: 2 }),
  grant(at(9, 0), L[0]!),
  grant(at(9, 1), L[1]!),
  grant(at(9, 2), L[2]!),
  grant(at(9, 3), L[3]!),
  grant(at(9, 4), L[4]!),
  rec(at(9, 5), { t: 'deny', feature: 'cad', user: 'zoe', host: 'ws', count: 1, code: 'NO_SEATS' }),
  seats(at(9, 10), 'cad', 3),
  release(at(9, 20), L[0]!),
  reclaim(at(9, 25), L[1]!),
  grant(at(9, 30), { ...L[5]!, user: L[2]!.user, shared: true }),
  rec(at(9, 40), { t: 'stop' }),
];

describe('complianceReport', () => {
  it('finds the overdraft after seats were lowered, with exact start, end and max', async () => {
    const r = await complianceReport(LOWERED, { fromMs: at(8, 30), toMs: at(12) });
    expect(r.compliant).toBe(false);
    expect(r.exact).toBe(true);
    expect(r.records).toBe(LOWERED.length);
    expect(r.features).toEqual([
      {
        feature: 'analytics',
        licensedAtFrom: 2,
        licensedAtTo: 2,
        changes: [],
        peakInUse: 0,
        peakAt: null,
        overdrafts: [],
        verdict: 'never exceeded the licensed count',
      },
      {
        feature: 'cad',
        licensedAtFrom: 5,
        licensedAtTo: 3,
        changes: [{ feature: 'cad', at: iso(9, 10), previous: 5, seats: 3, source: 'seats' }],
        peakInUse: 5,
        peakAt: iso(9, 4),
        overdrafts: [
          {
            feature: 'cad',
            start: iso(9, 10),
            end: iso(9, 25),
            licensed: 3,
            maxInUse: 5,
            maxAt: iso(9, 10),
          },
        ],
        verdict: 'exceeded the licensed count 1 time',
      },
    ]);
  });

  it('reports a period without overdraft as never exceeded, with the state at `from`', async () => {
    const r = await complianceReport(LOWERED, { fromMs: at(10), toMs: at(12), feature: 'cad' });
    expect(r.compliant).toBe(true);
    expect(r.features).toEqual([
      {
        feature: 'cad',
        licensedAtFrom: 3,
        licensedAtTo: 3,
        changes: [],
        // L3, L4, L5 held at 10:00 (the stop keeps them: leases are durable); L6 is shared.
        peakInUse: 3,
        peakAt: iso(10),
        overdrafts: [],
        verdict: 'never exceeded the licensed count',
      },
    ]);
  });

  it('reports an overdraft begun before `from` with its true start, and one open at `to` as ongoing', async () => {
    const before = await complianceReport(LOWERED, { fromMs: at(9, 15), toMs: at(12), feature: 'cad' });
    expect(before.features[0]?.overdrafts).toEqual([
      { feature: 'cad', start: iso(9, 10), end: iso(9, 25), licensed: 3, maxInUse: 5, maxAt: iso(9, 10) },
    ]);
    expect(before.features[0]?.peakInUse).toBe(5);
    expect(before.features[0]?.peakAt).toBe(iso(9, 15));

    const ongoing = await complianceReport(LOWERED, { fromMs: at(8, 30), toMs: at(9, 15), feature: 'cad' });
    expect(ongoing.features[0]?.overdrafts).toEqual([
      { feature: 'cad', start: iso(9, 10), end: null, licensed: 3, maxInUse: 5, maxAt: iso(9, 10) },
    ]);

    const after = await complianceReport(LOWERED, { fromMs: at(9, 25), toMs: at(12), feature: 'cad' });
    expect(after.features[0]?.overdrafts).toEqual([]);
  });

  it('splits an overdraft where the licensed count changes again', async () => {
    const trail = [...LOWERED.slice(0, 8), seats(at(9, 15), 'cad', 2), ...LOWERED.slice(8)];
    const r = await complianceReport(trail, { fromMs: at(8, 30), toMs: at(12), feature: 'cad' });
    expect(r.features[0]?.overdrafts).toEqual([
      { feature: 'cad', start: iso(9, 10), end: iso(9, 15), licensed: 3, maxInUse: 5, maxAt: iso(9, 10) },
      // 5 in use of 2, then 4, then 3 (the reclaim), still over 2 at the end: ongoing.
      { feature: 'cad', start: iso(9, 15), end: null, licensed: 2, maxInUse: 5, maxAt: iso(9, 15) },
    ]);
    expect(r.features[0]?.verdict).toBe('exceeded the licensed count 2 times');
  });

  it('resets the live state at a `start`: its leases and features replace what was before', async () => {
    const trail = [
      start(at(8), { cad: 2, analytics: 1 }),
      grant(at(8, 10), L[0]!),
      grant(at(8, 11), L[1]!),
      // A crash (no stop); the restart recovered only L2 and has 3 seats of cad, no analytics.
      start(at(8, 20), { cad: 3 }, [L[1]!]),
      grant(at(8, 22), L[2]!),
      grant(at(8, 23), L[3]!),
    ];
    const r = await complianceReport(trail, { fromMs: at(8, 5), toMs: at(9) });
    expect(r.compliant).toBe(true);
    expect(r.features.map((f) => [f.feature, f.licensedAtFrom, f.licensedAtTo, f.peakInUse])).toEqual([
      ['analytics', 1, 0, 0],
      // Without the reset L1 would still count: 4 in use of 3.
      ['cad', 2, 3, 3],
    ]);
    expect(r.features.flatMap((f) => f.changes)).toEqual([
      { feature: 'analytics', at: iso(8, 20), previous: 1, seats: 0, source: 'start' },
      { feature: 'cad', at: iso(8, 20), previous: 2, seats: 3, source: 'start' },
    ]);
    expect(r.features.find((f) => f.feature === 'cad')?.peakAt).toBe(iso(8, 23));
  });

  it('says when the trail begins mid-stream (older files removed)', async () => {
    const trail = [
      release(at(8), L[0]!), // granted before the trail's first record: ignored
      seats(at(8, 1), 'cad', 1),
      grant(at(8, 2), L[1]!),
      start(at(9), { cad: 1 }, [L[1]!]),
    ];
    const mid = await complianceReport(trail, { fromMs: at(8, 30), toMs: at(10) });
    expect(mid.exact).toBe(false);
    expect(mid.exactFrom).toBe(iso(9));
    expect(mid.features[0]).toMatchObject({ feature: 'cad', licensedAtFrom: 1, peakInUse: 1 });
    const later = await complianceReport(trail, { fromMs: at(9, 30), toMs: at(10) });
    expect(later.exact).toBe(true);
  });

  it('names a feature asked for that the trail does not know', async () => {
    const r = await complianceReport(LOWERED, { fromMs: at(8), toMs: at(12), feature: 'nope' });
    expect(r.features).toEqual([
      {
        feature: 'nope',
        licensedAtFrom: null,
        licensedAtTo: null,
        changes: [],
        peakInUse: 0,
        peakAt: null,
        overdrafts: [],
        verdict: 'no licensed count in the audit trail',
      },
    ]);
  });

  it('reads an async trail and stops at `to`', async () => {
    let pulledAfterEnd = false;
    async function* trail(): AsyncGenerator<TimedAuditEvent> {
      yield* LOWERED;
      yield seats(at(12), 'cad', 1); // at `to`: ends the reading
      pulledAfterEnd = true;
    }
    const r = await complianceReport(trail(), { fromMs: at(8, 30), toMs: at(12) });
    expect(r.features.find((f) => f.feature === 'cad')?.licensedAtTo).toBe(3);
    expect(pulledAfterEnd).toBe(false);
  });
});

describe('formatCompliance', () => {
  it('table: heading, verdict, features, overdraft intervals and seat changes', async () => {
    const r = await complianceReport(LOWERED, { fromMs: at(8, 30), toMs: at(12) });
    expect(formatCompliance(r, 'table')).toBe(
      'Compliance of all features, 2025-01-06T08:30:00.000Z to 2025-01-06T12:00:00.000Z (UTC, end excluded), replayed from 12 audit records.\n' +
        'Verdict: seats in use exceeded the licensed count (1 overdraft interval below).\n' +
        '\n' +
        'FEATURE    LICENSED AT FROM  LICENSED AT TO  CHANGES  PEAK IN USE  PEAK AT                   OVERDRAFTS  VERDICT\n' +
        'analytics                 2               2        0            0  -                                  0  never exceeded the licensed count\n' +
        'cad                       5               3        1            5  2025-01-06T09:04:00.000Z           1  exceeded the licensed count 1 time\n' +
        '\n' +
        'Overdraft intervals (seats in use > licensed):\n' +
        'FEATURE  START                     END                       ONGOING  LICENSED  MAX IN USE  MAX AT\n' +
        'cad      2025-01-06T09:10:00.000Z  2025-01-06T09:25:00.000Z  false           3           5  2025-01-06T09:10:00.000Z\n' +
        '\n' +
        'Licensed seat changes:\n' +
        'FEATURE  AT                        PREVIOUS  SEATS  SOURCE\n' +
        'cad      2025-01-06T09:10:00.000Z         5      3  seats\n',
    );
  });

  it('table: shows an open interval as ongoing', async () => {
    const r = await complianceReport(LOWERED, { fromMs: at(8, 30), toMs: at(9, 15), feature: 'cad' });
    expect(formatCompliance(r, 'table', 'overdrafts')).toBe(
      'FEATURE  START                     END      ONGOING  LICENSED  MAX IN USE  MAX AT\n' +
        'cad      2025-01-06T09:10:00.000Z  ongoing  true            3           5  2025-01-06T09:10:00.000Z\n',
    );
  });

  it('csv: the features by default, or the table asked for', async () => {
    const r = await complianceReport(LOWERED, { fromMs: at(8, 30), toMs: at(12) });
    expect(formatCompliance(r, 'csv')).toBe(
      'feature,licensedAtFrom,licensedAtTo,licensedChanges,peakInUse,peakAt,overdrafts,verdict\r\n' +
        'analytics,2,2,0,0,,0,never exceeded the licensed count\r\n' +
        'cad,5,3,1,5,2025-01-06T09:04:00.000Z,1,exceeded the licensed count 1 time\r\n',
    );
    expect(formatCompliance(r, 'csv', 'overdrafts')).toBe(
      'feature,start,end,ongoing,licensed,maxInUse,maxAt\r\n' +
        'cad,2025-01-06T09:10:00.000Z,2025-01-06T09:25:00.000Z,false,3,5,2025-01-06T09:10:00.000Z\r\n',
    );
    expect(formatCompliance(r, 'csv', 'seat-changes')).toBe(
      'feature,at,previous,seats,source\r\ncad,2025-01-06T09:10:00.000Z,5,3,seats\r\n',
    );
  });

  it('json: one document with the verdict, features, overdrafts and seat changes', async () => {
    const r = await complianceReport(LOWERED, { fromMs: at(8, 30), toMs: at(9, 15), feature: 'cad' });
    expect(JSON.parse(formatCompliance(r, 'json'))).toEqual({
      from: iso(8, 30),
      to: iso(9, 15),
      feature: 'cad',
      compliant: false,
      exact: true,
      exactFrom: iso(8),
      records: 8,
      overdrafts: [
        {
          feature: 'cad',
          start: iso(9, 10),
          end: null,
          ongoing: true,
          licensed: 3,
          maxInUse: 5,
          maxAt: iso(9, 10),
        },
      ],
      seatChanges: [{ feature: 'cad', at: iso(9, 10), previous: 5, seats: 3, source: 'seats' }],
      features: [
        {
          feature: 'cad',
          licensedAtFrom: 5,
          licensedAtTo: 3,
          licensedChanges: 1,
          peakInUse: 5,
          peakAt: iso(9, 4),
          overdrafts: 1,
          verdict: 'exceeded the licensed count 1 time',
        },
      ],
    });
  });
});
