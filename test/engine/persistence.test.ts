/** Issue 5 in the engine: journal records, exportState/restore, restart grace, and reconfigure. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { type EngineOptions, type EngineState, LeaseEngine } from '../../src/engine/engine.js';
import { type JournalRecord, toJournalRecord } from '../../src/engine/journal-records.js';
import type { DirectoryConfig, EngineEventName, FeatureConfig } from '../../src/engine/types.js';
import { ALL_EVENTS, countingRandom, identity, normalised, recordEvents, TTL, thrown } from './fixtures.js';

const GRACE = 60_000;
const FEATURES: FeatureConfig[] = [
  { name: 'cad', seats: 3, model: 'concurrent', idleTimeoutMs: 600_000 },
  { name: 'lab', seats: 2, model: 'mixed', namedUsers: ['alice'] },
];
const DIRECTORY: DirectoryConfig = {
  users: [{ name: 'alice' }, { name: 'bob', groups: ['eng'] }],
  groups: [{ name: 'eng', hosts: ['ws9'] }],
};

function opts(clock: ManualClock, overrides: Partial<EngineOptions> = {}): EngineOptions {
  return {
    clock,
    leaseTtlMs: TTL,
    features: FEATURES,
    directory: DIRECTORY,
    random: countingRandom(),
    ...overrides,
  };
}

/** A live engine whose journal records are collected as the server would. */
function journaled(overrides: Partial<EngineOptions> = {}) {
  const clock = new ManualClock(1_000);
  const engine = new LeaseEngine(opts(clock, overrides));
  const records: JournalRecord[] = [];
  for (const name of ALL_EVENTS) {
    engine.on(name, (payload) => {
      const record = toJournalRecord(name as EngineEventName, payload as never);
      if (record !== undefined) records.push(structuredClone(record));
    });
  }
  return { clock, engine, records };
}

function restart(
  clock: ManualClock,
  state: EngineState | undefined,
  records: readonly JournalRecord[],
  overrides: Partial<EngineOptions> = {},
  onRestored?: (engine: LeaseEngine) => void,
): LeaseEngine {
  // A new process: a new clock origin, a fresh random source.
  return LeaseEngine.restore(
    opts(clock, { random: countingRandom(), ...overrides }),
    state,
    records,
    { graceMs: GRACE },
    onRestored,
  );
}

