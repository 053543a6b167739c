/**
 * The journal's on-disk record format (DESIGN §3.6). A journal file is a plain concatenation of
 * records, nothing before the first and nothing between them:
 *
 *   offset  size  field
 *   0       4     length   payload length in bytes, u32 big-endian, 1..MAX_RECORD_PAYLOAD_BYTES
 *   4       4     crc      CRC-32 (IEEE, see crc32.ts) of bytes 8..end: the seq field + the payload
 *   8       8     seq      sequence number, u64 big-endian, 1..2^53-1, +1 per record across files
 *   16      n     payload  MessagePack of one record object (msgpackr, useRecords: false)
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

export function isValidSeq(seq: number): boolean {
  return Number.isSafeInteger(seq) && seq >= 1;
}

/** One record, framed and checksummed, ready to append. */
export function encodeRecord(seq: number, record: object): Buffer {
  if (!isValidSeq(seq))
    throw new RangeError(`A record sequence number must be a safe integer ≥ 1, got ${seq}.`);
  const payload = packPayload(record);
  if (payload.length > MAX_RECORD_PAYLOAD_BYTES) {
    throw new RangeError(
      `A journal record may hold at most ${MAX_RECORD_PAYLOAD_BYTES} bytes; this one encodes to ${payload.length}.`,
    );
  }
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(Math.floor(seq / TWO_POW_32), 8);
  out.writeUInt32BE(seq % TWO_POW_32, 12);
  payload.copy(out, RECORD_HEADER_BYTES);
  out.writeUInt32BE(crc32(out.subarray(8)), 4);
  return out;
}

export interface DecodedRecord {
  seq: number;
  record: unknown;
  /** Offset just past this record: where the next one starts. */
  end: number;
}

/**
 * Decodes the record at `offset` of `data`, which holds everything up to the end of the file.
 * Returns undefined at the end of the data. `previousSeq`, when given, is the seq of the record
 * before: this one must be greater. Throws RecordTornError or RecordCorruptError.
 */
export function decodeRecord(
  data: Uint8Array,
  offset: number,
  previousSeq?: number,
): DecodedRecord | undefined {
  const remaining = data.length - offset;
  if (remaining <= 0) return undefined;
  if (remaining < RECORD_HEADER_BYTES) {
    throw new RecordTornError(
      offset,
      `the data ends inside the record header (${remaining} of ${RECORD_HEADER_BYTES} bytes)`,
    );
  }
  const length = readU32(data, offset);
  if (length === 0 || length > MAX_RECORD_PAYLOAD_BYTES) {
    if (isZeroFilled(data, offset)) throw new RecordTornError(offset, zeroTailReason(remaining));
    throw new RecordCorruptError(
      offset,
      `impossible payload length ${length} (must be 1..${MAX_RECORD_PAYLOAD_BYTES})`,
    );
  }
  const end = offset + RECORD_HEADER_BYTES + length;
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
  let record: unknown;
  try {
    record = unpackr.unpack(data, { start: offset + RECORD_HEADER_BYTES, end });
  } catch (err) {
    throw new RecordCorruptError(offset, `the payload is not valid MessagePack (${messageOf(err)})`);
  }
  return { seq, record, end };
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

function isZeroFilled(data: Uint8Array, from: number): boolean {
  for (let i = from; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
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
