import {
  appendFileSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecoveryError } from '../../src/store/errors.js';
import { JournalWriter } from '../../src/store/journal.js';
import { type RecoveryResult, recover } from '../../src/store/recovery.js';
import { listSnapshots, SNAPSHOT_HEADER_BYTES, writeSnapshot } from '../../src/store/snapshot.js';
import { onCleanup } from '../helpers/cleanup.js';
import {
  change,
  filesIn,
  journalName,
  numbered,
  recordOffsets,
  snapshotName,
  tempStateDir,
  writeJournal,
  writeVersion1Snapshot,
} from './fixtures.js';

const NOW = new Date('2025-03-04T05:06:07.089Z');
const ASIDE = '.corrupt-2025-03-04T05-06-07-089Z';

function records(from: number, to: number): { seq: number; record: object }[] {
  return Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, record: change(from + i) }));
}

function seqs(result: RecoveryResult): number[] {
  return numbered(result).map((r) => r.seq);
}

async function recoveryError(dir: string): Promise<RecoveryError> {
  const err = await recover(dir).catch((e: unknown) => e);
  if (!(err instanceof RecoveryError)) throw new Error(`expected a RecoveryError, got ${String(err)}`);
  return err;
}

function flipByte(path: string, at: number): void {
  const data = readFileSync(path);
  data[at]! ^= 0x10;
  writeFileSync(path, data);
}

