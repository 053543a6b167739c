/**
 * Model-based property test: random sequences of sessions, checkouts (some retried with their key),
 * heartbeats with activity, checkins (some doubled, some stale), seat changes, idle timeout changes,
 * feature removal, revokes, draining and time jumps, run against the engine and a naive reference
 * model. Every call's outcome and events must match the model, and the DESIGN §3 invariants must
 * hold after every step.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { LeaseEngine } from '../../src/engine/engine.js';
import type { FeatureConfig, LeaseView } from '../../src/engine/types.js';
import type { ReclaimReason } from '../../src/protocol/codes.js';
import { countingRandom, type RecordedEvent, recordEvents } from './fixtures.js';
import { ReferenceModel } from './reference-model.js';

const TTL = 1_000;
const MAX_LEASES = 4;
const INITIAL_FENCING = 100;
const FEATURES: readonly FeatureConfig[] = [
  { name: 'cad', seats: 3, model: 'concurrent' },
  { name: 'cam', seats: 2, model: 'concurrent', idleTimeoutMs: 700 },
  { name: 'sim', seats: 4, model: 'concurrent', idleTimeoutMs: 2_000 },
];
const FEATURE_NAMES = [...FEATURES.map((f) => f.name), 'nope'];
const REASONS: readonly ReclaimReason[] = ['admin', 'expired', 'idle', 'feature_removed'];

type Command =
  | { op: 'open'; user: number }
  | { op: 'resume'; session: number; goodToken: boolean }
  | { op: 'end'; session: number }
  | { op: 'checkout'; session: number; feature: number; count: number; key: number | null }
  | { op: 'retry'; request: number }
  | {
      op: 'heartbeat';
      session: number;
      asOwner: boolean;
      entries: { lease: number; stale: boolean; idleMs: number | null }[];
    }
  | { op: 'checkin'; lease: number; asOwner: boolean; session: number; stale: boolean }
  | { op: 'revoke'; lease: number; reason: number }
  | { op: 'setSeats'; feature: number; seats: number }
  | { op: 'setIdle'; feature: number; idleMs: number | null }
  | { op: 'toggleFeature'; feature: number }
  | { op: 'drain'; on: boolean }
  | { op: 'advance'; ms: number };

const index = fc.nat({ max: 50 });
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('open' as const), user: fc.nat({ max: 2 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('resume' as const), session: index, goodToken: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('end' as const), session: index }) },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('checkout' as const),
      session: index,
      // Mostly licensed features; 'nope' now and then.
      feature: fc.oneof(
        { weight: 9, arbitrary: fc.nat({ max: 2 }) },
        { weight: 1, arbitrary: fc.constant(3) },
      ),
      count: fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: 1, max: 3 }) },
        { weight: 1, arbitrary: fc.constant(0) },
      ),
      key: fc.option(fc.nat({ max: 3 }), { nil: null }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('retry' as const), request: index }) },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('heartbeat' as const),
      session: index,
      asOwner: fc.boolean(),
      entries: fc.array(
        fc.record({
          lease: index,
          stale: fc.boolean(),
          idleMs: fc.option(fc.integer({ min: -50, max: 1_500 }), { nil: null }),
        }),
        { maxLength: 3 },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('checkin' as const),
      lease: index,
      asOwner: fc.boolean(),
      session: index,
      stale: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('revoke' as const), lease: index, reason: fc.nat({ max: 3 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('setSeats' as const),
      feature: fc.nat({ max: 2 }),
      seats: fc.nat({ max: 5 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('setIdle' as const),
      feature: fc.nat({ max: 2 }),
      idleMs: fc.option(fc.constantFrom(300, 700, 2_000), { nil: null }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('toggleFeature' as const), feature: fc.nat({ max: 2 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('drain' as const), on: fc.constantFrom(true, false, false) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('advance' as const),
      ms: fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: 0, max: 300 }) },
        { weight: 1, arbitrary: fc.integer({ min: 900, max: 1_100 }) },
        { weight: 1, arbitrary: fc.constant(TTL) },
      ),
    }),
  },
);

/** One of the most recent entries of `list`: recent sessions and leases are the interesting ones. */
function pick<T>(list: readonly T[], i: number): T | undefined {
  const recent = Math.min(list.length, 5);
  return recent === 0 ? undefined : list[list.length - 1 - (i % recent)];
}

