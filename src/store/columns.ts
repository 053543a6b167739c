/**
 * The columnar payload of a version 2 snapshot (snapshot.ts; DESIGN §7: snapshot ≤ 2 s, recovery
 * ≤ 3 s at a million leases). The engine hands over its rows as column arrays (engine-state.ts), so
 * a big state is mostly a few long arrays of small integers and of short strings. MessagePack
 * writes and reads those one element at a time, through a buffer that grows by copying; here each
 * such array is lifted out of the object tree and stored as one block of raw bytes instead: numbers
 * in the narrowest typed array that holds them (one copy each way), strings as one run of bytes
 * and a length per element. The rest of the tree, the skeleton, stays MessagePack. The store still
 * knows nothing of the engine: any array of numbers, or of strings and nulls, at least
 * MIN_COLUMN_LENGTH long and reached through plain objects and arrays, is a column.
 *
 * Layout (offsets from the start of the payload; the snapshot's CRC covers all of it):
 *
 *   offset  size  field
 *   0       4     skeleton length S, u32 big-endian
 *   4       4     data offset D, u32 big-endian (≥ 8 + S)
 *   8       S     skeleton: MessagePack of [tree, columns], each lifted array replaced by null
 *   8 + S   …     zero bytes up to D, so that column data is 8-byte aligned in the file
 *   D       …     column data; each column at D + its `o`, `o` a multiple of 8, zero bytes between
 *
 * A column is a map:
 *   p  path from the root of the tree to the array: keys (strings) and indexes (integers)
 *   t  element type: 'i8' 'u8' 'i16' 'u16' 'i32' 'u32' (little-endian integers), 'f64' (IEEE 754
 *      little-endian), or 's' (strings, some of them possibly null)
 *   n  element count
 *   o  offset of its bytes from D
 *   b  their length: n × the element size, or for 's' the total of the string lengths
 *   for 's' only:
 *   e  'latin1' when every byte is below 0x80 (ASCII), else 'utf8'
 *   w  when every element is a string of w bytes: the length of each
 *   l  otherwise the byte length of each element, -1 for null: a numeric column {t, o, b} of n
 *      elements (its own bytes, at D + its `o`)
 *
 * Integers (−0 excepted) go into the narrowest type whose range holds them all; every other array
 * of numbers is stored as doubles, so NaN, ±Infinity and −0 come back as they went in. Decoding
 * gives plain arrays again: the caller gets back what it stored (or, when it asks, the numeric
 * columns as typed arrays: DecodeColumnarOptions).
 */
import { packPayload, unpackPayload } from './record-codec.js';

/** Shorter arrays stay in the skeleton: a column costs a descriptor and alignment padding. */
export const MIN_COLUMN_LENGTH = 64;

const PREFIX_BYTES = 8;
/** Strings joined per write when encoding an ASCII column. */
const JOIN_CHUNK = 4096;
const ALIGN = 8;

type PathStep = string | number;

const NumericType = {
  I8: 'i8',
  U8: 'u8',
  I16: 'i16',
  U16: 'u16',
  I32: 'i32',
  U32: 'u32',
  F64: 'f64',
} as const;
type NumericType = (typeof NumericType)[keyof typeof NumericType];
const STRINGS = 's';

type NumberArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float64Array;

interface NumericLayout {
  readonly create: (buffer: ArrayBuffer, byteOffset: number, length: number) => NumberArray;
  readonly size: 1 | 2 | 4 | 8;
  readonly min: number;
  readonly max: number;
}

