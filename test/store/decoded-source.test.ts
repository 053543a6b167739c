/**
 * After recovery nothing keeps the snapshot file's bytes alive (issue 8: msgpackr held a DataView
 * over the last buffer it decoded, the whole snapshot, ~64 B per lease at a million). Measured in a
 * child process with --expose-gc, on the built store (npm test builds first).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const STORE = fileURLToPath(new URL('../../dist/store/index.js', import.meta.url));

const SCRIPT = `
const { recover, writeSnapshot } = await import(process.argv[1]);
const dir = process.argv[2];
const state = { ids: Array.from({ length: 200000 }, (_, i) => 'lease-' + String(i).padStart(10, '0')) };
const file = await writeSnapshot(dir, 1, state);
const size = (await import('node:fs')).statSync(file).size;
const settle = () => { for (let i = 0; i < 3; i++) globalThis.gc(); };
settle();
const before = process.memoryUsage().arrayBuffers;
const result = await recover(dir);
const ids = result.snapshot.state.ids;
settle();
const after = process.memoryUsage().arrayBuffers;
console.log(JSON.stringify({ size, held: after - before, ids: ids.length }));
`;

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('recovery and the decoded snapshot', () => {
  it('keeps none of the snapshot file in memory once the state is decoded', () => {
    dir = mkdtempSync(join(tmpdir(), 'leasehold-decoded-'));
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '--input-type=module', '-e', SCRIPT, STORE, dir],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const { size, held, ids } = JSON.parse(out.trim().split('\n').at(-1)!) as {
      size: number;
      held: number;
      ids: number;
    };
    expect(ids).toBe(200_000);
    expect(size).toBeGreaterThan(2_000_000);
    // The decoded strings live on the V8 heap, not in ArrayBuffers: what is left is noise.
    expect(held).toBeLessThan(size / 4);
  });
});
