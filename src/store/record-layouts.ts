/**
 * Compact binary layouts for the journal records written at scale (issue 8): a grant per checkout,
 * a release per checkin, a session opened and ended per client. Replaying a million of them after a
 * kill -9 must take well under a second, and MessagePack spent most of that time re-reading every
 * map key and building every string anew; so these records are laid out as fixed fields in a fixed
 * order, and everything else stays MessagePack (record-codec.ts).
 *
 * The store still treats records as opaque: a record takes a layout only if it has exactly the
 * layout's shape — the `t` it names first, then the layout's fields in the layout's order, no other
 * key, strings where strings go and non-negative safe integers where numbers go. Anything else, a
 * record of a type added to the engine later included, falls back to MessagePack, so a drift from
 * src/engine/journal-records.ts costs speed, never data. Decoding rebuilds the same object:
 * same keys, same order, same values.
 *
 * Payload of a compact record:
 *
 *   byte 0   layout code (RecordLayoutCode, 0x01..0x7f). A MessagePack payload of an object, which
 *            is what every earlier version wrote, starts with a map, array, bin, ext or nil byte
 *            (0x80 and up), so the first byte tells the two apart and old journals still decode.
 *   byte 1   presence bits of the optional fields, in layout order (only in layouts that have any)
 *   then     each field present, in layout order:
 *              string   byte length as a varint, then UTF-8
 *              integer  varint
 *
 * A varint is an unsigned LEB128: 7 bits a byte, low group first, high bit set on every byte but
 * the last; at most 8 bytes (2^53 - 1 needs 53 bits).
 */
import { RecordCorruptError } from './errors.js';

export const RecordLayoutCode = {
  Granted: 0x01,
  Released: 0x02,
  SessionOpened: 0x03,
  SessionEnded: 0x04,
  Reclaimed: 0x05,
} as const;
export type RecordLayoutCode = (typeof RecordLayoutCode)[keyof typeof RecordLayoutCode];

/** Presence bits of a grant with a request key and a claim type, and of one with just the type. */
const GRANT_KEY_TYPE = 1 | 4;
const GRANT_TYPE = 4;

/** Payloads whose first byte is below this are compact; from it on, MessagePack. */
export const FIRST_MSGPACK_BYTE = 0x80;

interface Field {
  readonly key: string;
  readonly integer: boolean;
  readonly optional: boolean;
  /** An optional field's bit in the presence byte; 0 for the others. */
  readonly bit: number;
}

interface Layout {
  readonly code: RecordLayoutCode;
  readonly fields: readonly Field[];
  readonly hasOptional: boolean;
}

const str = (key: string): Field => ({ key, integer: false, optional: false, bit: 0 });
const int = (key: string): Field => ({ key, integer: true, optional: false, bit: 0 });
const opt = (key: string): Field => ({ key, integer: false, optional: true, bit: 0 });

function layout(code: RecordLayoutCode, fields: Field[]): Layout {
  let bit = 1;
  const numbered = fields.map((f) => {
    if (!f.optional) return f;
    const withBit = { ...f, bit };
    bit <<= 1;
    return withBit;
  });
  if (bit > 0x100) throw new Error('At most 8 optional fields fit the presence byte.');
  return { code, fields: numbered, hasOptional: bit > 1 };
}

/**
 * By record type `t`. Field order is the order src/engine/journal-records.ts builds the records in;
 * the decoders in `decodeCompact` below spell the same layouts out by hand, for speed.
 */
const LAYOUTS = new Map<unknown, Layout>([
  [
    'g',
    layout(RecordLayoutCode.Granted, [
      str('id'),
      str('s'),
      str('f'),
      int('n'),
      int('fe'),
      opt('k'),
      opt('j'),
      opt('ty'),
      opt('gr'),
    ]),
  ],
  ['r', layout(RecordLayoutCode.Released, [str('id')])],
  [
    's+',
    layout(RecordLayoutCode.SessionOpened, [str('id'), str('h'), str('u'), str('o'), str('c'), opt('d')]),
  ],
  ['s-', layout(RecordLayoutCode.SessionEnded, [str('id'), str('why')])],
  ['x', layout(RecordLayoutCode.Reclaimed, [str('id'), str('why')])],
]);

/** Room for the layout code and the presence byte. */
const FIXED_BYTES = 2;
const MAX_VARINT_BYTES = 8;

// The fields found by encodeCompact's shape check, kept for its write pass: reading them again by
// name would be a keyed lookup per field, which costs more than the rest of the encoding.
const foundFields: Field[] = [];
const foundValues: unknown[] = [];

