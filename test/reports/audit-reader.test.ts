/**
 * The audit reader's fast paths (issue 8): the line check without regexes, reading files in large
 * reused chunks, and skipping lines outside a seq range by their leading seq. What counts as a
 * valid line, and where lines start and end, must not move (verify-audit reports by them).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/reports/audit-log.js';
import {
  auditFileLines,
  auditLineHash,
  leadingAuditSeq,
  parseAuditLine,
  readAudit,
  readAuditBatches,
} from '../../src/reports/audit-reader.js';
import { onCleanup } from '../helpers/cleanup.js';

const DAY = 86_400_000;
const HEX = 'a1'.repeat(32);
const PREV = '0f'.repeat(32);

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-audit-reader-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A line as the writer builds it, from its content before `h`. */
function line(content: string, h = auditLineHash(content)): string {
  return `${content.slice(0, -1)},"h":"${h}"}`;
}

const GOOD = `{"seq":7,"ts":"2026-03-01T10:00:00.250Z","t":"stop","prev":"${PREV}"}`;

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('parseAuditLine', () => {
  it('accepts a line as written, with its time parsed and its hash checked on request', () => {
    const parsed = parseAuditLine(line(GOOD), true);
    expect(parsed).toMatchObject({ ok: true, hashOk: true, ms: Date.UTC(2026, 2, 1, 10, 0, 0, 250) });
    expect(parseAuditLine(line(GOOD, HEX), true)).toMatchObject({ ok: true, hashOk: false });
    expect(parseAuditLine(line(GOOD, HEX), false)).toMatchObject({ ok: true, hashOk: true });
  });

  it('parses each time as Date.parse does, within a second and across seconds', () => {
    const times = [
      '2026-03-01T10:00:00.250Z',
      '2026-03-01T10:00:00.999Z',
      '2026-03-01T10:00:00.000Z',
      '2026-03-01T10:00:01.001Z',
      '2025-12-31T23:59:59.999Z',
      '2026-03-01T10:00:01.5Z',
      '2026-03-01T10:00:01Z',
      '2026-03-01T10:00:01.001Z',
    ];
    for (const ts of times) {
      const parsed = parseAuditLine(line(GOOD.replace('2026-03-01T10:00:00.250Z', ts)), false);
      expect(parsed).toMatchObject({ ok: true, ms: Date.parse(ts) });
    }
    for (const ts of ['2026-03-01T10:00:01.0x1Z', '2026-03-01T10:00:01.-01Z', '2026-03-01T10:00:61.001Z']) {
      const parsed = parseAuditLine(line(GOOD.replace('2026-03-01T10:00:00.250Z', ts)), false);
      expect(parsed).toEqual({ ok: false, reason: 'ts missing or not a time' });
    }
  });

  it.each([
    ['', 'empty line'],
    [line(GOOD, HEX.toUpperCase()), 'no ,"h":"<64 hex>"} at its end'],
    [line(GOOD, `${HEX.slice(0, 63)}g`), 'no ,"h":"<64 hex>"} at its end'],
    [line(GOOD, `${HEX.slice(0, 31)}/${HEX.slice(32)}`), 'no ,"h":"<64 hex>"} at its end'],
    [line(GOOD, HEX.slice(0, 63)), 'no ,"h":"<64 hex>"} at its end'],
    [`${line(GOOD).slice(0, -1)} }`, 'no ,"h":"<64 hex>"} at its end'],
    [line(GOOD.replace(PREV, PREV.toUpperCase())), 'prev missing or not 64 hex digits'],
    [line(GOOD.replace(PREV, `${PREV}0`)), 'prev missing or not 64 hex digits'],
    [line(GOOD.replace(PREV, PREV.slice(1))), 'prev missing or not 64 hex digits'],
    [line(GOOD.replace(`"${PREV}"`, '7')), 'prev missing or not 64 hex digits'],
    [line(GOOD.replace('2026-03-01T10:00:00.250Z', 'soon')), 'ts missing or not a time'],
    [line(GOOD.replace('"ts":"2026-03-01T10:00:00.250Z"', '"ts":1')), 'ts missing or not a time'],
    [line(GOOD.replace('"seq":7', '"seq":0')), 'seq missing or not a positive integer'],
    [line(GOOD.replace('"t":"stop",', '')), 't (the event type) missing'],
    [line(GOOD).replace('"t"', '"t'), 'not JSON'],
  ])('rejects %j: %s', (text, reason) => {
    expect(parseAuditLine(text, true)).toEqual({ ok: false, reason });
  });
});

