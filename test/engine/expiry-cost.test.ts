import { describe, expect, it } from 'vitest';
import { harness, TTL } from './fixtures.js';

// DESIGN §7: expiry costs what comes due, not a scan. Measured by heap pops, never by wall time.
describe('expiry cost', () => {
  it('with 10,000 sessions alive and 10 due, the sweep pops 10 entries', () => {
    const h = harness([{ name: 'cad', seats: 20_000, model: 'concurrent' }]);
    const due: string[] = [];
    for (let i = 0; i < 10; i++) {
      const id = h.open(`due${i}`);
      h.engine.checkout(id, { feature: 'cad', count: 1 });
      due.push(id);
    }
    h.clock.advance(1_000);
    for (let i = 0; i < 9_990; i++) h.engine.checkout(h.open(`u${i}`), { feature: 'cad', count: 1 });
    expect(h.engine.expiryStats()).toEqual({ entries: 10_000, popped: 0 });

    h.clock.advance(TTL - 1_000);
    expect(h.engine.sweep()).toBe(10);
    expect(h.engine.expiryStats()).toEqual({ entries: 9_990, popped: 10 });
    for (const id of due) expect(h.engine.session(id)).toBeUndefined();
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(9_990);
    expect(h.engine.nextDeadline()).toBe(1_000 + 1_000 + TTL);
  });

  it('a heartbeat does no heap work; a moved deadline costs one re-insert when its old time comes', () => {
    const h = harness([{ name: 'cad', seats: 2_000, model: 'concurrent', idleTimeoutMs: 60_000 }]);
    const sessions: { id: string; lease: string; fencing: number }[] = [];
    for (let i = 0; i < 1_000; i++) {
      const id = h.open(`u${i}`);
      const lease = h.engine.checkout(id, { feature: 'cad', count: 1 });
      sessions.push({ id, lease: lease.id, fencing: lease.fencing });
    }
    expect(h.engine.expiryStats().entries).toBe(2_000); // a session entry and an idle entry each
    h.clock.advance(5_000);
    for (const s of sessions) {
      h.engine.heartbeat(s.id, { leases: [{ lease: s.lease, fencing: s.fencing, idleMs: 0 }] });
    }
    expect(h.engine.expiryStats()).toEqual({ entries: 2_000, popped: 0 });
    // The old session deadlines come: each entry pops once and is re-inserted, nothing is reclaimed.
    h.clock.advance(TTL - 5_000);
    expect(h.engine.sweep()).toBe(0);
    expect(h.engine.expiryStats()).toEqual({ entries: 2_000, popped: 1_000 });
    expect(h.engine.nextDeadline()).toBe(1_000 + 5_000 + TTL);
  });

  it('a call with nothing due pops nothing', () => {
    const h = harness();
    const id = h.open();
    for (let i = 0; i < 100; i++) h.engine.heartbeat(id);
    expect(h.engine.expiryStats().popped).toBe(0);
  });

  it('nextDeadline is undefined when nothing is tracked, and may be early (stale), never late', () => {
    const h = harness();
    expect(h.engine.nextDeadline()).toBeUndefined();
    const id = h.open();
    expect(h.engine.nextDeadline()).toBe(1_000 + TTL);
    h.clock.advance(100);
    h.engine.heartbeat(id);
    // Stale: the heartbeat moved the real deadline to 1100 + TTL; the sweep at the early time re-inserts.
    expect(h.engine.nextDeadline()).toBe(1_000 + TTL);
    h.clock.set(1_000 + TTL);
    expect(h.engine.sweep()).toBe(0);
    expect(h.engine.nextDeadline()).toBe(1_100 + TTL);
    h.engine.endSession(id);
    expect(h.engine.nextDeadline()).toBe(1_100 + TTL); // dropped lazily
    h.clock.set(1_100 + TTL);
    h.engine.sweep();
    expect(h.engine.nextDeadline()).toBeUndefined();
  });
});
