/**
 * `leasehold report denials|compliance|verify-audit` on a temp state directory holding an audit
 * trail written here, line by line in audit-log.ts's format (a valid hash chain).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditLease } from '../../src/reports/audit-events.js';
import { onCleanup } from '../helpers/cleanup.js';
import { runCli } from '../helpers/cli.js';

const MIN = 60_000;
/** `at(9, 10)`: 09:10 UTC on 2025-01-06; `at(10, 0, 1)`: 10:00 the next day. */
const at = (h: number, m = 0, day = 0) => Date.UTC(2025, 0, 6 + day) + h * 3_600_000 + m * MIN;
const iso = (h: number, m = 0, day = 0) => new Date(at(h, m, day)).toISOString();

const lease = (n: number, user = `u${n}`): AuditLease => ({
  lease: `L${n}`,
  feature: 'cad',
  user,
  host: 'ws',
  count: 1,
  type: 'concurrent',
});
const grant = (l: AuditLease): AuditEvent => ({ t: 'grant', ...l, session: 's', fencing: 1 });
const release = (l: AuditLease): AuditEvent => ({ t: 'release', ...l });
const deny = (user: string, code: string): AuditEvent => ({
  t: 'deny',
  feature: 'cad',
  user,
  host: 'ws',
  count: 1,
  code,
});
const start = (seats: number, leases: AuditLease[] = []): AuditEvent => ({
  t: 'start',
  version: '0.1.0',
  features: [{ name: 'cad', seats }],
  leases,
});

/**
 * cad: 5 seats, all in use; lowered to 3 at 09:10 → overdraft until 09:25. bob is denied and
 * never gets a seat (true denial); alice is denied at 09:26 and gets one at 09:28 (retried);
 * carol is denied the next day after a restart (true).
 */
const TRAIL: [number, AuditEvent][] = [
  [at(8), start(5)],
  [at(9, 0), grant(lease(1))],
  [at(9, 1), grant(lease(2))],
  [at(9, 2), grant(lease(3))],
  [at(9, 3), grant(lease(4))],
  [at(9, 4), grant(lease(5))],
  [at(9, 5), deny('bob', 'NO_SEATS')],
  [at(9, 10), { t: 'seats', feature: 'cad', seats: 3 }],
  [at(9, 20), release(lease(1))],
  [at(9, 25), release(lease(2))],
  [at(9, 26), deny('alice', 'NO_SEATS')],
  [at(9, 27), release(lease(3))],
  [at(9, 28), grant(lease(6, 'alice'))],
  [at(10, 0, 1), { t: 'stop' }],
  [at(10, 5, 1), start(3, [lease(4), lease(5), lease(6, 'alice')])],
  [at(10, 30, 1), deny('carol', 'GROUP_MAX')],
];

/** Writes the trail as the daemon does: one file per UTC day, each line hash-chained. */
function writeTrail(auditDir: string, trail: readonly [number, AuditEvent][]): void {
  mkdirSync(auditDir, { recursive: true });
  const files = new Map<string, string>();
  let prev = '0'.repeat(64);
  trail.forEach(([ms, event], i) => {
    const ts = new Date(ms).toISOString();
    const s = JSON.stringify({ seq: i + 1, ts, ...event, prev });
    const h = createHash('sha256').update(s).digest('hex');
    const name = `audit-${ts.slice(0, 10)}.jsonl`;
    files.set(name, `${files.get(name) ?? ''}${s.slice(0, -1)},"h":"${h}"}\n`);
    prev = h;
  });
  for (const [name, text] of files) writeFileSync(join(auditDir, name), text);
}

/** A fresh state directory holding `trail` in its audit/ folder. */
function stateDir(trail: readonly [number, AuditEvent][] = TRAIL): string {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-report-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  writeTrail(join(dir, 'audit'), trail);
  return dir;
}

const DAYS = ['--from', '2025-01-06', '--to', '2025-01-07'];

describe('leasehold report compliance', () => {
  it('flags the overdraft after seats were lowered (--format json), and exits 0', async () => {
    const r = await runCli('report', 'compliance', '--state-dir', stateDir(), ...DAYS, '--format', 'json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({
      // A date in --to includes that day.
      from: iso(0),
      to: iso(0, 0, 2),
      compliant: false,
      exact: true,
      records: TRAIL.length,
    });
    expect(doc.overdrafts).toEqual([
      {
        feature: 'cad',
        start: iso(9, 10),
        end: iso(9, 25),
        ongoing: false,
        licensed: 3,
        maxInUse: 5,
        maxAt: iso(9, 10),
      },
    ]);
    expect(doc.seatChanges).toEqual([
      { feature: 'cad', at: iso(8), previous: null, seats: 5, source: 'start' },
      { feature: 'cad', at: iso(9, 10), previous: 5, seats: 3, source: 'seats' },
    ]);
    expect(doc.features).toEqual([
      {
        feature: 'cad',
        licensedAtFrom: null,
        licensedAtTo: 3,
        licensedChanges: 2,
        peakInUse: 5,
        peakAt: iso(9, 4),
        overdrafts: 1,
        verdict: 'exceeded the licensed count 1 time',
      },
    ]);
  });

  it('replays the state at --from from the start of the trail', async () => {
    const r = await runCli(
      'report',
      'compliance',
      '--state-dir',
      stateDir(),
      '--from',
      '2025-01-06T09:30',
      '--to',
      '2025-01-07',
      '--format',
      'csv',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'feature,licensedAtFrom,licensedAtTo,licensedChanges,peakInUse,peakAt,overdrafts,verdict\r\n' +
        `cad,3,3,0,3,${iso(9, 30)},0,never exceeded the licensed count\r\n`,
    );
  });

  it('prints the tables with the verdict by default', async () => {
    const r = await runCli('report', 'compliance', '--state-dir', stateDir(), ...DAYS);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Verdict: seats in use exceeded the licensed count');
    expect(r.stdout).toMatch(/\ncad +2025-01-06T09:10:00\.000Z +2025-01-06T09:25:00\.000Z +false +3 +5 /);
  });

  it('covers the last 365 days by default', async () => {
    const now = Date.now();
    const dir = stateDir([
      [now - 400 * 86_400_000, start(2)],
      [now - 300 * 86_400_000, { t: 'seats', feature: 'cad', seats: 1 }],
      [now - 60_000, grant(lease(1))],
    ]);
    const r = await runCli('report', 'compliance', '--state-dir', dir, '--format', 'json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(Date.parse(doc.to) - Date.parse(doc.from)).toBeGreaterThan(365 * 86_400_000);
    expect(Date.parse(doc.to) - Date.parse(doc.from)).toBeLessThanOrEqual(366 * 86_400_000);
    expect(doc.features[0]).toMatchObject({ licensedAtFrom: 2, licensedAtTo: 1, peakInUse: 1 });
  });
});