/**
 * Writes `record` in its compact layout into `out` from `at` on, and returns the offset just past
 * it; or returns -1, having written nothing that matters, when the record has no layout or might
 * not fit before `limit` (a record with very long strings): the caller then uses MessagePack.
 */
export function encodeCompact(record: object, out: Buffer, at: number, limit: number): number {
  const fields = record as Record<string, unknown>;
  const layout = LAYOUTS.get(fields.t);
  if (layout === undefined) return -1;

  // One pass over the record's own keys checks the shape: `t` first, then the layout's fields in
  // order (optional ones may be missing), nothing else. It also bounds the encoded size.
  const { fields: wanted } = layout;
  let next = -1;
  let found = 0;
  let present = 0;
  let bound = at + FIXED_BYTES;
  for (const key in fields) {
    if (next === -1) {
      if (key !== 't') return -1;
      next = 0;
      continue;
    }
    let field: Field | undefined;
    for (;;) {
      field = wanted[next++];
      if (field === undefined) return -1;
      if (field.key === key) break;
      if (!field.optional) return -1;
    }
    const value = fields[key];
    if (field.integer) {
      if (!isVarintValue(value)) return -1;
      bound += MAX_VARINT_BYTES;
    } else {
      if (typeof value !== 'string') return -1;
      bound += MAX_VARINT_BYTES + value.length * 3;
    }
    present |= field.bit;
    foundFields[found] = field;
    foundValues[found++] = value;
  }
  for (; next < wanted.length; next++) if (!wanted[next]!.optional) return -1;
  if (bound > limit) return -1;

  out[at++] = layout.code;
  if (layout.hasOptional) out[at++] = present;
  for (let i = 0; i < found; i++) {
    const value = foundValues[i];
    at = foundFields[i]!.integer
      ? writeVarint(out, at, value as number)
      : writeString(out, at, value as string);
    foundValues[i] = undefined;
  }
  return at;
}

function isVarintValue(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[at++] = value;
  return at;
}

function writeString(out: Buffer, at: number, value: string): number {
  const length = value.length;
  if (length < NATIVE_WRITE_FROM) {
    // Short and ASCII (most are): a length byte, then a byte per char.
    let p = at + 1;
    let i = 0;
    for (; i < length; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) break;
      out[p++] = c;
    }
    if (i === length) {
      out[at] = length;
      return p;
    }
  }
  // Written after a one-byte length, which is right for anything under 128 bytes; a longer string
  // is moved up to make room for its longer length.
  const bytes = out.write(value, at + 1, 'utf8');
  if (bytes < 0x80) {
    out[at] = bytes;
    return at + 1 + bytes;
  }
  const lengthBytes = writeVarint(scratchVarint, 0, bytes);
  out.copyWithin(at + lengthBytes, at + 1, at + 1 + bytes);
  scratchVarint.copy(out, at, 0, lengthBytes);
  return at + lengthBytes + bytes;
}

/** From this length on, Buffer#write (native) beats a loop over the chars. */
const NATIVE_WRITE_FROM = 24;
const scratchVarint = Buffer.alloc(MAX_VARINT_BYTES);

// Decoding. The reader state lives in module variables rather than an object: it is the innermost
// loop of a restart, run a million times, and this keeps it free of allocations besides the record
// and its strings.

let src: Buffer = Buffer.alloc(0);
let pos = 0;
let limit = 0;
let recordOffset = 0;

/**
 * Decodes the compact payload `data[start..end)` of the record at `offset` (for errors). Throws
 * RecordCorruptError if the payload does not follow its layout; the checksum matched, so that means
 * a writer bug or deliberate tampering, not a disk fault.
 */
