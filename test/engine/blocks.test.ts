/**
 * Administration: blocks ("a removal that sticks") and freeing a holder's leases. Enforcement runs
 * on the monotonic (manual) clock; the wall clock only dates the end, for messages and restarts.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { type EngineOptions, LeaseEngine } from '../../src/engine/engine.js';
import { type JournalRecord, toJournalRecord } from '../../src/engine/journal-records.js';
import type { EngineEventName, FeatureConfig } from '../../src/engine/types.js';
import { ALL_EVENTS, countingRandom, harness, identity, TTL, thrown } from './fixtures.js';

const WALL0 = Date.parse('2026-11-24T18:30:00.000Z');
const MINUTES_10 = 600_000;
const FEATURES: FeatureConfig[] = [
  { name: 'cad', seats: 3, model: 'mixed', namedUsers: ['bob'] },
  { name: 'cam', seats: 1, model: 'concurrent' },
];

/** A harness whose wall clock is set by hand (`wall.now`), apart from the monotonic clock. */
function setup(features: FeatureConfig[] = FEATURES) {
  const wall = { now: WALL0 };
  const h = harness(features, { wallClock: () => wall.now });
  return { ...h, wall };
}

describe('block', () => {
  it('denies a blocked holder with BLOCKED, naming the block and its end, with a denied event', () => {
    const h = setup();
    const s = h.open('bob', 'ws-1');
    const block = h.engine.block({
      user: 'bob',
      host: 'ws-1',
      feature: 'cad',
      durationMs: MINUTES_10,
      by: 'alice',
    });
    expect(block).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{32}$/),
      user: 'bob',
      host: 'ws-1',
      feature: 'cad',
      by: 'alice',
      remainingMs: MINUTES_10,
      untilWall: WALL0 + MINUTES_10,
    });
    expect(h.eventsOf('blocked')).toEqual([block]);
    h.clock.advance(2_000);
    // bob has a named seat of cad: the block holds for it too.
    const error = thrown(() => h.engine.checkout(s, { feature: 'cad', count: 1 }));
    expect(error.name).toBe('BlockedError');
    expect(error.code).toBe('BLOCKED');
    expect((error as unknown as { retryable: boolean }).retryable).toBe(true);
    expect(error.message).toBe(
      "User 'bob' on host 'ws-1' is blocked from feature 'cad' by an administrator (alice) until " +
        `2026-11-24T18:40:00.000Z (9m 58s from now). Ask an admin to lift the block (leasehold unblock ${block.id}).`,
    );
    expect(error.details).toMatchObject({
      block: block.id,
      until: '2026-11-24T18:40:00.000Z',
      remaining_ms: MINUTES_10 - 2_000,
      feature: 'cad',
      user: 'bob',
      host: 'ws-1',
    });
    expect(h.eventsOf('denied').at(-1)).toMatchObject({
      sessionId: s,
      user: 'bob',
      host: 'ws-1',
      feature: 'cad',
      code: 'BLOCKED',
      message: error.message,
      details: error.details,
    });
    // A request that may wait is denied too, before any queueing.
    const waiting = thrown(() => h.engine.requestCheckout(s, { feature: 'cad', count: 2, waitMs: 60_000 }));
    expect(waiting.code).toBe('BLOCKED');
    expect(h.engine.queueStatus()).toEqual([]);
    expect(h.eventsOf('queued')).toEqual([]);
    expect(h.engine.listLeases()).toEqual([]);
  });

  it('matches by user, and by host and feature only when the block names them', () => {
    const h = setup();
    const bobWs1 = h.open('bob', 'ws-1');
    const bobWs2 = h.open('bob', 'ws-2');
    const carol = h.open('carol', 'ws-1');
    h.engine.block({ user: 'bob', host: 'ws-1', durationMs: MINUTES_10 });
    h.engine.block({ user: 'carol', feature: 'cam', durationMs: MINUTES_10 });
    const code = (session: string, feature: string) => {
      try {
        h.engine.checkout(session, { feature, count: 1 });
        return 'granted';
      } catch (error) {
        return (error as { code: string }).code;
      }
    };
    // A host-scoped block without a feature: every feature, on that host only.
    expect(code(bobWs1, 'cad')).toBe('BLOCKED');
    expect(code(bobWs1, 'cam')).toBe('BLOCKED');
    expect(code(bobWs2, 'cad')).toBe('granted');
    // A feature-scoped block without a host: that feature, on every host.
    expect(code(carol, 'cam')).toBe('BLOCKED');
    expect(code(carol, 'cad')).toBe('granted');
    // Other users are unaffected.
    expect(code(h.open('dave', 'ws-1'), 'cam')).toBe('granted');
    const message = thrown(() => h.engine.checkout(bobWs1, { feature: 'cam', count: 1 })).message;
    expect(message).toMatch(
      /^User 'bob' on host 'ws-1' is blocked from every feature by an administrator until /,
    );
  });

  it('ends after durationMs by the monotonic clock: denied 1 ms before, granted at exactly the end', () => {
    const h = setup();
    const s = h.open('bob', 'ws-1');
    h.engine.block({ user: 'bob', feature: 'cam', durationMs: 5_000 });
    // The wall clock is not what ends it: moved far ahead, the block still holds.
    h.wall.now += 86_400_000;
    h.clock.advance(4_999);
    expect(thrown(() => h.engine.checkout(s, { feature: 'cam', count: 1 })).code).toBe('BLOCKED');
    expect(h.engine.listBlocks().map((b) => b.remainingMs)).toEqual([1]);
    h.clock.advance(1);
    expect(h.engine.checkout(s, { feature: 'cam', count: 1 }).feature).toBe('cam');
    expect(h.engine.listBlocks()).toEqual([]);
    // Running out announces nothing (and journals nothing): replay drops it by its end.
    expect(h.eventsOf('unblocked')).toEqual([]);
  });

  it("the holder's waiters in the matching queues leave with BLOCKED; others stay", () => {
    const h = setup();
    const holder = h.open('zed');
    h.engine.checkout(holder, { feature: 'cam', count: 1 });
    const bob = h.open('bob', 'ws-1');
    const bob2 = h.open('bob', 'ws-2');
    const carol = h.open('carol');
    const bobWait = h.engine.requestCheckout(bob, { feature: 'cam', count: 1, waitMs: 60_000 });
    const bob2Wait = h.engine.requestCheckout(bob2, { feature: 'cam', count: 1, waitMs: 60_000 });
    const carolWait = h.engine.requestCheckout(carol, { feature: 'cam', count: 1, waitMs: 60_000 });
    expect([bobWait.kind, bob2Wait.kind, carolWait.kind]).toEqual(['queued', 'queued', 'queued']);
    h.events.length = 0;
    const block = h.engine.block({ user: 'bob', host: 'ws-1', durationMs: MINUTES_10, by: 'alice' });
    const left = h.eventsOf('queueLeft');
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({
      waiter: { user: 'bob', host: 'ws-1', feature: 'cam', position: 1 },
      reason: 'blocked',
      code: 'BLOCKED',
    });
    expect(left[0]?.message).toMatch(
      /^The wait for 1 seat of 'cam' ended \(position 1 of 3\): User 'bob' on host 'ws-1' is blocked/,
    );
    expect(left[0]?.message).toContain(block.id);
    expect(h.events.map((e) => e.name)).toEqual(['blocked', 'queueLeft', 'queuePosition', 'queuePosition']);
    expect(h.engine.queueStatus('cam').map((w) => [w.user, w.host, w.position])).toEqual([
      ['bob', 'ws-2', 1],
      ['carol', 'ws1', 2],
    ]);
  });

  it('unblock lifts a block at once; listBlocks lists the active ones by end', () => {
    const h = setup();
    const s = h.open('bob', 'ws-1');
    const long = h.engine.block({ user: 'bob', durationMs: MINUTES_10 });
    const short = h.engine.block({ user: 'carol', feature: 'cad', durationMs: 60_000 });
    const mid = h.engine.block({ user: 'dave', durationMs: 120_000 });
    h.clock.advance(1_000);
    expect(h.engine.listBlocks().map((b) => [b.id, b.remainingMs])).toEqual([
      [short.id, 59_000],
      [mid.id, 119_000],
      [long.id, MINUTES_10 - 1_000],
    ]);
    expect(h.engine.unblock(long.id)).toBe(true);
    expect(h.eventsOf('unblocked')).toEqual([{ id: long.id }]);
    expect(h.engine.checkout(s, { feature: 'cad', count: 1 }).user).toBe('bob');
    // A second unblock, an unknown id, a block that ran out: false, no event.
    expect(h.engine.unblock(long.id)).toBe(false);
    expect(h.engine.unblock('f'.repeat(32))).toBe(false);
    h.clock.advance(59_000);
    expect(h.engine.unblock(short.id)).toBe(false);
    expect(h.eventsOf('unblocked')).toHaveLength(1);
    expect(h.engine.listBlocks().map((b) => b.id)).toEqual([mid.id]);
  });

  it('refuses a bad duration, user, host or an unknown feature, changing nothing', () => {
    const h = setup();
    const bad: [Parameters<LeaseEngine['block']>[0], string, RegExp][] = [
      [
        { user: 'bob', durationMs: 0 },
        'INVALID_REQUEST',
        /durationMs must be an integer from 1 to 31622400000/,
      ],
      [{ user: 'bob', durationMs: 1.5 }, 'INVALID_REQUEST', /durationMs/],
      [{ user: 'bob', durationMs: 31_622_400_001 }, 'INVALID_REQUEST', /366 days/],
      [{ user: '', durationMs: 1 }, 'INVALID_REQUEST', /non-empty user/],
      [{ user: 'bob', host: '', durationMs: 1 }, 'INVALID_REQUEST', /host/],
      [{ user: 'bob', feature: 'nope', durationMs: 1 }, 'UNKNOWN_FEATURE', /Feature 'nope' is not licensed/],
    ];
    for (const [spec, code, message] of bad) {
      const error = thrown(() => h.engine.block(spec));
      expect(error.code).toBe(code);
      expect(error.message).toMatch(message);
    }
    // The longest allowed block is accepted.
    expect(h.engine.block({ user: 'bob', durationMs: 31_622_400_000 }).remainingMs).toBe(31_622_400_000);
    expect(h.eventsOf('blocked')).toHaveLength(1);
    // The same UnknownFeature error a checkout gets.
    const s = h.open('bob');
    expect(thrown(() => h.engine.checkout(s, { feature: 'nope', count: 1 })).name).toBe(
      thrown(() => h.engine.block({ user: 'bob', feature: 'nope', durationMs: 1 })).name,
    );
  });
});

