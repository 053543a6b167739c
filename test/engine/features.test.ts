import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { LeaseEngine } from '../../src/engine/engine.js';
import { harness, TTL, thrown } from './fixtures.js';

describe('seats and overdraft (DESIGN §3.1)', () => {
  it('lowering seats evicts nothing, reports the overdraft and grants nothing until usage < seats', () => {
    const h = harness([{ name: 'cad', seats: 5, model: 'concurrent' }]);
    const id = h.open();
    const leases = Array.from({ length: 5 }, () => h.engine.checkout(id, { feature: 'cad', count: 1 }));
    h.engine.setSeats('cad', 3);
    expect(h.eventsOf('seatsChanged')).toEqual([{ feature: 'cad', seats: 3, inUse: 5, overdraft: 2 }]);
    expect(h.engine.featureStatus('cad')[0]).toMatchObject({ seats: 3, inUse: 5, free: 0, overdraft: 2 });
    expect(h.engine.listLeases()).toHaveLength(5);

    const denied = thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1 }));
    expect(denied.code).toBe('NO_SEATS');
    expect(denied.message).toBe(
      "Feature 'cad' was lowered to 3 seats while 5 were in use; no seat is granted until fewer than 3 are in use. " +
        'Wait for a free seat or ask an admin to free one.',
    );
    expect(denied.details).toEqual({ feature: 'cad', seats: 3, in_use: 5, requested: 1 });

    // 5 → 4 → 3 in use: still no room.
    for (const lease of leases.slice(0, 2)) {
      h.engine.checkin(id, lease.id, lease.fencing);
      expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1 })).code).toBe('NO_SEATS');
    }
    expect(h.engine.featureStatus('cad')[0]).toMatchObject({ inUse: 3, overdraft: 0 });
    // Below the new count: grants resume, up to the new limit only.
    h.engine.checkin(id, leases[2]!.id, leases[2]!.fencing);
    expect(h.engine.checkout(id, { feature: 'cad', count: 1 }).count).toBe(1);
    expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1 })).code).toBe('NO_SEATS');
  });

  it('raising seats makes room at once', () => {
    const h = harness([{ name: 'cad', seats: 1, model: 'concurrent' }]);
    const id = h.open();
    h.engine.checkout(id, { feature: 'cad', count: 1 });
    expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1 })).code).toBe('NO_SEATS');
    h.engine.setSeats('cad', 2);
    expect(h.eventsOf('seatsChanged')).toEqual([{ feature: 'cad', seats: 2, inUse: 1, overdraft: 0 }]);
    expect(h.engine.checkout(id, { feature: 'cad', count: 1 }).count).toBe(1);
  });

  it('emits nothing when the seats do not change, and refuses bad counts or features', () => {
    const h = harness();
    h.engine.setSeats('cad', 3);
    expect(h.eventsOf('seatsChanged')).toEqual([]);
    expect(thrown(() => h.engine.setSeats('cad', -1)).code).toBe('INVALID_REQUEST');
    expect(thrown(() => h.engine.setSeats('cad', 2.5)).code).toBe('INVALID_REQUEST');
    expect(thrown(() => h.engine.setSeats('nope', 2)).code).toBe('UNKNOWN_FEATURE');
    expect(h.engine.featureStatus('cad')[0]?.seats).toBe(3);
  });

  it('allows 0 seats: the feature stays known and nothing can be checked out', () => {
    const h = harness();
    const id = h.open();
    h.engine.setSeats('cad', 0);
    expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1 })).code).toBe(
      'COUNT_EXCEEDS_SEATS',
    );
  });
});

