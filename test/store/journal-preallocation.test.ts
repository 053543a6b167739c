/**
 * Preallocated journal files (issue 8; journal.ts "Preallocation", recovery.ts item 4): the writer
 * zero-fills the current file ahead of its records, cuts it to its records on rotation and close,
 * and recovery takes the zero tail of the last file as its normal end — while a torn or damaged
 * record in front of that tail is still told apart. A crash is simulated by copying the state
 * directory while the writer still has it open.
 */
import { cpSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { RecoveryError, StoreFailedError } from '../../src/store/errors.js';
import { type JournalOptions, JournalWriter } from '../../src/store/journal.js';
import { recover } from '../../src/store/recovery.js';
import { onCleanup } from '../helpers/cleanup.js';
import {
  change,
  filesIn,
  journalName,
  numbered,
  readJournalFile,
  recordOffsets,
  tempStateDir,
} from './fixtures.js';

async function openJournal(dir: string, options: JournalOptions = {}): Promise<JournalWriter> {
  const journal = await JournalWriter.open(dir, options);
  onCleanup(() => journal.close().catch(() => undefined));
  return journal;
}

/** The state directory as a crash would leave it: a copy taken while the writer is open. */
function crashCopy(dir: string): string {
  const copy = tempStateDir();
  cpSync(dir, copy, { recursive: true });
  return copy;
}

/** A record of about 1 KB: every one of them crosses a 512-byte sector boundary. */
function bigChange(seq: number): object {
  return { ...change(seq), note: 'x'.repeat(1000) };
}

function allZero(data: Uint8Array): boolean {
  return data.every((byte) => byte === 0);
}

/** Appends `count` records from `first` on in one event-loop turn and waits until they are durable. */
async function appendDurably(
  journal: JournalWriter,
  first: number,
  count: number,
  make: (seq: number) => object = change,
): Promise<void> {
  for (let seq = first; seq < first + count; seq++) journal.append(make(seq));
  await journal.whenDurable(first + count - 1);
}

describe('JournalWriter preallocation', () => {
  it('zero-fills the file ahead of its records; the records read back intact', async () => {
    const dir = tempStateDir();
    const journal = await openJournal(dir);
    await appendDurably(journal, 1, 50);
    const { end, size } = recordOffsets(journal.file);
    expect(size).toBeGreaterThanOrEqual(1024 * 1024);
    expect(end).toBe(journal.stats.bytes);
    expect(allZero(readFileSync(journal.file).subarray(end))).toBe(true);
    expect(readJournalFile(journal.file)).toEqual(
      Array.from({ length: 50 }, (_, i) => ({ seq: i + 1, record: change(i + 1) })),
    );
  });

  it('close() cuts the file to its records: a clean shutdown leaves no zero tail', async () => {
    const dir = tempStateDir();
    const journal = await JournalWriter.open(dir);
    await appendDurably(journal, 1, 20);
    expect(statSync(journal.file).size).toBeGreaterThan(journal.stats.bytes);
    await journal.close();
    expect(statSync(journal.file).size).toBe(journal.stats.bytes);
    expect(recordOffsets(journal.file).end).toBe(journal.stats.bytes);
    expect(await recover(dir)).toMatchObject({ lastSeq: 20, warnings: [], dropped: [] });
  });

  it('rotation cuts the old file to its records before the new file is zero-filled', async () => {
    const dir = tempStateDir();
    const oldFile = join(dir, journalName(1));
    const oldSizeAtNewFill: number[] = [];
    const journal = await openJournal(dir, {
      faults: {
        beforePreallocate: (from) => {
          if (from === 0 && journal.file !== oldFile) oldSizeAtNewFill.push(statSync(oldFile).size);
        },
      },
    });
    await appendDurably(journal, 1, 10);
    const oldEnd = recordOffsets(oldFile).end;
    expect(statSync(oldFile).size).toBeGreaterThan(oldEnd);
    await journal.rotate();
    await appendDurably(journal, 11, 5);
    expect(statSync(oldFile).size).toBe(oldEnd);
    expect(oldSizeAtNewFill[0]).toBe(oldEnd);
    expect(statSync(journal.file).size).toBeGreaterThan(recordOffsets(journal.file).end);
    expect(readJournalFile(oldFile).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(readJournalFile(journal.file).map((r) => r.seq)).toEqual([11, 12, 13, 14, 15]);
    // A crash now: only the newest file has a zero tail, and nothing needs --force-recover.
    const result = await recover(crashCopy(dir));
    expect(result).toMatchObject({ lastSeq: 15, warnings: [], dropped: [] });
  });

  it('a long run extends the file chunk by chunk, never zero-filling over records', async () => {
    const dir = tempStateDir();
    const chunk = 16 * 1024;
    const fills: { from: number; to: number; recordsEnd: number }[] = [];
    let recordsEnd = 0;
    let writtenOutsideFill = 0;
    const journal = await openJournal(dir, {
      preallocate: chunk,
      faults: {
        beforePreallocate: (from, to) => {
          fills.push({ from, to, recordsEnd });
        },
        beforeWrite: (bytes) => {
          if (recordsEnd + bytes.length > (fills.at(-1)?.to ?? 0)) writtenOutsideFill++;
          recordsEnd += bytes.length;
        },
      },
    });
    let seq = 0;
    const expected: object[] = [];
    for (let turn = 0; turn < 120; turn++) {
      // Mostly small batches; now and then one far bigger than a chunk, which must wait for a fill.
      const big = turn % 40 === 39;
      const count = big ? 60 : 1 + (turn % 7);
      const make = big ? bigChange : change;
      for (let i = 0; i < count; i++) expected.push(make(seq + 1 + i));
      await appendDurably(journal, seq + 1, count, make);
      seq += count;
    }
    const { end, size } = recordOffsets(journal.file);
    expect(end).toBe(recordsEnd);
    expect(writtenOutsideFill).toBe(0);
    expect(fills[0]?.from).toBe(0);
    for (let i = 1; i < fills.length; i++) expect(fills[i]!.from).toBe(fills[i - 1]!.to);
    for (const fill of fills) expect(fill.from).toBeGreaterThanOrEqual(fill.recordsEnd);
    expect(size).toBe(fills.at(-1)!.to);
    expect(size / chunk).toBeGreaterThan(10);
    expect(journal.stats.preallocated).toBe(size);
    expect(readJournalFile(journal.file).map((r) => r.record)).toEqual(expected);

    const crashed = crashCopy(dir);
    const result = await recover(crashed);
    expect(result).toMatchObject({ lastSeq: seq, warnings: [], dropped: [] });
    expect(result.records).toEqual(expected);
    expect(statSync(join(crashed, journalName(1))).size).toBe(end);

    await journal.close();
    expect(statSync(journal.file).size).toBe(end);
  });

  it("durability 'none' does not preallocate", async () => {
    const dir = tempStateDir();
    const beforePreallocate = vi.fn();
    const journal = await openJournal(dir, { durability: 'none', faults: { beforePreallocate } });
    await appendDurably(journal, 1, 30);
    expect(statSync(journal.file).size).toBe(journal.stats.bytes);
    expect(journal.stats.preallocated).toBe(0);
    expect(beforePreallocate).not.toHaveBeenCalled();
  });

  it('a failed zero-fill is fatal like a failed write: the batch waiting for it is rejected', async () => {
    const dir = tempStateDir();
    const onFatal = vi.fn();
    const journal = await openJournal(dir, {
      onFatal,
      faults: {
        beforePreallocate: () => {
          throw Object.assign(new Error('ENOSPC: injected'), { code: 'ENOSPC' });
        },
      },
    });
    const err = await journal.whenDurable(journal.append(change(1))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreFailedError);
    expect((err as StoreFailedError).message).toMatch(/Journal preallocation failed on .*: ENOSPC/);
    expect(onFatal).toHaveBeenCalledTimes(1);
    expect(statSync(journal.file).size).toBe(0);
  });
});

describe('recovery of a preallocated journal after a crash', () => {
  /** A crashed directory: `count` ~1 KB records durable in journal-1, followed by its zero tail. */
  async function crashedWith(count: number): Promise<{ dir: string; path: string }> {
    const live = tempStateDir();
    const journal = await openJournal(live);
    await appendDurably(journal, 1, count, bigChange);
    const dir = crashCopy(live);
    return { dir, path: join(dir, journalName(1)) };
  }

  function zeroBytes(path: string, from: number, to: number): void {
    const data = readFileSync(path);
    data.fill(0, from, to);
    writeFileSync(path, data);
  }

  it('loses nothing, needs no --force-recover, and leaves the file cut to its records', async () => {
    const { dir, path } = await crashedWith(8);
    const { end, size } = recordOffsets(path);
    expect(size).toBeGreaterThan(end);
    const result = await recover(dir);
    expect(numbered(result)).toEqual(
      Array.from({ length: 8 }, (_, i) => ({ seq: i + 1, record: bigChange(i + 1) })),
    );
    expect(result).toMatchObject({ lastSeq: 8, warnings: [], dropped: [] });
    expect(statSync(path).size).toBe(end);

    // The daemon goes on in a new file; the old one, cut, is no longer the last and must read clean.
    const journal = await openJournal(dir, { lastSeq: 8 });
    await appendDurably(journal, 9, 2);
    expect((await recover(crashCopy(dir))).lastSeq).toBe(10);
  });

  it('cuts off a record torn at a sector boundary in front of the zero tail, with a warning', async () => {
    const { dir, path } = await crashedWith(6);
    const { offsets, end } = recordOffsets(path);
    const last = offsets[5]!;
    // The write of the last record reached the disk up to a sector boundary inside it; the rest of
    // it still holds the zeros that were there.
    const cut = Math.ceil((last + 1) / 512) * 512;
    expect(cut).toBeLessThan(end);
    zeroBytes(path, cut, end);
    const size = statSync(path).size;

    const result = await recover(dir);
    expect(numbered(result).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(result.dropped).toEqual([]);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(
      new RegExp(
        `^${path}: torn record at byte ${last} \\(checksum mismatch \\(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\\), ` +
          `and from byte ${cut} on the file holds only the zeros it was preallocated with: the write stopped there\\), ` +
          `left by an interrupted write; truncated the file from ${size} to ${last} bytes\\. The last record kept is seq 5\\.$`,
      ),
    );
    expect(statSync(path).size).toBe(last);
    expect((await recover(dir)).warnings).toEqual([]);
  });

  it('still refuses a flipped bit in the last record, even with a zero tail behind it', async () => {
    const { dir, path } = await crashedWith(6);
    const { offsets } = recordOffsets(path);
    const data = readFileSync(path);
    data[offsets[5]! + 600]! ^= 0x10;
    writeFileSync(path, data);
    const before = readFileSync(path);

    const err = await recover(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecoveryError);
    expect((err as RecoveryError).offset).toBe(offsets[5]);
    expect((err as RecoveryError).problem).toMatch(
      /^corrupt record where seq 6 was expected: checksum mismatch/,
    );
    expect(readFileSync(path)).toEqual(before);

    const forced = await recover(dir, { forceRecover: true });
    expect(forced.lastSeq).toBe(5);
    expect(forced.dropped).toHaveLength(1);
    expect(statSync(path).size).toBe(offsets[5]);
  });

  it('still refuses a record zeroed from a sector boundary when intact records follow it', async () => {
    const { dir, path } = await crashedWith(6);
    const { offsets } = recordOffsets(path);
    const cut = Math.ceil((offsets[2]! + 1) / 512) * 512;
    zeroBytes(path, cut, offsets[3]!);
    const err = await recover(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecoveryError);
    expect((err as RecoveryError).offset).toBe(offsets[2]);
    expect((err as RecoveryError).problem).toMatch(
      /^corrupt record where seq 3 was expected: checksum mismatch/,
    );
  });

  it('a crash right after a new file was zero-filled: the empty file is cut and reused', async () => {
    const dir = tempStateDir();
    const journal = await JournalWriter.open(dir);
    await appendDurably(journal, 1, 3);
    await journal.close();
    writeFileSync(join(dir, journalName(4)), Buffer.alloc(64 * 1024));

    const result = await recover(dir);
    expect(result).toMatchObject({ lastSeq: 3, warnings: [], dropped: [] });
    expect(statSync(join(dir, journalName(4))).size).toBe(0);
    const next = await openJournal(dir, { lastSeq: 3 });
    await appendDurably(next, 4, 1);
    expect(filesIn(dir)).toEqual([journalName(1), journalName(4)]);
    expect((await recover(crashCopy(dir))).lastSeq).toBe(4);
  });
});
