/** Issue 4 §6: the wait queue — order, positions, leaving, the no-starvation rule, idle preemption. */
import { describe, expect, it } from 'vitest';
import type { CheckoutResult, DirectoryConfig, FeatureConfig, WaiterView } from '../../src/engine/types.js';
import { harness, TTL, thrown } from './fixtures.js';

const DIRECTORY: DirectoryConfig = {
  users: [],
  groups: [
    { name: 'design', users: ['dan', 'dee'] },
    { name: 'ops', users: ['olga'], priority: 5 },
  ],
};

function setup(feature: Partial<FeatureConfig> = {}) {
  const h = harness([{ name: 'cad', seats: 1, model: 'concurrent', ...feature }], { directory: DIRECTORY });
  const wait = (sessionId: string, count = 1, waitMs = 60_000, key?: string): CheckoutResult =>
    h.engine.requestCheckout(sessionId, { feature: 'cad', count, waitMs, ...(key ? { key } : {}) });
  const waiter = (result: CheckoutResult): WaiterView => {
    if (result.kind !== 'queued') throw new Error(`expected queued, got ${result.kind}`);
    return result.waiter;
  };
  return { h, wait, waiter };
}

describe('queue order and positions', () => {
  it('orders by priority, then FIFO, and pushes position changes', () => {
    const { h, wait, waiter } = setup();
    const holder = h.open('bob');
    const lease = h.engine.checkout(holder, { feature: 'cad', count: 1 });
    const zed = waiter(wait(h.open('zed')));
    const dan = waiter(wait(h.open('dan')));
    expect([zed.position, dan.position]).toEqual([1, 2]);
    const olga = waiter(wait(h.open('olga')));
    expect(olga).toMatchObject({
      position: 1,
      priority: 5,
      user: 'olga',
      count: 1,
      deadline: 1_000 + 60_000,
    });
    expect(olga.ticket).toMatch(/^[0-9a-f]{32}$/);
    expect(h.eventsOf('queued').map((e) => [e.waiter.user, e.waiter.position])).toEqual([
      ['zed', 1],
      ['dan', 2],
      ['olga', 1],
    ]);
    expect(h.eventsOf('queuePosition').map((e) => [e.waiter.user, e.waiter.position])).toEqual([
      ['zed', 2],
      ['dan', 3],
    ]);
    expect(h.engine.queueStatus('cad').map((w) => w.user)).toEqual(['olga', 'zed', 'dan']);
    expect(h.engine.featureStatus('cad')[0]?.queued).toBe(3);

    h.events.length = 0;
    h.engine.checkin(holder, lease.id, lease.fencing);
    expect(h.events.map((e) => e.name)).toEqual([
      'released',
      'granted',
      'queueGranted',
      'queuePosition',
      'queuePosition',
    ]);
    const [granted] = h.eventsOf('queueGranted');
    expect(granted?.waiter).toMatchObject({ ticket: olga.ticket, position: 1 });
    expect(granted?.lease).toMatchObject({ user: 'olga', feature: 'cad', type: 'concurrent' });
    expect(h.eventsOf('queuePosition').map((e) => [e.waiter.user, e.waiter.position])).toEqual([
      ['zed', 1],
      ['dan', 2],
    ]);
  });

  it('queueStatus covers every feature, and refuses an unknown one', () => {
    const { h, wait } = setup();
    h.engine.checkout(h.open('bob'), { feature: 'cad', count: 1 });
    wait(h.open('zed'));
    expect(h.engine.queueStatus()).toHaveLength(1);
    expect(thrown(() => h.engine.queueStatus('nope')).code).toBe('UNKNOWN_FEATURE');
  });

  it('directory denials are never queued; without waitMs a denial is thrown as before', () => {
    const { h, wait } = setup({ exclude: { users: ['zed'] } });
    h.engine.checkout(h.open('bob'), { feature: 'cad', count: 1 });
    expect(thrown(() => wait(h.open('zed'))).code).toBe('USER_EXCLUDED');
    expect(thrown(() => wait(h.open('amy'), 2)).code).toBe('COUNT_EXCEEDS_SEATS');
    expect(thrown(() => h.engine.requestCheckout(h.open('amy'), { feature: 'cad', count: 1 })).code).toBe(
      'NO_SEATS',
    );
    expect(thrown(() => wait(h.open('amy'), 1, -1)).code).toBe('INVALID_REQUEST');
    expect(h.engine.queueStatus()).toEqual([]);
    expect(h.eventsOf('queued')).toEqual([]);
  });
});

