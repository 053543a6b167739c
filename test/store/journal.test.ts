import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { JournalConflictError, StoreClosedError, StoreFailedError } from '../../src/store/errors.js';
import { type JournalOptions, JournalWriter } from '../../src/store/journal.js';
import { onCleanup } from '../helpers/cleanup.js';
import { change, filesIn, journalName, readJournalFile, recordOffsets, tempStateDir } from './fixtures.js';

/** A promise the test settles by hand: holds an fsync "in flight" for as long as a test needs. */
function latch(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

async function openJournal(dir: string, options: JournalOptions = {}): Promise<JournalWriter> {
  const journal = await JournalWriter.open(dir, options);
  onCleanup(() => journal.close().catch(() => undefined));
  return journal;
}

/** Lets the write loop run whatever it would run next (it starts on setImmediate). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('JournalWriter', () => {
  it('numbers records from lastSeq + 1 and writes them, in order, to journal-<first seq>.log', async () => {
    const dir = tempStateDir();
    const journal = await openJournal(dir, { lastSeq: 41 });
    expect(journal.file).toBe(join(dir, journalName(42)));
    const seqs = [journal.append(change(42)), journal.append(change(43)), journal.append(change(44))];
    expect(seqs).toEqual([42, 43, 44]);
    await journal.whenDurable(44);
    expect(journal.durableSeq).toBe(44);
    expect(readJournalFile(journal.file)).toEqual(seqs.map((seq) => ({ seq, record: change(seq) })));
  });

  it('encodes a record when it is appended, so later changes to the object are not recorded', async () => {
    const dir = tempStateDir();
    const journal = await openJournal(dir);
    const record = { op: 'grant', count: 1 };
    journal.append(record);
    record.count = 99;
    await journal.whenDurable(1);
    expect(readJournalFile(journal.file)[0]?.record).toEqual({ op: 'grant', count: 1 });
  });

  it('writes every append of one event-loop turn with one write and one fsync', async () => {
    const dir = tempStateDir();
    const journal = await openJournal(dir);
    for (let seq = 1; seq <= 100; seq++) journal.append(change(seq));
    await journal.whenDurable(100);
    // The zero-filling ahead of the records goes on in the background: its amount is not fixed here.
    expect(journal.stats).toEqual({
      records: 100,
      writes: 1,
      syncs: 1,
      bytes: recordOffsets(journal.file).end,
      preallocated: expect.any(Number),
    });
  });

  it('group commit: appends made while an fsync is in flight are covered by the next single fsync', async () => {
    const dir = tempStateDir();
    let syncs = 0;
    const firstSyncStarted = latch();
    const releaseFirstSync = latch();
    const journal = await openJournal(dir, {
      faults: {
        beforeSync: async () => {
          syncs++;
          if (syncs === 1) {
            firstSyncStarted.open();
            await releaseFirstSync.promise;
          }
        },
      },
    });
    const resolved: number[] = [];
    const track = (seq: number) => journal.whenDurable(seq).then(() => resolved.push(seq));

    const first = track(journal.append(change(1)));
    await firstSyncStarted.promise;
    const later: Promise<number>[] = [];
    for (let seq = 2; seq <= 501; seq++) {
      expect(journal.append(change(seq))).toBe(seq);
      later.push(track(seq));
    }
    await settle();
    expect(journal.durableSeq).toBe(0);
    expect(resolved).toEqual([]);

    releaseFirstSync.open();
    await Promise.all([first, ...later]);
    expect(syncs).toBe(2);
    expect(journal.stats).toMatchObject({ records: 501, writes: 2, syncs: 2 });
    expect(resolved[0]).toBe(1);
    expect(new Set(resolved).size).toBe(501);
    const onDisk = readJournalFile(journal.file);
    expect(onDisk.map((r) => r.seq)).toEqual(Array.from({ length: 501 }, (_, i) => i + 1));
    expect(onDisk[300]?.record).toEqual(change(301));
  });

  it("durability 'none' writes without fsync and resolves after the write", async () => {
    const dir = tempStateDir();
    const beforeSync = vi.fn();
    const journal = await openJournal(dir, { durability: 'none', faults: { beforeSync } });
    journal.append(change(1));
    journal.append(change(2));
    await journal.whenDurable(2);
    expect(beforeSync).not.toHaveBeenCalled();
    expect(journal.stats).toMatchObject({ records: 2, writes: 1, syncs: 0 });
    expect(readJournalFile(journal.file)).toHaveLength(2);
  });

  it('resolves whenDurable at once for a durable seq and rejects a seq never appended', async () => {
    const dir = tempStateDir();
    const journal = await openJournal(dir, { lastSeq: 10 });
    await expect(journal.whenDurable(10)).resolves.toBeUndefined();
    await expect(journal.whenDurable(11)).rejects.toThrow(RangeError);
    await journal.whenDurable(journal.append(change(11)));
    await expect(journal.whenDurable(11)).resolves.toBeUndefined();
  });

  it('a failing write rejects the affected and all later records, calls onFatal once, writes nothing more', async () => {
    const dir = tempStateDir();
    let failWrites = false;
    const onFatal = vi.fn();
    const journal = await openJournal(dir, {
      onFatal,
      faults: {
        beforeWrite: () => {
          if (failWrites) throw Object.assign(new Error('EIO: injected write error'), { code: 'EIO' });
        },
      },
    });
    await journal.whenDurable(journal.append(change(1)));

    failWrites = true;
    // A promise nobody awaits must not surface as an unhandled rejection: onFatal is the signal.
    void journal.whenDurable(journal.append(change(2)));
    const affected = [journal.whenDurable(2), journal.whenDurable(journal.append(change(3)))];
    for (const p of affected) {
      const err = await p.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreFailedError);
      expect((err as StoreFailedError).code).toBe('STORE_FAILED');
      expect((err as StoreFailedError).message).toMatch(/Journal write failed on .*journal-0+1\.log: EIO/);
      expect(((err as StoreFailedError).cause as Error).message).toBe('EIO: injected write error');
    }
    expect(onFatal).toHaveBeenCalledTimes(1);
    const fatal = onFatal.mock.calls[0]?.[0] as StoreFailedError;
    expect(journal.failed).toBe(fatal);

    // Even once the "disk" works again, the writer never retries and never writes again (not even
    // the zero-fill ahead of the records).
    const sizeAfterFailure = statSync(journal.file).size;
    failWrites = false;
    const seq = journal.append(change(4));
    expect(seq).toBe(4);
    await expect(journal.whenDurable(seq)).rejects.toBe(fatal);
    await expect(journal.rotate()).rejects.toBe(fatal);
    await settle();
    expect(statSync(journal.file).size).toBe(sizeAfterFailure);
    expect(readJournalFile(journal.file).map((r) => r.seq)).toEqual([1]);
    await expect(journal.whenDurable(1)).resolves.toBeUndefined();
    await expect(journal.close()).rejects.toBe(fatal);
    expect(onFatal).toHaveBeenCalledTimes(1);
  });

  it('a failing fsync rejects its batch and the batch queued behind it, which is never written', async () => {
    const dir = tempStateDir();
    let syncs = 0;
    const secondSyncStarted = latch();
    const failSecondSync = latch();
    const onFatal = vi.fn();
    const journal = await openJournal(dir, {
      onFatal,
      faults: {
        beforeSync: async () => {
          syncs++;
          if (syncs === 2) {
            secondSyncStarted.open();
            await failSecondSync.promise;
            throw new Error('EIO: injected fsync error');
          }
        },
      },
    });
    await journal.whenDurable(journal.append(change(1)));
    const inFlight = journal.whenDurable(journal.append(change(2)));
    await secondSyncStarted.promise;
    const queued = [
      journal.whenDurable(journal.append(change(3))),
      journal.whenDurable(journal.append(change(4))),
    ];

    failSecondSync.open();
    for (const p of [inFlight, ...queued]) await expect(p).rejects.toBeInstanceOf(StoreFailedError);
    expect(onFatal).toHaveBeenCalledTimes(1);
    expect(onFatal).toHaveBeenCalledWith(
      expect.objectContaining({ message: expect.stringMatching(/Journal fsync failed/) }),
    );
    expect(journal.durableSeq).toBe(1);
    await settle();
    // Record 2 reached the file before its fsync failed (it was never acknowledged); 3 and 4 never did.
    expect(readJournalFile(journal.file).map((r) => r.seq)).toEqual([1, 2]);
    expect(syncs).toBe(2);
  });

  it('close() writes and fsyncs what is buffered; the journal refuses changes afterwards', async () => {
    const dir = tempStateDir();
    const journal = await JournalWriter.open(dir);
    for (let seq = 1; seq <= 5; seq++) journal.append(change(seq));
    const closing = journal.close();
    expect(journal.close()).toBe(closing);
    await closing;
    expect(journal.stats.syncs).toBe(1);
    expect(readJournalFile(journal.file)).toHaveLength(5);
    expect(() => journal.append(change(6))).toThrow(StoreClosedError);
    await expect(journal.rotate()).rejects.toBeInstanceOf(StoreClosedError);
  });

  it('rotate() starts a file named after the next record; compact() deletes whole files up to a seq', async () => {
    const dir = tempStateDir();
    const journal = await openJournal(dir);
    for (let seq = 1; seq <= 3; seq++) journal.append(change(seq));
    const early = journal.whenDurable(2);
    const rotated = journal.rotate(); // 1..3 were appended before it: they stay in the old file
    journal.append(change(4));
    journal.append(change(5));
    await rotated;
    await early;
    expect(journal.file).toBe(join(dir, journalName(4)));
    journal.append(change(6));
    await journal.whenDurable(6);
    await journal.rotate();
    await journal.rotate(); // nothing written to journal-7 yet: no new file
    expect(filesIn(dir)).toEqual([journalName(1), journalName(4), journalName(7)]);
    expect(readJournalFile(join(dir, journalName(1))).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(readJournalFile(join(dir, journalName(4))).map((r) => r.seq)).toEqual([4, 5, 6]);

    expect(await journal.compact(2)).toEqual([]);
    expect(await journal.compact(5)).toEqual([journalName(1)]);
    expect(await journal.compact(1_000)).toEqual([journalName(4)]);
    expect(filesIn(dir)).toEqual([journalName(7)]);
    journal.append(change(7));
    await journal.whenDurable(7);
    expect(readJournalFile(journal.file).map((r) => r.seq)).toEqual([7]);
  });

  it('a rotation is not starved by a steady stream of appends', async () => {
    const dir = tempStateDir();
    const journal = await openJournal(dir);
    let seq = 0;
    let rotated = false;
    journal.append(change(++seq));
    const rotation = journal.rotate().then(() => {
      rotated = true;
    });
    while (!rotated) {
      journal.append(change(++seq));
      await new Promise((resolve) => setImmediate(resolve));
      // Generous: a rotation cuts the old file and zero-fills the new one (fsyncs on a shared disk).
      if (seq > 200_000) throw new Error('rotation starved');
    }
    await rotation;
    await journal.whenDurable(seq);
    expect(filesIn(dir)).toEqual([journalName(1), journalName(2)]);
    expect(readJournalFile(join(dir, journalName(1))).map((r) => r.seq)).toEqual([1]);
  });

  it('open() reuses an empty file of the same name and refuses a directory it does not know', async () => {
    const dir = tempStateDir();
    writeFileSync(join(dir, journalName(6)), '');
    const journal = await JournalWriter.open(dir, { lastSeq: 5 });
    await journal.whenDurable(journal.append(change(6)));
    await journal.close();

    await expect(JournalWriter.open(dir, { lastSeq: 5 })).rejects.toThrow(JournalConflictError);
    await expect(JournalWriter.open(dir, { lastSeq: 2 })).rejects.toThrow(/starts at seq 6, past seq 3/);
    await expect(JournalWriter.open(dir, { lastSeq: -1 })).rejects.toThrow(RangeError);
    expect(filesIn(dir)).toEqual([journalName(6)]);
  });

  it('creates the state directory when it is missing', async () => {
    const dir = join(tempStateDir(), 'var', 'state');
    const journal = await openJournal(dir);
    await journal.whenDurable(journal.append(change(1)));
    expect(existsSync(join(dir, journalName(1)))).toBe(true);
  });
});
