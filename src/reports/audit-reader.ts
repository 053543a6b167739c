/**
 * Reading the audit trail (issue 7): the line format as a reader sees it (audit-log.ts writes it
 * and describes it), the files, and `readAudit` for the reports and the rollups: the records of a
 * time or seq range, streamed, so a year of files costs one pass over the days asked for and never
 * holds more than a chunk's lines in memory.
 *
 * The reader trusts the trail: it skips lines it cannot parse (a torn last line, damage) without
 * saying so, and it takes a line's seq from its first bytes to skip lines outside a seq range
 * unparsed. Checking the trail is verifyAudit's job (audit-verify.ts).
 *
 * Cost (issue 8: the daemon catches its rollups up from a million lines after a crash): a line is
 * read in large chunks, decoded and split once, JSON-parsed once, its time parsed once; the hex
 * fields are checked by a loop, not a regex on a copied slice.
 */
import * as crypto from 'node:crypto';
import { type FileHandle, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditEvent } from './audit-events.js';

// ---------------------------------------------------------------------------------------------
// The format

/** An audit line as parsed: the event plus the fields the writer adds. */
export type AuditRecord = AuditEvent & {
  readonly seq: number;
  readonly ts: string;
  readonly prev: string;
  readonly h: string;
};

/** `prev` of the first line of a trail. */
export const ZERO_HASH = '0'.repeat(64);

/** The line's time in epoch ms. */
export function recordTime(record: Pick<AuditRecord, 'ts'>): number {
  return Date.parse(record.ts);
}

const DAY_MS = 86_400_000;
const FILE_NAME = /^audit-(\d{4}-\d{2}-\d{2})\.jsonl$/;
/** `,"h":"<64 hex>"}` ends a line: what the writer adds, and what a verifier strips. */
const HASH_KEY = ',"h":"';
const HASH_SUFFIX_LENGTH = HASH_KEY.length + 64 + '"}'.length;

/** The file for a UTC day `YYYY-MM-DD`. */
export function auditFileName(day: string): string {
  return `audit-${day}.jsonl`;
}

export interface AuditFile {
  /** File name inside the audit directory. */
  readonly name: string;
  /** Its UTC day, `YYYY-MM-DD`. */
  readonly day: string;
  /** Epoch ms of the day's start (00:00 UTC); the day ends DAY_MS later. */
  readonly dayStartMs: number;
}