const NUMERIC: Readonly<Record<NumericType, NumericLayout>> = {
  i8: { create: (b, o, n) => new Int8Array(b, o, n), size: 1, min: -0x80, max: 0x7f },
  u8: { create: (b, o, n) => new Uint8Array(b, o, n), size: 1, min: 0, max: 0xff },
  i16: { create: (b, o, n) => new Int16Array(b, o, n), size: 2, min: -0x8000, max: 0x7fff },
  u16: { create: (b, o, n) => new Uint16Array(b, o, n), size: 2, min: 0, max: 0xffff },
  i32: { create: (b, o, n) => new Int32Array(b, o, n), size: 4, min: -0x8000_0000, max: 0x7fff_ffff },
  u32: { create: (b, o, n) => new Uint32Array(b, o, n), size: 4, min: 0, max: 0xffff_ffff },
  f64: { create: (b, o, n) => new Float64Array(b, o, n), size: 8, min: -Infinity, max: Infinity },
};
/** Narrowest first: the first type whose range holds every value is used. */
const INTEGER_TYPES: readonly NumericType[] = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32'];

/** Typed arrays use the machine's byte order; the file is little-endian. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A bad columnar payload; snapshot.ts reports it as a corrupt snapshot. */
export class ColumnarFormatError extends Error {
  override readonly name = 'ColumnarFormatError';
}

// ---- encoding ---------------------------------------------------------------------------------

interface NumericPiece {
  readonly type: NumericType;
  readonly values: readonly number[];
  offset: number;
}

interface StringPiece {
  readonly path: PathStep[];
  readonly values: readonly (string | null)[];
  /** Byte length of the run of string bytes. */
  readonly bytes: number;
  readonly encoding: 'latin1' | 'utf8';
  /** ASCII strings joined a few thousand at a time, written in that many calls. */
  readonly chunks: string[] | undefined;
  readonly width: number | undefined;
  readonly lengths: NumericPiece | undefined;
  offset: number;
}

interface NumberColumn extends NumericPiece {
  readonly path: PathStep[];
}

/**
 * Encodes `value` as a columnar payload into a new buffer, after `reserve` bytes left for the
 * caller's header (zeros): the file is then written with a single write and no copy. Synchronous,
 * so the caller may change `value` once this returns.
 */
export function encodeColumnar(value: unknown, reserve: number): Buffer {
  const numbers: NumberColumn[] = [];
  const strings: StringPiece[] = [];
  const tree = lift(value, [], numbers, strings);

  let cursor = 0;
  const place = (bytes: number): number => {
    const at = cursor;
    cursor = alignUp(cursor + bytes);
    return at;
  };
  const descriptors: Record<string, unknown>[] = [];
  for (const column of numbers) {
    column.offset = place(column.values.length * NUMERIC[column.type].size);
    descriptors.push(numericDescriptor(column, column.path));
  }
  for (const column of strings) {
    column.offset = place(column.bytes);
    const descriptor: Record<string, unknown> = {
      p: column.path,
      t: STRINGS,
      n: column.values.length,
      o: column.offset,
      b: column.bytes,
      e: column.encoding,
    };
    if (column.width !== undefined) descriptor.w = column.width;
    if (column.lengths !== undefined) {
      column.lengths.offset = place(column.lengths.values.length * NUMERIC[column.lengths.type].size);
      descriptor.l = numericDescriptor(column.lengths);
    }
    descriptors.push(descriptor);
  }

  const skeleton = packPayload([tree, descriptors]);
  const dataStart = alignUp(reserve + PREFIX_BYTES + skeleton.length) - reserve;
  // Zero-filled: the padding must not carry stale memory into the file.
  const out = Buffer.alloc(reserve + dataStart + cursor);
  out.writeUInt32BE(skeleton.length, reserve);
  out.writeUInt32BE(dataStart, reserve + 4);
  skeleton.copy(out, reserve + PREFIX_BYTES);
  const data = reserve + dataStart;
  for (const column of numbers) writeNumbers(out, data + column.offset, column);
  for (const column of strings) {
    writeStrings(out, data + column.offset, column);
    if (column.lengths !== undefined) writeNumbers(out, data + column.lengths.offset, column.lengths);
  }
  return out;
}

function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

