/**
 * The audit write queue (audit-batch.ts): lines encoded straight into chunk buffers must come out
 * as the very bytes of `content` without its `}`, then `,"h":"<h>"}\n`, in runs per file day.
 */
import type { FileHandle } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { AuditBatch, writeChunks } from '../../src/reports/audit-batch.js';

const H = (n: number) => n.toString(16).padStart(64, '0');
const line = (content: string, h: string) => `${content.slice(0, -1)},"h":"${h}"}\n`;
const text = (chunks: readonly Buffer[]) => Buffer.concat(chunks).toString('utf8');

describe('AuditBatch', () => {
  it('queues each line as the text of content + h, in runs per day, and counts the bytes', () => {
    const batch = new AuditBatch();
    expect(batch.empty).toBe(true);
    const a = '{"seq":1,"t":"deny","user":"zoë 🚀","prev":"x"}';
    const b = '{"seq":2,"t":"stop"}';
    const c = '{"seq":3,"t":"start"}';
    batch.add('2026-03-01', 1, a, H(1));
    batch.add('2026-03-01', 2, b, H(2));
    batch.add('2026-03-02', 3, c, H(3));
    const expectedBytes = Buffer.byteLength(line(a, H(1)) + line(b, H(2)) + line(c, H(3)));
    expect(batch.bytes).toBe(expectedBytes);
    const runs = batch.take();
    expect(runs.map(({ day, firstSeq, lastSeq, lines }) => ({ day, firstSeq, lastSeq, lines }))).toEqual([
      { day: '2026-03-01', firstSeq: 1, lastSeq: 2, lines: 2 },
      { day: '2026-03-02', firstSeq: 3, lastSeq: 3, lines: 1 },
    ]);
    expect(text(runs[0]!.chunks)).toBe(line(a, H(1)) + line(b, H(2)));
    expect(text(runs[1]!.chunks)).toBe(line(c, H(3)));
    expect([batch.empty, batch.bytes, batch.take()]).toEqual([true, 0, []]);
  });

  it('never changes bytes already handed out: later lines go after them in the shared chunk', () => {
    const batch = new AuditBatch();
    batch.add('2026-03-01', 1, '{"seq":1}', H(1));
    const [first] = batch.take();
    const before = text(first!.chunks);
    batch.add('2026-03-01', 2, '{"seq":2}', H(2));
    const [second] = batch.take();
    expect(text(first!.chunks)).toBe(before);
    expect(text(second!.chunks)).toBe(line('{"seq":2}', H(2)));
  });

  it('spreads many lines over chunks and takes a line larger than a chunk whole', () => {
    const batch = new AuditBatch();
    let expected = '';
    for (let i = 1; i <= 3000; i++) {
      // Lines of every size up to ~1.5 KB (multi-byte characters included): 256 KiB chunks fill.
      const content = `{"seq":${i},"x":"${'é'.repeat(i % 700)}"}`;
      batch.add('2026-03-01', i, content, H(i));
      expected += line(content, H(i));
    }
    const big = `{"seq":3001,"leases":"${'a'.repeat(600_000)}"}`;
    batch.add('2026-03-01', 3001, big, H(3001));
    expected += line(big, H(3001));
    const runs = batch.take();
    expect(runs).toHaveLength(1);
    expect(runs[0]!.chunks.length).toBeGreaterThan(2);
    expect(runs[0]!.lines).toBe(3001);
    expect(text(runs[0]!.chunks)).toBe(expected);
  });
});

describe('writeChunks', () => {
  it('writes every byte in order through short writes', async () => {
    const written: Buffer[] = [];
    // A file that takes at most 5 bytes per call.
    const handle = {
      writev: async (buffers: Buffer[]) => {
        const all = Buffer.concat(buffers).subarray(0, 5);
        written.push(Buffer.from(all));
        return { bytesWritten: all.length, buffers };
      },
    } as unknown as FileHandle;
    const chunks = [Buffer.from('abc'), Buffer.from('defghij'), Buffer.from(''), Buffer.from('klmnopq')];
    await writeChunks(handle, chunks);
    expect(Buffer.concat(written).toString()).toBe('abcdefghijklmnopq');
    expect(written).toHaveLength(4);
  });

  it('fails rather than loop when nothing is written', async () => {
    const handle = { writev: async () => ({ bytesWritten: 0, buffers: [] }) } as unknown as FileHandle;
    await expect(writeChunks(handle, [Buffer.from('x')])).rejects.toThrow(/wrote 0 bytes/);
  });
});
