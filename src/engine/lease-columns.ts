/**
 * The numbers of a feature pool's held leases (count, fencing token, grant, activity and idle-entry
 * times), kept in typed-array columns indexed by a slot that each LeaseRecord holds, instead of in
 * fields of the lease object.
 *
 * Why (DESIGN §7: ≤ 300 B per held lease at 1,000,000): a field of an object costs 8 bytes, and a
 * time the daemon reads from performance.now() is fractional, so V8 keeps it in a heap number of
 * its own (16 more bytes) that every lease retains. A column costs 8 bytes for a time or a fencing
 * token and 2 for a count, with no heap numbers at all: 26 bytes a lease (34 with idle tracking).
 *
 * Columns grow by doubling; a freed slot goes onto a free list threaded through the fencing column
 * and is handed out again before the columns grow. A slot is freed when its lease leaves the pool
 * (pool-leases.ts), after its numbers were copied out (LeaseNumbers): nothing may read a freed slot
 * as if it were still the old lease's, because the next grant takes it over.
 */

/**
 * A count column cell too small for the count: the count is in `#largeCounts`. Counts are seats or
 * tokens, almost always small; two bytes hold up to 65,534.
 */
const LARGE_COUNT = 0xffff;
/** The end of the free list. */
const NO_SLOT = -1;
/** Rows of the first columns a pool gets, at its first lease. */
const FIRST_CAPACITY = 16;
/**
 * The columns of a pool that never granted a lease: shared, and never written (a write needs a
 * slot, which needs capacity, which replaces them). A typed array costs ~200 bytes even when empty,
 * and every configured feature, and every probe of a new configuration, has a pool.
 */
const NO_COUNTS = new Uint16Array(0);
const NO_NUMBERS = new Float64Array(0);

/** A lease's numbers outside the columns: those of a lease that has left its pool (LeaseRecord). */
export class LeaseNumbers {
  count: number;
  fencing: number;
  grantedAt: number;
  lastActivityAt: number;
  idleArmedAt: number | undefined;

  constructor(
    count: number,
    fencing: number,
    grantedAt: number,
    lastActivityAt: number,
    idleArmedAt: number | undefined,
  ) {
    this.count = count;
    this.fencing = fencing;
    this.grantedAt = grantedAt;
    this.lastActivityAt = lastActivityAt;
    this.idleArmedAt = idleArmedAt;
  }
}

export class LeaseColumns {
  /** LARGE_COUNT: see #largeCounts. */
  #counts = NO_COUNTS;
  /**
   * Float64, not Uint32: fencing tokens are engine-wide and strictly increase across restarts. Of
   * a free slot: the next free slot, or NO_SLOT.
   */
  #fencing = NO_NUMBERS;
  #grantedAt = NO_NUMBERS;
  #lastActivityAt = NO_NUMBERS;
  /**
   * NaN for "no live idle entry". Made at the first armed entry: a pool without an idle timeout,
   * the common case, never tracks idleness and needs no column for it.
   */
  #idleArmedAt: Float64Array | undefined = undefined;
  /** Counts of LARGE_COUNT or more (valid: any safe integer), by slot; absent while there are none. */
  #largeCounts: Map<number, number> | undefined = undefined;
  /** The first free slot below #used, or NO_SLOT. */
  #free = NO_SLOT;
  /** Slots handed out at least once: [0, #used); the rest of the capacity is untouched. */
  #used = 0;
  #live = 0;

  /** Slots held by a lease. */
  get size(): number {
    return this.#live;
  }

  /** Rows of each column (the memory is capacity × 26 bytes, 34 with idle tracking). */
  get capacity(): number {
    return this.#counts.length;
  }

  /** Takes a slot for a new lease granted at `at`, whose last activity is its grant. */
  allocate(count: number, fencing: number, at: number): number {
    const slot = this.#takeSlot();
    this.#live++;
    this.#setCount(slot, count);
    this.#fencing[slot] = fencing;
    this.#grantedAt[slot] = at;
    this.#lastActivityAt[slot] = at;
    if (this.#idleArmedAt !== undefined) this.#idleArmedAt[slot] = Number.NaN;
    return slot;
  }

  /** Copies a slot's numbers out, so they outlive the slot (LeaseRecord.retire). */
  numbers(slot: number): LeaseNumbers {
    return new LeaseNumbers(
      this.count(slot),
      this.fencing(slot),
      this.grantedAt(slot),
      this.lastActivityAt(slot),
      this.idleArmedAt(slot),
    );
  }

  /** Returns a slot to the free list: the next allocate may hand it to another lease. */
  free(slot: number): void {
    this.#largeCounts?.delete(slot);
    this.#fencing[slot] = this.#free;
    this.#free = slot;
    this.#live--;
  }

  count(slot: number): number {
    const count = this.#counts[slot] as number;
    return count === LARGE_COUNT ? (this.#largeCounts?.get(slot) as number) : count;
  }

  fencing(slot: number): number {
    return this.#fencing[slot] as number;
  }

  grantedAt(slot: number): number {
    return this.#grantedAt[slot] as number;
  }

  lastActivityAt(slot: number): number {
    return this.#lastActivityAt[slot] as number;
  }

  setLastActivityAt(slot: number, at: number): void {
    this.#lastActivityAt[slot] = at;
  }

  idleArmedAt(slot: number): number | undefined {
    const column = this.#idleArmedAt;
    if (column === undefined) return undefined;
    const at = column[slot] as number;
    return Number.isNaN(at) ? undefined : at;
  }

  setIdleArmedAt(slot: number, at: number | undefined): void {
    let column = this.#idleArmedAt;
    if (column === undefined) {
      if (at === undefined) return;
      column = this.#idleArmedAt = new Float64Array(this.capacity).fill(Number.NaN);
    }
    // A deadline is never NaN (deadline-heap.ts refuses one), so NaN can stand for "none".
    column[slot] = at ?? Number.NaN;
  }

  #takeSlot(): number {
    const free = this.#free;
    if (free !== NO_SLOT) {
      this.#free = this.#fencing[free] as number;
      return free;
    }
    if (this.#used === this.capacity) this.#grow();
    return this.#used++;
  }

  #setCount(slot: number, count: number): void {
    if (count < LARGE_COUNT) {
      this.#counts[slot] = count;
      return;
    }
    this.#counts[slot] = LARGE_COUNT;
    this.#largeCounts ??= new Map();
    this.#largeCounts.set(slot, count);
  }

  #grow(): void {
    const capacity = Math.max(FIRST_CAPACITY, this.capacity * 2);
    this.#counts = grown(this.#counts, new Uint16Array(capacity));
    this.#fencing = grown(this.#fencing, new Float64Array(capacity));
    this.#grantedAt = grown(this.#grantedAt, new Float64Array(capacity));
    this.#lastActivityAt = grown(this.#lastActivityAt, new Float64Array(capacity));
    if (this.#idleArmedAt !== undefined) {
      const idle = new Float64Array(capacity).fill(Number.NaN);
      this.#idleArmedAt = grown(this.#idleArmedAt, idle);
    }
  }
}

/** `to`, with `from` copied into its first rows. */
function grown<T extends Uint16Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