/** The audit files of `dir`, oldest first; other names are ignored. Throws if `dir` is missing. */
export async function listAuditFiles(dir: string): Promise<AuditFile[]> {
  const files: AuditFile[] = [];
  for (const name of await readdir(dir)) {
    const day = FILE_NAME.exec(name)?.[1];
    if (day === undefined) continue;
    const dayStartMs = Date.parse(`${day}T00:00:00.000Z`);
    if (Number.isFinite(dayStartMs)) files.push({ name, day, dayStartMs });
  }
  return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function dayEndMs(file: AuditFile): number {
  return file.dayStartMs + DAY_MS;
}

/** `crypto.hash` (Node ≥ 20.12): about twice as fast as createHash for one short string. */
const oneShotHash: typeof crypto.hash | undefined = (crypto as Partial<typeof crypto>).hash;

/** The hash of a line's content: sha256, in hex. */
export function auditLineHash(text: string): string {
  return oneShotHash !== undefined
    ? oneShotHash('sha256', text, 'hex')
    : crypto.createHash('sha256').update(text).digest('hex');
}

export type ParsedAuditLine =
  | {
      readonly ok: true;
      readonly record: AuditRecord;
      readonly hashOk: boolean;
      /** `ts` in epoch ms (recordTime), parsed once here for every reader. */
      readonly ms: number;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Whether `text` holds 64 lowercase hex digits from `start` on (and, with `whole`, nothing else):
 * what /^[0-9a-f]{64}$/ tests, without slicing the line and a regex per field (issue 8: the regex
 * was a sixth of catching up a million lines).
 */
function isHex64(text: string, start: number, whole: boolean): boolean {
  if (whole ? text.length !== 64 : start + 64 > text.length) return false;
  for (let i = start; i < start + 64; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x66 || c < 0x30 || (c > 0x39 && c < 0x61)) return false;
  }
  return true;
}

/**
 * Parses one line (without its '\n') and checks its shape: the hash suffix, valid JSON, `seq` a
 * positive safe integer, `ts` a parsable time, `prev` 64 hex, `t` a string. With `checkHash`,
 * `hashOk` tells whether `h` matches the content; without, it is `true` unchecked (the reader's
 * fast path: verifying is verifyAudit's job).
 */
export function parseAuditLine(text: string, checkHash: boolean): ParsedAuditLine {
  if (text.length === 0) return { ok: false, reason: 'empty line' };
  const at = text.length - HASH_SUFFIX_LENGTH;
  const hAt = at + HASH_KEY.length;
  if (at < 1 || !text.startsWith(HASH_KEY, at) || !text.endsWith('"}') || !isHex64(text, hAt, false)) {
    return { ok: false, reason: 'no ,"h":"<64 hex>"} at its end' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'not a JSON object' };
  }
  const r = value as Record<string, unknown>;
  if (typeof r.seq !== 'number' || !Number.isSafeInteger(r.seq) || r.seq < 1) {
    return { ok: false, reason: 'seq missing or not a positive integer' };
  }
  const ms = typeof r.ts === 'string' ? parseTs(r.ts) : Number.NaN;
  if (!Number.isFinite(ms)) return { ok: false, reason: 'ts missing or not a time' };
  if (typeof r.prev !== 'string' || !isHex64(r.prev, 0, true)) {
    return { ok: false, reason: 'prev missing or not 64 hex digits' };
  }
  if (typeof r.t !== 'string') return { ok: false, reason: 't (the event type) missing' };
  // The parsed `h` is the suffix's (64 characters equal to those at hAt) unless another field
  // named "h" came last, as in the suffix checked above.
  if (typeof r.h !== 'string' || r.h.length !== 64 || !text.startsWith(r.h, hAt)) {
    return { ok: false, reason: 'h is not the last field' };
  }
  const hashOk = !checkHash || auditLineHash(`${text.slice(0, -HASH_SUFFIX_LENGTH)}}`) === r.h;
  return { ok: true, record: r as unknown as AuditRecord, hashOk, ms };
}

/** The last `YYYY-MM-DDTHH:MM:SS.` parsed, and its time in epoch ms (see parseTs). */
let tsSecond = '\0';
const ISO_SECOND = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\./;
let tsSecondMs = 0;

/**
 * Date.parse(ts), without parsing it again for every line of the same second: lines come in time
 * order, many a second, and the writer's `ts` is always `YYYY-MM-DDTHH:MM:SS.mmmZ`, whose time is
 * that of its second plus mmm. Any other form goes to Date.parse.
 */
function parseTs(ts: string): number {
  const isoMs = ts.length === 24 && ts.charCodeAt(23) === 0x5a /* Z */ && ts.charCodeAt(19) === 0x2e /* . */;
  if (isoMs && ts.startsWith(tsSecond)) {
    const a = ts.charCodeAt(20) - 0x30;
    const b = ts.charCodeAt(21) - 0x30;
    const c = ts.charCodeAt(22) - 0x30;
    if (a >= 0 && a <= 9 && b >= 0 && b <= 9 && c >= 0 && c <= 9) return tsSecondMs + a * 100 + b * 10 + c;
  }
  const ms = Date.parse(ts);
  if (isoMs && Number.isFinite(ms) && ISO_SECOND.test(ts)) {
    const second = ts.slice(0, 20);
    const secondMs = Date.parse(`${second}000Z`);
    if (Number.isFinite(secondMs)) {
      tsSecond = second;
      tsSecondMs = secondMs;
    }
  }
  return ms;
}

/**
 * The seq a line starts with (`{"seq":N,`, as the writer puts it first), read without parsing the
 * line; undefined if it does not start so. Only to skip lines outside a seq range: a line is
 * valid or not by parseAuditLine alone.
 */
export function leadingAuditSeq(text: string): number | undefined {
  if (!text.startsWith(SEQ_KEY)) return undefined;
  let seq = 0;
  let i = SEQ_KEY.length;
  for (; i < text.length && i < SEQ_KEY.length + 16; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    seq = seq * 10 + (c - 0x30);
  }
  return i > SEQ_KEY.length && text.charCodeAt(i) === 0x2c ? seq : undefined;
}

const SEQ_KEY = '{"seq":';

// ---------------------------------------------------------------------------------------------
// Where a trail ends (AuditLog.open)

export interface ChainHead {
  readonly seq: number;
  readonly h: string;
}

async function readFully(
  handle: FileHandle,
  buffer: Buffer,
  length: number,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`The file ended while reading byte ${position + done}.`);
    done += bytesRead;
  }
}

