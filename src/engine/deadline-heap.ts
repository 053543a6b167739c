/**
 * A binary min-heap of items keyed by a deadline (clock ms), for expiry that costs what comes due
 * rather than a scan of everything alive (DESIGN §7: "expiry sweep cost proportional to the leases
 * that expire").
 *
 * Removal and rescheduling are lazy: a heartbeat only moves a field on its record, and the entry
 * stays where it is. When an entry's time comes, `drainDue` asks the owner what to do: re-insert
 * it at the real (later) deadline, or finish it (it was due and handled, or it is stale and is
 * dropped). Equal deadlines come out in insertion order, so expiry is deterministic.
 *
 * Entries live in three parallel arrays rather than one object each: no allocation per push.
 */
export class DeadlineHeap<T> {
  #at: number[] = [];
  #seq: number[] = [];
  #items: T[] = [];
  #nextSeq = 0;
  #popped = 0;

  /** Entries in the heap, stale ones included. */
  get size(): number {
    return this.#at.length;
  }

  /** Entries popped since construction: the work expiry has done (tests assert on it, never on time). */
  get popped(): number {
    return this.#popped;
  }

  push(at: number, item: T): void {
    if (Number.isNaN(at)) throw new RangeError('A deadline cannot be NaN.');
    this.#at.push(at);
    this.#seq.push(this.#nextSeq++);
    this.#items.push(item);
    this.#siftUp(this.#at.length - 1);
  }

  /** The earliest deadline in the heap; it may belong to a stale entry. */
  peekAt(): number | undefined {
    return this.#at[0];
  }

  /** Removes and returns the earliest entry. */
  pop(): { at: number; item: T } | undefined {
    const last = this.#at.length - 1;
    if (last < 0) return undefined;
    const at = this.#at[0]!;
    const item = this.#items[0]!;
    this.#move(last, 0);
    this.#at.pop();
    this.#seq.pop();
    this.#items.pop();
    if (last > 0) this.#siftDown(0);
    this.#popped++;
    return { at, item };
  }

  /**
   * Pops every entry whose deadline is <= `now`, earliest first, and hands it to `visit`, which
   * returns a later deadline to re-insert the item at, or undefined when the entry is finished.
   * `visit` may push new entries. Returns the number of entries popped.
   */
  drainDue(now: number, visit: (item: T, at: number) => number | undefined): number {
    let popped = 0;
    while (this.#at.length > 0 && this.#at[0]! <= now) {
      const entry = this.pop()!;
      popped++;
      const later = visit(entry.item, entry.at);
      if (later === undefined) continue;
      // A re-insert at or before `now` would come straight back out: an endless loop.
      if (!(later > now)) {
        throw new RangeError(`A re-inserted deadline must be later than now (${now}); got ${later}.`);
      }
      this.push(later, entry.item);
    }
    return popped;
  }

  #before(i: number, j: number): boolean {
    const ai = this.#at[i]!;
    const aj = this.#at[j]!;
    return ai < aj || (ai === aj && this.#seq[i]! < this.#seq[j]!);
  }

  #move(from: number, to: number): void {
    this.#at[to] = this.#at[from]!;
    this.#seq[to] = this.#seq[from]!;
    this.#items[to] = this.#items[from]!;
  }

  #swap(i: number, j: number): void {
    const at = this.#at[i]!;
    const seq = this.#seq[i]!;
    const item = this.#items[i]!;
    this.#move(j, i);
    this.#at[j] = at;
    this.#seq[j] = seq;
    this.#items[j] = item;
  }

  #siftUp(index: number): void {
    let i = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(i, parent)) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #siftDown(index: number): void {
    const n = this.#at.length;
    let i = index;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) return;
      const right = left + 1;
      const child = right < n && this.#before(right, left) ? right : left;
      if (!this.#before(child, i)) return;
      this.#swap(i, child);
      i = child;
    }
  }
}
