/**
 * Property test for issue 4: random directories (users, groups with priorities and hosts), a
 * feature with a random model, named assignments, group reserves and maxes, include/exclude lists,
 * dedupe and idle preemption, and random sequences of sessions, checkouts that wait or not, retries,
 * cancels, disconnects, checkins, heartbeats, seat changes, assignments, directory changes and time.
 *
 * There is no full reference model of the queue here (engine.property.test.ts keeps the reference
 * model for the concurrent core). Instead an independent, naive invariant checker runs after every
 * step, from the engine's public views only:
 * - seats: Σ claims ≤ seats, except an overdraft an admin change caused, which never grows from the
 *   concurrent pool; every group's usage ≤ its max; named usage = users holding named leases;
 * - reserves: the reserve deficit (unused reserves beyond the free seats) never grows except by an
 *   admin change, and a group below its reserve asking for at most its unused reserve is never denied
 *   NO_SEATS / SEATS_RESERVED; an assigned, enabled named user asking for 1 seat is never denied;
 * - the queue: in (priority, arrival) order; no waiter past its deadline; no waiter the documented
 *   rule would grant (re-running the scan would grant nothing); no grant overtook a waiter that was
 *   short of seats except from its own group's reserve or by sharing a seat;
 * - fencing strictly increases; no ended lease is held again.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { LeaseEngine } from '../../src/engine/engine.js';
import type {
  CheckoutResult,
  DirectoryConfig,
  FeatureConfig,
  FeatureStatus,
  GroupView,
  LeaseView,
  UserView,
  WaiterView,
} from '../../src/engine/types.js';
import { countingRandom, type RecordedEvent, recordEvents } from './fixtures.js';

const TTL = 3_000;
const MAX_LEASES = 3;
const USERS = ['u0', 'u1', 'u2', 'u3', 'u4'];
const HOLDERS = [...USERS, 'stranger'];
const HOSTS = ['h0', 'h1', 'h2'];
const GROUPS = ['g0', 'g1', 'g2'];

// ---- scenario: a directory and two features ---------------------------------------------------

interface Scenario {
  directory: DirectoryConfig;
  features: FeatureConfig[];
}

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    groups: fc.array(
      fc.record({
        users: fc.subarray(USERS, { maxLength: 2 }),
        hosts: fc.subarray(HOSTS, { maxLength: 1 }),
        priority: fc.integer({ min: 0, max: 2 }),
      }),
      { maxLength: 3 },
    ),
    users: fc.oneof(
      { weight: 1, arbitrary: fc.constant<{ enabled: boolean; groups: number[] }[]>([]) },
      {
        weight: 4,
        arbitrary: fc.array(
          fc.record({
            enabled: fc.oneof(
              { weight: 5, arbitrary: fc.constant(true) },
              { weight: 1, arbitrary: fc.constant(false) },
            ),
            groups: fc.subarray([0, 1, 2]),
          }),
          { minLength: 5, maxLength: 5 },
        ),
      },
    ),
    model: fc.constantFrom('concurrent', 'concurrent', 'mixed', 'mixed', 'named'),
    seats: fc.integer({ min: 2, max: 4 }),
    named: fc.subarray(USERS, { maxLength: 3 }),
    dedupe: fc.constantFrom('none', 'none', 'user', 'user-host'),
    rules: fc.array(
      fc.record({
        group: fc.nat({ max: 2 }),
        reserve: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
        extra: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
      }),
      { maxLength: 3 },
    ),
    exclude: fc.option(
      fc.record({
        users: fc.subarray(HOLDERS, { maxLength: 1 }),
        hosts: fc.subarray(HOSTS, { maxLength: 1 }),
      }),
      { nil: undefined, freq: 2 },
    ),
    includeGroup: fc.option(fc.nat({ max: 2 }), { nil: undefined, freq: 2 }),
    open: fc.option(fc.boolean(), { nil: undefined, freq: 2 }),
    reclaim: fc.option(fc.constant(400), { nil: undefined }),
  })
  .map((raw) => {
    const groups = raw.groups.map((g, i) => ({ name: GROUPS[i]!, ...g }));
    const users = raw.users.map((u, i) => ({
      name: USERS[i]!,
      enabled: u.enabled,
      groups: u.groups.filter((g) => g < groups.length).map((g) => GROUPS[g]!),
    }));
    const model = raw.model as FeatureConfig['model'];
    let named = model === 'concurrent' ? [] : raw.named.slice(0, raw.seats);
    if (users.length > 0) named = named.filter((n) => users.some((u) => u.name === n));
    const rules: { group: string; reserve?: number; max?: number }[] = [];
    let reserved = 0;
    for (const rule of raw.rules) {
      const group = GROUPS[rule.group]!;
      if (rule.group >= groups.length || rules.some((r) => r.group === group)) continue;
      const reserve = Math.min(rule.reserve ?? 0, raw.seats - named.length - reserved);
      reserved += reserve;
      const out: { group: string; reserve?: number; max?: number } = { group };
      if (rule.reserve !== undefined) out.reserve = reserve;
      if (rule.extra !== undefined) out.max = reserve + rule.extra;
      rules.push(out);
    }
    const feature: FeatureConfig = {
      name: 'cad',
      seats: raw.seats,
      model,
      dedupe: raw.dedupe as FeatureConfig['dedupe'],
      groupRules: rules,
      ...(named.length > 0 ? { namedUsers: named } : {}),
      ...(raw.exclude ? { exclude: raw.exclude } : {}),
      ...(raw.includeGroup !== undefined && raw.includeGroup < groups.length
        ? { include: { groups: [GROUPS[raw.includeGroup]!], users: ['u0', 'stranger'] } }
        : {}),
      // A closed feature without users admits nobody: not worth a run.
      ...(raw.open !== undefined && (raw.open || users.length > 0) ? { open: raw.open } : {}),
      ...(raw.reclaim !== undefined ? { reclaimIdleWhenQueuedMs: raw.reclaim } : {}),
    };
    return {
      directory: { users, groups },
      features: [feature, { name: 'cam', seats: 2, model: 'concurrent', open: true }],
    };
  });

// ---- commands ---------------------------------------------------------------------------------

type Command =
  | { op: 'open'; user: number; host: number }
  | { op: 'end'; session: number }
  | {
      op: 'checkout';
      session: number;
      feature: number;
      count: number;
      waitMs: number | null;
      key: number | null;
    }
  | { op: 'retry'; request: number }
  | { op: 'cancel'; waiter: number; asOwner: boolean; session: number }
  | { op: 'leave'; session: number }
  | { op: 'checkin'; lease: number }
  | { op: 'heartbeat'; session: number; idleMs: number | null }
  | { op: 'revoke'; lease: number }
  | { op: 'setSeats'; seats: number }
  | { op: 'assign'; user: number; on: boolean }
  | { op: 'enable'; user: number; on: boolean }
  | { op: 'member'; group: number; user: number; on: boolean }
  | { op: 'advance'; ms: number };

const idx = fc.nat({ max: 40 });
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('open' as const),
      user: fc.oneof({ weight: 6, arbitrary: fc.nat({ max: 4 }) }, { weight: 1, arbitrary: fc.constant(5) }),
      host: fc.nat({ max: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('end' as const), session: idx }) },
  {
    weight: 12,
    arbitrary: fc.record({
      op: fc.constant('checkout' as const),
      session: idx,
      feature: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(1) }),
      count: fc.oneof(
        { weight: 4, arbitrary: fc.constant(1) },
        { weight: 2, arbitrary: fc.integer({ min: 2, max: 3 }) },
      ),
      waitMs: fc.option(fc.constantFrom(300, 800, 3_000, 10_000), { nil: null, freq: 4 }),
      key: fc.option(fc.nat({ max: 2 }), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('retry' as const), request: idx }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('cancel' as const),
      waiter: idx,
      asOwner: fc.boolean(),
      session: idx,
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('leave' as const), session: idx }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('checkin' as const), lease: idx }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('heartbeat' as const),
      session: idx,
      idleMs: fc.option(fc.integer({ min: 0, max: 600 }), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('revoke' as const), lease: idx }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('setSeats' as const), seats: fc.integer({ min: 1, max: 6 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('assign' as const), user: fc.nat({ max: 4 }), on: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('enable' as const),
      user: fc.nat({ max: 4 }),
      on: fc.oneof({ weight: 2, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('member' as const),
      group: fc.nat({ max: 2 }),
      user: fc.nat({ max: 4 }),
      on: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 700 }) }),
  },
);

// ---- a naive view of the engine's state, from its public queries -------------------------------

interface Snapshot {
  status: Map<string, FeatureStatus>;
  config: Map<string, FeatureConfig>;
  queue: Map<string, WaiterView[]>;
  users: Map<string, UserView>;
  groups: GroupView[];
  leases: LeaseView[];
  sessionLeases: Map<string, number>;
}

function snapshot(engine: LeaseEngine): Snapshot {
  const status = new Map(engine.featureStatus().map((s) => [s.name, s]));
  const config = new Map([...status.keys()].map((name) => [name, engine.featureConfig(name)!]));
  const queue = new Map([...status.keys()].map((name) => [name, engine.queueStatus(name)]));
  const leases = [...status.values()].flatMap((s) => s.leases);
  const sessionLeases = new Map<string, number>();
  for (const lease of leases)
    sessionLeases.set(lease.sessionId, (sessionLeases.get(lease.sessionId) ?? 0) + 1);
  return {
    status,
    config,
    queue,
    users: new Map(engine.listUsers().map((u) => [u.name, u])),
    groups: engine.listGroups(),
    leases,
    sessionLeases,
  };
}

function holderGroups(snap: Snapshot, user: string, host: string): GroupView[] {
  return snap.groups.filter((g) => g.users.includes(user) || g.hosts.includes(host));
}

function priorityOf(snap: Snapshot, user: string, host: string): number {
  const groups = holderGroups(snap, user, host);
  return groups.length === 0 ? 0 : Math.max(...groups.map((g) => g.priority));
}

function ruleGroup(snap: Snapshot, config: FeatureConfig, user: string, host: string): string | undefined {
  const rules = config.groupRules ?? [];
  return holderGroups(snap, user, host).find((g) => rules.some((r) => r.group === g.name))?.name;
}

function usage(status: FeatureStatus, group: string | undefined): number {
  return status.groups.find((g) => g.name === group)?.inUse ?? 0;
}

function unusedReserve(status: FeatureStatus, group: string | undefined): number {
  const rule = status.groups.find((g) => g.name === group);
  return rule === undefined ? 0 : Math.max(0, (rule.reserve ?? 0) - rule.inUse);
}

function reserveDeficit(status: FeatureStatus): number {
  let unused = 0;
  for (const g of status.groups) unused += Math.max(0, (g.reserve ?? 0) - g.inUse);
  return Math.max(0, unused - (status.concurrentSeats - status.concurrentInUse));
}

type Verdict = 'admit' | 'seats' | 'group' | 'none' | 'unknown';

/**
 * A naive, independent reading of admission.ts for one checkout, given what the waiters ahead hold
 * back. 'admit' only when the checkout would certainly be granted; 'unknown' where the views cannot
 * tell (a dedupe claim whose first lease ended).
 */
