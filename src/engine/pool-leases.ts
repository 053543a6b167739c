/**
 * A feature pool's leases in grant order, as a doubly linked list threaded through the leases
 * themselves (LeaseRecord.poolPrev / poolNext). A Set would do the same job, but a million leases
 * may be held at once (DESIGN §7): its entries cost more than the two links, and a restore spends
 * ~0.5 s hashing a million leases into it.
 *
 * It also holds their numbers (lease-columns.ts): a lease takes a slot when it is made, and gives
 * it back when it leaves this list, which happens once, when it ends (LeaseBook.remove).
 */
import { LeaseColumns } from './lease-columns.js';
import type { LeaseRecord } from './lease-record.js';

export class PoolLeases implements Iterable<LeaseRecord> {
  /** The numbers of the pool's leases, and of leases made for it and not yet added. */
  readonly columns = new LeaseColumns();
  #first: LeaseRecord | undefined = undefined;
  #last: LeaseRecord | undefined = undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Appends a lease that is in no pool's list. */
  add(lease: LeaseRecord): void {
    lease.poolPrev = this.#last;
    lease.poolNext = undefined;
    if (this.#last === undefined) this.#first = lease;
    else this.#last.poolNext = lease;
    this.#last = lease;
    this.#size++;
  }

  /**
   * Unlinks a lease of this list and frees its slot (it keeps a copy of its numbers); one that is
   * not in it is left alone.
   */
  delete(lease: LeaseRecord): void {
    const { poolPrev: prev, poolNext: next } = lease;
    if (prev === undefined ? this.#first !== lease : prev.poolNext !== lease) return;
    if (prev === undefined) this.#first = next;
    else prev.poolNext = next;
    if (next === undefined) this.#last = prev;
    else next.poolPrev = prev;
    lease.poolPrev = undefined;
    lease.poolNext = undefined;
    this.#size--;
    lease.retire();
  }

  /** Walks the list; the lease just handed out may be deleted meanwhile, no other. */
  *values(): IterableIterator<LeaseRecord> {
    let lease = this.#first;
    while (lease !== undefined) {
      const next = lease.poolNext;
      yield lease;
      lease = next;
    }
  }

  [Symbol.iterator](): IterableIterator<LeaseRecord> {
    return this.values();
  }
}
