/**
 * Crash recovery (DESIGN §3.6, issue 5 item 3): the newest usable snapshot plus every journal record
 * after it, in order. The caller rebuilds its state from them; this module knows nothing of what
 * the records mean.
 *
 * What is accepted, what is repaired, what is refused:
 *
 * 1. Fresh directory (missing, or no journal and no snapshot file): empty result.
 * 2. Snapshots are tried newest first; an unusable one (bad magic, version, length, checksum) is
 *    skipped with a warning and the next older one is used. `.tmp` files (an interrupted snapshot
 *    write) are ignored with a warning. With no usable snapshot the base is the empty state, seq 0.
 * 3. Journal files are read from the one holding the record after the base on. Files entirely
 *    covered by the base are not read (the snapshot made them redundant; compaction removes them).
 *    From there on the sequence must be gapless: each file starts with the seq its name says,
 *    records go +1 at a time, and each file continues exactly where the previous one ended.
 * 4. The LAST journal file may go on past its records with zero bytes: the writer zero-fills the
 *    file it writes ahead of its records (journal.ts, "Preallocation"), and only a clean shutdown or
 *    a rotation cuts that tail off. Where only zeros remain, the journal has ended normally: the
 *    file is truncated to the end of its records, without a warning, so that it is not left with a
 *    zero tail once the writer starts the next file (a zero tail in any other file is a torn record
 *    there, refused as in 6). Records that were written but lost whole in a crash look the same as
 *    that tail; in 'fsync' mode none of them was reported durable.
 * 5. A torn record at the end of the LAST journal file is the trace of an interrupted append; in
 *    'fsync' mode it was never reported durable. The file is truncated on disk to the last whole
 *    record, with a warning. A torn record is one whose data ends early: at the end of the file, or,
 *    in a zero-filled file, at a sector boundary past which only zeros follow, so that its checksum
 *    fails (record-codec.ts `cutShortAt`; a checksum failure not explained so stays corruption). To
 *    tell a torn write from a damaged length field, the rest of the file is searched for an intact
 *    record with a later seq: if one exists, it is corruption (6 below).
 * 6. Refused with a RecoveryError naming the file, the byte offset, what is wrong and what to do:
 *    - a bad record anywhere else: checksum mismatch, impossible length, undecodable payload, a
 *      seq that is not the one expected, a torn record in a file that is not the last;
 *    - a gap: records between the base and the first journal file, or between two files, missing
 *      (a journal file lost from the middle, or an empty file that is not the last);
 *    - the journal ends before a snapshot's seq, while journal files exist. A snapshot is written
 *      only once the journal holding its seq is durable (WriteSnapshotOptions.waitFor), so this
 *      means journal data that was once durable is gone, and records after the snapshot, which
 *      clients were told are durable, may be gone too. A corrupt snapshot's seq counts too: its
 *      name still says what the journal reached;
 *    - snapshot files exist but none is usable, and the journal does not start at seq 1 (or there
 *      is none): the state before the journal is lost. Never start empty silently.
 * 7. No journal file at all next to a usable snapshot ("missing journal"): a snapshot alone is a
 *    consistent state, so recovery starts from it with a warning that changes made after it, if
 *    any, are lost. (A missing file in the middle of the journal is a gap: refused, see 6.)
 * 8. `forceRecover: true` keeps everything up to the last good point and sets the rest aside,
 *    renaming files to `<name>.corrupt-<time>` rather than deleting them: a journal file damaged
 *    midway is copied aside whole and then truncated before the bad record; every later journal
 *    file and every unusable snapshot is renamed aside; a damaged file with nothing good in it is
 *    renamed aside. When the journal ends before the base snapshot, the snapshot is kept. With no
 *    usable base and no journal from seq 1, the last good point is the empty state. `dropped` says
 *    what was set aside.
 *
 * Nothing on disk is changed unless recovery succeeds (or is forced).
 */
import { constants } from 'node:fs';
import { copyFile, open, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RecordCorruptError, RecordTornError, RecoveryError, SnapshotCorruptError } from './errors.js';
import {
  cutShortAt,
  intactRecordSeq,
  RECORD_HEADER_BYTES,
  type RecordPosition,
  readRecord,
  readU32,
  releaseDecodedSource,
  zeroTailStart,
} from './record-codec.js';
import { readSnapshotFile } from './snapshot.js';
import { corruptName, listStateDir, type SeqFile, syncDir } from './state-files.js';

export interface RecoverOptions {
  /** Keep everything up to the last good point and set the rest aside instead of refusing. */
  forceRecover?: boolean;
  /** Clock for the `.corrupt-<time>` suffix (tests). */
  now?: () => Date;
  /**
   * A version 2 snapshot's numeric columns as typed arrays rather than plain arrays (columns.ts
   * DecodeColumnarOptions): for a caller that only indexes them, it saves a copy of each.
   */
  typedColumns?: boolean;
}

