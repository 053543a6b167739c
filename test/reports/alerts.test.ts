/** Issue 7 §4: the alert evaluator on a real LeaseEngine driven by a ManualClock. */
import { describe, expect, it } from 'vitest';
import type { AlertCondition, AlertConfig } from '../../src/config/alerts.js';
import type { DirectoryConfig, FeatureConfig, LeaseView } from '../../src/engine/types.js';
import { AlertEvaluator, type AlertNotification, testNotification } from '../../src/reports/alerts.js';
import { type Harness, harness } from '../engine/fixtures.js';

const WALL = Date.UTC(2025, 0, 2, 3, 4, 5);

function alert(name: string, condition: AlertCondition, extra: Partial<AlertConfig> = {}): AlertConfig {
  return {
    name,
    feature: 'cad',
    condition,
    webhooks: [],
    webhookTimeoutMs: 5000,
    webhookRetries: 3,
    commandTimeoutMs: 10_000,
    ...extra,
  };
}

interface Setup {
  h: Harness;
  sent: AlertNotification[];
  evaluator: AlertEvaluator;
  /** Takes `count` seats in a session of its own; returns a function that gives them back. */
  take(count?: number, user?: string): () => void;
  kinds(): string[];
}

/** An engine, an evaluator that evaluates synchronously after each engine call, and a recorder. */
function setup(
  alerts: readonly AlertConfig[],
  features: readonly FeatureConfig[] = [{ name: 'cad', seats: 10, model: 'concurrent' }],
  directory?: DirectoryConfig,
): Setup {
  const h = harness(features, directory ? { directory } : {});
  const sent: AlertNotification[] = [];
  const evaluator = new AlertEvaluator({
    engine: h.engine,
    alerts,
    notify: (n) => sent.push(n),
    wallClock: () => WALL,
    schedule: (run) => run(),
  });
  const take = (count = 1, user = 'alice') => {
    const session = h.open(user);
    const lease: LeaseView = h.engine.checkout(session, { feature: 'cad', count });
    return () => void h.engine.checkin(session, lease.id, lease.fencing);
  };
  return { h, sent, evaluator, take, kinds: () => sent.map((n) => `${n.alert}:${n.kind}`) };
}

describe('hysteresis', () => {
  it('fires once on the crossing, stays quiet while flapping inside the band, re-arms at T + margin and fires again', () => {
    // T = 2, margin 2: fires at free ≤ 2, re-arms at free ≥ 4.
    const s = setup([alert('low', { when: 'free_at_most', seats: 2 }, { rearmMargin: 2 })]);
    const held = Array.from({ length: 7 }, () => s.take());
    expect(s.sent).toEqual([]); // free 3
    const eighth = s.take(); // free 2: crossing
    expect(s.sent).toEqual([
      {
        alert: 'low',
        kind: 'running_out',
        feature: 'cad',
        capacity: 10,
        in_use: 8,
        free: 2,
        threshold: 2,
        rearm_at: 4,
        message: "Concurrent seats of 'cad' are running out: 2 of 10 free (alert when ≤ 2).",
        time: '2025-01-02T03:04:05.000Z',
      },
    ]);
    // Flapping inside the band: free 2 → 1 → 2 → 1 → 3 → 2.
    const ninth = s.take();
    ninth();
    const again = s.take();
    eighth();
    again();
    s.take();
    expect(s.kinds()).toEqual(['low:running_out']);
    expect(s.evaluator.states()).toEqual([{ alert: 'low', feature: 'cad', fired: true }]);
    // free 2 → 3 → 4: re-armed, with one `recovered` notification (not a firing).
    held.pop()!();
    held.pop()!();
    expect(s.kinds()).toEqual(['low:running_out', 'low:recovered']);
    expect(s.sent[1]).toMatchObject({
      kind: 'recovered',
      free: 4,
      in_use: 6,
      message: "Concurrent seats of 'cad' are available again: 4 of 10 free (alert 'low' re-armed).",
    });
    expect(s.evaluator.states()[0]!.fired).toBe(false);
    s.take(); // free 3
    expect(s.sent).toHaveLength(2);
    s.take(); // free 2: a new crossing
    expect(s.kinds()).toEqual(['low:running_out', 'low:recovered', 'low:running_out']);
  });

  it('exhausted: fires when the last seat goes, with the vendor wording; default margin re-arms at 1 free of 10', () => {
    const s = setup([alert('out', { when: 'exhausted' })]);
    const held = Array.from({ length: 9 }, () => s.take());
    expect(s.sent).toEqual([]);
    const last = s.take();
    expect(s.sent).toHaveLength(1);
    expect(s.sent[0]).toMatchObject({
      kind: 'exhausted',
      in_use: 10,
      free: 0,
      threshold: 0,
      rearm_at: 1,
      message: "No concurrent seats of 'cad' are available (10 of 10 in use).",
    });
    last();
    expect(s.kinds()).toEqual(['out:exhausted', 'out:recovered']);
    s.take();
    expect(s.kinds()).toEqual(['out:exhausted', 'out:recovered', 'out:exhausted']);
    expect(held).toHaveLength(9);
  });

  it('a multi-seat checkout that jumps past the threshold fires once, not once per seat', () => {
    const s = setup([alert('low', { when: 'free_at_most', seats: 3 }), alert('out', { when: 'exhausted' })]);
    s.take(10);
    expect(s.kinds()).toEqual(['low:running_out', 'out:exhausted']);
  });

  it('the default margin is 10% of the capacity, at least 1 seat', () => {
    const s = setup(
      [alert('low', { when: 'free_at_most', seats: 5 })],
      [{ name: 'cad', seats: 40, model: 'concurrent' }],
    );
    s.take(35);
    expect(s.sent[0]).toMatchObject({ threshold: 5, rearm_at: 9 });
  });

  it('the re-arm point is capped at the capacity, so an alert near the top can still re-arm', () => {
    const s = setup(
      [alert('low', { when: 'free_at_most', seats: 2 }, { rearmMargin: 5 })],
      [{ name: 'cad', seats: 3, model: 'concurrent' }],
    );
    const release = s.take(1);
    expect(s.sent[0]).toMatchObject({ threshold: 2, rearm_at: 3 });
    release();
    expect(s.kinds()).toEqual(['low:running_out', 'low:recovered']);
  });
});