/** Offset of the last '\n' before byte `end`, or -1; reads backwards in chunks. */
async function lastNewlineBefore(handle: FileHandle, end: number): Promise<number> {
  const chunk = Buffer.allocUnsafe(64 * 1024);
  let pos = end;
  while (pos > 0) {
    const start = Math.max(0, pos - chunk.length);
    await readFully(handle, chunk, pos - start, start);
    const i = chunk.subarray(0, pos - start).lastIndexOf(0x0a);
    if (i !== -1) return start + i;
    pos = start;
  }
  return -1;
}

/**
 * Where a file's complete lines end (`end`: after the last '\n'; `size` beyond it means a torn
 * last line) and the last complete line, without its '\n'. Reads backwards from the end, so the
 * cost does not grow with the file.
 */
export async function readAuditTail(
  path: string,
): Promise<{ size: number; end: number; last: string | undefined }> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const newline = await lastNewlineBefore(handle, size);
    if (newline === -1) return { size, end: 0, last: undefined };
    const start = (await lastNewlineBefore(handle, newline)) + 1;
    const line = Buffer.allocUnsafe(newline - start);
    await readFully(handle, line, line.length, start);
    return { size, end: newline + 1, last: line.toString('utf8') };
  } finally {
    await handle.close();
  }
}

