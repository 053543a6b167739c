/**
 * The lease engine: sessions, leases and seats of every feature, and the rules of DESIGN §3.
 *
 * Pure: no I/O, no timers of its own. Time comes from the injected clock; the server arms one timer
 * at `nextDeadline()` and calls `sweep()`. Every state change is announced by an event, delivered
 * once the call that made it is complete (see event-queue.ts), for the server to push, journal and
 * audit.
 *
 * Every mutating call first settles what is due at `clock.now()` (as `sweep()` would), so outcomes
 * never depend on how late the server's timer fired: a heartbeat that arrives after the lease ttl
 * cannot revive its session, and a checkout sees the seats that became free.
 */
import { codeForReclaim, ErrorCode, ReclaimReason } from '../protocol/codes.js';
import { InvalidRequestError, type LeaseholdError } from '../protocol/errors.js';
import { decideAdmission } from './admission.js';
import type { Clock } from './clock.js';
import {
  draining,
  fencingMismatch,
  invalidCount,
  invalidKey,
  leaseNotFound,
  leaseReclaimed,
  sessionNotFound,
  tooManyLeases,
  unknownFeature,
} from './engine-errors.js';
import { type EngineOptions, resolveEngineOptions } from './engine-options.js';
import { EventListenerError, EventQueue } from './event-queue.js';
import { type DueHandlers, ExpirySchedule } from './expiry-schedule.js';
import { FeaturePool, validateFeatureConfig, validateSeats } from './feature-pool.js';
import {
  checkHeartbeatEntries,
  checkIdentity,
  checkReclaimReason,
  isValidCount,
  isValidKey,
} from './input-checks.js';
import { LeaseBook } from './lease-book.js';
import { LeaseRecord, toLeaseView } from './lease-record.js';
import { CHECKED_IN, type LeaseEnding } from './lease-tombstones.js';
import { hexSecretMatches, type RandomBytes, randomBuffer, TOKEN_BYTES, uniqueHexId } from './random-ids.js';
import { copyIdentity, SessionRecord, toSessionView } from './session-record.js';
import {
  type CheckoutRequest,
  type EngineEventName,
  type EngineEvents,
  type FeatureConfig,
  type FeatureStatus,
  type HeartbeatLeaseEntry,
  type HeartbeatRequest,
  type HeartbeatResult,
  type HolderIdentity,
  type LeaseFilter,
  type LeaseView,
  type LostLease,
  SessionEndReason,
  type SessionView,
} from './types.js';

export type { EngineOptions } from './engine-options.js';

/** Compared against when the session is unknown, so an unknown id costs what a wrong token costs. */
const NO_TOKEN = Buffer.alloc(32);

export class LeaseEngine {
  readonly #clock: Clock;
  readonly #leaseTtlMs: number;
  readonly #maxLeasesPerSession: number;
  readonly #random: RandomBytes;
  readonly #book: LeaseBook;
  readonly #expiry: ExpirySchedule;
  readonly #events = new EventQueue<EngineEvents>();
  readonly #dueHandlers: DueHandlers;
  #fencing: number;
  #draining = false;
  /** The latest time read from the clock: a clock that steps back is treated as standing still. */
  #lastNow = Number.NEGATIVE_INFINITY;
  #reclaimedBySettle = 0;