export interface RecoveredSnapshot {
  seq: number;
  state: unknown;
  /** Path of the snapshot file. */
  file: string;
}

export interface RecoveryResult {
  /** The base state, when a usable snapshot exists. */
  snapshot?: RecoveredSnapshot;
  /**
   * Journal records after the snapshot's seq, in order, gapless, as they were decoded: no
   * `{seq, record}` object around each (a million of them at a restart after a crash).
   */
  records: unknown[];
  /** The seq of `records[0]`: the snapshot's seq + 1 (1 without a snapshot). */
  firstSeq: number;
  /** The last seq recovered (snapshot or record): open the JournalWriter with it. */
  lastSeq: number;
  /** Things repaired or worked around that the operator should hear about. */
  warnings: string[];
  /** With forceRecover: what was set aside. Empty otherwise. */
  dropped: string[];
}

interface BadSnapshot {
  file: SeqFile;
  error: SnapshotCorruptError;
}

interface JournalFault {
  /** Index into the journal listing of the file at fault. */
  index: number;
  offset: number;
  problem: string;
}

interface JournalScan {
  /** The records after the base; the first one has seq base + 1. */
  records: unknown[];
  /** The seq the journal would continue with; undefined when no journal file was read. */
  next: number | undefined;
  torn?: { index: number; offset: number; size: number; reason: string };
  /** The last file's zero tail (see 4 above): its bytes from `offset` to its end (`size`) are zero. */
  zeroTail?: { index: number; offset: number; size: number };
  fault?: JournalFault;
}

export async function recover(dir: string, options: RecoverOptions = {}): Promise<RecoveryResult> {
  const force = options.forceRecover === true;
  const stamp = (options.now ?? (() => new Date()))();
  const { journals, snapshots, temps } = await listStateDir(dir);
  const warnings: string[] = [];
  const dropped: string[] = [];

  for (const temp of temps) {
    warnings.push(`${join(dir, temp.name)} is left over from an interrupted snapshot write; ignored.`);
  }

  // Base: the newest usable snapshot.
  let snapshot: RecoveredSnapshot | undefined;
  const badSnapshots: BadSnapshot[] = [];
  for (const file of snapshots) {
    try {
      const state = await readSnapshotFile(dir, file, { typedNumbers: options.typedColumns === true });
      snapshot = { seq: file.seq, state, file: join(dir, file.name) };
      break;
    } catch (err) {
      if (!(err instanceof SnapshotCorruptError)) throw err;
      badSnapshots.push({ file, error: err });
    }
  }
  const baseSeq = snapshot?.seq ?? 0;
  for (const bad of badSnapshots) {
    const fallback =
      snapshot === undefined ? 'No usable snapshot remains.' : `Using ${snapshot.file} instead.`;
    warnings.push(`${bad.error.message} ${fallback}`);
  }

  if (journals.length === 0) {
    if (snapshot === undefined && badSnapshots.length === 0) {
      return { records: [], firstSeq: 1, lastSeq: 0, warnings, dropped };
    }
    if (snapshot === undefined) {
      const newest = badSnapshots[0]!;
      if (!force) {
        throw new RecoveryError({
          dir,
          file: newest.error.file,
          problem: `${badSnapshots.length === 1 ? 'the only snapshot is unusable' : 'no snapshot is usable'} (${newest.error.reason}) and there is no journal`,
          lastGoodSeq: 0,
        });
      }
    } else {
      warnings.push(
        `No journal file in ${dir}: starting from ${snapshot.file} (seq ${snapshot.seq}) alone. ` +
          'Changes made after that snapshot, if there were any, are lost.',
      );
    }
    if (force) await setSnapshotsAside(dir, badSnapshots, stamp, dropped);
    return result(snapshot, [], baseSeq, warnings, dropped);
  }

  const scan = await scanJournal(dir, journals, snapshot);
  const reached = scan.next === undefined ? baseSeq : scan.next - 1;

  if (scan.fault !== undefined) {
    const { index, offset, problem } = scan.fault;
    const file = journals[index]!;
    if (!force) {
      throw new RecoveryError({
        dir,
        file: join(dir, file.name),
        offset,
        problem,
        lastGoodSeq: Math.max(baseSeq, reached),
      });
    }
    // Later files first: if this is interrupted, the next run still finds the fault and redoes it.
    for (let i = journals.length - 1; i > index; i--) {
      const later = journals[i]!;
      const aside = await setAside(dir, later.name, stamp);
      dropped.push(
        `${later.name} (the whole file, records from seq ${later.seq} on): it comes after the damage; moved to ${aside}.`,
      );
    }
    if (offset === 0) {
      const aside = await setAside(dir, file.name, stamp);
      dropped.push(`${file.name} (the whole file): ${problem}; moved to ${aside}.`);
    } else {
      const { size } = await stat(join(dir, file.name));
      const copy = await copyAside(dir, file.name, stamp);
      await truncateFile(join(dir, file.name), offset);
      dropped.push(
        `${file.name} from byte ${offset} to its end (${size - offset} bytes, records from seq ` +
          `${reached + 1} on): ${problem}; the original file is kept as ${copy}.`,
      );
    }
    await setSnapshotsAside(dir, badSnapshots, stamp, dropped);
    await syncDir(dir);
    return result(snapshot, scan.records, Math.max(baseSeq, reached), warnings, dropped);
  }

  // The journal must reach every snapshot's seq (see 6 above), a usable one's or not.
  const claimed = snapshots[0];
  if (claimed !== undefined && reached < claimed.seq) {
    const last = journals.at(-1)!;
    const isBase = claimed.seq === baseSeq;
    const problem =
      `the journal ends at seq ${reached}, but ${isBase ? 'the snapshot' : 'the (unusable) snapshot'} ` +
      `${claimed.name} is at seq ${claimed.seq}: journal records that were once durable are missing, ` +
      'and so may be records written after the snapshot';
    if (!force) {
      throw new RecoveryError({
        dir,
        file: join(dir, last.name),
        problem,
        lastGoodSeq: Math.max(baseSeq, reached),
      });
    }
    if (isBase) {
      dropped.push(
        `Journal records after seq ${baseSeq}, if any were written: the journal ends at seq ${reached}, ` +
          `before ${claimed.name}; started from that snapshot.`,
      );
    }
  }

  if (scan.torn !== undefined) {
    const { index, offset, size, reason } = scan.torn;
    const file = journals[index]!;
    await truncateFile(join(dir, file.name), offset);
    warnings.push(
      `${join(dir, file.name)}: torn record at byte ${offset} (${reason}), left by an interrupted write; ` +
        `truncated the file from ${size} to ${offset} bytes. The last record kept is seq ${reached}.`,
    );
  } else if (scan.zeroTail !== undefined) {
    // The normal end of a file the writer had preallocated (see 4 above): nothing to report.
    const { index, offset } = scan.zeroTail;
    await truncateFile(join(dir, journals[index]!.name), offset);
  }
  if (snapshot === undefined && badSnapshots.length > 0) {
    warnings.push(`No usable snapshot: rebuilt the state from the whole journal (seq 1 to ${reached}).`);
  }
  if (force) await setSnapshotsAside(dir, badSnapshots, stamp, dropped);
  return result(snapshot, scan.records, Math.max(baseSeq, reached), warnings, dropped);
}

