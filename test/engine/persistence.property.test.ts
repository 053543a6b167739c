/**
 * Issue 5 determinism: for random operation sequences (sessions, checkouts with keys, waits,
 * dedupe, named seats, groups, checkins, revokes, expiry and idle reclaim, directory changes,
 * named assignments, feature removal, user profiles and token hashes, blocks, freeing a holder's
 * leases, reloads of other configurations), an engine restored from the snapshot at a random step k
 * plus the journal records after k holds the same state as the live engine, and so does one
 * restored from the records alone, when both restart with the configuration last applied. Snapshots
 * and records go through msgpack as the store would write them. Time normalisation
 * (engine-state.ts): ages are not compared, since a restore counts them from the restore; the wall
 * clock moves with the monotonic one, so blocks keep their remaining time. The config baseline is
 * compared apart: features removed at run time are left out of the restart's configuration, whose
 * baseline therefore differs from the live engine's.
 */
import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { baselineOf } from '../../src/engine/config-baseline.js';
import { type EngineOptions, type EngineState, LeaseEngine } from '../../src/engine/engine.js';
import { type JournalRecord, toJournalRecord } from '../../src/engine/journal-records.js';
import type { DirectoryConfig, EngineEventName, FeatureConfig } from '../../src/engine/types.js';
import { ALL_EVENTS, countingRandom, normalised } from './fixtures.js';

const TTL = 1_000;
const DIRECTORY: DirectoryConfig = {
  users: [{ name: 'u0' }, { name: 'u1', groups: ['g1'] }, { name: 'u2' }, { name: 'u3' }],
  groups: [
    { name: 'g1', users: ['u0'], priority: 1 },
    { name: 'g2', hosts: ['h2'] },
  ],
};
const FEATURES: readonly FeatureConfig[] = [
  { name: 'cad', seats: 3, model: 'concurrent', dedupe: 'user', groupRules: [{ group: 'g1', max: 2 }] },
  { name: 'lab', seats: 3, model: 'mixed', namedUsers: ['u0'], groupRules: [{ group: 'g2', reserve: 1 }] },
  { name: 'sim', seats: 2, model: 'concurrent', idleTimeoutMs: 500 },
];
const FEATURE_NAMES = FEATURES.map((f) => f.name);
const USERS = ['u0', 'u1', 'u2', 'u3', 'u4'];
const hash = (n: number) => n.toString(16).padStart(64, '0');
/** Configurations a reload may switch to; each is valid on its own. */
const CONFIGS: readonly { features: readonly FeatureConfig[]; directory: DirectoryConfig }[] = [
  { features: FEATURES, directory: DIRECTORY },
  {
    features: [FEATURES[0]!, { ...FEATURES[1]!, namedUsers: ['u0', 'u3'] }, { ...FEATURES[2]!, seats: 3 }],
    directory: {
      users: [
        { name: 'u0' },
        { name: 'u1', enabled: false, groups: ['g1'] },
        { name: 'u3' },
        { name: 'u5', groups: ['g2'], display: 'Five' },
      ],
      groups: [
        { name: 'g1', users: ['u0'], priority: 2 },
        { name: 'g2', hosts: ['h2'] },
      ],
    },
  },
  {
    features: [FEATURES[0]!, { ...FEATURES[1]!, namedUsers: [] }, FEATURES[2]!],
    directory: {
      users: [
        { name: 'u0', email: 'u0@example.com' },
        { name: 'u1', groups: ['g1'] },
        { name: 'u2' },
        { name: 'u3', tokenHash: hash(3) },
      ],
      groups: [
        { name: 'g2', hosts: ['h2'] },
        { name: 'g1', users: ['u0'], priority: 1 },
      ],
    },
  },
];
const WALL0 = 1_800_000_000_000;

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });
const viaMsgpack = <T>(value: T): T => unpackr.unpack(packr.pack(value)) as T;

