/**
 * Decision "config vs. run-time provisioning": a reload or a restart applies only what the config
 * file changed since it was last applied (three-way merge against the config baseline), so admin
 * changes made at run time survive, and edits made while the daemon was down take effect at start.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { type EngineOptions, type EngineState, LeaseEngine } from '../../src/engine/engine.js';
import { type JournalRecord, toJournalRecord } from '../../src/engine/journal-records.js';
import type { DirectoryConfig, EngineEventName, FeatureConfig } from '../../src/engine/types.js';
import { ALL_EVENTS, countingRandom, normalised, recordEvents, TTL, thrown } from './fixtures.js';

const FEATURES: FeatureConfig[] = [
  { name: 'cad', seats: 5, model: 'concurrent', maxUsers: 5 },
  { name: 'lab', seats: 2, model: 'mixed', namedUsers: ['alice'] },
];
const DIRECTORY: DirectoryConfig = {
  users: [{ name: 'alice' }, { name: 'bob' }, { name: 'carol' }],
  groups: [{ name: 'eng', users: ['bob'] }],
};

interface Config {
  features: readonly FeatureConfig[];
  directory: DirectoryConfig;
}
const CONFIG: Config = { features: FEATURES, directory: DIRECTORY };

function options(clock: ManualClock, config: Config): EngineOptions {
  return { clock, leaseTtlMs: TTL, random: countingRandom(), ...config };
}

/** Collects journal records as the server does. */
function journal(engine: LeaseEngine, into: JournalRecord[]): void {
  for (const name of ALL_EVENTS) {
    engine.on(name, (payload) => {
      const record = toJournalRecord(name as EngineEventName, payload as never);
      if (record !== undefined) into.push(structuredClone(record));
    });
  }
}

function start(config: Config = CONFIG) {
  const engine = new LeaseEngine(options(new ManualClock(1_000), config));
  const records: JournalRecord[] = [];
  journal(engine, records);
  return { engine, records };
}

/** A restart from a snapshot (and records after it) with `config`, journaling what the restore does. */
function restart(state: EngineState | undefined, records: readonly JournalRecord[], config: Config) {
  const journaled: JournalRecord[] = [];
  const engine = LeaseEngine.restore(
    options(new ManualClock(0), config),
    structuredClone(state),
    records,
    {
      graceMs: 60_000,
    },
    (e) => journal(e, journaled),
  );
  return { engine, records: journaled };
}

const users = (engine: LeaseEngine) => engine.listUsers().map((u) => u.name);
const named = (engine: LeaseEngine, feature = 'lab') => engine.featureConfig(feature)?.namedUsers ?? [];

