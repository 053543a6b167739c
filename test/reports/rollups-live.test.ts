/**
 * Issue 8: the rollups' live state is counts per feature × group × user, not a copy of every lease
 * (a million may be held), so usage.json and the daemon's memory grow with users, not leases. The
 * edge cases a lease map used to absorb (an end the trail never saw begin, an id granted twice, a
 * start with and without its list) stay deterministic, and a version 1 usage.json still loads.
 */
import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditLease } from '../../src/reports/audit-events.js';
import {
  HOUR_MS,
  type HourBucket,
  type UsageRecord,
  UsageRollups,
  type UsageRollupsJSON,
  type UsageRollupsV1JSON,
} from '../../src/reports/rollups.js';
import { checkUsageJSON } from '../../src/reports/usage-store.js';
import { auditLease } from './fixtures.js';

const MIN = 60_000;
const T0 = Date.UTC(2025, 5, 2, 9); // 2025-06-02T09:00Z

const lease = auditLease;

const start = (leases?: AuditLease[], seats = 10): AuditEvent => ({
  t: 'start',
  version: '1',
  features: [{ name: 'cad', seats }],
  ...(leases === undefined ? { leaseCount: 20_000 } : { leaseCount: leases.length, leases }),
});
const grant = (l: AuditLease): AuditEvent => ({ t: 'grant', ...l, session: 's', fencing: 1 });
const release = (l: AuditLease): AuditEvent => ({ t: 'release', ...l });
const erin = { ticket: 'T', feature: 'cad', user: 'erin', host: 'ws', count: 2, group: 'eng' };

/** Numbers the events in order, one minute apart from `from`. */
function records(events: readonly AuditEvent[], from = T0): UsageRecord[] {
  return events.map((e, i) => ({ ...e, seq: i + 1, ts: from + i * MIN }) as UsageRecord);
}

function run(recs: readonly UsageRecord[], until?: number): UsageRollups {
  const r = new UsageRollups();
  for (const rec of recs) r.apply(rec);
  if (until !== undefined) r.advance(until);
  return r;
}

/** Through text and the file check, as usage.json goes. */
const reload = (doc: unknown) => UsageRollups.fromJSON(checkUsageJSON(JSON.parse(JSON.stringify(doc))));

const holders = (r: UsageRollups) => r.toJSON().live.holders;
const total = (r: UsageRollups, hour = T0) => r.buckets({ fromMs: hour, toMs: hour + 1, group: '*' })[0];

