/**
 * The lease engine: sessions, leases and seats of every feature, the user directory, the wait
 * queues, and the rules of DESIGN §3 and issue 4.
 *
 * Pure: no I/O, no timers of its own. Time comes from the injected clock; the server arms one timer
 * at `nextDeadline()` and calls `sweep()`. Every state change is announced by an event, delivered
 * once the call that made it is complete (see event-queue.ts), for the server to push, journal and
 * audit.
 *
 * Every mutating call first settles what is due at `clock.now()` (as `sweep()` would), so outcomes
 * never depend on how late the server's timer fired: a heartbeat that arrives after the lease ttl
 * cannot revive its session, a checkout sees the seats that became free, and a waiter is granted a
 * seat that freed before its deadline even when the sweep runs after it.
 *
 * Queues are granted at the end of every call that may have made room (see #grantQueues and
 * queue-scan.ts for the order rule), so between calls no waiter could be granted by another scan.
 */
import { codeForReclaim, ErrorCode, ReclaimReason } from '../protocol/codes.js';
import { InvalidRequestError, type LeaseholdError } from '../protocol/errors.js';
import { type Admission, decideAdmission, type QueueBlock } from './admission.js';
import type { Clock } from './clock.js';
import { Directory } from './directory.js';
import { capBreach, checkAssign, checkUnassign } from './directory-admin.js';
import { applyDirectoryOp, DirectoryOpKind } from './directory-ops.js';
import {
  draining,
  fencingMismatch,
  invalidCount,
  invalidKey,
  invalidWait,
  keyUsedForWaitingCheckout,
  leaseNotFound,
  leaseReclaimed,
  queueLeftNotice,
  sessionNotFound,
  unknownFeature,
} from './engine-errors.js';
import { type EngineOptions, resolveEngineOptions } from './engine-options.js';
import { type EngineState, exportEngineState } from './engine-state.js';
import { EventListenerError, EventQueue } from './event-queue.js';
import { type DueHandlers, ExpirySchedule } from './expiry-schedule.js';
import { validateFeatureConfig, validateSeatChange } from './feature-config-check.js';
import { FeaturePool } from './feature-pool.js';
import {
  checkHeartbeatEntries,
  checkIdentity,
  checkReclaimReason,
  isValidCount,
  isValidKey,
  isValidWait,
} from './input-checks.js';
import type { JournalRecord } from './journal-records.js';
import { LeaseBook } from './lease-book.js';
import { LeaseRecord, toLeaseView } from './lease-record.js';
import { CHECKED_IN, type LeaseEnding } from './lease-tombstones.js';
import { blockAhead, longestIdleClaim, scanQueue } from './queue-scan.js';
import {
  hexSecretHashMatches,
  type RandomBytes,
  randomBuffer,
  TOKEN_BYTES,
  uniqueHexId,
} from './random-ids.js';
import { planReconfigure, type ReconfigureResult } from './reconfigure-plan.js';
import { SeatClaim } from './seat-claim.js';
import { copyIdentity, hashToken, SessionRecord, toSessionView } from './session-record.js';
import { StateLoader } from './state-loader.js';
import {
  type CheckoutRequest,
  type CheckoutResult,
  type DirectoryConfig,
  type EngineEventName,
  type EngineEvents,
  type FeatureConfig,
  type FeatureStatus,
  type GroupView,
  type HeartbeatLeaseEntry,
  type HeartbeatRequest,
  type HeartbeatResult,
  type HolderIdentity,
  type LeaseFilter,
  type LeaseView,
  type LostLease,
  QueueLeftReason,
  SessionEndReason,
  type SessionView,
  type UserConfig,
  type UserView,
  type WaiterView,
} from './types.js';
import { toWaiterView, WaiterRecord } from './wait-queue.js';

export type { EngineOptions } from './engine-options.js';
export type { EngineState } from './engine-state.js';
export type { JournalRecord } from './journal-records.js';
export type { ReconfigureResult } from './reconfigure-plan.js';

/** Compared against when the session is unknown, so an unknown id costs what a wrong token costs. */
const NO_TOKEN_HASH = Buffer.alloc(32);

export interface RestoreOptions {
  /**
   * DESIGN §3.6 restart grace: every restored session lives at least this long after the restore
   * for its client to resume it. The server passes max(restart_grace, lease_ttl).
   */
  readonly graceMs: number;
  /** The journal seq of `records[0]`, to name a record that cannot apply. Default 1. */
  readonly firstSeq?: number;
}

export class LeaseEngine {
  readonly #clock: Clock;
  readonly #leaseTtlMs: number;
  readonly #maxLeasesPerSession: number;
  readonly #random: RandomBytes;
  readonly #book: LeaseBook;
  readonly #expiry: ExpirySchedule;
  readonly #events = new EventQueue<EngineEvents>();
  readonly #dueHandlers: DueHandlers;
  #directory: Directory;
  #fencing: number;
  #draining = false;
  /** The latest time read from the clock: a clock that steps back is treated as standing still. */
  #lastNow = Number.NEGATIVE_INFINITY;
  #reclaimedBySettle = 0;
  /** Every queued waiter, by ticket. */
  readonly #tickets = new Map<string, WaiterRecord>();
  #waiterSeq = 0;
  /** Features whose queue may have become grantable: scanned before the call returns. */
  readonly #toScan = new Set<FeaturePool>();
  /** Features whose queue changed: their waiters' new positions are announced before the call returns. */
  readonly #queueMoved = new Set<FeaturePool>();