describe('leaving the queue', () => {
  it('times out at its deadline, with the denial it waited out', () => {
    const { h, wait, waiter } = setup();
    h.engine.checkout(h.open('bob'), { feature: 'cad', count: 1 });
    const zed = h.open('zed');
    const w = waiter(wait(zed, 1, 5_000));
    expect(h.engine.nextDeadline()).toBe(1_000 + 5_000);
    h.clock.advance(4_999);
    h.engine.heartbeat(zed);
    expect(h.engine.queueStatus()).toHaveLength(1);
    h.clock.advance(1);
    h.engine.sweep();
    expect(h.eventsOf('queueLeft')).toEqual([
      {
        waiter: w,
        reason: 'timeout',
        code: 'NO_SEATS',
        message: "No seat of 'cad' freed within 5000 ms (position 1 of 1).",
      },
    ]);
    expect(h.engine.queueStatus()).toEqual([]);
  });

  it('is granted a seat that freed before its deadline even when the sweep comes late', () => {
    const { h, wait } = setup();
    const bob = h.open('bob');
    h.engine.checkout(bob, { feature: 'cad', count: 1 });
    h.clock.advance(TTL - 1_000);
    const zed = h.open('zed');
    wait(zed, 1, 5_000);
    // bob's session expires at 1000 + TTL; the waiter's deadline is 4000 later. One late sweep.
    h.clock.advance(10_000);
    h.engine.sweep();
    expect(h.eventsOf('queueGranted')).toHaveLength(1);
    expect(h.eventsOf('queueLeft')).toEqual([]);
  });

  it('cancelWait takes one waiter out; other sessions cannot cancel it', () => {
    const { h, wait, waiter } = setup();
    h.engine.checkout(h.open('bob'), { feature: 'cad', count: 1 });
    const zed = h.open('zed');
    const w = waiter(wait(zed));
    const other = waiter(wait(h.open('amy')));
    expect(h.engine.cancelWait(h.open('eve'), w.ticket)).toEqual({ cancelled: false });
    expect(h.engine.cancelWait(zed, 'nope')).toEqual({ cancelled: false });
    expect(h.engine.cancelWait(zed, w.ticket)).toEqual({ cancelled: true });
    expect(h.engine.cancelWait(zed, w.ticket)).toEqual({ cancelled: false });
    expect(h.eventsOf('queueLeft')).toMatchObject([
      {
        reason: 'cancelled',
        code: 'NO_SEATS',
        message: "The wait for 1 seat of 'cad' was cancelled at position 1 of 2.",
      },
    ]);
    expect(h.eventsOf('queuePosition')).toMatchObject([{ waiter: { ticket: other.ticket, position: 1 } }]);
  });

  it("leaveQueue takes out all of a session's waiters (disconnect)", () => {
    const h = harness(
      [
        { name: 'cad', seats: 1, model: 'concurrent' },
        { name: 'cam', seats: 1, model: 'concurrent' },
      ],
      {},
    );
    const bob = h.open('bob');
    h.engine.checkout(bob, { feature: 'cad', count: 1 });
    h.engine.checkout(bob, { feature: 'cam', count: 1 });
    const zed = h.open('zed');
    h.engine.requestCheckout(zed, { feature: 'cad', count: 1, waitMs: 1_000 });
    h.engine.requestCheckout(zed, { feature: 'cam', count: 1, waitMs: 1_000 });
    expect(h.engine.leaveQueue(zed)).toBe(2);
    expect(h.engine.leaveQueue(zed)).toBe(0);
    expect(h.engine.leaveQueue('unknown')).toBe(0);
    expect(h.eventsOf('queueLeft').map((e) => [e.waiter.feature, e.reason])).toEqual([
      ['cad', 'disconnected'],
      ['cam', 'disconnected'],
    ]);
  });

  it('leaves with its session (expiry or end) and with its feature', () => {
    const { h, wait } = setup();
    const bob = h.open('bob');
    h.engine.checkout(bob, { feature: 'cad', count: 1 });
    const zed = h.open('zed');
    wait(zed, 1, 10 * TTL);
    const amy = h.open('amy');
    wait(amy, 1, 10 * TTL);
    h.engine.endSession(amy);
    h.clock.advance(TTL - 1);
    h.engine.heartbeat(bob);
    h.clock.advance(1);
    h.engine.sweep();
    expect(h.eventsOf('queueLeft').map((e) => [e.waiter.user, e.reason])).toEqual([
      ['amy', 'session_ended'],
      ['zed', 'session_ended'],
    ]);
    wait(h.open('eve'), 1, 1_000);
    h.engine.removeFeature('cad');
    expect(h.eventsOf('queueLeft').at(-1)).toMatchObject({
      reason: 'feature_removed',
      code: 'UNKNOWN_FEATURE',
      waiter: { user: 'eve' },
    });
  });
});