function result(
  snapshot: RecoveredSnapshot | undefined,
  records: unknown[],
  lastSeq: number,
  warnings: string[],
  dropped: string[],
): RecoveryResult {
  // The snapshot file and the last journal file read are garbage now; msgpackr would keep one.
  releaseDecodedSource();
  // Records are kept from the one after the base on (scanJournal).
  const firstSeq = (snapshot?.seq ?? 0) + 1;
  return snapshot === undefined
    ? { records, firstSeq, lastSeq, warnings, dropped }
    : { snapshot, records, firstSeq, lastSeq, warnings, dropped };
}

/**
 * Reads the journal from the file holding seq base+1 on, checking that the sequence is gapless.
 * Stops at the first fault; a torn tail of the last file is reported separately.
 */
async function scanJournal(
  dir: string,
  journals: SeqFile[],
  snapshot: RecoveredSnapshot | undefined,
): Promise<JournalScan> {
  const baseSeq = snapshot?.seq ?? 0;
  const records: unknown[] = [];
  // The first file that may hold a record after the base: the last one, or one whose successor
  // starts after base + 1.
  let start = 0;
  while (start + 1 < journals.length && journals[start + 1]!.seq <= baseSeq + 1) start++;
  let next: number | undefined;

  for (let index = start; index < journals.length; index++) {
    const file = journals[index]!;
    const isLast = index === journals.length - 1;
    if (next === undefined) {
      if (file.seq > baseSeq + 1) {
        const base =
          snapshot === undefined
            ? 'there is no usable snapshot'
            : `the snapshot ${snapshot.file} holds the state up to seq ${baseSeq}`;
        return {
          records,
          next,
          fault: {
            index,
            offset: 0,
            problem: `journal records ${baseSeq + 1} to ${file.seq - 1} are missing: ${base}, and the journal starts at seq ${file.seq}`,
          },
        };
      }
      next = file.seq;
    } else if (file.seq !== next) {
      const problem =
        file.seq > next
          ? `journal records ${next} to ${file.seq - 1} are missing: the previous journal file ends at seq ${next - 1} and this one starts at seq ${file.seq}`
          : `this file starts at seq ${file.seq}, but the previous journal file already reached seq ${next - 1}`;
      return { records, next, fault: { index, offset: 0, problem } };
    }

    const data = await readFile(join(dir, file.name));
    // Only the last file may end in zeros (see 4 above); in any other a zero tail stays torn.
    const zeroStart = isLast ? zeroTailStart(data) : data.length;
    const at: RecordPosition = { seq: 0, end: 0 };
    let offset = 0;
    while (offset < data.length) {
      if (offset >= zeroStart) return { records, next, zeroTail: { index, offset, size: data.length } };
      let record: unknown;
      try {
        record = readRecord(data, offset, at);
      } catch (err) {
        const cut =
          isLast && err instanceof RecordCorruptError ? cutShortAt(data, offset, zeroStart) : undefined;
        if (err instanceof RecordTornError || cut !== undefined) {
          const after = isLast ? intactRecordAfter(data, offset, next, zeroStart) : undefined;
          const reason =
            cut === undefined
              ? (err as RecordTornError).reason
              : `${(err as RecordCorruptError).reason}, and from byte ${cut} on the file holds only the ` +
                'zeros it was preallocated with: the write stopped there';
          if (isLast && after === undefined) {
            return { records, next, torn: { index, offset, size: data.length, reason } };
          }
          const problem =
            after === undefined
              ? `torn record in a journal file that is not the last one (the journal goes on after it): ${reason}`
              : `damaged record where seq ${next} was expected: ${reason}, yet an intact record with seq ` +
                `${after.seq} follows at byte ${after.offset}, so this is not an interrupted write`;
          return { records, next, fault: { index, offset, problem } };
        }
        if (err instanceof RecordCorruptError) {
          return {
            records,
            next,
            fault: { index, offset, problem: `corrupt record where seq ${next} was expected: ${err.reason}` },
          };
        }
        throw err;
      }
      if (at.seq !== next) {
        const problem =
          offset === 0
            ? `the first record has seq ${at.seq}, but the file name says the file starts at seq ${file.seq}`
            : `the record has seq ${at.seq}, expected ${next} (records must follow each other without a gap)`;
        return { records, next, fault: { index, offset, problem } };
      }
      if (at.seq > baseSeq) records.push(record);
      next++;
      offset = at.end;
    }
  }
  return { records, next };
}

