/**
 * Snapshots (DESIGN §3.6, issue 5 item 2): the whole state as one file, so recovery replays only
 * the journal written since. File `snapshot-<seq, 20 digits>.snap`:
 *
 *   offset  size  field
 *   0       8     magic      ASCII "LHSNAP01"
 *   8       2     version    format version, u16 big-endian (2; version 1 is still read)
 *   10      8     seq        u64 big-endian: the state includes every journal record ≤ seq
 *   18      4     length     payload length in bytes, u32 big-endian (= file size − 26)
 *   22      4     crc        CRC-32 (IEEE, crc32.ts) of the payload
 *   26      n     payload    version 2: the state in columns (columns.ts): long arrays of numbers
 *                            and strings as raw blocks, the rest MessagePack;
 *                            version 1: MessagePack of the state object (msgpackr, useRecords: false)
 *
 * Version 2 (issue 8): at a million leases, version 1's single MessagePack document was most of the
 * snapshot's time (encoding into a buffer that grows by copying) and a good part of the restart's;
 * version 2 is encoded into one buffer of the right size and written with one write, and decodes
 * in a fraction of the time. A state directory written by a version 1 build still recovers.
 *
 * A snapshot is written atomically: temp file in the same directory, fsync, rename, fsync the
 * directory. A reader therefore sees a whole snapshot or none, and ignores `.tmp` leftovers.
 */
import { type FileHandle, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ColumnarFormatError,
  type DecodeColumnarOptions,
  decodeColumnar,
  encodeColumnar,
} from './columns.js';
import { crc32 } from './crc32.js';
import { SnapshotCorruptError } from './errors.js';
import { unpackPayload } from './record-codec.js';
import {
  listStateDir,
  type SeqFile,
  snapshotFileName,
  snapshotTempName,
  syncDir,
  writeFully,
} from './state-files.js';

export const SNAPSHOT_MAGIC = 'LHSNAP01';
export const SNAPSHOT_FORMAT_VERSION = 2;
/** The MessagePack-only format of earlier builds: read, never written. */
export const SNAPSHOT_FORMAT_V1 = 1;
export const SNAPSHOT_HEADER_BYTES = 26;
/** Snapshots kept after a successful write. */
export const SNAPSHOTS_KEPT = 2;

const MAGIC_BYTES = Buffer.from(SNAPSHOT_MAGIC, 'ascii');
const TWO_POW_32 = 0x1_0000_0000;
const MAX_PAYLOAD_BYTES = 0xffff_ffff;

export interface WriteSnapshotOptions {
  /**
   * Awaited after the temp file is durable and before the rename that makes the snapshot visible.
   * Pass `journal.whenDurable(seq)`: a snapshot must never become visible before the journal
   * records it covers are durable, or a crash in between would leave a snapshot newer than the
   * journal, which recovery refuses (recovery.ts). If it rejects, the snapshot is abandoned.
   */
  waitFor?: Promise<unknown>;
}

/**
 * Writes `state` as the snapshot at `seq` and returns its path. `state` is encoded synchronously,
 * before the first await, so the caller may keep changing its objects once this call returns.
 * After the snapshot is in place, keeps the two newest snapshots with a sound header (this one and
 * the next older), deletes older ones and stale `.tmp` files. A rejection from that clean-up means
 * the snapshot itself is in place. Do not run two writes on one directory at once.
 */
export async function writeSnapshot(
  dir: string,
  seq: number,
  state: object,
  options: WriteSnapshotOptions = {},
): Promise<string> {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new RangeError(`A snapshot sequence number must be a safe integer ≥ 0, got ${seq}.`);
  }
  const file = encodeSnapshot(seq, state);
  // Awaited only after the file is written; mark it handled now so an early rejection is not
  // reported as unhandled in the meantime (awaiting it below still throws).
  options.waitFor?.catch(() => undefined);
  const tempPath = join(dir, snapshotTempName(seq));
  const finalPath = join(dir, snapshotFileName(seq));
  try {
    const handle = await open(tempPath, 'w');
    try {
      await writeFully(handle, file);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await options.waitFor;
  } catch (err) {
    // Removing the half-written temp file is tidying up; the error that matters is `err`.
    await unlink(tempPath).catch(() => undefined);
    throw err;
  }
  await rename(tempPath, finalPath);
  await syncDir(dir);
  await pruneSnapshots(dir, seq);
  return finalPath;
}

