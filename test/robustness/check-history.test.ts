/**
 * The history checker itself (issue 9 §1), on hand-made histories: one that keeps every promise,
 * and one breaking each rule, so the checker is known to catch what the fault tests rely on it for.
 */
import { describe, expect, it } from 'vitest';
import { checkHistory, type Rule } from './check-history.js';
import type { HistoryEvent } from './history.js';

/** A small history builder: times in ms, deadlines explicit, op numbers made up. */
class H {
  readonly events: HistoryEvent[] = [];
  #op = 0;

  grant(
    client: string,
    lease: string,
    fencing: number,
    at: number,
    deadline: number,
    more: { invokedAt?: number; feature?: string; count?: number } = {},
  ): this {
    const op = ++this.#op;
    const feature = more.feature ?? 'cad';
    const count = more.count ?? 1;
    this.events.push({ type: 'checkout:invoke', t: more.invokedAt ?? at - 1, client, op, feature, count });
    this.events.push({ type: 'checkout:ok', t: at, client, op, lease, feature, count, fencing, deadline });
    return this;
  }

  release(client: string, lease: string, at: number, deadline: number, acked = true): this {
    const op = ++this.#op;
    this.events.push({ type: 'release:invoke', t: at, client, op, lease, deadline });
    if (acked) this.events.push({ type: 'release:ok', t: at + 1, client, op, lease });
    return this;
  }

  lost(
    client: string,
    lease: string,
    at: number,
    deadline: number,
    code = 'LEASE_EXPIRED',
    reason = 'expired',
  ): this {
    this.events.push({ type: 'lost', t: at, client, lease, code, reason, deadline });
    return this;
  }

  held(client: string, lease: string, at: number, deadline: number): this {
    this.events.push({ type: 'held', t: at, client, lease, deadline });
    return this;
  }

  use(client: string, lease: string, at: number): this {
    this.events.push({ type: 'use', t: at, client, lease });
    return this;
  }
}

const rules = (v: readonly { rule: Rule }[]) => [...new Set(v.map((x) => x.rule))].sort();

