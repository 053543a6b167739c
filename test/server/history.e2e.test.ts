/**
 * Issue 7 wired into the daemon: a real in-process daemon writes its audit trail and usage
 * rollups from what clients and admins do; the chain verifies, a restart continues both, and the
 * rollups rebuilt from the audit trail equal the ones the daemon kept.
 */
import { mkdtempSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LeaseholdClient } from '../../src/client/client.js';
import { parseConfig } from '../../src/config/load.js';
import { readAudit } from '../../src/reports/audit-reader.js';
import { verifyAudit } from '../../src/reports/audit-verify.js';
import { loadUsage, rebuildUsage } from '../../src/reports/usage-store.js';
import { Daemon } from '../../src/server/daemon.js';
import { createLogger } from '../../src/server/logger.js';
import { onCleanup } from '../helpers/cleanup.js';

const HOUR = 3_600_000;
/** 2026-03-01T10:00:00Z: a fixed wall clock the test moves by hand. */
const T0 = Date.UTC(2026, 2, 1, 10, 0, 0);

async function start(stateDir: string, wall: { now: number }): Promise<{ daemon: Daemon; address: string }> {
  const config = parseConfig(
    [
      '[server]',
      'listen = "127.0.0.1:0"',
      `state_dir = ${JSON.stringify(stateDir)}`,
      'lease_ttl = "2s"',
      'heartbeat_interval = "200ms"',
      '[features.cad]',
      'seats = 2',
    ].join('\n'),
    'test.toml',
  );
  const daemon = await Daemon.start(config, {
    logger: createLogger('silent', new Writable({ write: (_c, _e, done) => done() })),
    version: '0.0.0-test',
    wallClock: () => wall.now,
  });
  onCleanup(() => daemon.close());
  const a = daemon.addresses[0]!;
  return { daemon, address: `${a.host}:${a.port}` };
}

async function connect(address: string, user: string): Promise<LeaseholdClient> {
  const c = await LeaseholdClient.connect({ servers: [address], user, host: 'ws', requestTimeoutMs: 3000 });
  onCleanup(() => c.close());
  return c;
}

describe('usage history in the daemon', () => {
  it('audits what happens, keeps rollups, continues both across a restart, and rebuilds the same numbers', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-history-'));
    onCleanup(() => rm(stateDir, { recursive: true, force: true }));
    const wall = { now: T0 };
    const first = await start(stateDir, wall);
    const alice = await connect(first.address, 'alice');
    const bob = await connect(first.address, 'bob');
    const carol = await connect(first.address, 'carol');
    const a = await alice.checkout('cad');
    // A wall clock finer than a millisecond: audit lines keep whole ms, and so must the rollups the
    // daemon feeds from the time it read (a rebuild from the lines must give the same numbers).
    wall.now = T0 + HOUR / 2 + 0.6;
    await bob.checkout('cad');
    await expect(carol.checkout('cad')).rejects.toMatchObject({ code: 'NO_SEATS' });
    const admin = await LeaseholdClient.connect({ servers: [], socket: join(stateDir, 'leasehold.sock') });
    onCleanup(() => admin.close());
    await admin.admin.free({ user: 'bob' });
    wall.now = T0 + HOUR + 15 * 60_000 + 0.25; // into the next hour
    await a.release();
    await first.daemon.close();

    const second = await start(stateDir, wall);
    const dave = await connect(second.address, 'dave');
    await dave.checkout('cad');
    await second.daemon.close();

    const types = [];
    for await (const r of readAudit(join(stateDir, 'audit')))
      types.push(r.t === 'admin' ? `admin:${r.action}` : r.t);
    expect(types).toEqual([
      'start',
      'grant',
      'grant',
      'deny',
      'reclaim',
      'admin:free',
      'release',
      'stop',
      'start',
      'grant',
      'stop',
    ]);
    const verified = await verifyAudit(join(stateDir, 'audit'));
    expect(verified).toMatchObject({ ok: true, lines: 11, firstSeq: 1, lastSeq: 11, anchored: true });

    // The first hour: alice all hour, bob from :30 until freed at once → peak 2; one denial.
    const kept = await loadUsage(stateDir);
    const hour0 = kept.buckets({ feature: 'cad', group: '*', fromMs: T0, toMs: T0 + HOUR });
    expect(hour0).toHaveLength(1);
    expect(hour0[0]).toMatchObject({ peak: 2, grants: 2, denials: { NO_SEATS: 1 } });
    // Alice's seat all hour and 15 min of the next, in whole ms; bob's was freed as it was granted.
    expect(hour0[0]!.seatMs).toBe(HOUR);
    const hour1 = kept.buckets({ feature: 'cad', group: '*', fromMs: T0 + HOUR, toMs: T0 + 2 * HOUR });
    expect(hour1[0]!.seatMs).toBe(15 * 60_000);
    // Rebuilt from the audit trail alone: the same buckets.
    const rebuilt = await rebuildUsage(stateDir);
    expect(JSON.stringify(rebuilt.buckets({}))).toBe(JSON.stringify(kept.buckets({})));
    // usage.json keeps the live state as counts (issue 8): dave's lease outlives the daemon.
    const saved = JSON.parse(await readFile(join(stateDir, 'usage.json'), 'utf8'));
    expect(saved).toMatchObject({ version: 2, lastSeq: 11 });
    expect(saved.live.holders).toEqual([{ feature: 'cad', group: '-', user: 'dave', leases: 1, seats: 1 }]);
    expect(rebuilt.toJSON().live).toEqual(saved.live);
  });
});