/**
 * The whole file of a version 2 snapshot: header and payload in one buffer, so that it is written
 * with one write and the payload is never copied.
 */
export function encodeSnapshot(seq: number, state: unknown): Buffer {
  const file = encodeColumnar(state, SNAPSHOT_HEADER_BYTES);
  const payload = file.subarray(SNAPSHOT_HEADER_BYTES);
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw new RangeError(
      `The state encodes to ${payload.length} bytes; a snapshot holds at most ${MAX_PAYLOAD_BYTES}.`,
    );
  }
  encodeSnapshotHeader(seq, payload, SNAPSHOT_FORMAT_VERSION).copy(file, 0);
  return file;
}

export function encodeSnapshotHeader(
  seq: number,
  payload: Uint8Array,
  version: number = SNAPSHOT_FORMAT_VERSION,
): Buffer {
  const header = Buffer.alloc(SNAPSHOT_HEADER_BYTES);
  MAGIC_BYTES.copy(header, 0);
  header.writeUInt16BE(version, 8);
  header.writeUInt32BE(Math.floor(seq / TWO_POW_32), 10);
  header.writeUInt32BE(seq % TWO_POW_32, 14);
  header.writeUInt32BE(payload.length, 18);
  header.writeUInt32BE(crc32(payload), 22);
  return header;
}

export interface SnapshotInfo {
  seq: number;
  /** Path of the snapshot file. */
  file: string;
}

/** The snapshot files of `dir`, newest first (not checked). */
export async function listSnapshots(dir: string): Promise<SnapshotInfo[]> {
  const { snapshots } = await listStateDir(dir);
  return snapshots.map((s) => ({ seq: s.seq, file: join(dir, s.name) }));
}

export interface LoadedSnapshot {
  seq: number;
  state: unknown;
  /** Path of the snapshot file used. */
  file: string;
  /** One line per newer snapshot that was unusable and skipped. */
  warnings: string[];
}

/**
 * Reads the newest usable snapshot, falling back to older ones when the newest is corrupt (each
 * one skipped adds a warning). Undefined when `dir` holds no snapshot file. When snapshot files
 * exist but none is usable, throws SnapshotCorruptError: state files that exist are never quietly
 * treated as no state.
 */
export async function readNewestSnapshot(dir: string): Promise<LoadedSnapshot | undefined> {
  const { snapshots } = await listStateDir(dir);
  const problems: SnapshotCorruptError[] = [];
  for (const snapshot of snapshots) {
    try {
      const state = await readSnapshotFile(dir, snapshot);
      const warnings = problems.map((p) => `${p.message} Fell back to an older snapshot.`);
      return { seq: snapshot.seq, state, file: join(dir, snapshot.name), warnings };
    } catch (err) {
      if (!(err instanceof SnapshotCorruptError)) throw err;
      problems.push(err);
    }
  }
  const first = problems[0];
  if (first === undefined) return undefined;
  const older = problems.slice(1);
  throw new SnapshotCorruptError(
    first.file,
    older.length === 0
      ? `${first.reason}, and there is no older snapshot`
      : `${first.reason}, and no older snapshot is usable either (${older.map((p) => `${p.file}: ${p.reason}`).join('; ')})`,
  );
}

/**
 * Reads and checks one snapshot file, returning its state; throws SnapshotCorruptError. `options`
 * apply to a version 2 (columnar) payload.
 */
