/**
 * MessagePack for the wire (PROTOCOL.md §3). Encoding uses msgpackr. Decoding uses the strict
 * reader below, because the protocol forbids things msgpackr's unpack accepts silently: extension
 * types (it turns timestamps into Dates), binary, duplicate map keys (last one wins), non-string
 * keys (stringified) and `__proto__` keys (renamed); and unbounded nesting overflows its stack.
 * The reader yields only null, booleans, safe-integer or finite-or-not numbers, strings, arrays
 * and null-prototype objects, so nothing a peer sends can reach a prototype.
 */
import { isUtf8 } from 'node:buffer';
import { Packr } from 'msgpackr';
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

const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });

/**
 * Encodes one message map. msgpackr writes integers beyond 32 bits as float64; the protocol wants
 * every integer as a msgpack integer (§3.2), so those are handed over as BigInt, which it writes as
 * int64/uint64.
 */
export function encodeValue(value: WireMap): Buffer {
  return packr.pack(widenIntegers(value) as object);
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

class StrictReader {
  pos = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  fail(reason: string, at: number = this.pos): never {
    throw new MalformedFrameError(`Malformed MessagePack at byte ${at}: ${reason}.`, {
      details: { offset: at, reason },
    });
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) this.fail('unexpected end of data');
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
    const v = this.view;
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
        return v.getFloat32(this.pos - 4);
      case 0xcb:
        this.need(8);
        this.pos += 8;
        return v.getFloat64(this.pos - 8);
      case 0xcc:
        this.need(1);
        return this.buf[this.pos++]!;
      case 0xcd:
        this.need(2);
        this.pos += 2;
        return v.getUint16(this.pos - 2);
      case 0xce:
        this.need(4);
        this.pos += 4;
        return v.getUint32(this.pos - 4);
      case 0xcf:
        this.need(8);
        this.pos += 8;
        return this.safe(v.getBigUint64(this.pos - 8), at);
      case 0xd0:
        this.need(1);
        this.pos += 1;
        return v.getInt8(this.pos - 1);
      case 0xd1:
        this.need(2);
        this.pos += 2;
        return v.getInt16(this.pos - 2);
      case 0xd2:
        this.need(4);
        this.pos += 4;
        return v.getInt32(this.pos - 4);
      case 0xd3:
        this.need(8);
        this.pos += 8;
        return this.safe(v.getBigInt64(this.pos - 8), at);
      case 0xd9:
        this.need(1);
        return this.str(this.buf[this.pos++]!);
      case 0xda:
        this.need(2);
        this.pos += 2;
        return this.str(v.getUint16(this.pos - 2));
      case 0xdb:
        this.need(4);
        this.pos += 4;
        return this.str(v.getUint32(this.pos - 4));
      case 0xdc:
        this.need(2);
        this.pos += 2;
        return this.array(v.getUint16(this.pos - 2), depth, at);
      case 0xdd:
        this.need(4);
        this.pos += 4;
        return this.array(v.getUint32(this.pos - 4), depth, at);
      case 0xde:
        this.need(2);
        this.pos += 2;
        return this.map(v.getUint16(this.pos - 2), depth, at);
      case 0xdf:
        this.need(4);
        this.pos += 4;
        return this.map(v.getUint32(this.pos - 4), depth, at);
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
    const start = this.pos;
    this.pos += length;
    const bytes = this.buf.subarray(start, this.pos);
    if (!isUtf8(bytes)) this.fail('string is not valid UTF-8', start);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
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
    const out = Object.create(null) as WireMap;
    for (let i = 0; i < count; i++) {
      const keyAt = this.pos;
      const key = this.read(depth + 1);
      if (typeof key !== 'string') this.fail('map keys must be strings', keyAt);
      if (Buffer.byteLength(key) > MAX_KEY_BYTES)
        this.fail(`map key longer than ${MAX_KEY_BYTES} bytes`, keyAt);
      if (FORBIDDEN_KEYS.has(key)) this.fail(`map key '${key}' is not allowed`, keyAt);
      if (Object.hasOwn(out, key)) this.fail(`duplicate map key '${key}'`, keyAt);
      out[key] = this.read(depth + 1);
    }
    return out;
  }
}