describe('conditions', () => {
  it('used_percent_at_least P fires at used ≥ ceil(P × capacity / 100)', () => {
    // 75% of 10 = 7.5 → 8 used, i.e. free ≤ 2.
    const s = setup([alert('busy', { when: 'used_percent_at_least', percent: 75 })]);
    s.take(7);
    expect(s.sent).toEqual([]);
    s.take(1);
    expect(s.sent[0]).toMatchObject({ kind: 'running_out', in_use: 8, free: 2, threshold: 2 });
  });

  it('a mixed feature is watched on its concurrent pool: named seats are not available to anyone', () => {
    const s = setup(
      [alert('out', { when: 'exhausted' })],
      [{ name: 'cad', seats: 4, model: 'mixed', namedUsers: ['carol'] }],
    );
    s.take(3, 'bob');
    expect(s.sent[0]).toMatchObject({
      kind: 'exhausted',
      capacity: 3,
      in_use: 3,
      message: "No concurrent seats of 'cad' are available (3 of 3 in use).",
    });
  });
});

describe('group alerts', () => {
  const directory: DirectoryConfig = {
    users: [],
    groups: [
      { name: 'design', users: ['dan', 'dee'] },
      { name: 'ops', users: ['olga'] },
    ],
  };
  const features: FeatureConfig[] = [
    {
      name: 'cad',
      seats: 10,
      model: 'concurrent',
      groupRules: [{ group: 'design', max: 4 }, { group: 'ops' }],
    },
  ];

  it("watch the group's seats against its max; other holders do not count", () => {
    const s = setup([alert('design-out', { when: 'exhausted' }, { group: 'design' })], features, directory);
    s.take(5, 'zed');
    s.take(3, 'dan');
    expect(s.sent).toEqual([]);
    const release = s.take(1, 'dee');
    expect(s.sent).toHaveLength(1);
    expect(s.sent[0]).toMatchObject({
      alert: 'design-out',
      kind: 'exhausted',
      group: 'design',
      capacity: 4,
      in_use: 4,
      free: 0,
      message: "No concurrent seats of 'cad' for group 'design' are available (4 of 4 in use).",
    });
    release();
    expect(s.sent.map((n) => n.kind)).toEqual(['exhausted', 'recovered']);
  });

  it("a group without a max: its own use against the pool's capacity (the pool may be full first)", () => {
    const s = setup(
      [alert('ops-low', { when: 'free_at_most', seats: 2 }, { group: 'ops' })],
      features,
      directory,
    );
    s.take(2, 'zed');
    s.take(7, 'olga');
    expect(s.sent).toEqual([]); // 1 seat of the pool free, but ops uses 7 of 10: 3 free for it
    s.take(1, 'olga');
    expect(s.sent[0]).toMatchObject({ group: 'ops', capacity: 10, in_use: 8, free: 2, kind: 'running_out' });
  });
});

