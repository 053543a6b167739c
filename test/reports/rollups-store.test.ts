/**
 * Issue 7 §2: usage.json (load, atomic save) and the rollups caught up from / rebuilt from an
 * audit trail written by the real AuditLog.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/reports/audit-events.js';
import { AuditLog } from '../../src/reports/audit-log.js';
import { readAudit } from '../../src/reports/audit-reader.js';
import { DAY_MS, HOUR_MS, UsageRollups } from '../../src/reports/rollups.js';
import {
  auditDir,
  catchUp,
  loadUsage,
  rebuildUsage,
  saveUsage,
  usagePath,
} from '../../src/reports/usage-store.js';
import { onCleanup } from '../helpers/cleanup.js';
import { auditLease } from './fixtures.js';

const MIN = 60_000;
const T0 = Date.UTC(2025, 2, 3, 22); // 2025-03-03T22:00Z: the trail crosses midnight (two files)

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-usage-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const lease = auditLease;

/** Writes `events` with the real audit log, one every 20 minutes from T0; returns the applied rollups. */
async function writeTrail(stateDir: string, events: AuditEvent[]): Promise<UsageRollups> {
  let now = T0;
  const log = await AuditLog.open({
    dir: auditDir(stateDir),
    retentionMs: 400 * DAY_MS,
    wallClock: () => now,
  });
  const live = new UsageRollups();
  for (const event of events) {
    live.applyEvent(event, log.append(event), now);
    now += 20 * MIN;
  }
  await log.close();
  return live;
}

const EVENTS: AuditEvent[] = [
  { t: 'start', version: '1', features: [{ name: 'cad', seats: 2 }], leases: [] },
  { t: 'grant', ...lease('A', 'alice', 'eng'), session: 's', fencing: 1 },
  { t: 'grant', ...lease('B', 'bob'), session: 's', fencing: 2 },
  { t: 'deny', feature: 'cad', user: 'carol', host: 'ws', count: 1, code: 'NO_SEATS' },
  { t: 'queue', ticket: 'T', feature: 'cad', user: 'dave', host: 'ws', count: 1, position: 1 },
  { t: 'release', ...lease('A', 'alice', 'eng') }, // 23:40
  {
    t: 'dequeue',
    ticket: 'T',
    feature: 'cad',
    user: 'dave',
    host: 'ws',
    count: 1,
    reason: 'granted',
    waitedMs: 40 * MIN,
  },
  { t: 'grant', ...lease('C', 'dave'), session: 's', fencing: 3 }, // 00:20 the next day
  { t: 'admin', action: 'free', detail: { lease: 'B' } },
  { t: 'release', ...lease('B', 'bob') },
  { t: 'stop' },
];

describe('usage.json', () => {
  it('is empty when absent; saves atomically with mode 0600 and loads back the same', async () => {
    const dir = tempDir();
    const empty = await loadUsage(dir);
    expect(empty.lastSeq).toBe(0);
    expect(empty.buckets()).toEqual([]);
    const live = await writeTrail(dir, EVENTS);
    live.advance(T0 + 5 * HOUR_MS);
    await saveUsage(dir, live);
    expect(statSync(usagePath(dir)).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['audit', 'usage.json']); // no temp file left
    const loaded = await loadUsage(dir);
    expect(loaded.toJSON()).toEqual(live.toJSON());
    // Saving over an existing file replaces it.
    await saveUsage(dir, new UsageRollups());
    expect((await loadUsage(dir)).lastSeq).toBe(0);
  });

  it('reads a version 1 file (every live lease listed); catching up from it and saving writes version 2', async () => {
    const dir = tempDir();
    const live = await writeTrail(dir, EVENTS);
    // What a daemon before issue 8 saved after the first 3 records: alice's and bob's leases listed.
    const early = new UsageRollups();
    for await (const r of readAudit(auditDir(dir), { toMs: T0 + 60 * MIN }))
      early.applyAt(r, Date.parse(r.ts));
    expect(early.lastSeq).toBe(3);
    const { holders, ...rest } = early.toJSON().live;
    expect(holders).toHaveLength(2);
    const v1 = {
      ...early.toJSON(),
      version: 1,
      live: { ...rest, leases: [lease('A', 'alice', 'eng'), lease('B', 'bob')] },
    };
    writeFileSync(usagePath(dir), JSON.stringify(v1));
    const loaded = await loadUsage(dir);
    expect(loaded.toJSON()).toEqual(early.toJSON());
    expect(await catchUp(loaded, dir)).toBe(EVENTS.length - 3);
    expect(loaded.toJSON()).toEqual(live.toJSON());
    await saveUsage(dir, loaded);
    const saved = JSON.parse(readFileSync(usagePath(dir), 'utf8'));
    expect(saved.version).toBe(2);
    expect(saved.live).not.toHaveProperty('leases');
    expect((await loadUsage(dir)).toJSON()).toEqual(live.toJSON());
    // A version 1 file is checked as one: its leases must be leases.
    writeFileSync(usagePath(dir), JSON.stringify({ ...v1, live: { ...v1.live, leases: [{ lease: 'A' }] } }));
    await expect(loadUsage(dir)).rejects.toThrow(/live\.leases\[0\]\.feature is not a string/);
  });

  it('a corrupt file is an Error naming it', async () => {
    const dir = tempDir();
    writeFileSync(usagePath(dir), 'not json');
    await expect(loadUsage(dir)).rejects.toThrow(usagePath(dir));
    writeFileSync(usagePath(dir), JSON.stringify({ version: 1, lastSeq: 'x' }));
    await expect(loadUsage(dir)).rejects.toThrow(/usage\.json is corrupt: lastSeq is not a number/);
    const saved = new UsageRollups();
    saved.apply({ ...EVENTS[0]!, seq: 1, ts: T0 });
    saved.advance(T0 + MIN);
    const doc = saved.toJSON();
    writeFileSync(usagePath(dir), JSON.stringify({ ...doc, buckets: [{ ...doc.buckets[0], peak: 'x' }] }));
    await expect(loadUsage(dir)).rejects.toThrow(/buckets\[0\]\.peak is not a number/);
    writeFileSync(usagePath(dir), JSON.stringify({ ...doc, version: 3 }));
    await expect(loadUsage(dir)).rejects.toThrow(/unknown version 3/);
  });
});

