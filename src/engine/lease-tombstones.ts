/**
 * What is remembered of ended leases, in one bounded cache:
 *
 * - how each ended, so a late heartbeat, checkin or retried checkout gets the right answer (DESIGN
 *   §3.4: a stale token fails with LEASE_REVOKED / LEASE_EXPIRED) instead of a bare LEASE_NOT_FOUND.
 *   The oldest tombstones are forgotten first (PROTOCOL.md §6.3: at least the 100,000 most recent),
 *   after which the answer degrades to LEASE_NOT_FOUND, which is still a refusal;
 * - which lease each (session, request key) pair was granted, for idempotent checkout (DESIGN §3.5:
 *   a retried checkout returns the same lease, never a second seat). Only keys of leases that have
 *   ended are kept here: a held lease is found by its key among its session's leases
 *   (session-record.ts), which never forgets one. A key is remembered while it is one of the
 *   `keyBound` most recently ended leases' keys (PROTOCOL.md §6.2: at least the 100,000 most recent
 *   keys); a checkout with a key forgotten is a new checkout.
 *
 * One record per ended lease, filed once in the lru-cache by lease id: a key is found through a
 * per-session index of those records, not a second cache. This halves the cache work of every
 * checkin (issue 8: the two caches' `set` and the key string built for the second were ~6.5 % of
 * the daemon's busy main thread). A key outlives its tombstone when the bounds or the mix of keyed
 * and unkeyed leases say so: its record then moves to a small cache of orphaned keys, so the retry
 * is still refused (KEY_CONFLICT: how the lease ended is forgotten) rather than granted anew.
 */
import { LRUCache } from 'lru-cache';
import type { ReclaimReason } from '../protocol/codes.js';
import type { LeaseRecord } from './lease-record.js';
import type { KeyedGrant } from './request-keys.js';

/** The holder checked the lease in (or closed its session); every other ending is a reclaim. */
export const CHECKED_IN = 'checked_in';
export type LeaseEnding = typeof CHECKED_IN | ReclaimReason;

export interface LeaseTombstone {
  readonly sessionId: string;
  readonly fencing: number;
  readonly ending: LeaseEnding;
}

/** One ended lease: its tombstone, and for a keyed lease the grant its key got. */
export class EndedLease implements LeaseTombstone, KeyedGrant {
  readonly leaseId: string;
  readonly sessionId: string;
  readonly fencing: number;
  readonly ending: LeaseEnding;
  readonly key: string | undefined;
  readonly feature: string;
  readonly count: number;
  /** Which keyed end this was (1, 2, ...), for the key bound; 0 when the key is not remembered. */
  readonly keySeq: number;

  constructor(
    leaseId: string,
    sessionId: string,
    fencing: number,
    ending: LeaseEnding,
    key: string | undefined,
    feature: string,
    count: number,
    keySeq: number,
  ) {
    this.leaseId = leaseId;
    this.sessionId = sessionId;
    this.fencing = fencing;
    this.ending = ending;
    this.key = key;
    this.feature = feature;
    this.count = count;
    this.keySeq = keySeq;
  }
}

export class EndedLeases {
  /** Every remembered ended lease, by lease id: the one bounded cache of this module. */
  readonly #byId: LRUCache<string, EndedLease>;
  /** sessionId → request key → ended lease, for the keyed records that are in #byId. */
  readonly #byKey = new Map<string, Map<string, EndedLease>>();
  /** Keys still within their bound whose tombstone was forgotten first, by `sessionId NUL key`. */
  readonly #orphanKeys: LRUCache<string, EndedLease>;
  readonly #keyBound: number;
  /** Keyed ends so far: the last `#keyBound` of them have their key remembered. */
  #keyedEnds = 0;

  constructor(tombstoneBound: number, keyBound: number) {
    this.#keyBound = keyBound;
    this.#byId = new LRUCache<string, EndedLease>({
      max: tombstoneBound,
      dispose: (ended) => this.#forgetTombstone(ended),
    });
    this.#orphanKeys = new LRUCache({ max: keyBound });
  }

  /**
   * Remembers how a lease ended and, when it had one, its request key: a retry is answered from the
   * session's leases while the lease is held, from here once it ended. A session that has ended
   * sends no retries, so its leases' keys are not kept.
   */
  remember(lease: LeaseRecord, ending: LeaseEnding): void {
    const { session } = lease;
    const key = session.ended ? undefined : lease.key;
    const keySeq = key === undefined ? 0 : ++this.#keyedEnds;
    const ended = new EndedLease(
      lease.id,
      session.id,
      lease.fencing,
      ending,
      key,
      lease.pool.name,
      lease.count,
      keySeq,
    );
    this.#byId.set(ended.leaseId, ended);
    if (key === undefined) return;
    let keys = this.#byKey.get(ended.sessionId);
    if (keys === undefined) {
      keys = new Map();
      this.#byKey.set(ended.sessionId, keys);
    }
    keys.set(key, ended);
  }

  /** How the lease ended, while remembered; a lookup keeps it longer (least recently used goes first). */
  tombstone(leaseId: string): LeaseTombstone | undefined {
    return this.#byId.get(leaseId);
  }

  /** Whether a lease id is remembered (no effect on what is forgotten first). */
  has(leaseId: string): boolean {
    return this.#byId.has(leaseId);
  }

  /** The grant an ended lease's key got in this session, while the key is remembered. */
  keyed(sessionId: string, key: string): KeyedGrant | undefined {
    let ended = this.#byKey.get(sessionId)?.get(key);
    if (ended === undefined && this.#orphanKeys.size > 0)
      ended = this.#orphanKeys.get(orphanSlot(sessionId, key));
    return ended !== undefined && this.#keyRemembered(ended) ? ended : undefined;
  }

  /** A session that ended sends no retries: its keys need no index any more (their tombstones stay). */
  forgetSession(sessionId: string): void {
    this.#byKey.delete(sessionId);
  }

  get size(): number {
    return this.#byId.size;
  }

  #keyRemembered(ended: EndedLease): boolean {
    return ended.keySeq > this.#keyedEnds - this.#keyBound;
  }

  /** The cache let a tombstone go: its key leaves the index, for the orphans if still within its bound. */
  #forgetTombstone(ended: EndedLease): void {
    const { key } = ended;
    if (key === undefined) return;
    const keys = this.#byKey.get(ended.sessionId);
    if (keys !== undefined && keys.get(key) === ended) {
      keys.delete(key);
      if (keys.size === 0) this.#byKey.delete(ended.sessionId);
      if (this.#keyRemembered(ended)) this.#orphanKeys.set(orphanSlot(ended.sessionId, key), ended);
    }
  }
}

// Session ids are hex, so a NUL cannot occur in them and the pair maps to one string unambiguously.
function orphanSlot(sessionId: string, key: string): string {
  return `${sessionId}\u0000${key}`;
}