describe('the live state of the rollups', () => {
  it('is counts: 10,000 leases of 3 users are at most 3 holders per group in usage.json', () => {
    const users = ['alice', 'bob', 'carol'];
    const events: AuditEvent[] = [start([])];
    for (let i = 0; i < 10_000; i++) {
      // Every 4th lease has no group, and every 5th joins a seat its user holds (shared).
      events.push(
        grant(lease(`L${i}`, users[i % 3]!, i % 4 === 0 ? undefined : 'eng', { shared: i % 5 === 4 })),
      );
    }
    const r = run(events.map((e, i) => ({ ...e, seq: i + 1, ts: T0 }) as UsageRecord));
    const doc = r.toJSON();
    expect(doc.version).toBe(2);
    const perGroup = new Map<string, number>();
    for (const h of doc.live.holders) perGroup.set(h.group, (perGroup.get(h.group) ?? 0) + 1);
    expect(Object.fromEntries(perGroup)).toEqual({ '-': 3, eng: 3 });
    expect(doc.live).not.toHaveProperty('leases');
    // 10,000 leases, 2,000 of them shared (no seat): 8,000 seats.
    const sum = (k: 'leases' | 'seats') => doc.live.holders.reduce((s, h) => s + h[k], 0);
    expect(sum('leases')).toBe(10_000);
    expect(sum('seats')).toBe(8_000);
    expect(doc.live.holders.find((h) => h.group === 'eng' && h.user === 'alice')).toEqual({
      feature: 'cad',
      group: 'eng',
      user: 'alice',
      leases: 2500,
      seats: 2000,
    });
    expect(JSON.stringify(doc.live).length).toBeLessThan(1000);
    expect(total(r)).toMatchObject({ peak: 8000, grants: 10_000, users });
    // Reloaded, the counts go on: releasing every lease leaves nothing held.
    const loaded = reload(doc);
    let seq = r.lastSeq;
    for (let i = 0; i < 10_000; i++) {
      const l = lease(`L${i}`, users[i % 3]!, i % 4 === 0 ? undefined : 'eng', { shared: i % 5 === 4 });
      loaded.apply({ ...release(l), seq: ++seq, ts: T0 + 10 * MIN } as UsageRecord);
    }
    expect(holders(loaded)).toEqual([]);
    loaded.advance(T0 + 20 * MIN);
    expect(total(loaded)?.seatMs).toBe(8000 * 10 * MIN);
  });

  it('reads a version 1 usage.json (every lease listed) by counting its leases, and goes on from it', () => {
    const A = lease('A', 'alice', 'eng', { count: 2 });
    const B = lease('B', 'alice', 'eng', { shared: true, type: 'named' });
    const C = lease('C', 'bob');
    const recs = records([
      start([]),
      grant(A),
      grant(B),
      grant(C),
      { t: 'queue', ...erin, position: 1 },
      release(A),
      { t: 'dequeue', ...erin, reason: 'timeout', waitedMs: 3 * MIN },
      release(C),
      release(B),
      { t: 'stop' },
    ]);
    const straight = JSON.stringify(run(recs, T0 + HOUR_MS));
    // usage.json as the daemon wrote it before issue 8, after the queue entry: A, B, C held.
    const early = run(recs.slice(0, 5)).toJSON();
    const { holders: counted, ...live } = early.live;
    expect(counted).toEqual([
      { feature: 'cad', group: '-', user: 'bob', leases: 1, seats: 1 },
      { feature: 'cad', group: 'eng', user: 'alice', leases: 2, seats: 2 },
    ]);
    const v1: UsageRollupsV1JSON = { ...early, version: 1, live: { ...live, leases: [A, B, C] } };
    const loaded = reload(v1);
    expect(loaded.toJSON()).toEqual(early);
    for (const rec of recs.slice(5)) loaded.apply(rec);
    loaded.advance(T0 + HOUR_MS);
    expect(JSON.stringify(loaded)).toBe(straight);
    expect(loaded.toJSON().version).toBe(2);
  });

  it('rejects holders that could not have been saved', () => {
    const doc = run(records([start([]), grant(lease('A', 'alice'))])).toJSON();
    const withHolder = (h: object) => ({
      ...doc,
      live: { ...doc.live, holders: [{ ...doc.live.holders[0], ...h }] },
    });
    expect(() => checkUsageJSON(withHolder({}))).not.toThrow();
    expect(() => checkUsageJSON(withHolder({ leases: 0 }))).toThrow(/live\.holders\[0\]\.leases/);
    expect(() => checkUsageJSON(withHolder({ leases: 1.5 }))).toThrow(/live\.holders\[0\]\.leases/);
    expect(() => checkUsageJSON(withHolder({ seats: -1 }))).toThrow(/live\.holders\[0\]\.seats/);
    expect(() => checkUsageJSON(withHolder({ group: '*' }))).toThrow(/live\.holders\[0\]\.group/);
    expect(() => checkUsageJSON(withHolder({ user: 7 }))).toThrow(/live\.holders\[0\]\.user is not a string/);
    expect(() => checkUsageJSON({ ...doc, live: { ...doc.live, holders: undefined } })).toThrow(
      /live\.holders is not a list/,
    );
  });

  it('an end the counts never saw begin takes nothing from a user who holds nothing there', () => {
    // The trail starts mid-stream (older files pruned): bob's X and alice's Y were granted before it.
    const A = lease('A', 'alice', 'eng');
    const recs = records([
      grant(A),
      release(lease('X', 'bob', 'eng')),
      release(lease('Y', 'alice')), // no group: alice holds nothing counted there
      release(lease('Z', 'alice', 'ops')),
    ]);
    const without = run([recs[0]!], T0 + 10 * MIN);
    const r = run(recs, T0 + 10 * MIN);
    expect(holders(r)).toEqual([{ feature: 'cad', group: 'eng', user: 'alice', leases: 1, seats: 1 }]);
    expect(r.buckets()).toEqual(without.buckets());
    expect(total(r)).toMatchObject({ peak: 1, seatMs: 10 * MIN });
  });

  it('never counts below zero: a user whose last counted lease ends holds nothing, whatever ended', () => {
    const A = lease('A', 'alice', undefined, { count: 2 });
    const B = lease('B', 'alice');
    const r = run(
      records([
        grant(A),
        grant(B), // alice: 2 leases, 3 seats
        release(lease('Q', 'alice', undefined, { count: 5 })), // never counted: 1 lease, at most her 3 seats
        release(lease('S', 'alice', undefined, { shared: true })), // never counted, her last: 0 left
        release(A), // counted, but nothing is left to take
        release(B),
        release(B), // twice
        grant(lease('C', 'carol')),
      ]),
      T0 + 10 * MIN,
    );
    expect(holders(r)).toEqual([{ feature: 'cad', group: '-', user: 'carol', leases: 1, seats: 1 }]);
    // 2 seats at 09:00, 3 at 09:01, none from Q's end at 09:02 (nothing live from 09:03, when
    // alice's last lease went) until carol's grant at 09:07, then 1.
    expect(total(r)).toMatchObject({ peak: 3, seatMs: 2 * MIN + 3 * MIN + 3 * MIN });
    expect(total(r)?.demand).toEqual({ 0: 1 * MIN, 1: 3 * MIN, 2: 1 * MIN, 3: 1 * MIN });
  });

  it('a grant of an id already held counts one more lease; a start that lists the leases resets the counts', () => {
    // The engine never grants an id twice; a trail that does is counted as it reads.
    const A = lease('A', 'alice', 'eng');
    const r = run(records([start([]), grant(A), grant(A), start([A])]), T0 + 10 * MIN);
    expect(total(r)).toMatchObject({ peak: 2, grants: 2 });
    expect(holders(r)).toEqual([{ feature: 'cad', group: 'eng', user: 'alice', leases: 1, seats: 1 }]);
    // 1 seat from 09:01, 2 from 09:02 until the start at 09:03, then 1.
    expect(total(r)?.seatMs).toBe(1 * MIN + 2 * MIN + 7 * MIN);
  });

  it('a start without a list keeps the counts and drops the waiters; one with a list replaces them', () => {
    const A = lease('A', 'alice', 'eng', { count: 2 });
    const B = lease('B', 'bob');
    const before = [start([]), grant(A), grant(B), { t: 'queue', ...erin, position: 1 } as AuditEvent];
    // A crash (no stop), then a large restart: no list.
    const kept = run(records([...before, start()]));
    expect(holders(kept)).toEqual(holders(run(records(before))));
    expect(kept.toJSON().live.waiters).toEqual([]);
    // The restart's hour shows the kept holders; the waiter left no queue behind.
    kept.advance(T0 + 10 * MIN);
    const after = kept.buckets({ fromMs: T0, toMs: T0 + 1, group: 'eng' })[0];
    expect(after).toMatchObject({ peak: 2, users: ['alice'], longestQueue: 1 });
    // Demand (in use + waited for): erin's 2 seats only from 09:03 until the restart at 09:04.
    expect(total(kept)?.demand).toEqual({ 0: 1 * MIN, 2: 1 * MIN, 3: 7 * MIN, 5: 1 * MIN });
    // The same as a start that lists what the trail left held.
    expect(kept.buckets()).toEqual(run(records([...before, start([A, B])]), T0 + 10 * MIN).buckets());
    // Listed: the counts are what it lists.
    const listed = run(records([...before, start([B])]));
    expect(holders(listed)).toEqual([{ feature: 'cad', group: '-', user: 'bob', leases: 1, seats: 1 }]);
  });
});

