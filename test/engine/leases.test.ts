import { describe, expect, it } from 'vitest';
import { harness, TTL, thrown } from './fixtures.js';

const IDLE = 60_000;
const IDLE_FEATURE = [{ name: 'cad', seats: 3, model: 'concurrent', idleTimeoutMs: IDLE }] as const;

describe('checkin', () => {
  it('releases the seats of a held lease, once', () => {
    const h = harness();
    const id = h.open();
    const lease = h.engine.checkout(id, { feature: 'cad', count: 2 });
    expect(h.engine.checkin(id, lease.id, lease.fencing)).toEqual({ released: true });
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(0);
    expect(h.eventsOf('released')).toEqual([{ lease }]);
    // DESIGN: a double checkin is harmless.
    expect(h.engine.checkin(id, lease.id, lease.fencing)).toEqual({ released: false });
    expect(h.eventsOf('released')).toHaveLength(1);
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(0);
  });

  it('refuses a stale fencing token with LEASE_REVOKED and keeps the lease', () => {
    const h = harness();
    const id = h.open();
    const lease = h.engine.checkout(id, { feature: 'cad', count: 1 });
    expect(thrown(() => h.engine.checkin(id, lease.id, lease.fencing - 1)).code).toBe('LEASE_REVOKED');
    expect(h.engine.lease(lease.id)).toEqual(lease);
  });

  it("answers LEASE_NOT_FOUND for another session's lease and for an unknown one", () => {
    const h = harness();
    const owner = h.open('a');
    const other = h.open('b');
    const lease = h.engine.checkout(owner, { feature: 'cad', count: 1 });
    expect(thrown(() => h.engine.checkin(other, lease.id, lease.fencing)).code).toBe('LEASE_NOT_FOUND');
    expect(thrown(() => h.engine.checkin(other, 'f'.repeat(32), 1)).code).toBe('LEASE_NOT_FOUND');
    h.engine.checkin(owner, lease.id, lease.fencing);
    expect(thrown(() => h.engine.checkin(other, lease.id, lease.fencing)).code).toBe('LEASE_NOT_FOUND');
    expect(h.engine.lease(lease.id)).toBeUndefined();
  });

  it('refuses a reclaimed lease with the reason: LEASE_REVOKED (admin) / LEASE_EXPIRED', () => {
    const h = harness();
    const id = h.open();
    const lease = h.engine.checkout(id, { feature: 'cad', count: 1 });
    h.engine.revoke(lease.id, 'admin');
    const error = thrown(() => h.engine.checkin(id, lease.id, lease.fencing));
    expect(error.code).toBe('LEASE_REVOKED');
    expect(error.message).toBe(`Lease '${lease.id}' was freed by an administrator.`);
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(0);
  });
});

describe('heartbeat', () => {
  it('reports lost leases with the reason, and keeps the held ones', () => {
    const h = harness();
    const id = h.open();
    const held = h.engine.checkout(id, { feature: 'cad', count: 1 });
    const revoked = h.engine.checkout(id, { feature: 'cad', count: 1 });
    const checkedIn = h.engine.checkout(id, { feature: 'cad', count: 1 });
    h.engine.revoke(revoked.id, 'admin');
    h.engine.checkin(id, checkedIn.id, checkedIn.fencing);
    const foreign = h.engine.checkout(h.open('b'), { feature: 'cad', count: 1 });
    const result = h.engine.heartbeat(id, {
      leases: [
        { lease: held.id, fencing: held.fencing },
        { lease: held.id, fencing: held.fencing + 100 },
        { lease: revoked.id, fencing: revoked.fencing },
        { lease: checkedIn.id, fencing: checkedIn.fencing },
        { lease: foreign.id, fencing: foreign.fencing },
        { lease: 'unknown', fencing: 1 },
      ],
    });
    expect(result).toEqual({
      ttlMs: TTL,
      lost: [
        { lease: held.id, code: 'LEASE_REVOKED' },
        { lease: revoked.id, code: 'LEASE_REVOKED' },
        { lease: checkedIn.id, code: 'LEASE_NOT_FOUND' },
        { lease: foreign.id, code: 'LEASE_NOT_FOUND' },
        { lease: 'unknown', code: 'LEASE_NOT_FOUND' },
      ],
    });
    expect(h.engine.lease(held.id)).toBeDefined();
  });

  it('reports a lease lost to expiry as LEASE_EXPIRED to the session that resumed in time', () => {
    // The session expired, so a heartbeat cannot tell: the resume path is what a client uses.
    const h = harness();
    const id = h.open();
    const lease = h.engine.checkout(id, { feature: 'cad', count: 1 });
    h.clock.advance(TTL);
    h.engine.sweep();
    expect(
      thrown(() => h.engine.heartbeat(id, { leases: [{ lease: lease.id, fencing: lease.fencing }] })).code,
    ).toBe('SESSION_NOT_FOUND');
  });

  it('refuses a malformed entry before changing anything', () => {
    const h = harness(IDLE_FEATURE);
    const id = h.open();
    const lease = h.engine.checkout(id, { feature: 'cad', count: 1 });
    h.clock.advance(1_000);
    const error = thrown(() =>
      h.engine.heartbeat(id, {
        leases: [
          { lease: lease.id, fencing: lease.fencing, idleMs: 0 },
          { lease: lease.id, fencing: lease.fencing, idleMs: Number.NaN },
        ],
      }),
    );
    expect(error.code).toBe('INVALID_REQUEST');
    expect(h.engine.session(id)?.lastHeartbeatAt).toBe(1_000);
    expect(h.engine.lease(lease.id)?.lastActivityAt).toBe(1_000);
  });

  it('moves lastActivityAt to now − idleMs, never back and never past now', () => {
    const h = harness(IDLE_FEATURE);
    const id = h.open();
    const lease = h.engine.checkout(id, { feature: 'cad', count: 1 });
    const beat = (idleMs?: number) =>
      h.engine.heartbeat(id, { leases: [{ lease: lease.id, fencing: lease.fencing, idleMs }] });
    h.clock.advance(10_000);
    beat(4_000);
    expect(h.engine.lease(lease.id)?.lastActivityAt).toBe(7_000);
    beat(9_000); // older than what we know: ignored
    expect(h.engine.lease(lease.id)?.lastActivityAt).toBe(7_000);
    beat(); // no activity data
    expect(h.engine.lease(lease.id)?.lastActivityAt).toBe(7_000);
    beat(-500); // a future activity is clamped to now
    expect(h.engine.lease(lease.id)?.lastActivityAt).toBe(11_000);
    expect(h.engine.lease(lease.id)?.lastHeartbeatAt).toBe(11_000);
  });
});