  constructor(options: EngineOptions) {
    const opts = resolveEngineOptions(options);
    this.#clock = opts.clock;
    this.#leaseTtlMs = opts.leaseTtlMs;
    this.#maxLeasesPerSession = opts.maxLeasesPerSession;
    this.#random = opts.random;
    this.#fencing = opts.initialFencing;
    this.#directory = Directory.from(opts.directory);
    this.#book = new LeaseBook(opts.endedLeaseCacheSize, opts.requestKeyCacheSize);
    this.#expiry = new ExpirySchedule(opts.leaseTtlMs);
    for (const config of opts.features) this.#addPool(config);
    this.#dueHandlers = {
      sessionExpired: (session) => {
        this.#reclaimedBySettle += session.leases.size;
        this.#endSession(session, SessionEndReason.Expired);
        this.#grantQueues(this.#lastNow);
      },
      leaseIdle: (lease) => {
        this.#reclaimedBySettle++;
        this.#endLease(lease, ReclaimReason.Idle);
        this.#grantQueues(this.#lastNow);
      },
      waiterTimedOut: (waiter) => {
        this.#leaveQueue(waiter, QueueLeftReason.Timeout);
        this.#grantQueues(this.#lastNow);
      },
      preemptDue: (pool) => {
        pool.preemptWanted = true;
        this.#toScan.add(pool);
        this.#grantQueues(this.#lastNow);
      },
    };
  }

  on<E extends EngineEventName>(name: E, listener: (payload: EngineEvents[E]) => void): this {
    this.#events.on(name, listener);
    return this;
  }

  off<E extends EngineEventName>(name: E, listener: (payload: EngineEvents[E]) => void): this {
    this.#events.off(name, listener);
    return this;
  }

  /** The last fencing token handed out (the store persists it: DESIGN §3.4, across restarts). */
  get fencing(): number {
    return this.#fencing;
  }

  get leaseTtlMs(): number {
    return this.#leaseTtlMs;
  }

  get draining(): boolean {
    return this.#draining;
  }

  // ---- sessions -------------------------------------------------------------------------------

  openSession(identity: HolderIdentity): { sessionId: string; resumeToken: string } {
    return this.#mutate((now) => {
      checkIdentity(identity);
      const id = uniqueHexId(this.#random, (candidate) => this.#book.sessions.has(candidate));
      // A copy: an injected source may reuse its buffer, and the token must not change under us.
      const token = Buffer.from(randomBuffer(this.#random, TOKEN_BYTES));
      // Only the hash is kept (and journaled): the token itself is handed out once, here.
      const session = new SessionRecord(id, hashToken(token), copyIdentity(identity), now);
      this.#book.sessions.set(id, session);
      this.#expiry.armSession(session);
      if (this.#events.wants('sessionOpened')) {
        this.#events.queue('sessionOpened', {
          session: toSessionView(session, this.#leaseTtlMs),
          tokenHash: session.tokenHash.toString('hex'),
        });
      }
      return { sessionId: id, resumeToken: token.toString('hex') };
    });
  }

  /**
   * DESIGN §3.5: a client that reconnects takes its session back, leases and all. Unknown, expired
   * and wrong-token sessions fail alike, so a caller learns nothing about sessions it does not own.
   * A resume counts as a heartbeat.
   */
  resumeSession(sessionId: string, resumeToken: string, peer?: string): SessionView {
    return this.#mutate((now) => {
      const session = typeof sessionId === 'string' ? this.#book.sessions.get(sessionId) : undefined;
      const matches = hexSecretHashMatches(resumeToken, TOKEN_BYTES, session?.tokenHash ?? NO_TOKEN_HASH);
      if (session === undefined || !matches) throw sessionNotFound();
      session.lastHeartbeatAt = now;
      if (session.graceUntil > now) {
        // Back after a restart: from now on the lease ttl alone keeps it (DESIGN §3.6).
        session.graceUntil = Number.NEGATIVE_INFINITY;
        this.#expiry.rearmSession(session);
      }
      if (typeof peer === 'string' && peer !== session.identity.peer) {
        session.identity = copyIdentity({ ...session.identity, peer });
      }
      return toSessionView(session, this.#leaseTtlMs);
    });
  }

  /** The holder closes its session: every lease is released as if checked in; its waiters leave. */
  endSession(sessionId: string): { released: number } {
    return this.#mutate(() => {
      const session = this.#liveSession(sessionId);
      const released = session.leases.size;
      this.#endSession(session, SessionEndReason.Closed);
      return { released };
    });
  }

  // ---- leases ---------------------------------------------------------------------------------

  /**
   * Grants `count` seats of a feature, or throws why not; never waits (`waitMs` is ignored). Checks
   * run in this order: session, request shape, request key (a retry is answered from the lease it
   * got, whatever the pool looks like now), feature, draining, then admission.ts's rules.
   */
  checkout(sessionId: string, request: CheckoutRequest): LeaseView {
    return this.#mutate((now) => {
      const result = this.#checkout(sessionId, { ...request, waitMs: 0 }, now);
      if (result.kind === 'granted') return result.lease;
      // Only a retry of a key whose checkout waits gets here: answer with what it waits for.
      throw this.#tickets.get(result.waiter.ticket)!.denial;
    });
  }

  /**
   * Like checkout, but with `waitMs > 0` a checkout that cannot be granted for lack of seats
   * (NO_SEATS, SEATS_RESERVED, GROUP_MAX) waits in the feature's queue instead of being denied. A
   * retry with the same key while it waits returns the same waiter (at its current position); once
   * granted, the lease. Directory denials are never queued.
   */
  requestCheckout(sessionId: string, request: CheckoutRequest): CheckoutResult {
    return this.#mutate((now) => this.#checkout(sessionId, request, now));
  }

  /** Takes a waiter of this session out of its queue. An unknown or finished ticket: `false`. */
  cancelWait(sessionId: string, ticket: string): { cancelled: boolean } {
    return this.#mutate(() => {
      const session = this.#liveSession(sessionId);
      const waiter = typeof ticket === 'string' ? this.#tickets.get(ticket) : undefined;
      if (waiter === undefined || waiter.session !== session) return { cancelled: false };
      this.#leaveQueue(waiter, QueueLeftReason.Cancelled);
      return { cancelled: true };
    });
  }

  /**
   * Takes every waiter of a session out of the queues (the server calls it when the session's
   * connection closes). An unknown session has none: 0.
   */
  leaveQueue(sessionId: string): number {
    return this.#mutate(() => {
      const session = typeof sessionId === 'string' ? this.#book.sessions.get(sessionId) : undefined;
      if (session === undefined) return 0;
      const waiters = Array.from(session.waiters);
      for (const waiter of waiters) this.#leaveQueue(waiter, QueueLeftReason.Disconnected);
      return waiters.length;
    });
  }

  /**
   * Renews the session (all its leases live as long as it does) and records user activity. Leases
   * the session no longer holds come back in `lost`, with the reason.
   */
  heartbeat(sessionId: string, request?: HeartbeatRequest): HeartbeatResult {
    return this.#mutate((now) => {
      const session = this.#liveSession(sessionId);
      const entries = request?.leases ?? [];
      checkHeartbeatEntries(entries);
      // No heap work: the expiry schedule rereads this when the session's entry comes due.
      session.lastHeartbeatAt = now;
      const lost: LostLease[] = [];
      for (const entry of entries) {
        const code = this.#touchLease(session, entry, now);
        if (code !== undefined) lost.push({ lease: entry.lease, code });
      }
      return { ttlMs: this.#leaseTtlMs, lost };
    });
  }

  /** Gives a lease back. A second checkin of the same lease is harmless: `{ released: false }`. */
  checkin(sessionId: string, leaseId: string, fencing: number): { released: boolean } {
    return this.#mutate(() => {
      const session = this.#liveSession(sessionId);
      const standing = this.#book.standing(session, leaseId, fencing);
      switch (standing.kind) {
        case 'held':
          this.#endLease(standing.lease, CHECKED_IN);
          return { released: true };
        case 'checked_in':
          if (!standing.fencingMatches) throw fencingMismatch(leaseId, fencing);
          return { released: false };
        case 'not_held':
          throw leaseNotFound(leaseId);
        case 'wrong_fencing':
          throw fencingMismatch(leaseId, fencing);
        case 'reclaimed':
          throw leaseReclaimed(leaseId, standing.reason);
        default:
          return standing satisfies never;
      }
    });
  }

  /** Takes a lease back (an admin free, for instance); returns the lease as it was. */
  revoke(leaseId: string, reason: ReclaimReason): LeaseView {
    return this.#mutate(() => {
      checkReclaimReason(reason);
      const lease = this.#book.lease(leaseId);
      if (lease === undefined) throw leaseNotFound(leaseId, false);
      const view = toLeaseView(lease);
      this.#endLease(lease, reason);
      return view;
    });
  }

  // ---- configuration --------------------------------------------------------------------------

  /** Lowering below the seats in use evicts nothing: it opens a reported overdraft (DESIGN §3.1). */
  setSeats(feature: string, seats: number): void {
    this.#mutate(() => {
      const pool = this.#pool(feature);
      validateSeatChange(pool, seats, this.#directory);
      this.#changeSeats(pool, seats);
    });
  }

  addFeature(config: FeatureConfig): void {
    this.#mutate(() => this.#addPool(config));
  }

  /** Replaces a feature's configuration (named assignments included); its leases are kept. */
  updateFeature(config: FeatureConfig): void {
    this.#mutate(() => {
      validateFeatureConfig(config, this.#directory);
      this.#updatePool(this.#pool(config.name), config);
    });
  }

  /**
   * Applies a validated configuration to an existing feature, keeping its leases. Named assignments
   * that change are announced one by one (`assigned`/`unassigned`), as an admin's would be, so the
   * journal replays them; kept assignments keep their order.
   */
  #updatePool(pool: FeaturePool, config: FeatureConfig): void {
    {
      const idleBefore = pool.idleTimeoutMs;
      const seatsBefore = pool.seats;
      const target = new Set(config.namedUsers ?? []);
      const named = [...pool.namedUsers].filter((user) => target.has(user));
      const removed = [...pool.namedUsers].filter((user) => !target.has(user));
      const added = [...target].filter((user) => !pool.namedUsers.has(user));
      named.push(...added);
      const { namedUsers: _named, ...rest } = structuredClone(config);
      pool.configure(named.length === 0 ? rest : { ...rest, namedUsers: named });
      for (const user of removed) {
        this.#events.queue('directoryChanged', { kind: 'unassigned', detail: { feature: pool.name, user } });
      }
      for (const user of added) {
        this.#events.queue('directoryChanged', { kind: 'assigned', detail: { feature: pool.name, user } });
      }
      pool.seats = seatsBefore;
      // A new or shorter timeout can bring deadlines earlier than the heap entries; a longer or
      // removed one is handled lazily when the old entries pop.
      if (config.idleTimeoutMs !== undefined && config.idleTimeoutMs !== idleBefore) {
        for (const lease of pool.leases) this.#expiry.armIdle(lease);
      }
      if (pool.reclaimIdleWhenQueuedMs !== undefined) pool.preemptWanted = true;
      this.#toScan.add(pool);
      this.#changeSeats(pool, config.seats);
    }
  }

  /** Removes a feature: its waiters leave the queue, its leases are reclaimed (`feature_removed`). */
  removeFeature(name: string): { reclaimed: number } {
    return this.#mutate(() => this.#removePool(this.#pool(name)));
  }

  #removePool(pool: FeaturePool): { reclaimed: number } {
    for (const waiter of pool.queue.snapshot()) this.#leaveQueue(waiter, QueueLeftReason.FeatureRemoved);
    pool.removed = true;
    this.#book.pools.delete(pool.name);
    const leases = Array.from(pool.leases);
    for (const lease of leases) this.#endLease(lease, ReclaimReason.FeatureRemoved);
    return { reclaimed: leases.length };
  }

  /** While draining, nothing new is granted (DRAINING); held leases, sessions and waiters carry on. */
  setDraining(on: boolean): void {
    this.#mutate(() => {
      this.#draining = on;
      if (!on) this.#scanAll();
    });
  }

  /**
   * Issue 5 reload (SIGHUP, `leasehold reload`): makes the features, and the directory when given,
   * those of the new configuration, keeping every lease. The whole configuration is validated
   * first; an invalid one throws InvalidRequestError and changes nothing. Then: the directory is
   * brought in line (one `directoryChanged` per difference, so the journal stays a complete
   * history), features missing from the new list are removed (waiters leave, leases are reclaimed
   * with `feature_removed`), new ones added, changed ones updated (seats by the overdraft rule of
   * DESIGN §3.1, idle timeouts, named assignments, groups rules, lists, caps).
   */
  reconfigure(features: readonly FeatureConfig[], directory?: DirectoryConfig): ReconfigureResult {
    return this.#mutate(() => {
      const plan = planReconfigure(this.#book.pools, this.#directory, features, directory);
      for (const op of plan.directoryOps) this.#applyDirectoryOp(op.kind, op.detail);
      for (const name of plan.removed) this.#removePool(this.#pool(name));
      for (const config of plan.configs) {
        const pool = this.#book.pools.get(config.name);
        if (pool === undefined) this.#book.pools.set(config.name, new FeaturePool(structuredClone(config)));
        else this.#updatePool(pool, config);
      }
      this.#scanAll();
      return plan.result;
    });
  }

  // ---- persistence (DESIGN §3.6, issue 5) -------------------------------------------------------

  /** Everything that must survive a restart, as plain data (engine-state.ts says what and why). */
  exportState(): EngineState {
    return exportEngineState({
      book: this.#book,
      directory: this.#directory,
      fencing: this.#fencing,
      now: this.#now(),
    });
  }

  /**
   * Rebuilds an engine after a restart: from the configuration (`options`), then the newest
   * snapshot's state, then the journal records written after it, in order. Replay emits no events
   * (no listener can be attached yet); `onRestored`, when given, runs once the state is rebuilt
   * and before the reconciliation below, so a listener it attaches (the journal) sees those events.
   *
   * After the replay: every session has a heartbeat now and lives at least `graceMs` (DESIGN §3.6
   * restart grace; a resume ends the grace); every lease counts as active now; the fencing counter
   * is above every token ever handed out (snapshot counter, replayed grants, initialFencing).
   * Then, with events: groups of the config that the persisted directory lacks are added
   * (`groupSet`), and leases of features the config no longer has are reclaimed with
   * `feature_removed`.
   *
   * When a snapshot or records exist, the persisted directory and named assignments win over the
   * config's (they hold the admin changes made at run time); with neither, the config's are used.
   * A reload (reconfigure) is what brings the config's directory back in force.
   *
   * Throws InvalidRequestError when a record cannot apply (naming its seq), or when the config does
   * not fit the persisted state (say, fewer seats than persisted named assignments).
   */
  static restore(
    options: EngineOptions,
    state: EngineState | undefined,
    records: readonly JournalRecord[],
    restoreOptions: RestoreOptions,
    onRestored?: (engine: LeaseEngine) => void,
  ): LeaseEngine {
    const { graceMs } = restoreOptions;
    if (!(Number.isFinite(graceMs) && graceMs >= 0)) {
      throw new InvalidRequestError(`graceMs must be a number of at least 0; got ${String(graceMs)}.`);
    }
    const engine = new LeaseEngine(options);
    const now = engine.#now();
    const ghosts = new Set<FeaturePool>();
    if (state != null || records.length > 0) {
      const loader = new StateLoader(engine.#book, engine.#directory, engine.#fencing, now);
      if (state != null) loader.loadSnapshot(state);
      const first = restoreOptions.firstSeq ?? 1;
      for (let i = 0; i < records.length; i++) loader.apply(records[i]!, first + i);
      engine.#directory = loader.directory;
      engine.#fencing = loader.fencing;
      for (const ghost of loader.ghosts) ghosts.add(ghost);
    }
    for (const session of engine.#book.sessions.values()) {
      session.lastHeartbeatAt = now;
      session.graceUntil = now + graceMs;
      engine.#expiry.armSession(session);
    }
    for (const lease of engine.#book.leases()) {
      lease.lastActivityAt = now;
      engine.#expiry.armIdle(lease);
    }
    engine.#checkRestoredConfig(options, ghosts);
    onRestored?.(engine);
    engine.#mutate(() => {
      for (const group of options.directory?.groups ?? []) {
        if (engine.#directory.hasGroup(group.name)) continue;
        engine.#applyDirectoryOp(DirectoryOpKind.GroupSet, {
          group: group.name,
          users: [...(group.users ?? [])],
          hosts: [...(group.hosts ?? [])],
          priority: group.priority ?? 0,
        });
      }
      for (const ghost of ghosts) engine.#removePool(ghost);
    });
    return engine;
  }

  /**
   * Applies one journal record as restore does, without events (for tests, and for tools that
   * rebuild state). Not for a serving engine: it skips the queue and every admission rule.
   */
  applyRecord(record: JournalRecord, seq: number | string = '?'): void {
    const now = this.#now();
    const loader = new StateLoader(this.#book, this.#directory, this.#fencing, now);
    const sessions = new Set(this.#book.sessions.values());
    loader.apply(record, seq);
    this.#directory = loader.directory;
    this.#fencing = loader.fencing;
    for (const ghost of loader.ghosts) this.#book.pools.delete(ghost.name);
    for (const session of this.#book.sessions.values())
      if (!sessions.has(session)) this.#expiry.armSession(session);
    if (record.t === 'g') {
      const lease = this.#book.lease(record.id);
      if (lease !== undefined) this.#expiry.armIdle(lease);
    }
  }

  /**
   * The config's features must fit the persisted directory and named assignments (the config's
   * groups that the persisted directory lacks are added after this check, so they count as there).
   */
  #checkRestoredConfig(options: EngineOptions, ghosts: ReadonlySet<FeaturePool>): void {
    const draft = this.#directory.clone();
    for (const group of options.directory?.groups ?? []) {
      if (!draft.hasGroup(group.name)) draft.setGroup(group);
    }
    for (const pool of this.#book.pools.values()) {
      if (ghosts.has(pool)) continue;
      try {
        validateFeatureConfig(pool.currentConfig(), draft);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new InvalidRequestError(
          `The configuration does not fit the persisted state (its directory and named assignments are kept over the config's at a restart): ${message}`,
          { details: { feature: pool.name }, cause: error },
        );
      }
    }
  }

  /**
   * A journaled directory change, applied exactly as a replay applies it (state-loader.ts), with its
   * event. Used by reload and restore, whose changes were validated as a whole beforehand.
   */
  #applyDirectoryOp(kind: DirectoryOpKind, detail: Record<string, unknown>): void {
    if (kind === DirectoryOpKind.Assigned || kind === DirectoryOpKind.Unassigned) return;
    if (!applyDirectoryOp(this.#directory, kind, detail)) return;
    if (kind === DirectoryOpKind.UserRemoved) {
      const user = detail.user as string;
      for (const pool of this.#book.pools.values()) {
        if (pool.namedUsers.delete(user)) pool.assignmentChanged(user, false);
      }
    }
    this.#events.queue('directoryChanged', { kind, detail });
  }

  // ---- directory (issue 4 §2) -----------------------------------------------------------------

  /** Adds a user (enabled unless `enabled: false`). Refused with USER_CAP if a feature's cap would break. */
  addUser(config: UserConfig): void {
    this.#mutate(() => {
      const detail: Record<string, unknown> = { user: config?.name, enabled: config?.enabled ?? true };
      // The groups go into the journal record too, so a replay adds the same user.
      if (Array.isArray(config?.groups) && config.groups.length > 0) detail.groups = [...config.groups];
      this.#changeDirectory('userAdded', detail, (d) => d.addUser(config));
    });
  }

  /** Removes a user and their named assignments; their live leases continue until they end. */
  removeUser(name: string): void {
    this.#mutate(() => {
      this.#changeDirectory('userRemoved', { user: name }, (d) => d.removeUser(name));
      for (const pool of this.#book.pools.values()) {
        if (!pool.namedUsers.delete(name)) continue;
        pool.assignmentChanged(name, false);
      }
    });
  }

  /** Disabling evicts nothing: the user's leases continue, new checkouts are refused. */
  setUserEnabled(name: string, enabled: boolean): void {
    this.#mutate(() =>
      this.#changeDirectory(enabled ? 'userEnabled' : 'userDisabled', { user: name }, (d) =>
        d.setEnabled(name, enabled),
      ),
    );
  }

  addGroupMember(group: string, user: string): void {
    this.#mutate(() =>
      this.#changeDirectory('memberAdded', { group, user }, (d) => d.addMember(group, user)),
    );
  }

  removeGroupMember(group: string, user: string): void {
    this.#mutate(() =>
      this.#changeDirectory('memberRemoved', { group, user }, (d) => d.removeMember(group, user)),
    );
  }

  /** Gives `user` a named seat of `feature` (assigning twice changes nothing). */
  assign(feature: string, user: string): void {
    this.#mutate(() => {
      const pool = this.#pool(feature);
      if (typeof user === 'string' && pool.namedUsers.has(user)) return;
      checkAssign(pool, user, this.#directory);
      pool.namedUsers.add(user);
      pool.assignmentChanged(user, true);
      this.#toScan.add(pool);
      this.#events.queue('directoryChanged', { kind: 'assigned', detail: { feature, user } });
    });
  }

  /** Takes a named seat away; live named leases of the user continue until they end. */
  unassign(feature: string, user: string): void {
    this.#mutate(() => {
      const pool = this.#pool(feature);
      checkUnassign(pool, user);
      pool.namedUsers.delete(user);
      pool.assignmentChanged(user, false);
      this.#toScan.add(pool);
      this.#events.queue('directoryChanged', { kind: 'unassigned', detail: { feature, user } });
    });
  }

  listUsers(): UserView[] {
    const views: UserView[] = [];
    for (const user of this.#directory.users()) {
      const named: string[] = [];
      for (const pool of this.#book.pools.values()) if (pool.namedUsers.has(user.name)) named.push(pool.name);
      views.push({
        name: user.name,
        enabled: user.enabled,
        groups: this.#directory.groupNamesOf(user.name),
        named,
      });
    }
    return views;
  }

  listGroups(): GroupView[] {
    return this.#directory.groupViews();
  }

  // ---- time -----------------------------------------------------------------------------------

  /** Settles everything due at `clock.now()`; returns the number of leases reclaimed. */
  sweep(): number {
    return this.#mutate((_now, reclaimed) => reclaimed);
  }

  /** The earliest time `sweep()` may have work. May be early (then the sweep finds less), never late. */
  nextDeadline(): number | undefined {
    return this.#expiry.nextAt();
  }

  /** The expiry heap's size and the entries it has popped: expiry work, for tests and metrics. */
  expiryStats(): { entries: number; popped: number } {
    return { entries: this.#expiry.size, popped: this.#expiry.popped };
  }

  // ---- queries (state as of the last call that settled what was due) --------------------------

  featureStatus(name?: string): FeatureStatus[] {
    if (name !== undefined) return [this.#book.status(this.#pool(name))];
    return Array.from(this.#book.pools.values(), (pool) => this.#book.status(pool));
  }

  /** A feature's current configuration (named assignments as they are now), or undefined. */
  featureConfig(name: string): FeatureConfig | undefined {
    return this.#book.pools.get(name)?.currentConfig();
  }

  /** Waiters in queue order: one feature's, or every feature's (in feature order). */
  queueStatus(feature?: string): WaiterView[] {
    const pools = feature === undefined ? Array.from(this.#book.pools.values()) : [this.#pool(feature)];
    const views: WaiterView[] = [];
    for (const pool of pools) {
      let position = 0;
      for (const waiter of pool.queue) views.push(toWaiterView(waiter, ++position));
    }
    return views;
  }

  /** Leases matching every given criterion, sorted by grant time, then id. */
  listLeases(filter: LeaseFilter = {}): LeaseView[] {
    return this.#book.list(filter);
  }

  session(sessionId: string): SessionView | undefined {
    const session = this.#book.sessions.get(sessionId);
    return session === undefined ? undefined : toSessionView(session, this.#leaseTtlMs);
  }

  lease(leaseId: string): LeaseView | undefined {
    const lease = this.#book.lease(leaseId);
    return lease === undefined ? undefined : toLeaseView(lease);
  }

  // ---- internals: calls -----------------------------------------------------------------------

  /**
   * Runs one public state-changing call: settle what is due, run `op`, grant the queues, then deliver
   * the events. `op` validates before it changes anything, so a thrown error leaves the state as it
   * was (apart from the settling, whose events are delivered either way).
   */
  #mutate<T>(op: (now: number, reclaimed: number) => T): T {
    let result: T;
    const now = this.#now();
    try {
      this.#reclaimedBySettle = 0;
      this.#expiry.drainDue(now, this.#dueHandlers);
      this.#grantQueues(now);
      result = op(now, this.#reclaimedBySettle);
      this.#grantQueues(now);
      this.#reportPositions();
    } catch (error) {
      this.#grantQueues(now);
      this.#reportPositions();
      const failures = this.#events.deliver();
      if (failures.length > 0) throw new EventListenerError(failures, error);
      throw error;
    }
    const failures = this.#events.deliver();
    if (failures.length > 0) throw new EventListenerError(failures);
    return result;
  }

  #now(): number {
    const now = this.#clock.now();
    if (now > this.#lastNow) this.#lastNow = now;
    return this.#lastNow;
  }

  #liveSession(sessionId: string): SessionRecord {
    const session = typeof sessionId === 'string' ? this.#book.sessions.get(sessionId) : undefined;
    if (session === undefined) throw sessionNotFound();
    return session;
  }

  #pool(name: string): FeaturePool {
    const pool = typeof name === 'string' ? this.#book.pools.get(name) : undefined;
    if (pool === undefined) throw unknownFeature(String(name));
    return pool;
  }

  #addPool(config: FeatureConfig): void {
    validateFeatureConfig(config, this.#directory);
    if (this.#book.pools.has(config.name)) {
      throw new InvalidRequestError(`Feature '${config.name}' already exists; update it instead.`, {
        details: { feature: config.name },
      });
    }
    this.#book.pools.set(config.name, new FeaturePool(structuredClone(config)));
  }

  /**
   * Tries `change` on a copy of the directory; keeps it only if no feature's user cap breaks. A
   * change that changes nothing (`false`) emits nothing.
   */
  #changeDirectory(
    kind: string,
    detail: Record<string, unknown>,
    change: (draft: Directory) => unknown,
  ): void {
    const draft = this.#directory.clone();
    if (change(draft) === false) return;
    const breach = capBreach(this.#book.pools.values(), this.#directory, draft);
    if (breach !== undefined) throw breach;
    this.#directory = draft;
    this.#scanAll();
    this.#events.queue('directoryChanged', { kind, detail });
  }

  #deny(session: SessionRecord, feature: string, count: number, error: LeaseholdError): LeaseholdError {
    this.#events.queue('denied', {
      sessionId: session.id,
      user: session.identity.user,
      host: session.identity.host,
      feature,
      count,
      code: error.code,
      message: error.message,
      details: error.details,
    });
    return error;
  }

  // ---- internals: checkout and grants ---------------------------------------------------------

  #checkout(sessionId: string, request: CheckoutRequest, now: number): CheckoutResult {
    const session = this.#liveSession(sessionId);
    // PROTOCOL.md §9: a checkout renews the session like a heartbeat, because the client counts
    // its lease's validity from the checkout's send time.
    session.lastHeartbeatAt = now;
    const { feature, count, key, waitMs } = request;
    if (!isValidCount(count)) throw invalidCount(count);
    if (!isValidKey(key)) throw invalidKey();
    if (!isValidWait(waitMs)) throw invalidWait(waitMs);
    if (key !== undefined) {
      const retried = this.#book.leaseForRetry(session, key, feature, count);
      if (retried !== undefined) return { kind: 'granted', lease: toLeaseView(retried) };
      const waiting = session.waitersByKey.get(key);
      if (waiting !== undefined) {
        if (waiting.pool.name !== feature || waiting.count !== count) {
          throw keyUsedForWaitingCheckout(key, waiting);
        }
        return { kind: 'queued', waiter: toWaiterView(waiting, waiting.pool.queue.positionOf(waiting)) };
      }
    }
    const pool = this.#book.pools.get(feature);
    if (pool === undefined) throw this.#deny(session, feature, count, unknownFeature(feature, count));
    if (this.#draining) throw this.#deny(session, feature, count, draining(pool, count));
    const { user, host } = session.identity;
    const priority = this.#directory.priorityOf(user, host);
    const block = blockAhead(pool, priority, (waiter, ahead) => this.#decideFor(waiter, ahead));
    const admission = this.#decide(pool, session, count, block);
    if (admission.granted) {
      return { kind: 'granted', lease: toLeaseView(this.#grant(session, pool, count, key, now, admission)) };
    }
    if (waitMs !== undefined && waitMs > 0 && admission.wait !== 'none') {
      return this.#enqueue(session, pool, { count, key, waitMs, priority, admission }, now);
    }
    throw this.#deny(session, feature, count, admission.error);
  }

  #decide(pool: FeaturePool, session: SessionRecord, count: number, block: QueueBlock | undefined) {
    return decideAdmission({
      pool,
      directory: this.#directory,
      holder: session.identity,
      count,
      sessionLeases: session.leases.size,
      maxLeasesPerSession: this.#maxLeasesPerSession,
      block,
    });
  }

  #decideFor(waiter: WaiterRecord, block: QueueBlock): Admission {
    const admission = this.#decide(waiter.pool, waiter.session, waiter.count, block);
    if (!admission.granted) waiter.denial = admission.error;
    return admission;
  }

  #grant(
    session: SessionRecord,
    pool: FeaturePool,
    count: number,
    key: string | undefined,
    now: number,
    admission: Admission & { granted: true },
  ): LeaseRecord {
    const { identity } = session;
    const seats = admission.type === 'named' ? 1 : count;
    const claim =
      admission.join ?? new SeatClaim(admission.type, seats, admission.group, identity.user, identity.host);
    // The claim's first live lease names it in the journal record of a lease that joins it.
    const claimOf = admission.join === undefined ? undefined : claim.leases.values().next().value?.id;
    const id = uniqueHexId(this.#random, (candidate) => this.#book.isLeaseIdTaken(candidate));
    // DESIGN §3.4: one engine-wide counter, so tokens strictly increase across features and restarts.
    const lease = new LeaseRecord(id, pool, count, ++this.#fencing, session, key, now, claim);
    this.#book.add(lease);
    this.#expiry.armIdle(lease);
    if (pool.queue.size > 0) {
      if (pool.reclaimIdleWhenQueuedMs !== undefined) {
        this.#expiry.armPreempt(pool, now + pool.reclaimIdleWhenQueuedMs);
      }
      // A grant can let a waiter in: a waiter of the same user may join the new claim (a named seat,
      // dedupe), and a group that took seats may now be at its max, so its waiter ahead holds back
      // only its group instead of every unreserved seat (queue-scan.ts).
      this.#toScan.add(pool);
    }
    // The session's own waiters may now be held back by its lease limit, and so hold back nobody.
    for (const waiter of session.waiters) this.#toScan.add(waiter.pool);
    if (this.#events.wants('granted')) {
      const event: { lease: LeaseView; key?: string; claimOf?: string } = { lease: toLeaseView(lease) };
      if (key !== undefined) event.key = key;
      if (claimOf !== undefined) event.claimOf = claimOf;
      this.#events.queue('granted', event);
    }
    return lease;
  }

  /** Answers one heartbeat entry: undefined when the lease is held, else the code of its loss. */
  #touchLease(session: SessionRecord, entry: HeartbeatLeaseEntry, now: number): ErrorCode | undefined {
    const standing = this.#book.standing(session, entry.lease, entry.fencing);
    switch (standing.kind) {
      case 'held':
        if (entry.idleMs !== undefined) {
          // The client reports how long ago its user was last active; never later than now.
          const activeAt = Math.min(now, now - entry.idleMs);
          if (activeAt > standing.lease.lastActivityAt) standing.lease.lastActivityAt = activeAt;
        }
        return undefined;
      case 'not_held':
      case 'checked_in':
        return ErrorCode.LeaseNotFound;
      case 'wrong_fencing':
        return ErrorCode.LeaseRevoked;
      case 'reclaimed':
        return codeForReclaim(standing.reason);
      default:
        return standing satisfies never;
    }
  }

  /**
   * The one way a lease ends: checkin, session end, or a reclaim. It leaves the indexes, its claim's
   * seats return to the pool when it was the claim's last lease, a tombstone remembers how it ended,
   * and the queues that may now be granted are marked for a scan.
   */
  #endLease(lease: LeaseRecord, ending: LeaseEnding): void {
    this.#book.remove(lease, ending);
    if (ending === CHECKED_IN) {
      if (this.#events.wants('released')) this.#events.queue('released', { lease: toLeaseView(lease) });
    } else if (this.#events.wants('reclaimed')) {
      this.#events.queue('reclaimed', { lease: toLeaseView(lease), reason: ending });
    }
    this.#afterSeatsFreed(lease.pool);
    // The session's own waiters may have been held back by its lease limit.
    for (const waiter of lease.session.waiters) this.#toScan.add(waiter.pool);
  }

  /**
   * A closed session releases its leases; an expired one has them reclaimed (DESIGN §2 reclaim a).
   * Its waiters leave first, so the seats it frees go to others.
   */
  #endSession(session: SessionRecord, reason: SessionEndReason): void {
    for (const waiter of Array.from(session.waiters)) this.#leaveQueue(waiter, QueueLeftReason.SessionEnded);
    const ending: LeaseEnding = reason === SessionEndReason.Closed ? CHECKED_IN : ReclaimReason.Expired;
    for (const lease of Array.from(session.leases)) this.#endLease(lease, ending);
    session.ended = true;
    this.#book.sessions.delete(session.id);
    this.#events.queue('sessionEnded', { sessionId: session.id, reason });
  }

  #changeSeats(pool: FeaturePool, seats: number): void {
    if (seats === pool.seats) return;
    pool.seats = seats;
    this.#events.queue('seatsChanged', {
      feature: pool.name,
      seats,
      inUse: pool.inUse,
      overdraft: pool.overdraft,
    });
    // More seats make room; fewer can make a waiter's count impossible, so it holds back nobody.
    this.#afterSeatsFreed(pool);
  }

  /** Every release of seats comes through here: the feature's queue is scanned before the call returns. */
  #afterSeatsFreed(pool: FeaturePool): void {
    if (!pool.removed && pool.queue.size > 0) this.#toScan.add(pool);
  }

  // ---- internals: the queue -------------------------------------------------------------------

  #enqueue(
    session: SessionRecord,
    pool: FeaturePool,
    wait: {
      count: number;
      key: string | undefined;
      waitMs: number;
      priority: number;
      admission: Admission & { granted: false };
    },
    now: number,
  ): CheckoutResult {
    const ticket = uniqueHexId(this.#random, (candidate) => this.#tickets.has(candidate));
    const waiter = new WaiterRecord(
      {
        ticket,
        pool,
        session,
        count: wait.count,
        key: wait.key,
        priority: wait.priority,
        group: wait.admission.group,
        enqueuedAt: now,
        deadline: now + wait.waitMs,
        waitMs: wait.waitMs,
        seq: ++this.#waiterSeq,
      },
      wait.admission.error,
    );
    const position = pool.queue.insert(waiter);
    waiter.reportedPosition = position;
    this.#tickets.set(ticket, waiter);
    session.waiters.add(waiter);
    if (wait.key !== undefined) session.waitersByKey.set(wait.key, waiter);
    this.#expiry.armWaiter(waiter);
    this.#queueMoved.add(pool);
    this.#events.queue('queued', { waiter: toWaiterView(waiter, position) });
    if (pool.reclaimIdleWhenQueuedMs !== undefined) {
      // Issue 4 §6: someone waits, so a lease idle long enough may be taken for them now.
      pool.preemptWanted = true;
      this.#toScan.add(pool);
      this.#grantQueues(now);
      if (waiter.lease !== undefined) return { kind: 'granted', lease: toLeaseView(waiter.lease) };
    }
    return { kind: 'queued', waiter: toWaiterView(waiter, pool.queue.positionOf(waiter)) };
  }

  #removeWaiter(waiter: WaiterRecord): void {
    waiter.queued = false;
    waiter.pool.queue.remove(waiter);
    this.#tickets.delete(waiter.ticket);
    waiter.session.waiters.delete(waiter);
    if (waiter.key !== undefined && waiter.session.waitersByKey.get(waiter.key) === waiter) {
      waiter.session.waitersByKey.delete(waiter.key);
    }
    this.#queueMoved.add(waiter.pool);
    // A waiter that held others back is gone: they may be granted now.
    this.#afterSeatsFreed(waiter.pool);
  }

  #leaveQueue(waiter: WaiterRecord, reason: QueueLeftReason): void {
    const { queue } = waiter.pool;
    const position = queue.positionOf(waiter);
    const { code, message } = queueLeftNotice(waiter, reason, position, queue.size);
    this.#removeWaiter(waiter);
    this.#events.queue('queueLeft', { waiter: toWaiterView(waiter, position), reason, code, message });
  }

  #grantWaiter(waiter: WaiterRecord, admission: Admission & { granted: true }, now: number): void {
    const position = waiter.pool.queue.positionOf(waiter);
    this.#removeWaiter(waiter);
    const lease = this.#grant(waiter.session, waiter.pool, waiter.count, waiter.key, now, admission);
    waiter.lease = lease;
    if (this.#events.wants('queueGranted')) {
      this.#events.queue('queueGranted', {
        waiter: toWaiterView(waiter, position),
        lease: toLeaseView(lease),
      });
    }
  }

  #scanAll(): void {
    for (const pool of this.#book.pools.values()) if (pool.queue.size > 0) this.#toScan.add(pool);
  }

  /** Grants every queue marked for a scan, then preempts idle leases where waiters are short of seats. */
  #grantQueues(now: number): void {
    if (this.#draining) return;
    // A Set visits entries added while it is iterated, so pools marked by these grants are scanned too.
    for (const pool of this.#toScan) {
      this.#toScan.delete(pool);
      if (pool.removed || pool.queue.size === 0) continue;
      const shortOfSeats = this.#scan(pool, now);
      if (pool.preemptWanted) this.#preempt(pool, now, shortOfSeats);
    }
  }

  #scan(pool: FeaturePool, now: number): boolean {
    return scanQueue(pool, {
      decide: (waiter, block) => this.#decideFor(waiter, block),
      grant: (waiter, admission) => this.#grantWaiter(waiter, admission, now),
    });
  }

  /**
   * Issue 4 §6 `reclaim_idle_when_queued`: while a waiter is short of seats, the concurrent seat idle
   * longest (at least the threshold) is reclaimed (`idle-preempted`) and the queue granted again,
   * until no waiter is short of seats or no seat is idle long enough. Then an entry is armed for
   * when the next one will be.
   */
  #preempt(pool: FeaturePool, now: number, shortOfSeats: boolean): void {
    pool.preemptWanted = false;
    const threshold = pool.reclaimIdleWhenQueuedMs;
    let short = shortOfSeats;
    while (short && threshold !== undefined && !pool.removed) {
      const { claim, nextAt } = longestIdleClaim(pool, now, threshold);
      if (claim === undefined) {
        if (nextAt !== undefined) this.#expiry.armPreempt(pool, nextAt);
        return;
      }
      for (const lease of Array.from(claim.leases)) {
        this.#reclaimedBySettle++;
        this.#endLease(lease, ReclaimReason.IdlePreempted);
      }
      this.#toScan.delete(pool);
      short = this.#scan(pool, now);
    }
  }

  /** Announces the new position of every waiter whose position changed since it was last told. */
  #reportPositions(): void {
    for (const pool of this.#queueMoved) {
      let position = 0;
      for (const waiter of pool.queue) {
        position++;
        if (waiter.reportedPosition === position) continue;
        waiter.reportedPosition = position;
        this.#events.queue('queuePosition', { waiter: toWaiterView(waiter, position) });
      }
    }
    this.#queueMoved.clear();
  }
}
