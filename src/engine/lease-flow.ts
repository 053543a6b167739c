/**
 * How leases come and go for LeaseEngine: a checkout is checked and admitted (admission.ts) or
 * queued (queue-desk.ts), a grant hands out a fencing token and arms the lease's idle deadline, and
 * every lease ends through `endLease` (checkin, session end, reclaim), which frees its seats for the
 * queues. The engine calls these inside its `#mutate`, which settles what is due first and grants
 * the queues and delivers the events after.
 */
import { codeForReclaim, ErrorCode, ReclaimReason } from '../protocol/codes.js';
import type { LeaseholdError } from '../protocol/errors.js';
import { type Admission, decideAdmission, type QueueBlock } from './admission.js';
import type { EngineContext } from './engine-context.js';
import {
  blocked,
  draining,
  fencingMismatch,
  invalidCount,
  invalidKey,
  invalidWait,
  keyUsedForWaitingCheckout,
  leaseNotFound,
  leaseReclaimed,
  sessionNotFound,
  unknownFeature,
} from './engine-errors.js';
import type { DueHandlers } from './expiry-schedule.js';
import type { FeaturePool } from './feature-pool.js';
import { isValidCount, isValidKey, isValidWait } from './input-checks.js';
import { type LeaseClaim, LeaseRecord, toLeaseView } from './lease-record.js';
import { CHECKED_IN, type LeaseEnding } from './lease-tombstones.js';
import { QueueDesk } from './queue-desk.js';
import { blockAhead } from './queue-scan.js';
import { isPooledRandom, uniqueHexId } from './random-ids.js';
import { SeatClaim } from './seat-claim.js';
import type { SessionRecord } from './session-record.js';
import {
  type CheckoutRequest,
  type CheckoutResult,
  type HeartbeatLeaseEntry,
  LeaseType,
  type LeaseView,
  QueueLeftReason,
  SessionEndReason,
} from './types.js';
import { toWaiterView, type WaiterRecord } from './wait-queue.js';

export class LeaseFlow {
  readonly #ctx: EngineContext;
  readonly queues: QueueDesk;
  /** The lease #grant last made a `granted` event for, and the view it carries (#grantedView). */
  #lastGrant: LeaseRecord | undefined = undefined;
  #lastGrantView: LeaseView | undefined = undefined;
  /** #decideFor, bound once rather than in a closure per checkout. */
  readonly #decideForWaiter = (waiter: WaiterRecord, block: QueueBlock): Admission =>
    this.#decideFor(waiter, block);
  /** Whether a new lease id is taken already (see the constructor). */
  readonly #leaseIdTaken: (id: string) => boolean;

  constructor(ctx: EngineContext) {
    this.#ctx = ctx;
    const { book } = ctx;
    // A new lease id must not be a live lease's, nor, against an injected source that may repeat
    // itself, a remembered ended lease's (it would inherit that lease's tombstone). The engine's own
    // CSPRNG pool cannot repeat in any practical sense (2^-128 per pair of ids), so with it only the
    // cheap live check is made, not the lookup among up to 100,000 tombstones (issue 8: ~6 % of a
    // checkout + checkin).
    this.#leaseIdTaken = isPooledRandom(ctx.random)
      ? (id) => book.lease(id) !== undefined
      : (id) => book.isLeaseIdTaken(id);
    this.queues = new QueueDesk(ctx, {
      decideFor: (waiter, block) => this.#decideFor(waiter, block),
      grant: (session, pool, count, key, now, admission) =>
        this.#grant(session, pool, count, key, now, admission),
      endLease: (lease, ending) => this.endLease(lease, ending),
    });
  }

  liveSession(sessionId: string): SessionRecord {
    const session = typeof sessionId === 'string' ? this.#ctx.book.sessions.get(sessionId) : undefined;
    if (session === undefined) throw sessionNotFound();
    return session;
  }

  pool(name: string): FeaturePool {
    const pool = typeof name === 'string' ? this.#ctx.book.pools.get(name) : undefined;
    if (pool === undefined) throw unknownFeature(String(name));
    return pool;
  }

