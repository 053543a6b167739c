/**
 * Which lease each (session, request key) pair was granted, for idempotent checkout (DESIGN §3.5: a
 * retried checkout returns the same lease, never a second seat). Only grants are remembered: a
 * denial is re-evaluated when retried.
 *
 * The cache is bounded, so a key can be forgotten. For a lease that is still held that would be
 * dangerous (a retry would take a second seat), so the engine falls back to the key stored on the
 * session's live leases; what the cache alone guarantees is the answer for leases that have ended.
 */
import { LRUCache } from 'lru-cache';

export interface KeyedGrant {
  readonly leaseId: string;
  readonly feature: string;
  readonly count: number;
}

export class RequestKeys {
  readonly #cache: LRUCache<string, KeyedGrant>;
  #forgotten = false;

  constructor(max: number) {
    this.#cache = new LRUCache({
      max,
      dispose: (_grant, _slot, reason) => {
        if (reason === 'evict') this.#forgotten = true;
      },
    });
  }

  /**
   * Whether the cache ever dropped a key for lack of room. Until it has, a miss proves the key is
   * new, and the engine can skip looking through the session's live leases.
   */
  get mayHaveForgotten(): boolean {
    return this.#forgotten;
  }

  /** Keys were left out on purpose (a restore remembers only the newest): look in live leases too. */
  markForgotten(): void {
    this.#forgotten = true;
  }

  get capacity(): number {
    return this.#cache.max;
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
