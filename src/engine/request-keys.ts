/**
 * Which lease each (session, request key) pair was granted, for idempotent checkout (DESIGN §3.5: a
 * retried checkout returns the same lease, never a second seat). Only grants are remembered: a
 * denial is re-evaluated when retried.
 *
 * Only keys of leases that have ended are kept here: a held lease is found by its key among its
 * session's leases (session-record.ts), which never forgets one, so a retry can never take a
 * second seat. The cache is bounded: the key of a lease that ended long ago may be forgotten, and a
 * checkout with it is then a new checkout. Keeping held leases' keys out of it also spares a
 * million-lease engine a million cache entries (DESIGN §7).
 */
import { LRUCache } from 'lru-cache';

export interface KeyedGrant {
  readonly leaseId: string;
  readonly feature: string;
  readonly count: number;
}

export class RequestKeys {
  readonly #cache: LRUCache<string, KeyedGrant>;

  constructor(max: number) {
    this.#cache = new LRUCache({ max });
  }

  remember(sessionId: string, key: string, grant: KeyedGrant): void {
    this.#cache.set(RequestKeys.#slot(sessionId, key), grant);
  }

  get(sessionId: string, key: string): KeyedGrant | undefined {
    return this.#cache.get(RequestKeys.#slot(sessionId, key));
  }

  // Session ids are hex, so a NUL cannot occur in them and the pair maps to one string unambiguously.
  static #slot(sessionId: string, key: string): string {
    return `${sessionId}\u0000${key}`;
  }
}