describe('journal records', () => {
  it('one compact record per state change that must survive; none for the rest', () => {
    const { engine, records } = journaled({
      features: [...FEATURES, { name: 'dup', seats: 2, model: 'concurrent', dedupe: 'user' }],
    });
    const { sessionId, resumeToken } = engine.openSession({
      ...identity(),
      display: ':0',
      peer: '10.0.0.1:5',
    });
    const a = engine.checkout(sessionId, { feature: 'cad', count: 2, key: 'k1' });
    const named = engine.checkout(sessionId, { feature: 'lab', count: 1 });
    const joined = engine.checkout(sessionId, { feature: 'lab', count: 1 });
    const d1 = engine.checkout(sessionId, { feature: 'dup', count: 1 });
    const d2 = engine.checkout(sessionId, { feature: 'dup', count: 1 });
    engine.checkin(sessionId, a.id, a.fencing);
    engine.revoke(named.id, 'admin');
    engine.addUser({ name: 'carol', groups: ['eng'] });
    engine.assign('lab', 'carol');
    engine.setSeats('cad', 5);
    thrown(() => engine.checkout(sessionId, { feature: 'nope', count: 1 }));
    engine.endSession(sessionId);
    const hash = createHash('sha256').update(Buffer.from(resumeToken, 'hex')).digest('hex');
    expect(records).toEqual([
      { t: 's+', id: sessionId, h: hash, u: 'alice', o: 'ws1', c: 'cad-app/1.0', d: ':0' },
      { t: 'g', id: a.id, s: sessionId, f: 'cad', n: 2, fe: 1, k: 'k1', ty: 'c' },
      { t: 'g', id: named.id, s: sessionId, f: 'lab', n: 1, fe: 2, ty: 'n' },
      { t: 'g', id: joined.id, s: sessionId, f: 'lab', n: 1, fe: 3, j: named.id },
      { t: 'g', id: d1.id, s: sessionId, f: 'dup', n: 1, fe: 4, ty: 'c' },
      { t: 'g', id: d2.id, s: sessionId, f: 'dup', n: 1, fe: 5, j: d1.id },
      { t: 'r', id: a.id },
      { t: 'x', id: named.id, why: 'admin' },
      { t: 'd', k: 'userAdded', a: { user: 'carol', enabled: true, groups: ['eng'] } },
      { t: 'd', k: 'assigned', a: { feature: 'lab', user: 'carol' } },
      // seatsChanged and denied: none. The session's close releases its leases first.
      { t: 'r', id: joined.id },
      { t: 'r', id: d1.id },
      { t: 'r', id: d2.id },
      { t: 's-', id: sessionId, why: 'closed' },
    ]);
    // The plain token appears nowhere in the journal.
    expect(JSON.stringify(records)).not.toContain(resumeToken);
  });

  it('queue events are not journaled; a queue grant is, through its granted event', () => {
    const { engine, records } = journaled({
      features: [{ name: 'cad', seats: 1, model: 'concurrent' }],
      directory: undefined,
    });
    const s1 = engine.openSession(identity('u1')).sessionId;
    const s2 = engine.openSession(identity('u2')).sessionId;
    const first = engine.checkout(s1, { feature: 'cad', count: 1 });
    const waiting = engine.requestCheckout(s2, { feature: 'cad', count: 1, waitMs: 5_000, key: 'w' });
    expect(waiting.kind).toBe('queued');
    engine.checkin(s1, first.id, first.fencing);
    expect(records.map((r) => r.t)).toEqual(['s+', 's+', 'g', 'r', 'g']);
    expect(records.at(-1)).toMatchObject({ t: 'g', s: s2, k: 'w' });
  });
});

