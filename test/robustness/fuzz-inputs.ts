/**
 * Hostile inputs for the fuzz properties (issue 9 §4): mutated protocol vectors, deeply nested
 * MessagePack, huge declared lengths, and near-miss field values. Everything is built from the
 * normative vectors (protocol/vectors/) so the fuzzing starts close to what a real peer sends.
 */
import fc from 'fast-check';
import { clientVectors, framingVectors, invalidVectors } from '../helpers/vectors.js';

export const SOAK = process.env.SOAK === '1';
/** Fixed, so a failure reproduces; FUZZ_SEED=n explores other corners (fast-check prints the seed). */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 0x1ea5e9);
/** Cases per property: `base` in npm test, ten times that under SOAK=1. */
export const runs = (base: number): number => (SOAK ? base * 10 : base);

const hex = (h: string): Buffer => Buffer.from(h, 'hex');

/** Every valid and invalid client frame of the vectors, whole (length prefix included). */
export const VECTOR_FRAMES: readonly Buffer[] = [...clientVectors, ...invalidVectors].map((v) => hex(v.hex));
/** Framing vectors are byte streams (several frames, cut headers, bad lengths). */
export const VECTOR_STREAMS: readonly Buffer[] = [...VECTOR_FRAMES, ...framingVectors.map((v) => hex(v.hex))];

/** Field names of each client request type, as the vectors use them. */
export const FIELDS_BY_TYPE: ReadonlyMap<string, readonly string[]> = (() => {
  const out = new Map<string, Set<string>>();
  for (const v of clientVectors) {
    const type = String(v.message.type);
    const keys = out.get(type) ?? new Set<string>();
    for (const k of Object.keys(v.message)) if (k !== 'type') keys.add(k);
    out.set(type, keys);
  }
  return new Map([...out].map(([t, keys]) => [t, [...keys]]));
})();

/** The decoded message of each valid client vector, to start near-miss mutations from. */
export const VALID_MESSAGES: readonly Record<string, unknown>[] = clientVectors.map((v) => v.message);

// ---- byte-level mutations -------------------------------------------------------------------

/** Lengths a hostile prefix likes: 0, around the limits, the top of the uint32 range. */
export const hostileLength = fc.oneof(
  fc.constantFrom(
    0,
    1,
    1023,
    1024,
    1025,
    65_535,
    65_536,
    65_537,
    16_777_216,
    0x7fffffff,
    0x80000000,
    0xffffffff,
  ),
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.integer({ min: 65_537, max: 0xffffffff }),
);

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'splice'; at: number; other: number; from: number }
  | { kind: 'length'; value: number }
  | { kind: 'lengthDelta'; delta: number }
  | { kind: 'repeat'; times: number };

const at = fc.nat();
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at }),
  fc.record({
    kind: fc.constant('insert' as const),
    at,
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at, length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('splice' as const), at, other: fc.nat(), from: fc.nat() }),
  fc.record({ kind: fc.constant('length' as const), value: hostileLength }),
  fc.record({ kind: fc.constant('lengthDelta' as const), delta: fc.integer({ min: -8, max: 8 }) }),
  fc.record({ kind: fc.constant('repeat' as const), times: fc.integer({ min: 2, max: 4 }) }),
);

/** Applies mutations in order; positions wrap around the current length. */
export function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const pos = (n: number) => (b.length === 0 ? 0 : n % (b.length + 1));
    switch (m.kind) {
      case 'flip':
        if (b.length > 0) b[m.at % b.length]! ^= 1 << m.bit;
        break;
      case 'set':
        if (b.length > 0) b[m.at % b.length] = m.value;
        break;
      case 'truncate':
        b = b.subarray(0, pos(m.at));
        break;
      case 'insert': {
        const p = pos(m.at);
        b = Buffer.concat([b.subarray(0, p), m.bytes, b.subarray(p)]);
        break;
      }
      case 'delete': {
        const p = pos(m.at);
        b = Buffer.concat([b.subarray(0, p), b.subarray(p + m.length)]);
        break;
      }
      case 'splice': {
        const other = VECTOR_STREAMS[m.other % VECTOR_STREAMS.length]!;
        const p = pos(m.at);
        b = Buffer.concat([b.subarray(0, p), other.subarray(m.from % (other.length + 1))]);
        break;
      }
      case 'length':
        if (b.length >= 4) b.writeUInt32BE(m.value, 0);
        break;
      case 'lengthDelta':
        if (b.length >= 4) b.writeUInt32BE(Math.max(0, b.readUInt32BE(0) + m.delta) >>> 0, 0);
        break;
      case 'repeat':
        b = Buffer.concat(Array.from({ length: m.times }, () => b));
        break;
    }
  }
  return b;
}