describe('recover', () => {
  it('returns an empty result for a fresh directory', async () => {
    const dir = tempStateDir();
    const empty = { records: [], firstSeq: 1, lastSeq: 0, warnings: [], dropped: [] };
    expect(await recover(dir)).toEqual(empty);
    expect(await recover(join(dir, 'not-created-yet'))).toEqual(empty);
    writeFileSync(join(dir, 'README'), 'not a state file');
    expect(await recover(dir)).toEqual(empty);
  });

  it('replays the whole journal, across files, when there is no snapshot', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 10, { rotateBefore: [4, 8] });
    expect(filesIn(dir)).toEqual([journalName(1), journalName(4), journalName(8)]);
    const result = await recover(dir);
    expect(numbered(result)).toEqual(records(1, 10));
    expect(result).toMatchObject({ firstSeq: 1, lastSeq: 10, warnings: [], dropped: [] });
  });

  it('starts from the newest snapshot and replays only the records after its seq', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 10, { rotateBefore: [4, 8] });
    await writeSnapshot(dir, 3, { upTo: 3 });
    await writeSnapshot(dir, 6, { upTo: 6 });
    const result = await recover(dir);
    expect(result.snapshot).toEqual({ seq: 6, state: { upTo: 6 }, file: join(dir, snapshotName(6)) });
    expect(numbered(result)).toEqual(records(7, 10));
    expect(result.lastSeq).toBe(10);
    expect(result.warnings).toEqual([]);
  });

  it('follows the snapshot, rotate and compact flow, and falls back to the older snapshot', async () => {
    const dir = tempStateDir();
    const journal = await JournalWriter.open(dir);
    onCleanup(() => journal.close().catch(() => undefined));
    const snapshotAt = async (n: number) => {
      const seq = journal.lastSeq;
      await writeSnapshot(dir, seq, { upTo: n }, { waitFor: journal.whenDurable(seq) });
      await journal.rotate();
      const kept = await listSnapshots(dir);
      return journal.compact(kept.at(-1)!.seq);
    };
    for (let seq = 1; seq <= 5; seq++) journal.append(change(seq));
    // One snapshot: nothing to fall back to, so the journal it covers goes.
    expect(await snapshotAt(5)).toEqual([journalName(1)]);
    for (let seq = 6; seq <= 10; seq++) journal.append(change(seq));
    // Two: the journal after the older one stays, for the fallback below.
    expect(await snapshotAt(10)).toEqual([]);
    journal.append(change(11));
    journal.append(change(12));
    await journal.close();
    expect(filesIn(dir)).toEqual([journalName(6), journalName(11), snapshotName(5), snapshotName(10)]);

    const result = await recover(dir);
    expect(result.snapshot?.seq).toBe(10);
    expect(numbered(result)).toEqual(records(11, 12));
    expect(result.lastSeq).toBe(12);

    flipByte(join(dir, snapshotName(10)), SNAPSHOT_HEADER_BYTES + 2);
    const fallback = await recover(dir);
    expect(fallback.snapshot).toMatchObject({ seq: 5, state: { upTo: 5 } });
    expect(numbered(fallback)).toEqual(records(6, 12));
    expect(fallback.lastSeq).toBe(12);
    expect(fallback.warnings).toHaveLength(1);
    expect(fallback.warnings[0]).toMatch(
      /snapshot-0+10\.snap is unusable: payload checksum mismatch.*Using .*snapshot-0+5\.snap/,
    );

    const reopened = await JournalWriter.open(dir, { lastSeq: fallback.lastSeq });
    await reopened.whenDurable(reopened.append(change(13)));
    await reopened.close();
    expect(seqs(await recover(dir))).toEqual([6, 7, 8, 9, 10, 11, 12, 13]);
  });

  it('recovers a directory written by the previous format (version 1 snapshot), and falls back to it', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 8);
    writeVersion1Snapshot(dir, 5, { upTo: 5, rows: Array.from({ length: 100 }, (_, i) => i) });
    const old = await recover(dir);
    expect(old.snapshot).toMatchObject({ seq: 5, state: { upTo: 5 } });
    expect(numbered(old)).toEqual(records(6, 8));
    expect(old.warnings).toEqual([]);

    // This build's next snapshot is version 2; the version 1 one is kept as the older of two.
    const journal = await JournalWriter.open(dir, { lastSeq: old.lastSeq });
    await journal.whenDurable(journal.append(change(9)));
    await writeSnapshot(dir, 9, { upTo: 9 }, { waitFor: journal.whenDurable(9) });
    await journal.close();
    expect((await listSnapshots(dir)).map((s) => s.seq)).toEqual([9, 5]);
    expect(readFileSync(join(dir, snapshotName(9))).readUInt16BE(8)).toBe(2);
    expect((await recover(dir)).snapshot).toMatchObject({ seq: 9, state: { upTo: 9 } });

    flipByte(join(dir, snapshotName(9)), SNAPSHOT_HEADER_BYTES + 12);
    const fallback = await recover(dir);
    expect(fallback.snapshot).toMatchObject({ seq: 5, state: { upTo: 5 } });
    expect(numbered(fallback)).toEqual(records(6, 9));
    expect(fallback.warnings[0]).toMatch(/snapshot-0+9\.snap is unusable: payload checksum mismatch/);
  });

  it('truncates a torn final record on disk, with a warning, and the journal goes on after it', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 5);
    const path = join(dir, journalName(1));
    const { offsets } = recordOffsets(path);
    const lastStart = offsets[4]!;
    truncateSync(path, lastStart + 7);

    const result = await recover(dir);
    expect(numbered(result)).toEqual(records(1, 4));
    expect(result.lastSeq).toBe(4);
    expect(result.dropped).toEqual([]);
    expect(result.warnings).toEqual([
      `${path}: torn record at byte ${lastStart} (the data ends inside the record header (7 of 16 bytes)), ` +
        `left by an interrupted write; truncated the file from ${lastStart + 7} to ${lastStart} bytes. ` +
        'The last record kept is seq 4.',
    ]);
    expect(statSync(path).size).toBe(lastStart);
    expect((await recover(dir)).warnings).toEqual([]);

    await writeJournal(dir, 1, { lastSeq: 4 });
    expect(filesIn(dir)).toEqual([journalName(1), journalName(5)]);
    expect(seqs(await recover(dir))).toEqual([1, 2, 3, 4, 5]);
  });

  it('takes a zero-filled tail of the last file as its normal end: cut off, without a warning', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 3);
    const path = join(dir, journalName(1));
    const size = statSync(path).size;
    appendFileSync(path, Buffer.alloc(4096));
    const result = await recover(dir);
    expect(seqs(result)).toEqual([1, 2, 3]);
    expect(result).toMatchObject({ lastSeq: 3, warnings: [], dropped: [] });
    expect(statSync(path).size).toBe(size);
  });

  it('still refuses a zero-filled tail in a journal file that is not the last one', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 6, { rotateBefore: [4] });
    const first = join(dir, journalName(1));
    const { end } = recordOffsets(first);
    appendFileSync(first, Buffer.alloc(4096));
    const err = await recoveryError(dir);
    expect(err.file).toBe(first);
    expect(err.offset).toBe(end);
    expect(err.problem).toMatch(/^torn record in a journal file that is not the last one .*all zero/);
  });

  it('refuses a flipped bit in the middle of the journal, naming the file, the offset and what to do', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 10);
    const path = join(dir, journalName(1));
    const { offsets } = recordOffsets(path);
    flipByte(path, offsets[4]! + 20);
    const before = readFileSync(path);

    const err = await recoveryError(dir);
    expect(err.code).toBe('RECOVERY_FAILED');
    expect(err.file).toBe(path);
    expect(err.offset).toBe(offsets[4]);
    expect(err.lastGoodSeq).toBe(4);
    expect(err.message).toContain(
      `${path} at byte ${offsets[4]}: corrupt record where seq 5 was expected: checksum mismatch`,
    );
    expect(err.message).toContain(
      'Restore the state directory from a backup, or start with `leasehold serve --force-recover` to keep ' +
        'everything up to the last good record and drop the rest. The last good point is seq 4.',
    );
    expect(readFileSync(path)).toEqual(before);
    expect(filesIn(dir)).toEqual([journalName(1)]);
  });

  it('forceRecover keeps the good prefix, sets the rest aside and says what it dropped', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 10, { rotateBefore: [8] });
    const first = join(dir, journalName(1));
    const { offsets, size } = recordOffsets(first);
    flipByte(first, offsets[4]! + 20);
    const damaged = readFileSync(first);

    const result = await recover(dir, { forceRecover: true, now: () => NOW });
    expect(numbered(result)).toEqual(records(1, 4));
    expect(result.lastSeq).toBe(4);
    expect(result.dropped).toEqual([
      `${journalName(8)} (the whole file, records from seq 8 on): it comes after the damage; moved to ${journalName(8)}${ASIDE}.`,
      expect.stringMatching(
        new RegExp(
          `^${journalName(1)} from byte ${offsets[4]} to its end \\(${size - offsets[4]!} bytes, records from seq 5 on\\): ` +
            `corrupt record where seq 5 was expected: checksum mismatch.*; the original file is kept as ${journalName(1)}${ASIDE}\\.$`,
        ),
      ),
    ]);
    expect(filesIn(dir)).toEqual([journalName(1), `${journalName(1)}${ASIDE}`, `${journalName(8)}${ASIDE}`]);
    expect(readFileSync(join(dir, `${journalName(1)}${ASIDE}`))).toEqual(damaged);
    expect(statSync(first).size).toBe(offsets[4]);

    const again = await recover(dir);
    expect(numbered(again)).toEqual(records(1, 4));
    expect(again).toMatchObject({ firstSeq: 1, lastSeq: 4, warnings: [], dropped: [] });
    await writeJournal(dir, 2, { lastSeq: 4 });
    expect(seqs(await recover(dir))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('refuses a torn record in a journal file that is not the last one', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 6, { rotateBefore: [4] });
    const first = join(dir, journalName(1));
    const { offsets } = recordOffsets(first);
    truncateSync(first, offsets[2]! + 20);
    const err = await recoveryError(dir);
    expect(err.file).toBe(first);
    expect(err.offset).toBe(offsets[2]);
    expect(err.problem).toMatch(
      /^torn record in a journal file that is not the last one \(the journal goes on after it\): the data ends inside the record/,
    );
  });

  it('refuses a damaged length field that only looks like a torn tail, because intact records follow', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 5);
    const path = join(dir, journalName(1));
    const { offsets, size } = recordOffsets(path);
    const data = readFileSync(path);
    data.writeUInt32BE(size, offsets[2]!);
    writeFileSync(path, data);
    const err = await recoveryError(dir);
    expect(err.offset).toBe(offsets[2]);
    expect(err.problem).toContain(`an intact record with seq 4 follows at byte ${offsets[3]}`);
    expect(statSync(path).size).toBe(size);
  });

  it('refuses a gap left by a journal file missing from the middle; forced, it keeps what precedes the gap', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 10, { rotateBefore: [4, 8] });
    unlinkSync(join(dir, journalName(4)));
    const err = await recoveryError(dir);
    expect(err.file).toBe(join(dir, journalName(8)));
    expect(err.offset).toBe(0);
    expect(err.problem).toBe(
      'journal records 4 to 7 are missing: the previous journal file ends at seq 3 and this one starts at seq 8',
    );
    expect(err.lastGoodSeq).toBe(3);

    const forced = await recover(dir, { forceRecover: true, now: () => NOW });
    expect(numbered(forced)).toEqual(records(1, 3));
    expect(forced.dropped).toEqual([
      `${journalName(8)} (the whole file): ${err.problem}; moved to ${journalName(8)}${ASIDE}.`,
    ]);
  });

  it('refuses a journal that starts after the record following the snapshot', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 10, { rotateBefore: [4, 8] });
    await writeSnapshot(dir, 2, { upTo: 2 });
    unlinkSync(join(dir, journalName(1)));
    unlinkSync(join(dir, journalName(4)));
    const err = await recoveryError(dir);
    expect(err.problem).toBe(
      `journal records 3 to 7 are missing: the snapshot ${join(dir, snapshotName(2))} holds the state up to seq 2, ` +
        'and the journal starts at seq 8',
    );
  });

  it('refuses a file whose first record is not the seq its name says', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 3);
    await writeSnapshot(dir, 1, { upTo: 1 });
    renameSync(join(dir, journalName(1)), join(dir, journalName(2)));
    const err = await recoveryError(dir);
    expect(err.offset).toBe(0);
    expect(err.problem).toBe('the first record has seq 1, but the file name says the file starts at seq 2');
  });

  it('refuses a journal that ends before the snapshot, changing nothing; forced, it starts from the snapshot', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 5);
    await writeSnapshot(dir, 8, { upTo: 8 });
    const path = join(dir, journalName(1));
    appendFileSync(path, Buffer.from([0, 0, 0, 9, 1, 2])); // a torn tail too: left alone on refusal
    const size = statSync(path).size;

    const err = await recoveryError(dir);
    expect(err.file).toBe(path);
    expect(err.problem).toBe(
      `the journal ends at seq 5, but the snapshot ${snapshotName(8)} is at seq 8: journal records that were ` +
        'once durable are missing, and so may be records written after the snapshot',
    );
    expect(statSync(path).size).toBe(size);

    const forced = await recover(dir, { forceRecover: true });
    expect(forced.snapshot?.seq).toBe(8);
    expect(forced.records).toEqual([]);
    expect(forced.lastSeq).toBe(8);
    expect(forced.dropped).toEqual([
      `Journal records after seq 8, if any were written: the journal ends at seq 5, before ${snapshotName(8)}; ` +
        'started from that snapshot.',
    ]);
    await writeJournal(dir, 1, { lastSeq: 8 });
    const after = await recover(dir);
    expect(after.snapshot?.seq).toBe(8);
    expect(numbered(after)).toEqual(records(9, 9));
    expect(after.warnings).toEqual([]);
  });

  it('refuses a journal that ends before the seq of an unusable newer snapshot', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 5);
    await writeSnapshot(dir, 3, { upTo: 3 });
    const newer = await writeSnapshot(dir, 9, { upTo: 9 });
    truncateSync(newer, 12);
    const err = await recoveryError(dir);
    expect(err.problem).toMatch(
      /^the journal ends at seq 5, but the \(unusable\) snapshot snapshot-0+9\.snap is at seq 9/,
    );
  });

  it('starts from a snapshot alone, with a warning, when the journal is missing', async () => {
    const dir = tempStateDir();
    await writeSnapshot(dir, 7, { upTo: 7 });
    const result = await recover(dir);
    expect(result.snapshot).toMatchObject({ seq: 7, state: { upTo: 7 } });
    expect(result.records).toEqual([]);
    expect(result.lastSeq).toBe(7);
    expect(result.warnings).toEqual([
      `No journal file in ${dir}: starting from ${join(dir, snapshotName(7))} (seq 7) alone. ` +
        'Changes made after that snapshot, if there were any, are lost.',
    ]);
    await writeJournal(dir, 1, { lastSeq: 7 });
    expect(numbered(await recover(dir))).toEqual(records(8, 8));
  });

  it('never starts empty when state files exist but nothing in them is usable', async () => {
    const onlySnapshot = tempStateDir();
    const snapshot = await writeSnapshot(onlySnapshot, 4, { upTo: 4 });
    truncateSync(snapshot, 30);
    const noJournal = await recoveryError(onlySnapshot);
    expect(noJournal.file).toBe(snapshot);
    expect(noJournal.problem).toMatch(
      /^the only snapshot is unusable \(the header announces .*\) and there is no journal$/,
    );

    const forced = await recover(onlySnapshot, { forceRecover: true, now: () => NOW });
    expect(forced).toMatchObject({ records: [], lastSeq: 0 });
    expect(forced.snapshot).toBeUndefined();
    expect(forced.dropped).toEqual([
      expect.stringMatching(new RegExp(`^${snapshotName(4)}: .*; moved to ${snapshotName(4)}${ASIDE}\\.$`)),
    ]);
    expect(filesIn(onlySnapshot)).toEqual([`${snapshotName(4)}${ASIDE}`]);

    const lateJournal = tempStateDir();
    await writeJournal(lateJournal, 6, { rotateBefore: [4] });
    const lost = await writeSnapshot(lateJournal, 3, { upTo: 3 });
    flipByte(lost, SNAPSHOT_HEADER_BYTES);
    unlinkSync(join(lateJournal, journalName(1)));
    const err = await recoveryError(lateJournal);
    expect(err.problem).toBe(
      'journal records 1 to 3 are missing: there is no usable snapshot, and the journal starts at seq 4',
    );

    const badFirstRecord = tempStateDir();
    await writeJournal(badFirstRecord, 2);
    flipByte(join(badFirstRecord, journalName(1)), 20);
    expect((await recoveryError(badFirstRecord)).offset).toBe(0);
  });

  it('rebuilds from the whole journal when no snapshot is usable but the journal starts at seq 1', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 6);
    const snapshot = await writeSnapshot(dir, 4, { upTo: 4 });
    flipByte(snapshot, 0);
    const result = await recover(dir);
    expect(result.snapshot).toBeUndefined();
    expect(numbered(result)).toEqual(records(1, 6));
    expect(result.warnings).toEqual([
      expect.stringMatching(/snapshot-0+4\.snap is unusable: bad magic.*No usable snapshot remains\./),
      'No usable snapshot: rebuilt the state from the whole journal (seq 1 to 6).',
    ]);
  });

  it('ignores a snapshot .tmp left by an interrupted write, with a warning', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 2);
    writeFileSync(join(dir, 'snapshot-00000000000000000002.tmp'), 'half');
    const result = await recover(dir);
    expect(result.snapshot).toBeUndefined();
    expect(seqs(result)).toEqual([1, 2]);
    expect(result.warnings).toEqual([
      `${join(dir, 'snapshot-00000000000000000002.tmp')} is left over from an interrupted snapshot write; ignored.`,
    ]);
  });
});

