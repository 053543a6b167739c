/**
 * Issue 7 §3: `leasehold report usage` and `report rightsize` end to end, in-process, on a temp
 * state directory filled by hand: audit files in the audit log's line format and a usage.json
 * written by saveUsage (covering the first part of the trail; the report catches up the rest).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditLease } from '../../src/reports/audit-events.js';
import { type UsageRecord, UsageRollups } from '../../src/reports/rollups.js';
import { saveUsage } from '../../src/reports/usage-store.js';
import { onCleanup } from '../helpers/cleanup.js';
import { runCli } from '../helpers/cli.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY0 = Date.UTC(2025, 2, 3); // 2025-03-03T00:00Z
const at = (h: number, m = 0, day = 0) => DAY0 + day * 24 * HOUR + h * HOUR + m * MIN;

function lease(id: string, user: string, count: number, group?: string): AuditLease {
  return {
    lease: id,
    feature: 'cad',
    user,
    host: 'ws',
    count,
    type: 'concurrent',
    ...(group ? { group } : {}),
  };
}
const start = (seats: number): AuditEvent => ({
  t: 'start',
  version: '1',
  features: [{ name: 'cad', seats }],
  leases: [],
});
const grant = (l: AuditLease): AuditEvent => ({ t: 'grant', ...l, session: 's', fencing: 1 });
const release = (l: AuditLease): AuditEvent => ({ t: 'release', ...l });
const erin = { ticket: 'T', feature: 'cad', user: 'erin', host: 'ws', count: 1, group: 'eng' };
const A = lease('A', 'alice', 2, 'eng');
const B = lease('B', 'bob', 1);
const C = lease('C', 'erin', 1, 'eng');
const D = lease('D', 'alice', 4, 'eng');

/** The scenario of test/reports/report-usage.test.ts, as timed audit events. */
const EVENTS: [number, AuditEvent][] = [
  [at(9), start(4)],
  [at(9), grant(A)],
  [at(9, 30), grant(B)],
  [at(9, 45), { t: 'deny', feature: 'cad', user: 'carol', host: 'ws', count: 1, code: 'NO_SEATS' }],
  [at(10, 5), release(A)],
  [at(10, 15), { t: 'queue', ...erin, position: 1 }],
  [at(10, 45), { t: 'dequeue', ...erin, reason: 'granted', waitedMs: 30 * MIN }],
  [at(10, 45), grant(C)],
  [at(11), { t: 'stop' }],
  [at(9, 0, 1), start(4)],
  [at(9, 0, 1), grant(D)],
  [at(9, 30, 1), release(D)],
  [at(10, 0, 1), { t: 'stop' }],
];
const hex = (n: number) => n.toString(16).padStart(64, '0');

/** A state dir with the audit files of EVENTS and a usage.json of the first `saved` records. */
async function stateDir(saved: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-report-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'audit'));
  const files = new Map<string, string[]>();
  EVENTS.forEach(([ts, event], i) => {
    const iso = new Date(ts).toISOString();
    // The audit log's line format: { seq, ts, ...event, prev, h }, h last (any 64 hex for a reader).
    const line = JSON.stringify({ seq: i + 1, ts: iso, ...event, prev: hex(i), h: hex(i + 1) });
    const name = `audit-${iso.slice(0, 10)}.jsonl`;
    files.set(name, [...(files.get(name) ?? []), line]);
  });
  for (const [name, lines] of files) writeFileSync(join(dir, 'audit', name), `${lines.join('\n')}\n`);
  const rollups = new UsageRollups();
  EVENTS.slice(0, saved).forEach(([ts, e], i) => {
    rollups.apply({ ...e, seq: i + 1, ts } as UsageRecord);
  });
  await saveUsage(dir, rollups);
  return dir;
}

interface UsageDoc {
  report: string;
  from: string;
  to: string;
  by: string;
  source: string;
  usage: Record<string, unknown>[];
}

