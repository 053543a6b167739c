/**
 * MessagePack for the wire (PROTOCOL.md §3). Encoding uses msgpackr. Decoding uses the strict
 * reader below, because the protocol forbids things msgpackr's unpack accepts silently: extension
 * types (it turns timestamps into Dates), binary, duplicate map keys (last one wins), non-string
 * keys (stringified) and `__proto__` keys (renamed); and unbounded nesting overflows its stack.
 * The reader yields only null, booleans, safe-integer or finite-or-not numbers, strings, arrays
 * and maps that inherit nothing (see WIRE_MAP_PROTOTYPE), so nothing a peer sends can reach a
 * prototype.
 */
import { Packr, RESERVE_START_SPACE } from 'msgpackr';
import { MalformedFrameError } from './errors.js';

export type WireValue = null | boolean | number | string | WireValue[] | WireMap;
export interface WireMap {
  [key: string]: WireValue;
}

/** Deepest nesting of arrays and maps accepted (the top-level map is depth 1). */
export const MAX_DEPTH = 16;
/** Longest map key accepted, in bytes. */
export const MAX_KEY_BYTES = 64;

const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * The prototype of every decoded map: one frozen, empty object with a null prototype, so a map
 * inherits nothing (no Object.prototype members), exactly as an Object.create(null) map would. But
 * V8 keeps such maps as fast objects with hidden classes, where Object.create(null) makes hash
 * tables: several times cheaper to build, read and enumerate, on every request.
 */
export const WIRE_MAP_PROTOTYPE: object = Object.freeze(Object.create(null));

const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });

/**
 * Encodes one message map. msgpackr writes integers beyond 32 bits as float64; the protocol wants
 * every integer as a msgpack integer (§3.2), so those are handed over as BigInt, which it writes as
 * int64/uint64.
 */
export function encodeValue(value: WireMap): Buffer {
  return packr.pack(packable(value));
}

/**
 * Encodes one message map behind `reserve` bytes left for the caller (the frame header): msgpackr
 * keeps its output buffer, so the frame needs no second buffer and no copy.
 */
export function encodeValueAfter(value: WireMap, reserve: number): Buffer {
  return packr.pack(packable(value), RESERVE_START_SPACE | reserve);
}

/**
 * What to hand msgpackr for `value`: the value itself when msgpackr writes it as the protocol wants
 * (the common case: a reply has no integer beyond 32 bits), else a widened copy.
 */
function packable(value: WireMap): object {
  return packsAsIs(value, 0) ? value : (widenIntegers(value) as object);
}

/**
 * Whether msgpackr writes `value` exactly as it writes widenIntegers(value): no integer beyond 32
 * bits, no undefined member, and only plain arrays and plain objects (the copy would turn anything
 * else into a plain object). Checked without allocating; anything unusual answers false, and the
 * copy decides. `depth` bounds the walk on a cyclic value (the copy then overflows, as it always did).
 */
function packsAsIs(value: unknown, depth: number): boolean {
  if (typeof value === 'number') {
    return !(value > 0xffffffff || value < -0x80000000) || !Number.isInteger(value);
  }
  if (value === null || typeof value !== 'object') return true;
  if (depth > 64) return false;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return false;
    for (let i = 0; i < value.length; i++) if (!packsAsIs(value[i], depth + 1)) return false;
    return true;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) return false;
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined || !packsAsIs(v, depth + 1)) return false;
  }
  return true;
}

function widenIntegers(value: unknown): unknown {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && (value > 0xffffffff || value < -0x80000000)) return BigInt(value);
    return value;
  }
  if (Array.isArray(value)) return value.map(widenIntegers);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) out[k] = widenIntegers(v);
    }
    return out;
  }
  return value;
}