describe('the records recovered', () => {
  it('come without a wrapper each, numbered from firstSeq: the snapshot seq + 1', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 10, { rotateBefore: [4, 8] });
    const whole = await recover(dir);
    expect(whole.firstSeq).toBe(1);
    expect(whole.records).toEqual(records(1, 10).map((r) => r.record));
    expect(whole.lastSeq).toBe(10);

    await writeSnapshot(dir, 6, { upTo: 6 });
    const after = await recover(dir);
    expect(after.firstSeq).toBe(7);
    expect(numbered(after)).toEqual(records(7, 10));
  });

  it('starts at the record after the snapshot when the journal holds nothing after it', async () => {
    const dir = tempStateDir();
    expect(await recover(dir)).toEqual({
      records: [],
      firstSeq: 1,
      lastSeq: 0,
      warnings: [],
      dropped: [],
    });
    await writeJournal(dir, 5);
    await writeSnapshot(dir, 5, { upTo: 5 });
    const result = await recover(dir);
    expect(result.records).toEqual([]);
    expect(result.firstSeq).toBe(6);
    expect(result.lastSeq).toBe(5);
  });

  it('keeps what precedes a fault when forced, and the records before a torn tail', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 10, { rotateBefore: [4, 8] });
    unlinkSync(join(dir, journalName(4)));
    const forced = await recover(dir, { forceRecover: true, now: () => NOW });
    expect(numbered(forced)).toEqual(records(1, 3));
    expect(forced.dropped).toHaveLength(1);

    const torn = tempStateDir();
    await writeJournal(torn, 4);
    await writeSnapshot(torn, 2, { upTo: 2 });
    appendFileSync(join(torn, journalName(1)), Buffer.from([0, 0, 0, 9, 1, 2]));
    const result = await recover(torn);
    expect(numbered(result)).toEqual(records(3, 4));
    expect(result.warnings).toEqual([expect.stringContaining('torn record')]);
  });

  it('hands the number columns of a snapshot over as typed arrays only when asked', async () => {
    const dir = tempStateDir();
    await writeJournal(dir, 2);
    const state = {
      counts: Array.from({ length: 100 }, (_, i) => i * 3),
      ages: Array.from({ length: 80 }, (_, i) => i / 2),
    };
    await writeSnapshot(dir, 2, state);
    const plain = (await recover(dir)).snapshot?.state as typeof state;
    expect(plain).toEqual(state);
    expect(Array.isArray(plain.counts)).toBe(true);
    const typed = (await recover(dir, { typedColumns: true })).snapshot?.state as {
      counts: Uint16Array;
      ages: Float64Array;
    };
    expect(typed.counts).toBeInstanceOf(Uint16Array);
    expect(typed.ages).toBeInstanceOf(Float64Array);
    expect(Array.from(typed.counts)).toEqual(state.counts);
    expect(Array.from(typed.ages)).toEqual(state.ages);
  });
});
