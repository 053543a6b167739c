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
 * Queues are granted at the end of every call that may have made room (see grantQueues in
 * queue-desk.ts, and queue-scan.ts for the order rule), so between calls no waiter could be granted
 * by another scan.
 *
 * The work is done by lease-flow.ts (checkouts, grants, lease and session ends), queue-desk.ts (the
 * wait queues), feature-changes.ts, directory-changes.ts and engine-restore.ts; they share this
 * engine's state through engine-context.ts. This class is the public API and the call discipline.
 */
import { ReclaimReason } from '../protocol/codes.js';
import type { Clock } from './clock.js';
import { Directory } from './directory.js';
import {
  assignNamedSeat,
  changeDirectory,
  dropNamedSeats,
  listUsers,
  unassignNamedSeat,
} from './directory-changes.js';
import type { EngineContext } from './engine-context.js';
import { leaseNotFound, sessionNotFound } from './engine-errors.js';
import { type EngineOptions, resolveEngineOptions } from './engine-options.js';
import {
  addMissingGroups,
  applyOneRecord,
  checkGraceMs,
  checkRestoredConfig,
  loadPersisted,
  type RestoreOptions,
  startGrace,
} from './engine-restore.js';
import { type EngineState, exportEngineState } from './engine-state.js';
import { EventListenerError, EventQueue } from './event-queue.js';
import { type DueHandlers, ExpirySchedule } from './expiry-schedule.js';
import { addPool, applyReconfigure, removePool, updatePool } from './feature-changes.js';
import { validateFeatureConfig, validateSeatChange } from './feature-config-check.js';
import { checkHeartbeatEntries, checkIdentity, checkReclaimReason } from './input-checks.js';
import type { JournalRecord } from './journal-records.js';
import { LeaseBook } from './lease-book.js';
import { LeaseFlow } from './lease-flow.js';
import { toLeaseView } from './lease-record.js';
import type { QueueDesk } from './queue-desk.js';
import { hexSecretHashMatches, randomBuffer, TOKEN_BYTES, uniqueHexId } from './random-ids.js';
import { planReconfigure, type ReconfigureResult } from './reconfigure-plan.js';
import { copyIdentity, hashToken, SessionRecord, toSessionView } from './session-record.js';
import {
  type CheckoutRequest,
  type CheckoutResult,
  type DirectoryConfig,
  type EngineEventName,
  type EngineEvents,
  type FeatureConfig,
  type FeatureStatus,
  type GroupView,
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
import { toWaiterView } from './wait-queue.js';

export type { EngineOptions } from './engine-options.js';
export type { RestoreOptions } from './engine-restore.js';
export type { EngineState } from './engine-state.js';
export type { JournalRecord } from './journal-records.js';
export type { ReconfigureResult } from './reconfigure-plan.js';

/** Compared against when the session is unknown, so an unknown id costs what a wrong token costs. */
const NO_TOKEN_HASH = Buffer.alloc(32);

export class LeaseEngine {
  readonly #clock: Clock;
  /** The state this engine shares with the modules that do its work (engine-context.ts). */
  readonly #ctx: EngineContext;
  readonly #events = new EventQueue<EngineEvents>();
  readonly #flow: LeaseFlow;
  readonly #queues: QueueDesk;
  readonly #dueHandlers: DueHandlers;
  /** The latest time read from the clock: a clock that steps back is treated as standing still. */
  #lastNow = Number.NEGATIVE_INFINITY;

  constructor(options: EngineOptions) {
    const opts = resolveEngineOptions(options);
    this.#clock = opts.clock;
    this.#ctx = {
      leaseTtlMs: opts.leaseTtlMs,
      maxLeasesPerSession: opts.maxLeasesPerSession,
      random: opts.random,
      book: new LeaseBook(opts.endedLeaseCacheSize, opts.requestKeyCacheSize),
      expiry: new ExpirySchedule(opts.leaseTtlMs),
      events: this.#events,
      directory: Directory.from(opts.directory),
      fencing: opts.initialFencing,
      draining: false,
      reclaimedBySettle: 0,
    };
    this.#flow = new LeaseFlow(this.#ctx);
    this.#queues = this.#flow.queues;
    for (const config of opts.features) addPool(this.#ctx, config);
    const ctx = this.#ctx;
    this.#dueHandlers = {
      sessionExpired: (session) => {
        ctx.reclaimedBySettle += session.leases.size;
        this.#flow.endSession(session, SessionEndReason.Expired);
        this.#queues.grantQueues(this.#lastNow);
      },
      leaseIdle: (lease) => {
        ctx.reclaimedBySettle++;
        this.#flow.endLease(lease, ReclaimReason.Idle);
        this.#queues.grantQueues(this.#lastNow);
      },
      waiterTimedOut: (waiter) => {
        this.#queues.leave(waiter, QueueLeftReason.Timeout);
        this.#queues.grantQueues(this.#lastNow);
      },
      preemptDue: (pool) => {
        pool.preemptWanted = true;
        this.#queues.markForScan(pool);
        this.#queues.grantQueues(this.#lastNow);
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
    return this.#ctx.fencing;
  }

  get leaseTtlMs(): number {
    return this.#ctx.leaseTtlMs;
  }

  /** How many leases are held now: O(1), for logs and metrics (listLeases builds every view). */
  get leaseCount(): number {
    return this.#ctx.book.leaseCount;
  }

  get draining(): boolean {
    return this.#ctx.draining;
  }

  // ---- sessions -------------------------------------------------------------------------------

  openSession(identity: HolderIdentity): { sessionId: string; resumeToken: string } {
    return this.#mutate((now) => {
      checkIdentity(identity);
      const id = uniqueHexId(this.#ctx.random, (candidate) => this.#ctx.book.sessions.has(candidate));
      // A copy: an injected source may reuse its buffer, and the token must not change under us.
      const token = Buffer.from(randomBuffer(this.#ctx.random, TOKEN_BYTES));
      // Only the hash is kept (and journaled): the token itself is handed out once, here.
      const session = new SessionRecord(id, hashToken(token), copyIdentity(identity), now);
      this.#ctx.book.sessions.set(id, session);
      this.#ctx.expiry.armSession(session);
      if (this.#events.wants('sessionOpened')) {
        this.#events.queue('sessionOpened', {
          session: toSessionView(session, this.#ctx.leaseTtlMs),
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
      const session = typeof sessionId === 'string' ? this.#ctx.book.sessions.get(sessionId) : undefined;
      const matches = hexSecretHashMatches(resumeToken, TOKEN_BYTES, session?.tokenHash ?? NO_TOKEN_HASH);
      if (session === undefined || !matches) throw sessionNotFound();
      session.lastHeartbeatAt = now;
      if (session.graceUntil > now) {
        // Back after a restart: from now on the lease ttl alone keeps it (DESIGN §3.6).
        session.graceUntil = Number.NEGATIVE_INFINITY;
        this.#ctx.expiry.rearmSession(session);
      }
      if (typeof peer === 'string' && peer !== session.identity.peer) {
        session.identity = copyIdentity({ ...session.identity, peer });
      }
      return toSessionView(session, this.#ctx.leaseTtlMs);
    });
  }

  /** The holder closes its session: every lease is released as if checked in; its waiters leave. */
  endSession(sessionId: string): { released: number } {
    return this.#mutate(() => {
      const session = this.#flow.liveSession(sessionId);
      const released = session.leases.size;
      this.#flow.endSession(session, SessionEndReason.Closed);
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
      const result = this.#flow.checkout(sessionId, { ...request, waitMs: 0 }, now);
      if (result.kind === 'granted') return result.lease;
      // Only a retry of a key whose checkout waits gets here: answer with what it waits for.
      throw this.#queues.waiter(result.waiter.ticket)!.denial;
    });
  }

  /**
   * Like checkout, but with `waitMs > 0` a checkout that cannot be granted for lack of seats
   * (NO_SEATS, SEATS_RESERVED, GROUP_MAX) waits in the feature's queue instead of being denied. A
   * retry with the same key while it waits returns the same waiter (at its current position); once
   * granted, the lease. Directory denials are never queued.
   */
  requestCheckout(sessionId: string, request: CheckoutRequest): CheckoutResult {
    return this.#mutate((now) => this.#flow.checkout(sessionId, request, now));
  }

  /** Takes a waiter of this session out of its queue. An unknown or finished ticket: `false`. */
  cancelWait(sessionId: string, ticket: string): { cancelled: boolean } {
    return this.#mutate(() => {
      const session = this.#flow.liveSession(sessionId);
      const waiter = typeof ticket === 'string' ? this.#queues.waiter(ticket) : undefined;
      if (waiter === undefined || waiter.session !== session) return { cancelled: false };
      this.#queues.leave(waiter, QueueLeftReason.Cancelled);
      return { cancelled: true };
    });
  }

  /**
   * Takes every waiter of a session out of the queues (the server calls it when the session's
   * connection closes). An unknown session has none: 0.
   */
  leaveQueue(sessionId: string): number {
    return this.#mutate(() => {
      const session = typeof sessionId === 'string' ? this.#ctx.book.sessions.get(sessionId) : undefined;
      if (session === undefined) return 0;
      const waiters = Array.from(session.waiters);
      for (const waiter of waiters) this.#queues.leave(waiter, QueueLeftReason.Disconnected);
      return waiters.length;
    });
  }

  /**
   * Renews the session (all its leases live as long as it does) and records user activity. Leases
   * the session no longer holds come back in `lost`, with the reason.
   */
  heartbeat(sessionId: string, request?: HeartbeatRequest): HeartbeatResult {
    return this.#mutate((now) => {
      const session = this.#flow.liveSession(sessionId);
      const entries = request?.leases ?? [];
      checkHeartbeatEntries(entries);
      // No heap work: the expiry schedule rereads this when the session's entry comes due.
      session.lastHeartbeatAt = now;
      const lost: LostLease[] = [];
      for (const entry of entries) {
        const code = this.#flow.touchLease(session, entry, now);
        if (code !== undefined) lost.push({ lease: entry.lease, code });
      }
      return { ttlMs: this.#ctx.leaseTtlMs, lost };
    });
  }

  /** Gives a lease back. A second checkin of the same lease is harmless: `{ released: false }`. */
  checkin(sessionId: string, leaseId: string, fencing: number): { released: boolean } {
    return this.#mutate(() => {
      return this.#flow.checkin(this.#flow.liveSession(sessionId), leaseId, fencing);
    });
  }

  /** Takes a lease back (an admin free, for instance); returns the lease as it was. */
  revoke(leaseId: string, reason: ReclaimReason): LeaseView {
    return this.#mutate(() => {
      checkReclaimReason(reason);
      const lease = this.#ctx.book.lease(leaseId);
      if (lease === undefined) throw leaseNotFound(leaseId, false);
      const view = toLeaseView(lease);
      this.#flow.endLease(lease, reason);
      return view;
    });
  }

  // ---- configuration --------------------------------------------------------------------------

  /** Lowering below the seats in use evicts nothing: it opens a reported overdraft (DESIGN §3.1). */
  setSeats(feature: string, seats: number): void {
    this.#mutate(() => {
      const pool = this.#flow.pool(feature);
      validateSeatChange(pool, seats, this.#ctx.directory);
      this.#flow.changeSeats(pool, seats);
    });
  }

  addFeature(config: FeatureConfig): void {
    this.#mutate(() => addPool(this.#ctx, config));
  }

  /** Replaces a feature's configuration (named assignments included); its leases are kept. */
  updateFeature(config: FeatureConfig): void {
    this.#mutate(() => {
      validateFeatureConfig(config, this.#ctx.directory);
      updatePool(this.#ctx, this.#flow, this.#flow.pool(config.name), config);
    });
  }

  /** Removes a feature: its waiters leave the queue, its leases are reclaimed (`feature_removed`). */
  removeFeature(name: string): { reclaimed: number } {
    return this.#mutate(() => removePool(this.#ctx, this.#flow, this.#flow.pool(name)));
  }

  /** While draining, nothing new is granted (DRAINING); held leases, sessions and waiters carry on. */
  setDraining(on: boolean): void {
    this.#mutate(() => {
      this.#ctx.draining = on;
      if (!on) this.#queues.scanAll();
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
      const plan = planReconfigure(this.#ctx.book.pools, this.#ctx.directory, features, directory);
      applyReconfigure(this.#ctx, this.#flow, plan);
      return plan.result;
    });
  }

  // ---- persistence (DESIGN §3.6, issue 5) -------------------------------------------------------

  /** Everything that must survive a restart, as plain data (engine-state.ts says what and why). */
  exportState(): EngineState {
    return exportEngineState({
      book: this.#ctx.book,
      directory: this.#ctx.directory,
      fencing: this.#ctx.fencing,
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
    checkGraceMs(graceMs);
    const engine = new LeaseEngine(options);
    const ctx = engine.#ctx;
    const now = engine.#now();
    const ghosts = loadPersisted(ctx, state, records, restoreOptions.firstSeq ?? 1, now);
    startGrace(ctx, now, graceMs);
    checkRestoredConfig(ctx, options, ghosts);
    onRestored?.(engine);
    engine.#mutate(() => {
      addMissingGroups(ctx, options);
      for (const ghost of ghosts) removePool(ctx, engine.#flow, ghost);
    });
    return engine;
  }

  /**
   * Applies one journal record as restore does, without events (for tests, and for tools that
   * rebuild state). Not for a serving engine: it skips the queue and every admission rule.
   */
  applyRecord(record: JournalRecord, seq: number | string = '?'): void {
    applyOneRecord(this.#ctx, record, seq, this.#now());
  }

  // ---- directory (issue 4 §2) -----------------------------------------------------------------

  /** Adds a user (enabled unless `enabled: false`). Refused with USER_CAP if a feature's cap would break. */
  addUser(config: UserConfig): void {
    this.#mutate(() => {
      const detail: Record<string, unknown> = { user: config?.name, enabled: config?.enabled ?? true };
      // The groups go into the journal record too, so a replay adds the same user.
      if (Array.isArray(config?.groups) && config.groups.length > 0) detail.groups = [...config.groups];
      changeDirectory(this.#ctx, this.#queues, 'userAdded', detail, (d) => d.addUser(config));
    });
  }

  /** Removes a user and their named assignments; their live leases continue until they end. */
  removeUser(name: string): void {
    this.#mutate(() => {
      changeDirectory(this.#ctx, this.#queues, 'userRemoved', { user: name }, (d) => d.removeUser(name));
      dropNamedSeats(this.#ctx, name);
    });
  }

  /** Disabling evicts nothing: the user's leases continue, new checkouts are refused. */
  setUserEnabled(name: string, enabled: boolean): void {
    this.#mutate(() =>
      changeDirectory(
        this.#ctx,
        this.#queues,
        enabled ? 'userEnabled' : 'userDisabled',
        { user: name },
        (d) => d.setEnabled(name, enabled),
      ),
    );
  }

  addGroupMember(group: string, user: string): void {
    this.#mutate(() =>
      changeDirectory(this.#ctx, this.#queues, 'memberAdded', { group, user }, (d) =>
        d.addMember(group, user),
      ),
    );
  }

  removeGroupMember(group: string, user: string): void {
    this.#mutate(() =>
      changeDirectory(this.#ctx, this.#queues, 'memberRemoved', { group, user }, (d) =>
        d.removeMember(group, user),
      ),
    );
  }

  /** Gives `user` a named seat of `feature` (assigning twice changes nothing). */
  assign(feature: string, user: string): void {
    this.#mutate(() => {
      assignNamedSeat(this.#ctx, this.#queues, this.#flow.pool(feature), user);
    });
  }

  /** Takes a named seat away; live named leases of the user continue until they end. */
  unassign(feature: string, user: string): void {
    this.#mutate(() => {
      unassignNamedSeat(this.#ctx, this.#queues, this.#flow.pool(feature), user);
    });
  }

  listUsers(): UserView[] {
    return listUsers(this.#ctx);
  }

  listGroups(): GroupView[] {
    return this.#ctx.directory.groupViews();
  }

  // ---- time -----------------------------------------------------------------------------------

  /** Settles everything due at `clock.now()`; returns the number of leases reclaimed. */
  sweep(): number {
    return this.#mutate((_now, reclaimed) => reclaimed);
  }

  /** The earliest time `sweep()` may have work. May be early (then the sweep finds less), never late. */
  nextDeadline(): number | undefined {
    return this.#ctx.expiry.nextAt();
  }

  /** The expiry heap's size and the entries it has popped: expiry work, for tests and metrics. */
  expiryStats(): { entries: number; popped: number } {
    return { entries: this.#ctx.expiry.size, popped: this.#ctx.expiry.popped };
  }

  // ---- queries (state as of the last call that settled what was due) --------------------------

  featureStatus(name?: string): FeatureStatus[] {
    if (name !== undefined) return [this.#ctx.book.status(this.#flow.pool(name))];
    return Array.from(this.#ctx.book.pools.values(), (pool) => this.#ctx.book.status(pool));
  }

  /** A feature's current configuration (named assignments as they are now), or undefined. */
  featureConfig(name: string): FeatureConfig | undefined {
    return this.#ctx.book.pools.get(name)?.currentConfig();
  }

  /** Waiters in queue order: one feature's, or every feature's (in feature order). */
  queueStatus(feature?: string): WaiterView[] {
    const pools =
      feature === undefined ? Array.from(this.#ctx.book.pools.values()) : [this.#flow.pool(feature)];
    const views: WaiterView[] = [];
    for (const pool of pools) {
      let position = 0;
      for (const waiter of pool.queue) views.push(toWaiterView(waiter, ++position));
    }
    return views;
  }

  /** Leases matching every given criterion, sorted by grant time, then id. */
  listLeases(filter: LeaseFilter = {}): LeaseView[] {
    return this.#ctx.book.list(filter);
  }

  session(sessionId: string): SessionView | undefined {
    const session = this.#ctx.book.sessions.get(sessionId);
    return session === undefined ? undefined : toSessionView(session, this.#ctx.leaseTtlMs);
  }

  lease(leaseId: string): LeaseView | undefined {
    const lease = this.#ctx.book.lease(leaseId);
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
      this.#ctx.reclaimedBySettle = 0;
      this.#ctx.expiry.drainDue(now, this.#dueHandlers);
      this.#queues.grantQueues(now);
      result = op(now, this.#ctx.reclaimedBySettle);
      this.#queues.grantQueues(now);
      this.#queues.reportPositions();
    } catch (error) {
      this.#queues.grantQueues(now);
      this.#queues.reportPositions();
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
}