export function decodeCompact(data: Buffer, offset: number, start: number, end: number): object {
  src = data;
  pos = start + 1;
  limit = end;
  recordOffset = offset;
  let record: object;
  switch (data[start]) {
    case RecordLayoutCode.Granted: {
      const present = byte();
      const id = string();
      const s = sharedString();
      const f = sharedString();
      const n = varint();
      const fe = varint();
      // The two shapes nearly every grant has are built whole, so the object gets all its fields
      // in one allocation; the rest add the optional fields one by one.
      if (present === GRANT_KEY_TYPE) {
        record = { t: 'g', id, s, f, n, fe, k: string(), ty: sharedString() };
      } else if (present === GRANT_TYPE) {
        record = { t: 'g', id, s, f, n, fe, ty: sharedString() };
      } else {
        const r: Record<string, unknown> = { t: 'g', id, s, f, n, fe };
        if (present & 1) r.k = string();
        if (present & 2) r.j = string();
        if (present & 4) r.ty = sharedString();
        if (present & 8) r.gr = sharedString();
        checkUnused(present, 4);
        record = r;
      }
      break;
    }
    case RecordLayoutCode.Released:
      record = { t: 'r', id: string() };
      break;
    case RecordLayoutCode.SessionOpened: {
      const present = byte();
      const r: Record<string, unknown> = {
        t: 's+',
        id: string(),
        h: string(),
        u: sharedString(),
        o: sharedString(),
        c: sharedString(),
      };
      if (present & 1) r.d = sharedString();
      checkUnused(present, 1);
      record = r;
      break;
    }
    case RecordLayoutCode.SessionEnded:
      record = { t: 's-', id: string(), why: sharedString() };
      break;
    case RecordLayoutCode.Reclaimed:
      record = { t: 'x', id: string(), why: sharedString() };
      break;
    default:
      throw new RecordCorruptError(offset, `unknown record layout 0x${hex2(data[start]!)}`);
  }
  if (pos !== end) malformed(`${end - pos} bytes left over`);
  return record;
}

function malformed(what: string): never {
  throw new RecordCorruptError(recordOffset, `the payload does not follow its layout (${what})`);
}

function checkUnused(present: number, optionalFields: number): void {
  if (present >>> optionalFields !== 0) malformed(`presence bits 0x${hex2(present)}`);
}

function byte(): number {
  if (pos >= limit) malformed('it ends early');
  return src[pos++]!;
}

function varint(): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    const b = byte();
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      if (value > Number.MAX_SAFE_INTEGER) malformed('an integer past 2^53 - 1');
      return value;
    }
    scale *= 0x80;
  }
  return malformed('a varint longer than 8 bytes');
}

const fromCharCode = String.fromCharCode;

/** A string field that rarely repeats (ids, keys, hashes). */
function string(): string {
  const length = varint();
  const start = pos;
  if (length > limit - start) malformed('a string runs past the end');
  pos = start + length;
  return text(start, length);
}

/** The string of `length` bytes at `start`, which the caller checked are there. */
function text(start: number, length: number): string {
  const b = src;
  // Below 4 bytes building the string in JS beats the native call (msgpackr does the same).
  switch (length) {
    case 0:
      return '';
    case 1:
      if (b[start]! < 0x80) return fromCharCode(b[start]!);
      break;
    case 2:
      if ((b[start]! | b[start + 1]!) < 0x80) return fromCharCode(b[start]!, b[start + 1]!);
      break;
    case 3:
      if ((b[start]! | b[start + 1]! | b[start + 2]!) < 0x80)
        return fromCharCode(b[start]!, b[start + 1]!, b[start + 2]!);
      break;
  }
  return b.toString('utf8', start, start + length);
}

/**
 * Strings that recur across records (session ids in grants, feature names, users, hosts, reasons)
 * are looked up in a small hash table keyed by their bytes instead of being built again: comparing
 * bytes is cheaper than making a string, and the engine then gets one string per value, with its
 * hash already computed, for its maps. ASCII only, so that a byte compares with a char.
 */
const SHARED_SLOTS = 4096;
const SHARED_MAX_BYTES = 64;
const SHARED_HASH_BYTES = 12;
const shared: (string | undefined)[] = new Array<string | undefined>(SHARED_SLOTS).fill(undefined);

function sharedString(): string {
  const length = varint();
  const start = pos;
  if (length > limit - start) malformed('a string runs past the end');
  const end = start + length;
  pos = end;
  if (length > SHARED_MAX_BYTES) return text(start, length);
  // Hashing a prefix is enough to pick a slot; the comparison below checks every byte.
  const b = src;
  let hash = length;
  const hashEnd = Math.min(end, start + SHARED_HASH_BYTES);
  for (let i = start; i < hashEnd; i++) hash = Math.imul(hash ^ b[i]!, 0x01000193);
  const slot = (hash ^ (hash >>> 15)) & (SHARED_SLOTS - 1);
  const cached = shared[slot];
  if (cached !== undefined && cached.length === length) {
    let i = 0;
    while (i < length && cached.charCodeAt(i) === b[start + i]) i++;
    if (i === length) return cached;
  }
  const value = text(start, length);
  // As many chars as bytes: ASCII, so the byte comparison above is valid for it.
  if (value.length === length) shared[slot] = value;
  return value;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
