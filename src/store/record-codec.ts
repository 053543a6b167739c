/**
 * The journal's on-disk record format (DESIGN §3.6). A journal file is a plain concatenation of
 * records, nothing before the first and nothing between them:
 *
 *   offset  size  field
 *   0       4     length   payload length in bytes, u32 big-endian, 1..MAX_RECORD_PAYLOAD_BYTES
 *   4       4     crc      CRC-32 (IEEE, see crc32.ts) of bytes 8..end: the seq field + the payload
 *   8       8     seq      sequence number, u64 big-endian, 1..2^53-1, +1 per record across files
 *   16      n     payload  the record: a compact layout (first byte 0x01..0x7f, record-layouts.ts)
 *                           for the kinds written at scale, else MessagePack of the record object
 *                           (msgpackr, useRecords: false; first byte 0x80 and up). Journals written
 *                           before the compact layouts existed (issue 8) hold only MessagePack, and
 *                           still decode.
 *
 * The newest journal file may go on past its last record with zero bytes: the writer zero-fills the
 * file ahead of its records (journal.ts, "Preallocation"). A record never starts with a zero length,
 * so where only zeros remain the records have ended. The decoder still reports such a remainder as
 * torn (below): whether zeros are a normal end depends on the file (only the newest may have them,
 * recovery.ts), so a reader of a journal file stops at `zeroTailStart` itself.
 *
 * Decoding tells two failures apart, because recovery treats them differently:
 * - torn (RecordTornError): the data ends before the record does — the header is incomplete, or
 *   the declared payload runs past the end — or everything from the record's start to the end is
 *   zero bytes (after a power loss a filesystem may have extended the file without writing the
 *   data). This is what an interrupted append leaves behind.
 * - corrupt (RecordCorruptError): the record is all there but wrong — impossible length, checksum
 *   mismatch, a seq of 0 or past 2^53-1, a seq not above the previous one, an undecodable payload.
 *
 * Limit of the format: the checksum does not cover the length field, so a flipped bit that makes
 * the LAST record's length run past the end looks torn. Recovery narrows this down by checking that
 * no intact record follows a "torn" one (see recovery.ts).
 */
import { Packr, Unpackr } from 'msgpackr';
import { crc32 } from './crc32.js';
import { RecordCorruptError, RecordTornError } from './errors.js';
import { decodeCompact, encodeCompact, FIRST_MSGPACK_BYTE } from './record-layouts.js';

export const RECORD_HEADER_BYTES = 16;
/** Largest payload accepted; a length field above it is corruption, not a big record. */
export const MAX_RECORD_PAYLOAD_BYTES = 16 * 1024 * 1024;

const TWO_POW_32 = 0x1_0000_0000;
/** Highest value of the u64 seq field's upper half that keeps seq a safe integer. */
const MAX_SEQ_HIGH = Math.floor(Number.MAX_SAFE_INTEGER / TWO_POW_32);

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, copyBuffers: true });

/** MessagePack for stored payloads (records and snapshots). Local files, so extensions are fine. */
export function packPayload(value: unknown): Buffer {
  return packr.pack(value);
}