describe('retries while waiting (DESIGN §3.5)', () => {
  it('returns the same waiter, then the lease; a different request with the key is a KEY_CONFLICT', () => {
    const { h, wait, waiter } = setup();
    const bob = h.open('bob');
    const held = h.engine.checkout(bob, { feature: 'cad', count: 1 });
    waiter(wait(h.open('amy')));
    const zed = h.open('zed');
    const first = waiter(wait(zed, 1, 60_000, 'k'));
    expect(first.position).toBe(2);
    h.engine.cancelWait(bob, 'x');
    h.engine.leaveQueue(h.engine.queueStatus()[0]!.sessionId);
    const again = waiter(wait(zed, 1, 60_000, 'k'));
    expect(again).toEqual({ ...first, position: 1 });
    expect(h.eventsOf('queued')).toHaveLength(2);
    expect(thrown(() => wait(zed, 2, 60_000, 'k')).code).toBe('KEY_CONFLICT');
    // The never-waiting form answers with what the checkout waits for.
    expect(thrown(() => h.engine.checkout(zed, { feature: 'cad', count: 1, key: 'k' })).code).toBe(
      'NO_SEATS',
    );
    h.engine.checkin(bob, held.id, held.fencing);
    const granted = wait(zed, 1, 60_000, 'k');
    expect(granted.kind).toBe('granted');
    const lease = granted.kind === 'granted' ? granted.lease : undefined;
    expect(h.eventsOf('queueGranted')[0]?.lease.id).toBe(lease?.id);
    expect(h.engine.checkout(zed, { feature: 'cad', count: 1, key: 'k' }).id).toBe(lease?.id);
    expect(h.eventsOf('granted')).toHaveLength(2);
  });
});