describe('blocks across a restart', () => {
  function live() {
    const clock = new ManualClock(1_000);
    const wall = { now: WALL0 };
    const options = (c: ManualClock, wallNow: () => number): EngineOptions => ({
      clock: c,
      leaseTtlMs: TTL,
      features: FEATURES,
      random: countingRandom(),
      wallClock: wallNow,
    });
    const engine = new LeaseEngine(options(clock, () => wall.now));
    const records: JournalRecord[] = [];
    for (const name of ALL_EVENTS) {
      engine.on(name, (payload) => {
        const record = toJournalRecord(name as EngineEventName, payload as never);
        if (record !== undefined) records.push(structuredClone(record));
      });
    }
    return { clock, wall, engine, records, options };
  }

  it('journals a placed block and a lifted one', () => {
    const { engine, records } = live();
    const a = engine.block({
      user: 'bob',
      host: 'ws-1',
      feature: 'cad',
      durationMs: MINUTES_10,
      by: 'alice',
    });
    const b = engine.block({ user: 'carol', durationMs: 1_000 });
    engine.unblock(b.id);
    expect(records).toEqual([
      { t: 'b+', id: a.id, u: 'bob', o: 'ws-1', f: 'cad', by: 'alice', w: WALL0 + MINUTES_10 },
      { t: 'b+', id: b.id, u: 'carol', w: WALL0 + 1_000 },
      { t: 'b-', id: b.id },
    ]);
  });

  for (const path of ['snapshot', 'journal'] as const) {
    it(`(${path}) a block survives with its remaining time shortened by the wall time passed; one that is over is dropped`, () => {
      const { engine, records, clock, options } = live();
      const kept = engine.block({
        user: 'bob',
        host: 'ws-1',
        feature: 'cad',
        durationMs: MINUTES_10,
        by: 'alice',
      });
      const over = engine.block({ user: 'carol', durationMs: 60_000 });
      const lifted = engine.block({ user: 'dave', durationMs: MINUTES_10 });
      engine.unblock(lifted.id);
      clock.advance(10_000);
      const state = path === 'snapshot' ? structuredClone(engine.exportState()) : undefined;
      if (state !== undefined) {
        expect(state.blocks).toEqual([
          { id: over.id, user: 'carol', untilWall: WALL0 + 60_000 },
          {
            id: kept.id,
            user: 'bob',
            host: 'ws-1',
            feature: 'cad',
            by: 'alice',
            untilWall: WALL0 + MINUTES_10,
          },
        ]);
      }
      // Down for two minutes of wall time; the new process's monotonic clock starts elsewhere.
      const restartedAt = new ManualClock(7);
      const restored = LeaseEngine.restore(
        options(restartedAt, () => WALL0 + 120_000),
        state,
        path === 'snapshot' ? [] : records,
        { graceMs: TTL },
      );
      expect(restored.listBlocks()).toEqual([{ ...kept, remainingMs: MINUTES_10 - 120_000 }]);
      const s = restored.openSession(identity('bob', 'ws-1'));
      expect(thrown(() => restored.checkout(s.sessionId, { feature: 'cad', count: 1 })).code).toBe('BLOCKED');
      expect(
        restored.checkout(restored.openSession(identity('carol')).sessionId, { feature: 'cad', count: 1 })
          .user,
      ).toBe('carol');
      // The restored block ends by the new monotonic clock.
      restartedAt.advance(MINUTES_10 - 120_000 - 1);
      const later = restored.openSession(identity('bob', 'ws-1')).sessionId;
      expect(thrown(() => restored.checkout(later, { feature: 'cad', count: 1 })).code).toBe('BLOCKED');
      restartedAt.advance(1);
      expect(restored.checkout(later, { feature: 'cad', count: 1 }).user).toBe('bob');
    });
  }
});