  constructor(options: EngineOptions) {
    const opts = resolveEngineOptions(options);
    this.#clock = opts.clock;
    this.#leaseTtlMs = opts.leaseTtlMs;
    this.#maxLeasesPerSession = opts.maxLeasesPerSession;
    this.#random = opts.random;
    this.#fencing = opts.initialFencing;
    this.#book = new LeaseBook(opts.endedLeaseCacheSize, opts.requestKeyCacheSize);
    this.#expiry = new ExpirySchedule(opts.leaseTtlMs);
    for (const config of opts.features) this.#addPool(config);
    this.#dueHandlers = {
      sessionExpired: (session) => {
        this.#reclaimedBySettle += session.leases.size;
        this.#endSession(session, SessionEndReason.Expired);
      },
      leaseIdle: (lease) => {
        this.#reclaimedBySettle++;
        this.#endLease(lease, ReclaimReason.Idle);
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
      const session = new SessionRecord(id, token, copyIdentity(identity), now);
      this.#book.sessions.set(id, session);
      this.#expiry.armSession(session);
      if (this.#events.wants('sessionOpened')) {
        this.#events.queue('sessionOpened', { session: toSessionView(session, this.#leaseTtlMs) });
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
      const matches = hexSecretMatches(resumeToken, session?.resumeToken ?? NO_TOKEN);
      if (session === undefined || !matches) throw sessionNotFound();
      session.lastHeartbeatAt = now;
      if (typeof peer === 'string' && peer !== session.identity.peer) {
        session.identity = copyIdentity({ ...session.identity, peer });
      }
      return toSessionView(session, this.#leaseTtlMs);
    });
  }

  /** The holder closes its session: every lease is released as if checked in. */
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
   * Grants `count` seats of a feature, or throws why not. Checks run in this order: session, request
   * shape, request key (a retry is answered from the lease it got, whatever the pool looks like
   * now), feature, draining, leases per session, admission.
   */
  checkout(sessionId: string, request: CheckoutRequest): LeaseView {
    return this.#mutate((now) => {
      const session = this.#liveSession(sessionId);
      // PROTOCOL.md §9: a checkout renews the session like a heartbeat, because the client counts
      // its lease's validity from the checkout's send time.
      session.lastHeartbeatAt = now;
      const { feature, count, key } = request;
      if (!isValidCount(count)) throw invalidCount(count);
      if (!isValidKey(key)) throw invalidKey();
      if (key !== undefined) {
        const retried = this.#book.leaseForRetry(session, key, feature, count);
        if (retried !== undefined) return toLeaseView(retried);
      }
      const pool = this.#book.pools.get(feature);
      if (pool === undefined) throw this.#deny(session, feature, count, unknownFeature(feature, count));
      if (this.#draining) throw this.#deny(session, feature, count, draining(pool, count));
      if (session.leases.size >= this.#maxLeasesPerSession) {
        throw this.#deny(session, feature, count, tooManyLeases(this.#maxLeasesPerSession, pool, count));
      }
      const admission = decideAdmission(pool, session.identity, count);
      if (!admission.granted) throw this.#deny(session, feature, count, admission.error);
      return this.#grant(session, pool, count, key, now);
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
      validateSeats(feature, seats);
      this.#changeSeats(pool, seats);
    });
  }

  addFeature(config: FeatureConfig): void {
    this.#mutate(() => this.#addPool(config));
  }

