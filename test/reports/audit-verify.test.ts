import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/reports/audit-log.js';
import { verifyAudit } from '../../src/reports/audit-verify.js';
import { onCleanup } from '../helpers/cleanup.js';

const DAY = 86_400_000;
const DAY1 = 'audit-2025-02-01.jsonl';
const DAY2 = 'audit-2025-02-02.jsonl';
const DAY3 = 'audit-2025-02-03.jsonl';

function tempDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'leasehold-audit-verify-'));
  onCleanup(() => rmSync(root, { recursive: true, force: true }));
  return join(root, 'audit');
}

/** A trail of three days, 20 lines each: seq 1–20 in DAY1, 21–40 in DAY2, 41–60 in DAY3. */
async function threeDayTrail(): Promise<string> {
  const dir = tempDir();
  let now = Date.UTC(2025, 1, 1, 0, 10);
  const log = await AuditLog.open({ dir, retentionMs: 400 * DAY, wallClock: () => now });
  for (let i = 1; i <= 60; i++) {
    log.append(
      i % 2 === 0
        ? { t: 'deny', feature: 'cad', user: 'ada', host: 'ws1', count: 1, code: 'NO_SEATS' }
        : { t: 'seats', feature: 'cad', seats: i },
    );
    now += DAY / 20;
  }
  await log.close();
  expect(readdirSync(dir).sort()).toEqual([DAY1, DAY2, DAY3]);
  return dir;
}

function readLines(dir: string, file: string): string[] {
  return readFileSync(join(dir, file), 'utf8').slice(0, -1).split('\n');
}

function writeLines(dir: string, file: string, lines: string[]): void {
  writeFileSync(join(dir, file), `${lines.join('\n')}\n`);
}

/** Re-hashes a line as the writer would: what a forger who knows the format does. */
function rehash(line: string): string {
  const s = `${line.slice(0, line.lastIndexOf(',"h":"'))}}`;
  const h = createHash('sha256').update(s).digest('hex');
  return `${s.slice(0, -1)},"h":"${h}"}`;
}

