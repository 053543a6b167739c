/**
 * `snapshot_records` (issue 8, DESIGN §7 recovery ≤ 3 s): besides `snapshot_interval`, a snapshot is
 * written once that many journal records were appended since the last one, so a restart after a
 * crash replays at most about that many. Real daemon, real files; the "crash" restarts a second
 * daemon on a copy of the state directory taken while the first one is idle and still running.
 */
import { cpSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LeaseholdClient } from '../../src/client/client.js';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';
import { onCleanup } from '../helpers/cleanup.js';
import { type LogLine, startTestDaemon } from '../helpers/daemon.js';

const CYCLES = 60; // a checkout and a checkin each: 120 journal records, plus the session's own

async function churn(address: string): Promise<void> {
  const c = await LeaseholdClient.connect({ servers: [address], user: 'u', host: 'ws' });
  onCleanup(() => c.close({ release: false }));
  for (let i = 0; i < CYCLES; i++) await (await c.checkout('cad')).release();
}

const snapshots = (logs: LogLine[]) => logs.filter((l) => l.msg === 'snapshot written');

async function replayedAfterCrash(snapshotRecords: number): Promise<{ replayed: number; written: number }> {
  const first = await startTestDaemon({
    server: `snapshot_records = ${snapshotRecords}`,
    features: '[features.cad]\nseats = 10',
  });
  await churn(first.address);
  // Wait until the newest snapshot the records call for is written (none is due with 0); then the
  // daemon is idle and its directory is what a crash would leave.
  const lastSeq = first.daemon.persistence.lastSeq;
  if (snapshotRecords > 0) {
    await first.waitForLog(
      (l) => l.msg === 'snapshot written' && (l.seq as number) > lastSeq - snapshotRecords,
    );
  }
  await new Promise((r) => setTimeout(r, 100));
  const image = mkdtempSync(join(tmpdir(), 'leasehold-snapshot-records-'));
  onCleanup(() => rm(image, { recursive: true, force: true }));
  cpSync(first.stateDir, image, { recursive: true, filter: (src) => !src.endsWith('.sock') });
  const written = snapshots(first.logs).length;
  await first.daemon.close();
  const second = await startTestDaemon({ stateDir: image, features: '[features.cad]\nseats = 10' });
  const recovered = await second.waitForLog((l) => typeof l.replayed === 'number');
  return { replayed: recovered.replayed as number, written };
}

describe('snapshot_records', () => {
  it('writes a snapshot every N journal records, so a restart replays fewer than N', async () => {
    const bounded = await replayedAfterCrash(40);
    // The snapshot at the fresh start, then one per 40 records of the ~125 written.
    expect(bounded.written).toBeGreaterThanOrEqual(3);
    expect(bounded.replayed).toBeLessThan(40);
  });

  it('0 leaves snapshots to snapshot_interval: the restart replays every record', async () => {
    const unbounded = await replayedAfterCrash(0);
    expect(unbounded.written).toBe(1); // the one at the fresh start
    expect(unbounded.replayed).toBeGreaterThanOrEqual(2 * CYCLES);
  });

  it('is a whole number ≥ 0, 100,000 by default', () => {
    const base = '[server]\nstate_dir = "/tmp/x"\n';
    expect(parseConfig(base, 't.toml').server.snapshotRecords).toBe(100_000);
    expect(parseConfig(`${base}snapshot_records = 0`, 't.toml').server.snapshotRecords).toBe(0);
    expect(() => parseConfig(`${base}snapshot_records = -1`, 't.toml')).toThrow(ConfigError);
    expect(() => parseConfig(`${base}snapshot_records = 1.5`, 't.toml')).toThrow(/snapshot_records/);
  });
});