export async function readSnapshotFile(
  dir: string,
  snapshot: SeqFile,
  options: DecodeColumnarOptions = {},
): Promise<unknown> {
  const path = join(dir, snapshot.name);
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new SnapshotCorruptError(path, `it cannot be read (${reason})`, { cause: err });
  }
  const headerProblem = checkHeader(data, data.length, snapshot.seq);
  if (headerProblem !== undefined) throw new SnapshotCorruptError(path, headerProblem);
  const payload = data.subarray(SNAPSHOT_HEADER_BYTES);
  const stored = data.readUInt32BE(22);
  const actual = crc32(payload);
  if (stored !== actual) {
    throw new SnapshotCorruptError(
      path,
      `payload checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)})`,
    );
  }
  const version = data.readUInt16BE(8);
  try {
    return version === SNAPSHOT_FORMAT_V1 ? unpackPayload(payload) : decodeColumnar(payload, options);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const what =
      version === SNAPSHOT_FORMAT_V1 || !(err instanceof ColumnarFormatError)
        ? 'valid MessagePack'
        : 'a valid columnar payload';
    throw new SnapshotCorruptError(path, `the payload is not ${what} (${reason})`, { cause: err });
  }
}

/** What is wrong with a snapshot header, given the file's size; undefined when it is sound. */
function checkHeader(header: Buffer, fileSize: number, nameSeq: number): string | undefined {
  if (fileSize < SNAPSHOT_HEADER_BYTES || header.length < SNAPSHOT_HEADER_BYTES) {
    return `the file is ${fileSize} bytes, shorter than the ${SNAPSHOT_HEADER_BYTES}-byte header`;
  }
  if (!header.subarray(0, 8).equals(MAGIC_BYTES)) return `bad magic (not a Leasehold snapshot)`;
  const version = header.readUInt16BE(8);
  if (version !== SNAPSHOT_FORMAT_VERSION && version !== SNAPSHOT_FORMAT_V1) {
    return `format version ${version} is not supported (this build reads versions ${SNAPSHOT_FORMAT_V1} and ${SNAPSHOT_FORMAT_VERSION})`;
  }
  const seq = header.readUInt32BE(10) * TWO_POW_32 + header.readUInt32BE(14);
  if (seq !== nameSeq) return `the header says seq ${seq} but the file name says ${nameSeq}`;
  const length = header.readUInt32BE(18);
  if (length !== fileSize - SNAPSHOT_HEADER_BYTES) {
    return `the header announces ${length} payload bytes but the file holds ${fileSize - SNAPSHOT_HEADER_BYTES}`;
  }
  return undefined;
}

/**
 * Reads only the header. Pruning uses this rather than a full check: re-reading and checksumming
 * the previous snapshot (hundreds of MB with a million leases) on every write would cost more than
 * the write itself; a payload bit flip is caught when a snapshot is read, and the other kept one
 * is the fallback.
 */
async function hasSoundHeader(dir: string, snapshot: SeqFile): Promise<boolean> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(join(dir, snapshot.name), 'r');
    const { size } = await handle.stat();
    const header = Buffer.alloc(SNAPSHOT_HEADER_BYTES);
    const { bytesRead } = await handle.read(header, 0, SNAPSHOT_HEADER_BYTES, 0);
    return checkHeader(header.subarray(0, bytesRead), size, snapshot.seq) === undefined;
  } catch {
    return false;
  } finally {
    await handle?.close();
  }
}

/**
 * Keeps the newest SNAPSHOTS_KEPT snapshots that have a sound header (the one just written counts
 * as sound) and deletes older ones. An unsound snapshot newer than the one just written is left for
 * recovery to report; stale temp files from interrupted writes are removed.
 */
async function pruneSnapshots(dir: string, writtenSeq: number): Promise<void> {
  const { snapshots, temps } = await listStateDir(dir);
  const doomed: string[] = [];
  let kept = 0;
  for (const snapshot of snapshots) {
    if (kept >= SNAPSHOTS_KEPT) doomed.push(snapshot.name);
    else if (snapshot.seq === writtenSeq || (await hasSoundHeader(dir, snapshot))) kept++;
    else if (snapshot.seq < writtenSeq) doomed.push(snapshot.name);
  }
  for (const temp of temps) if (temp.seq < writtenSeq) doomed.push(temp.name);
  for (const name of doomed) await unlink(join(dir, name));
  if (doomed.length > 0) await syncDir(dir);
}
