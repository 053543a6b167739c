/**
 * What is remembered of ended leases (lease-tombstones.ts EndedLeases): one record per ended lease
 * in one bounded cache, its request key found through a per-session index, each bound kept on its
 * own; and the cheaper paths of a checkout + checkin cycle (issue 8) that must answer as before.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { LeaseEngine } from '../../src/engine/engine.js';
import { EventQueue } from '../../src/engine/event-queue.js';
import { toJournalRecord } from '../../src/engine/journal-records.js';
import { createPooledRandom, isPooledRandom, uniqueHexId } from '../../src/engine/random-ids.js';
import { harness, identity, TTL, thrown } from './fixtures.js';

const CAD = { name: 'cad', seats: 10, model: 'concurrent' } as const;

/** Checks a lease out with `key` (or none) and checks it in; returns the lease. */
function cycle(h: ReturnType<typeof harness>, session: string, key?: string) {
  const lease = h.engine.checkout(session, {
    feature: 'cad',
    count: 1,
    ...(key === undefined ? {} : { key }),
  });
  h.engine.checkin(session, lease.id, lease.fencing);
  return lease;
}

describe('ended leases', () => {
  it('forgets the oldest tombstones beyond their bound: a late checkin is then LEASE_NOT_FOUND', () => {
    const h = harness([CAD], { endedLeaseCacheSize: 2 });
    const id = h.open();
    const [first, second, third] = [cycle(h, id), cycle(h, id), cycle(h, id)];
    expect(h.engine.checkin(id, third!.id, third!.fencing)).toEqual({ released: false });
    expect(h.engine.checkin(id, second!.id, second!.fencing)).toEqual({ released: false });
    expect(thrown(() => h.engine.checkin(id, first!.id, first!.fencing)).code).toBe('LEASE_NOT_FOUND');
  });

  it('keeps a key past its tombstone while within the key bound: the retry is still refused', () => {
    const h = harness([CAD], { endedLeaseCacheSize: 1, requestKeyCacheSize: 10 });
    const id = h.open();
    const keyed = cycle(h, id, 'k');
    for (let i = 0; i < 3; i++) cycle(h, id); // unkeyed ends push the tombstone out
    const error = thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1, key: 'k' }));
    expect(error.code).toBe('KEY_CONFLICT');
    expect(error.message).toMatch(/which has ended/);
    expect(error.details).toMatchObject({ key: 'k', lease: keyed.id });
    expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 2, key: 'k' })).details).toMatchObject(
      {
        lease: keyed.id,
        count: 1,
      },
    );
  });

  it('counts the key bound in keyed ends only: unkeyed ends do not push a key out', () => {
    const h = harness([CAD], { requestKeyCacheSize: 2 });
    const id = h.open();
    cycle(h, id, 'a');
    for (let i = 0; i < 5; i++) cycle(h, id);
    expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1, key: 'a' })).code).toBe(
      'KEY_CONFLICT',
    );
    cycle(h, id, 'b');
    cycle(h, id, 'c');
    // 'a' is now the third most recent keyed end: forgotten, so its key makes a new checkout.
    const again = h.engine.checkout(id, { feature: 'cad', count: 1, key: 'a' });
    expect(h.engine.lease(again.id)).toBeDefined();
    expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1, key: 'b' })).code).toBe(
      'KEY_CONFLICT',
    );
  });

  it('remembers keys per session: another session with the same key gets its own lease', () => {
    const h = harness([CAD]);
    const a = h.open('a');
    const b = h.open('b');
    cycle(h, a, 'same');
    const other = h.engine.checkout(b, { feature: 'cad', count: 1, key: 'same' });
    expect(other.sessionId).toBe(b);
    expect(h.engine.checkout(b, { feature: 'cad', count: 1, key: 'same' }).id).toBe(other.id);
  });

  it('answers a reclaimed lease by its ending, from its key and from its id', () => {
    const h = harness([CAD]);
    const id = h.open();
    const lease = h.engine.checkout(id, { feature: 'cad', count: 1, key: 'r' });
    h.engine.revoke(lease.id, 'admin');
    expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1, key: 'r' })).code).toBe(
      'LEASE_REVOKED',
    );
    expect(thrown(() => h.engine.checkin(id, lease.id, lease.fencing)).code).toBe('LEASE_REVOKED');
    expect(h.engine.heartbeat(id, { leases: [{ lease: lease.id, fencing: lease.fencing }] }).lost).toEqual([
      { lease: lease.id, code: 'LEASE_REVOKED' },
    ]);
  });

  it('refuses a checkin under another session or token as before', () => {
    const h = harness([CAD]);
    const a = h.open('a');
    const b = h.open('b');
    const lease = h.engine.checkout(a, { feature: 'cad', count: 1 });
    expect(thrown(() => h.engine.checkin(b, lease.id, lease.fencing)).code).toBe('LEASE_NOT_FOUND');
    expect(thrown(() => h.engine.checkin(a, lease.id, lease.fencing + 1)).code).toBe('LEASE_REVOKED');
    expect(h.engine.checkin(a, lease.id, lease.fencing)).toEqual({ released: true });
  });
});