  /** Changes seats, model and idle timeout of a feature; its leases are kept. */
  updateFeature(config: FeatureConfig): void {
    this.#mutate(() => {
      validateFeatureConfig(config);
      const pool = this.#pool(config.name);
      pool.model = config.model;
      const idleBefore = pool.idleTimeoutMs;
      pool.idleTimeoutMs = config.idleTimeoutMs;
      // A new or shorter timeout can bring deadlines earlier than the heap entries; a longer or
      // removed one is handled lazily when the old entries pop.
      if (config.idleTimeoutMs !== undefined && config.idleTimeoutMs !== idleBefore) {
        for (const lease of pool.leases) this.#expiry.armIdle(lease);
      }
      this.#changeSeats(pool, config.seats);
    });
  }

  /** Removes a feature; its leases are reclaimed with reason `feature_removed`. */
  removeFeature(name: string): { reclaimed: number } {
    return this.#mutate(() => {
      const pool = this.#pool(name);
      pool.removed = true;
      this.#book.pools.delete(name);
      const leases = Array.from(pool.leases);
      for (const lease of leases) this.#endLease(lease, ReclaimReason.FeatureRemoved);
      return { reclaimed: leases.length };
    });
  }

  /** While draining, nothing new is granted (DRAINING); held leases and sessions carry on. */
  setDraining(on: boolean): void {
    this.#mutate(() => {
      this.#draining = on;
    });
  }

  // ---- time -----------------------------------------------------------------------------------

  /** Reclaims everything due at `clock.now()`; returns the number of leases reclaimed. */
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

  /** A feature's current configuration, or undefined if it is not licensed here. */
  featureConfig(name: string): FeatureConfig | undefined {
    const pool = this.#book.pools.get(name);
    if (pool === undefined) return undefined;
    const config = { name: pool.name, seats: pool.seats, model: pool.model };
    return pool.idleTimeoutMs === undefined ? config : { ...config, idleTimeoutMs: pool.idleTimeoutMs };
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

  // ---- internals ------------------------------------------------------------------------------

  /**
   * Runs one public state-changing call: settle what is due, run `op`, then deliver the events.
   * `op` validates before it changes anything, so a thrown error leaves the state as it was (apart
   * from the settling, whose events are delivered either way).
   */
  #mutate<T>(op: (now: number, reclaimed: number) => T): T {
    let result: T;
    try {
      const now = this.#now();
      this.#reclaimedBySettle = 0;
      this.#expiry.drainDue(now, this.#dueHandlers);
      result = op(now, this.#reclaimedBySettle);
    } catch (error) {
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
    const pool = this.#book.pools.get(name);
    if (pool === undefined) throw unknownFeature(name);
    return pool;
  }

  #addPool(config: FeatureConfig): void {
    validateFeatureConfig(config);
    if (this.#book.pools.has(config.name)) {
      throw new InvalidRequestError(`Feature '${config.name}' already exists; update it instead.`, {
        details: { feature: config.name },
      });
    }
    this.#book.pools.set(config.name, new FeaturePool(config));
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

  #grant(
    session: SessionRecord,
    pool: FeaturePool,
    count: number,
    key: string | undefined,
    now: number,
  ): LeaseView {
    const id = uniqueHexId(this.#random, (candidate) => this.#book.isLeaseIdTaken(candidate));
    // DESIGN §3.4: one engine-wide counter, so tokens strictly increase across features and restarts.
    const lease = new LeaseRecord(id, pool, count, ++this.#fencing, session, key, now);
    this.#book.add(lease);
    this.#expiry.armIdle(lease);
    const view = toLeaseView(lease);
    this.#events.queue('granted', { lease: view });
    return view;
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
   * The one way a lease ends: checkin, session end, or a reclaim. It leaves the indexes, its seats
   * return to the pool, a tombstone remembers how it ended, and the pool hears that seats freed.
   */
  #endLease(lease: LeaseRecord, ending: LeaseEnding): void {
    this.#book.remove(lease, ending);
    if (ending === CHECKED_IN) {
      if (this.#events.wants('released')) this.#events.queue('released', { lease: toLeaseView(lease) });
    } else if (this.#events.wants('reclaimed')) {
      this.#events.queue('reclaimed', { lease: toLeaseView(lease), reason: ending });
    }
    this.#afterSeatsFreed(lease.pool);
  }

  /** A closed session releases its leases; an expired one has them reclaimed (DESIGN §2 reclaim a). */
  #endSession(session: SessionRecord, reason: SessionEndReason): void {
    const ending: LeaseEnding = reason === SessionEndReason.Closed ? CHECKED_IN : ReclaimReason.Expired;
    for (const lease of Array.from(session.leases)) this.#endLease(lease, ending);
    session.ended = true;
    this.#book.sessions.delete(session.id);
    this.#events.queue('sessionEnded', { sessionId: session.id, reason });
  }

  #changeSeats(pool: FeaturePool, seats: number): void {
    if (seats === pool.seats) return;
    const raised = seats > pool.seats;
    pool.seats = seats;
    this.#events.queue('seatsChanged', {
      feature: pool.name,
      seats,
      inUse: pool.inUse,
      overdraft: pool.overdraft,
    });
    if (raised) this.#afterSeatsFreed(pool);
  }

  /**
   * Every release of seats comes through here: checkin, session end, every reclaim (expiry, idle,
   * admin, feature removal) and a seat increase. This is where the wait queue (issue 4) will grant
   * its head, FIFO within priority, for as long as decideAdmission admits it. Without a queue, a
   * freed seat simply stays free for the next checkout.
   */
  #afterSeatsFreed(pool: FeaturePool): void {
    if (pool.removed) return;
  }
}