describe('reload and restart keep run-time changes the file did not touch', () => {
  it('a config user removed by an admin stays removed across a reload and a restart with the unchanged config', () => {
    const { engine, records } = start();
    engine.removeUser('bob');
    const events = recordEvents(engine);
    expect(engine.reconfigure(FEATURES, DIRECTORY)).toEqual({ added: [], removed: [], changed: [] });
    expect(users(engine)).toEqual(['alice', 'carol']);
    expect(events).toEqual([]);
    // Restart from a snapshot, and from the journal alone: still removed, and nothing re-added.
    for (const [state, journalRecords] of [
      [engine.exportState(), []],
      [undefined, records],
    ] as const) {
      const restarted = restart(state, journalRecords, CONFIG);
      expect(users(restarted.engine)).toEqual(['alice', 'carol']);
      expect(restarted.records.filter((r) => r.t === 'd')).toEqual([]);
    }
  });

  it('a file edit removing another user removes it; the run-time removal stands', () => {
    const { engine } = start();
    engine.removeUser('bob');
    const edited: Config = {
      features: FEATURES,
      directory: { ...DIRECTORY, users: [{ name: 'alice' }, { name: 'bob' }] },
    };
    engine.reconfigure(edited.features, edited.directory);
    expect(users(engine)).toEqual(['alice']);
  });

  it('a file edit adding a user adds it', () => {
    const { engine } = start();
    engine.removeUser('bob');
    const events = recordEvents(engine);
    const directory = { ...DIRECTORY, users: [...DIRECTORY.users, { name: 'dave', groups: ['eng'] }] };
    engine.reconfigure(FEATURES, directory);
    expect(users(engine)).toEqual(['alice', 'carol', 'dave']);
    expect(engine.listUsers().at(-1)).toMatchObject({ name: 'dave', groups: ['eng'] });
    expect(events.filter((e) => e.name === 'directoryChanged').map((e) => e.payload)).toEqual([
      { kind: 'userSet', detail: { user: 'dave', enabled: true, groups: ['eng'] } },
    ]);
  });

  it('a run-time-added user and a run-time named assignment survive a reload and a restart', () => {
    const { engine, records } = start();
    const snapshot = engine.exportState();
    const seq = records.length;
    engine.addUser({ name: 'erin' });
    engine.assign('lab', 'erin');
    // A reload that changes a feature (cad's seats) but not the directory or named_users.
    const reloaded: Config = {
      features: [{ ...FEATURES[0]!, seats: 6 }, FEATURES[1]!],
      directory: DIRECTORY,
    };
    engine.reconfigure(reloaded.features, reloaded.directory);
    expect(users(engine)).toEqual(['alice', 'bob', 'carol', 'erin']);
    expect(named(engine)).toEqual(['alice', 'erin']);
    const restarted = restart(snapshot, records.slice(seq), reloaded);
    expect(users(restarted.engine)).toEqual(['alice', 'bob', 'carol', 'erin']);
    expect(named(restarted.engine)).toEqual(['alice', 'erin']);
    expect(normalised(restarted.engine.exportState())).toEqual(normalised(engine.exportState()));
  });

  it('a named_users entry removed from the file is unassigned; run-time assignments stay', () => {
    const { engine } = start();
    engine.assign('lab', 'bob');
    const events = recordEvents(engine);
    engine.reconfigure([FEATURES[0]!, { ...FEATURES[1]!, namedUsers: [] }], DIRECTORY);
    expect(named(engine)).toEqual(['bob']);
    expect(events.filter((e) => e.name === 'directoryChanged').map((e) => e.payload)).toEqual([
      { kind: 'unassigned', detail: { feature: 'lab', user: 'alice' } },
    ]);
    // A later edit adding her back assigns her again.
    engine.reconfigure(FEATURES, DIRECTORY);
    expect(named(engine)).toEqual(['bob', 'alice']);
  });

  it("a file edit to alice's enabled flag or display wins over the run-time value; untouched fields stay", () => {
    const { engine } = start();
    // At run time: alice disabled then enabled again, given a display name; bob disabled.
    engine.setUserEnabled('alice', false);
    engine.setUserEnabled('alice', true);
    engine.updateUser('alice', { display: 'Alice (set by admin)', email: 'alice@example.com' });
    engine.setUserEnabled('bob', false);
    const directory: DirectoryConfig = {
      ...DIRECTORY,
      users: [{ name: 'alice', enabled: false, display: 'Alice' }, { name: 'bob' }, { name: 'carol' }],
    };
    const events = recordEvents(engine);
    engine.reconfigure(FEATURES, directory);
    expect(engine.listUsers().slice(0, 2)).toEqual([
      {
        name: 'alice',
        enabled: false,
        groups: [],
        named: ['lab'],
        display: 'Alice',
        email: 'alice@example.com',
        hasToken: false,
      },
      { name: 'bob', enabled: false, groups: ['eng'], named: [], hasToken: false },
    ]);
    expect(events.filter((e) => e.name === 'directoryChanged').map((e) => e.payload)).toEqual([
      { kind: 'userUpdated', detail: { user: 'alice', enabled: false, display: 'Alice' } },
    ]);
  });

  it('a merge that breaks the seats or a user cap is refused, naming the problem, and changes nothing', () => {
    const { engine } = start();
    engine.addUser({ name: 'erin' });
    engine.assign('lab', 'erin');
    const before = engine.exportState();
    const events = recordEvents(engine);
    // The file adds carol to lab's named_users: alone that fits 2 seats, merged with erin it does not.
    const tooMany = thrown(() =>
      engine.reconfigure([FEATURES[0]!, { ...FEATURES[1]!, namedUsers: ['alice', 'carol'] }], DIRECTORY),
    );
    expect(tooMany.code).toBe('INVALID_REQUEST');
    expect(tooMany.message).toMatch(
      /^The configuration conflicts with changes made at run time .*: Feature 'lab' has 2 seats and 3 named assignments/,
    );
    // The file adds two users: 4 in the file fit cad's cap of 5; with erin they are 6.
    const directory = { ...DIRECTORY, users: [...DIRECTORY.users, { name: 'frank' }, { name: 'gina' }] };
    const cap = thrown(() => engine.reconfigure(FEATURES, directory));
    expect(cap.message).toMatch(
      /conflicts with changes made at run time.*'cad' allows 5 enabled users but the directory has 6/,
    );
    // A config invalid on its own says so plainly.
    const own = thrown(() => engine.reconfigure([{ ...FEATURES[1]!, seats: 0 }], DIRECTORY));
    expect(own.message).toMatch(/^Feature 'lab' has 0 seats and 1 named assignments/);
    expect(events).toEqual([]);
    expect(engine.exportState()).toEqual(before);
    // The same config at a restart refuses the restore.
    const error = thrown(() =>
      restart(before, [], {
        features: [FEATURES[0]!, { ...FEATURES[1]!, namedUsers: ['alice', 'carol'] }],
        directory: DIRECTORY,
      }),
    );
    expect(error.message).toMatch(
      /^The configuration does not fit the persisted state .*'lab' has 2 seats and 3 named/,
    );
  });
});