describe('lifecycle', () => {
  it('evaluates every alert at start: a pool already exhausted notifies once', () => {
    const h = harness([{ name: 'cad', seats: 2, model: 'concurrent' }]);
    h.engine.checkout(h.open('alice'), { feature: 'cad', count: 2 });
    const sent: AlertNotification[] = [];
    new AlertEvaluator({
      engine: h.engine,
      alerts: [alert('out', { when: 'exhausted' })],
      notify: (n) => sent.push(n),
    });
    expect(sent.map((n) => n.kind)).toEqual(['exhausted']);
  });

  it('by default batches: the events of one engine call (or one burst) are evaluated once, a microtask later', async () => {
    const h = harness([{ name: 'cad', seats: 10, model: 'concurrent' }]);
    const sent: AlertNotification[] = [];
    let reads = 0;
    const engine = {
      featureStatus: (name?: string) => {
        reads++;
        return h.engine.featureStatus(name);
      },
      on: h.engine.on.bind(h.engine),
      off: h.engine.off.bind(h.engine),
    };
    new AlertEvaluator({
      engine,
      alerts: [alert('out', { when: 'exhausted' }, { rearmMargin: 10 })],
      notify: (n) => sent.push(n),
    });
    reads = 0;
    const session = h.open('alice');
    for (let i = 0; i < 10; i++) h.engine.checkout(session, { feature: 'cad', count: 1 });
    expect(sent).toEqual([]);
    await Promise.resolve();
    expect(reads).toBe(1);
    expect(sent.map((n) => n.kind)).toEqual(['exhausted']);
    h.engine.endSession(session); // ten `released` events
    await Promise.resolve();
    expect(reads).toBe(2);
    expect(sent.map((n) => `${n.kind}:${n.free}`)).toEqual(['exhausted:0', 'recovered:10']);
  });

  it('reload keeps the state of unchanged alerts; a changed condition starts armed', () => {
    const low = alert('low', { when: 'free_at_most', seats: 2 }, { rearmMargin: 2 });
    const out = alert('out', { when: 'exhausted' });
    const s = setup([low, out]);
    s.take(10);
    expect(s.kinds()).toEqual(['low:running_out', 'out:exhausted']);
    // Same definitions (new targets and margin do not count): no new notification.
    s.evaluator.update([{ ...low, rearmMargin: 3, webhooks: ['http://example.test/'] }, out]);
    expect(s.sent).toHaveLength(2);
    expect(s.evaluator.states().map((a) => a.fired)).toEqual([true, true]);
    // `low` redefined: armed again, and it fires against the current state; `out` removed.
    s.evaluator.update([{ ...low, condition: { when: 'free_at_most', seats: 3 } }]);
    expect(s.kinds()).toEqual(['low:running_out', 'out:exhausted', 'low:running_out']);
    expect(s.evaluator.states()).toEqual([{ alert: 'low', feature: 'cad', fired: true }]);
    // `out` back: a new alert starts armed.
    s.evaluator.update([{ ...low, condition: { when: 'free_at_most', seats: 3 } }, out]);
    expect(s.kinds().at(-1)).toBe('out:exhausted');
  });

  it('seatsChanged re-evaluates: more seats on reconfigure recover an exhausted alert', () => {
    const s = setup([alert('out', { when: 'exhausted' })], [{ name: 'cad', seats: 2, model: 'concurrent' }]);
    s.take(2);
    s.h.engine.reconfigure([{ name: 'cad', seats: 5, model: 'concurrent' }], { users: [], groups: [] });
    expect(s.sent.map((n) => `${n.kind}:${n.free}/${n.capacity}`)).toEqual([
      'exhausted:0/2',
      'recovered:3/5',
    ]);
  });

  it('a feature removed by a reload is skipped until update() brings the new list', () => {
    const s = setup(
      [alert('out', { when: 'exhausted' })],
      [
        { name: 'cad', seats: 2, model: 'concurrent' },
        { name: 'cam', seats: 1, model: 'concurrent' },
      ],
    );
    s.take(1);
    expect(() =>
      s.h.engine.reconfigure([{ name: 'cam', seats: 1, model: 'concurrent' }], { users: [], groups: [] }),
    ).not.toThrow();
    s.evaluator.update([]);
    expect(s.sent).toEqual([]);
  });

  it('close() stops listening; a throwing notify goes to onError and never into the engine', () => {
    const h = harness([{ name: 'cad', seats: 1, model: 'concurrent' }]);
    const errors: unknown[] = [];
    const evaluator = new AlertEvaluator({
      engine: h.engine,
      alerts: [alert('out', { when: 'exhausted' })],
      notify: () => {
        throw new Error('receiver broke');
      },
      onError: (err) => errors.push(err),
      schedule: (run) => run(),
    });
    const session = h.open('alice');
    const lease = h.engine.checkout(session, { feature: 'cad', count: 1 });
    expect(errors).toHaveLength(1);
    evaluator.close();
    h.engine.checkin(session, lease.id, lease.fencing);
    h.engine.checkout(session, { feature: 'cad', count: 1 });
    expect(errors).toHaveLength(1);
  });
});

describe('testNotification', () => {
  it("has the alert's kind, test: true, the configured numbers and no usage", () => {
    const n = testNotification(alert('low', { when: 'used_percent_at_least', percent: 80 }), 10, WALL);
    expect(n).toEqual({
      alert: 'low',
      kind: 'running_out',
      feature: 'cad',
      capacity: 10,
      in_use: null,
      free: null,
      threshold: 2,
      rearm_at: 3,
      message:
        "Test of alert 'low': this is how you will hear that concurrent seats of 'cad' are running out " +
        '(alert when ≤ 2 of 10 free). Current usage: test, not read.',
      time: '2025-01-02T03:04:05.000Z',
      test: true,
    });
    expect(testNotification(alert('out', { when: 'exhausted' }), 10, WALL).kind).toBe('exhausted');
  });
});