describe('leadingAuditSeq', () => {
  it.each([
    [line(GOOD), 7],
    ['{"seq":1234567890123456,"ts":', 1234567890123456],
    ['{"seq":12345678901234567,"ts":', undefined],
    ['{"seq":,"ts":', undefined],
    ['{"seq":12', undefined],
    [' {"seq":1,', undefined],
    ['{"ts":"x","seq":1,', undefined],
  ])('%j → %s', (text, seq) => {
    expect(leadingAuditSeq(text)).toBe(seq);
  });
});

describe('auditFileLines', () => {
  it('splits on \\n only, across chunks, with lines longer than a chunk and characters cut by one', async () => {
    const dir = tempDir();
    // ~1 MiB chunks: a 2.5 MiB line grows the buffer; 'é' (2 bytes) lands on a chunk boundary.
    const long = 'x'.repeat(2.5 * 1024 * 1024);
    const cut = `${'y'.repeat(1024 * 1024 - 1)}é`;
    const lines = ['first', '', 'a\rb', long, cut, 'ü€', 'last'];
    const path = join(dir, 'f.jsonl');
    writeFileSync(path, `${lines.join('\n')}\n`);
    const read = (await collect(auditFileLines(path))).flat();
    expect(read.map((l) => l.text)).toEqual(lines);
    expect(read.every((l) => l.complete)).toBe(true);

    writeFileSync(path, `${lines.join('\n')}\ntorn`);
    const torn = (await collect(auditFileLines(path))).flat();
    expect(torn.map((l) => l.text)).toEqual([...lines, 'torn']);
    expect(torn.map((l) => l.complete)).toEqual([...lines.map(() => true), false]);

    writeFileSync(path, '');
    expect(await collect(auditFileLines(path))).toEqual([]);
    writeFileSync(path, '\n');
    expect((await collect(auditFileLines(path))).flat()).toEqual([{ text: '', complete: true }]);
  });
});

describe('readAudit', () => {
  /** 3 days, 300 lines a day: seq 1–300, 301–600, 601–900, with damage in the middle file. */
  async function trail(): Promise<string> {
    const dir = join(tempDir(), 'audit');
    let now = Date.UTC(2026, 2, 1);
    const log = await AuditLog.open({ dir, retentionMs: 400 * DAY, wallClock: () => now });
    for (let i = 1; i <= 900; i++) {
      log.append({ t: 'seats', feature: 'cad', seats: i });
      now += DAY / 300;
    }
    await log.close();
    return dir;
  }

  it('reads the seq range (afterSeq, toSeq], each record with its time, in order', async () => {
    const dir = await trail();
    const seqs = async (range: { afterSeq?: number; toSeq?: number }) =>
      (await collect(readAudit(dir, range))).map((r) => r.seq);
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    expect(await seqs({})).toEqual(range(1, 900));
    expect(await seqs({ afterSeq: 450, toSeq: 620 })).toEqual(range(451, 620));
    expect(await seqs({ afterSeq: 899 })).toEqual([900]);
    expect(await seqs({ afterSeq: 900 })).toEqual([]);
    expect(await seqs({ toSeq: 0 })).toEqual([]);
    for await (const { records, times } of readAuditBatches(dir)) {
      expect(times).toEqual(records.map((r) => Date.parse(r.ts)));
    }
  });

  it('skips damaged lines, and reads a newest file whose end is damaged or torn', async () => {
    const dir = await trail();
    const newest = join(dir, 'audit-2026-03-03.jsonl');
    const lines = readFileSync(newest, 'utf8').slice(0, -1).split('\n');
    // Line 10 (seq 610) damaged; the last line (seq 900) torn, as a crash leaves it.
    lines[9] = lines[9]!.replace('"seats":610', '"seats":');
    writeFileSync(newest, `${lines.slice(0, -1).join('\n')}\n${lines.at(-1)!.slice(0, 40)}`);
    const seqs = (await collect(readAudit(dir, { afterSeq: 600 }))).map((r) => r.seq);
    expect(seqs).toHaveLength(298);
    expect(seqs).not.toContain(610);
    expect(seqs.at(-1)).toBe(899);
    // The last complete line at or below afterSeq, then a torn one: read, not skipped by the tail.
    writeFileSync(newest, `${lines.slice(0, -1).join('\n')}\n${lines.at(-1)!}`);
    expect((await collect(readAudit(dir, { afterSeq: 899 }))).map((r) => r.seq)).toEqual([900]);
  });
});