function numericDescriptor(piece: NumericPiece, path?: PathStep[]): Record<string, unknown> {
  const bytes = piece.values.length * NUMERIC[piece.type].size;
  return path === undefined
    ? { t: piece.type, o: piece.offset, b: bytes }
    : { p: path, t: piece.type, n: piece.values.length, o: piece.offset, b: bytes };
}

/**
 * `value` with every column replaced by null (objects and arrays on the way are copied, the caller's
 * are left alone; parts without a column are shared, not copied).
 */
function lift(value: unknown, path: PathStep[], numbers: NumberColumn[], strings: StringPiece[]): unknown {
  if (Array.isArray(value)) {
    if (value.length >= MIN_COLUMN_LENGTH) {
      const numeric = numericType(value);
      if (numeric !== undefined) {
        numbers.push({ path: [...path], type: numeric, values: value as number[], offset: 0 });
        return null;
      }
      const column = stringPiece(value, path);
      if (column !== undefined) {
        strings.push(column);
        return null;
      }
    }
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === null || typeof item !== 'object') continue;
      path.push(i);
      const lifted = lift(item, path, numbers, strings);
      path.pop();
      if (lifted !== item) {
        copy ??= value.slice();
        copy[i] = lifted;
      }
    }
    return copy ?? value;
  }
  if (!isPlainObject(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    // Setting it back on decode would set the prototype, not a property.
    if (key === '__proto__') continue;
    const item = value[key];
    if (item === null || typeof item !== 'object') continue;
    path.push(key);
    const lifted = lift(item, path, numbers, strings);
    path.pop();
    if (lifted !== item) {
      copy ??= { ...value };
      copy[key] = lifted;
    }
  }
  return copy ?? value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The narrowest type that holds every element, or undefined when they are not all numbers. */
function numericType(values: readonly unknown[]): NumericType | undefined {
  let min = Infinity;
  let max = -Infinity;
  let integral = true;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number') return undefined;
    if (!integral) continue;
    if (!Number.isInteger(v) || (v === 0 && 1 / v < 0)) integral = false;
    else {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (integral) {
    for (const type of INTEGER_TYPES) {
      const layout = NUMERIC[type];
      if (min >= layout.min && max <= layout.max) return type;
    }
  }
  return NumericType.F64;
}

/** The column of an array of strings and nulls (at least one string); undefined for anything else. */
function stringPiece(values: readonly unknown[], path: PathStep[]): StringPiece | undefined {
  let strings = 0;
  let width: number | undefined;
  let fixed = true;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'string') {
      strings++;
      if (width === undefined) width = v.length;
      else if (v.length !== width) fixed = false;
    } else if (v === null) fixed = false;
    else return undefined;
  }
  if (strings === 0) return undefined;
  const column = values as readonly (string | null)[];
  // One byte per UTF-16 unit exactly when every unit is below 0x80 (ASCII): then the strings go
  // out as they are, joined a few thousand at a time (null joins as ''), which is faster than one
  // write per string and than one join of a million.
  const chunks: string[] = [];
  let bytes = 0;
  for (let i = 0; i < column.length; i += JOIN_CHUNK) {
    const chunk = column.slice(i, i + JOIN_CHUNK).join('');
    if (Buffer.byteLength(chunk, 'utf8') !== chunk.length) {
      // Lengths per string, each encoded alone: a surrogate pair split across two strings must
      // not be joined into one character.
      const lengths = column.map((s) => (s === null ? -1 : Buffer.byteLength(s, 'utf8')));
      let total = 0;
      for (const n of lengths) if (n > 0) total += n;
      return stringColumn(path, column, total, 'utf8', undefined, undefined, lengths);
    }
    chunks.push(chunk);
    bytes += chunk.length;
  }
  let lengths: number[] | undefined;
  if (!fixed) {
    lengths = new Array<number>(column.length);
    for (let i = 0; i < column.length; i++) {
      const s = column[i];
      lengths[i] = s === null || s === undefined ? -1 : s.length;
    }
  }
  return stringColumn(path, column, bytes, 'latin1', chunks, fixed ? width : undefined, lengths);
}