export function unpackPayload(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

/** MessagePack nil, one byte. */
const NIL = Uint8Array.of(0xc0);

/**
 * Lets go of the last buffer decoded. msgpackr keeps a module-level DataView over the buffer it
 * decoded last until it decodes another, and after recovery that is the whole snapshot file: at a
 * million leases about 64 B per lease held for nothing (issue 8). Decoding one byte replaces it.
 */
export function releaseDecodedSource(): void {
  unpackr.unpack(NIL);
}

export function isValidSeq(seq: number): boolean {
  return Number.isSafeInteger(seq) && seq >= 1;
}

/**
 * Compact records are encoded straight into a slab and handed out as views of it, like Node's own
 * Buffer pool, but without measuring the record first (that would cost as much as encoding it):
 * a record may take up to MAX_COMPACT_BYTES, and a slab with less room left is replaced. A record
 * that might need more goes through MessagePack.
 */
const SLAB_BYTES = 64 * 1024;
const MAX_COMPACT_BYTES = 4096;
let slab = Buffer.allocUnsafe(SLAB_BYTES);
let slabUsed = 0;

/** One record, framed and checksummed, ready to append. */
export function encodeRecord(seq: number, record: object): Buffer {
  if (!isValidSeq(seq))
    throw new RangeError(`A record sequence number must be a safe integer ≥ 1, got ${seq}.`);
  if (SLAB_BYTES - slabUsed < MAX_COMPACT_BYTES) {
    slab = Buffer.allocUnsafe(SLAB_BYTES);
    slabUsed = 0;
  }
  const start = slabUsed;
  const end = encodeCompact(record, slab, start + RECORD_HEADER_BYTES, start + MAX_COMPACT_BYTES);
  if (end !== -1) {
    writeHeader(slab, start, end, seq);
    // Keep the next record 8-byte aligned, as Node's pool does.
    slabUsed = (end + 7) & ~7;
    return slab.subarray(start, end);
  }
  const payload = packPayload(record);
  if (payload.length > MAX_RECORD_PAYLOAD_BYTES) {
    throw new RangeError(
      `A journal record may hold at most ${MAX_RECORD_PAYLOAD_BYTES} bytes; this one encodes to ${payload.length}.`,
    );
  }
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  payload.copy(out, RECORD_HEADER_BYTES);
  writeHeader(out, 0, out.length, seq);
  return out;
}

/** Fills in the header of the record in `out[start..end)`, whose payload is in place. */
function writeHeader(out: Buffer, start: number, end: number, seq: number): void {
  writeU32(out, start, end - start - RECORD_HEADER_BYTES);
  writeU32(out, start + 8, Math.floor(seq / TWO_POW_32));
  writeU32(out, start + 12, seq % TWO_POW_32);
  writeU32(out, start + 4, crc32(out, 0, start + 8, end));
}

function writeU32(out: Buffer, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = value >>> 16;
  out[at + 2] = value >>> 8;
  out[at + 3] = value;
}

export interface DecodedRecord {
  seq: number;
  record: unknown;
  /** Offset just past this record: where the next one starts. */
  end: number;
}

/** Where `readRecord` puts the seq and the end of the record it decoded. */
export interface RecordPosition {
  seq: number;
  /** Offset just past the record: where the next one starts. */
  end: number;
}

/**
 * Decodes the record at `offset` of `data`, which holds everything up to the end of the file.
 * Returns undefined at the end of the data. `previousSeq`, when given, is the seq of the record
 * before: this one must be greater. Throws RecordTornError or RecordCorruptError. To read a whole
 * journal file, stop at a record boundary ≥ `zeroTailStart(data)` (the preallocated tail, above).
 */
export function decodeRecord(
  data: Uint8Array,
  offset: number,
  previousSeq?: number,
): DecodedRecord | undefined {
  if (offset >= data.length) return undefined;
  const at: RecordPosition = { seq: 0, end: 0 };
  const record = readRecord(asBuffer(data), offset, at, previousSeq);
  return { seq: at.seq, record, end: at.end };
}

/**
 * `decodeRecord` for a loop over a whole file (recovery): the record at `offset`, which must be
 * below `data.length`, is returned and its seq and end are written to `at`, so that a million
 * records cost no result objects.
 */
export function readRecord(data: Buffer, offset: number, at: RecordPosition, previousSeq?: number): unknown {
  const remaining = data.length - offset;
  if (remaining < RECORD_HEADER_BYTES) {
    throw new RecordTornError(
      offset,
      `the data ends inside the record header (${remaining} of ${RECORD_HEADER_BYTES} bytes)`,
    );
  }
  const length = readU32(data, offset);
  if (length === 0 || length > MAX_RECORD_PAYLOAD_BYTES) {
    if (zeroTailStart(data) <= offset) throw new RecordTornError(offset, zeroTailReason(remaining));
    throw new RecordCorruptError(
      offset,
      `impossible payload length ${length} (must be 1..${MAX_RECORD_PAYLOAD_BYTES})`,
    );
  }
  const start = offset + RECORD_HEADER_BYTES;
  const end = start + length;
  if (end > data.length) {
    throw new RecordTornError(
      offset,
      `the data ends inside the record (${remaining} of ${RECORD_HEADER_BYTES + length} bytes)`,
    );
  }
  const stored = readU32(data, offset + 4);
  const actual = crc32(data, 0, offset + 8, end);
  if (stored !== actual) {
    throw new RecordCorruptError(
      offset,
      `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`,
    );
  }
  const high = readU32(data, offset + 8);
  const seq = high * TWO_POW_32 + readU32(data, offset + 12);
  if (high > MAX_SEQ_HIGH || !isValidSeq(seq)) {
    throw new RecordCorruptError(offset, `invalid sequence number ${high > MAX_SEQ_HIGH ? '≥ 2^53' : seq}`);
  }
  if (previousSeq !== undefined && seq <= previousSeq) {
    throw new RecordCorruptError(offset, `sequence number ${seq} does not follow ${previousSeq}`);
  }
  at.seq = seq;
  at.end = end;
  if (data[start]! < FIRST_MSGPACK_BYTE) return decodeCompact(data, offset, start, end);
  try {
    return unpackr.unpack(data, { start, end });
  } catch (err) {
    throw new RecordCorruptError(offset, `the payload is not valid MessagePack (${messageOf(err)})`);
  }
}

/** A Buffer over the same memory (the compact decoder slices strings with Buffer methods). */
export function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Reads just the seq of a record at `offset` if it is intact (complete, plausible length, checksum
 * matches), without decoding the payload; undefined otherwise. Recovery uses it to look for intact
 * records after a damaged one.
 */
export function intactRecordSeq(data: Uint8Array, offset: number): number | undefined {
  if (data.length - offset < RECORD_HEADER_BYTES) return undefined;
  const length = readU32(data, offset);
  if (length === 0 || length > MAX_RECORD_PAYLOAD_BYTES) return undefined;
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > data.length) return undefined;
  const high = readU32(data, offset + 8);
  if (high > MAX_SEQ_HIGH) return undefined;
  if (readU32(data, offset + 4) !== crc32(data, 0, offset + 8, end)) return undefined;
  return high * TWO_POW_32 + readU32(data, offset + 12);
}

