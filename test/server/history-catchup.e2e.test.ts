/**
 * Issue 8: the usage rollups catch up from the audit trail in the background. The daemon listens
 * and records while they do; the records appended meanwhile are applied after the trail, in seq
 * order, so the rollups end as a rebuild from the trail; a stop during the catch-up waits for it
 * before saving; a catch-up that fails is logged and the daemon runs on without saving rollups.
 *
 * The catch-up is held at a gate (the real catchUp runs once it opens), so "while catching up" does
 * not depend on how fast this machine reads.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeaseholdClient } from '../../src/client/client.js';
import { parseConfig } from '../../src/config/load.js';
import type { AuditEvent } from '../../src/reports/audit-events.js';
import { AuditLog } from '../../src/reports/audit-log.js';
import { readAudit } from '../../src/reports/audit-reader.js';
import { verifyAudit } from '../../src/reports/audit-verify.js';
import { DAY_MS, UsageRollups } from '../../src/reports/rollups.js';
import { auditDir, loadUsage, rebuildUsage, saveUsage } from '../../src/reports/usage-store.js';
import { Daemon } from '../../src/server/daemon.js';
import type { History } from '../../src/server/history.js';
import { createLogger } from '../../src/server/logger.js';
import { onCleanup } from '../helpers/cleanup.js';

/** Opened by the test; catchUp waits for it, then runs as it is. */
let gate: Promise<void> = Promise.resolve();

vi.mock('../../src/reports/usage-store.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/reports/usage-store.js')>();
  return {
    ...real,
    catchUp: async (...args: Parameters<typeof real.catchUp>) => {
      await gate;
      return real.catchUp(...args);
    },
  };
});

afterEach(() => {
  gate = Promise.resolve();
});

function closedGate(): () => void {
  let open!: () => void;
  gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  return open;
}

/** 2026-03-01T08:00:00Z; the trail runs from here, a line a second, into the next hours. */
const T0 = Date.UTC(2026, 2, 1, 8);
const GRANTS = 6000;
const SAVED_AT = 1000;

/**
 * A crashed daemon's trail: a start, then GRANTS grants (no stop), written by the real audit log;
 * usage.json as saved at seq SAVED_AT. Returns the trail's last seq.
 */
async function crashedState(stateDir: string, saved: boolean): Promise<number> {
  let now = T0;
  const log = await AuditLog.open({
    dir: auditDir(stateDir),
    retentionMs: 400 * DAY_MS,
    wallClock: () => now,
  });
  const rollups = new UsageRollups();
  const apply = (event: AuditEvent) => {
    const seq = log.append(event);
    if (seq <= SAVED_AT) rollups.applyEvent(event, seq, now);
  };
  apply({
    t: 'start',
    version: 'old',
    features: [{ name: 'cad', seats: 2 }],
    leaseCount: 0,
    leases: [],
  });
  for (let i = 0; i < GRANTS; i++) {
    now += 1000;
    apply({
      t: 'grant',
      lease: `L${i}`,
      feature: 'cad',
      user: `u${i % 7}`,
      host: 'ws',
      count: 1,
      type: 'concurrent',
      ...(i % 3 === 0 ? { group: 'eng' } : {}),
      session: `s${i % 5}`,
      fencing: i + 1,
    });
  }
  await log.close();
  if (saved) await saveUsage(stateDir, rollups);
  return log.lastSeq;
}

interface Started {
  daemon: Daemon;
  history: History;
  address: string;
  logs: Record<string, unknown>[];
}