describe('the no-starvation rule', () => {
  it('a head that needs more seats than are free is not overtaken; seats stay idle until it fits', () => {
    const { h, wait, waiter } = setup({ seats: 3 });
    const bob = h.open('bob');
    const leases = [0, 1, 2].map(() => h.engine.checkout(bob, { feature: 'cad', count: 1 }));
    const head = waiter(wait(h.open('zed'), 2));
    const next = waiter(wait(h.open('amy'), 1));
    h.engine.checkin(bob, leases[0]!.id, leases[0]!.fencing);
    expect(h.engine.queueStatus().map((w) => w.ticket)).toEqual([head.ticket, next.ticket]);
    // A newcomer cannot take the free seat either.
    const newcomer = thrown(() => h.engine.checkout(h.open('eve'), { feature: 'cad', count: 1 }));
    expect(newcomer.code).toBe('NO_SEATS');
    expect(newcomer.message).toBe(
      "1 seat of feature 'cad' is free but held for earlier checkouts in the queue. " +
        'Wait for a free seat (queue position 3) or ask an admin to free one.',
    );
    h.engine.checkin(bob, leases[1]!.id, leases[1]!.fencing);
    expect(h.eventsOf('queueGranted').map((e) => e.waiter.ticket)).toEqual([head.ticket]);
    expect(h.engine.queueStatus().map((w) => w.ticket)).toEqual([next.ticket]);
    h.engine.checkin(bob, leases[2]!.id, leases[2]!.fencing);
    expect(h.eventsOf('queueGranted').map((e) => e.waiter.ticket)).toEqual([head.ticket, next.ticket]);
  });

  it('a higher-priority newcomer goes ahead of lower-priority waiters', () => {
    const { h, wait } = setup({ seats: 2 });
    const bob = h.open('bob');
    h.engine.checkout(bob, { feature: 'cad', count: 1 });
    const lease = h.engine.checkout(bob, { feature: 'cad', count: 1 });
    wait(h.open('zed'), 2);
    h.engine.checkin(bob, lease.id, lease.fencing);
    expect(thrown(() => h.engine.checkout(h.open('amy'), { feature: 'cad', count: 1 })).code).toBe(
      'NO_SEATS',
    );
    expect(h.engine.checkout(h.open('olga'), { feature: 'cad', count: 1 }).user).toBe('olga');
  });

  it('a GROUP_MAX waiter blocks only later waiters of its own group', () => {
    const { h, wait, waiter } = setup({ seats: 5, groupRules: [{ group: 'design', max: 2 }] });
    const dan = h.open('dan');
    const lease = h.engine.checkout(dan, { feature: 'cad', count: 1 });
    const dee = waiter(wait(h.open('dee'), 2));
    expect(h.engine.queueStatus()[0]).toMatchObject({ ticket: dee.ticket, group: 'design' });
    // Another design checkout would fit the max, but dee is first in the group.
    const blocked = thrown(() => h.engine.checkout(dan, { feature: 'cad', count: 1 }));
    expect(blocked.code).toBe('GROUP_MAX');
    expect(blocked.message).toBe(
      "An earlier checkout of group 'design' waits for the group's share of 'cad' (queue position 2). Wait, or ask an admin.",
    );
    // Other groups and ungrouped holders are not held back.
    expect(h.engine.checkout(h.open('zed'), { feature: 'cad', count: 2 }).count).toBe(2);
    h.engine.checkin(dan, lease.id, lease.fencing);
    expect(h.eventsOf('queueGranted').map((e) => e.waiter.ticket)).toEqual([dee.ticket]);
  });

  it('seats reserved for a group go to its waiter even behind a blocked head', () => {
    const { h, wait, waiter } = setup({ seats: 3, groupRules: [{ group: 'ops', reserve: 1 }] });
    const bob = h.open('bob');
    h.engine.checkout(bob, { feature: 'cad', count: 2 });
    const olga = h.open('olga');
    const reserved = h.engine.checkout(olga, { feature: 'cad', count: 1 });
    // olga's priority would put her first; make the head an ops member too, asking for more.
    const head = waiter(wait(h.open('olga', 'ws9'), 2));
    const behind = waiter(wait(h.open('olga', 'ws8'), 1));
    expect(h.engine.queueStatus().map((w) => w.ticket)).toEqual([head.ticket, behind.ticket]);
    h.engine.checkin(olga, reserved.id, reserved.fencing);
    expect(h.eventsOf('queueGranted').map((e) => e.waiter.ticket)).toEqual([behind.ticket]);
    expect(h.engine.queueStatus().map((w) => w.ticket)).toEqual([head.ticket]);
  });

  it('a waiter held back by SEATS_RESERVED times out with that code', () => {
    const { h, wait } = setup({ seats: 2, groupRules: [{ group: 'ops', reserve: 1 }] });
    h.engine.checkout(h.open('bob'), { feature: 'cad', count: 1 });
    wait(h.open('zed'), 1, 1_000);
    h.clock.advance(1_000);
    h.engine.sweep();
    expect(h.eventsOf('queueLeft')).toMatchObject([
      {
        reason: 'timeout',
        code: 'SEATS_RESERVED',
        message: "The free seats of 'cad' stayed reserved for other groups for 1000 ms (position 1 of 1).",
      },
    ]);
  });

  it('grants waiters when room appears for other reasons: more seats, a user enabled, draining ends', () => {
    const { h, wait } = setup();
    h.engine.checkout(h.open('bob'), { feature: 'cad', count: 1 });
    wait(h.open('zed'));
    h.engine.setSeats('cad', 2);
    expect(h.eventsOf('queueGranted')).toHaveLength(1);
    h.engine.setDraining(true);
    h.engine.setSeats('cad', 3);
    expect(thrown(() => wait(h.open('amy'))).code).toBe('DRAINING');
    expect(h.eventsOf('queueGranted')).toHaveLength(1);
    h.engine.setDraining(false);
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(2);
  });
});