describe('a restart applies the file edits made while the daemon was down', () => {
  it('as a reload would, with events the journal records, so a later restart agrees', () => {
    const { engine, records } = start();
    engine.addUser({ name: 'erin' });
    engine.setUserEnabled('carol', false);
    const state = engine.exportState();
    const edited: Config = {
      features: [FEATURES[0]!, { ...FEATURES[1]!, namedUsers: ['alice', 'dave'] }],
      directory: {
        users: [{ name: 'alice', email: 'alice@example.com' }, { name: 'carol' }, { name: 'dave' }],
        groups: [{ name: 'eng', users: ['bob', 'dave'] }],
      },
    };
    const first = restart(state, [], edited);
    expect(first.engine.listUsers().map((u) => [u.name, u.enabled, u.groups, u.named])).toEqual([
      ['alice', true, [], ['lab']],
      // carol: disabled at run time; the file did not change her.
      ['carol', false, [], []],
      ['erin', true, [], []],
      ['dave', true, ['eng'], ['lab']],
    ]);
    expect(first.records.map((r) => (r.t === 'd' ? [r.k, r.a] : r.t))).toEqual([
      ['groupSet', { group: 'eng', users: ['bob', 'dave'], hosts: [], priority: 0 }],
      ['userUpdated', { user: 'alice', email: 'alice@example.com' }],
      ['userSet', { user: 'dave', enabled: true, groups: [] }],
      // The file removed bob from [users]: his memberships go with him.
      ['userRemoved', { user: 'bob' }],
      ['assigned', { feature: 'lab', user: 'dave' }],
      'cb',
    ]);
    // The next restart, from the same snapshot and what the first one journaled: the same state,
    // and nothing more to apply.
    const second = restart(state, first.records, edited);
    expect(normalised(second.engine.exportState())).toEqual(normalised(first.engine.exportState()));
    expect(second.records).toEqual([]);
    // Unchanged config, no persisted change: a restart emits nothing.
    expect(restart(engine.exportState(), records.slice(records.length), CONFIG).records).toEqual([]);
  });

  it('a user the file newly defines replaces a run-time user of that name, keeping a run-time token', () => {
    const { engine } = start();
    const hash = 'a'.repeat(64);
    engine.addUser({ name: 'erin', groups: ['eng'], display: 'Erin', tokenHash: hash });
    const directory = { ...DIRECTORY, users: [...DIRECTORY.users, { name: 'erin', enabled: false }] };
    const { engine: restarted } = restart(engine.exportState(), [], { features: FEATURES, directory });
    expect(restarted.listUsers().at(-1)).toEqual({
      name: 'erin',
      enabled: false,
      groups: [],
      named: [],
      hasToken: true,
    });
    expect(restarted.userByTokenHash(hash)).toBe('erin');
  });

  it("group lists merge element by element: the file's additions and removals, the admin's too", () => {
    const { engine } = start();
    engine.removeGroupMember('eng', 'bob');
    engine.addGroupMember('eng', 'alice');
    const directory: DirectoryConfig = {
      users: DIRECTORY.users,
      groups: [{ name: 'eng', users: ['bob', 'carol'], priority: 2 }],
    };
    engine.reconfigure(FEATURES, directory);
    expect(engine.listGroups()).toEqual([{ name: 'eng', users: ['alice', 'carol'], hosts: [], priority: 2 }]);
  });
});
