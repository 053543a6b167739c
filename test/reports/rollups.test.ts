/** Issue 7 §2: hourly usage rollups computed from audit records alone. */
import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditLease } from '../../src/reports/audit-events.js';
import {
  DAY_MS,
  HOUR_MS,
  type HourBucket,
  type UsageRecord,
  UsageRollups,
  WAIT_SAMPLE_CAP,
  waitPercentile,
} from '../../src/reports/rollups.js';
import { checkUsageJSON } from '../../src/reports/usage-store.js';
import { auditLease } from './fixtures.js';

const MIN = 60_000;
/** 2025-03-03T00:00Z */
const DAY0 = Date.UTC(2025, 2, 3);
/** `at(22, 10)`: 22:10 on 2025-03-03; `at(0, 30, 1)`: 00:30 the next day (UTC). */
const at = (h: number, m = 0, day = 0) => DAY0 + day * DAY_MS + h * HOUR_MS + m * MIN;

const lease = auditLease;

const grant = (l: AuditLease): AuditEvent => ({ t: 'grant', ...l, session: 's', fencing: 1 });
const release = (l: AuditLease): AuditEvent => ({ t: 'release', ...l });
const deny = (user: string, code: string): AuditEvent => ({
  t: 'deny',
  feature: 'cad',
  user,
  host: 'ws',
  count: 1,
  code,
});
const waiter = (ticket: string, user: string, count: number, group?: string) => ({
  ticket,
  feature: 'cad',
  user,
  host: 'ws',
  count,
  ...(group === undefined ? {} : { group }),
});

/** Numbers records in order. */
function records(...events: [number, AuditEvent][]): UsageRecord[] {
  return events.map(([ts, e], i) => ({ ...e, seq: i + 1, ts }) as UsageRecord);
}

const L1 = lease('L1', 'alice', 'eng');
const L2 = lease('L2', 'bob');
const L3 = lease('L3', 'alice', 'eng', { shared: true });
const L4 = lease('L4', 'carol', 'eng');
const L5 = lease('L5', 'dave', 'eng');

/**
 * The hand-computed scenario (feature cad, 3 seats; group eng and no group):
 *   22:00 start · 22:10 alice L1 (eng) · 22:20 bob L2 (-) · 22:30 alice L3 (eng, shared: no seat) ·
 *   22:40 carol L4 (eng) · 22:45 dave denied NO_SEATS · 22:50 dave queues (eng, 1 seat) ·
 *   22:55 erin queues (-, 2 seats) · 23:05 bob releases, dave leaves the queue (granted after 15 min)
 *   and gets L5 · 23:30 frank denied NO_SEATS · 23:40 gina denied GROUP_LIMIT · 23:50 erin leaves
 *   the queue (timeout after 55 min) · next day 00:30 alice releases L1 · 00:45 alice releases L3 ·
 *   00:50 stop · 01:20 start with 4 seats and L4, L5 recovered · 01:30 seats → 2 · read at 02:10.
 */
const SCENARIO = records(
  [at(22), { t: 'start', version: '1', features: [{ name: 'cad', seats: 3 }], leases: [] }],
  [at(22, 10), grant(L1)],
  [at(22, 20), grant(L2)],
  [at(22, 30), grant(L3)],
  [at(22, 40), grant(L4)],
  [at(22, 45), deny('dave', 'NO_SEATS')],
  [at(22, 50), { t: 'queue', ...waiter('T1', 'dave', 1, 'eng'), position: 1 }],
  [at(22, 55), { t: 'queue', ...waiter('T2', 'erin', 2), position: 2 }],
  [at(23, 5), release(L2)],
  [at(23, 5), { t: 'dequeue', ...waiter('T1', 'dave', 1, 'eng'), reason: 'granted', waitedMs: 15 * MIN }],
  [at(23, 5), grant(L5)],
  [at(23, 30), deny('frank', 'NO_SEATS')],
  [at(23, 40), deny('gina', 'GROUP_LIMIT')],
  [at(23, 50), { t: 'dequeue', ...waiter('T2', 'erin', 2), reason: 'timeout', waitedMs: 55 * MIN }],
  [at(0, 30, 1), release(L1)],
  [at(0, 45, 1), release(L3)],
  [at(0, 50, 1), { t: 'stop' }],
  [at(1, 20, 1), { t: 'start', version: '1', features: [{ name: 'cad', seats: 4 }], leases: [L4, L5] }],
  [at(1, 30, 1), { t: 'seats', feature: 'cad', seats: 2 }],
);
const READ_AT = at(2, 10, 1);