describe('reclaim_idle_when_queued', () => {
  const THRESHOLD = 10_000;

  it('reclaims the longest-idle lease past the threshold for a waiter, only while someone waits', () => {
    const { h, wait } = setup({ seats: 2, reclaimIdleWhenQueuedMs: THRESHOLD });
    const a = h.open('alice');
    const b = h.open('bob');
    const older = h.engine.checkout(a, { feature: 'cad', count: 1 });
    h.clock.advance(1_000);
    const newer = h.engine.checkout(b, { feature: 'cad', count: 1 });
    // Nobody waits: idle leases are left alone.
    h.clock.advance(12_000);
    h.engine.heartbeat(a);
    h.engine.heartbeat(b);
    expect(h.engine.sweep()).toBe(0);
    // Both are idle past the threshold now; the older one goes first, and only one is needed.
    const result = wait(h.open('zed'));
    expect(result.kind).toBe('granted');
    expect(h.eventsOf('reclaimed')).toEqual([
      { lease: expect.objectContaining({ id: older.id }), reason: 'idle-preempted' },
    ]);
    expect(h.engine.lease(newer.id)).toBeDefined();
    expect(h.eventsOf('queued')).toHaveLength(1);
    expect(h.engine.heartbeat(a, { leases: [{ lease: older.id, fencing: older.fencing }] }).lost).toEqual([
      { lease: older.id, code: 'LEASE_REVOKED' },
    ]);
  });

  it('spares active leases and waits, via the expiry schedule, until one has been idle long enough', () => {
    const { h, wait, waiter } = setup({ seats: 1, reclaimIdleWhenQueuedMs: THRESHOLD });
    const a = h.open('alice');
    const lease = h.engine.checkout(a, { feature: 'cad', count: 1 });
    h.clock.advance(4_000);
    waiter(wait(h.open('zed')));
    expect(h.engine.nextDeadline()).toBe(1_000 + THRESHOLD);
    // Activity at 5000 moves the crossing to 15000; the early entry re-checks and re-arms.
    h.clock.advance(1_000);
    h.engine.heartbeat(a, { leases: [{ lease: lease.id, fencing: lease.fencing, idleMs: 0 }] });
    h.clock.set(1_000 + THRESHOLD);
    expect(h.engine.sweep()).toBe(0);
    expect(h.engine.nextDeadline()).toBe(6_000 + THRESHOLD);
    h.clock.set(6_000 + THRESHOLD - 1);
    h.engine.heartbeat(a);
    expect(h.engine.lease(lease.id)).toBeDefined();
    h.clock.advance(1);
    expect(h.engine.sweep()).toBe(1);
    expect(h.eventsOf('reclaimed')).toMatchObject([{ reason: 'idle-preempted' }]);
    expect(h.eventsOf('queueGranted')).toHaveLength(1);
  });

  it('does not preempt named seats, nor for a waiter held back by its group max', () => {
    const { h, wait } = setup({
      seats: 3,
      model: 'mixed',
      namedUsers: ['nina'],
      reclaimIdleWhenQueuedMs: THRESHOLD,
      groupRules: [{ group: 'design', max: 1 }],
    });
    const nina = h.open('nina');
    h.engine.checkout(nina, { feature: 'cad', count: 1 });
    const dan = h.open('dan');
    h.engine.checkout(dan, { feature: 'cad', count: 1 });
    const bob = h.open('bob');
    const active = h.engine.checkout(bob, { feature: 'cad', count: 1 });
    const touch = { leases: [{ lease: active.id, fencing: active.fencing, idleMs: 0 }] };
    for (const _ of [1, 2]) {
      h.clock.advance(THRESHOLD);
      h.engine.heartbeat(dan);
      h.engine.heartbeat(nina);
      h.engine.heartbeat(bob, touch);
    }
    // dee is held back by design's max only: no seat is preempted for her.
    wait(h.open('dee'));
    expect(h.eventsOf('reclaimed')).toEqual([]);
    // zed is short of seats: dan's idle concurrent lease goes (nina's idle named seat never does).
    // The freed seat goes to the queue in order: dee, who was first and now fits her group's max.
    expect(wait(h.open('zed')).kind).toBe('queued');
    expect(h.eventsOf('reclaimed')).toMatchObject([{ lease: { user: 'dan' }, reason: 'idle-preempted' }]);
    expect(h.eventsOf('queueGranted').map((e) => e.waiter.user)).toEqual(['dee']);
    expect(h.engine.queueStatus().map((w) => w.user)).toEqual(['zed']);
  });
});
