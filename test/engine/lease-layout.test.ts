/**
 * The compact lease layout (DESIGN §7): a lease that shares its seats with nobody has no SeatClaim
 * until another lease joins it, a session files its leases and waiters by request key (the bounded
 * key cache holds only keys of ended leases), and none of it may change what the engine answers.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { type EngineOptions, LeaseEngine } from '../../src/engine/engine.js';
import { FeaturePool } from '../../src/engine/feature-pool.js';
import { type JournalRecord, toJournalRecord } from '../../src/engine/journal-records.js';
import { KeyedRecords } from '../../src/engine/keyed-records.js';
import { LeaseRecord } from '../../src/engine/lease-record.js';
import type { PoolLeases } from '../../src/engine/pool-leases.js';
import { copyIdentity, SessionRecord } from '../../src/engine/session-record.js';
import type { EngineEventName, FeatureConfig } from '../../src/engine/types.js';
import { ALL_EVENTS, countingRandom, harness, identity, TTL, thrown } from './fixtures.js';

const CAD: FeatureConfig = { name: 'cad', seats: 4, model: 'concurrent' };

function inUse(engine: LeaseEngine, feature = 'cad'): number | undefined {
  return engine.featureStatus(feature)[0]?.inUse;
}

describe('request keys', () => {
  it('answers the key of an ended lease however many held leases carry keys', () => {
    const h = harness([{ ...CAD, seats: 10 }], { requestKeyCacheSize: 2 });
    const id = h.open();
    const ended = h.engine.checkout(id, { feature: 'cad', count: 1, key: 'old' });
    h.engine.checkin(id, ended.id, ended.fencing);
    // Held leases' keys take no room in the cache: it still has the ended one.
    for (let i = 0; i < 6; i++) h.engine.checkout(id, { feature: 'cad', count: 1, key: `held${i}` });
    expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1, key: 'old' })).code).toBe(
      'KEY_CONFLICT',
    );
    expect(inUse(h.engine)).toBe(6);
  });

  it('forgets the oldest ended keys beyond the bound: their key then makes a new checkout', () => {
    const h = harness([{ ...CAD, seats: 10 }], { requestKeyCacheSize: 2 });
    const id = h.open();
    const ids: string[] = [];
    for (const key of ['a', 'b', 'c']) {
      const lease = h.engine.checkout(id, { feature: 'cad', count: 1, key });
      ids.push(lease.id);
      h.engine.checkin(id, lease.id, lease.fencing);
    }
    const again = h.engine.checkout(id, { feature: 'cad', count: 1, key: 'a' });
    expect(ids).not.toContain(again.id);
    expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1, key: 'c' })).code).toBe(
      'KEY_CONFLICT',
    );
  });

  it('answers a held key with KEY_CONFLICT when the retry asks for something else', () => {
    const h = harness([CAD, { name: 'lab', seats: 2, model: 'concurrent' }], { requestKeyCacheSize: 1 });
    const id = h.open();
    const held = h.engine.checkout(id, { feature: 'cad', count: 1, key: 'k' });
    h.engine.checkout(id, { feature: 'cad', count: 1, key: 'other' });
    const error = thrown(() => h.engine.checkout(id, { feature: 'lab', count: 1, key: 'k' }));
    expect(error.code).toBe('KEY_CONFLICT');
    expect(error.details).toMatchObject({ lease: held.id, feature: 'cad', count: 1 });
    expect(h.engine.checkout(id, { feature: 'cad', count: 1, key: 'k' })).toEqual(held);
  });

  it('finds held leases by key after a restore, whatever the cache size', () => {
    const clock = new ManualClock(1_000);
    const options: EngineOptions = {
      clock,
      leaseTtlMs: TTL,
      features: [{ ...CAD, seats: 50 }],
      random: countingRandom(),
      requestKeyCacheSize: 1,
    };
    const engine = new LeaseEngine(options);
    const { sessionId, resumeToken } = engine.openSession(identity());
    const leases = Array.from({ length: 20 }, (_, i) =>
      engine.checkout(sessionId, { feature: 'cad', count: 1, key: `k${i}` }),
    );
    const restored = LeaseEngine.restore({ ...options, random: countingRandom() }, engine.exportState(), [], {
      graceMs: 60_000,
    });
    restored.resumeSession(sessionId, resumeToken);
    for (const [i, lease] of leases.entries()) {
      const again = restored.checkout(sessionId, { feature: 'cad', count: 1, key: `k${i}` });
      expect(again.id).toBe(lease.id);
    }
    expect(inUse(restored)).toBe(20);
  });
});

describe('lone claims', () => {
  it('a dedupe switched on by a reload lets a new checkout join a lease granted before it', () => {
    const h = harness([CAD]);
    const a = h.open('alice', 'ws1');
    const first = h.engine.checkout(a, { feature: 'cad', count: 2 });
    h.engine.updateFeature({ ...CAD, dedupe: 'user' });
    const b = h.open('alice', 'ws2');
    const joined = h.engine.checkout(b, { feature: 'cad', count: 1 });
    expect(joined.shared).toBe(true);
    expect(inUse(h.engine)).toBe(2);
    expect(h.eventsOf('granted').at(-1)?.claimOf).toBe(first.id);
    // The seats stay with the claim until its last lease ends.
    h.engine.checkin(a, first.id, first.fencing);
    expect(inUse(h.engine)).toBe(2);
    h.engine.checkin(b, joined.id, joined.fencing);
    expect(inUse(h.engine)).toBe(0);
  });

  it('counts a lone grouped lease against its group, and frees it at checkin', () => {
    const h = harness([{ ...CAD, groupRules: [{ group: 'eng', max: 2 }] }], {
      directory: { users: [{ name: 'alice', groups: ['eng'] }], groups: [{ name: 'eng' }] },
    });
    const a = h.open('alice');
    const lease = h.engine.checkout(a, { feature: 'cad', count: 2 });
    expect(lease.group).toBe('eng');
    expect(h.engine.featureStatus('cad')[0]?.groups).toEqual([{ name: 'eng', inUse: 2, max: 2 }]);
    expect(thrown(() => h.engine.checkout(a, { feature: 'cad', count: 1 })).code).toBe('GROUP_MAX');
    h.engine.checkin(a, lease.id, lease.fencing);
    expect(h.engine.featureStatus('cad')[0]?.groups).toEqual([{ name: 'eng', inUse: 0, max: 2 }]);
  });

  it('a journaled join replays onto a lease the restore holds as a lone claim', () => {
    const clock = new ManualClock(1_000);
    const options: EngineOptions = {
      clock,
      leaseTtlMs: TTL,
      features: [{ ...CAD, dedupe: 'user' }],
      random: countingRandom(),
    };
    const engine = new LeaseEngine(options);
    const records: JournalRecord[] = [];
    for (const name of ALL_EVENTS) {
      engine.on(name, (payload) => {
        const record = toJournalRecord(name as EngineEventName, payload as never);
        if (record !== undefined) records.push(structuredClone(record));
      });
    }
    const a = engine.openSession(identity('alice', 'ws1')).sessionId;
    const first = engine.checkout(a, { feature: 'cad', count: 2 });
    const joined = engine.checkout(a, { feature: 'cad', count: 1 });
    expect(joined.shared).toBe(true);
    // The restart's config has no dedupe: the first lease is filed alone, then the join arrives.
    const restored = LeaseEngine.restore(
      { ...options, features: [CAD], random: countingRandom() },
      undefined,
      records,
      { graceMs: 60_000 },
    );
    expect(inUse(restored)).toBe(2);
    const views = restored.listLeases({ feature: 'cad' });
    expect(views.map((lease) => [lease.id, lease.shared])).toEqual([
      [first.id, false],
      [joined.id, true],
    ]);
    // A snapshot of that state keeps the one claim, and restores it again.
    const again = LeaseEngine.restore(
      { ...options, features: [CAD], random: countingRandom() },
      restored.exportState(),
      [],
      { graceMs: 60_000 },
    );
    expect(again.exportState().claims).toEqual(restored.exportState().claims);
    expect(inUse(again)).toBe(2);
  });

  it('idle preemption weighs shared claims and lone leases alike, and takes a shared claim whole', () => {
    const h = harness([{ ...CAD, seats: 2, dedupe: 'user', reclaimIdleWhenQueuedMs: 5_000 }]);
    const a = h.open('alice');
    const first = h.engine.checkout(a, { feature: 'cad', count: 1 });
    const second = h.engine.checkout(a, { feature: 'cad', count: 1 });
    expect(second.shared).toBe(true);
    // Without dedupe, bob's lease is a claim of its own; alice's claim stays shared.
    h.engine.updateFeature({ ...CAD, seats: 2, reclaimIdleWhenQueuedMs: 5_000 });
    h.clock.advance(1_000);
    const b = h.open('bob');
    const bobs = h.engine.checkout(b, { feature: 'cad', count: 1 });
    h.clock.advance(6_000);
    h.engine.heartbeat(a);
    h.engine.heartbeat(b);
    const result = h.engine.requestCheckout(h.open('carol'), { feature: 'cad', count: 1, waitMs: 60_000 });
    expect(result.kind).toBe('granted');
    expect(h.eventsOf('reclaimed').map((event) => [event.lease.id, event.reason])).toEqual([
      [first.id, 'idle-preempted'],
      [second.id, 'idle-preempted'],
    ]);
    expect(h.engine.lease(bobs.id)).toBeDefined();
  });
});

describe('KeyedRecords', () => {
  const record = (key?: string) => ({ key });

  it('keeps insertion order and finds records by key, one record or many', () => {
    const records = new KeyedRecords<{ key: string | undefined }>();
    const a = record('a');
    const b = record();
    const c = record('c');
    expect(records.size).toBe(0);
    expect([...records]).toEqual([]);
    records.add(a);
    expect(records.withKey('a')).toBe(a);
    expect(records.withKey('c')).toBeUndefined();
    expect([...records]).toEqual([a]);
    records.add(b);
    records.add(c);
    expect(records.size).toBe(3);
    expect([...records]).toEqual([a, b, c]);
    expect(records.withKey('c')).toBe(c);
    records.delete(a);
    expect(records.withKey('a')).toBeUndefined();
    expect([...records.values()]).toEqual([b, c]);
    records.delete(b);
    records.delete(c);
    expect(records.size).toBe(0);
    records.add(c);
    expect(records.withKey('c')).toBe(c);
    expect(records.size).toBe(1);
  });

  it('files a second record with a taken key under itself: the first keeps the key', () => {
    const records = new KeyedRecords<{ key: string | undefined }>();
    const first = record('k');
    const second = record('k');
    records.add(first);
    records.add(second);
    expect(records.size).toBe(2);
    expect(records.withKey('k')).toBe(first);
    records.delete(second);
    expect(records.withKey('k')).toBe(first);
    expect([...records]).toEqual([first]);
  });

  it('a record never answers for a key equal to something else', () => {
    const records = new KeyedRecords<{ key: string | undefined }>();
    records.add(record());
    records.add(record());
    expect(records.withKey('undefined')).toBeUndefined();
    expect(records.size).toBe(2);
  });
});

describe('PoolLeases', () => {
  const pool = () => new FeaturePool(CAD);
  const session = new SessionRecord('s1', 'hash', identity(), 0);
  const lease = (of: FeaturePool, id: string) =>
    new LeaseRecord(id, 1, 1, session, undefined, 0, of.loneClaim(undefined));
  const ids = (list: PoolLeases) => Array.from(list, (l) => l.id);

  it('keeps grant order through deletes at the head, the middle and the tail', () => {
    const cad = pool();
    const list = cad.leases;
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => lease(cad, id)) as [
      LeaseRecord,
      LeaseRecord,
      LeaseRecord,
      LeaseRecord,
    ];
    for (const l of [a, b, c, d]) list.add(l);
    expect(ids(list)).toEqual(['a', 'b', 'c', 'd']);
    list.delete(b);
    expect(ids(list)).toEqual(['a', 'c', 'd']);
    list.delete(a);
    list.delete(d);
    expect(ids(list)).toEqual(['c']);
    expect(list.size).toBe(1);
    const e = lease(cad, 'e');
    list.add(e);
    expect(ids(list)).toEqual(['c', 'e']);
  });

  it('ignores a lease that is not in the list, and lets a walk delete the lease it is at', () => {
    const cad = pool();
    const list = cad.leases;
    const [a, b, stranger] = ['a', 'b', 'x'].map((id) => lease(cad, id)) as [
      LeaseRecord,
      LeaseRecord,
      LeaseRecord,
    ];
    list.add(a);
    list.add(b);
    list.delete(stranger);
    expect(list.size).toBe(2);
    // The stranger keeps its slot: only leaving the list frees one.
    expect(list.columns.size).toBe(3);
    for (const l of list) list.delete(l);
    expect(list.size).toBe(0);
    expect(list.columns.size).toBe(1);
    expect(ids(list)).toEqual([]);
  });
});

describe('shared', () => {
  it('a lease that made a claim is not shared, in its last view too; the ones that joined are', () => {
    const h = harness([{ ...CAD, dedupe: 'user' }]);
    const a = h.open('alice');
    const first = h.engine.checkout(a, { feature: 'cad', count: 1 });
    const joined = h.engine.checkout(a, { feature: 'cad', count: 1 });
    expect([first.shared, joined.shared]).toEqual([false, true]);
    h.engine.checkin(a, first.id, first.fencing);
    expect(h.eventsOf('released').map((event) => [event.lease.id, event.lease.shared])).toEqual([
      [first.id, false],
    ]);
    expect(h.engine.lease(joined.id)?.shared).toBe(true);
    const later = h.engine.checkout(a, { feature: 'cad', count: 1 });
    expect(later.shared).toBe(true);
    expect(inUse(h.engine)).toBe(1);
  });
});

describe('restore', () => {
  it('refuses a snapshot whose claim spans two features', () => {
    const clock = new ManualClock(1_000);
    const options: EngineOptions = {
      clock,
      leaseTtlMs: TTL,
      features: [CAD, { name: 'lab', seats: 2, model: 'concurrent' }],
      random: countingRandom(),
    };
    const engine = new LeaseEngine(options);
    const a = engine.openSession(identity()).sessionId;
    engine.checkout(a, { feature: 'cad', count: 1 });
    engine.checkout(a, { feature: 'lab', count: 1 });
    const state = engine.exportState();
    const corrupt = { ...state, leases: { ...state.leases, claims: [0, 0], shared: [1] } };
    const error = thrown(() =>
      LeaseEngine.restore({ ...options, random: countingRandom() }, corrupt, [], { graceMs: 60_000 }),
    );
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toMatch(/names claim 0 of another feature/);
  });
});

describe('session layout', () => {
  it('copies an identity with exactly the fields given, in order, frozen', () => {
    const base = identity();
    const shapes = [
      base,
      { ...base, peer: '10.0.0.1:4000' },
      { ...base, display: 'Alice' },
      { ...base, display: 'Alice', peer: '10.0.0.1:4000' },
      { ...base, display: undefined, peer: undefined },
    ];
    for (const given of shapes) {
      const copy = copyIdentity(given);
      const expected = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
      expect(Object.entries(copy)).toEqual(Object.entries(expected));
      expect(Object.isFrozen(copy)).toBe(true);
      expect(copy).not.toBe(given);
    }
  });

  it('has no restart grace until one is set, and none again once it is cleared', () => {
    const session = new SessionRecord('s1', 'hash', identity(), 0);
    expect(session.graceUntil).toBe(Number.NEGATIVE_INFINITY);
    session.graceUntil = 60_000.5;
    expect(session.graceUntil).toBe(60_000.5);
    session.graceUntil = Number.NEGATIVE_INFINITY;
    expect(session.graceUntil).toBe(Number.NEGATIVE_INFINITY);
  });
});
