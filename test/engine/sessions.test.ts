import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { LeaseEngine } from '../../src/engine/engine.js';
import { countingRandom, harness, identity, TTL, thrown } from './fixtures.js';

describe('sessions', () => {
  it('opens a session with a 128-bit id and a 256-bit resume token', () => {
    const engine = new LeaseEngine({ clock: new ManualClock(), leaseTtlMs: TTL, features: [] });
    const { sessionId, resumeToken } = engine.openSession(identity());
    expect(sessionId).toMatch(/^[0-9a-f]{32}$/);
    expect(resumeToken).toMatch(/^[0-9a-f]{64}$/);
    const other = engine.openSession(identity());
    expect(other.sessionId).not.toBe(sessionId);
    expect(other.resumeToken).not.toBe(resumeToken);
  });

  it('reports the session, its deadline and its leases', () => {
    const h = harness();
    const { sessionId: id, resumeToken } = h.engine.openSession(identity());
    const lease = h.engine.checkout(id, { feature: 'cad', count: 1 });
    expect(h.engine.session(id)).toEqual({
      id,
      identity: identity(),
      openedAt: 1_000,
      lastHeartbeatAt: 1_000,
      deadline: 1_000 + TTL,
      leaseIds: [lease.id],
    });
    expect(h.eventsOf('sessionOpened')).toEqual([
      {
        session: {
          id,
          identity: identity(),
          openedAt: 1_000,
          lastHeartbeatAt: 1_000,
          deadline: 1_000 + TTL,
          leaseIds: [],
        },
        // Only the hash of the token is kept (and journaled): sha256 of its raw bytes.
        tokenHash: createHash('sha256').update(Buffer.from(resumeToken, 'hex')).digest('hex'),
      },
    ]);
  });

  it('refuses an identity without user, host or client name, and changes nothing', () => {
    const h = harness();
    expect(thrown(() => h.engine.openSession({ user: '', host: 'h', clientName: 'c' })).code).toBe(
      'INVALID_REQUEST',
    );
    expect(thrown(() => h.engine.openSession({ user: 'u', host: 'h', clientName: '' })).code).toBe(
      'INVALID_REQUEST',
    );
    expect(h.events).toEqual([]);
  });

  it('copies the identity, so the caller cannot change it afterwards', () => {
    const h = harness();
    const who = { user: 'alice', host: 'ws1', clientName: 'x' };
    const { sessionId } = h.engine.openSession(who);
    who.user = 'mallory';
    expect(h.engine.session(sessionId)?.identity.user).toBe('alice');
  });

  describe('expiry (DESIGN §3.3: no reclaim earlier than ttl after the last heartbeat)', () => {
    it('is not reclaimed at ttl − 1 ms, and is reclaimed by the sweep at ttl', () => {
      const h = harness();
      const id = h.open();
      const lease = h.engine.checkout(id, { feature: 'cad', count: 2 });
      h.clock.advance(TTL - 1);
      expect(h.engine.sweep()).toBe(0);
      expect(h.engine.lease(lease.id)).toBeDefined();
      h.clock.advance(1);
      expect(h.engine.sweep()).toBe(1);
      expect(h.engine.lease(lease.id)).toBeUndefined();
      expect(h.engine.session(id)).toBeUndefined();
      expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(0);
      expect(h.eventsOf('reclaimed')).toEqual([{ lease, reason: 'expired' }]);
      expect(h.eventsOf('sessionEnded')).toEqual([{ sessionId: id, reason: 'expired' }]);
    });

    it('counts from the last heartbeat: a heartbeat extends the session', () => {
      const h = harness();
      const id = h.open();
      h.engine.checkout(id, { feature: 'cad', count: 1 });
      h.clock.advance(10_000);
      expect(h.engine.heartbeat(id)).toEqual({ ttlMs: TTL, lost: [] });
      h.clock.set(1_000 + 10_000 + TTL - 1);
      expect(h.engine.sweep()).toBe(0);
      expect(h.engine.session(id)?.deadline).toBe(1_000 + 10_000 + TTL);
      h.clock.advance(1);
      expect(h.engine.sweep()).toBe(1);
      expect(h.engine.session(id)).toBeUndefined();
    });

    it('expires sessions that hold no lease, without reclaim events', () => {
      const h = harness();
      const id = h.open();
      h.clock.advance(TTL);
      expect(h.engine.sweep()).toBe(0);
      expect(h.engine.session(id)).toBeUndefined();
      expect(h.eventsOf('reclaimed')).toEqual([]);
      expect(h.eventsOf('sessionEnded')).toEqual([{ sessionId: id, reason: 'expired' }]);
    });

    it('does not let a late heartbeat revive a session the timer has not swept yet', () => {
      const h = harness();
      const id = h.open();
      const lease = h.engine.checkout(id, { feature: 'cad', count: 1 });
      h.clock.advance(TTL + 200); // the server's timer is late
      expect(thrown(() => h.engine.heartbeat(id)).code).toBe('SESSION_NOT_FOUND');
      expect(h.eventsOf('reclaimed')).toEqual([{ lease, reason: 'expired' }]);
    });

    it('reclaims every lease of the session once, reason expired', () => {
      const h = harness([
        { name: 'cad', seats: 3, model: 'concurrent' },
        { name: 'cam', seats: 3, model: 'concurrent' },
      ]);
      const id = h.open();
      const a = h.engine.checkout(id, { feature: 'cad', count: 1 });
      const b = h.engine.checkout(id, { feature: 'cam', count: 2 });
      h.clock.advance(TTL);
      expect(h.engine.sweep()).toBe(2);
      expect(h.engine.sweep()).toBe(0);
      expect(h.eventsOf('reclaimed').map((e) => [e.lease.id, e.reason])).toEqual([
        [a.id, 'expired'],
        [b.id, 'expired'],
      ]);
      expect(h.eventsOf('sessionEnded')).toHaveLength(1);
    });
  });

  describe('resume (DESIGN §3.5)', () => {
    it('renews the session and keeps its leases', () => {
      const h = harness();
      const { sessionId, resumeToken } = h.engine.openSession(identity());
      const lease = h.engine.checkout(sessionId, { feature: 'cad', count: 1 });
      h.clock.advance(TTL - 1);
      const view = h.engine.resumeSession(sessionId, resumeToken, '10.0.0.9:4000');
      expect(view.leaseIds).toEqual([lease.id]);
      expect(view.lastHeartbeatAt).toBe(1_000 + TTL - 1);
      expect(view.identity.peer).toBe('10.0.0.9:4000');
      expect(h.engine.lease(lease.id)?.peer).toBe('10.0.0.9:4000');
      h.clock.advance(TTL - 1);
      expect(h.engine.sweep()).toBe(0);
      h.clock.advance(1);
      expect(h.engine.sweep()).toBe(1);
    });

    it('answers SESSION_NOT_FOUND alike for a wrong token, an unknown session and an expired one', () => {
      const h = harness();
      const { sessionId, resumeToken } = h.engine.openSession(identity());
      const wrong = thrown(() => h.engine.resumeSession(sessionId, 'f'.repeat(64)));
      const malformed = thrown(() => h.engine.resumeSession(sessionId, 'not hex'));
      const unknown = thrown(() => h.engine.resumeSession('0'.repeat(32), resumeToken));
      h.clock.advance(TTL);
      const expired = thrown(() => h.engine.resumeSession(sessionId, resumeToken));
      for (const error of [wrong, malformed, unknown, expired]) {
        expect(error.code).toBe('SESSION_NOT_FOUND');
        expect(error.message).toBe(wrong.message);
      }
      // The wrong tokens did not renew the session: it expired on time.
      expect(h.eventsOf('sessionEnded')).toEqual([{ sessionId, reason: 'expired' }]);
    });

    it('does not accept the token of another session', () => {
      const h = harness();
      const a = h.engine.openSession(identity('a'));
      const b = h.engine.openSession(identity('b'));
      expect(thrown(() => h.engine.resumeSession(a.sessionId, b.resumeToken)).code).toBe('SESSION_NOT_FOUND');
    });
  });

  describe('endSession', () => {
    it('releases every lease as a checkin and removes the session', () => {
      const h = harness();
      const id = h.open();
      const a = h.engine.checkout(id, { feature: 'cad', count: 1 });
      const b = h.engine.checkout(id, { feature: 'cad', count: 2 });
      expect(h.engine.endSession(id)).toEqual({ released: 2 });
      expect(h.eventsOf('released').map((e) => e.lease.id)).toEqual([a.id, b.id]);
      expect(h.eventsOf('sessionEnded')).toEqual([{ sessionId: id, reason: 'closed' }]);
      expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(0);
      expect(thrown(() => h.engine.endSession(id)).code).toBe('SESSION_NOT_FOUND');
      expect(thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1 })).code).toBe(
        'SESSION_NOT_FOUND',
      );
      // The ended session's heap entry is dropped lazily: no second sessionEnded.
      h.clock.advance(TTL);
      h.engine.sweep();
      expect(h.eventsOf('sessionEnded')).toHaveLength(1);
    });
  });

  it('treats a clock that steps back as standing still', () => {
    let now = 5_000;
    const engine = new LeaseEngine({ clock: { now: () => now }, leaseTtlMs: TTL, features: [] });
    const { sessionId } = engine.openSession(identity());
    now = 4_000;
    engine.heartbeat(sessionId);
    expect(engine.session(sessionId)?.lastHeartbeatAt).toBe(5_000);
  });

  it('uses the injected random source for ids and tokens', () => {
    const engine = new LeaseEngine({
      clock: new ManualClock(),
      leaseTtlMs: TTL,
      features: [],
      random: countingRandom(),
    });
    expect(engine.openSession(identity()).sessionId).toBe(`${'a5'.repeat(12)}00000001`);
  });
});
