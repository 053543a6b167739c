/**
 * Reading the audit trail (issue 7): the line format as a reader sees it (audit-log.ts writes it
 * and describes it), the files, and `readAudit` for the reports and the rollups: the records of a
 * time or seq range, streamed, so a year of files costs one pass over the days asked for and never
 * holds more than a chunk's lines in memory.
 *
 * The reader trusts the trail: it skips lines it cannot parse (a torn last line, damage) without
 * saying so. Checking the trail is verifyAudit's job (audit-verify.ts).
 */
import * as crypto from 'node:crypto';
import { createReadStream } from 'node:fs';
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
const HEX64 = /^[0-9a-f]{64}$/;
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
  | { readonly ok: true; readonly record: AuditRecord; readonly hashOk: boolean }
  | { readonly ok: false; readonly reason: string };

/**
 * Parses one line (without its '\n') and checks its shape: the hash suffix, valid JSON, `seq` a
 * positive safe integer, `ts` a parsable time, `prev` 64 hex, `t` a string. With `checkHash`,
 * `hashOk` tells whether `h` matches the content; without, it is `true` unchecked (the reader's
 * fast path: verifying is verifyAudit's job).
 */
export function parseAuditLine(text: string, checkHash: boolean): ParsedAuditLine {
  if (text.length === 0) return { ok: false, reason: 'empty line' };
  const at = text.length - HASH_SUFFIX_LENGTH;
  const h = text.slice(at + HASH_KEY.length, -2);
  if (at < 1 || !text.startsWith(HASH_KEY, at) || !text.endsWith('"}') || !HEX64.test(h)) {
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
  if (typeof r.ts !== 'string' || !Number.isFinite(Date.parse(r.ts))) {
    return { ok: false, reason: 'ts missing or not a time' };
  }
  if (typeof r.prev !== 'string' || !HEX64.test(r.prev)) {
    return { ok: false, reason: 'prev missing or not 64 hex digits' };
  }
  if (typeof r.t !== 'string') return { ok: false, reason: 't (the event type) missing' };
  if (r.h !== h) return { ok: false, reason: 'h is not the last field' };
  const hashOk = !checkHash || auditLineHash(`${text.slice(0, -HASH_SUFFIX_LENGTH)}}`) === h;
  return { ok: true, record: r as unknown as AuditRecord, hashOk };
}

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

/**
 * The lines of one file, in batches (those that end in each 1 MiB chunk read: one await per
 * batch, not per line). Split on '\n' only: readline would also split on a lone '\r' and hide
 * whether the last line ended in '\n', and both matter to the verifier's line numbers and its
 * torn-line check. A line may be any length.
 */
export async function* auditFileLines(path: string): AsyncGenerator<AuditLine[]> {
  const stream = createReadStream(path, { highWaterMark: 1024 * 1024 });
  let pending: Buffer[] = [];
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const newline = chunk.lastIndexOf(0x0a);
      if (newline === -1) {
        pending.push(chunk);
        continue;
      }
      // '\n' never occurs inside a multi-byte UTF-8 sequence, so this decodes whole characters.
      const head = chunk.subarray(0, newline);
      const bytes = pending.length === 0 ? head : Buffer.concat([...pending, head]);
      pending = newline + 1 < chunk.length ? [chunk.subarray(newline + 1)] : [];
      yield bytes
        .toString('utf8')
        .split('\n')
        .map((text) => ({ text, complete: true }));
    }
    if (pending.length > 0) yield [{ text: Buffer.concat(pending).toString('utf8'), complete: false }];
  } finally {
    stream.destroy();
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
}

/**
 * The records of the audit trail in `dir`, in file (= seq) order, that fall in `range`: ts in
 * [fromMs, toMs) and seq > afterSeq. A missing directory reads as an empty trail.
 *
 * Whole files are skipped without being read when their day lies outside [fromMs, toMs), and,
 * for `afterSeq`, when the next file starts at or below afterSeq + 1 (read from its first bytes).
 * One approximation: a file holds the lines of its day, except that after the wall clock stepped
 * back across midnight, the newest file also takes lines dated the day before (audit-log.ts); such
 * lines are missed by a range that ends before that file's day begins.
 */
export async function* readAudit(dir: string, range: AuditRange = {}): AsyncGenerator<AuditRecord> {
  const fromMs = range.fromMs ?? Number.NEGATIVE_INFINITY;
  const toMs = range.toMs ?? Number.POSITIVE_INFINITY;
  const afterSeq = range.afterSeq ?? 0;
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
    if (afterSeq > 0 && next !== undefined) {
      // Seqs grow across files: if the next file starts at or below afterSeq + 1, every line of
      // this one is ≤ afterSeq.
      const nextFirst = await firstSeq(join(dir, next.name));
      if (nextFirst !== undefined && nextFirst <= afterSeq + 1) continue;
    }
    try {
      for await (const lines of auditFileLines(path)) {
        for (const line of lines) {
          const parsed = parseAuditLine(line.text, false);
          if (!parsed.ok) continue;
          const record = parsed.record;
          if (record.seq <= afterSeq) continue;
          const ms = Date.parse(record.ts);
          if (ms < fromMs || ms >= toMs) continue;
          yield record;
        }
      }
    } catch (err) {
      // Retention (a running daemon) may delete a file between the listing and its reading.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