function verdict(
  snap: Snapshot,
  feature: string,
  who: { user: string; host: string; sessionId: string; count: number },
  block: { seats: boolean; groups: Set<string> },
): { verdict: Verdict; group: string | undefined } {
  const status = snap.status.get(feature)!;
  const config = snap.config.get(feature)!;
  const { user, host, count } = who;
  const dirUser = snap.users.get(user);
  const none = { verdict: 'none' as Verdict, group: undefined };
  const limited = (snap.sessionLeases.get(who.sessionId) ?? 0) >= MAX_LEASES;
  const assigned = (config.namedUsers ?? []).includes(user);
  if (config.model !== 'concurrent' && assigned && count === 1) {
    if (dirUser !== undefined && !dirUser.enabled) return none;
    return limited ? none : { verdict: 'admit', group: undefined };
  }
  if (config.model === 'named') return none;
  if (dirUser !== undefined && !dirUser.enabled) return none;
  const capped = config.maxUsers !== undefined || config.usersPerSeat !== undefined;
  const open = config.open ?? (!capped && snap.users.size === 0);
  if (dirUser === undefined && !open) return none;
  const groups = holderGroups(snap, user, host).map((g) => g.name);
  const matches = (list: FeatureConfig['include']) =>
    list !== undefined &&
    ((list.users ?? []).includes(user) ||
      (list.hosts ?? []).includes(host) ||
      groups.some((g) => (list.groups ?? []).includes(g)));
  if (matches(config.exclude)) return none;
  const include = config.include;
  const hasInclude =
    include !== undefined &&
    (include.users?.length ?? 0) + (include.hosts?.length ?? 0) + (include.groups?.length ?? 0) > 0;
  if (hasInclude && !matches(include)) return none;
  if (limited) return none;
  const dedupe = config.dedupe ?? 'none';
  let maybeJoin = false;
  if (dedupe !== 'none') {
    const mine = snap.leases.filter(
      (l) =>
        l.feature === feature &&
        l.type === 'concurrent' &&
        l.user === user &&
        (dedupe === 'user' || l.host === host),
    );
    if (mine.some((l) => l.count >= count)) return { verdict: 'admit', group: undefined };
    // A claim may be larger than its remaining leases show: the checkout may join it.
    maybeJoin = mine.length > 0;
  }
  const seats = seatVerdict(status, config, snap, { user, host, count }, block);
  return maybeJoin && seats.verdict !== 'admit' ? { verdict: 'unknown', group: seats.group } : seats;
}