describe('restore', () => {
  function heldState() {
    const live = journaled();
    const { engine, clock } = live;
    const alice = engine.openSession(identity('alice'));
    const bob = engine.openSession(identity('bob', 'ws9'));
    const keyed = engine.checkout(alice.sessionId, { feature: 'cad', count: 1, key: 'retry-me' });
    const named = engine.checkout(alice.sessionId, { feature: 'lab', count: 1 });
    clock.advance(1_000);
    const other = engine.checkout(bob.sessionId, { feature: 'cad', count: 2 });
    return { ...live, alice, bob, keyed, named, other };
  }

  for (const path of ['snapshot', 'journal'] as const) {
    it(`(${path}) leases, tokens, fencing and request keys survive`, () => {
      const live = heldState();
      const state = path === 'snapshot' ? structuredClone(live.engine.exportState()) : undefined;
      const records = path === 'snapshot' ? [] : live.records;
      const clock = new ManualClock(50);
      const engine = restart(clock, state, records);
      expect(engine.listLeases().map((l) => [l.id, l.fencing, l.sessionId, l.type, l.count])).toEqual(
        live.engine.listLeases().map((l) => [l.id, l.fencing, l.sessionId, l.type, l.count]),
      );
      // Resume with the old token (not with a wrong one); the peer comes back with the resume.
      expect(thrown(() => engine.resumeSession(live.alice.sessionId, live.bob.resumeToken)).code).toBe(
        'SESSION_NOT_FOUND',
      );
      expect(thrown(() => engine.resumeSession(live.alice.sessionId, '0'.repeat(64))).code).toBe(
        'SESSION_NOT_FOUND',
      );
      const view = engine.resumeSession(live.alice.sessionId, live.alice.resumeToken, '10.1.1.1:1');
      expect(view.identity).toEqual({ ...identity('alice'), peer: '10.1.1.1:1' });
      // A retried checkout with the old key gets the same lease; a new grant's token is above every earlier one.
      expect(engine.checkout(live.alice.sessionId, { feature: 'cad', count: 1, key: 'retry-me' }).id).toBe(
        live.keyed.id,
      );
      const fresh = engine.checkout(live.alice.sessionId, { feature: 'lab', count: 1 });
      expect(fresh.fencing).toBeGreaterThan(live.other.fencing);
      expect(engine.featureStatus('cad')[0]).toMatchObject({ inUse: 3, free: 0 });
      // Times restart from the restore: a snapshot keeps each grant's age (1 s here), a replayed
      // grant counts from the restore; every lease counts as active at the restore.
      const restoredKeyed = engine.lease(live.keyed.id)!;
      expect(restoredKeyed.lastActivityAt).toBe(50);
      expect(restoredKeyed.grantedAt).toBe(path === 'snapshot' ? 50 - 1_000 : 50);
    });
  }

  it('a snapshot keeps grant ages; the fencing counter continues above the snapshot and every replayed grant', () => {
    const live = heldState();
    live.clock.advance(4_000);
    const state = live.engine.exportState();
    expect(state.leases.ageMs).toEqual([5_000, 5_000, 4_000]);
    const seq = live.records.length;
    const later = live.engine.checkout(live.bob.sessionId, { feature: 'lab', count: 1 });
    const engine = restart(new ManualClock(100_000), state, live.records.slice(seq), { initialFencing: 1 });
    expect(engine.lease(live.keyed.id)?.grantedAt).toBe(95_000);
    expect(engine.lease(later.id)?.fencing).toBe(later.fencing);
    expect(engine.fencing).toBe(later.fencing);
  });

  it('sessions that never resume are reclaimed at restore + grace (not before), with reason expired', () => {
    const live = heldState();
    const clock = new ManualClock(0);
    const engine = restart(clock, live.engine.exportState(), []);
    const events = recordEvents(engine);
    expect(engine.session(live.bob.sessionId)?.deadline).toBe(GRACE);
    engine.resumeSession(live.alice.sessionId, live.alice.resumeToken);
    // Resumed: the grace is over for alice, the lease ttl applies again, from the resume.
    expect(engine.session(live.alice.sessionId)?.deadline).toBe(TTL);
    clock.set(TTL);
    expect(engine.sweep()).toBe(2);
    clock.set(GRACE - 1);
    expect(engine.sweep()).toBe(0);
    expect(engine.lease(live.other.id)).toBeDefined();
    clock.set(GRACE);
    expect(engine.sweep()).toBe(1);
    expect(
      events.filter((e) => e.name === 'reclaimed').map((e) => [e.payload.lease.id, e.payload.reason]),
    ).toEqual([
      [live.keyed.id, 'expired'],
      [live.named.id, 'expired'],
      [live.other.id, 'expired'],
    ]);
  });

  it('leases of features the config lost are reclaimed right after restore (feature_removed), seen by onRestored listeners', () => {
    const live = heldState();
    const seen: string[] = [];
    const records: JournalRecord[] = [];
    const engine = restart(
      new ManualClock(0),
      live.engine.exportState(),
      [],
      { features: [FEATURES[1]!] },
      (e) => {
        e.on('reclaimed', ({ lease, reason }) => seen.push(`${lease.id}:${reason}`));
        e.on('reclaimed', (payload) => records.push(toJournalRecord('reclaimed', payload)!));
      },
    );
    expect(seen.sort()).toEqual(
      [`${live.keyed.id}:feature_removed`, `${live.other.id}:feature_removed`].sort(),
    );
    expect(records.every((r) => r.t === 'x')).toBe(true);
    expect(engine.featureStatus().map((f) => f.name)).toEqual(['lab']);
    expect(engine.lease(live.named.id)).toBeDefined();
  });

  it('run-time directory changes survive a restart with the same config; new config groups are added', () => {
    const live = journaled();
    live.engine.addUser({ name: 'carol' });
    live.engine.setUserEnabled('bob', false);
    live.engine.assign('lab', 'carol');
    const directory: DirectoryConfig = {
      ...DIRECTORY,
      groups: [...DIRECTORY.groups, { name: 'ops', priority: 2 }],
    };
    // From a snapshot the persisted directory lacks 'ops'; from the records alone the base is the config's.
    for (const [state, records, added] of [
      [live.engine.exportState(), [], true],
      [undefined, live.records, false],
    ] as const) {
      const changes: unknown[] = [];
      const engine = restart(new ManualClock(0), state, records, { directory }, (e) =>
        e.on('directoryChanged', (c) => changes.push(c)),
      );
      expect(engine.listUsers()).toEqual([
        { name: 'alice', enabled: true, groups: [], named: ['lab'], hasToken: false },
        { name: 'bob', enabled: false, groups: ['eng'], named: [], hasToken: false },
        { name: 'carol', enabled: true, groups: [], named: ['lab'], hasToken: false },
      ]);
      expect(engine.listGroups().map((g) => g.name)).toEqual(['eng', 'ops']);
      expect(changes).toEqual(
        added ? [{ kind: 'groupSet', detail: { group: 'ops', users: [], hosts: [], priority: 2 } }] : [],
      );
    }
  });

  it('a config that does not fit the persisted state refuses the restore, saying why', () => {
    const live = journaled();
    live.engine.addUser({ name: 'carol' });
    live.engine.assign('lab', 'carol');
    const features = [FEATURES[0]!, { ...FEATURES[1]!, seats: 1 }];
    const error = thrown(() => restart(new ManualClock(0), live.engine.exportState(), [], { features }));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toMatch(/does not fit the persisted state.*'lab' has 1 seats and 2 named/);
  });

  it('a record that cannot apply throws, naming its seq', () => {
    const live = heldState();
    const records = live.records;
    const grant = records.findIndex((r) => r.t === 'g');
    const cases: [JournalRecord[], RegExp][] = [
      [records.filter((r) => r.t !== 's+'), /seq 1: lease '.*' names unknown session/],
      [[...records, records[grant]!], new RegExp(`seq ${records.length + 1}: lease '.*' exists twice`)],
      [
        [...records, { t: 'r', id: 'f'.repeat(32) }],
        new RegExp(`seq ${records.length + 1}: lease 'f+' is not held`),
      ],
      [[{ t: 'q' } as unknown as JournalRecord], /seq 1: unknown record type 'q'/],
      [[{ t: 'd', k: 'userAdded', a: { user: 'alice' } }], /seq 1: User 'alice' already exists/],
      [[{ t: 'b+', id: 'b1', u: 'bob' } as unknown as JournalRecord], /seq 1: block 'b1' is malformed/],
      [
        [{ t: 'cb', d: 5, n: [] } as unknown as JournalRecord],
        /seq 1: a config baseline needs a directory and a list of named assignments/,
      ],
      [
        [{ t: 'd', k: 'userToken', a: { user: 'alice', hash: 'XYZ' } }],
        /seq 1: User 'alice': a token hash must be 64 lowercase hex/,
      ],
    ];
    for (const [bad, message] of cases) {
      const error = thrown(() =>
        LeaseEngine.restore(opts(new ManualClock(0)), undefined, bad, { graceMs: GRACE }),
      );
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.message).toMatch(message);
    }
    const error = thrown(() =>
      LeaseEngine.restore(opts(new ManualClock(0)), live.engine.exportState(), [records[0]!], {
        graceMs: GRACE,
        firstSeq: 41,
      }),
    );
    expect(error.message).toMatch(/journal record seq 41: session '.*' exists twice/);
    expect(error.details).toMatchObject({ seq: 41 });
  });

  it('a snapshot from before blocks and baselines: its directory is kept, config groups added, the baseline recorded', () => {
    const live = journaled();
    live.engine.addUser({ name: 'carol' });
    live.engine.removeUser('bob');
    const { blocks: _blocks, baseline: _baseline, ...legacy } = live.engine.exportState();
    const directory: DirectoryConfig = {
      users: [...DIRECTORY.users, { name: 'dave' }],
      groups: [...DIRECTORY.groups, { name: 'ops', priority: 2 }],
    };
    const records: JournalRecord[] = [];
    const engine = restart(new ManualClock(0), legacy as EngineState, [], { directory }, (e) => {
      for (const name of ['directoryChanged', 'configBaseline'] as const) {
        e.on(name, (payload) => records.push(toJournalRecord(name, payload as never)!));
      }
    });
    // The persisted directory wins (the rule of the version that wrote it): no dave, no bob.
    expect(engine.listUsers().map((u) => u.name)).toEqual(['alice', 'carol']);
    expect(engine.listGroups().map((g) => g.name)).toEqual(['eng', 'ops']);
    expect(records.map((r) => r.t)).toEqual(['d', 'cb']);
    expect(records[0]).toEqual({
      t: 'd',
      k: 'groupSet',
      a: { group: 'ops', users: [], hosts: [], priority: 2 },
    });
    // From now on the config is the baseline: the next restart with it changes nothing more.
    const state = engine.exportState();
    expect(state.baseline?.directory.users.map((u) => u.name)).toEqual(['alice', 'bob', 'dave']);
    const again = restart(new ManualClock(0), state, [], { directory }, (e) => recordEvents(e));
    expect(normalised(again.exportState())).toEqual(normalised(state));
  });

  it('applyRecord replays one record into an engine, without events', () => {
    const live = heldState();
    const engine = new LeaseEngine(opts(new ManualClock(0)));
    const events = recordEvents(engine);
    for (const [i, record] of live.records.entries()) engine.applyRecord(record, i + 1);
    expect(events).toEqual([]);
    expect(normalised(engine.exportState())).toEqual(normalised(live.engine.exportState()));
  });
});

