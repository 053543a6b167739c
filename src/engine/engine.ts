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
 * The work is done by lease-flow.ts (checkouts, grants, lease and session ends), session-desk.ts
 * (sessions opened, resumed, renewed), queue-desk.ts (the wait queues), block-admin.ts (blocks,
 * revoke, freeing a holder), feature-changes.ts and reconfigure-plan.ts (reloads, with the
 * three-way merge of config-merge.ts), directory-changes.ts and engine-restore.ts; they share this
 * engine's state through engine-context.ts. This class is the public API and the call discipline.
 */
import type { ReclaimReason } from '../protocol/codes.js';
import { freeLeases, liftBlock, placeBlock, revokeLease } from './block-admin.js';
import { BlockBook, toBlockView } from './blocks.js';
import type { Clock } from './clock.js';
import { namedOf } from './config-baseline.js';
import { Directory } from './directory.js';
import {
  addUser,
  assignNamedSeat,
  changeDirectory,
  dropNamedSeats,
  listUsers,
  setUserEnabled,
  setUserToken,
  unassignNamedSeat,
  updateUser,
} from './directory-changes.js';
import type { EngineContext } from './engine-context.js';
import { unknownFeature } from './engine-errors.js';
import { type EngineOptions, resolveEngineOptions } from './engine-options.js';
import {
  applyOneRecord,
  checkGraceMs,
  loadPersisted,
  planRestore,
  type RestoreOptions,
  startGrace,
} from './engine-restore.js';
import { type EngineState, exportEngineState } from './engine-state.js';
import { EventListenerError, EventQueue } from './event-queue.js';
import { type DueHandlers, ExpirySchedule } from './expiry-schedule.js';
import { addPool, applyReconfigure, removePool, updatePool } from './feature-changes.js';
import { validateFeatureConfig, validateSeatChange } from './feature-config-check.js';
import type { JournalRecord } from './journal-records.js';
import { LeaseBook } from './lease-book.js';
import { LeaseFlow } from './lease-flow.js';
import { toLeaseView } from './lease-record.js';
import type { QueueDesk } from './queue-desk.js';
import { planReconfigure, type ReconfigureResult } from './reconfigure-plan.js';
import { heartbeat, openSession, resumeSession } from './session-desk.js';
import { toSessionView } from './session-record.js';
import {
  type BlockSpec,
  type BlockView,
  type CheckoutRequest,
  type CheckoutResult,
  type DirectoryConfig,
  type EngineEventName,
  type EngineEvents,
  type FeatureConfig,
  type FeatureStatus,
  type FreeFilter,
  type GroupView,
  type HeartbeatRequest,
  type HeartbeatResult,
  type HolderIdentity,
  type LeaseFilter,
  type LeaseView,
  QueueLeftReason,
  SessionEndReason,
  type SessionView,
  type UserConfig,
  type UserUpdate,
  type UserView,
  type WaiterView,
} from './types.js';
import { type SeatType, userSeatTypes } from './user-seats.js';
import { toWaiterView } from './wait-queue.js';