function stringColumn(
  path: PathStep[],
  values: readonly (string | null)[],
  bytes: number,
  encoding: 'latin1' | 'utf8',
  chunks: string[] | undefined,
  width: number | undefined,
  lengths: number[] | undefined,
): StringPiece {
  return {
    path: [...path],
    values,
    bytes,
    encoding,
    chunks,
    width,
    lengths: lengths === undefined ? undefined : { type: numericType(lengths)!, values: lengths, offset: 0 },
    offset: 0,
  };
}

function writeNumbers(out: Buffer, at: number, piece: NumericPiece): void {
  const layout = NUMERIC[piece.type];
  const n = piece.values.length;
  const absolute = out.byteOffset + at;
  if (LITTLE_ENDIAN && absolute % layout.size === 0) {
    fillTyped(layout.create(out.buffer as ArrayBuffer, absolute, n), piece.values);
    return;
  }
  const staged = layout.create(new ArrayBuffer(n * layout.size), 0, n);
  fillTyped(staged, piece.values);
  const bytes = Buffer.from(staged.buffer, 0, staged.byteLength);
  if (!LITTLE_ENDIAN) swapToLittleEndian(bytes, layout.size);
  bytes.copy(out, at);
}

/**
 * Copies between a plain array and a typed array. One loop per type on purpose: a single loop
 * over all seven kinds of typed array is megamorphic and several times slower (TypedArray#set
 * from a plain array is slow too).
 */
function fillTyped(target: NumberArray, values: readonly number[]): void {
  const n = values.length;
  if (target instanceof Uint8Array) for (let i = 0; i < n; i++) target[i] = values[i]!;
  else if (target instanceof Int8Array) for (let i = 0; i < n; i++) target[i] = values[i]!;
  else if (target instanceof Uint16Array) for (let i = 0; i < n; i++) target[i] = values[i]!;
  else if (target instanceof Int16Array) for (let i = 0; i < n; i++) target[i] = values[i]!;
  else if (target instanceof Uint32Array) for (let i = 0; i < n; i++) target[i] = values[i]!;
  else if (target instanceof Int32Array) for (let i = 0; i < n; i++) target[i] = values[i]!;
  else for (let i = 0; i < n; i++) target[i] = values[i]!;
}

/** The other way round, for the same reason one loop per type. */
function toPlainArray(source: NumberArray): number[] {
  const n = source.length;
  const out = new Array<number>(n);
  if (source instanceof Uint8Array) for (let i = 0; i < n; i++) out[i] = source[i]!;
  else if (source instanceof Int8Array) for (let i = 0; i < n; i++) out[i] = source[i]!;
  else if (source instanceof Uint16Array) for (let i = 0; i < n; i++) out[i] = source[i]!;
  else if (source instanceof Int16Array) for (let i = 0; i < n; i++) out[i] = source[i]!;
  else if (source instanceof Uint32Array) for (let i = 0; i < n; i++) out[i] = source[i]!;
  else if (source instanceof Int32Array) for (let i = 0; i < n; i++) out[i] = source[i]!;
  else for (let i = 0; i < n; i++) out[i] = source[i]!;
  return out;
}

function writeStrings(out: Buffer, at: number, piece: StringPiece): void {
  let offset = at;
  if (piece.chunks !== undefined) {
    for (const chunk of piece.chunks) offset += out.write(chunk, offset, chunk.length, 'latin1');
    return;
  }
  for (const s of piece.values) if (s !== null) offset += out.write(s, offset, 'utf8');
}

function swapToLittleEndian(bytes: Buffer, size: 1 | 2 | 4 | 8): void {
  if (size === 2) bytes.swap16();
  else if (size === 4) bytes.swap32();
  else if (size === 8) bytes.swap64();
}