describe('catching up with the audit trail', () => {
  it('applies only the records after lastSeq, once; the result equals the live rollups and a rebuild', async () => {
    const dir = tempDir();
    const live = await writeTrail(dir, EVENTS);
    // usage.json saved after the 5th record (as a daemon that crashed later would have left it).
    const early = new UsageRollups();
    const reference = new UsageRollups();
    let seq = 0;
    for await (const r of readAudit(auditDir(dir))) {
      seq++;
      expect(r.seq).toBe(seq);
      if (seq <= 5) early.apply({ ...r, ts: Date.parse(r.ts) });
      reference.apply({ ...r, ts: Date.parse(r.ts) });
    }
    await saveUsage(dir, early);
    const loaded = await loadUsage(dir);
    expect(await catchUp(loaded, dir)).toBe(EVENTS.length - 5);
    expect(await catchUp(loaded, dir)).toBe(0);
    expect(loaded.lastSeq).toBe(EVENTS.length);
    const rebuilt = await rebuildUsage(dir);
    expect(loaded.toJSON()).toEqual(live.toJSON());
    expect(rebuilt.toJSON()).toEqual(live.toJSON());
    expect(reference.toJSON()).toEqual(live.toJSON());
    // The numbers, by hand: 22:00 start, 22:20 alice (eng), 22:40 bob, 23:00 carol denied,
    // 23:20 dave queues, 23:40 alice releases, 00:00 dave dequeued after 40 min, 00:20 dave's
    // grant, 00:40 admin, 01:00 bob releases, 01:20 stop.
    const total = (hour: number) => live.buckets({ fromMs: hour, toMs: hour + 1, group: '*' })[0];
    expect(total(T0)).toMatchObject({
      peak: 2,
      seatMs: 40 * MIN + 20 * MIN,
      users: ['alice', 'bob'],
      grants: 2,
    });
    expect(total(T0 + HOUR_MS)).toMatchObject({
      peak: 2,
      seatMs: 2 * 40 * MIN + 20 * MIN,
      denials: { NO_SEATS: 1 },
      queueEntries: 1,
      longestQueue: 1,
    });
    expect(total(T0 + 2 * HOUR_MS)).toMatchObject({
      peak: 2,
      seatMs: 20 * MIN + 2 * 40 * MIN,
      users: ['bob', 'dave'],
      waits: [40 * MIN],
    });
    // bob released at 01:00 sharp: not in the 01:00 hour.
    expect(total(T0 + 3 * HOUR_MS)).toMatchObject({ peak: 1, seatMs: 20 * MIN, users: ['dave'] });
  });

  it('rebuildUsage with toMs reads only the records before it', async () => {
    const dir = tempDir();
    await writeTrail(dir, EVENTS);
    const part = await rebuildUsage(dir, { toMs: T0 + 40 * MIN });
    expect(part.lastSeq).toBe(2);
  });

  it('an empty state directory gives empty rollups', async () => {
    const dir = tempDir();
    const r = await loadUsage(dir);
    expect(await catchUp(r, dir)).toBe(0);
    expect((await rebuildUsage(dir)).toJSON()).toEqual(r.toJSON());
  });
});