// --- a generated trail full of oddities ---

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A trail that starts mid-stream and holds what a real one can and a bad one might: grants,
 * releases of held and of unknown leases, ends repeated, ids granted twice, queues, stops, starts
 * with and without their list, clock steps back, hours crossed.
 */
function oddTrail(seed: number, length: number): UsageRecord[] {
  const next = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const held: AuditLease[] = [];
  const ended: AuditLease[] = [];
  const waiting: (typeof erin)[] = [];
  const events: AuditEvent[] = [];
  let id = 0;
  for (let i = 0; i < length; i++) {
    const roll = next();
    if (roll < 0.35) {
      const l = lease(`L${id++}`, pick(['alice', 'bob', 'carol']), pick([undefined, 'eng', 'ops']), {
        count: pick([1, 1, 2, 3]),
        shared: next() < 0.2,
      });
      held.push(l);
      events.push(grant(l));
    } else if (roll < 0.6 && held.length > 0) {
      const [l] = held.splice(Math.floor(next() * held.length), 1);
      ended.push(l!);
      events.push(next() < 0.5 ? release(l!) : { t: 'reclaim', ...l!, reason: 'expired' });
    } else if (roll < 0.66) {
      events.push(release(lease(`U${i}`, pick(['alice', 'dave']), pick([undefined, 'eng']), { count: 2 })));
    } else if (roll < 0.69 && ended.length > 0) {
      events.push(release(pick(ended)));
    } else if (roll < 0.71 && held.length > 0) {
      events.push(grant(pick(held)));
    } else if (roll < 0.8) {
      const w = { ...erin, ticket: `T${i}`, user: pick(['erin', 'fred']), group: pick(['eng', 'qa']) };
      waiting.push(w);
      events.push({ t: 'queue', ...w, position: waiting.length });
    } else if (roll < 0.88 && waiting.length > 0) {
      const [w] = waiting.splice(0, 1);
      events.push({ t: 'dequeue', ...w!, reason: 'timeout', waitedMs: Math.floor(next() * 9 * MIN) });
    } else if (roll < 0.91) {
      events.push({ t: 'stop' });
      waiting.length = 0;
    } else if (roll < 0.95) {
      events.push(
        next() < 0.5
          ? start()
          : start(
              held.filter(() => next() < 0.9),
              pick([2, 10]),
            ),
      );
      waiting.length = 0;
    } else {
      events.push({ t: 'seats', feature: 'cad', seats: pick([0, 3, 10]) });
    }
  }
  let ts = T0 - 20 * MIN;
  return events.map((e, i) => {
    ts += next() < 0.05 ? -5 * MIN : Math.floor(next() * 7 * MIN);
    return { ...e, seq: i + 1, ts } as UsageRecord;
  });
}