describe('leasehold report denials', () => {
  it('--format csv --by user: true and retried denials per user', async () => {
    const r = await runCli(
      'report',
      'denials',
      '--state-dir',
      stateDir(),
      ...DAYS,
      '--by',
      'user',
      '--format',
      'csv',
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('user,denials,trueDenials,retried\r\nalice,1,0,1\r\nbob,1,1,0\r\ncarol,1,1,0\r\n');
  });

  it('--format csv by reason (the default), with a window that makes alice true too', async () => {
    const r = await runCli(
      'report',
      'denials',
      '--state-dir',
      stateDir(),
      ...DAYS,
      '--window',
      '1m',
      '--format',
      'csv',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('reason,denials,trueDenials,retried\r\nNO_SEATS,2,2,0\r\nGROUP_MAX,1,1,0\r\n');
  });

  it('table: the summary and one row per hour', async () => {
    const r = await runCli('report', 'denials', '--state-dir', stateDir(), ...DAYS, '--by', 'hour');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(': 3\n  true: 2, retried: 1 (the user got a seat of the feature within 5m');
    expect(r.stdout).toContain(
      '2025-01-06 09:00Z        2     1        1\n2025-01-07 10:00Z        1     1        0\n',
    );
  });
});

describe('leasehold report verify-audit', () => {
  it('exits 0 on an intact trail complete from its start', async () => {
    const dir = stateDir();
    const r = await runCli('report', 'verify-audit', '--state-dir', dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `Audit trail ${join(dir, 'audit')}: 2 files, 16 lines, seq 1–16.\n` +
        'Complete from its start: the first line begins the hash chain.\n' +
        'OK: the hash chain is intact.\n',
    );
  });

  it('exits 1 naming file:line after a line was edited', async () => {
    const dir = stateDir();
    const file = join(dir, 'audit', 'audit-2025-01-06.jsonl');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"user":"u2"', '"user":"mallory"'));
    const r = await runCli('report', 'verify-audit', '--state-dir', dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAILED: 1 problem:\n');
    expect(r.stdout).toContain(`${file}:3: seq 3: edited: its hash does not match its content`);
  });

  it('--json: the result with each problem', async () => {
    const dir = stateDir();
    const file = join(dir, 'audit', 'audit-2025-01-07.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n');
    writeFileSync(file, [lines[0], lines[2], ''].join('\n')); // line 2 (seq 15) deleted
    const r = await runCli('report', 'verify-audit', '--state-dir', dir, '--json');
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ dir: join(dir, 'audit'), ok: false, files: 2, lines: 15, anchored: true });
    expect(doc.problems).toHaveLength(1);
    expect(doc.problems[0]).toMatchObject({ file: 'audit-2025-01-07.jsonl', line: 2, seq: 16 });
  });

  it('says when the trail begins after retention removed older files', async () => {
    const dir = stateDir();
    rmSync(join(dir, 'audit', 'audit-2025-01-06.jsonl'));
    const r = await runCli('report', 'verify-audit', '--state-dir', dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Begins at seq 14: older files were removed by retention');
  });
});

describe('leasehold report: bad input', () => {
  it.each([
    [['denials', '--from', '2025-13-01'], 'give a date YYYY-MM-DD'],
    [['denials', '--window', '5x'], '--window must be a duration'],
    [['denials', '--by', 'group'], 'Allowed choices are reason, user, hour, feature'],
    [['compliance', '--from', '2025-02-01', '--to', '2025-01-01'], 'must be before --to'],
    [['compliance', '--format', 'xml'], 'Allowed choices are table, csv, json'],
    [['compliance', '--rows', 'users'], 'Allowed choices are features, overdrafts, seat-changes'],
  ])('exits 64 for %j', async (args, message) => {
    const r = await runCli('report', ...args, '--state-dir', stateDir());
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(message);
  });

  it('exits 1 when the state directory holds no audit trail', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-report-'));
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    for (const cmd of ['denials', 'compliance', 'verify-audit']) {
      const r = await runCli('report', cmd, '--state-dir', dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`no audit trail: ${join(dir, 'audit')} does not exist`);
    }
  });
});