function run(recs: readonly UsageRecord[], until = READ_AT): UsageRollups {
  const r = new UsageRollups();
  for (const rec of recs) r.apply(rec);
  r.advance(until);
  return r;
}

function find(r: UsageRollups, hour: number, group: string): HourBucket | undefined {
  return r.buckets({ fromMs: hour, toMs: hour + 1 }).find((b) => b.group === group);
}

/** The numbers a report shows for a bucket. */
function summary(b: HourBucket | undefined, elapsedMs = HOUR_MS) {
  if (!b) return undefined;
  return {
    seats: b.seats,
    peak: b.peak,
    avg: Math.round((b.seatMs / elapsedMs) * 100) / 100,
    users: b.users,
    grants: b.grants,
    denials: b.denials,
    queueEntries: b.queueEntries,
    waitP50: waitPercentile([b], 0.5),
    waitP95: waitPercentile([b], 0.95),
    longestQueue: b.longestQueue,
  };
}

describe('UsageRollups', () => {
  it('computes the hand-worked scenario across an hour and a day boundary, per group and total', () => {
    const r = run(SCENARIO);
    const h22 = at(22);
    const h23 = at(23);
    const h00 = at(0, 0, 1);
    // 22:00-23:00, total: 0 seats 10 min, 1 for 10, 2 for 20 (the shared L3 adds none), 3 for 20
    // → 110 seat·min; alice, bob, carol; 4 grants; dave denied; dave and erin queued.
    expect(find(r, h22, '*')?.seatMs).toBe(110 * MIN);
    expect(summary(find(r, h22, '*'))).toEqual({
      seats: 3,
      peak: 3,
      avg: 1.83,
      users: ['alice', 'bob', 'carol'],
      grants: 4,
      denials: { NO_SEATS: 1 },
      queueEntries: 2,
      waitP50: null,
      waitP95: null,
      longestQueue: 2,
    });
    // Demand (in use + waiting seats): 0 10 min, 1 10, 2 20, 3 10, 4 (dave waits) 5, 6 (erin's 2) 5.
    expect(find(r, h22, '*')?.demand).toEqual({
      0: 10 * MIN,
      1: 10 * MIN,
      2: 20 * MIN,
      3: 10 * MIN,
      4: 5 * MIN,
      6: 5 * MIN,
    });
    // eng: 1 seat 22:10-22:40 (L1; L3 shared), 2 seats 22:40-23:00 → 70 seat·min.
    expect(find(r, h22, 'eng')?.seatMs).toBe(70 * MIN);
    expect(summary(find(r, h22, 'eng'))).toEqual({
      seats: 3,
      peak: 2,
      avg: 1.17,
      users: ['alice', 'carol'],
      grants: 3,
      denials: {},
      queueEntries: 1,
      waitP50: null,
      waitP95: null,
      longestQueue: 1,
    });
    expect(find(r, h22, 'eng')).not.toHaveProperty('demand');
    // No group: bob's seat 22:20-23:00 → 40 seat·min.
    expect(find(r, h22, '-')?.seatMs).toBe(40 * MIN);
    expect(summary(find(r, h22, '-'))).toMatchObject({ peak: 1, avg: 0.67, users: ['bob'], grants: 1 });
    expect(find(r, h22, '-')).toMatchObject({ queueEntries: 1, longestQueue: 1 });

    // 23:00-24:00, total: 3 seats all hour (bob's release and dave's grant at 23:05) → avg 3; the
    // holders carried over (alice, bob, carol) count with dave; waits 15 and 55 min; the queue of
    // 2 carried over is the longest.
    expect(find(r, h23, '*')?.seatMs).toBe(180 * MIN);
    expect(summary(find(r, h23, '*'))).toEqual({
      seats: 3,
      peak: 3,
      avg: 3,
      users: ['alice', 'bob', 'carol', 'dave'],
      grants: 1,
      denials: { GROUP_LIMIT: 1, NO_SEATS: 1 },
      queueEntries: 0,
      waitP50: 15 * MIN,
      waitP95: 55 * MIN,
      longestQueue: 2,
    });
    expect(find(r, h23, '*')?.demand).toEqual({ 3: 10 * MIN, 5: 45 * MIN, 6: 5 * MIN });
    // eng: 2 seats 23:00-23:05, 3 after → 10 + 165 = 175 seat·min.
    expect(find(r, h23, 'eng')?.seatMs).toBe(175 * MIN);
    expect(summary(find(r, h23, 'eng'))).toEqual({
      seats: 3,
      peak: 3,
      avg: 2.92,
      users: ['alice', 'carol', 'dave'],
      grants: 1,
      denials: {},
      queueEntries: 0,
      waitP50: 15 * MIN,
      waitP95: 15 * MIN,
      longestQueue: 1,
    });
    // No group: bob until 23:05 → 5 seat·min; erin's wait.
    expect(summary(find(r, h23, '-'))).toEqual({
      seats: 3,
      peak: 1,
      avg: 0.08,
      users: ['bob'],
      grants: 0,
      denials: {},
      queueEntries: 0,
      waitP50: 55 * MIN,
      waitP95: 55 * MIN,
      longestQueue: 1,
    });

    // Next day 00:00-01:00: 3 seats until 00:30, 2 until the stop at 00:50, nothing after →
    // 130 seat·min; alice still held L3 (shared) until 00:45.
    expect(find(r, h00, '*')?.seatMs).toBe(130 * MIN);
    expect(summary(find(r, h00, '*'))).toMatchObject({
      seats: 3,
      peak: 3,
      avg: 2.17,
      users: ['alice', 'carol', 'dave'],
      grants: 0,
      longestQueue: 0,
    });
    expect(find(r, h00, '*')?.demand).toEqual({ 2: 20 * MIN, 3: 30 * MIN });
    expect(find(r, h00, 'eng')?.seatMs).toBe(130 * MIN);
    expect(find(r, h00, '-')).toBeUndefined(); // bob left before midnight
    // 01:20 restart with 4 seats, lowered to 2 at 01:30: the hour shows the most (4); carol and
    // dave's 2 seats from 01:20 → 80 seat·min; nothing between the stop and the start.
    expect(find(r, at(1, 0, 1), '*')).toMatchObject({
      seats: 4,
      peak: 2,
      seatMs: 80 * MIN,
      users: ['carol', 'dave'],
    });
    expect(find(r, at(1, 0, 1), '*')?.demand).toEqual({ 2: 40 * MIN });
    // The current hour, read at 02:10: 10 minutes of 2 seats, avg over the 10 minutes elapsed = 2.
    expect(summary(find(r, at(2, 0, 1), '*'), 10 * MIN)).toMatchObject({ seats: 2, peak: 2, avg: 2 });
    expect(r.lastSeq).toBe(SCENARIO.length);
    // Sorted by hour, feature, group ('*' first).
    expect(r.buckets({ toMs: at(0, 0, 1) }).map((b) => [b.hour, b.group])).toEqual([
      [h22, '*'],
      [h22, '-'],
      [h22, 'eng'],
      [h23, '*'],
      [h23, '-'],
      [h23, 'eng'],
    ]);
  });

  it('filters buckets by feature, group and hours', () => {
    const r = run(SCENARIO);
    expect(r.buckets({ group: 'eng' }).map((b) => b.hour)).toEqual([
      at(22),
      at(23),
      at(0, 0, 1),
      at(1, 0, 1),
      at(2, 0, 1),
    ]);
    // A bucket is in when its hour overlaps [fromMs, toMs).
    expect(r.buckets({ fromMs: at(22, 59), toMs: at(23, 1), group: '*' }).map((b) => b.hour)).toEqual([
      at(22),
      at(23),
    ]);
    expect(r.buckets({ feature: 'other' })).toEqual([]);
  });

  it('a shared lease takes no seat but its user counts', () => {
    const shared = lease('B', 'alice', undefined, { shared: true, type: 'named' });
    const r = run(
      records(
        [at(10), { t: 'start', version: '1', features: [{ name: 'cad', seats: 5 }], leases: [] }],
        [at(10), grant(lease('A', 'alice'))],
        [at(10, 30), grant(shared)],
        [at(10, 45), release(lease('A', 'alice'))],
      ),
      at(11),
    );
    // A: 1 seat 10:00-10:45; B alone holds no seat.
    expect(find(r, at(10), '*')).toMatchObject({ peak: 1, seatMs: 45 * MIN, users: ['alice'], grants: 2 });
    expect(find(r, at(10), '-')).toMatchObject({ peak: 1, seatMs: 45 * MIN, users: ['alice'] });
  });

  it('a waiter and a shared-seat holder enter the next hour even though they hold no seat', () => {
    const shared = lease('B', 'bob', 'ops', { shared: true, type: 'named' });
    const r = run(
      records(
        [at(10), { t: 'start', version: '1', features: [{ name: 'cad', seats: 1 }], leases: [shared] }],
        [at(10, 50), { t: 'queue', ...waiter('T', 'erin', 2, 'qa'), position: 1 }],
        [
          at(11, 10),
          { t: 'dequeue', ...waiter('T', 'erin', 2, 'qa'), reason: 'cancelled', waitedMs: 20 * MIN },
        ],
      ),
      at(12),
    );
    expect(find(r, at(11), 'qa')).toMatchObject({
      peak: 0,
      seatMs: 0,
      queueEntries: 0,
      longestQueue: 1,
      waits: [20 * MIN],
    });
    expect(find(r, at(11), 'ops')).toMatchObject({ peak: 0, users: ['bob'] });
    expect(find(r, at(11), '*')).toMatchObject({ longestQueue: 1, users: ['bob'] });
    expect(find(r, at(11), '*')?.demand).toEqual({ 0: 50 * MIN, 2: 10 * MIN });
  });

  it('a lease released exactly at the hour is not in the next hour; a stop at the hour opens none', () => {
    const a = lease('A', 'alice');
    const b = lease('B', 'bob');
    const recs = records(
      [at(10), { t: 'start', version: '1', features: [{ name: 'cad', seats: 2 }], leases: [a, b] }],
      [at(11), release(a)],
      [at(12), { t: 'stop' }],
    );
    const r = run(recs, at(13));
    expect(find(r, at(10), '*')).toMatchObject({ peak: 2, seatMs: 120 * MIN, users: ['alice', 'bob'] });
    expect(find(r, at(11), '*')).toMatchObject({ peak: 1, seatMs: 60 * MIN, users: ['bob'] });
    expect(find(r, at(12), '*')).toBeUndefined();
    // The same when the hour was read exactly at the boundary first.
    const read = new UsageRollups();
    for (const rec of recs) {
      read.advance(rec.ts);
      read.apply(rec);
    }
    read.advance(at(13));
    expect(read.buckets()).toEqual(r.buckets());
  });

  it('counts a lease of several seats by its count', () => {
    const big = lease('A', 'alice', 'eng', { count: 3 });
    const r = run(
      records(
        [at(10), { t: 'start', version: '1', features: [{ name: 'cad', seats: 5 }], leases: [big] }],
        [at(10, 20), release(big)],
      ),
      at(11),
    );
    expect(find(r, at(10), '*')).toMatchObject({ peak: 3, seatMs: 60 * MIN, users: ['alice'], grants: 0 });
    expect(find(r, at(10), '*')?.demand).toEqual({ 0: 40 * MIN, 3: 20 * MIN });
  });

  it('a start without a stop (a crash) closes the integral at the start; after a stop nothing accrues', () => {
    const big = lease('A', 'alice', undefined, { count: 2 });
    const start = (leases: AuditLease[]): AuditEvent => ({
      t: 'start',
      version: '1',
      features: [{ name: 'cad', seats: 5 }],
      leases,
    });
    const crashed = run(records([at(10), start([big])], [at(10, 30), start([])]), at(11));
    // The seats were held until the restart at 10:30: 2 × 30 min.
    expect(find(crashed, at(10), '*')).toMatchObject({ peak: 2, seatMs: 60 * MIN });
    expect(find(crashed, at(10), '*')?.demand).toEqual({ 0: 30 * MIN, 2: 30 * MIN });
    const stopped = run(
      records([at(10), start([big])], [at(10, 20), { t: 'stop' }], [at(10, 30), start([])]),
      at(11),
    );
    // Stopped at 10:20: 2 × 20 min, then nothing until 10:30, then 0 in use.
    expect(find(stopped, at(10), '*')).toMatchObject({ peak: 2, seatMs: 40 * MIN });
    expect(find(stopped, at(10), '*')?.demand).toEqual({ 0: 30 * MIN, 2: 20 * MIN });
    // A stopped daemon accrues nothing when read later, and opens no new hours.
    const down = run(records([at(10), start([big])], [at(10, 20), { t: 'stop' }]), at(15));
    expect(down.buckets().map((b) => b.hour)).toEqual([at(10), at(10)]);
  });

  it('books a record with an earlier time than the last one at the last time', () => {
    const r = run(
      records(
        [at(10, 30), { t: 'start', version: '1', features: [{ name: 'cad', seats: 5 }], leases: [] }],
        [at(10, 40), grant(lease('A', 'alice'))],
        [at(10, 20), release(lease('A', 'alice'))], // the wall clock stepped back
      ),
      at(11),
    );
    expect(find(r, at(10), '*')).toMatchObject({ peak: 1, seatMs: 0 });
  });

  it('skips records it has applied already (seq not above lastSeq)', () => {
    const r = new UsageRollups();
    for (const rec of SCENARIO) expect(r.apply(rec)).toBe(true);
    for (const rec of SCENARIO) expect(r.apply(rec)).toBe(false);
    r.advance(READ_AT);
    expect(r.toJSON()).toEqual(run(SCENARIO).toJSON());
  });

  it('toJSON/fromJSON at any point, then continuing, gives the same as running straight through', () => {
    const straight = JSON.stringify(run(SCENARIO));
    for (let k = 0; k <= SCENARIO.length; k++) {
      const first = new UsageRollups();
      for (const rec of SCENARIO.slice(0, k)) first.apply(rec);
      // Through text and the file check, as usage.json goes.
      const resumed = UsageRollups.fromJSON(checkUsageJSON(JSON.parse(JSON.stringify(first))));
      expect(resumed.lastSeq).toBe(k);
      for (const rec of SCENARIO.slice(k)) resumed.apply(rec);
      resumed.advance(READ_AT);
      expect(JSON.stringify(resumed), `saved after ${k} records`).toBe(straight);
    }
  });

  it('rebuilding from the same records gives identical buckets, however often it was advanced', () => {
    const once = run(SCENARIO);
    const again = run(SCENARIO);
    expect(again.buckets()).toEqual(once.buckets());
    // A daemon reads its current hour now and then (advance): that splits no numbers.
    const read = new UsageRollups();
    for (const rec of SCENARIO) {
      read.advance(rec.ts - 7 * MIN);
      read.apply(rec);
      read.advance(rec.ts);
    }
    read.advance(READ_AT);
    expect(read.buckets()).toEqual(once.buckets());
  });

  it('keeps at most WAIT_SAMPLE_CAP waits, every stride-th, deterministically', () => {
    const r = new UsageRollups();
    const recs = records(
      [at(10), { t: 'start', version: '1', features: [{ name: 'cad', seats: 1 }], leases: [] }],
      ...Array.from({ length: 2500 }, (_, i): [number, AuditEvent] => [
        at(10, 30),
        { t: 'dequeue', ...waiter(`T${i}`, 'u', 1), reason: 'timeout', waitedMs: i },
      ]),
    );
    for (const rec of recs) r.apply(rec);
    const b = find(r, at(10), '*')!;
    expect(b.waitCount).toBe(2500);
    // Full at 1000 (stride 1 → 2), again at 2000 waits (stride 2 → 4): waits 0, 4, ..., 2496 remain.
    expect(b.waitStride).toBe(4);
    expect(b.waits.length).toBeLessThanOrEqual(WAIT_SAMPLE_CAP);
    expect(b.waits).toEqual(Array.from({ length: 625 }, (_, i) => i * 4));
    // Each kept wait stands for 4: the median is 1248 (exact: 1249), the 95th 2372 (exact: 2374).
    expect(waitPercentile([b], 0.5)).toBe(1248);
    expect(waitPercentile([b], 0.95)).toBe(2372);
  });

  it('prune drops the buckets whose hour ended at least the retention ago (default 400 days)', () => {
    const r = run(SCENARIO);
    const hours = () => [...new Set(r.buckets().map((b) => b.hour))];
    expect(r.prune(at(0, 0, 1) + 400 * DAY_MS)).toBe(6); // the hours 22 and 23 of the first day
    expect(hours()).toEqual([at(0, 0, 1), at(1, 0, 1), at(2, 0, 1)]);
    expect(r.prune(at(2, 0, 1) - 1, HOUR_MS)).toBe(0); // hour 00 ended a minute less than an hour ago
    expect(r.prune(at(2, 0, 1), HOUR_MS)).toBe(2); // now an hour ago: its '*' and eng buckets go
    expect(hours()).toEqual([at(1, 0, 1), at(2, 0, 1)]);
    // The live state survives a prune: the next hour goes on from it.
    r.advance(at(3, 0, 1));
    expect(find(r, at(2, 0, 1), '*')).toMatchObject({ seatMs: 2 * 60 * MIN, peak: 2 });
  });
});