describe('a checkout + checkin cycle', () => {
  it('returns the view its granted event carries, and a fresh one when nobody listens', () => {
    const h = harness([CAD]);
    const id = h.open();
    const lease = h.engine.checkout(id, { feature: 'cad', count: 1, key: 'v' });
    expect(h.eventsOf('granted').at(-1)?.lease).toEqual(lease);
    expect(h.engine.checkout(id, { feature: 'cad', count: 1, key: 'v' })).toEqual(lease);

    const quiet = new LeaseEngine({ clock: new ManualClock(), leaseTtlMs: TTL, features: [CAD] });
    const session = quiet.openSession(identity()).sessionId;
    const view = quiet.checkout(session, { feature: 'cad', count: 1 });
    expect(view).toEqual(quiet.lease(view.id));
  });

  it('with the default random source, hands out 32-hex lease ids, all distinct', () => {
    const engine = new LeaseEngine({ clock: new ManualClock(), leaseTtlMs: TTL, features: [CAD] });
    const session = engine.openSession(identity()).sessionId;
    const ids = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const lease = engine.checkout(session, { feature: 'cad', count: 1, key: `k${i}` });
      expect(lease.id).toMatch(/^[0-9a-f]{32}$/);
      ids.add(lease.id);
      engine.checkin(session, lease.id, lease.fencing);
    }
    expect(ids.size).toBe(500);
  });
});

describe('journal records of grants', () => {
  it('have the same fields in the same order whichever way they are built', () => {
    const h = harness(
      [CAD, { name: 'lab', seats: 4, model: 'concurrent', groupRules: [{ group: 'eng', max: 3 }] }],
      { directory: { users: [], groups: [{ name: 'eng', users: ['alice'] }] } },
    );
    const id = h.open('alice');
    const keyed = h.engine.checkout(id, { feature: 'cad', count: 2, key: 'k' });
    h.engine.checkout(id, { feature: 'cad', count: 1 });
    h.engine.checkout(id, { feature: 'lab', count: 1 });
    const records = h.eventsOf('granted').map((event) => toJournalRecord('granted', event));
    expect(records.map((record) => Object.keys(record ?? {}))).toEqual([
      ['t', 'id', 's', 'f', 'n', 'fe', 'k', 'ty'],
      ['t', 'id', 's', 'f', 'n', 'fe', 'ty'],
      ['t', 'id', 's', 'f', 'n', 'fe', 'ty', 'gr'],
    ]);
    expect(records[0]).toEqual({
      t: 'g',
      id: keyed.id,
      s: id,
      f: 'cad',
      n: 2,
      fe: keyed.fencing,
      k: 'k',
      ty: 'c',
    });
    expect(records[2]).toMatchObject({ f: 'lab', ty: 'c', gr: 'eng' });
  });
});

describe('the pooled random source', () => {
  it('hands out hex and buffers from one pool, never the same bytes twice', () => {
    const random = createPooledRandom();
    expect(isPooledRandom(random)).toBe(true);
    expect(isPooledRandom((bytes) => Buffer.alloc(bytes))).toBe(false);
    const seen = new Set<string>();
    // 16 and 32 bytes, interleaved, across several refills of the 4 KiB pool.
    for (let i = 0; i < 1_000; i++) {
      const hex = i % 3 === 0 ? random(32).toString('hex') : random.hex(16);
      expect(hex).toMatch(i % 3 === 0 ? /^[0-9a-f]{64}$/ : /^[0-9a-f]{32}$/);
      expect(seen.has(hex)).toBe(false);
      seen.add(hex);
    }
    expect(random.hex(5_000)).toHaveLength(10_000);
  });

  it('still retries a taken id', () => {
    const random = createPooledRandom();
    const taken = new Set<string>();
    let asked = 0;
    const id = uniqueHexId(random, (candidate) => {
      asked++;
      if (asked < 3) {
        taken.add(candidate);
        return true;
      }
      return false;
    });
    expect(asked).toBe(3);
    expect(taken.has(id)).toBe(false);
  });
});

describe('the event queue', () => {
  it('delivers each event to the listeners there when its delivery starts, each listener once', () => {
    const events = new EventQueue<{ a: number; b: number }>();
    const seen: string[] = [];
    const late = (n: number) => seen.push(`late b${n}`);
    const once = (n: number) => seen.push(`once a${n}`);
    events.on('a', once);
    events.on('a', once);
    events.on('a', (n) => {
      seen.push(`first a${n}`);
      events.on('b', late);
      events.off('a', once);
    });
    events.on('b', (n) => seen.push(`b${n}`));
    events.queue('a', 1);
    events.queue('b', 2);
    events.queue('a', 3);
    expect(events.deliver()).toEqual([]);
    expect(seen).toEqual(['once a1', 'first a1', 'b2', 'late b2', 'first a3']);
    expect(events.deliver()).toEqual([]);
  });

  it('delivers events queued by a listener after the current ones, and reports failures', () => {
    const events = new EventQueue<{ a: number; b: number }>();
    const seen: number[] = [];
    events.on('a', (n) => {
      seen.push(n);
      if (n === 1) events.queue('b', 10);
      throw new Error(`a${n}`);
    });
    events.on('b', (n) => seen.push(n));
    events.queue('a', 1);
    events.queue('a', 2);
    const failures = events.deliver();
    expect(seen).toEqual([1, 2, 10]);
    expect(failures.map((f) => (f.error as Error).message)).toEqual(['a1', 'a2']);
    events.queue('b', 11);
    expect(events.deliver()).toEqual([]);
    expect(seen).toEqual([1, 2, 10, 11]);
  });
});
