/** Shared set-up for the store tests: real temp directories, real files, removed after each test. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from '../../src/store/crc32.js';
import { JournalWriter } from '../../src/store/journal.js';
import { decodeRecord, packPayload, zeroTailStart } from '../../src/store/record-codec.js';
import type { RecoveryResult } from '../../src/store/recovery.js';
import { SNAPSHOT_HEADER_BYTES } from '../../src/store/snapshot.js';
import { onCleanup } from '../helpers/cleanup.js';

export function tempStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-store-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function filesIn(dir: string): string[] {
  return readdirSync(dir).sort();
}

export function journalName(firstSeq: number): string {
  return `journal-${String(firstSeq).padStart(20, '0')}.log`;
}

export function snapshotName(seq: number): string {
  return `snapshot-${String(seq).padStart(20, '0')}.snap`;
}

/** The record every test writes for a seq: easy to check after a round trip. */
export function change(seq: number): object {
  return { op: 'grant', seq, lease: `L${seq}`, user: 'ada', count: 1 };
}

/**
 * Appends the records lastSeq+1..lastSeq+count through a real JournalWriter, starting a new file
 * before each seq listed in `rotateBefore`, and closes it.
 */
export async function writeJournal(
  dir: string,
  count: number,
  options: { lastSeq?: number; rotateBefore?: number[] } = {},
): Promise<void> {
  const lastSeq = options.lastSeq ?? 0;
  const journal = await JournalWriter.open(dir, { lastSeq });
  for (let seq = lastSeq + 1; seq <= lastSeq + count; seq++) {
    if (options.rotateBefore?.includes(seq)) await journal.rotate();
    journal.append(change(seq));
  }
  await journal.close();
}

/**
 * Every record in a journal file, decoded, with its offset; `end` is where the records end, which
 * is before the file's `size` when the writer preallocated it (a zero tail, journal.ts).
 */
function scanJournalFile(path: string): {
  records: { seq: number; record: unknown; offset: number }[];
  end: number;
  size: number;
} {
  const data = readFileSync(path);
  const zeroStart = zeroTailStart(data);
  const records: { seq: number; record: unknown; offset: number }[] = [];
  let offset = 0;
  for (;;) {
    const decoded = offset < zeroStart ? decodeRecord(data, offset) : undefined;
    if (decoded === undefined) return { records, end: offset, size: data.length };
    records.push({ seq: decoded.seq, record: decoded.record, offset });
    offset = decoded.end;
  }
}

/** Byte offset of every record in a journal file, where they end, and the file's size. */
export function recordOffsets(path: string): { offsets: number[]; end: number; size: number } {
  const { records, end, size } = scanJournalFile(path);
  return { offsets: records.map((r) => r.offset), end, size };
}

/** Every record in a journal file, decoded (up to its zero tail, if it has one). */
export function readJournalFile(path: string): { seq: number; record: unknown }[] {
  return scanJournalFile(path).records.map(({ seq, record }) => ({ seq, record }));
}

/**
 * A whole snapshot file built by hand around `payload`: the header as every version writes it.
 * With version 1 and a MessagePack payload it is what builds before issue 8 wrote.
 */
export function snapshotFile(seq: number, payload: Uint8Array, version = 1): Buffer {
  const header = Buffer.alloc(SNAPSHOT_HEADER_BYTES);
  header.write('LHSNAP01', 0, 'ascii');
  header.writeUInt16BE(version, 8);
  header.writeBigUInt64BE(BigInt(seq), 10);
  header.writeUInt32BE(payload.length, 18);
  header.writeUInt32BE(crc32(payload), 22);
  return Buffer.concat([header, payload]);
}

/** Writes `state` as a version 1 snapshot (MessagePack of the whole state); returns its path. */
export function writeVersion1Snapshot(dir: string, seq: number, state: object): string {
  const file = join(dir, snapshotName(seq));
  writeFileSync(file, snapshotFile(seq, packPayload(state)));
  return file;
}

/** A recovery result's records with their seqs (`records[i]` has seq `firstSeq + i`). */
export function numbered(result: RecoveryResult): { seq: number; record: unknown }[] {
  return result.records.map((record, i) => ({ seq: result.firstSeq + i, record }));
}