describe('leasehold report usage', () => {
  it('--format json from usage.json plus the audit trail since agrees with --source audit', async () => {
    const dir = await stateDir(9); // usage.json holds the first day; the second is caught up
    const period = ['--from', '2025-03-03', '--to', '2025-03-04'];
    const rollups = await runCli('report', 'usage', '--state-dir', dir, ...period, '--format', 'json');
    expect(rollups.stderr).toBe('');
    expect(rollups.code).toBe(0);
    const fromRollups = JSON.parse(rollups.stdout) as UsageDoc;
    const audit = await runCli(
      'report',
      'usage',
      '--state-dir',
      dir,
      ...period,
      '--format',
      'json',
      '--source',
      'audit',
    );
    expect(audit.code).toBe(0);
    const fromAudit = JSON.parse(audit.stdout) as UsageDoc;
    expect(fromRollups).toMatchObject({
      report: 'usage',
      from: '2025-03-03T00:00:00.000Z',
      to: '2025-03-05T00:00:00.000Z', // --to 2025-03-04 includes that day
      by: 'day',
      source: 'rollups',
    });
    expect(fromAudit.source).toBe('audit');
    expect(fromAudit.usage).toEqual(fromRollups.usage);
    expect(
      fromRollups.usage.map((r) => [r.day, r.group, r.peak, r.avg, r.users, r.grants, r.denials]),
    ).toEqual([
      ['2025-03-03', '(all)', 3, 0.16, 3, 3, 1],
      ['2025-03-03', '-', 1, 0.06, 1, 1, 0],
      ['2025-03-03', 'eng', 2, 0.1, 2, 2, 0],
      ['2025-03-04', '(all)', 4, 0.08, 1, 1, 0],
      ['2025-03-04', 'eng', 4, 0.08, 1, 1, 0],
    ]);
    expect(fromRollups.usage[0]).toMatchObject({ waitP50Ms: 30 * MIN, waitP95Ms: 30 * MIN, longestQueue: 1 });
  });

  it('one day is shown per hour, as a table with a bar chart of the peak against the seats', async () => {
    const dir = await stateDir(EVENTS.length);
    const r = await runCli(
      'report',
      'usage',
      '--state-dir',
      dir,
      '--from',
      '2025-03-04',
      '--to',
      '2025-03-04',
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        'Concurrent Usage Report, per hour, between 2025-03-04 00:00 UTC and 2025-03-05 00:00 UTC',
        '',
        'HOUR              FEATURE  GROUP  SEATS  PEAK  PEAK OF SEATS          AVG  USERS  GRANTS  DENIALS  QUEUED  WAIT P50  WAIT P95  LONGEST QUEUE',
        '2025-03-04 09:00  cad      (all)      4     4  ████████████████████  2.00      1       1        0       0         -         -              0',
        '2025-03-04 09:00  cad      eng        4     4  ████████████████████  2.00      1       1        0       0         -         -              0',
        '',
      ].join('\n'),
    );
  });

  it('--by hour, --group and --feature narrow it; csv has a header row', async () => {
    const dir = await stateDir(0); // no usage.json data: all from the trail
    const r = await runCli(
      'report',
      'usage',
      '--state-dir',
      dir,
      '--from',
      '2025-03-03',
      '--to',
      '2025-03-04',
      '--by',
      'hour',
      '--group',
      'eng',
      '--feature',
      'cad',
      '--format',
      'csv',
    );
    expect(r.code).toBe(0);
    expect(r.stdout.split('\r\n')).toEqual([
      'hour,feature,group,seats,peak,avg,users,grants,denials,denialsByCode,queued,waitP50Ms,waitP95Ms,longestQueue',
      '2025-03-03T09:00:00Z,cad,eng,4,2,2,1,1,0,,0,,,0',
      '2025-03-03T10:00:00Z,cad,eng,4,2,0.42,2,1,0,,1,1800000,1800000,1',
      '2025-03-04T09:00:00Z,cad,eng,4,4,2,1,1,0,,0,,,0',
      '',
    ]);
  });

  it('a period without data says so and exits 0', async () => {
    const dir = await stateDir(EVENTS.length);
    const r = await runCli(
      'report',
      'usage',
      '--state-dir',
      dir,
      '--from',
      '2024-01-01',
      '--to',
      '2024-01-02',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('No usage recorded between 2024-01-01 00:00 UTC and 2024-01-03 00:00 UTC.\n');
  });

  it('bad dates, formats, units and periods are usage errors (64)', async () => {
    const dir = await stateDir(0);
    const cases: [string[], RegExp][] = [
      [['--from', '03/03/2025'], /--from <date>.*YYYY-MM-DD/],
      [['--to', '2025-02-30'], /--to <date>/],
      [['--format', 'xml'], /--format <format>.*table, csv, json/],
      [['--by', 'week'], /--by <unit>.*hour, day/],
      [['--source', 'magic'], /--source <source>/],
      [['--from', '2025-03-04', '--to', '2025-03-03'], /--from \(2025-03-04 00:00 UTC\) must be before --to/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli('report', 'usage', '--state-dir', dir, ...args);
      expect(r.code, args.join(' ')).toBe(64);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });

  it('without a state directory: 64 saying what to give; an unreadable usage.json: 1 naming it', async () => {
    const none = await runCli('report', 'usage', '--config', join(tmpdir(), 'no-such-leasehold.toml'));
    expect(none.code).toBe(64);
    expect(none.stderr).toMatch(/give --state-dir DIR, or --config FILE/);
    const dir = await stateDir(0);
    writeFileSync(join(dir, 'usage.json'), '{"version":1,');
    const corrupt = await runCli('report', 'usage', '--state-dir', dir);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toContain(join(dir, 'usage.json'));
    const missing = await runCli('report', 'usage', '--state-dir', join(dir, 'nope'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(join(dir, 'nope'));
  });

  it('--help says the days are UTC', async () => {
    const r = await runCli('report', 'usage', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/All days and hours are\s+UTC/);
    expect(r.stdout).toContain('--source <source>');
  });
});

describe('leasehold report rightsize', () => {
  it('prints the seats that would have met the demand, per feature', async () => {
    const dir = await stateDir(5);
    const r = await runCli(
      'report',
      'rightsize',
      '--state-dir',
      dir,
      '--from',
      '2025-03-03',
      '--to',
      '2025-03-04',
      '--format',
      'json',
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // Demand (min): 0 for 30, 1 for 10, 2 for 75, 3 for 35, 4 for 30.
    expect(JSON.parse(r.stdout).rightsize).toEqual([
      {
        feature: 'cad',
        seats: 4,
        peak: 4,
        unused: 0,
        seatsFor95: 4,
        seatsFor99: 4,
        seatsFor100: 4,
        observedMs: 180 * MIN,
        denials: 1,
        suggestion:
          '4 seats cover 99% of the demand (it reached 4) — keep 4; 1 denied request is not in the demand',
      },
    ]);
    const empty = await runCli(
      'report',
      'rightsize',
      '--state-dir',
      dir,
      '--from',
      '2024-01-01',
      '--to',
      '2024-01-01',
    );
    expect(empty.code).toBe(0);
    expect(empty.stdout).toBe('No usage recorded between 2024-01-01 00:00 UTC and 2024-01-02 00:00 UTC.\n');
  });
});
