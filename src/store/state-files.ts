/**
 * Names and listing of the files in a state directory (DESIGN §3.6):
 *
 *   journal-<first seq, 20 digits>.log     journal records from that seq on (journal.ts)
 *   snapshot-<seq, 20 digits>.snap         the state after every record up to seq (snapshot.ts)
 *   snapshot-<seq, 20 digits>.tmp          a snapshot being written; ignored by readers
 *   <any of the above>.corrupt-<time>      set aside by `--force-recover`; ignored
 *
 * Twenty digits hold any u64, so names sort in sequence order as plain strings.
 */
import { type FileHandle, open, readdir } from 'node:fs/promises';

const SEQ_DIGITS = 20;
const JOURNAL_NAME = /^journal-(\d{20})\.log$/;
const SNAPSHOT_NAME = /^snapshot-(\d{20})\.snap$/;
const SNAPSHOT_TEMP_NAME = /^snapshot-(\d{20})\.tmp$/;

export interface SeqFile {
  /** File name inside the state directory. */
  name: string;
  /** The seq in the name: a journal's first record, or a snapshot's seq. */
  seq: number;
}

export function padSeq(seq: number): string {
  return String(seq).padStart(SEQ_DIGITS, '0');
}

export function journalFileName(firstSeq: number): string {
  return `journal-${padSeq(firstSeq)}.log`;
}

export function snapshotFileName(seq: number): string {
  return `snapshot-${padSeq(seq)}.snap`;
}

export function snapshotTempName(seq: number): string {
  return `snapshot-${padSeq(seq)}.tmp`;
}

/** A name for a file set aside by forced recovery, e.g. `journal-…log.corrupt-2025-01-02T03-04-05-006Z`. */
export function corruptName(name: string, at: Date): string {
  return `${name}.corrupt-${at.toISOString().replace(/[:.]/g, '-')}`;
}

export interface StateDirListing {
  /** Journal files, oldest first. */
  journals: SeqFile[];
  /** Snapshot files, newest first. */
  snapshots: SeqFile[];
  /** Snapshot temp files left by an interrupted write. */
  temps: SeqFile[];
}

/** Lists the state files of `dir`; a missing directory lists as empty. */
export async function listStateDir(dir: string): Promise<StateDirListing> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { journals: [], snapshots: [], temps: [] };
    throw err;
  }
  const journals: SeqFile[] = [];
  const snapshots: SeqFile[] = [];
  const temps: SeqFile[] = [];
  for (const name of names) {
    const journal = parseSeq(JOURNAL_NAME, name);
    if (journal !== undefined) journals.push({ name, seq: journal });
    const snapshot = parseSeq(SNAPSHOT_NAME, name);
    if (snapshot !== undefined) snapshots.push({ name, seq: snapshot });
    const temp = parseSeq(SNAPSHOT_TEMP_NAME, name);
    if (temp !== undefined) temps.push({ name, seq: temp });
  }
  journals.sort((a, b) => a.seq - b.seq);
  snapshots.sort((a, b) => b.seq - a.seq);
  return { journals, snapshots, temps };
}

function parseSeq(pattern: RegExp, name: string): number | undefined {
  const digits = pattern.exec(name)?.[1];
  if (digits === undefined) return undefined;
  const seq = Number(digits);
  // A name past 2^53 cannot come from this code; leave such a file alone rather than misorder it.
  return Number.isSafeInteger(seq) ? seq : undefined;
}

/**
 * fsyncs a directory, making the creation, rename or removal of its entries durable. Without it a
 * power loss can undo a rename that fsync'd file data was already reported under (DESIGN §3.6).
 */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * One logical write; loops over short writes, which regular files allow (e.g. near a full disk).
 * With `position`, the bytes go to that file offset (pwrite) instead of the current one.
 */
export async function writeFully(handle: FileHandle, bytes: Uint8Array, position?: number): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const at = position === undefined ? null : position + offset;
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset, at);
    if (bytesWritten <= 0) throw new Error(`write() wrote ${bytesWritten} of ${bytes.length - offset} bytes`);
    offset += bytesWritten;
  }
}