describe('features', () => {
  it('adds a feature at run time', () => {
    const h = harness();
    h.engine.addFeature({ name: 'cam', seats: 2, model: 'concurrent' });
    expect(h.engine.checkout(h.open(), { feature: 'cam', count: 2 }).feature).toBe('cam');
    expect(thrown(() => h.engine.addFeature({ name: 'cam', seats: 2, model: 'concurrent' })).code).toBe(
      'INVALID_REQUEST',
    );
  });

  it('updates seats and the idle timeout, keeping leases, and re-arms idle deadlines', () => {
    const h = harness([{ name: 'cad', seats: 3, model: 'concurrent', idleTimeoutMs: 600_000 }]);
    const id = h.open();
    const lease = h.engine.checkout(id, { feature: 'cad', count: 2 });
    h.engine.updateFeature({ name: 'cad', seats: 1, model: 'concurrent', idleTimeoutMs: 5_000 });
    expect(h.eventsOf('seatsChanged')).toEqual([{ feature: 'cad', seats: 1, inUse: 2, overdraft: 1 }]);
    expect(h.engine.featureStatus('cad')[0]).toMatchObject({ seats: 1, idleTimeoutMs: 5_000, overdraft: 1 });
    expect(h.engine.nextDeadline()).toBe(1_000 + 5_000);
    h.clock.advance(4_999);
    expect(h.engine.sweep()).toBe(0);
    h.clock.advance(1);
    expect(h.engine.sweep()).toBe(1);
    expect(h.eventsOf('reclaimed')).toMatchObject([{ lease: { id: lease.id }, reason: 'idle' }]);
  });

  it('stops idle reclaim when the timeout is removed, and starts it when one is set', () => {
    const h = harness([{ name: 'cad', seats: 3, model: 'concurrent', idleTimeoutMs: 5_000 }]);
    const id = h.open();
    const lease = h.engine.checkout(id, { feature: 'cad', count: 1 });
    h.engine.updateFeature({ name: 'cad', seats: 3, model: 'concurrent' });
    h.clock.advance(10_000);
    h.engine.heartbeat(id);
    expect(h.engine.lease(lease.id)).toBeDefined();
    h.engine.updateFeature({ name: 'cad', seats: 3, model: 'concurrent', idleTimeoutMs: 20_000 });
    h.clock.advance(9_999);
    h.engine.heartbeat(id);
    expect(h.engine.lease(lease.id)).toBeDefined();
    h.clock.advance(1);
    expect(h.engine.sweep()).toBe(1);
  });

  it('removing a feature reclaims its leases with reason feature_removed', () => {
    const h = harness([
      { name: 'cad', seats: 3, model: 'concurrent' },
      { name: 'cam', seats: 3, model: 'concurrent' },
    ]);
    const id = h.open();
    const a = h.engine.checkout(id, { feature: 'cad', count: 1, key: 'a' });
    const b = h.engine.checkout(id, { feature: 'cad', count: 2 });
    const other = h.engine.checkout(id, { feature: 'cam', count: 1 });
    expect(h.engine.removeFeature('cad')).toEqual({ reclaimed: 2 });
    expect(h.eventsOf('reclaimed')).toEqual([
      { lease: a, reason: 'feature_removed' },
      { lease: b, reason: 'feature_removed' },
    ]);
    expect(h.engine.listLeases()).toEqual([other]);
    expect(h.engine.featureStatus().map((f) => f.name)).toEqual(['cam']);
    expect(thrown(() => h.engine.featureStatus('cad')).code).toBe('UNKNOWN_FEATURE');
    expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1 })).code).toBe('UNKNOWN_FEATURE');
    expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1, key: 'a' })).code).toBe(
      'LEASE_REVOKED',
    );
    expect(thrown(() => h.engine.checkin(id, b.id, b.fencing)).code).toBe('LEASE_REVOKED');
    expect(thrown(() => h.engine.removeFeature('cad')).code).toBe('UNKNOWN_FEATURE');
    // Added back, it starts empty.
    h.engine.addFeature({ name: 'cad', seats: 3, model: 'concurrent' });
    expect(h.engine.featureStatus('cad')[0]).toMatchObject({ inUse: 0, leases: [] });
  });

  it('accepts the named and mixed models, and refuses named assignments on a concurrent feature', () => {
    const clock = new ManualClock();
    for (const model of ['named', 'mixed'] as const) {
      const engine = new LeaseEngine({
        clock,
        leaseTtlMs: TTL,
        features: [{ name: 'cad', seats: 2, model, namedUsers: ['alice'] }],
      });
      expect(engine.featureStatus('cad')[0]).toMatchObject({ model, namedSeats: 1, concurrentSeats: 1 });
    }
    const h = harness();
    const error = thrown(() =>
      h.engine.updateFeature({ name: 'cad', seats: 3, model: 'concurrent', namedUsers: ['alice'] }),
    );
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toBe(
      "Feature 'cad': named assignments need model 'named' or 'mixed'; the model is 'concurrent'.",
    );
    expect(h.engine.featureStatus('cad')[0]?.model).toBe('concurrent');
  });

  it('validates the engine options and feature configs', () => {
    const clock = new ManualClock();
    const bad = [
      { clock, leaseTtlMs: 0, features: [] },
      { clock, leaseTtlMs: TTL, features: [], maxLeasesPerSession: 0 },
      { clock, leaseTtlMs: TTL, features: [], initialFencing: -1 },
      { clock, leaseTtlMs: TTL, features: [{ name: '', seats: 1, model: 'concurrent' as const }] },
      {
        clock,
        leaseTtlMs: TTL,
        features: [{ name: 'a', seats: 1, model: 'concurrent' as const, idleTimeoutMs: 0 }],
      },
      {
        clock,
        leaseTtlMs: TTL,
        features: [
          { name: 'a', seats: 1, model: 'concurrent' as const },
          { name: 'a', seats: 2, model: 'concurrent' as const },
        ],
      },
    ];
    for (const options of bad) expect(thrown(() => new LeaseEngine(options)).code).toBe('INVALID_REQUEST');
  });
});