describe('verifyAudit', () => {
  it('an intact trail: ok, anchored, every line counted', async () => {
    const dir = await threeDayTrail();
    expect(await verifyAudit(dir)).toEqual({
      ok: true,
      files: 3,
      lines: 60,
      firstSeq: 1,
      lastSeq: 60,
      anchored: true,
      problems: [],
    });
  });

  it('an empty directory is an empty, intact trail; a missing one is an error', async () => {
    const dir = tempDir();
    mkdirSync(dir);
    expect(await verifyAudit(dir)).toEqual({ ok: true, files: 0, lines: 0, anchored: false, problems: [] });
    await expect(verifyAudit(join(dir, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('an edited field of a middle line: that line', async () => {
    const dir = await threeDayTrail();
    const lines = readLines(dir, DAY2);
    expect(lines[7]).toContain('"user":"ada"');
    lines[7] = lines[7]!.replace('"user":"ada"', '"user":"eve"');
    writeLines(dir, DAY2, lines);
    const result = await verifyAudit(dir);
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([
      { file: DAY2, line: 8, seq: 28, problem: 'edited: its hash does not match its content' },
    ]);
    expect(result).toMatchObject({ lines: 60, firstSeq: 1, lastSeq: 60, anchored: true });
  });

  it('an edited line whose hash was recomputed: the next line, naming the one before', async () => {
    const dir = await threeDayTrail();
    const lines = readLines(dir, DAY2);
    lines[7] = rehash(lines[7]!.replace('"user":"ada"', '"user":"eve"'));
    writeLines(dir, DAY2, lines);
    expect((await verifyAudit(dir)).problems).toEqual([
      {
        file: DAY2,
        line: 9,
        seq: 29,
        problem: expect.stringMatching(/^chain broken: prev is not the hash of the line before \(seq 28\)/),
      },
    ]);
  });

  it('a deleted line: the line after the hole', async () => {
    const dir = await threeDayTrail();
    const lines = readLines(dir, DAY2);
    lines.splice(4, 1); // seq 25
    writeLines(dir, DAY2, lines);
    expect((await verifyAudit(dir)).problems).toEqual([
      { file: DAY2, line: 5, seq: 26, problem: '1 line(s) missing (seq 25)' },
    ]);
  });

  it('two swapped lines: one problem, at the first line out of place', async () => {
    const dir = await threeDayTrail();
    const lines = readLines(dir, DAY1);
    [lines[10], lines[11]] = [lines[11]!, lines[10]!]; // seq 11 and 12
    writeLines(dir, DAY1, lines);
    expect((await verifyAudit(dir)).problems).toEqual([
      {
        file: DAY1,
        line: 11,
        seq: 12,
        problem: 'lines out of order: seq 12, 11, 13 after seq 10 (lines 11–13)',
      },
    ]);
  });

  it('a file truncated in the middle of a line: that line, and the break runs into the next file', async () => {
    const dir = await threeDayTrail();
    const text = readFileSync(join(dir, DAY2), 'utf8');
    const cut = text.split('\n').slice(0, 12).join('\n').length + 1 + 30; // 30 bytes into line 13
    writeFileSync(join(dir, DAY2), text.slice(0, cut));
    const result = await verifyAudit(dir);
    expect(result.problems).toEqual([
      {
        file: DAY2,
        line: 13,
        seq: 33,
        problem:
          'not a valid audit line: cut off: the file ends inside it (no newline); ' +
          `8 line(s) missing (seq 33–40) before this file: the end of ${DAY2}, or whole files after it, ` +
          `were removed (through ${DAY3} line 1)`,
      },
    ]);
    expect(result.lines).toBe(53);
  });

  it('a file truncated at a line boundary: line 1 of the next file', async () => {
    const dir = await threeDayTrail();
    writeLines(dir, DAY2, readLines(dir, DAY2).slice(0, 12));
    expect((await verifyAudit(dir)).problems).toEqual([
      { file: DAY3, line: 1, seq: 41, problem: expect.stringMatching(/^8 line\(s\) missing \(seq 33–40\)/) },
    ]);
  });

  it("a middle day's file removed: line 1 of the next file", async () => {
    const dir = await threeDayTrail();
    rmSync(join(dir, DAY2));
    const result = await verifyAudit(dir);
    expect(result.problems).toEqual([
      {
        file: DAY3,
        line: 1,
        seq: 41,
        problem: `20 line(s) missing (seq 21–40) before this file: the end of ${DAY1}, or whole files after it, were removed`,
      },
    ]);
    expect(result).toMatchObject({ ok: false, files: 2, lines: 40 });
  });

  it('an inserted line that is not JSON, and one that lacks a field: those lines only', async () => {
    const dir = await threeDayTrail();
    const lines = readLines(dir, DAY3);
    lines.splice(5, 0, 'hello');
    const noSeq = rehash(lines[10]!).replace(/^\{"seq":\d+,/, '{');
    lines.splice(10, 1, rehash(noSeq)); // seq 50 replaced by a well-hashed line without seq
    writeLines(dir, DAY3, lines);
    const problems = (await verifyAudit(dir)).problems;
    expect(problems).toEqual([
      { file: DAY3, line: 6, problem: 'not a valid audit line: no ,"h":"<64 hex>"} at its end' },
      {
        file: DAY3,
        line: 11,
        // The next line links to the damaged one, which the chain no longer knows as seq 50.
        problem:
          'not a valid audit line: seq missing or not a positive integer; 1 line(s) missing (seq 50) (lines 11–12)',
      },
    ]);
  });

  it('a line moved into the previous day’s file (chain intact): that line', async () => {
    const dir = await threeDayTrail();
    const day3 = readLines(dir, DAY3);
    writeLines(dir, DAY2, [...readLines(dir, DAY2), day3[0]!]);
    writeLines(dir, DAY3, day3.slice(1));
    expect((await verifyAudit(dir)).problems).toEqual([
      {
        file: DAY2,
        line: 21,
        seq: 41,
        problem: expect.stringMatching(/^dated 2025-02-03T.*after its file's day 2025-02-02$/),
      },
    ]);
  });

  it('a torn last line of the newest file is reported apart, not as a problem', async () => {
    const dir = await threeDayTrail();
    writeFileSync(join(dir, DAY3), `${readFileSync(join(dir, DAY3), 'utf8')}{"seq":61,"ts":"2025-02`);
    expect(await verifyAudit(dir)).toMatchObject({
      ok: true,
      lines: 61,
      lastSeq: 60,
      problems: [],
      torn: { file: DAY3, line: 21 },
    });
  });

  it('oldest files removed (as retention does): ok, not anchored', async () => {
    const dir = await threeDayTrail();
    rmSync(join(dir, DAY1));
    expect(await verifyAudit(dir)).toEqual({
      ok: true,
      files: 2,
      lines: 40,
      firstSeq: 21,
      lastSeq: 60,
      anchored: false,
      problems: [],
    });
  });

  it('separate breaks are separate problems; each resynchronises', async () => {
    const dir = await threeDayTrail();
    const day1 = readLines(dir, DAY1);
    day1[2] = day1[2]!.replace('"seats":3', '"seats":300');
    writeLines(dir, DAY1, day1);
    const day3 = readLines(dir, DAY3);
    day3.splice(15, 2); // seq 56, 57
    writeLines(dir, DAY3, day3);
    expect((await verifyAudit(dir)).problems).toEqual([
      { file: DAY1, line: 3, seq: 3, problem: 'edited: its hash does not match its content' },
      { file: DAY3, line: 16, seq: 58, problem: '2 line(s) missing (seq 56–57)' },
    ]);
  });
});