function seatVerdict(
  status: FeatureStatus,
  config: FeatureConfig,
  snap: Snapshot,
  who: { user: string; host: string; count: number },
  block: { seats: boolean; groups: Set<string> },
): { verdict: Verdict; group: string | undefined } {
  const { user, host, count } = who;
  const capacity = status.concurrentSeats;
  if (count > capacity) return { verdict: 'none', group: undefined };
  const group = ruleGroup(snap, config, user, host);
  const max = (config.groupRules ?? []).find((r) => r.group === group)?.max;
  if (max !== undefined) {
    if (count > max) return { verdict: 'none', group };
    if (usage(status, group) + count > max) return { verdict: 'group', group };
  }
  if (group !== undefined && block.groups.has(group)) return { verdict: 'group', group };
  const free = capacity - status.concurrentInUse;
  let others = 0;
  for (const g of status.groups) if (g.name !== group) others += Math.max(0, (g.reserve ?? 0) - g.inUse);
  if (count > free || count > free - others) return { verdict: 'seats', group };
  if (block.seats && count > unusedReserve(status, group)) return { verdict: 'seats', group };
  return { verdict: 'admit', group };
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`invariant broken: ${message}`);
}

// ---- the run ----------------------------------------------------------------------------------

function run(scenario: Scenario, commands: readonly Command[]): void {
  const clock = new ManualClock(0);
  let engine: LeaseEngine;
  try {
    engine = new LeaseEngine({
      clock,
      leaseTtlMs: TTL,
      maxLeasesPerSession: MAX_LEASES,
      // Small caches: lru-cache preallocates, and 1,000 engines of the default 100,000 cost seconds.
      requestKeyCacheSize: 1_000,
      endedLeaseCacheSize: 1_000,
      features: scenario.features,
      directory: scenario.directory,
      random: countingRandom(),
    });
  } catch {
    return; // a generated configuration the engine rightly refuses (e.g. a reserve that cannot fit)
  }
  const events = recordEvents(engine);
  const sessions: { id: string; user: string; host: string }[] = [];
  const keyed: {
    sessionId: string;
    feature: string;
    count: number;
    key: string;
    waitMs: number | undefined;
  }[] = [];
  const waiters: WaiterView[] = [];
  const granted: LeaseView[] = [];
  const grantedIds = new Set<string>();
  const ended = new Set<string>();
  let lastFencing = 0;
  let prev = snapshot(engine);

  for (const cmd of commands) {
    const before = events.length;
    let adminChange = false;
    // The state the command's call will see: the clock only moves in 'advance', which sweeps, so
    // nothing is due between steps and the last step's snapshot is current.
    const pre = prev;
    const pick = <T>(list: readonly T[], i: number): T | undefined =>
      list.length === 0 ? undefined : list[i % list.length];
    // Mostly sessions that are alive: a dead one only tests SESSION_NOT_FOUND.
    const live = sessions.filter((s) => engine.session(s.id) !== undefined);
    const pickSession = (i: number) =>
      i % 8 === 7 ? pick(sessions, i) : (pick(live, i) ?? pick(sessions, i));

    const attempt = (
      sessionId: string,
      feature: string,
      count: number,
      key: string | undefined,
      waitMs: number | undefined,
      reused: boolean,
    ) => {
      const session = sessions.find((s) => s.id === sessionId)!;
      let result: CheckoutResult | undefined;
      let code: string | undefined;
      try {
        result = engine.requestCheckout(sessionId, { feature, count, key, waitMs });
      } catch (error) {
        code = (error as { code?: string }).code;
      }
      if (result?.kind === 'granted' && !grantedIds.has(result.lease.id)) {
        granted.push(result.lease);
        grantedIds.add(result.lease.id);
      }
      if (result?.kind === 'queued') waiters.push(result.waiter);
      const alive = engine.session(sessionId) !== undefined || pre.sessionLeases.has(sessionId);
      const config = pre.config.get(feature);
      const status = pre.status.get(feature);
      if (config === undefined || status === undefined || code === 'SESSION_NOT_FOUND' || !alive) return;
      // A reused key is answered from its first outcome (DESIGN §3.5), whatever the rules say now.
      if (reused) return;
      const retriedWaiter =
        result?.kind === 'queued' && pre.queue.get(feature)!.some((w) => w.ticket === result.waiter.ticket);
      if (retriedWaiter) return;
      // An assigned, enabled named user asking for one seat is never denied.
      const dirUser = pre.users.get(session.user);
      if (
        config.model !== 'concurrent' &&
        (config.namedUsers ?? []).includes(session.user) &&
        count === 1 &&
        (dirUser === undefined || dirUser.enabled) &&
        (pre.sessionLeases.get(sessionId) ?? 0) < MAX_LEASES
      ) {
        check(
          result?.kind === 'granted',
          `named user ${session.user} was not granted (${code ?? result?.kind})`,
        );
      }
      // A group below its reserve asking for at most its unused reserve is never held back for seats.
      const denied = code === 'NO_SEATS' || code === 'SEATS_RESERVED' || result?.kind === 'queued';
      const group = ruleGroup(pre, config, session.user, session.host);
      if (denied && group !== undefined && reserveDeficit(status) === 0) {
        const priority = priorityOf(pre, session.user, session.host);
        const groupWaitsAhead = pre.queue
          .get(feature)!
          .some((w) => w.priority >= priority && ruleGroup(pre, config, w.user, w.host) === group);
        const v = verdict(
          pre,
          feature,
          { ...session, sessionId, count },
          { seats: false, groups: new Set() },
        );
        if (!groupWaitsAhead && v.verdict !== 'none' && v.verdict !== 'group') {
          check(
            count > unusedReserve(status, group),
            `group ${group} asked for ${count} within its unused reserve and was held back`,
          );
        }
      }
    };

    switch (cmd.op) {
      case 'open': {
        const user = HOLDERS[cmd.user]!;
        const host = HOSTS[cmd.host]!;
        const { sessionId } = engine.openSession({ user, host, clientName: 'prop' });
        sessions.push({ id: sessionId, user, host });
        break;
      }
      case 'end': {
        const s = pickSession(cmd.session);
        if (s && engine.session(s.id)) engine.endSession(s.id);
        break;
      }
      case 'checkout': {
        const s = pickSession(cmd.session);
        if (!s || !engine.session(s.id)) break;
        const feature = cmd.feature === 0 ? 'cad' : 'cam';
        const key = cmd.key === null ? undefined : `k${cmd.key}`;
        const waitMs = cmd.waitMs ?? undefined;
        const reused = key !== undefined && keyed.some((k) => k.sessionId === s.id && k.key === key);
        if (key !== undefined) keyed.push({ sessionId: s.id, feature, count: cmd.count, key, waitMs });
        attempt(s.id, feature, cmd.count, key, waitMs, reused);
        break;
      }
      case 'retry': {
        const r = pick(keyed, cmd.request);
        if (!r || !engine.session(r.sessionId)) break;
        attempt(r.sessionId, r.feature, r.count, r.key, r.waitMs, true);
        break;
      }
      case 'cancel': {
        const w = pick(waiters, cmd.waiter);
        const sessionId = cmd.asOwner ? w?.sessionId : pick(sessions, cmd.session)?.id;
        if (!w || !sessionId || !engine.session(sessionId)) break;
        const queued = pre.queue.get(w.feature)?.some((q) => q.ticket === w.ticket) ?? false;
        expect(engine.cancelWait(sessionId, w.ticket)).toEqual({
          cancelled: queued && sessionId === w.sessionId,
        });
        break;
      }
      case 'leave': {
        const s = pickSession(cmd.session);
        if (!s) break;
        let mine = 0;
        for (const q of pre.queue.values()) mine += q.filter((w) => w.sessionId === s.id).length;
        expect(engine.leaveQueue(s.id)).toBe(engine.session(s.id) === undefined && mine === 0 ? 0 : mine);
        break;
      }
      case 'checkin': {
        const l = pick(granted, cmd.lease);
        if (!l || !engine.session(l.sessionId)) break;
        try {
          const { released } = engine.checkin(l.sessionId, l.id, l.fencing);
          check(!(released && ended.has(l.id)), `ended lease ${l.id} was checked in`);
        } catch {
          check(ended.has(l.id), `checkin of live lease ${l.id} failed`);
        }
        break;
      }
      case 'heartbeat': {
        const s = pickSession(cmd.session);
        if (!s || !engine.session(s.id)) break;
        const mine = granted.filter((l) => l.sessionId === s.id);
        const entries = mine.map((l) => ({
          lease: l.id,
          fencing: l.fencing,
          ...(cmd.idleMs === null ? {} : { idleMs: cmd.idleMs }),
        }));
        const { lost } = engine.heartbeat(s.id, { leases: entries });
        // A lease that ended is never accepted again (DESIGN §3.4).
        for (const l of mine)
          if (ended.has(l.id))
            check(
              lost.some((x) => x.lease === l.id),
              `ended lease ${l.id} accepted`,
            );
        break;
      }
      case 'revoke': {
        const l = pick(granted, cmd.lease);
        if (l && engine.lease(l.id)) engine.revoke(l.id, 'admin');
        break;
      }
      case 'setSeats':
        adminChange = true;
        try {
          engine.setSeats('cad', cmd.seats);
        } catch (error) {
          expect((error as { code?: string }).code).toBe('INVALID_REQUEST');
        }
        break;
      case 'assign':
        adminChange = true;
        try {
          if (cmd.on) engine.assign('cad', USERS[cmd.user]!);
          else engine.unassign('cad', USERS[cmd.user]!);
        } catch (error) {
          expect((error as { code?: string }).code).toBe('INVALID_REQUEST');
        }
        break;
      case 'enable':
        try {
          engine.setUserEnabled(USERS[cmd.user]!, cmd.on);
        } catch (error) {
          expect(['INVALID_REQUEST', 'USER_CAP']).toContain((error as { code?: string }).code);
        }
        break;
      case 'member':
        try {
          if (cmd.on) engine.addGroupMember(GROUPS[cmd.group]!, USERS[cmd.user]!);
          else engine.removeGroupMember(GROUPS[cmd.group]!, USERS[cmd.user]!);
        } catch (error) {
          expect(['INVALID_REQUEST', 'USER_CAP']).toContain((error as { code?: string }).code);
        }
        break;
      case 'advance':
        clock.advance(cmd.ms);
        engine.sweep();
        break;
      default:
        cmd satisfies never;
    }

    // ---- events of the step -------------------------------------------------------------------
    const stepEvents: RecordedEvent[] = events.slice(before);
    const grantedInStep: { waiter: WaiterView; lease: LeaseView }[] = [];
    for (const event of stepEvents) {
      if (event.name === 'granted') {
        check(event.payload.lease.fencing > lastFencing, 'fencing did not increase');
        lastFencing = event.payload.lease.fencing;
        if (!grantedIds.has(event.payload.lease.id)) {
          granted.push(event.payload.lease);
          grantedIds.add(event.payload.lease.id);
        }
      }
      if (event.name === 'released' || event.name === 'reclaimed') ended.add(event.payload.lease.id);
      if (event.name === 'queueGranted') grantedInStep.push(event.payload);
    }
    check(engine.fencing === lastFencing, 'engine.fencing is not the last granted token');

    // ---- invariants ---------------------------------------------------------------------------
    const post = snapshot(engine);
    const now = clock.now();
    for (const lease of post.leases) check(!ended.has(lease.id), `ended lease ${lease.id} is held`);
    for (const [name, status] of post.status) {
      const config = post.config.get(name)!;
      const leases = post.leases.filter((l) => l.feature === name);
      const namedUsers = new Set(leases.filter((l) => l.type === 'named').map((l) => l.user));
      check(status.namedInUse === namedUsers.size, `${name}: named usage is not one seat per user`);
      check(status.inUse === status.namedInUse + status.concurrentInUse, `${name}: inUse split`);
      const concurrent = leases.filter((l) => l.type === 'concurrent');
      const counted = concurrent.reduce((sum, l) => sum + l.count, 0);
      if ((config.dedupe ?? 'none') === 'none')
        check(status.concurrentInUse === counted, `${name}: lease counted twice`);
      // Under dedupe a claim keeps the seats of its first lease until its last lease ends.
      else
        check(
          (status.concurrentInUse === 0) === (concurrent.length === 0),
          `${name}: a claim outlived its leases`,
        );
      // Seats: an overdraft only from an admin change, and the concurrent pool never grows into one.
      const was = prev.status.get(name);
      if (status.concurrentInUse > status.concurrentSeats && was !== undefined) {
        check(
          adminChange || status.concurrentInUse <= was.concurrentInUse,
          `${name}: the concurrent pool grew past its seats`,
        );
      }
      if (status.inUse > status.seats && was !== undefined && !adminChange) {
        check(
          status.concurrentInUse <= was.concurrentInUse || status.concurrentInUse <= status.concurrentSeats,
          `${name}: seats exceeded`,
        );
      }
      for (const g of status.groups) {
        if (g.max !== undefined) check(g.inUse <= g.max, `${name}: group ${g.name} above its max`);
        const sum = concurrent
          .filter((l) => l.group === g.name && !l.shared)
          .reduce((s, l) => s + l.count, 0);
        if ((config.dedupe ?? 'none') === 'none') check(g.inUse === sum, `${name}: group ${g.name} usage`);
      }
      if (was !== undefined && !adminChange) {
        check(reserveDeficit(status) <= reserveDeficit(was), `${name}: reserved seats were given away`);
      }
      // The queue: order, deadlines, and nothing the rule would grant.
      const queue = post.queue.get(name)!;
      check(status.queued === queue.length, `${name}: queued count`);
      const block = { seats: false, groups: new Set<string>() };
      queue.forEach((w, i) => {
        check(w.position === i + 1, `${name}: positions`);
        check(now < w.deadline, `${name}: waiter past its deadline`);
        const next = queue[i + 1];
        if (next !== undefined) {
          check(
            w.priority > next.priority || (w.priority === next.priority && w.enqueuedAt <= next.enqueuedAt),
            `${name}: queue out of (priority, FIFO) order`,
          );
        }
        const v = verdict(post, name, w, block);
        check(v.verdict !== 'admit', `${name}: waiter ${w.position} (${w.user}) could be granted but waits`);
        // An uncertain verdict is taken as holding back as much as it could: fewer 'admit' claims.
        if (v.verdict === 'seats' || v.verdict === 'unknown') block.seats = true;
        if ((v.verdict === 'group' || v.verdict === 'unknown') && v.group !== undefined)
          block.groups.add(v.group);
      });
      // No grant overtook a waiter short of seats, except from its group's reserve or a shared seat.
      const preQueue = pre.queue.get(name) ?? [];
      for (const { waiter, lease } of grantedInStep) {
        if (waiter.feature !== name || lease.type === 'named' || lease.shared) continue;
        const reserve = config.groupRules?.find((r) => r.group === lease.group)?.reserve ?? 0;
        if (reserve > 0) continue;
        const ahead = preQueue.slice(
          0,
          Math.max(
            0,
            preQueue.findIndex((w) => w.ticket === waiter.ticket),
          ),
        );
        for (const x of ahead) {
          if (!queue.some((w) => w.ticket === x.ticket)) continue;
          const v = verdict(post, name, x, { seats: false, groups: new Set() });
          check(v.verdict !== 'seats', `${name}: ${waiter.user}'s grant overtook ${x.user}, short of seats`);
        }
      }
    }
    prev = post;
  }
}

describe('licensing models, groups and the queue (property)', () => {
  it('keep the seat, reserve, named-seat and queue-order invariants over 2,000 random runs', () => {
    fc.assert(
      fc.property(
        scenarioArb,
        fc.array(commandArb, { minLength: 20, maxLength: 60 }),
        (scenario, commands) => {
          run(scenario, commands);
        },
      ),
      // REPLAY='{"seed":…,"path":"…"}' replays a reported failure.
      { numRuns: 2_000, ...(process.env.REPLAY ? JSON.parse(process.env.REPLAY) : {}) },
    );
  });
});