/** A byte stream of 1–4 vector frames, each mutated 0–4 times. */
export const mutatedStream: fc.Arbitrary<Buffer> = fc
  .array(fc.tuple(fc.nat({ max: VECTOR_STREAMS.length - 1 }), fc.array(mutation, { maxLength: 4 })), {
    minLength: 1,
    maxLength: 4,
  })
  .map((parts) => Buffer.concat(parts.map(([i, ms]) => mutate(VECTOR_STREAMS[i]!, ms))));

/** Random cut points: how a stream is split into reads. */
export const cuts = fc.array(fc.nat(), { maxLength: 6 });

/** Splits `bytes` at the cut points (positions wrap), as a socket might deliver them. */
export function chunk(bytes: Buffer, cutPoints: readonly number[]): Buffer[] {
  if (bytes.length === 0) return [bytes];
  const at = [...new Set(cutPoints.map((c) => c % bytes.length))].filter((c) => c > 0).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const c of at) {
    out.push(bytes.subarray(start, c));
    start = c;
  }
  out.push(bytes.subarray(start));
  return out;
}

// ---- structurally hostile MessagePack -------------------------------------------------------

/** The header of one container holding one element; maps hold it under key "k". */
const containerHeader = fc.constantFrom(
  Buffer.from([0x91]), // fixarray 1
  Buffer.from([0xdc, 0x00, 0x01]), // array16 1
  Buffer.from([0xdd, 0x00, 0x00, 0x00, 0x01]), // array32 1
  Buffer.from([0x81, 0xa1, 0x6b]), // fixmap 1, "k"
  Buffer.from([0xde, 0x00, 0x01, 0xa1, 0x6b]), // map16 1, "k"
  Buffer.from([0xdf, 0x00, 0x00, 0x00, 0x01, 0xa1, 0x6b]), // map32 1, "k"
);

export interface Nested {
  payload: Buffer;
  /** Depth of the deepest container, the top-level map being 1 (PROTOCOL.md §3.1 rule 10). */
  depth: number;
}

/**
 * `{"v": [[[…nil…]]]}` with `levels` containers of mixed kinds under the top-level map: mostly up to
 * 10,000 deep, sometimes 1,000,000 (a reader that recursed that deep would overflow its stack).
 */
export const nested: fc.Arbitrary<Nested> = fc
  .tuple(
    fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: 20 }), weight: 10 },
      { arbitrary: fc.integer({ min: 20, max: 10_000 }), weight: 8 },
      { arbitrary: fc.constant(10_000), weight: 1 },
      { arbitrary: fc.constant(1_000_000), weight: 1 },
    ),
    fc.array(containerHeader, { minLength: 1, maxLength: 8 }),
    fc.constantFrom(Buffer.from([0xc0]), Buffer.from([0x01]), Buffer.from([0xa1, 0x78]), Buffer.from([0x80])),
  )
  .map(([levels, kinds, leaf]) => {
    // The kinds repeat in turn: one fill of the repeated pattern instead of a million small parts.
    const pattern = Buffer.concat(kinds);
    const whole = Math.floor(levels / kinds.length);
    const body = Buffer.alloc(whole * pattern.length);
    if (body.length > 0) body.fill(pattern);
    const rest = Buffer.concat(kinds.slice(0, levels - whole * kinds.length));
    const payload = Buffer.concat([Buffer.from([0x81, 0xa1, 0x76]), body, rest, leaf]);
    // An empty map as the leaf is one more container.
    return { payload, depth: 1 + levels + (leaf[0] === 0x80 ? 1 : 0) };
  });

export interface Declared {
  payload: Buffer;
  /** The length or count the header declares. */
  declared: number;
  /** Bytes each declared unit takes at least: 1, or 2 for a map entry (a key and a value). */
  element: number;
  /** Bytes after the header. */
  left: number;
}

/** Bytes of the length field of str8/16, bin8/16, ext8/16, array16, map16; the 32-bit ones have 4. */
const WIDTH: ReadonlyMap<number, number> = new Map([
  [0xd9, 1],
  [0xc4, 1],
  [0xc7, 1],
  [0xda, 2],
  [0xc5, 2],
  [0xc8, 2],
  [0xdc, 2],
  [0xde, 2],
]);

