/**
 * How recently ended leases ended, so a late heartbeat, checkin or retried checkout gets the right
 * answer (DESIGN §3.4: a stale token fails with LEASE_REVOKED / LEASE_EXPIRED) instead of a bare
 * LEASE_NOT_FOUND. Bounded: the oldest tombstones are forgotten first, after which the answer
 * degrades to LEASE_NOT_FOUND, which is still a refusal.
 */
import { LRUCache } from 'lru-cache';
import type { ReclaimReason } from '../protocol/codes.js';

/** The holder checked the lease in (or closed its session); every other ending is a reclaim. */
export const CHECKED_IN = 'checked_in';
export type LeaseEnding = typeof CHECKED_IN | ReclaimReason;

export interface LeaseTombstone {
  readonly sessionId: string;
  readonly fencing: number;
  readonly ending: LeaseEnding;
}

export class LeaseTombstones {
  readonly #cache: LRUCache<string, LeaseTombstone>;

  constructor(max: number) {
    this.#cache = new LRUCache({ max });
  }

  remember(leaseId: string, tombstone: LeaseTombstone): void {
    this.#cache.set(leaseId, tombstone);
  }

  get(leaseId: string): LeaseTombstone | undefined {
    return this.#cache.get(leaseId);
  }

  has(leaseId: string): boolean {
    return this.#cache.has(leaseId);
  }

  get size(): number {
    return this.#cache.size;
  }
}