describe('reconfigure (reload)', () => {
  it('keeps every lease, applies seats (overdraft rule) and idle timeouts, adds and removes features', () => {
    const { engine, clock } = journaled();
    const events = recordEvents(engine);
    const s = engine.openSession(identity('alice')).sessionId;
    const bob = engine.openSession(identity('bob')).sessionId;
    const cad = engine.checkout(s, { feature: 'cad', count: 2 });
    const lab = engine.checkout(s, { feature: 'lab', count: 1 });
    engine.checkout(bob, { feature: 'lab', count: 1 });
    const waiter = engine.requestCheckout(bob, { feature: 'lab', count: 1, waitMs: 60_000 });
    expect(waiter.kind).toBe('queued');
    const result = engine.reconfigure(
      [
        { name: 'cad', seats: 1, model: 'concurrent', idleTimeoutMs: 1_000 },
        { name: 'cam', seats: 4, model: 'concurrent' },
      ],
      DIRECTORY,
    );
    expect(result).toEqual({ added: ['cam'], removed: ['lab'], changed: ['cad'] });
    expect(engine.lease(cad.id)).toBeDefined();
    expect(engine.featureStatus('cad')[0]).toMatchObject({ seats: 1, inUse: 2, overdraft: 1 });
    expect(engine.lease(lab.id)).toBeUndefined();
    const names = events.map((e) => e.name);
    expect(names).toContain('seatsChanged');
    expect(events.filter((e) => e.name === 'reclaimed').map((e) => e.payload.reason)).toEqual([
      'feature_removed',
      'feature_removed',
    ]);
    expect(events.find((e) => e.name === 'queueLeft')?.payload).toMatchObject({ reason: 'feature_removed' });
    // The new idle timeout applies to the kept lease.
    clock.advance(1_000);
    engine.sweep();
    expect(engine.lease(cad.id)).toBeUndefined();
  });

  it('an invalid configuration throws and changes nothing', () => {
    const { engine } = journaled();
    const events = recordEvents(engine);
    const s = engine.openSession(identity('alice')).sessionId;
    engine.checkout(s, { feature: 'cad', count: 1 });
    const before = { state: engine.exportState(), status: engine.featureStatus() };
    const bad: [FeatureConfig[], DirectoryConfig | undefined, RegExp][] = [
      [[{ name: 'cad', seats: -1, model: 'concurrent' }], undefined, /seats must be an integer/],
      [[FEATURES[0]!, FEATURES[0]!], undefined, /'cad' is defined twice/],
      [[{ ...FEATURES[1]!, namedUsers: ['zed'] }], undefined, /named user 'zed' is not in the directory/],
      [
        [{ name: 'cad', seats: 2, model: 'concurrent', groupRules: [{ group: 'eng', reserve: 1 }] }],
        { users: [], groups: [] },
        /group 'eng'/,
      ],
      [FEATURES, { users: [{ name: 'a', groups: ['nope'] }], groups: [] }, /no group 'nope'/],
    ];
    events.length = 0;
    for (const [features, directory, message] of bad) {
      const error = thrown(() => engine.reconfigure(features, directory));
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.message).toMatch(message);
    }
    expect(events).toEqual([]);
    expect(engine.exportState()).toEqual(before.state);
    expect(engine.featureStatus()).toEqual(before.status);
  });

  it("applies the config file's changes onto the run-time directory, journaling each difference", () => {
    const live = journaled();
    live.engine.addUser({ name: 'carol' });
    live.engine.assign('lab', 'carol');
    const snapshot = live.engine.exportState();
    const seq = live.records.length;
    const directory: DirectoryConfig = {
      users: [{ name: 'bob', enabled: false }, { name: 'alice', groups: ['ops'] }, { name: 'dave' }],
      groups: [{ name: 'ops', users: ['dave'], priority: 3 }],
    };
    const features = [FEATURES[0]!, { ...FEATURES[1]!, seats: 3, namedUsers: ['dave', 'alice'] }];
    live.engine.reconfigure(features, directory);
    const baseline = {
      directory: {
        users: [
          { name: 'bob', enabled: false, groups: [] },
          { name: 'alice', enabled: true, groups: ['ops'] },
          { name: 'dave', enabled: true, groups: [] },
        ],
        groups: [{ name: 'ops', users: ['dave'], hosts: [], priority: 3 }],
      },
      named: [{ feature: 'lab', users: ['dave', 'alice'] }],
    };
    expect(live.records.slice(seq).map((r) => (r.t === 'd' ? [r.k, r.a] : r))).toEqual([
      ['groupSet', { group: 'ops', users: ['dave'], hosts: [], priority: 3 }],
      // Only what the file changed: bob's enabled flag and groups, alice's groups.
      ['userUpdated', { user: 'bob', enabled: false, groups: [] }],
      ['userUpdated', { user: 'alice', groups: ['ops'] }],
      ['userSet', { user: 'dave', enabled: true, groups: [] }],
      // carol was added at run time, and the file did not touch her: she stays, named seat and all.
      ['groupRemoved', { group: 'eng' }],
      ['assigned', { feature: 'lab', user: 'dave' }],
      { t: 'cb', d: baseline.directory, n: [{ f: 'lab', u: ['dave', 'alice'] }] },
    ]);
    expect(live.engine.exportState().baseline).toEqual(baseline);
    expect(live.engine.listUsers().map((u) => [u.name, u.enabled, u.groups, u.named])).toEqual([
      ['alice', true, ['ops'], ['lab']],
      ['bob', false, [], []],
      ['carol', true, [], ['lab']],
      ['dave', true, ['ops'], ['lab']],
    ]);
    expect(live.engine.listGroups()).toEqual([
      { name: 'ops', users: ['dave', 'alice'], hosts: [], priority: 3 },
    ]);
    expect(live.engine.featureConfig('lab')?.namedUsers).toEqual(['alice', 'carol', 'dave']);
    // A restart from the snapshot before the reload plus the records after it gets the same state.
    const restored = restart(new ManualClock(0), snapshot, live.records.slice(seq), { features, directory });
    expect(normalised(restored.exportState())).toEqual(normalised(live.engine.exportState()));
    // Reloading the same config again changes nothing.
    const events = recordEvents(live.engine);
    expect(live.engine.reconfigure(features, directory)).toEqual({ added: [], removed: [], changed: [] });
    expect(events).toEqual([]);
  });
});