function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/** Runs one sequence against the engine and the model, checking after every step. */
function run(commands: readonly Command[]): void {
  const clock = new ManualClock(0);
  const engine = new LeaseEngine({
    clock,
    leaseTtlMs: TTL,
    features: FEATURES,
    maxLeasesPerSession: MAX_LEASES,
    initialFencing: INITIAL_FENCING,
    // Small caches keep 1,000 engines cheap; a sequence never fills them.
    requestKeyCacheSize: 1_000,
    endedLeaseCacheSize: 1_000,
    random: countingRandom(),
  });
  const events = recordEvents(engine);
  const model = new ReferenceModel(TTL, MAX_LEASES, INITIAL_FENCING);
  for (const f of FEATURES) model.features.set(f.name, { seats: f.seats, idleTimeoutMs: f.idleTimeoutMs });
  const sessions: { id: string; token: string }[] = [];
  const granted: LeaseView[] = []; // every lease ever granted, in grant order
  const keyed: { sessionId: string; feature: string; count: number; key: string | undefined }[] = [];
  const endedIds = new Set<string>();
  let lastFencing = INITIAL_FENCING;
  let previousInUse = new Map<string, number>();

  for (const cmd of commands) {
    const before = events.length;
    // Expected events of the step, as strings; reclaims whose reason the model cannot pin down
    // are checked against their acceptable reasons instead.
    const expected: string[] = [];
    let ambiguous = new Map<string, Set<ReclaimReason>>();
    const settle = () => {
      const { reclaims, expired } = model.settle(clock.now());
      ambiguous = reclaims;
      for (const id of expired) expected.push(`sessionEnded:${id}:expired`);
    };
    let grantedFeature: string | undefined;
    let sweptNow = false;

    switch (cmd.op) {
      case 'open': {
        settle();
        const opened = engine.openSession({ user: `u${cmd.user}`, host: `h${cmd.user}`, clientName: 'prop' });
        sessions.push({ id: opened.sessionId, token: opened.resumeToken });
        model.sessions.set(opened.sessionId, {
          id: opened.sessionId,
          token: opened.resumeToken,
          lastHeartbeatAt: clock.now(),
          leases: new Set(),
        });
        expected.push(`sessionOpened:${opened.sessionId}`);
        break;
      }
      case 'resume': {
        const target = pick(sessions, cmd.session);
        if (target === undefined) break;
        settle();
        const token = cmd.goodToken ? target.token : '0'.repeat(64);
        const alive = model.sessions.get(target.id);
        const code = errorCode(() => engine.resumeSession(target.id, token));
        if (alive !== undefined && cmd.goodToken) {
          expect(code).toBeUndefined();
          alive.lastHeartbeatAt = clock.now();
        } else {
          expect(code).toBe('SESSION_NOT_FOUND');
        }
        break;
      }
      case 'end': {
        const target = pick(sessions, cmd.session);
        if (target === undefined) break;
        settle();
        const alive = model.sessions.get(target.id);
        if (alive === undefined) {
          expect(errorCode(() => engine.endSession(target.id))).toBe('SESSION_NOT_FOUND');
          break;
        }
        const leaseIds = [...alive.leases];
        expect(engine.endSession(target.id)).toEqual({ released: leaseIds.length });
        for (const id of leaseIds) {
          model.end(id, 'checked_in');
          expected.push(`released:${id}`);
        }
        model.sessions.delete(target.id);
        expected.push(`sessionEnded:${target.id}:closed`);
        break;
      }
      case 'checkout':
      case 'retry': {
        let request: { sessionId: string; feature: string; count: number; key: string | undefined };
        if (cmd.op === 'checkout') {
          const target = pick(sessions, cmd.session);
          if (target === undefined) break;
          request = {
            sessionId: target.id,
            feature: FEATURE_NAMES[cmd.feature]!,
            count: cmd.count,
            key: cmd.key === null ? undefined : `k${cmd.key}`,
          };
          if (request.key !== undefined) keyed.push(request);
        } else {
          const previous = pick(keyed, cmd.request);
          if (previous === undefined) break;
          request = previous;
        }
        settle();
        const target = { id: request.sessionId };
        const { feature, count, key } = request;
        const outcome = model.checkout(target.id, feature, count, key, clock.now());
        let view: LeaseView | undefined;
        const code = errorCode(() => {
          view = engine.checkout(target.id, { feature, count, key });
        });
        switch (outcome.kind) {
          case 'granted': {
            expect(code).toBeUndefined();
            const lease = model.grant(view!.id, target.id, feature, count, key, clock.now());
            expect(view).toMatchObject({ feature, count, fencing: lease.fencing, sessionId: target.id });
            granted.push(view!);
            grantedFeature = feature;
            expected.push(`granted:${view!.id}`);
            break;
          }
          case 'replay':
            expect(code).toBeUndefined();
            expect(view!.id).toBe(outcome.leaseId);
            expect(view!.fencing).toBe(model.leases.get(outcome.leaseId)!.fencing);
            break;
          case 'error':
            expect(code).toBe(outcome.code);
            if (outcome.denial) expected.push(`denied:${target.id}:${outcome.code}`);
            break;
          default:
            outcome satisfies never;
        }
        break;
      }
      case 'heartbeat': {
        const entries = cmd.entries.flatMap((entry) => {
          const lease = pick(granted, entry.lease);
          return lease === undefined ? [] : [{ lease, entry }];
        });
        const owner = cmd.asOwner ? entries[0]?.lease.sessionId : undefined;
        const sessionId = owner ?? pick(sessions, cmd.session)?.id;
        if (sessionId === undefined) break;
        settle();
        const wire = entries.map(({ lease, entry }) => ({
          lease: lease.id,
          fencing: entry.stale ? lease.fencing - 1 : lease.fencing,
          idleMs: entry.idleMs ?? undefined,
        }));
        const session = model.sessions.get(sessionId);
        if (session === undefined) {
          expect(errorCode(() => engine.heartbeat(sessionId, { leases: wire }))).toBe('SESSION_NOT_FOUND');
          break;
        }
        session.lastHeartbeatAt = clock.now();
        const lost = wire.flatMap((w) => {
          const code = model.heartbeatEntry(session, w.lease, w.fencing, w.idleMs, clock.now());
          return code === undefined ? [] : [{ lease: w.lease, code }];
        });
        expect(engine.heartbeat(sessionId, { leases: wire })).toEqual({ ttlMs: TTL, lost });
        // A lease that ended is never accepted again (DESIGN §3.4).
        for (const w of wire) if (endedIds.has(w.lease)) expect(lost.map((l) => l.lease)).toContain(w.lease);
        break;
      }
      case 'checkin': {
        const lease = pick(granted, cmd.lease);
        const sessionId = cmd.asOwner ? lease?.sessionId : pick(sessions, cmd.session)?.id;
        if (lease === undefined || sessionId === undefined) break;
        settle();
        const fencing = cmd.stale ? lease.fencing - 1 : lease.fencing;
        const wasEnded = endedIds.has(lease.id);
        const predicted = model.checkin(sessionId, lease.id, fencing);
        let result: { released: boolean } | undefined;
        const code = errorCode(() => {
          result = engine.checkin(sessionId, lease.id, fencing);
        });
        if ('code' in predicted) {
          expect(code).toBe(predicted.code);
        } else {
          expect(code).toBeUndefined();
          expect(result).toEqual(predicted);
          if (predicted.released) expected.push(`released:${lease.id}`);
        }
        if (wasEnded) expect(result?.released).not.toBe(true);
        break;
      }
      case 'revoke': {
        const lease = pick(granted, cmd.lease);
        if (lease === undefined) break;
        settle();
        const reason = REASONS[cmd.reason]!;
        const live = model.leases.has(lease.id);
        const code = errorCode(() => engine.revoke(lease.id, reason));
        if (live) {
          expect(code).toBeUndefined();
          model.end(lease.id, reason);
          expected.push(`reclaimed:${lease.id}:${reason}`);
        } else {
          expect(code).toBe('LEASE_NOT_FOUND');
        }
        break;
      }
      case 'setSeats': {
        settle();
        const name = FEATURE_NAMES[cmd.feature]!;
        const pool = model.features.get(name);
        const code = errorCode(() => engine.setSeats(name, cmd.seats));
        if (pool === undefined) {
          expect(code).toBe('UNKNOWN_FEATURE');
          break;
        }
        expect(code).toBeUndefined();
        if (pool.seats !== cmd.seats) expected.push(`seatsChanged:${name}:${cmd.seats}`);
        pool.seats = cmd.seats;
        break;
      }
      case 'setIdle': {
        settle();
        const name = FEATURE_NAMES[cmd.feature]!;
        const pool = model.features.get(name);
        const idleTimeoutMs = cmd.idleMs ?? undefined;
        const code = errorCode(() =>
          engine.updateFeature({ name, seats: pool?.seats ?? 1, model: 'concurrent', idleTimeoutMs }),
        );
        if (pool === undefined) {
          expect(code).toBe('UNKNOWN_FEATURE');
          break;
        }
        expect(code).toBeUndefined();
        pool.idleTimeoutMs = idleTimeoutMs;
        break;
      }
      case 'toggleFeature': {
        settle();
        const name = FEATURE_NAMES[cmd.feature]!;
        if (model.features.has(name)) {
          const doomed = [...model.leases.values()].filter((l) => l.feature === name);
          expect(engine.removeFeature(name)).toEqual({ reclaimed: doomed.length });
          for (const lease of doomed) {
            model.end(lease.id, 'feature_removed');
            expected.push(`reclaimed:${lease.id}:feature_removed`);
          }
          model.features.delete(name);
        } else {
          engine.addFeature({ name, seats: 2, model: 'concurrent' });
          model.features.set(name, { seats: 2, idleTimeoutMs: undefined });
        }
        break;
      }
      case 'drain':
        settle();
        engine.setDraining(cmd.on);
        model.draining = cmd.on;
        break;
      case 'advance': {
        clock.advance(cmd.ms);
        settle();
        const predicted = [...ambiguous.keys()].length;
        expect(engine.sweep()).toBe(predicted);
        sweptNow = true;
        break;
      }
      default:
        cmd satisfies never;
    }

    // ---- the step's events match the model, each exactly once -----------------------------
    const stepEvents: RecordedEvent[] = events.slice(before);
    for (const event of stepEvents) {
      if (event.name !== 'reclaimed') continue;
      const reasons = ambiguous.get(event.payload.lease.id);
      if (reasons === undefined) continue;
      expect(reasons.has(event.payload.reason), `reclaim reason ${event.payload.reason}`).toBe(true);
      expected.push(`reclaimed:${event.payload.lease.id}:${event.payload.reason}`);
      model.adoptReason(event.payload.lease.id, event.payload.reason);
      ambiguous.delete(event.payload.lease.id);
    }
    expect(ambiguous.size, 'a due lease was not reclaimed').toBe(0);
    expect(stepEvents.map(describeEvent).sort()).toEqual(expected.sort());
    for (const event of stepEvents) {
      if (event.name === 'released' || event.name === 'reclaimed') endedIds.add(event.payload.lease.id);
      // Fencing tokens strictly increase in grant order (DESIGN §3.4).
      if (event.name === 'granted') {
        expect(event.payload.lease.fencing).toBeGreaterThan(lastFencing);
        lastFencing = event.payload.lease.fencing;
      }
    }
    expect(engine.fencing).toBe(lastFencing);

    // ---- invariants (plain checks: this runs ~40,000 times) ---------------------------------
    const now = clock.now();
    const all = engine.listLeases();
    check(
      engine.leaseCount === all.length,
      `leaseCount ${engine.leaseCount} but ${all.length} leases listed`,
    );
    const statuses = engine.featureStatus();
    for (const status of statuses) {
      const sum = status.leases.reduce((acc, lease) => acc + lease.count, 0);
      check(status.inUse === sum, `${status.name}: inUse ${status.inUse} but its leases sum to ${sum}`);
      check(status.inUse === model.inUse(status.name), `${status.name}: inUse differs from the model`);
      check(status.seats === model.features.get(status.name)?.seats, `${status.name}: seats differ`);
      check(status.free === Math.max(0, status.seats - status.inUse), `${status.name}: free`);
      check(status.overdraft === Math.max(0, status.inUse - status.seats), `${status.name}: overdraft`);
      if (status.inUse > status.seats) {
        // Only a seat decrease causes an overdraft; it never grows and nothing is granted in it.
        check(grantedFeature !== status.name, `${status.name}: granted during an overdraft`);
        check(status.inUse <= (previousInUse.get(status.name) ?? 0), `${status.name}: overdraft grew`);
      }
      if (grantedFeature === status.name)
        check(status.inUse <= status.seats, `${status.name}: over the limit`);
    }
    previousInUse = new Map(statuses.map((s) => [s.name, s.inUse]));
    check(all.length === model.leases.size, 'the engine and the model hold different leases');
    const seen = new Set<string>();
    for (const { id } of sessions) {
      const view = engine.session(id);
      check(
        (view !== undefined) === model.sessions.has(id),
        `session ${id}: alive in one of engine and model`,
      );
      if (view === undefined) continue;
      const modelLeases = model.sessions.get(id)!.leases;
      check(view.leaseIds.length === modelLeases.size, `session ${id}: lease count differs`);
      for (const leaseId of view.leaseIds) {
        check(modelLeases.has(leaseId), `session ${id}: unexpected lease ${leaseId}`);
        check(!seen.has(leaseId), `lease ${leaseId} is in two sessions`);
        seen.add(leaseId);
      }
      // No session outlives its ttl past a settle (every engine call settles first).
      check(now < view.lastHeartbeatAt + TTL, `session ${id} outlived its ttl`);
    }
    check(seen.size === all.length, 'a lease belongs to no live session');
    for (const lease of all) {
      check(model.leases.has(lease.id), `lease ${lease.id} is not in the model`);
      check(!endedIds.has(lease.id), `ended lease ${lease.id} came back`);
      check(seen.has(lease.id), `lease ${lease.id} is in no session`);
      const idle = model.features.get(lease.feature)?.idleTimeoutMs;
      if (sweptNow && idle !== undefined)
        check(now < lease.lastActivityAt + idle, `idle lease ${lease.id} survived`);
    }
  }
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`invariant broken: ${message}`);
}