/** Decodes a frame payload that must hold exactly one map (PROTOCOL.md §3.1). */
export function decodeMap(payload: Uint8Array): WireMap {
  const reader = new StrictReader(payload);
  if (payload.length === 0) reader.fail('empty payload');
  const first = payload[0]!;
  const isMap = (first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf;
  if (!isMap) reader.fail('the payload is not a map');
  const value = reader.read(1);
  if (reader.pos !== payload.length) reader.fail(`${payload.length - reader.pos} bytes after the map`);
  return value as WireMap;
}

/** Validates and decodes UTF-8 in one pass; throws on anything `isUtf8` rejects (a BOM is kept). */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strings up to this many bytes are decoded in JS when they are ASCII: cheaper than a native call. */
const SHORT_STRING_BYTES = 12;

/** The short-key cache of StrictReader: a direct-mapped table of byte strings and their text. */
const KEY_SLOT_MASK = 255;
const keyBytes: (Uint8Array | undefined)[] = new Array(KEY_SLOT_MASK + 1).fill(undefined);
const keyTexts: (string | undefined)[] = new Array(KEY_SLOT_MASK + 1).fill(undefined);

class StrictReader {
  pos = 0;
  /** For floats and 64-bit integers only (rare on the wire); smaller integers are read by hand. */
  #view: DataView | undefined;

  constructor(private readonly buf: Uint8Array) {}

  fail(reason: string, at: number = this.pos): never {
    throw new MalformedFrameError(`Malformed MessagePack at byte ${at}: ${reason}.`, {
      details: { offset: at, reason },
    });
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) this.fail('unexpected end of data');
  }

  private get view(): DataView {
    const buf = this.buf;
    this.#view ??= new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    return this.#view;
  }

  private u16(): number {
    this.need(2);
    const buf = this.buf;
    const p = this.pos;
    this.pos = p + 2;
    return (buf[p]! << 8) | buf[p + 1]!;
  }

  private u32(): number {
    this.need(4);
    const buf = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return buf[p]! * 0x1000000 + ((buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!);
  }

  read(depth: number): WireValue {
    this.need(1);
    const at = this.pos;
    const b = this.buf[this.pos++]!;
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b >= 0xa0 && b <= 0xbf) return this.str(b & 0x1f);
    if (b >= 0x90 && b <= 0x9f) return this.array(b & 0x0f, depth, at);
    if (b >= 0x80 && b <= 0x8f) return this.map(b & 0x0f, depth, at);
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xca:
        this.need(4);
        this.pos += 4;
        return this.view.getFloat32(this.pos - 4);
      case 0xcb:
        this.need(8);
        this.pos += 8;
        return this.view.getFloat64(this.pos - 8);
      case 0xcc:
        this.need(1);
        return this.buf[this.pos++]!;
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf:
        this.need(8);
        this.pos += 8;
        return this.safe(this.view.getBigUint64(this.pos - 8), at);
      case 0xd0:
        this.need(1);
        return (this.buf[this.pos++]! << 24) >> 24;
      case 0xd1:
        return (this.u16() << 16) >> 16;
      case 0xd2:
        return this.u32() | 0;
      case 0xd3:
        this.need(8);
        this.pos += 8;
        return this.safe(this.view.getBigInt64(this.pos - 8), at);
      case 0xd9:
        this.need(1);
        return this.str(this.buf[this.pos++]!);
      case 0xda:
        return this.str(this.u16());
      case 0xdb:
        return this.str(this.u32());
      case 0xdc:
        return this.array(this.u16(), depth, at);
      case 0xdd:
        return this.array(this.u32(), depth, at);
      case 0xde:
        return this.map(this.u16(), depth, at);
      case 0xdf:
        return this.map(this.u32(), depth, at);
      case 0xc4:
      case 0xc5:
      case 0xc6:
        return this.fail('binary values are not used by the protocol', at);
      case 0xc7:
      case 0xc8:
      case 0xc9:
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8:
        return this.fail('extension types are not allowed', at);
      default:
        // 0xc1 is the one byte MessagePack never uses.
        return this.fail(`invalid type byte 0x${b.toString(16)}`, at);
    }
  }

  private safe(value: bigint, at: number): number {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      this.fail('integer outside ±(2^53 − 1)', at);
    }
    return Number(value);
  }

  private str(length: number): string {
    this.need(length);
    const buf = this.buf;
    const start = this.pos;
    const end = start + length;
    this.pos = end;
    if (length <= SHORT_STRING_BYTES) {
      // Keys and most values are short ASCII, which is valid UTF-8 as it stands.
      let text = '';
      let i = start;
      for (; i < end; i++) {
        const c = buf[i]!;
        if (c >= 0x80) break;
        text += String.fromCharCode(c);
      }
      if (i === end) return text;
    }
    try {
      return utf8.decode(buf.subarray(start, end));
    } catch {
      return this.fail('string is not valid UTF-8', start);
    }
  }

  /**
   * A map key: a string (anything else is refused, after it is read as before), whose byte length
   * is the one its header gives.
   */
  private key(depth: number): string {
    const keyAt = this.pos;
    this.need(1);
    const b = this.buf[this.pos]!;
    let length: number;
    if (b >= 0xa0 && b <= 0xbf) {
      this.pos++;
      length = b & 0x1f;
    } else if (b === 0xd9) {
      this.pos++;
      this.need(1);
      length = this.buf[this.pos++]!;
    } else if (b === 0xda) {
      this.pos++;
      length = this.u16();
    } else if (b === 0xdb) {
      this.pos++;
      length = this.u32();
    } else {
      this.read(depth);
      return this.fail('map keys must be strings', keyAt);
    }
    const key = length <= SHORT_STRING_BYTES ? this.shortKey(length) : this.str(length);
    if (length > MAX_KEY_BYTES) this.fail(`map key longer than ${MAX_KEY_BYTES} bytes`, keyAt);
    if (FORBIDDEN_KEYS.has(key)) this.fail(`map key '${key}' is not allowed`, keyAt);
    return key;
  }

  /**
   * A short key, from the cache when its bytes were seen before (every message repeats the same
   * few keys): no string to build, and the one returned is already V8's internalized copy.
   */
  private shortKey(length: number): string {
    this.need(length);
    const buf = this.buf;
    const start = this.pos;
    const slot =
      length === 0 ? 0 : (length * 31 + buf[start]! * 7 + buf[start + length - 1]!) & KEY_SLOT_MASK;
    const known = keyBytes[slot];
    if (known !== undefined && known.length === length) {
      let i = 0;
      while (i < length && known[i] === buf[start + i]) i++;
      if (i === length) {
        this.pos = start + length;
        return keyTexts[slot]!;
      }
    }
    const key = this.str(length);
    // Only what decoded (valid UTF-8) is kept, as a copy (the payload's memory may be reused);
    // the key checks still run on every use.
    keyBytes[slot] = new Uint8Array(buf.subarray(start, start + length));
    keyTexts[slot] = key;
    return key;
  }

  private array(count: number, depth: number, at: number): WireValue[] {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`, at);
    // Every element takes at least one byte: refuse a count the rest of the frame cannot hold
    // before allocating anything for it.
    if (count > this.buf.length - this.pos) this.fail(`array of ${count} cannot fit`, at);
    const out: WireValue[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = this.read(depth + 1);
    return out;
  }

  private map(count: number, depth: number, at: number): WireMap {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`, at);
    if (count * 2 > this.buf.length - this.pos) this.fail(`map of ${count} cannot fit`, at);
    const out = Object.create(WIRE_MAP_PROTOTYPE) as WireMap;
    for (let i = 0; i < count; i++) {
      const keyAt = this.pos;
      const key = this.key(depth + 1);
      // Decoded values are never undefined and nothing is inherited: a member that is there reads
      // as something.
      if (out[key] !== undefined) this.fail(`duplicate map key '${key}'`, keyAt);
      out[key] = this.read(depth + 1);
    }
    return out;
  }
}