async function start(stateDir: string, wall: { now: number }): Promise<Started> {
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
  const logs: Record<string, unknown>[] = [];
  const daemon = await Daemon.start(config, {
    logger: createLogger(
      'info',
      new Writable({
        write: (chunk, _e, done) => {
          logs.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    ),
    version: '0.0.0-test',
    wallClock: () => wall.now,
  });
  onCleanup(() => daemon.close());
  const a = daemon.addresses[0]!;
  return { daemon, history: daemon.ctx.audit as History, address: `${a.host}:${a.port}`, logs };
}

async function connect(address: string, user: string): Promise<LeaseholdClient> {
  const c = await LeaseholdClient.connect({ servers: [address], user, host: 'ws', requestTimeoutMs: 3000 });
  onCleanup(() => c.close());
  return c;
}

function tempStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-catchup-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** usage.json equals the rollups rebuilt from the whole trail: buckets and live counts. */
async function expectSavedEqualsRebuild(stateDir: string, lastSeq: number): Promise<void> {
  const saved = await loadUsage(stateDir);
  const rebuilt = await rebuildUsage(stateDir);
  expect(saved.lastSeq).toBe(lastSeq);
  expect(rebuilt.lastSeq).toBe(lastSeq);
  expect(JSON.stringify(saved.buckets({}))).toBe(JSON.stringify(rebuilt.buckets({})));
  expect(saved.toJSON().live).toEqual(rebuilt.toJSON().live);
}

describe('usage rollups catching up in the background', () => {
  it('listens and records while catching up; the rollups then equal a rebuild from the trail', async () => {
    const stateDir = tempStateDir();
    const trailEnd = await crashedState(stateDir, true);
    const wall = { now: T0 + (GRANTS + 60) * 1000 };
    const open = closedGate();
    const { daemon, history, address, logs } = await start(stateDir, wall);

    // Listening, the catch-up held: the rollups are still those of usage.json.
    expect(daemon.usage.lastSeq).toBe(SAVED_AT);
    const alice = await connect(address, 'alice');
    const bob = await connect(address, 'bob');
    const lease = await alice.checkout('cad');
    wall.now += 30 * 60_000;
    await bob.checkout('cad');
    await expect((await connect(address, 'carol')).checkout('cad')).rejects.toMatchObject({
      code: 'NO_SEATS',
    });
    wall.now += 45 * 60_000; // into the next hour
    await lease.release();
    // A save asked for now waits for the catch-up rather than writing rollups that skipped records.
    const saved = history.save();
    expect(daemon.usage.lastSeq).toBe(SAVED_AT);

    open();
    await history.caughtUp();
    await saved;
    // start, 2 grants, deny, release after the trail; all applied, after it, in seq order.
    expect(daemon.usage.lastSeq).toBe(trailEnd + 5);
    expect((await loadUsage(stateDir)).lastSeq).toBe(trailEnd + 5);
    expect(logs.find((l) => l.msg === 'usage rollups caught up from the audit trail')).toMatchObject({
      records: trailEnd - SAVED_AT,
      fromSeq: SAVED_AT,
      toSeq: trailEnd,
    });
    // Records after the catch-up go straight in.
    await (await connect(address, 'dave')).checkout('cad');
    expect(daemon.usage.lastSeq).toBe(trailEnd + 6);

    await daemon.close();
    expect((await verifyAudit(auditDir(stateDir))).ok).toBe(true);
    await expectSavedEqualsRebuild(stateDir, trailEnd + 7);
  });

  it('a stop during the catch-up waits for it, then saves rollups that skipped nothing', async () => {
    const stateDir = tempStateDir();
    const trailEnd = await crashedState(stateDir, true);
    const wall = { now: T0 + (GRANTS + 60) * 1000 };
    const open = closedGate();
    const { daemon, address } = await start(stateDir, wall);
    await (await connect(address, 'alice')).checkout('cad');

    let closed = false;
    const closing = daemon.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(false);
    expect((await loadUsage(stateDir)).lastSeq).toBe(SAVED_AT); // nothing saved yet
    open();
    await closing;
    // start, grant, stop after the trail.
    await expectSavedEqualsRebuild(stateDir, trailEnd + 3);
  });

  it('a catch-up that fails is logged; the daemon serves on and saves no rollups', async () => {
    const stateDir = tempStateDir();
    await crashedState(stateDir, false);
    // An older "day file" that cannot be read (a directory): the trail is read from seq 1, so the
    // catch-up reads it and fails (EISDIR); the audit log itself only reads the newest file.
    mkdirSync(join(auditDir(stateDir), 'audit-2026-02-27.jsonl'));
    const wall = { now: T0 + (GRANTS + 60) * 1000 };
    const { daemon, history, address, logs } = await start(stateDir, wall);
    await history.caughtUp();
    expect(logs.find((l) => l.level === 50)).toMatchObject({
      msg: expect.stringContaining('catching up from the audit trail failed'),
      err: expect.objectContaining({ code: 'EISDIR' }),
    });
    const lease = await (await connect(address, 'alice')).checkout('cad');
    await lease.release();
    await history.save();
    await daemon.close();
    expect(existsSync(join(stateDir, 'usage.json'))).toBe(false);
    // The trail itself is whole: the next start (or a report) catches up from it.
    const types: string[] = [];
    for await (const r of readAudit(auditDir(stateDir), { afterSeq: GRANTS + 1 })) types.push(r.t);
    expect(types).toEqual(['start', 'grant', 'release', 'stop']);
  });
});
