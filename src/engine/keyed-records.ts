/**
 * A session's leases or waiters: in insertion order, each found by its request key (DESIGN §3.5: a
 * retried checkout finds what its key got). One Map does both jobs: a record is filed under its key,
 * or under itself when it has none (or when another record holds the key already), and a record
 * object is never equal to a string key.
 *
 * A lone record is held without a Map, which is made at the second: a million sessions may be open
 * (DESIGN §7), most holding one lease and waiting in no queue, and a Map costs ~170 bytes.
 */
export class KeyedRecords<T extends { readonly key: string | undefined }> implements Iterable<T> {
  /** The record while there is exactly one and no Map. */
  #one: T | undefined = undefined;
  #map: Map<string | T, T> | undefined = undefined;

  get size(): number {
    if (this.#map !== undefined) return this.#map.size;
    return this.#one === undefined ? 0 : 1;
  }

  add(record: T): void {
    if (this.#map === undefined) {
      const one = this.#one;
      if (one === undefined) {
        this.#one = record;
        return;
      }
      this.#one = undefined;
      this.#map = new Map();
      file(this.#map, one);
    }
    file(this.#map, record);
  }

  delete(record: T): void {
    const map = this.#map;
    if (map === undefined) {
      if (this.#one === record) this.#one = undefined;
      return;
    }
    const key = record.key;
    if (key !== undefined && map.get(key) === record) map.delete(key);
    else map.delete(record);
    if (map.size === 0) this.#map = undefined;
  }

  /** The record filed under `key`: the first one added with it that is still here. */
  withKey(key: string): T | undefined {
    if (this.#map !== undefined) return this.#map.get(key);
    const one = this.#one;
    return one !== undefined && one.key === key ? one : undefined;
  }

  values(): IterableIterator<T> {
    if (this.#map !== undefined) return this.#map.values();
    return (this.#one === undefined ? [] : [this.#one]).values();
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.values();
  }
}

/**
 * Files a record under its key, or under itself. A function rather than a private method: a class
 * with private methods gives every instance a hidden brand field, and every session has two
 * KeyedRecords (DESIGN §7).
 */
function file<T extends { readonly key: string | undefined }>(map: Map<string | T, T>, record: T): void {
  const key = record.key;
  map.set(key === undefined || map.has(key) ? record : key, record);
}