/** Headers that declare a length far beyond what follows: str, bin, ext, array and map. */
const hugeHeader = fc
  .tuple(
    fc.constantFrom(0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xdc, 0xdd, 0xde, 0xdf),
    fc.oneof(fc.constantFrom(0xffffffff, 0x7fffffff, 0x10000, 0xffff, 0xff), fc.nat()),
  )
  .map(([type, n]) => {
    const width = WIDTH.get(type) ?? 4;
    const isExt = type >= 0xc7 && type <= 0xc9;
    const header = Buffer.alloc(1 + width + (isExt ? 1 : 0));
    header[0] = type;
    const declared = n % 2 ** (8 * width);
    header.writeUIntBE(declared, 1, width);
    return { header, declared, element: type === 0xde || type === 0xdf ? 2 : 1 };
  });

/**
 * A request map whose last value (or the payload itself) is a header declaring a huge length,
 * followed by fewer bytes than that, or a few.
 */
export const hugeDeclared: fc.Arbitrary<Declared> = fc
  .tuple(
    fc.boolean(),
    hugeHeader,
    fc.uint8Array({ maxLength: 64 }),
    fc.constantFrom('feature', 'user', 'versions', 'leases', 'resume', 'id', 'type'),
  )
  .map(([atTop, { header, declared, element }, tail, key]) => {
    const rest = { declared, element, left: tail.length };
    if (atTop) return { payload: Buffer.concat([header, tail]), ...rest };
    const keyBytes = Buffer.from(key);
    const prefix = Buffer.from([
      0x83,
      0xa4,
      ...Buffer.from('type'),
      0xa8,
      ...Buffer.from('checkout'),
      0xa2,
      ...Buffer.from('id'),
      0x07,
      0xa0 | keyBytes.length,
      ...keyBytes,
    ]);
    return { payload: Buffer.concat([prefix, header, tail]), ...rest };
  });

// ---- field values ---------------------------------------------------------------------------

const repeat = (n: number) => fc.constantFrom('a', 'é', 'Z', '0', '-', '\u0001').map((c) => c.repeat(n));

/** Values of the right type whose content breaks a rule of §3.3, or just sits on its boundary. */
export const nearMiss: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    0,
    -1,
    1,
    1.5,
    -0,
    0.1,
    65_535,
    65_536,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 53 - 1,
    2 ** 53,
    -(2 ** 53),
  ),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MAX_VALUE),
  fc
    .constantFrom(0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1024, 1025, 4096, 4097)
    .chain(repeat),
  fc.constantFrom(
    '',
    ' ',
    'cad',
    'CAD',
    'c d',
    '../etc',
    '-cad',
    'a'.repeat(32),
    'A'.repeat(32),
    'g'.repeat(32),
    'f'.repeat(64),
    'concurrent',
    'named',
    'x@y',
    'line\nbreak',
    '\u0085',
    '\u{10ffff}',
    '__proto__',
    'constructor',
  ),
  fc.array(fc.integer({ min: -2, max: 70_000 }), { maxLength: 20 }),
  fc.array(fc.constantFrom(1, 2, 0, 65_536), { minLength: 16, maxLength: 18 }),
  fc.constantFrom([], {}, [[]], [{}], { session: 'a'.repeat(32), token: 'b'.repeat(64) }, null, true, false),
);

/** Anything at all, or a near miss. */
export const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.anything({ maxDepth: 3, withBigInt: true, withNullPrototype: true }), weight: 2 },
  { arbitrary: nearMiss, weight: 3 },
);

const someType = fc.oneof(
  { arbitrary: fc.constantFrom(...FIELDS_BY_TYPE.keys()), weight: 8 },
  { arbitrary: fc.constantFrom('hello_ok', 'error', 'admin_nope', 'report_usage', 'HELLO', ''), weight: 1 },
  { arbitrary: fieldValue, weight: 1 },
);

/**
 * A request-like map: a type, then any subset of that type's real field names (and sometimes of
 * another type's), each with any value, plus sometimes unknown keys.
 */
export const requestLike: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(someType, fc.constantFrom(...FIELDS_BY_TYPE.keys()), fc.boolean())
  .chain(([type, fieldsOf, addExtra]) => {
    const names = FIELDS_BY_TYPE.get(typeof type === 'string' && FIELDS_BY_TYPE.has(type) ? type : fieldsOf)!;
    const fields = Object.fromEntries(names.map((n) => [n, fieldValue]));
    return fc
      .tuple(
        fc.record(fields, { requiredKeys: [] }),
        addExtra ? fc.dictionary(fc.string({ maxLength: 70 }), fieldValue, { maxKeys: 3 }) : fc.constant({}),
        fc.boolean(),
      )
      .map(([record, extra, withType]) => ({ ...extra, ...record, ...(withType ? { type } : {}) }));
  });

