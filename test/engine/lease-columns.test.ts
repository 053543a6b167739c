/**
 * A lease's numbers live in its pool's typed-array columns under a slot (lease-columns.ts), and the
 * slot goes to the next grant once the lease ends. An ended lease is still read afterwards (its last
 * view, its stale expiry entries), so it must keep answering with its own numbers, never with those
 * of the lease that took its slot.
 */
import { describe, expect, it } from 'vitest';
import { FeaturePool } from '../../src/engine/feature-pool.js';
import { LeaseColumns } from '../../src/engine/lease-columns.js';
import { LeaseRecord } from '../../src/engine/lease-record.js';
import { SessionRecord } from '../../src/engine/session-record.js';
import type { FeatureConfig } from '../../src/engine/types.js';
import { harness, identity } from './fixtures.js';

const CAD: FeatureConfig = { name: 'cad', seats: 4, model: 'concurrent' };

describe('LeaseColumns', () => {
  it('hands a freed slot out again before growing, last freed first', () => {
    const columns = new LeaseColumns();
    const slots = [1, 2, 3].map((fencing) => columns.allocate(1, fencing, 0));
    expect(new Set(slots).size).toBe(3);
    columns.free(slots[0] as number);
    columns.free(slots[2] as number);
    expect(columns.size).toBe(1);
    expect(columns.allocate(5, 50, 7)).toBe(slots[2]);
    expect(columns.allocate(6, 60, 8)).toBe(slots[0]);
    expect(columns.fencing(slots[0] as number)).toBe(60);
    expect(columns.count(slots[2] as number)).toBe(5);
    expect(columns.fencing(slots[1] as number)).toBe(2);
  });

  it('keeps every number exactly through growth, fractional times and huge counts included', () => {
    const columns = new LeaseColumns();
    const rows = Array.from({ length: 100 }, (_, i) => ({
      count: [Number.MAX_SAFE_INTEGER, 0xffff, 0xfffe][i - 7] ?? i + 1,
      fencing: 2 ** 40 + i,
      at: 1_000.125 + i / 3,
    }));
    const slots = rows.map((row) => columns.allocate(row.count, row.fencing, row.at));
    columns.setLastActivityAt(slots[3] as number, 5_000.5);
    expect(columns.capacity).toBeGreaterThanOrEqual(100);
    for (const [i, row] of rows.entries()) {
      const slot = slots[i] as number;
      expect([columns.count(slot), columns.fencing(slot), columns.grantedAt(slot)]).toEqual([
        row.count,
        row.fencing,
        row.at,
      ]);
      expect(columns.lastActivityAt(slot)).toBe(i === 3 ? 5_000.5 : row.at);
    }
    // A freed slot that held a huge count does not pass it on.
    columns.free(slots[7] as number);
    expect(columns.count(columns.allocate(2, 1, 0))).toBe(2);
  });

  it('tracks idle entries only once one is armed, and a new slot has none', () => {
    const columns = new LeaseColumns();
    const a = columns.allocate(1, 1, 0);
    expect(columns.idleArmedAt(a)).toBeUndefined();
    columns.setIdleArmedAt(a, undefined);
    expect(columns.idleArmedAt(a)).toBeUndefined();
    columns.setIdleArmedAt(a, 0);
    expect(columns.idleArmedAt(a)).toBe(0);
    // Slots made by growing the columns after the idle column exists have no entry either.
    const later = Array.from({ length: 40 }, (_, i) => columns.allocate(1, i, 0));
    expect(columns.idleArmedAt(a)).toBe(0);
    expect(later.map((slot) => columns.idleArmedAt(slot)).filter((at) => at !== undefined)).toEqual([]);
    columns.free(a);
    expect(columns.idleArmedAt(columns.allocate(1, 99, 0))).toBeUndefined();
  });
});

describe('a retired lease', () => {
  it('answers with its own numbers after its slot went to another lease, and writes to its own', () => {
    const pool = new FeaturePool(CAD);
    const session = new SessionRecord('s1', 'hash', identity(), 0);
    const claim = pool.loneClaim(undefined);
    const old = new LeaseRecord('old', 2, 10, session, 'k', 1_000.5, claim);
    pool.leases.add(old);
    old.lastActivityAt = 1_500.25;
    old.idleArmedAt = 61_500.25;
    pool.leases.delete(old);
    old.idleArmedAt = undefined;

    const next = new LeaseRecord('next', 3, 11, session, undefined, 2_000.75, claim);
    pool.leases.add(next);
    expect(pool.leases.columns.size).toBe(1);
    expect(pool.leases.columns.capacity).toBe(16);
    expect([old.count, old.fencing, old.grantedAt, old.lastActivityAt, old.idleArmedAt]).toEqual([
      2,
      10,
      1_000.5,
      1_500.25,
      undefined,
    ]);
    expect([next.count, next.fencing, next.grantedAt, next.lastActivityAt, next.idleArmedAt]).toEqual([
      3,
      11,
      2_000.75,
      2_000.75,
      undefined,
    ]);
    old.lastActivityAt = 9_999;
    expect(next.lastActivityAt).toBe(2_000.75);
    next.idleArmedAt = 62_000.75;
    expect(old.idleArmedAt).toBeUndefined();
  });

  it("never acts on a stale idle entry whose deadline the slot's next lease shares", () => {
    const h = harness([{ ...CAD, idleTimeoutMs: 60_000 }]);
    const a = h.open();
    // Both leases are granted at the same time, so both idle entries come due at the same time,
    // and the second lease takes the slot the first one freed.
    const first = h.engine.checkout(a, { feature: 'cad', count: 2 });
    h.engine.checkin(a, first.id, first.fencing);
    const second = h.engine.checkout(a, { feature: 'cad', count: 1 });
    // Heartbeats keep the session alive (ttl 15 s) until the idle timeout (60 s) comes due.
    for (let i = 0; i < 5; i++) {
      h.clock.advance(10_000);
      h.engine.heartbeat(a);
    }
    h.clock.advance(10_000);
    h.engine.sweep();
    expect(h.eventsOf('reclaimed').map((event) => [event.lease.id, event.lease.count, event.reason])).toEqual(
      [[second.id, 1, 'idle']],
    );
    expect(h.eventsOf('released').map((event) => event.lease.id)).toEqual([first.id]);
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(0);
    // The freed seats are all there: the feature grants its full seats again.
    expect(h.engine.checkout(a, { feature: 'cad', count: 4 }).count).toBe(4);
  });
});