function checkCounts(r: UsageRollups, what: string): void {
  const doc: UsageRollupsJSON = r.toJSON();
  for (const h of doc.live.holders) {
    expect(Number.isInteger(h.leases) && h.leases >= 1, `${what}: ${JSON.stringify(h)}`).toBe(true);
    expect(h.seats, `${what}: ${JSON.stringify(h)}`).toBeGreaterThanOrEqual(0);
  }
  // The total is the sum of its groups, hour by hour.
  const byHour = new Map<number, HourBucket[]>();
  for (const b of r.buckets()) byHour.set(b.hour, [...(byHour.get(b.hour) ?? []), b]);
  for (const [hour, bs] of byHour) {
    const star = bs.find((b) => b.group === '*');
    const groups = bs.filter((b) => b.group !== '*');
    const where = `${what}: hour ${new Date(hour).toISOString()}`;
    expect(star, where).toBeDefined();
    expect(star!.seatMs, where).toBe(groups.reduce((s, b) => s + b.seatMs, 0));
    expect(star!.peak, where).toBeGreaterThanOrEqual(Math.max(0, ...groups.map((b) => b.peak)));
    for (const b of groups) expect(star!.users, where).toEqual(expect.arrayContaining([...b.users]));
  }
}

describe('a trail full of oddities', () => {
  it.each([1, 2, 3, 4, 5, 6])(
    'seed %i: no count below zero, the total is its groups, saved anywhere it goes on the same',
    (seed) => {
      const recs = oddTrail(seed, 400);
      const end = recs[recs.length - 1]!.ts + HOUR_MS;
      const straight = run(recs, end);
      checkCounts(straight, 'straight');
      const text = JSON.stringify(straight);
      expect(JSON.stringify(run(recs, end))).toBe(text);
      const r = new UsageRollups();
      recs.forEach((rec, k) => {
        r.apply(rec);
        if (k % 25 !== 0) return;
        checkCounts(r, `after ${k + 1} records`);
        const resumed = reload(r);
        for (const later of recs.slice(k + 1)) resumed.apply(later);
        resumed.advance(end);
        expect(JSON.stringify(resumed), `saved after ${k + 1} records`).toBe(text);
      });
    },
  );
});
