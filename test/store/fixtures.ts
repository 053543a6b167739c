/** Shared set-up for the store tests: real temp directories, real files, removed after each test. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JournalWriter } from '../../src/store/journal.js';
import { decodeRecord } from '../../src/store/record-codec.js';
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

/** Byte offset of every record in a journal file, and the file's size. */
export function recordOffsets(path: string): { offsets: number[]; size: number } {
  const data = readFileSync(path);
  const offsets: number[] = [];
  let offset = 0;
  for (;;) {
    const decoded = decodeRecord(data, offset);
    if (decoded === undefined) break;
    offsets.push(offset);
    offset = decoded.end;
  }
  return { offsets, size: data.length };
}

/** Every record in a journal file, decoded. */
export function readJournalFile(path: string): { seq: number; record: unknown }[] {
  const data = readFileSync(path);
  const out: { seq: number; record: unknown }[] = [];
  let offset = 0;
  for (;;) {
    const decoded = decodeRecord(data, offset);
    if (decoded === undefined) return out;
    out.push({ seq: decoded.seq, record: decoded.record });
    offset = decoded.end;
  }
}
