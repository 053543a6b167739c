import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/reports/audit-events.js';
import {
  AuditClosedError,
  AuditDamagedTailError,
  AuditLinesLostError,
  AuditLog,
  type AuditLogOptions,
  type AuditRecord,
  AuditRetentionError,
  AuditTornLineError,
  AuditWriteError,
  recordTime,
  ZERO_HASH,
} from '../../src/reports/audit-log.js';
import { readAudit } from '../../src/reports/audit-reader.js';
import { verifyAudit } from '../../src/reports/audit-verify.js';
import { onCleanup } from '../helpers/cleanup.js';

const DAY = 86_400_000;
const RETAIN_400D = 400 * DAY;

function tempDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'leasehold-audit-'));
  onCleanup(() => rmSync(root, { recursive: true, force: true }));
  return join(root, 'audit');
}

/** A wall clock the test moves by hand. */
function fakeClock(start: number): { now: () => number; set(ms: number): void; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    set: (ms) => {
      t = ms;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

async function openLog(
  dir: string,
  clock: { now: () => number },
  extra: Partial<AuditLogOptions> = {},
): Promise<{ log: AuditLog; errors: Error[] }> {
  const errors: Error[] = [];
  const log = await AuditLog.open({
    dir,
    retentionMs: RETAIN_400D,
    wallClock: clock.now,
    onError: (err) => errors.push(err),
    ...extra,
  });
  onCleanup(() => log.close());
  return { log, errors };
}

function deny(i: number): AuditEvent {
  return { t: 'deny', feature: 'cad', user: `user${i}`, host: 'ws1', count: 1, code: 'NO_SEATS' };
}

function grant(i: number): AuditEvent {
  return {
    t: 'grant',
    lease: `L${i}`,
    feature: 'cad',
    user: 'ada',
    host: 'ws1',
    count: 1,
    type: 'concurrent',
    session: 'S1',
    fencing: i,
  };
}

/** The lines of the events in 'writes the very bytes recorded …', as written before issue 8. */
const RECORDED_LINES = [
  '{"seq":1,"ts":"2026-03-01T09:59:59.998Z","t":"start","version":"1.2.3","features":[{"name":"cad","seats":2}],"leaseCount":1,"leases":[{"lease":"L0","feature":"cad","user":"ada","host":"ws1","count":1,"type":"concurrent"}],"prev":"0000000000000000000000000000000000000000000000000000000000000000","h":"34b7e047afefac2c7e755f81915dda33724c435ea1583a9f6705cd94cd0165f1"}',
  '{"seq":2,"ts":"2026-03-01T09:59:59.999Z","t":"grant","lease":"L1","feature":"cad","user":"zoë","host":"ws \\"1\\"\\\\\\n","count":2,"type":"concurrent","group":"eng","shared":true,"session":"S1","fencing":7,"prev":"34b7e047afefac2c7e755f81915dda33724c435ea1583a9f6705cd94cd0165f1","h":"1d49b20135ef4f51348f4e641e879a90bddb53232edcc39fb49dc5c3e4adbd67"}',
  '{"seq":3,"ts":"2026-03-01T10:00:00.000Z","t":"release","lease":"L1","feature":"cad","user":"zoë","host":"ws \\"1\\"\\\\\\n","count":2,"type":"concurrent","group":"eng","shared":true,"prev":"1d49b20135ef4f51348f4e641e879a90bddb53232edcc39fb49dc5c3e4adbd67","h":"fb35f959ceed794b2d361e18f44914c7e904180fac5fc60a41cfb2d95f88ceb2"}',
  '{"seq":4,"ts":"2026-03-01T10:00:00.997Z","t":"deny","feature":"cad","user":"🚀\\ud800","host":"ws1","count":1,"code":"NO_SEATS","prev":"fb35f959ceed794b2d361e18f44914c7e904180fac5fc60a41cfb2d95f88ceb2","h":"7b6cee59e9e5eb504b1c2776cdb62c274df7cc9a269016dd0965c7728e0b75db"}',
  '{"seq":5,"ts":"2026-03-01T10:00:00.997Z","t":"admin","action":"free","admin":"root","peer":"unix","detail":{"user":"bob","big":"12345678901234567890"},"prev":"7b6cee59e9e5eb504b1c2776cdb62c274df7cc9a269016dd0965c7728e0b75db","h":"155737c77732ddede709a4962fb4deb657e70512998298139b0fcd9f95b65531"}',
  '{"seq":6,"ts":"2026-03-01T10:00:00.998Z","t":"release","lease":"L0","feature":"cad","user":"ada","host":"ws1","count":1,"type":"concurrent","prev":"155737c77732ddede709a4962fb4deb657e70512998298139b0fcd9f95b65531","h":"09927676ff424c38186ec4e59a340c0cbf0cf59029a450abb5a8fe84ad82cd6c"}',
  '{"seq":7,"ts":"2026-03-01T11:00:00.998Z","t":"stop","prev":"09927676ff424c38186ec4e59a340c0cbf0cf59029a450abb5a8fe84ad82cd6c","h":"adda28a6bd0f5f9c82c1e555079fedf8214eb65384d17eb4f84b5e1bdb371a9b"}',
];

function linesOf(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  expect(text.endsWith('\n') || text === '').toBe(true);
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

function filesIn(dir: string): string[] {
  return readdirSync(dir).sort();
}

/** Lets the write loop run (it starts on setImmediate). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('AuditLog: format', () => {
  it('writes { seq, ts, ...event, prev } plus h = sha256 of the line without h, one line per event', async () => {
    const dir = tempDir();
    const clock = fakeClock(Date.UTC(2025, 2, 4, 10, 0, 0, 123));
    const { log } = await openLog(dir, clock);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect([log.lastSeq, log.lastHash]).toEqual([0, ZERO_HASH]);

    expect(log.append(grant(1))).toBe(1);
    const h1 = log.lastHash;
    clock.advance(5);
    expect(log.append({ t: 'stop' })).toBe(2);
    await log.flush();

    const lines = linesOf(join(dir, 'audit-2025-03-04.jsonl'));
    expect(lines).toHaveLength(2);
    const expected1 = { seq: 1, ts: '2025-03-04T10:00:00.123Z', ...grant(1), prev: ZERO_HASH };
    const s1 = JSON.stringify(expected1);
    expect(h1).toBe(createHash('sha256').update(s1).digest('hex'));
    expect(lines[0]).toBe(`${s1.slice(0, -1)},"h":"${h1}"}`);
    const r2 = JSON.parse(lines[1]!) as AuditRecord;
    expect(r2).toEqual({ seq: 2, ts: '2025-03-04T10:00:00.128Z', t: 'stop', prev: h1, h: r2.h });
    expect(Object.keys(r2)).toEqual(['seq', 'ts', 't', 'prev', 'h']);
    expect([log.lastSeq, log.lastHash]).toEqual([2, r2.h]);
    expect(recordTime(r2)).toBe(Date.UTC(2025, 2, 4, 10, 0, 0, 128));
  });

  it('writes the very bytes recorded from the writer before issue 8 (escapes, non-ASCII, bigint, sub-ms clock)', async () => {
    // Recorded with the audit log of commit 90bfc09 (lines built as strings): the writer that
    // encodes lines straight into buffers must not change a byte. Members left undefined (the
    // daemon's lease events carry `group` and `shared` so) are absent from the line.
    const dir = tempDir();
    const clock = fakeClock(Date.UTC(2026, 2, 1, 9, 59, 59, 998));
    const { log } = await openLog(dir, clock);
    const host = 'ws "1"\\\n';
    const events: AuditEvent[] = [
      {
        t: 'start',
        version: '1.2.3',
        features: [{ name: 'cad', seats: 2 }],
        leaseCount: 1,
        leases: [{ lease: 'L0', feature: 'cad', user: 'ada', host: 'ws1', count: 1, type: 'concurrent' }],
      },
      {
        t: 'grant',
        lease: 'L1',
        feature: 'cad',
        user: 'zoë',
        host,
        count: 2,
        type: 'concurrent',
        group: 'eng',
        shared: true,
        session: 'S1',
        fencing: 7,
      },
      {
        t: 'release',
        lease: 'L1',
        feature: 'cad',
        user: 'zoë',
        host,
        count: 2,
        type: 'concurrent',
        group: 'eng',
        shared: true,
      },
      { t: 'deny', feature: 'cad', user: '🚀\ud800', host: 'ws1', count: 1, code: 'NO_SEATS' },
      {
        t: 'admin',
        action: 'free',
        admin: 'root',
        peer: 'unix',
        detail: { user: 'bob', big: 12345678901234567890n },
      },
      {
        t: 'release',
        lease: 'L0',
        feature: 'cad',
        user: 'ada',
        host: 'ws1',
        count: 1,
        type: 'concurrent',
        group: undefined,
        shared: undefined,
      },
      { t: 'stop' },
    ];
    const steps = [0, 1, 1.6, 997, 0, 1, 3_600_000];
    events.forEach((event, i) => {
      clock.advance(steps[i]!);
      expect(log.append(event)).toBe(i + 1);
    });
    await log.close();
    expect(filesIn(dir)).toEqual(['audit-2026-03-01.jsonl']);
    expect(readFileSync(join(dir, 'audit-2026-03-01.jsonl'), 'utf8')).toBe(`${RECORDED_LINES.join('\n')}\n`);
    expect(log.lastHash).toBe('adda28a6bd0f5f9c82c1e555079fedf8214eb65384d17eb4f84b5e1bdb371a9b');
  });

  it('writes a bigint (e.g. a decoded admin argument) as a decimal string', async () => {
    const dir = tempDir();
    const { log } = await openLog(dir, fakeClock(Date.UTC(2025, 0, 1)));
    log.append({ t: 'admin', action: 'free', detail: { lease: 'L1', big: 12345678901234567890n } });
    await log.close();
    expect((await verifyAudit(dir)).ok).toBe(true);
    const [record] = await collect(readAudit(dir));
    expect(record).toMatchObject({ t: 'admin', detail: { lease: 'L1', big: '12345678901234567890' } });
  });
});

describe('AuditLog: chain, rotation and restart', () => {
  it('the chain verifies over many lines and a rotation across midnight', async () => {
    const dir = tempDir();
    const clock = fakeClock(Date.UTC(2025, 5, 30, 23, 0));
    const { log, errors } = await openLog(dir, clock);
    const hashes: string[] = [];
    for (let i = 1; i <= 2000; i++) {
      log.append(i % 3 === 0 ? grant(i) : deny(i));
      hashes.push(log.lastHash);
      clock.advance(3_600); // 2000 × 3.6 s = 2 h: crosses midnight at line 1000
    }
    await log.close();
    expect(errors).toEqual([]);
    expect(filesIn(dir)).toEqual(['audit-2025-06-30.jsonl', 'audit-2025-07-01.jsonl']);
    expect(linesOf(join(dir, 'audit-2025-06-30.jsonl'))).toHaveLength(1000);
    expect(linesOf(join(dir, 'audit-2025-07-01.jsonl'))).toHaveLength(1000);
    // The chain runs across the files.
    const first = JSON.parse(linesOf(join(dir, 'audit-2025-07-01.jsonl'))[0]!);
    expect(first.seq).toBe(1001);
    expect(first.prev).toBe(hashes[999]);
    expect(await verifyAudit(dir)).toEqual({
      ok: true,
      files: 2,
      lines: 2000,
      firstSeq: 1,
      lastSeq: 2000,
      anchored: true,
      problems: [],
    });
  });

  it('a restart (close + open) continues seq and the chain, in the same file or the next day', async () => {
    const dir = tempDir();
    const clock = fakeClock(Date.UTC(2025, 0, 10, 8));
    const first = await openLog(dir, clock);
    for (let i = 1; i <= 5; i++) first.log.append(deny(i));
    const lastHash = first.log.lastHash;
    await first.log.close();

    const second = await openLog(dir, clock);
    expect([second.log.lastSeq, second.log.lastHash]).toEqual([5, lastHash]);
    expect(second.log.append({ t: 'start', version: '0.1.0', features: [], leases: [] })).toBe(6);
    await second.log.close();
    expect(JSON.parse(linesOf(join(dir, 'audit-2025-01-10.jsonl'))[5]!)).toMatchObject({
      seq: 6,
      prev: lastHash,
    });

    clock.advance(3 * DAY);
    const third = await openLog(dir, clock);
    expect(third.log.lastSeq).toBe(6);
    third.log.append(deny(7));
    await third.log.close();

    expect(filesIn(dir)).toEqual(['audit-2025-01-10.jsonl', 'audit-2025-01-13.jsonl']);
    expect([first.errors, second.errors, third.errors]).toEqual([[], [], []]);
    expect(await verifyAudit(dir)).toMatchObject({ ok: true, lines: 7, lastSeq: 7, anchored: true });
  });

  it('a torn last line (crash mid-write) is cut away at open and reported; the chain goes on', async () => {
    const dir = tempDir();
    const clock = fakeClock(Date.UTC(2025, 0, 10, 8));
    const first = await openLog(dir, clock);
    for (let i = 1; i <= 3; i++) first.log.append(deny(i));
    const lastHash = first.log.lastHash;
    await first.log.close();
    const file = join(dir, 'audit-2025-01-10.jsonl');
    const intact = readFileSync(file);
    const torn = '{"seq":4,"ts":"2025-01-10T08:00:00.000Z","t":"deny","feat';
    appendFileSync(file, torn);

    const second = await openLog(dir, clock);
    expect(second.errors).toHaveLength(1);
    expect(second.errors[0]).toBeInstanceOf(AuditTornLineError);
    expect(second.errors[0]).toMatchObject({ code: 'AUDIT_TORN_LINE', file, bytes: torn.length });
    expect(readFileSync(file)).toEqual(intact);
    expect([second.log.lastSeq, second.log.lastHash]).toEqual([3, lastHash]);
    second.log.append(deny(4));
    await second.log.close();
    expect(await verifyAudit(dir)).toMatchObject({ ok: true, lines: 4, lastSeq: 4 });
  });

  it('a crash during the first write of a new day: the empty file is kept, the chain continues from the day before', async () => {
    const dir = tempDir();
    const clock = fakeClock(Date.UTC(2025, 0, 10, 23, 59));
    const first = await openLog(dir, clock);
    first.log.append(deny(1));
    first.log.append(deny(2));
    const lastHash = first.log.lastHash;
    await first.log.close();
    writeFileSync(join(dir, 'audit-2025-01-11.jsonl'), '{"seq":3,"ts":"2025-01-11T00:0');

    clock.advance(2 * 60_000);
    const second = await openLog(dir, clock);
    expect(second.errors.map((e) => e.name)).toEqual(['AuditTornLineError']);
    expect(readFileSync(join(dir, 'audit-2025-01-11.jsonl'), 'utf8')).toBe('');
    expect([second.log.lastSeq, second.log.lastHash]).toEqual([2, lastHash]);
    second.log.append(deny(3));
    await second.log.close();
    expect(linesOf(join(dir, 'audit-2025-01-11.jsonl'))).toHaveLength(1);
    expect(await verifyAudit(dir)).toMatchObject({ ok: true, files: 2, lines: 3, anchored: true });
  });

  it('a damaged (complete but invalid) last line is left for verify and reported; the chain continues before it', async () => {
    const dir = tempDir();
    const clock = fakeClock(Date.UTC(2025, 0, 10, 8));
    const first = await openLog(dir, clock);
    for (let i = 1; i <= 3; i++) first.log.append(deny(i));
    const lastHash = first.log.lastHash;
    await first.log.close();
    const file = join(dir, 'audit-2025-01-10.jsonl');
    appendFileSync(file, 'garbage\n');

    const second = await openLog(dir, clock);
    expect(second.errors).toHaveLength(1);
    expect(second.errors[0]).toBeInstanceOf(AuditDamagedTailError);
    expect(second.errors[0]!.message).toContain('line 3 (seq 3)');
    expect([second.log.lastSeq, second.log.lastHash]).toEqual([3, lastHash]);
    second.log.append(deny(4));
    await second.log.close();
    const result = await verifyAudit(dir);
    expect(result.problems).toEqual([
      { file: 'audit-2025-01-10.jsonl', line: 4, problem: expect.stringContaining('not a valid audit line') },
    ]);
  });

  it('a wall clock that steps back across midnight keeps writing to the newest file', async () => {
    const dir = tempDir();
    const clock = fakeClock(Date.UTC(2025, 0, 11, 0, 0, 5));
    const { log } = await openLog(dir, clock);
    log.append(deny(1));
    clock.advance(-60_000); // NTP steps the clock back to 2025-01-10T23:59:05
    log.append(deny(2));
    await log.close();
    expect(JSON.parse(linesOf(join(dir, 'audit-2025-01-11.jsonl'))[1]!).ts).toBe('2025-01-10T23:59:05.000Z');
    expect(filesIn(dir)).toEqual(['audit-2025-01-11.jsonl']);
    expect(await verifyAudit(dir)).toMatchObject({ ok: true, lines: 2 });
  });

  it('append after close throws AuditClosedError; close is idempotent', async () => {
    const dir = tempDir();
    const { log } = await openLog(dir, fakeClock(Date.UTC(2025, 0, 1)));
    log.append(deny(1));
    await Promise.all([log.close(), log.close()]);
    expect(() => log.append(deny(2))).toThrow(AuditClosedError);
    expect(log.lastSeq).toBe(1);
  });
});

describe('AuditLog: never in the caller’s way', () => {
  it('append never awaits I/O: 10,000 appends complete synchronously, then one write stores them all', async () => {
    const dir = tempDir();
    const { log } = await openLog(dir, fakeClock(Date.UTC(2025, 0, 1, 12)));
    for (let i = 1; i <= 10_000; i++) log.append(i % 2 === 0 ? grant(i) : deny(i));
    expect(log.lastSeq).toBe(10_000);
    // Nothing can have been written yet: the write loop has not had a turn of the event loop.
    expect(existsSync(join(dir, 'audit-2025-01-01.jsonl'))).toBe(false);
    expect(log.stats).toEqual({ lines: 0, writes: 0, lost: 0 });
    await log.flush();
    expect(log.stats).toEqual({ lines: 10_000, writes: 1, lost: 0 });
    expect(linesOf(join(dir, 'audit-2025-01-01.jsonl'))).toHaveLength(10_000);
    await log.close();
    expect(await verifyAudit(dir)).toMatchObject({ ok: true, lines: 10_000 });
  });

  it('appends made while a write is in flight form the next batch', async () => {
    const dir = tempDir();
    const { log } = await openLog(dir, fakeClock(Date.UTC(2025, 0, 1, 12)));
    log.append(deny(1));
    const flushed = log.flush();
    await new Promise((resolve) => setTimeout(resolve, 5)); // the first write has started
    for (let i = 2; i <= 100; i++) log.append(deny(i));
    await flushed;
    await log.flush();
    expect(log.stats).toEqual({ lines: 100, writes: 2, lost: 0 });
  });

  it('lines appended during a write nobody waits for wait the batch delay, not the write before', async () => {
    // Back-to-back writes under steady load cost a write per few dozen lines (issue 8).
    const dir = tempDir();
    const { log } = await openLog(dir, fakeClock(Date.UTC(2025, 0, 1, 12)), { batchDelayMs: 60_000 });
    log.append(deny(1));
    const flushed = log.flush();
    // The write loop started on a 0 ms timer made before this one: the write is in flight now.
    await new Promise((resolve) => setTimeout(resolve, 0));
    log.append(deny(2));
    await flushed;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(log.stats).toEqual({ lines: 1, writes: 1, lost: 0 });
    await log.flush();
    expect(log.stats).toEqual({ lines: 2, writes: 2, lost: 0 });
  });

  it('a failed write (the directory replaced by a file) is reported, never thrown; the gap shows in verify', async () => {
    const dir = tempDir();
    const clock = fakeClock(Date.UTC(2025, 0, 1, 12));
    const { log, errors } = await openLog(dir, clock);
    log.append(deny(1));
    await log.flush();
    // The open file handle would keep working, so make the next write open a new file: a new day.
    clock.advance(DAY);
    renameSync(dir, `${dir}.moved`);
    writeFileSync(dir, 'not a directory');

    // The rotation's retention pass may also fail to list the directory: reported on its own.
    const writeErrors = () => errors.filter((e) => !(e instanceof AuditRetentionError));

    expect(() => log.append(deny(2))).not.toThrow();
    await log.flush();
    expect(writeErrors()).toHaveLength(1);
    expect(writeErrors()[0]).toBeInstanceOf(AuditWriteError);
    expect(writeErrors()[0]).toMatchObject({ code: 'AUDIT_WRITE_FAILED', firstSeq: 2, lastSeq: 2 });
    expect((writeErrors()[0]!.cause as NodeJS.ErrnoException).code).toBe('ENOTDIR');
    // Later failures are counted, not reported one by one.
    log.append(deny(3));
    log.append(deny(4));
    await log.flush();
    expect(writeErrors()).toHaveLength(1);
    expect(log.stats).toMatchObject({ lines: 1, lost: 3 });

    // The directory comes back: writing resumes, and the loss is summed up once.
    rmSync(dir);
    renameSync(`${dir}.moved`, dir);
    log.append(deny(5));
    await log.close();
    expect(writeErrors()).toHaveLength(2);
    expect(writeErrors()[1]).toBeInstanceOf(AuditLinesLostError);
    expect(writeErrors()[1]).toMatchObject({ lines: 2, firstSeq: 3, lastSeq: 4 });
    const result = await verifyAudit(dir);
    expect(result.problems).toEqual([
      {
        file: 'audit-2025-01-02.jsonl',
        line: 1,
        seq: 5,
        problem: expect.stringMatching(/^3 line\(s\) missing \(seq 2–4\)/),
      },
    ]);
  });

  it('a backlog over maxBacklogBytes drops lines and reports them once', async () => {
    const dir = tempDir();
    const { log, errors } = await openLog(dir, fakeClock(Date.UTC(2025, 0, 1, 12)), {
      maxBacklogBytes: 1000,
    });
    for (let i = 1; i <= 20; i++) log.append(deny(i));
    await log.close();
    const kept = linesOf(join(dir, 'audit-2025-01-01.jsonl')).length;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(20);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      code: 'AUDIT_LINES_LOST',
      lines: 20 - kept,
      firstSeq: kept + 1,
      lastSeq: 20,
    });
    expect(log.stats).toMatchObject({ lines: kept, lost: 20 - kept });
  });

  it('a throwing onError does not escape', async () => {
    const dir = tempDir();
    const clock = fakeClock(Date.UTC(2025, 0, 1, 12));
    const log = await AuditLog.open({
      dir,
      retentionMs: RETAIN_400D,
      wallClock: clock.now,
      onError: () => {
        throw new Error('bad handler');
      },
    });
    rmSync(dir, { recursive: true });
    writeFileSync(dir, 'x');
    log.append(deny(1));
    await expect(log.close()).resolves.toBeUndefined();
  });
});

describe('AuditLog: retention', () => {
  it('deletes only files whose day ended more than retentionMs ago, at rotation and at open; verify: ok, not anchored', async () => {
    const dir = tempDir();
    const start = Date.UTC(2024, 0, 1, 12);
    const clock = fakeClock(start);
    const first = await openLog(dir, clock);
    // One line every 50 days for 600 days: 13 files, the first of which roll out as time passes.
    for (let day = 0; day <= 600; day += 50) {
      clock.set(start + day * DAY);
      first.log.append(deny(day));
    }
    await first.log.close();
    expect(first.errors).toEqual([]);
    // Now (day 600, 2025-08-23 12:00): day 150's file ended 449.5 days ago, day 200's 399.5 days ago.
    expect(filesIn(dir)).toEqual([
      'audit-2024-07-19.jsonl', // day 200
      'audit-2024-09-07.jsonl',
      'audit-2024-10-27.jsonl',
      'audit-2024-12-16.jsonl',
      'audit-2025-02-04.jsonl',
      'audit-2025-03-26.jsonl',
      'audit-2025-05-15.jsonl',
      'audit-2025-07-04.jsonl',
      'audit-2025-08-23.jsonl', // day 600
    ]);
    expect(await verifyAudit(dir)).toEqual({
      ok: true,
      files: 9,
      lines: 9,
      firstSeq: 5,
      lastSeq: 13,
      anchored: false,
      problems: [],
    });

    // At open: 1 more day and day 200's file (ended 2024-07-20) is more than 400 days old.
    clock.advance(DAY);
    const second = await openLog(dir, clock);
    expect(filesIn(dir)[0]).toBe('audit-2024-09-07.jsonl');
    expect(second.log.lastSeq).toBe(13);
    await second.log.close();
  });

  it('keeps everything within retention, to the millisecond', async () => {
    const dir = tempDir();
    const clock = fakeClock(Date.UTC(2025, 0, 1, 12));
    const first = await openLog(dir, clock);
    first.log.append(deny(1));
    await first.log.close();
    // The day ended 2025-01-02T00:00Z; exactly 400 days later it is kept, 1 ms later deleted.
    clock.set(Date.UTC(2025, 0, 2) + RETAIN_400D);
    await (await openLog(dir, clock)).log.close();
    expect(filesIn(dir)).toEqual(['audit-2025-01-01.jsonl']);
    clock.advance(1);
    const third = await openLog(dir, clock);
    expect(filesIn(dir)).toEqual([]);
    // The chain head was read before the file went: seq and prev continue.
    expect(third.log.lastSeq).toBe(1);
  });
});

describe('readAudit', () => {
  async function threeDays(dir: string): Promise<AuditRecord[]> {
    const clock = fakeClock(Date.UTC(2025, 3, 1, 0, 30));
    const { log } = await openLog(dir, clock);
    const records: AuditRecord[] = [];
    for (let i = 1; i <= 30; i++) {
      // The record as the line holds it: `{ seq, ts, ...event, prev, h }`.
      const prev = log.lastHash;
      const seq = log.append(deny(i));
      const ts = new Date(clock.now()).toISOString();
      records.push({ seq, ts, ...deny(i), prev, h: log.lastHash } as unknown as AuditRecord);
      clock.advance(0.1 * DAY); // 10 lines a day over 2025-04-01..03
    }
    await log.close();
    expect(filesIn(dir)).toHaveLength(3);
    return records;
  }

  it('yields every record in seq order, as parsed from the lines', async () => {
    const dir = tempDir();
    const records = await threeDays(dir);
    expect(await collect(readAudit(dir))).toEqual(JSON.parse(JSON.stringify(records)));
  });

  it('yields the records of [fromMs, toMs) and after afterSeq', async () => {
    const dir = tempDir();
    const records = await threeDays(dir);
    const fromMs = recordTime(records[7]!);
    const toMs = recordTime(records[21]!);
    const seqs = async (range: Parameters<typeof readAudit>[1]) =>
      (await collect(readAudit(dir, range))).map((r) => r.seq);
    expect(await seqs({ fromMs, toMs })).toEqual(range(8, 21));
    expect(await seqs({ fromMs })).toEqual(range(8, 30));
    expect(await seqs({ toMs })).toEqual(range(1, 21));
    expect(await seqs({ afterSeq: 12 })).toEqual(range(13, 30));
    expect(await seqs({ afterSeq: 25, toMs })).toEqual([]);
    expect(await seqs({ afterSeq: 30 })).toEqual([]);
    expect(await seqs({ fromMs: Date.UTC(2025, 3, 2), toMs: Date.UTC(2025, 3, 3) })).toEqual(
      records.filter((r) => r.ts.startsWith('2025-04-02')).map((r) => r.seq),
    );
  });

  it('skips files outside the range without reading them', async () => {
    const dir = tempDir();
    await threeDays(dir);
    // A day file that would fail to read if it were opened (a directory of that name).
    mkdirSync(join(dir, 'audit-2025-03-01.jsonl'));
    expect((await collect(readAudit(dir, { fromMs: Date.UTC(2025, 3, 1) }))).length).toBe(30);
  });

  it('with afterSeq, skips a file whose successor starts at or below afterSeq + 1, without reading it', async () => {
    const dir = tempDir();
    await threeDays(dir);
    // Day 1 holds seq 1–10 and day 2 starts at 11: day 1 would fail to read (now a directory).
    rmSync(join(dir, 'audit-2025-04-01.jsonl'));
    mkdirSync(join(dir, 'audit-2025-04-01.jsonl'));
    expect((await collect(readAudit(dir, { afterSeq: 12 }))).map((r) => r.seq)).toEqual(range(13, 30));
    expect((await collect(readAudit(dir, { afterSeq: 10 }))).map((r) => r.seq)).toEqual(range(11, 30));
    await expect(collect(readAudit(dir, { afterSeq: 9 }))).rejects.toMatchObject({ code: 'EISDIR' });
  });

  it('skips a torn last line and a garbage line; a missing directory is an empty trail', async () => {
    const dir = tempDir();
    await threeDays(dir);
    const file = join(dir, 'audit-2025-04-03.jsonl');
    writeFileSync(file, `${readFileSync(file, 'utf8')}not json\n{"seq":31,"ts":"2025-04-03`);
    expect((await collect(readAudit(dir))).map((r) => r.seq)).toEqual(range(1, 30));
    expect(await collect(readAudit(join(dir, 'nope')))).toEqual([]);
  });

  it('stops reading when the consumer stops', async () => {
    const dir = tempDir();
    await threeDays(dir);
    const seen: number[] = [];
    for await (const r of readAudit(dir)) {
      seen.push(r.seq);
      if (r.seq === 3) break;
    }
    expect(seen).toEqual([1, 2, 3]);
    await settle();
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