// ---- decoding ---------------------------------------------------------------------------------

export interface DecodeColumnarOptions {
  /**
   * Hand numeric columns over as the typed arrays they are stored as (a view of `payload` when
   * aligned, which then stays alive with them) instead of copying each into a plain array. Same
   * numbers, no copy; for a caller that only indexes them (a restore of a million leases).
   */
  typedNumbers?: boolean;
}

/** Decodes a payload written by encodeColumnar; throws ColumnarFormatError when it is malformed. */
export function decodeColumnar(payload: Uint8Array, options: DecodeColumnarOptions = {}): unknown {
  const typed = options.typedNumbers === true;
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (bytes.length < PREFIX_BYTES) bad(`the payload is ${bytes.length} bytes, shorter than its prefix`);
  const skeletonLength = bytes.readUInt32BE(0);
  const dataStart = bytes.readUInt32BE(4);
  if (PREFIX_BYTES + skeletonLength > dataStart || dataStart > bytes.length) {
    bad(`skeleton length ${skeletonLength} and data offset ${dataStart} do not fit ${bytes.length} bytes`);
  }
  let skeleton: unknown;
  try {
    skeleton = unpackPayload(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + skeletonLength));
  } catch (err) {
    bad(`the skeleton is not valid MessagePack (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!Array.isArray(skeleton) || skeleton.length !== 2 || !Array.isArray(skeleton[1])) {
    bad('the skeleton is not [tree, columns]');
  }
  const data = bytes.subarray(dataStart);
  const root = { tree: skeleton[0] as unknown };
  for (const [index, descriptor] of (skeleton[1] as unknown[]).entries()) {
    if (!isPlainObject(descriptor)) bad(`column ${index} is not a map`);
    const column = readColumn(data, descriptor, index, typed);
    put(root, descriptor.p, column, index);
  }
  return root.tree;
}

function bad(reason: string): never {
  throw new ColumnarFormatError(reason);
}

function readColumn(
  data: Buffer,
  d: Record<string, unknown>,
  index: number,
  typed: boolean,
): unknown[] | NumberArray {
  const n = d.n;
  if (!Number.isSafeInteger(n) || (n as number) < 0) bad(`column ${index} has a bad element count`);
  if (d.t === STRINGS) return readStrings(data, d, n as number, index);
  const numbers = readNumbers(data, d, n as number, index);
  return typed ? numbers : toPlainArray(numbers);
}

/** Checks a column's type, offset and length against `data`; returns its bytes. */
function columnBytes(data: Buffer, d: Record<string, unknown>, index: number): Buffer {
  const { o, b } = d;
  if (!Number.isSafeInteger(o) || !Number.isSafeInteger(b) || (o as number) < 0 || (b as number) < 0) {
    bad(`column ${index} has a bad offset or length`);
  }
  const end = (o as number) + (b as number);
  if (end > data.length)
    bad(`column ${index} runs past the end of the payload (byte ${end} of ${data.length})`);
  return data.subarray(o as number, end);
}

function numericLayout(type: unknown, index: number): NumericLayout {
  if (typeof type !== 'string' || !Object.hasOwn(NUMERIC, type)) {
    bad(`column ${index} has unknown type ${JSON.stringify(type)}`);
  }
  return NUMERIC[type as NumericType];
}

/** The column's numbers as a typed array: a view of `data` when aligned, else a copy. */
function readNumbers(data: Buffer, d: Record<string, unknown>, n: number, index: number): NumberArray {
  const layout = numericLayout(d.t, index);
  const bytes = columnBytes(data, d, index);
  if (bytes.length !== n * layout.size) {
    bad(`column ${index} holds ${bytes.length} bytes, not ${n} × ${layout.size}`);
  }
  if (LITTLE_ENDIAN && bytes.byteOffset % layout.size === 0) {
    return layout.create(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
  }
  const copy = Buffer.from(new Uint8Array(bytes));
  if (!LITTLE_ENDIAN) swapToLittleEndian(copy, layout.size);
  return layout.create(copy.buffer as ArrayBuffer, copy.byteOffset, n);
}

/**
 * Buffer's own per-encoding slice methods: a million `toString(encoding, start, end)` calls spend
 * more time checking their arguments than making the strings. Not in Node's typings; present since
 * Node 0.x, and looked up once with toString as the fallback.
 */
interface EncodingSlices {
  latin1Slice?(start: number, end: number): string;
  utf8Slice?(start: number, end: number): string;
}
const SLICES = Buffer.prototype as EncodingSlices;

type Slicer = (bytes: Buffer, start: number, end: number) => string;
const sliceLatin1: Slicer =
  typeof SLICES.latin1Slice === 'function'
    ? (bytes, start, end) => (bytes as EncodingSlices).latin1Slice!(start, end)
    : (bytes, start, end) => bytes.toString('latin1', start, end);
const sliceUtf8: Slicer =
  typeof SLICES.utf8Slice === 'function'
    ? (bytes, start, end) => (bytes as EncodingSlices).utf8Slice!(start, end)
    : (bytes, start, end) => bytes.toString('utf8', start, end);

function readStrings(data: Buffer, d: Record<string, unknown>, n: number, index: number): (string | null)[] {
  const encoding = d.e;
  if (encoding !== 'latin1' && encoding !== 'utf8') bad(`column ${index} has unknown encoding`);
  const slice = encoding === 'latin1' ? sliceLatin1 : sliceUtf8;
  const bytes = columnBytes(data, d, index);
  const out = new Array<string | null>(n);
  if (d.w !== undefined) {
    const width = d.w;
    if (!Number.isSafeInteger(width) || (width as number) < 0 || (width as number) * n !== bytes.length) {
      bad(`column ${index}: ${n} strings of ${String(width)} bytes do not make ${bytes.length}`);
    }
    for (let i = 0, at = 0; i < n; i++, at += width as number)
      out[i] = slice(bytes, at, at + (width as number));
    return out;
  }
  if (!isPlainObject(d.l)) bad(`column ${index} has neither a width nor lengths`);
  const lengths = readNumbers(data, d.l, n, index);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const length = lengths[i]!;
    if (length === -1) {
      out[i] = null;
      continue;
    }
    if (!Number.isInteger(length) || length < 0 || at + length > bytes.length) {
      bad(`column ${index}: string ${i} (${length} bytes at ${at}) does not fit its ${bytes.length} bytes`);
    }
    out[i] = slice(bytes, at, at + length);
    at += length;
  }
  if (at !== bytes.length) bad(`column ${index}: its strings fill ${at} of its ${bytes.length} bytes`);
  return out;
}

/** Puts a decoded column where the skeleton holds its null. */
function put(root: { tree: unknown }, path: unknown, column: unknown, index: number): void {
  if (!Array.isArray(path)) bad(`column ${index} has no path`);
  let container: unknown = root;
  let key: PathStep = 'tree';
  for (const step of path as unknown[]) {
    container = (container as Record<PathStep, unknown>)[key];
    if (typeof step === 'number' ? !Array.isArray(container) : !isPlainObject(container)) {
      bad(`column ${index}: its path ${JSON.stringify(path)} does not lead through the skeleton`);
    }
    if ((typeof step !== 'string' && !Number.isSafeInteger(step)) || step === '__proto__') {
      bad(`column ${index}: bad path step ${JSON.stringify(step)}`);
    }
    key = step as PathStep;
  }
  const holder = container as Record<PathStep, unknown>;
  if (!Object.hasOwn(holder, key) || holder[key] !== null) {
    bad(`column ${index}: its path ${JSON.stringify(path)} does not end at a placeholder`);
  }
  holder[key] = column;
}
