/** JournalOptions.onSync (issue 7 §5): the metrics endpoint's view of fsync latency. */
import { describe, expect, it } from 'vitest';
import { type JournalOptions, JournalWriter } from '../../src/store/journal.js';
import { onCleanup } from '../helpers/cleanup.js';
import { change, tempStateDir } from './fixtures.js';

async function openJournal(options: JournalOptions): Promise<JournalWriter> {
  const journal = await JournalWriter.open(tempStateDir(), options);
  onCleanup(() => journal.close().catch(() => undefined));
  return journal;
}

describe('JournalWriter onSync', () => {
  it('reports each fsync with its duration and the records it made durable, before they are durable', async () => {
    const calls: Array<{ ms: number; records: number; durable: number }> = [];
    const journal: JournalWriter = await openJournal({
      onSync: (ms, records) => calls.push({ ms, records, durable: journal.durableSeq }),
    });
    // One turn of the event loop: one batch, one fsync.
    journal.append(change(1));
    journal.append(change(2));
    await journal.whenDurable(journal.append(change(3)));
    journal.append(change(4));
    await journal.whenDurable(4);
    expect(calls.map((c) => [c.records, c.durable])).toEqual([
      [3, 0],
      [1, 3],
    ]);
    for (const c of calls) expect(c.ms).toBeGreaterThanOrEqual(0);
    expect(journal.stats.syncs).toBe(2);
  });

  it('is not called with durability "none" (nothing is fsynced)', async () => {
    let calls = 0;
    const journal = await openJournal({ durability: 'none', onSync: () => calls++ });
    await journal.whenDurable(journal.append(change(1)));
    expect(calls).toBe(0);
  });

  it('a throwing hook does not stall the journal: the error surfaces as uncaught', async () => {
    const uncaught: unknown[] = [];
    const listener = (err: unknown) => uncaught.push(err);
    // vitest reports uncaught exceptions itself; take this one over for the test's duration.
    const previous = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', listener);
    onCleanup(() => {
      process.off('uncaughtException', listener);
      for (const l of previous) process.on('uncaughtException', l);
    });
    const journal = await openJournal({
      onSync: () => {
        throw new Error('metrics bug');
      },
    });
    await journal.whenDurable(journal.append(change(1)));
    await journal.whenDurable(journal.append(change(2)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(journal.durableSeq).toBe(2);
    expect(uncaught.map((e) => (e as Error).message)).toEqual(['metrics bug', 'metrics bug']);
  });
});