type Op =
  | { op: 'open'; user: number }
  | { op: 'end'; s: number }
  | { op: 'checkout'; s: number; f: number; count: number; key: number | null; wait: boolean }
  | { op: 'retry'; s: number; f: number; key: number }
  | { op: 'checkin'; l: number }
  | { op: 'revoke'; l: number }
  | { op: 'heartbeat'; s: number; idle: boolean }
  | { op: 'advance'; ms: number }
  | { op: 'addUser'; user: number; enabled: boolean; group: number | null }
  | { op: 'removeUser'; user: number }
  | { op: 'enable'; user: number; on: boolean }
  | { op: 'member'; user: number; group: number; add: boolean }
  | { op: 'assign'; user: number; f: number; add: boolean }
  | { op: 'removeFeature'; f: number }
  | { op: 'disconnect'; s: number }
  | { op: 'profile'; user: number; display: number | null; email: boolean }
  | { op: 'token'; user: number; hash: number | null }
  | { op: 'block'; user: number; host: number | null; f: number | null; ms: number }
  | { op: 'unblock'; b: number }
  | { op: 'free'; user: number; f: number | null }
  | { op: 'reload'; v: number };

const n = fc.nat({ max: 20 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('open' as const), user: fc.nat({ max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('end' as const), s: n }) },
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant('checkout' as const),
      s: n,
      f: fc.nat({ max: 2 }),
      count: fc.integer({ min: 1, max: 2 }),
      key: fc.option(fc.nat({ max: 3 }), { nil: null }),
      wait: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('retry' as const),
      s: n,
      f: fc.nat({ max: 2 }),
      key: fc.nat({ max: 3 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('checkin' as const), l: n }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('revoke' as const), l: n }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('heartbeat' as const), s: n, idle: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('advance' as const),
      ms: fc.constantFrom(0, 100, 300, 600, 1_000),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('addUser' as const),
      user: fc.nat({ max: 6 }),
      enabled: fc.boolean(),
      group: fc.option(fc.nat({ max: 1 }), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removeUser' as const), user: fc.nat({ max: 6 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('enable' as const), user: fc.nat({ max: 6 }), on: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('member' as const),
      user: fc.nat({ max: 6 }),
      group: fc.nat({ max: 1 }),
      add: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('assign' as const),
      user: fc.nat({ max: 6 }),
      f: fc.nat({ max: 2 }),
      add: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removeFeature' as const), f: fc.nat({ max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('disconnect' as const), s: n }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('profile' as const),
      user: fc.nat({ max: 6 }),
      display: fc.option(fc.nat({ max: 2 }), { nil: null }),
      email: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('token' as const),
      user: fc.nat({ max: 6 }),
      hash: fc.option(fc.nat({ max: 4 }), { nil: null }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('block' as const),
      user: fc.nat({ max: 4 }),
      host: fc.option(fc.nat({ max: 2 }), { nil: null }),
      f: fc.option(fc.nat({ max: 2 }), { nil: null }),
      ms: fc.constantFrom(100, 500, 2_000),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unblock' as const), b: n }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('free' as const),
      user: fc.nat({ max: 4 }),
      f: fc.option(fc.nat({ max: 2 }), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reload' as const), v: fc.nat({ max: 2 }) }) },
);

function pick<T>(list: readonly T[], i: number): T | undefined {
  return list.length === 0 ? undefined : list[list.length - 1 - (i % Math.min(list.length, 6))];
}

function options(
  clock: ManualClock,
  features: readonly FeatureConfig[],
  directory: DirectoryConfig = DIRECTORY,
): EngineOptions {
  return {
    clock,
    leaseTtlMs: TTL,
    features,
    directory,
    wallClock: () => WALL0 + clock.now(),
    maxLeasesPerSession: 4,
    // Small caches keep thousands of engines cheap (lru-cache allocates its capacity up front).
    requestKeyCacheSize: 1_000,
    endedLeaseCacheSize: 1_000,
    random: countingRandom(),
  };
}

function run(ops: readonly Op[], snapshotAt: number): void {
  const clock = new ManualClock(0);
  const engine = new LeaseEngine(options(clock, FEATURES));
  const records: JournalRecord[] = [];
  for (const name of ALL_EVENTS) {
    engine.on(name, (payload) => {
      const record = toJournalRecord(name as EngineEventName, payload as never);
      if (record !== undefined) records.push(viaMsgpack(record));
    });
  }
  const sessions: string[] = [];
  const leases: { id: string; sessionId: string; fencing: number }[] = [];
  const removed = new Set<string>();
  const blocks: string[] = [];
  let config = CONFIGS[0]!;
  let reloaded = false;
  let snapshot: { state: EngineState; seq: number } | undefined;
  const attempt = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      if (!(error instanceof Error) || !('code' in error)) throw error;
    }
  };
  ops.forEach((op, step) => {
    if (step === snapshotAt) snapshot = { state: viaMsgpack(engine.exportState()), seq: records.length };
    const user = (i: number) => (i < USERS.length ? USERS[i]! : `x${i}`);
    switch (op.op) {
      case 'open': {
        const u = user(op.user);
        sessions.push(engine.openSession({ user: u, host: `h${op.user % 3}`, clientName: 'prop' }).sessionId);
        break;
      }
      case 'end': {
        const s = pick(sessions, op.s);
        if (s !== undefined) attempt(() => engine.endSession(s));
        break;
      }
      case 'checkout':
      case 'retry': {
        const s = pick(sessions, op.s);
        if (s === undefined) break;
        const count = op.op === 'checkout' ? op.count : 1;
        const key = op.op === 'retry' ? `k${op.key}` : op.key === null ? undefined : `k${op.key}`;
        const waitMs = op.op === 'checkout' && op.wait ? 400 : 0;
        attempt(() => {
          const result = engine.requestCheckout(s, { feature: FEATURE_NAMES[op.f]!, count, key, waitMs });
          if (result.kind === 'granted') leases.push(result.lease);
        });
        break;
      }
      case 'checkin': {
        const l = pick(leases, op.l);
        if (l !== undefined) attempt(() => engine.checkin(l.sessionId, l.id, l.fencing));
        break;
      }
      case 'revoke': {
        const l = pick(leases, op.l);
        if (l !== undefined) attempt(() => engine.revoke(l.id, 'admin'));
        break;
      }
      case 'heartbeat': {
        const s = pick(sessions, op.s);
        if (s === undefined) break;
        const mine = leases
          .filter((l) => l.sessionId === s)
          .map((l) => ({ lease: l.id, fencing: l.fencing, idleMs: op.idle ? 0 : undefined }));
        attempt(() => engine.heartbeat(s, { leases: mine }));
        break;
      }
      case 'advance':
        clock.advance(op.ms);
        engine.sweep();
        break;
      case 'addUser':
        attempt(() =>
          engine.addUser({
            name: user(op.user),
            enabled: op.enabled,
            ...(op.group === null ? {} : { groups: [`g${op.group + 1}`] }),
          }),
        );
        break;
      case 'removeUser':
        attempt(() => engine.removeUser(user(op.user)));
        break;
      case 'enable':
        attempt(() => engine.setUserEnabled(user(op.user), op.on));
        break;
      case 'member':
        attempt(() =>
          op.add
            ? engine.addGroupMember(`g${op.group + 1}`, user(op.user))
            : engine.removeGroupMember(`g${op.group + 1}`, user(op.user)),
        );
        break;
      case 'assign':
        attempt(() =>
          op.add
            ? engine.assign(FEATURE_NAMES[op.f]!, user(op.user))
            : engine.unassign(FEATURE_NAMES[op.f]!, user(op.user)),
        );
        break;
      case 'profile':
        attempt(() =>
          engine.updateUser(user(op.user), {
            display: op.display === null ? null : `User ${op.display}`,
            email: op.email ? `${user(op.user)}@example.com` : null,
          }),
        );
        break;
      case 'token':
        attempt(() => engine.setUserToken(user(op.user), op.hash === null ? undefined : hash(op.hash)));
        break;
      case 'block':
        attempt(() => {
          const view = engine.block({
            user: user(op.user),
            ...(op.host === null ? {} : { host: `h${op.host}` }),
            ...(op.f === null ? {} : { feature: FEATURE_NAMES[op.f]! }),
            durationMs: op.ms,
            by: 'admin',
          });
          blocks.push(view.id);
        });
        break;
      case 'unblock': {
        const id = pick(blocks, op.b);
        if (id !== undefined) engine.unblock(id);
        break;
      }
      case 'free':
        attempt(() =>
          engine.freeLeases({
            user: user(op.user),
            ...(op.f === null ? {} : { feature: FEATURE_NAMES[op.f]! }),
          }),
        );
        break;
      case 'reload': {
        const next = CONFIGS[op.v]!;
        attempt(() => {
          engine.reconfigure(next.features, next.directory);
          // Features come from the configuration: removed ones are back.
          config = next;
          reloaded = true;
          removed.clear();
        });
        break;
      }
      case 'removeFeature': {
        const name = FEATURE_NAMES[op.f]!;
        if (removed.size < 2 && !removed.has(name)) {
          removed.add(name);
          engine.removeFeature(name);
        }
        break;
      }
      case 'disconnect': {
        const s = pick(sessions, op.s);
        if (s !== undefined) engine.leaveQueue(s);
        break;
      }
      default:
        op satisfies never;
    }
  });
  const comparable = (state: EngineState) => {
    const { baseline, ...rest } = state;
    return { state: normalised(rest as EngineState), baseline };
  };
  const live = comparable(engine.exportState()).state;
  const features = config.features.filter((f) => !removed.has(f.name));
  const baseline = baselineOf(features, config.directory);
  const at = new ManualClock(clock.now());

  if (!reloaded) {
    // Restored from the records alone: the engine starts from the configuration, which is the one
    // the records started from.
    const fromRecords = LeaseEngine.restore(options(at, features), undefined, records, { graceMs: TTL });
    expect(comparable(fromRecords.exportState())).toEqual({ state: live, baseline });
    expect(fromRecords.listBlocks()).toEqual(engine.listBlocks());
  }
  // The records replayed onto the first configuration (as the live engine started), then restarted
  // with the configuration last applied.
  const fromRecords = LeaseEngine.restore(options(at, FEATURES), undefined, [], { graceMs: TTL });
  for (const [i, record] of records.entries()) fromRecords.applyRecord(record, i + 1);
  const replayed = LeaseEngine.restore(
    options(at, features, config.directory),
    viaMsgpack(fromRecords.exportState()),
    [],
    { graceMs: TTL },
  );
  expect(comparable(replayed.exportState())).toEqual({ state: live, baseline });
  expect(replayed.fencing).toBe(engine.fencing);
  expect(replayed.listBlocks()).toEqual(engine.listBlocks());

  if (snapshot !== undefined) {
    const rest = records.slice(snapshot.seq);
    const restored = LeaseEngine.restore(options(at, features, config.directory), snapshot.state, rest, {
      graceMs: TTL,
      firstSeq: snapshot.seq + 1,
    });
    expect(comparable(restored.exportState())).toEqual({ state: live, baseline });
    expect(restored.fencing).toBe(engine.fencing);
    expect(restored.listBlocks()).toEqual(engine.listBlocks());
    // Seat accounting (claims, named seats, group usage) is rebuilt too, not only the lease list.
    // The queue is not persisted (journal-records.ts).
    const usage = (e: LeaseEngine) =>
      e.featureStatus().map(({ leases: _l, queued: _q, ...status }) => status);
    expect(usage(restored)).toEqual(usage(engine));
    expect(restored.listUsers()).toEqual(engine.listUsers());
    expect(restored.listGroups()).toEqual(engine.listGroups());
  }
}

describe('restore is deterministic (issue 5)', () => {
  it('snapshot at step k + records after k, and records alone, rebuild the live state', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), fc.nat(), (ops, k) =>
        run(ops, k % ops.length),
      ),
      { numRuns: 500 },
    );
  }, 60_000);
});