/** A big-endian u32 at `at` (the caller checked the bounds). */
export function readU32(data: Uint8Array, at: number): number {
  return ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0;
}

/** Compared a block at a time from the end (memcmp), since a preallocated tail runs to megabytes. */
const ZERO_BLOCK = new Uint8Array(64 * 1024);

/**
 * Where the run of zero bytes that ends `data` begins: `data.length` when the last byte is not
 * zero. Records may end with zero bytes, so this can fall inside the last record; only at a record
 * boundary does "offset ≥ zeroTailStart" mean that the records have ended.
 */
export function zeroTailStart(data: Uint8Array): number {
  const bytes = asBuffer(data);
  let end = bytes.length;
  while (end > 0) {
    const start = Math.max(0, end - ZERO_BLOCK.length);
    if (bytes.compare(ZERO_BLOCK, 0, end - start, start, end) !== 0) break;
    end = start;
  }
  while (end > 0 && bytes[end - 1] === 0) end--;
  return end;
}

/**
 * The smallest unit a disk writes whole (a logical sector): an interrupted write loses whole
 * sectors, and the page cache writes back whole pages, which are made of them.
 */
const SECTOR_BYTES = 512;

/**
 * Whether the record at `offset`, whose checksum does not match, is one whose write was cut short
 * into a zero-filled (preallocated) region, where everything from `zeroStart` on is zero. Its bytes
 * then end early, at a sector boundary, and the zeros that were there before fill the rest: so it
 * counts when its length is plausible, it fits in the data, and a sector boundary inside it lies
 * in the zero tail. Returns that boundary (the first byte that may not have been written), or
 * undefined when the damage is not explained so: a flipped bit in a record that ends before the
 * tail, say, stays corruption.
 */
export function cutShortAt(data: Uint8Array, offset: number, zeroStart: number): number | undefined {
  if (data.length - offset < RECORD_HEADER_BYTES) return undefined;
  const length = readU32(data, offset);
  if (length === 0 || length > MAX_RECORD_PAYLOAD_BYTES) return undefined;
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > data.length || intactRecordSeq(data, offset) !== undefined) return undefined;
  const cut = Math.ceil(Math.max(zeroStart, offset + 1) / SECTOR_BYTES) * SECTOR_BYTES;
  return cut < end ? cut : undefined;
}

function zeroTailReason(bytes: number): string {
  return `the last ${bytes} bytes are all zero (the file was extended but the data never reached the disk)`;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
