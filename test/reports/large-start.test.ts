/**
 * A `start` above START_LEASE_LIMIT lists no leases (a restart with a million leases must not
 * write one 150 MB line): rollups and the compliance replay keep the leases the trail left held.
 */
import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditLease } from '../../src/reports/audit-events.js';
import { complianceReport } from '../../src/reports/report-compliance.js';
import { HOUR_MS, UsageRollups } from '../../src/reports/rollups.js';

const T0 = Date.UTC(2026, 0, 5, 9);
const MIN = 60_000;
const lease = (id: string, user: string): AuditLease => ({
  lease: id,
  feature: 'cad',
  user,
  host: 'h',
  count: 1,
  type: 'concurrent',
});
const FEATURES = [{ name: 'cad', seats: 2 }];

function trail(startWithList: boolean): (AuditEvent & { seq: number; ts: string })[] {
  const events: [number, AuditEvent][] = [
    [T0, { t: 'start', version: 't', features: FEATURES, leaseCount: 0, leases: [] }],
    [T0 + 10 * MIN, { t: 'grant', ...lease('A', 'alice'), session: 's', fencing: 1 }],
    [T0 + 20 * MIN, { t: 'grant', ...lease('B', 'bob'), session: 's', fencing: 2 }],
    [T0 + 30 * MIN, { t: 'stop' }],
    [
      T0 + 40 * MIN,
      startWithList
        ? {
            t: 'start',
            version: 't',
            features: FEATURES,
            leaseCount: 2,
            leases: [lease('A', 'alice'), lease('B', 'bob')],
          }
        : { t: 'start', version: 't', features: FEATURES, leaseCount: 2 },
    ],
    [T0 + 50 * MIN, { t: 'release', ...lease('A', 'alice') }],
  ];
  return events.map(([ms, e], i) => ({ ...e, seq: i + 1, ts: new Date(ms).toISOString() }));
}

describe('a start line without its leases', () => {
  it('gives the same rollups as one that lists them', () => {
    const built = (withList: boolean) => {
      const r = new UsageRollups();
      for (const rec of trail(withList)) r.apply({ ...rec, ts: Date.parse(rec.ts) });
      r.advance(T0 + HOUR_MS);
      return r.buckets({ feature: 'cad', group: '*' });
    };
    const listed = built(true);
    expect(built(false)).toEqual(listed);
    // alice 10..30 and 40..50 (30 min), bob 20..30 and 40..60 (30 min); nothing accrues while stopped.
    expect(listed[0]).toMatchObject({ peak: 2, seatMs: 60 * MIN });
  });

  it('keeps the held leases in the compliance replay', async () => {
    const seatsLowered: AuditEvent & { seq: number; ts: string } = {
      t: 'seats',
      feature: 'cad',
      seats: 1,
      seq: 7,
      ts: new Date(T0 + 45 * MIN).toISOString(),
    };
    const records = [...trail(false)];
    records.splice(5, 0, seatsLowered);
    const report = await complianceReport(records, { fromMs: T0, toMs: T0 + HOUR_MS });
    // 2 held, lowered to 1 at :45: an overdraft until alice released at :50.
    expect(report.features[0]!.overdrafts).toHaveLength(1);
    expect(report.features[0]!.overdrafts[0]).toMatchObject({ licensed: 1, maxInUse: 2 });
  });
});