/** How far ahead of a damaged record to look for a later intact one. */
const SEQ_LOOKAHEAD = 1 << 20;

/**
 * The first intact record after `from` whose seq is one the journal could still reach (≥ the
 * damaged record's seq). The seq field is compared before the checksum, so the scan is cheap. No
 * record starts at or past `zeroStart` (its length field would be zero), so a zero tail of
 * megabytes is not scanned.
 */
function intactRecordAfter(
  data: Uint8Array,
  from: number,
  expectedSeq: number,
  zeroStart: number,
): { offset: number; seq: number } | undefined {
  const last = Math.min(data.length - RECORD_HEADER_BYTES, zeroStart - 1);
  for (let offset = from + 1; offset <= last; offset++) {
    const seq = readU32(data, offset + 8) * 0x1_0000_0000 + readU32(data, offset + 12);
    if (seq < expectedSeq || seq >= expectedSeq + SEQ_LOOKAHEAD) continue;
    if (intactRecordSeq(data, offset) === seq) return { offset, seq };
  }
  return undefined;
}

async function setSnapshotsAside(
  dir: string,
  bad: BadSnapshot[],
  stamp: Date,
  dropped: string[],
): Promise<void> {
  for (const { file, error } of bad) {
    const aside = await setAside(dir, file.name, stamp);
    dropped.push(`${file.name}: ${error.reason}; moved to ${aside}.`);
  }
  if (bad.length > 0) await syncDir(dir);
}

async function setAside(dir: string, name: string, stamp: Date): Promise<string> {
  const aside = corruptName(name, stamp);
  await rename(join(dir, name), join(dir, aside));
  return aside;
}

/** Copies a file aside (fsync'd), so truncating the original loses nothing for a later look. */
async function copyAside(dir: string, name: string, stamp: Date): Promise<string> {
  const aside = corruptName(name, stamp);
  await copyFile(join(dir, name), join(dir, aside), constants.COPYFILE_EXCL);
  const handle = await open(join(dir, aside), 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  return aside;
}

async function truncateFile(path: string, size: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(size);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