/** A valid vector message with one to three fields replaced by near misses or removed. */
export const nearMissRequest: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    fc.constantFrom(...VALID_MESSAGES),
    fc.array(fc.tuple(fc.nat(), fc.option(nearMiss, { nil: undefined })), { minLength: 1, maxLength: 3 }),
  )
  .map(([message, edits]) => {
    const out: Record<string, unknown> = { ...message };
    const keys = Object.keys(message);
    for (const [i, value] of edits) {
      const key = keys[i % keys.length]!;
      if (value === undefined) delete out[key];
      else out[key] = value;
    }
    return out;
  });

// ---- valid requests with unusual values -----------------------------------------------------

const hexOf = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** Characters of 1 to 4 UTF-8 bytes, none of them a control character. */
const TEXT_UNIT = fc.constantFrom('a', 'Z', '7', ' ', '_', '-', '.', '@', 'é', '\u00a0', '€', '字', '𝄞');

/** Free text of minBytes..maxBytes bytes of UTF-8 without control characters (§3.3). */
function text(minBytes: number, maxBytes: number): fc.Arbitrary<string> {
  return fc
    .tuple(fc.array(TEXT_UNIT, { maxLength: Math.min(maxBytes, 300) }), fc.constantFrom(minBytes, maxBytes))
    .map(([units, edge]) => {
      let s = units.join('');
      while (Buffer.byteLength(s) > maxBytes) s = s.slice(0, -1);
      // Pad with ASCII to the minimum (and sometimes out to exactly the maximum).
      const want = units.length % 3 === 0 ? edge : minBytes;
      while (Buffer.byteLength(s) < want) s += 'x';
      return s;
    });
}

const name = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);
const uint = (min: number, max: number) => fc.oneof(fc.constantFrom(min, max), fc.integer({ min, max }));

/** A valid value for each request field (§3.3), by `type.field` first, then by field name. */
const VALID_FIELD: Readonly<Record<string, fc.Arbitrary<unknown>>> = {
  id: uint(1, 0xffffffff),
  versions: fc.array(uint(1, 65_535), { maxLength: 15 }).map((v) => [...v, 1]),
  client_name: text(1, 64),
  client_version: text(0, 64),
  user: text(1, 128),
  host: text(1, 255),
  display: text(0, 256),
  token: text(1, 1024),
  resume: fc.record({ session: hexOf(32), token: hexOf(64) }),
  feature: name,
  group: name,
  count: uint(1, 65_535),
  key: fc.stringMatching(/^[\x21-\x7e]{1,128}$/),
  wait_ms: uint(0, 86_400_000),
  'heartbeat.leases': fc.array(
    fc.record(
      { lease: hexOf(32), fencing: uint(1, MAX_SAFE), idle_ms: uint(0, MAX_SAFE) },
      { requiredKeys: ['lease', 'fencing'] },
    ),
    { maxLength: 100 },
  ),
  'admin_free.leases': fc.array(hexOf(32), { minLength: 1, maxLength: 100 }),
  lease: hexOf(32),
  fencing: uint(1, MAX_SAFE),
  ticket: hexOf(32),
  block: hexOf(32),
  seat_type: fc.constantFrom('concurrent', 'named'),
  block_ms: uint(1, 31_622_400_000),
  display_name: text(0, 256),
  email: fc.constantFrom('', 'a@b', 'eve@example.com'),
  groups: fc.array(name, { maxLength: 10 }),
  enabled: fc.boolean(),
  issue_token: fc.boolean(),
  revoke_token: fc.boolean(),
  free: fc.boolean(),
};

/** A valid request of every vector's shape, with other valid values: max lengths, UTF-8, edges. */
export const validRequest: fc.Arbitrary<Record<string, unknown>> = fc
  .constantFrom(...VALID_MESSAGES)
  .chain((message) => {
    const type = String(message.type);
    const fields: Record<string, fc.Arbitrary<unknown>> = { type: fc.constant(type) };
    for (const [k, v] of Object.entries(message)) {
      if (k === 'type') continue;
      fields[k] = fc.oneof(fc.constant(v), VALID_FIELD[`${type}.${k}`] ?? VALID_FIELD[k] ?? fc.constant(v));
    }
    return fc.record(fields);
  });