describe('checkHistory', () => {
  it('accepts a history that keeps every promise', () => {
    const h = new H()
      .grant('a', 'L1', 1, 100, 1000)
      .use('a', 'L1', 150)
      .release('a', 'L1', 200, 1000)
      // b is granted right after a released: one seat, never two.
      .grant('b', 'L2', 2, 210, 1100)
      // a paused: its deadline (600) passed long before it noticed (lost at 900); c granted at 700.
      .grant('a', 'L3', 3, 300, 600, { feature: 'cam' })
      .lost('a', 'L3', 900, 600)
      .grant('c', 'L4', 4, 700, 1500, { feature: 'cam' })
      .held('b', 'L2', 2000, 2500)
      .held('c', 'L4', 2000, 2500);
    expect(
      checkHistory(h.events, { seats: 1, serverLeases: [{ id: 'L2' }, { id: 'L4' }, { id: 'L3' }] }),
    ).toEqual([]);
  });

  it('seats: two leases valid by their holders’ deadlines at once on a one-seat feature', () => {
    // a's deadline (800) is still live when b is granted at 700: the server re-granted too early.
    const h = new H()
      .grant('a', 'L1', 1, 100, 800)
      .lost('a', 'L1', 900, 800)
      .grant('b', 'L2', 2, 700, 2000)
      .held('b', 'L2', 2500, 3000);
    const v = checkHistory(h.events, { seats: 1 });
    expect(rules(v)).toEqual(['seats']);
    expect(v[0]!.at).toBe(700);
    expect(v[0]!.leases).toEqual(['L1', 'L2']);
    // With two seats the same history is fine.
    expect(checkHistory(h.events, { seats: 2 })).toEqual([]);
  });

  it('seats: counts seats, not leases, and keeps features apart', () => {
    const h = new H()
      .grant('a', 'L1', 1, 100, 1000, { count: 2 })
      .grant('b', 'L2', 2, 200, 1000, { feature: 'cam', count: 3 })
      .grant('c', 'L3', 3, 300, 1000)
      .held('a', 'L1', 500, 1000)
      .held('b', 'L2', 500, 1000)
      .held('c', 'L3', 500, 1000);
    expect(rules(checkHistory(h.events, { seats: { cad: 2, cam: 3 } }))).toEqual(['seats']);
    expect(checkHistory(h.events, { seats: { cad: 3, cam: 3 } })).toEqual([]);
  });

  it('seats: a release ends the span when it is invoked, not when it is acknowledged', () => {
    const h = new H()
      .grant('a', 'L1', 1, 100, 1000)
      .release('a', 'L1', 200, 1000)
      .grant('b', 'L2', 2, 200, 1000)
      .held('b', 'L2', 300, 1000);
    expect(checkHistory(h.events, { seats: 1 })).toEqual([]);
  });

  it('grants: an acknowledged grant that vanishes without a release, a loss or a hold', () => {
    const h = new H().grant('a', 'L1', 1, 100, 1000);
    const v = checkHistory(h.events, { seats: 1 });
    expect(rules(v)).toEqual(['grants']);
    expect(v[0]!.message).toContain('disappeared');
  });

  it('grants: a loss the run does not allow (the daemon forgot a lease across a restart)', () => {
    const h = new H()
      .grant('a', 'L1', 1, 100, 1000)
      .lost('a', 'L1', 500, 1000, 'LEASE_NOT_FOUND', 'not_found');
    expect(checkHistory(h.events, { seats: 1 })).toEqual([]);
    const v = checkHistory(h.events, { seats: 1, allowLoss: (e) => e.code === 'LEASE_EXPIRED' });
    expect(rules(v)).toEqual(['grants']);
    expect(v[0]!.message).toContain('LEASE_NOT_FOUND');
    // A loss must say why.
    const silent = new H().grant('a', 'L1', 1, 100, 1000).lost('a', 'L1', 500, 1000, 'LEASE_EXPIRED', '');
    expect(rules(checkHistory(silent.events, { seats: 1 }))).toEqual(['grants']);
  });

  it('grants: the clients and the daemon disagree at the end', () => {
    const h = new H()
      .grant('a', 'L1', 1, 100, 1000)
      .held('a', 'L1', 500, 1000)
      .grant('b', 'L2', 2, 110, 1000)
      .release('b', 'L2', 200, 1000);
    // a believes it holds L1, the daemon does not; the daemon holds L2 though its release was acknowledged,
    // and L9 that nobody was ever granted.
    const v = checkHistory(h.events, { seats: 2, serverLeases: [{ id: 'L2' }, { id: 'L9' }] });
    expect(v.map((x) => x.leases)).toEqual([['L1'], ['L2'], ['L9']]);
    expect(rules(v)).toEqual(['grants']);
  });

  it('grants: one lease acknowledged to two clients', () => {
    const h = new H()
      .grant('a', 'L1', 1, 100, 1000)
      .grant('b', 'L1', 1, 120, 1000)
      .held('a', 'L1', 500, 1000);
    expect(rules(checkHistory(h.events, { seats: 2 }))).toEqual(['grants']);
  });

  it('fencing: a token that does not grow across a restart, and a shared token', () => {
    // L2's checkout began (300) after L1's grant was acknowledged (100), yet its token is smaller.
    const h = new H()
      .grant('a', 'L1', 7, 100, 1000)
      .release('a', 'L1', 200, 1000)
      .grant('b', 'L2', 3, 400, 1000, { invokedAt: 300 })
      .held('b', 'L2', 500, 1000);
    const v = checkHistory(h.events, { seats: 1 });
    expect(rules(v)).toEqual(['fencing']);
    expect(v[0]!.leases).toEqual(['L1', 'L2']);
    const shared = new H()
      .grant('a', 'L1', 5, 100, 1000)
      .grant('b', 'L2', 5, 100, 1000)
      .held('a', 'L1', 500, 1000)
      .held('b', 'L2', 500, 1000);
    expect(rules(checkHistory(shared.events, { seats: 2 }))).toEqual(['fencing']);
  });

  it('fencing: concurrent checkouts may be acknowledged in either order', () => {
    // Both checkouts began before either was acknowledged: the daemon may have granted them either way.
    const h = new H()
      .grant('a', 'L1', 9, 200, 1000, { invokedAt: 50 })
      .grant('b', 'L2', 8, 210, 1000, { invokedAt: 60 })
      .held('a', 'L1', 500, 1000)
      .held('b', 'L2', 500, 1000);
    expect(checkHistory(h.events, { seats: 2 })).toEqual([]);
  });

  it('use: the application used a lease after its client-side deadline', () => {
    const h = new H()
      .grant('a', 'L1', 1, 100, 600)
      .use('a', 'L1', 500)
      .use('a', 'L1', 650)
      .lost('a', 'L1', 700, 600);
    const v = checkHistory(h.events, { seats: 1 });
    expect(rules(v)).toEqual(['use']);
    expect(v[0]!.at).toBe(650);
  });

  it('a client that stopped recording (killed) is bounded by the last deadline it recorded', () => {
    const h = new H().grant('a', 'L1', 1, 100, 600);
    h.events.push({ type: 'deadline', t: 300, client: 'a', deadline: 900 });
    h.grant('b', 'L2', 2, 800, 2000).held('b', 'L2', 2500, 3000);
    const v = checkHistory(h.events, { seats: 1 });
    // L1 counts until 900, so b's grant at 800 overlaps it; and L1 has no end.
    expect(rules(v)).toEqual(['grants', 'seats']);
  });
});