describe('queries', () => {
  it('reports a feature configuration as it is now', () => {
    const h = harness([{ name: 'cad', seats: 3, model: 'concurrent', idleTimeoutMs: 9_000 }]);
    expect(h.engine.featureConfig('cad')).toEqual({
      name: 'cad',
      seats: 3,
      model: 'concurrent',
      idleTimeoutMs: 9_000,
    });
    h.engine.updateFeature({ name: 'cad', seats: 4, model: 'concurrent' });
    expect(h.engine.featureConfig('cad')).toEqual({ name: 'cad', seats: 4, model: 'concurrent' });
    expect(h.engine.featureConfig('nope')).toBeUndefined();
  });

  it('lists leases sorted by grant time then id, with filters', () => {
    const h = harness([
      { name: 'cad', seats: 5, model: 'concurrent' },
      { name: 'cam', seats: 5, model: 'concurrent' },
    ]);
    const alice = h.open('alice', 'ws1');
    const bob = h.open('bob', 'ws2');
    const l1 = h.engine.checkout(bob, { feature: 'cad', count: 1 });
    const l2 = h.engine.checkout(alice, { feature: 'cam', count: 1 });
    h.clock.advance(1);
    const l3 = h.engine.checkout(alice, { feature: 'cad', count: 1 });
    const sorted = [l1, l2].sort((a, b) => (a.id < b.id ? -1 : 1));
    // Compared by id: a checkout renews its session, so alice's earlier view is out of date.
    const ids = (leases: readonly { id: string }[]) => leases.map((l) => l.id);
    expect(ids(h.engine.listLeases())).toEqual(ids([...sorted, l3]));
    expect(ids(h.engine.listLeases({ feature: 'cad' }))).toEqual(ids([l1, l3]));
    expect(ids(h.engine.listLeases({ user: 'alice' }))).toEqual(ids([l2, l3]));
    expect(h.engine.listLeases({ host: 'ws2' })).toEqual([l1]);
    expect(ids(h.engine.listLeases({ sessionId: alice, feature: 'cad' }))).toEqual(ids([l3]));
    expect(h.engine.listLeases({ sessionId: 'nope' })).toEqual([]);
    expect(ids(h.engine.featureStatus('cad')[0]?.leases ?? [])).toEqual(ids([l1, l3]));
  });

  it('reports every feature in configuration order', () => {
    const h = harness([
      { name: 'zeta', seats: 1, model: 'concurrent' },
      { name: 'alpha', seats: 2, model: 'concurrent', idleTimeoutMs: 1_000 },
    ]);
    expect(h.engine.featureStatus()).toEqual([
      {
        name: 'zeta',
        model: 'concurrent',
        seats: 1,
        inUse: 0,
        free: 1,
        queued: 0,
        overdraft: 0,
        namedSeats: 0,
        namedInUse: 0,
        concurrentSeats: 1,
        concurrentInUse: 0,
        groups: [],
        leases: [],
      },
      {
        name: 'alpha',
        model: 'concurrent',
        seats: 2,
        inUse: 0,
        free: 2,
        queued: 0,
        overdraft: 0,
        namedSeats: 0,
        namedInUse: 0,
        concurrentSeats: 2,
        concurrentInUse: 0,
        groups: [],
        idleTimeoutMs: 1_000,
        leases: [],
      },
    ]);
  });
});
