import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { LeaseEngine } from '../../src/engine/engine.js';
import { harness, identity, TTL, thrown } from './fixtures.js';

const TWO_FEATURES = [
  { name: 'cad', seats: 3, model: 'concurrent' },
  { name: 'cam', seats: 2, model: 'concurrent' },
] as const;

describe('checkout', () => {
  it('grants a lease with a 128-bit hex id, a fencing token and the holder identity', () => {
    const h = harness();
    const id = h.engine.openSession({ ...identity(), display: ':0', peer: '10.0.0.1:5000' }).sessionId;
    h.clock.advance(5);
    const lease = h.engine.checkout(id, { feature: 'cad', count: 2 });
    expect(lease).toEqual({
      id: lease.id,
      feature: 'cad',
      count: 2,
      fencing: 1,
      sessionId: id,
      user: 'alice',
      host: 'ws1',
      display: ':0',
      clientName: 'cad-app/1.0',
      peer: '10.0.0.1:5000',
      type: 'concurrent',
      shared: false,
      grantedAt: 1_005,
      lastHeartbeatAt: 1_005,
      lastActivityAt: 1_005,
    });
    expect(lease.id).toMatch(/^[0-9a-f]{32}$/);
    expect(h.eventsOf('granted')).toEqual([{ lease }]);
    expect(h.engine.featureStatus('cad')[0]).toMatchObject({
      seats: 3,
      inUse: 2,
      free: 1,
      queued: 0,
      overdraft: 0,
    });
    // The counts alone, without building the lease list (metrics, alerts).
    const counts = h.engine.featureStatus('cad', { leases: false })[0]!;
    expect(counts).toMatchObject({ seats: 3, inUse: 2, free: 1, leases: [] });
    expect(h.engine.featureStatus('cad')[0]!.leases.map((l) => l.id)).toEqual([lease.id]);
  });

  it('hands out fencing tokens that strictly increase across features, from initialFencing', () => {
    const h = harness([...TWO_FEATURES], { initialFencing: 41 });
    const a = h.open('a');
    const b = h.open('b');
    const tokens = [
      h.engine.checkout(a, { feature: 'cad', count: 1 }),
      h.engine.checkout(b, { feature: 'cam', count: 1 }),
      h.engine.checkout(a, { feature: 'cam', count: 1 }),
      h.engine.checkout(b, { feature: 'cad', count: 2 }),
    ].map((lease) => lease.fencing);
    expect(tokens).toEqual([42, 43, 44, 45]);
    expect(h.engine.fencing).toBe(45);
  });

  it('never hands a fencing token out twice, even after checkins and reclaims', () => {
    const h = harness();
    const id = h.open();
    const first = h.engine.checkout(id, { feature: 'cad', count: 3 });
    h.engine.checkin(id, first.id, first.fencing);
    const second = h.engine.checkout(id, { feature: 'cad', count: 3 });
    h.engine.revoke(second.id, 'admin');
    const third = h.engine.checkout(id, { feature: 'cad', count: 3 });
    expect([first.fencing, second.fencing, third.fencing]).toEqual([1, 2, 3]);
  });

  describe('denials: code, message, details and a denied event each', () => {
    it('NO_SEATS when every seat is in use', () => {
      const h = harness([{ name: 'cad', seats: 30, model: 'concurrent' }]);
      const a = h.open('a');
      h.engine.checkout(a, { feature: 'cad', count: 30 });
      const b = h.open('bob', 'ws2');
      const error = thrown(() => h.engine.checkout(b, { feature: 'cad', count: 1 }));
      expect(error.code).toBe('NO_SEATS');
      expect(error.message).toBe(
        "All 30 seats of feature 'cad' are in use. Wait for a free seat or ask an admin to free one.",
      );
      expect(error.details).toEqual({ feature: 'cad', seats: 30, in_use: 30, requested: 1 });
      expect(h.eventsOf('denied')).toEqual([
        {
          sessionId: b,
          user: 'bob',
          host: 'ws2',
          feature: 'cad',
          count: 1,
          code: 'NO_SEATS',
          message: error.message,
          details: error.details,
        },
      ]);
    });

    it('NO_SEATS when some seats are free but fewer than asked', () => {
      const h = harness();
      const id = h.open();
      h.engine.checkout(id, { feature: 'cad', count: 2 });
      const error = thrown(() => h.engine.checkout(id, { feature: 'cad', count: 2 }));
      expect(error.code).toBe('NO_SEATS');
      expect(error.message).toBe(
        "Only 1 of 3 seats of feature 'cad' is free and the checkout asks for 2. Wait for free seats or ask an admin to free some.",
      );
      expect(error.details).toEqual({ feature: 'cad', seats: 3, in_use: 2, requested: 2 });
    });

    it('UNKNOWN_FEATURE', () => {
      const h = harness();
      const id = h.open();
      const error = thrown(() => h.engine.checkout(id, { feature: 'x', count: 1 }));
      expect(error.code).toBe('UNKNOWN_FEATURE');
      expect(error.message).toBe("Feature 'x' is not licensed on this server.");
      expect(h.eventsOf('denied')).toMatchObject([{ feature: 'x', code: 'UNKNOWN_FEATURE' }]);
    });

    it('COUNT_EXCEEDS_SEATS for more than the feature has', () => {
      const h = harness([{ name: 'cad', seats: 10, model: 'concurrent' }]);
      const id = h.open();
      const error = thrown(() => h.engine.checkout(id, { feature: 'cad', count: 12 }));
      expect(error.code).toBe('COUNT_EXCEEDS_SEATS');
      expect(error.message).toBe("Feature 'cad' has 10 seats; a checkout of 12 can never be granted.");
      expect(error.details).toEqual({ feature: 'cad', seats: 10, in_use: 0, requested: 12 });
      expect(h.eventsOf('denied')).toMatchObject([{ code: 'COUNT_EXCEEDS_SEATS', count: 12 }]);
      expect(h.engine.checkout(id, { feature: 'cad', count: 10 }).count).toBe(10);
    });

    it('INVALID_REQUEST for a count below 1 or not an integer, without a denied event', () => {
      const h = harness();
      const id = h.open();
      for (const count of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count })).code).toBe('INVALID_REQUEST');
      }
      expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1, key: '' })).code).toBe(
        'INVALID_REQUEST',
      );
      expect(h.eventsOf('denied')).toEqual([]);
      expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(0);
    });

    it('DRAINING while the server drains; grants resume when it stops', () => {
      const h = harness();
      const id = h.open();
      const held = h.engine.checkout(id, { feature: 'cad', count: 1, key: 'k' });
      h.engine.setDraining(true);
      expect(h.engine.draining).toBe(true);
      const error = thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1 }));
      expect(error.code).toBe('DRAINING');
      expect(error.details).toEqual({ feature: 'cad', seats: 3, in_use: 1, requested: 1 });
      // Held leases carry on, and a retry of a granted checkout still answers with its lease.
      expect(h.engine.heartbeat(id, { leases: [{ lease: held.id, fencing: held.fencing }] }).lost).toEqual(
        [],
      );
      expect(h.engine.checkout(id, { feature: 'cad', count: 1, key: 'k' }).id).toBe(held.id);
      h.engine.setDraining(false);
      expect(h.engine.checkout(id, { feature: 'cad', count: 1 }).fencing).toBe(2);
    });

    it('LIMIT_EXCEEDED past the leases one session may hold', () => {
      const h = harness([{ name: 'cad', seats: 10, model: 'concurrent' }], { maxLeasesPerSession: 2 });
      const id = h.open();
      h.engine.checkout(id, { feature: 'cad', count: 1 });
      h.engine.checkout(id, { feature: 'cad', count: 1 });
      const error = thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1 }));
      expect(error.code).toBe('LIMIT_EXCEEDED');
      expect(h.eventsOf('denied')).toMatchObject([{ code: 'LIMIT_EXCEEDED' }]);
      // Another session is not affected.
      expect(h.engine.checkout(h.open('b'), { feature: 'cad', count: 1 }).count).toBe(1);
    });

    it('SESSION_NOT_FOUND for an unknown session', () => {
      const h = harness();
      expect(thrown(() => h.engine.checkout('nope', { feature: 'cad', count: 1 })).code).toBe(
        'SESSION_NOT_FOUND',
      );
    });

    it('does not cache denials: a retry with the same key is evaluated again', () => {
      const h = harness();
      const a = h.open('a');
      const full = h.engine.checkout(a, { feature: 'cad', count: 3 });
      const b = h.open('b');
      expect(thrown(() => h.engine.checkout(b, { feature: 'cad', count: 1, key: 'r1' })).code).toBe(
        'NO_SEATS',
      );
      h.engine.checkin(a, full.id, full.fencing);
      expect(h.engine.checkout(b, { feature: 'cad', count: 1, key: 'r1' }).count).toBe(1);
    });
  });

  describe('idempotent checkout (DESIGN §3.5)', () => {
    it('returns the same lease for a retry, without a second seat or event, even when the pool is full', () => {
      const h = harness();
      const id = h.open();
      const first = h.engine.checkout(id, { feature: 'cad', count: 1, key: 'req-1' });
      h.engine.checkout(h.open('b'), { feature: 'cad', count: 2 });
      const retry = h.engine.checkout(id, { feature: 'cad', count: 1, key: 'req-1' });
      expect(retry).toEqual(first);
      expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(3);
      expect(h.eventsOf('granted')).toHaveLength(2);
      expect(h.eventsOf('denied')).toEqual([]);
    });

    it('scopes keys to the session', () => {
      const h = harness();
      const a = h.engine.checkout(h.open('a'), { feature: 'cad', count: 1, key: 'same' });
      const b = h.engine.checkout(h.open('b'), { feature: 'cad', count: 1, key: 'same' });
      expect(b.id).not.toBe(a.id);
    });

    it('refuses the same key for a different feature or count with KEY_CONFLICT', () => {
      const h = harness([...TWO_FEATURES]);
      const id = h.open();
      const lease = h.engine.checkout(id, { feature: 'cad', count: 1, key: 'k' });
      const otherCount = thrown(() => h.engine.checkout(id, { feature: 'cad', count: 2, key: 'k' }));
      const otherFeature = thrown(() => h.engine.checkout(id, { feature: 'cam', count: 1, key: 'k' }));
      expect(otherCount.code).toBe('KEY_CONFLICT');
      expect(otherFeature.code).toBe('KEY_CONFLICT');
      expect(otherCount.message).toContain(lease.id);
      expect(h.engine.listLeases()).toHaveLength(1);
    });

    it('answers a key whose lease was checked in with KEY_CONFLICT', () => {
      const h = harness();
      const id = h.open();
      const lease = h.engine.checkout(id, { feature: 'cad', count: 1, key: 'k' });
      h.engine.checkin(id, lease.id, lease.fencing);
      const error = thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1, key: 'k' }));
      expect(error.code).toBe('KEY_CONFLICT');
      expect(error.message).toBe(
        `Request key 'k' was already used for lease '${lease.id}', which was checked in.`,
      );
    });

    it('answers a key whose lease was reclaimed with LEASE_REVOKED / LEASE_EXPIRED', () => {
      const h = harness([{ name: 'cad', seats: 3, model: 'concurrent', idleTimeoutMs: 60_000 }]);
      const id = h.open();
      const revoked = h.engine.checkout(id, { feature: 'cad', count: 1, key: 'admin' });
      h.engine.revoke(revoked.id, 'admin');
      expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1, key: 'admin' })).code).toBe(
        'LEASE_REVOKED',
      );
      expect(h.engine.listLeases()).toEqual([]);
    });

    it('still finds a held lease by its key after the key cache forgot it', () => {
      const h = harness([{ name: 'cad', seats: 10, model: 'concurrent' }], { requestKeyCacheSize: 2 });
      const id = h.open();
      const kept = h.engine.checkout(id, { feature: 'cad', count: 1, key: 'k0' });
      for (let i = 1; i <= 4; i++) h.engine.checkout(id, { feature: 'cad', count: 1, key: `k${i}` });
      expect(h.engine.checkout(id, { feature: 'cad', count: 1, key: 'k0' })).toEqual(kept);
      expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(5);
    });

    it('keeps a retried lease tied to its session: another session with that key gets a new lease', () => {
      const engine = new LeaseEngine({
        clock: new ManualClock(),
        leaseTtlMs: TTL,
        features: [{ name: 'cad', seats: 2, model: 'concurrent' }],
      });
      const a = engine.openSession(identity('a')).sessionId;
      const b = engine.openSession(identity('b')).sessionId;
      const la = engine.checkout(a, { feature: 'cad', count: 1, key: 'x' });
      const lb = engine.checkout(b, { feature: 'cad', count: 1, key: 'x' });
      expect(la.sessionId).toBe(a);
      expect(lb.sessionId).toBe(b);
    });
  });
});