  /**
   * Checks run in this order: session, request shape, request key (a retry is answered from the
   * lease it got, whatever the pool looks like now), feature, an administrator's block (BLOCKED,
   * blocks.ts), draining, then admission.ts's rules. `waitMs` replaces the request's (0: never
   * wait) without a copy of the request.
   */
  checkout(
    sessionId: string,
    request: CheckoutRequest,
    now: number,
    waitMs: number | undefined = request.waitMs,
  ): CheckoutResult {
    const session = this.liveSession(sessionId);
    // PROTOCOL.md §9: a checkout renews the session like a heartbeat, because the client counts
    // its lease's validity from the checkout's send time.
    session.lastHeartbeatAt = now;
    const { feature, count, key } = request;
    if (!isValidCount(count)) throw invalidCount(count);
    if (!isValidKey(key)) throw invalidKey();
    if (!isValidWait(waitMs)) throw invalidWait(waitMs);
    const { book } = this.#ctx;
    if (key !== undefined) {
      const retried = book.leaseForRetry(session, key, feature, count);
      if (retried !== undefined) return { kind: 'granted', lease: toLeaseView(retried) };
      const waiting = session.waiters.withKey(key);
      if (waiting !== undefined) {
        if (waiting.pool.name !== feature || waiting.count !== count) {
          throw keyUsedForWaitingCheckout(key, waiting);
        }
        return { kind: 'queued', waiter: toWaiterView(waiting, waiting.pool.queue.positionOf(waiting)) };
      }
    }
    const pool = book.pools.get(feature);
    if (pool === undefined) throw this.#deny(session, feature, count, unknownFeature(feature, count));
    const { user, host } = session.identity;
    // Before anything else about the pool: a block holds for named seats too, and is never queued.
    const adminBlock = this.#ctx.blocks.find(user, host, feature, now);
    if (adminBlock !== undefined) {
      throw this.#deny(session, feature, count, blocked(adminBlock, pool, user, host, count, now));
    }
    if (this.#ctx.draining) throw this.#deny(session, feature, count, draining(pool, count));
    const priority = this.#ctx.directory.priorityOf(user, host);
    const block = blockAhead(pool, priority, this.#decideForWaiter);
    const admission = this.#decide(pool, session, count, block);
    if (admission.granted) {
      return {
        kind: 'granted',
        lease: this.#grantedView(this.#grant(session, pool, count, key, now, admission)),
      };
    }
    if (waitMs !== undefined && waitMs > 0 && admission.wait !== 'none') {
      return this.queues.enqueue(session, pool, { count, key, waitMs, priority, admission }, now);
    }
    throw this.#deny(session, feature, count, admission.error);
  }

  /**
   * What to do when something comes due (expiry-schedule.ts): each ends what expired, then grants
   * the queues at `now()`, the time being settled.
   */
  dueHandlers(now: () => number): DueHandlers {
    const ctx = this.#ctx;
    return {
      sessionExpired: (session) => {
        ctx.reclaimedBySettle += session.leases.size;
        this.endSession(session, SessionEndReason.Expired);
        this.queues.grantQueues(now());
      },
      leaseIdle: (lease) => {
        ctx.reclaimedBySettle++;
        this.endLease(lease, ReclaimReason.Idle);
        this.queues.grantQueues(now());
      },
      waiterTimedOut: (waiter) => {
        this.queues.leave(waiter, QueueLeftReason.Timeout);
        this.queues.grantQueues(now());
      },
      preemptDue: (pool) => {
        pool.preemptWanted = true;
        this.queues.markForScan(pool);
        this.queues.grantQueues(now());
      },
    };
  }

  /** A checkin of a lease the session may hold; a second checkin of it is `{ released: false }`. */
  checkin(session: SessionRecord, leaseId: string, fencing: number): { released: boolean } {
    // The common case first, without building a LeaseStanding: the session's own lease, its token.
    const lease = this.#ctx.book.lease(leaseId);
    if (lease !== undefined && lease.session === session && lease.fencing === fencing) {
      this.endLease(lease, CHECKED_IN);
      return { released: true };
    }
    const standing = this.#ctx.book.standing(session, leaseId, fencing);
    switch (standing.kind) {
      case 'held':
        this.endLease(standing.lease, CHECKED_IN);
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
  }

  /** Answers one heartbeat entry: undefined when the lease is held, else the code of its loss. */
  touchLease(session: SessionRecord, entry: HeartbeatLeaseEntry, now: number): ErrorCode | undefined {
    const standing = this.#ctx.book.standing(session, entry.lease, entry.fencing);
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
  endLease(lease: LeaseRecord, ending: LeaseEnding): void {
    const { events } = this.#ctx;
    this.#ctx.book.remove(lease, ending);
    if (ending === CHECKED_IN) {
      if (events.wants('released')) events.queue('released', { lease: toLeaseView(lease) });
    } else if (events.wants('reclaimed')) {
      events.queue('reclaimed', { lease: toLeaseView(lease), reason: ending });
    }
    this.queues.afterSeatsFreed(lease.pool);
    // The session's own waiters may have been held back by its lease limit. (Most sessions have
    // none: the size check spares an iterator.)
    const { waiters } = lease.session;
    if (waiters.size > 0) for (const waiter of waiters) this.queues.markForScan(waiter.pool);
  }

  /**
   * A closed session releases its leases; an expired one has them reclaimed (DESIGN §2 reclaim a).
   * Its waiters leave first, so the seats it frees go to others.
   */
  endSession(session: SessionRecord, reason: SessionEndReason): void {
    for (const waiter of Array.from(session.waiters)) this.queues.leave(waiter, QueueLeftReason.SessionEnded);
    const ending: LeaseEnding = reason === SessionEndReason.Closed ? CHECKED_IN : ReclaimReason.Expired;
    // Ended first: its leases' request keys need no remembering (LeaseBook.remove), since no
    // checkout can come from this session again.
    session.ended = true;
    for (const lease of Array.from(session.leases)) this.endLease(lease, ending);
    this.#ctx.book.sessions.delete(session.id);
    this.#ctx.book.forgetSession(session);
    this.#ctx.events.queue('sessionEnded', { sessionId: session.id, reason });
  }

  changeSeats(pool: FeaturePool, seats: number): void {
    if (seats === pool.seats) return;
    pool.seats = seats;
    this.#ctx.events.queue('seatsChanged', {
      feature: pool.name,
      seats,
      inUse: pool.inUse,
      overdraft: pool.overdraft,
    });
    // More seats make room; fewer can make a waiter's count impossible, so it holds back nobody.
    this.queues.afterSeatsFreed(pool);
  }

  #deny(session: SessionRecord, feature: string, count: number, error: LeaseholdError): LeaseholdError {
    this.#ctx.events.queue('denied', {
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

  #decide(pool: FeaturePool, session: SessionRecord, count: number, block: QueueBlock | undefined) {
    return decideAdmission({
      pool,
      directory: this.#ctx.directory,
      holder: session.identity,
      count,
      sessionLeases: session.leases.size,
      maxLeasesPerSession: this.#ctx.maxLeasesPerSession,
      block,
    });
  }

  #decideFor(waiter: WaiterRecord, block: QueueBlock): Admission {
    const admission = this.#decide(waiter.pool, waiter.session, waiter.count, block);
    if (!admission.granted) waiter.deniedBy(admission);
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
    const { book, expiry, events } = this.#ctx;
    const { identity } = session;
    // A concurrent lease nobody can join (no dedupe) is a claim of its own, without a SeatClaim.
    const lone = admission.type === LeaseType.Concurrent && admission.join === undefined && pool.lonesAllowed;
    const seats = admission.type === LeaseType.Named ? 1 : count;
    const claim: LeaseClaim = lone
      ? pool.loneClaim(admission.group)
      : (admission.join ??
        new SeatClaim(pool, admission.type, seats, admission.group, identity.user, identity.host));
    // The claim's first live lease names it in the journal record of a lease that joins it.
    const claimOf = admission.join === undefined ? undefined : admission.join.leases[0]?.id;
    const id = uniqueHexId(this.#ctx.random, this.#leaseIdTaken);
    // DESIGN §3.4: one engine-wide counter, so tokens strictly increase across features and restarts.
    const lease = new LeaseRecord(id, count, ++this.#ctx.fencing, session, key, now, claim);
    book.add(lease);
    expiry.armIdle(lease);
    if (pool.queue.size > 0) {
      if (pool.reclaimIdleWhenQueuedMs !== undefined) {
        expiry.armPreempt(pool, now + pool.reclaimIdleWhenQueuedMs);
      }
      // A grant can let a waiter in: a waiter of the same user may join the new claim (a named seat,
      // dedupe), and a group that took seats may now be at its max, so its waiter ahead holds back
      // only its group instead of every unreserved seat (queue-scan.ts).
      this.queues.markForScan(pool);
    }
    // The session's own waiters may now be held back by its lease limit, and so hold back nobody.
    const { waiters } = session;
    if (waiters.size > 0) for (const waiter of waiters) this.queues.markForScan(waiter.pool);
    if (events.wants('granted')) {
      const view = toLeaseView(lease);
      this.#lastGrant = lease;
      this.#lastGrantView = view;
      const event: { lease: LeaseView; key?: string; claimOf?: string } = { lease: view };
      if (key !== undefined) event.key = key;
      if (claimOf !== undefined) event.claimOf = claimOf;
      events.queue('granted', event);
    }
    return lease;
  }

  /**
   * The view of a lease just granted: the one its `granted` event carries when there is one, so a
   * checkout builds one view instead of two (issue 8). Nothing can change the lease between its
   * grant and this call; views are read-only.
   */
  #grantedView(lease: LeaseRecord): LeaseView {
    const view = this.#lastGrant === lease ? this.#lastGrantView : undefined;
    this.#lastGrant = undefined;
    this.#lastGrantView = undefined;
    return view ?? toLeaseView(lease);
  }
}