describe('freeLeases', () => {
  it('reclaims exactly the matching leases with reason admin, in one call', () => {
    const h = setup([
      { name: 'cad', seats: 5, model: 'concurrent' },
      { name: 'cam', seats: 5, model: 'concurrent' },
    ]);
    const bob1 = h.open('bob', 'ws-1');
    const bob2 = h.open('bob', 'ws-2');
    const carol = h.open('carol', 'ws-1');
    const a = h.engine.checkout(bob1, { feature: 'cad', count: 1 });
    const b = h.engine.checkout(bob1, { feature: 'cam', count: 1 });
    const c = h.engine.checkout(bob2, { feature: 'cad', count: 2 });
    const d = h.engine.checkout(carol, { feature: 'cad', count: 1 });
    h.events.length = 0;
    const freed = h.engine.freeLeases({ user: 'bob', feature: 'cad' });
    expect(freed.map((l) => l.id)).toEqual([a.id, c.id]);
    expect(freed[0]).toEqual(a);
    expect(h.eventsOf('reclaimed').map((e) => [e.lease.id, e.reason])).toEqual([
      [a.id, 'admin'],
      [c.id, 'admin'],
    ]);
    expect(h.engine.listLeases().map((l) => l.id)).toEqual([b.id, d.id]);
    // The holder learns why, as after a revoke.
    expect(thrown(() => h.engine.checkin(bob1, a.id, a.fencing)).code).toBe('LEASE_REVOKED');
    // Host-scoped: only that host's.
    expect(h.engine.freeLeases({ user: 'bob', host: 'ws-2' })).toEqual([]);
    expect(h.engine.freeLeases({ user: 'bob', host: 'ws-1' }).map((l) => l.id)).toEqual([b.id]);
    expect(h.engine.listLeases().map((l) => l.id)).toEqual([d.id]);
    // Nothing matching: an empty list, no event.
    h.events.length = 0;
    expect(h.engine.freeLeases({ user: 'zed' })).toEqual([]);
    expect(h.events).toEqual([]);
    expect(thrown(() => h.engine.freeLeases({ user: 'bob', feature: 'nope' })).code).toBe('UNKNOWN_FEATURE');
    expect(thrown(() => h.engine.freeLeases({ user: '' })).code).toBe('INVALID_REQUEST');
  });

  it('a freed seat goes to the queue, and a block keeps the freed holder from taking it back', () => {
    const h = setup();
    const bob = h.open('bob', 'ws-1');
    const lease = h.engine.checkout(bob, { feature: 'cam', count: 1 });
    const carol = h.open('carol');
    expect(h.engine.requestCheckout(carol, { feature: 'cam', count: 1, waitMs: 60_000 }).kind).toBe('queued');
    h.engine.block({ user: 'bob', feature: 'cam', durationMs: MINUTES_10 });
    expect(h.engine.freeLeases({ user: 'bob' }).map((l) => l.id)).toEqual([lease.id]);
    expect(h.engine.listLeases({ feature: 'cam' }).map((l) => l.user)).toEqual(['carol']);
    expect(thrown(() => h.engine.checkout(bob, { feature: 'cam', count: 1 })).code).toBe('BLOCKED');
  });
});