function describeEvent(event: RecordedEvent): string {
  switch (event.name) {
    case 'granted':
      return `granted:${event.payload.lease.id}`;
    case 'released':
      return `released:${event.payload.lease.id}`;
    case 'reclaimed':
      return `reclaimed:${event.payload.lease.id}:${event.payload.reason}`;
    case 'denied':
      return `denied:${event.payload.sessionId}:${event.payload.code}`;
    case 'sessionOpened':
      return `sessionOpened:${event.payload.session.id}`;
    case 'sessionEnded':
      return `sessionEnded:${event.payload.sessionId}:${event.payload.reason}`;
    case 'seatsChanged':
      return `seatsChanged:${event.payload.feature}:${event.payload.seats}`;
    // Nothing in this test waits, changes the directory, blocks or reloads (see queue.property.test.ts).
    case 'queued':
    case 'queuePosition':
    case 'queueGranted':
    case 'queueLeft':
    case 'directoryChanged':
    case 'blocked':
    case 'unblocked':
    case 'configBaseline':
      return event.name;
    default:
      return event satisfies never;
  }
}

describe('LeaseEngine against a reference model (property)', () => {
  it('agrees with the model and keeps the DESIGN §3 invariants over 1,000 random sequences', () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 20, maxLength: 60 }), (commands) => {
        run(commands);
      }),
      { numRuns: 1_000 },
    );
  });
});