export type { EngineOptions } from './engine-options.js';
export type { RestoreOptions } from './engine-restore.js';
export type { EngineState } from './engine-state.js';
export type { JournalRecord } from './journal-records.js';
export type { ReconfigureResult } from './reconfigure-plan.js';

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
    const directory = Directory.from(opts.directory);
    this.#ctx = {
      leaseTtlMs: opts.leaseTtlMs,
      maxLeasesPerSession: opts.maxLeasesPerSession,
      random: opts.random,
      book: new LeaseBook(opts.endedLeaseCacheSize, opts.requestKeyCacheSize),
      expiry: new ExpirySchedule(opts.leaseTtlMs),
      events: this.#events,
      directory,
      fencing: opts.initialFencing,
      draining: false,
      reclaimedBySettle: 0,
      blocks: new BlockBook(),
      wallClock: opts.wallClock,
      // A fresh engine: run-time state = config = baseline.
      baseline: { directory: directory.toConfig(), named: namedOf(opts.features) },
    };
    this.#flow = new LeaseFlow(this.#ctx);
    this.#queues = this.#flow.queues;
    for (const config of opts.features) addPool(this.#ctx, config);
    this.#dueHandlers = this.#flow.dueHandlers(() => this.#lastNow);
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

  /** Opens a session; the resume token is handed out here only (the engine keeps its hash). */
  openSession(identity: HolderIdentity): { sessionId: string; resumeToken: string } {
    return this.#mutate((now) => openSession(this.#ctx, identity, now));
  }

  /**
   * DESIGN §3.5: a client that reconnects takes its session back, leases and all. Unknown, expired
   * and wrong-token sessions fail alike, so a caller learns nothing about sessions it does not own.
   * A resume counts as a heartbeat.
   */
  resumeSession(sessionId: string, resumeToken: string, peer?: string): SessionView {
    return this.#mutate((now) => resumeSession(this.#ctx, sessionId, resumeToken, peer, now));
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
   * got, whatever the pool looks like now), feature, an administrator's block (BLOCKED), draining,
   * then admission.ts's rules.
   */
  checkout(sessionId: string, request: CheckoutRequest): LeaseView {
    return this.#mutate((now) => {
      const result = this.#flow.checkout(sessionId, request, now, 0);
      if (result.kind === 'granted') return result.lease;
      // Only a retry of a key whose checkout waits gets here: answer with what it waits for.
      throw this.#queues.waiter(result.waiter.ticket)!.denial;
    });
  }

  /**
   * Like checkout, but with `waitMs > 0` a checkout that cannot be granted for lack of seats
   * (NO_SEATS, SEATS_RESERVED, GROUP_MAX) waits in the feature's queue instead of being denied. A
   * retry with the same key while it waits returns the same waiter (at its current position); once
   * granted, the lease. Directory denials and blocks (BLOCKED) are never queued.
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
    return this.#mutate((now) => heartbeat(this.#ctx, this.#flow, sessionId, request, now));
  }

  /** Gives a lease back. A second checkin of the same lease is harmless: `{ released: false }`. */
  checkin(sessionId: string, leaseId: string, fencing: number): { released: boolean } {
    return this.#mutate(() => {
      return this.#flow.checkin(this.#flow.liveSession(sessionId), leaseId, fencing);
    });
  }

  /** Takes a lease back (an admin free, for instance); returns the lease as it was. */
  revoke(leaseId: string, reason: ReclaimReason): LeaseView {
    return this.#mutate(() => revokeLease(this.#ctx, this.#flow, leaseId, reason));
  }

  /**
   * Reclaims every lease of `filter.user` (on `host`, of `feature`, when given) with reason
   * `admin`, in one call, with the events of `revoke`; returns them as they were (maybe none).
   * An unknown feature: UnknownFeatureError.
   */
  freeLeases(filter: FreeFilter): LeaseView[] {
    return this.#mutate(() => freeLeases(this.#ctx, this.#flow, filter));
  }

  // ---- blocks (blocks.ts) ---------------------------------------------------------------------

  /**
   * Keeps a holder out for `durationMs` (an integer, 1 ms to 366 days): every checkout of a
   * matching holder, named seats included, is denied with BLOCKED (retryable) until the block ends
   * or is lifted; the holder's waiters leave the matching queues (reason `blocked`). Held leases
   * are kept (see freeLeases). The end is enforced by the monotonic clock; `untilWall` is for
   * display and persistence. Event `blocked`. An unknown feature: UnknownFeatureError.
   */
  block(spec: BlockSpec): BlockView {
    return this.#mutate((now) => placeBlock(this.#ctx, this.#flow, spec, now));
  }

  /** Lifts a block before its end (event `unblocked`); false when no such block is active. */
  unblock(id: string): boolean {
    return this.#mutate((now) => liftBlock(this.#ctx, id, now));
  }

  /** Active blocks, the soonest to end first. */
  listBlocks(): BlockView[] {
    const now = this.#now();
    return this.#ctx.blocks.active(now).map((block) => toBlockView(block, now));
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
   * Issue 5 reload (SIGHUP, `leasehold reload`), keeping every lease. Features (seats, model, idle
   * timeouts, groups rules, include/exclude, caps) become exactly the new configuration's: missing
   * ones are removed (waiters leave, leases reclaimed with `feature_removed`), new ones added,
   * changed ones updated (seats by the overdraft rule of DESIGN §3.1).
   *
   * The directory (when `directory` is given) and the named assignments are merged three ways
   * (config-merge.ts): the engine keeps the config baseline, the directory and named_users of the
   * configuration last applied; only the differences baseline → new configuration are applied onto
   * the run-time state, so run-time admin changes the file did not touch are kept. A user or group
   * the file newly defines replaces a run-time one of that name; of a user or group the file
   * changed, only what changed is set (list fields merged element by element); what the file
   * removed is removed if still there; named_users entries the file added or removed are assigned
   * or unassigned. Each difference is one `directoryChanged` event (the journal stays a complete
   * history); then the new configuration becomes the baseline (`configBaseline`).
   *
   * Validated as a whole first: an invalid configuration, or one whose merged result is invalid
   * (more named assignments than seats, a user cap breached, a token hash shared, ...), throws
   * InvalidRequestError naming the problem and changes nothing.
   */
  reconfigure(features: readonly FeatureConfig[], directory?: DirectoryConfig): ReconfigureResult {
    return this.#mutate(() => {
      const { book, directory: current, baseline } = this.#ctx;
      const plan = planReconfigure(book.pools, current, baseline, features, directory);
      applyReconfigure(this.#ctx, this.#flow, plan);
      return plan.result;
    });
  }

  // ---- persistence (DESIGN §3.6, issue 5) -------------------------------------------------------

  /** Everything that must survive a restart, as plain data (engine-state.ts says what and why). */
  exportState(): EngineState {
    const { book, directory, fencing, blocks, baseline } = this.#ctx;
    return exportEngineState({ book, directory, fencing, blocks, baseline, now: this.#now() });
  }

  /**
   * Rebuilds an engine after a restart: from the configuration (`options`), then the newest
   * snapshot's state, then the journal records written after it, in order. Replay emits no events
   * (no listener can be attached yet); `onRestored`, when given, runs once the state is rebuilt
   * and before the reconciliation below, so a listener it attaches (the journal) sees those events.
   *
   * After the replay: every session has a heartbeat now and lives at least `graceMs` (DESIGN §3.6
   * restart grace; a resume ends the grace); every lease counts as active now; the fencing counter
   * is above every token ever handed out (snapshot counter, replayed grants, initialFencing);
   * blocks end at now + (their wall-clock end − `wallClock()` now), those already over are dropped.
   *
   * Then the configuration is merged in exactly as a reload would (see reconfigure), with events:
   * the differences between the persisted config baseline and `options`' directory and named_users
   * are applied onto the persisted directory and named assignments, so edits to the file made
   * while the daemon was down take effect and run-time changes the file did not touch survive;
   * leases of features the config no longer has are reclaimed (`feature_removed`); the config
   * becomes the baseline. State persisted before baselines existed keeps its directory and named
   * assignments, gains the config's groups it lacks, and records the config as the baseline. With
   * nothing persisted, the engine is the config's (runtime = config = baseline).
   *
   * Throws InvalidRequestError when a record cannot apply (naming its seq), or when the merged
   * result is invalid (say, fewer seats than named assignments): then nothing is emitted.
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
    const persisted = loadPersisted(ctx, state, records, restoreOptions.firstSeq ?? 1, now);
    startGrace(ctx, now, graceMs);
    const plan = planRestore(ctx, options, persisted);
    onRestored?.(engine);
    engine.#mutate(() => applyReconfigure(ctx, engine.#flow, plan));
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
    this.#mutate(() => addUser(this.#ctx, this.#queues, config));
  }

  /**
   * Sets (a string) or clears (null) a user's display name and email; absent fields stay. An
   * unknown user: InvalidRequestError. No change: no event.
   */
  updateUser(name: string, fields: UserUpdate): void {
    this.#mutate(() => updateUser(this.#ctx, this.#queues, name, fields));
  }

  /**
   * Sets a user's personal-token hash (sha256 of the token, 64 lowercase hex; the engine never
   * sees tokens), or clears it (undefined). A hash another user has: InvalidRequestError.
   */
  setUserToken(name: string, tokenHash: string | undefined): void {
    this.#mutate(() => setUserToken(this.#ctx, this.#queues, name, tokenHash));
  }

  /** The user whose personal-token hash this is (O(1)), or undefined. */
  userByTokenHash(hash: string): string | undefined {
    return this.#ctx.directory.userByTokenHash(hash);
  }

  /** How many users have a personal token (O(1)). */
  get userTokenCount(): number {
    return this.#ctx.directory.tokenCount;
  }

  /** Each directory user's seat type on `feature` (user-seats.ts). UnknownFeatureError if there is none. */
  userSeatTypes(feature: string): Map<string, SeatType> {
    const pool = this.#ctx.book.pools.get(feature);
    if (pool === undefined) throw unknownFeature(feature);
    return userSeatTypes(pool, this.#ctx.directory);
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
    this.#mutate(() => setUserEnabled(this.#ctx, this.#queues, name, enabled));
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

  featureStatus(name?: string, options: { leases?: boolean } = {}): FeatureStatus[] {
    // Without the lease list it is O(features + groups): for metrics and alerts, read often.
    const withLeases = options.leases ?? true;
    const book = this.#ctx.book;
    if (name !== undefined) return [book.status(this.#flow.pool(name), withLeases)];
    return Array.from(book.pools.values(), (pool) => book.status(pool, withLeases));
  }

  /** A feature's current configuration (named assignments as they are now), or undefined. */
  featureConfig(name: string): FeatureConfig | undefined {
    return this.#ctx.book.pools.get(name)?.currentConfig();
  }

  /** Waiters in queue order: one feature's, or every feature's (in feature order). */
  queueStatus(feature?: string): WaiterView[] {
    const pools =
      feature === undefined ? Array.from(this.#ctx.book.pools.values()) : [this.#flow.pool(feature)];
    return pools.flatMap((pool) => Array.from(pool.queue, (waiter, i) => toWaiterView(waiter, i + 1)));
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