/** The last valid line of a file, read forwards (the slow path, for a damaged tail). */
export async function lastValidAuditLine(
  path: string,
): Promise<{ head: ChainHead; line: number } | undefined> {
  let found: { head: ChainHead; line: number } | undefined;
  let n = 0;
  for await (const lines of auditFileLines(path)) {
    for (const line of lines) {
      n++;
      const parsed = parseAuditLine(line.text, false);
      if (parsed.ok) found = { head: { seq: parsed.record.seq, h: parsed.record.h }, line: n };
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Reading records

export interface AuditLine {
  /** The line without its '\n', decoded as UTF-8. */
  readonly text: string;
  /** False for a last line with no '\n' after it (torn by a crash, or being written right now). */
  readonly complete: boolean;
}

/** The lines that end in one chunk read, or (`complete` false) a last line with no '\n' after it. */
interface LineBatch {
  readonly texts: string[];
  readonly complete: boolean;
}

/** Bytes read at a time; a longer line grows the buffer. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * The lines of one file, in batches: those that end in each chunk read (one await per chunk, not
 * per line), decoded and split once, into one reused buffer. Split on '\n' only: readline would
 * also split on a lone '\r' and hide whether the last line ended in '\n', and both matter to the
 * verifier's line numbers and its torn-line check. A line may be any length.
 */
async function* lineBatches(path: string): AsyncGenerator<LineBatch> {
  const handle = await open(path, 'r');
  try {
    let buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    let kept = 0; // the start of a line whose '\n' is not read yet, at the buffer's start
    let position = 0;
    for (;;) {
      if (kept === buffer.length) {
        const larger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(larger, 0, 0, kept);
        buffer = larger;
      }
      const { bytesRead } = await handle.read(buffer, kept, buffer.length - kept, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const end = kept + bytesRead;
      // The kept bytes hold no '\n', so this is the last one read, or -1.
      const newline = buffer.lastIndexOf(0x0a, end - 1);
      if (newline === -1) {
        kept = end;
        continue;
      }
      // '\n' never occurs inside a multi-byte UTF-8 sequence, so this decodes whole characters.
      const texts = buffer.toString('utf8', 0, newline).split('\n');
      kept = buffer.copy(buffer, 0, newline + 1, end);
      yield { texts, complete: true };
    }
    if (kept > 0) yield { texts: [buffer.toString('utf8', 0, kept)], complete: false };
  } finally {
    await handle.close();
  }
}

/** The lines of one file, in batches (see lineBatches), each saying whether it ended in '\n'. */
export async function* auditFileLines(path: string): AsyncGenerator<AuditLine[]> {
  for await (const { texts, complete } of lineBatches(path)) {
    yield texts.map((text) => ({ text, complete }));
  }
}

/** The seq of a file's first line, read from its first bytes (`{"seq":N,`); undefined if damaged. */
async function firstSeq(path: string): Promise<number | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const head = Buffer.alloc(32);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const digits = /^\{"seq":(\d{1,16}),/.exec(head.subarray(0, bytesRead).toString('latin1'))?.[1];
    return digits === undefined ? undefined : Number(digits);
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

export interface AuditRange {
  /** Records with ts ≥ this (epoch ms). */
  readonly fromMs?: number;
  /** Records with ts < this (epoch ms). */
  readonly toMs?: number;
  /** Records with seq > this. */
  readonly afterSeq?: number;
  /** Records with seq ≤ this (a daemon catching up reads no further than the trail it opened). */
  readonly toSeq?: number;
}

/** Records read together (the lines of one chunk), each with its time in epoch ms. */
export interface AuditBatch {
  readonly records: AuditRecord[];
  /** `times[i]` is recordTime(records[i]), parsed once. */
  readonly times: number[];
}

/**
 * The records of the audit trail in `dir`, in file (= seq) order, that fall in `range`: ts in
 * [fromMs, toMs) and seq in (afterSeq, toSeq]. A missing directory reads as an empty trail.
 *
 * Whole files are skipped without being read when their day lies outside [fromMs, toMs), and,
 * for `afterSeq`, when the next file starts at or below afterSeq + 1 (read from its first bytes),
 * or, for the newest file, when its last line is at or below afterSeq (read from its end). Lines
 * outside the seq range are skipped by their leading seq, unparsed. One approximation: a file
 * holds the lines of its day, except that after the wall clock stepped back across midnight, the
 * newest file also takes lines dated the day before (audit-log.ts); such lines are missed by a
 * range that ends before that file's day begins.
 */
export async function* readAudit(dir: string, range: AuditRange = {}): AsyncGenerator<AuditRecord> {
  for await (const batch of readAuditBatches(dir, range)) yield* batch.records;
}

/** readAudit by the batch: one await per chunk read, and each record's time already parsed. */
export async function* readAuditBatches(dir: string, range: AuditRange = {}): AsyncGenerator<AuditBatch> {
  const fromMs = range.fromMs ?? Number.NEGATIVE_INFINITY;
  const toMs = range.toMs ?? Number.POSITIVE_INFINITY;
  const afterSeq = range.afterSeq ?? 0;
  const toSeq = range.toSeq ?? Number.POSITIVE_INFINITY;
  let files: AuditFile[];
  try {
    files = await listAuditFiles(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  files = files.filter((f) => dayEndMs(f) > fromMs && f.dayStartMs < toMs);
  for (let i = 0; i < files.length; i++) {
    const path = join(dir, files[i]!.name);
    const next = files[i + 1];
    try {
      if (afterSeq > 0) {
        if (next !== undefined) {
          // Seqs grow across files: if the next file starts at or below afterSeq + 1, every line
          // of this one is ≤ afterSeq.
          const nextFirst = await firstSeq(join(dir, next.name));
          if (nextFirst !== undefined && nextFirst <= afterSeq + 1) continue;
        } else if (await endsAtOrBefore(path, afterSeq)) {
          // The usual restart: the rollups were saved after the trail's last line.
          continue;
        }
      }
      for await (const { texts } of lineBatches(path)) {
        const records: AuditRecord[] = [];
        const times: number[] = [];
        for (const text of texts) {
          const lead = leadingAuditSeq(text);
          if (lead !== undefined && (lead <= afterSeq || lead > toSeq)) continue;
          const parsed = parseAuditLine(text, false);
          if (!parsed.ok) continue;
          const { record, ms } = parsed;
          if (record.seq <= afterSeq || record.seq > toSeq) continue;
          if (ms < fromMs || ms >= toMs) continue;
          records.push(record);
          times.push(ms);
        }
        if (records.length > 0) yield { records, times };
      }
    } catch (err) {
      // Retention (a running daemon) may delete a file between the listing and its reading.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** Whether a file's last line is valid with a seq ≤ `seq`, and nothing follows it. */
async function endsAtOrBefore(path: string, seq: number): Promise<boolean> {
  const tail = await readAuditTail(path);
  if (tail.last === undefined || tail.size !== tail.end) return false;
  const parsed = parseAuditLine(tail.last, false);
  return parsed.ok && parsed.record.seq <= seq;
}