describe('idle reclaim (DESIGN §2 reclaim b)', () => {
  it('reclaims a silent holder at idle_timeout and keeps an active one; the session stays', () => {
    const h = harness(IDLE_FEATURE);
    const active = h.open('active');
    const silent = h.open('silent');
    const kept = h.engine.checkout(active, { feature: 'cad', count: 1 });
    const idle = h.engine.checkout(silent, { feature: 'cad', count: 1 });
    // Both sessions heartbeat; only one reports recent user activity.
    for (let t = 5_000; t <= IDLE; t += 5_000) {
      h.clock.set(1_000 + t);
      h.engine.heartbeat(active, { leases: [{ lease: kept.id, fencing: kept.fencing, idleMs: 2_000 }] });
      h.engine.heartbeat(silent, { leases: [{ lease: idle.id, fencing: idle.fencing }] });
      if (t < IDLE) expect(h.engine.lease(idle.id), `at ${t}`).toBeDefined();
    }
    // At exactly grantedAt + idle_timeout the silent lease is due.
    expect(h.engine.lease(idle.id)).toBeUndefined();
    expect(h.engine.lease(kept.id)).toBeDefined();
    expect(h.eventsOf('reclaimed')).toEqual([
      { lease: { ...idle, lastHeartbeatAt: 1_000 + IDLE - 5_000 }, reason: 'idle' },
    ]);
    expect(h.engine.session(silent)).toBeDefined();
    const lost = h.engine.heartbeat(silent, { leases: [{ lease: idle.id, fencing: idle.fencing }] }).lost;
    expect(lost).toEqual([{ lease: idle.id, code: 'LEASE_REVOKED' }]);
    expect(thrown(() => h.engine.checkin(silent, idle.id, idle.fencing)).message).toContain('idle');
  });

  it('is not due at idle_timeout − 1 ms after the last activity, and is due at idle_timeout', () => {
    const h = harness(IDLE_FEATURE);
    const id = h.open();
    const lease = h.engine.checkout(id, { feature: 'cad', count: 1 });
    h.clock.advance(10_000);
    h.engine.heartbeat(id, { leases: [{ lease: lease.id, fencing: lease.fencing, idleMs: 0 }] });
    for (let t = 20_000; t < 10_000 + IDLE; t += 10_000) {
      h.clock.set(1_000 + t);
      h.engine.heartbeat(id, { leases: [{ lease: lease.id, fencing: lease.fencing }] });
    }
    h.clock.set(1_000 + 10_000 + IDLE - 1);
    expect(h.engine.sweep()).toBe(0);
    expect(h.engine.lease(lease.id)).toBeDefined();
    h.clock.advance(1);
    expect(h.engine.sweep()).toBe(1);
    expect(h.engine.lease(lease.id)).toBeUndefined();
  });

  it('does not track leases of features without an idle timeout', () => {
    const h = harness();
    const id = h.open();
    h.engine.checkout(id, { feature: 'cad', count: 1 });
    expect(h.engine.expiryStats().entries).toBe(1); // the session's entry only
  });
});

describe('revoke', () => {
  it('reclaims a held lease and returns it; the token is never valid again', () => {
    const h = harness();
    const id = h.open();
    const lease = h.engine.checkout(id, { feature: 'cad', count: 3 });
    expect(h.engine.revoke(lease.id, 'admin')).toEqual(lease);
    expect(h.eventsOf('reclaimed')).toEqual([{ lease, reason: 'admin' }]);
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(0);
    // A reclaimed lease never comes back to life (DESIGN §3.4).
    const next = h.engine.checkout(id, { feature: 'cad', count: 3 });
    expect(next.id).not.toBe(lease.id);
    expect(next.fencing).toBeGreaterThan(lease.fencing);
    expect(h.engine.heartbeat(id, { leases: [{ lease: lease.id, fencing: lease.fencing }] }).lost).toEqual([
      { lease: lease.id, code: 'LEASE_REVOKED' },
    ]);
    expect(thrown(() => h.engine.revoke(lease.id, 'admin')).code).toBe('LEASE_NOT_FOUND');
  });

  it('refuses an unknown lease or reason', () => {
    const h = harness();
    const lease = h.engine.checkout(h.open(), { feature: 'cad', count: 1 });
    expect(thrown(() => h.engine.revoke('nope', 'admin')).code).toBe('LEASE_NOT_FOUND');
    expect(thrown(() => h.engine.revoke(lease.id, 'bored' as 'admin')).code).toBe('INVALID_REQUEST');
    expect(h.engine.lease(lease.id)).toBeDefined();
  });
});
