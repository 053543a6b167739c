import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeColumnar } from '../../src/store/columns.js';
import { crc32 } from '../../src/store/crc32.js';
import { SnapshotCorruptError } from '../../src/store/errors.js';
import { packPayload } from '../../src/store/record-codec.js';
import {
  listSnapshots,
  readNewestSnapshot,
  SNAPSHOT_HEADER_BYTES,
  writeSnapshot,
} from '../../src/store/snapshot.js';
import { filesIn, snapshotFile, snapshotName, tempStateDir, writeVersion1Snapshot } from './fixtures.js';

function state(n: number): object {
  return {
    fencing: 1000 + n,
    leases: Array.from({ length: n }, (_, i) => ({ id: `L${i}`, user: 'ada', count: 1 })),
  };
}

function flipByte(path: string, at: number): void {
  const data = readFileSync(path);
  data[at]! ^= 0x01;
  writeFileSync(path, data);
}

describe('snapshots', () => {
  it('writes snapshot-<seq>.snap with the documented header and reads it back', async () => {
    const dir = tempStateDir();
    const file = await writeSnapshot(dir, 2 ** 33 + 1, state(3));
    expect(file).toBe(join(dir, snapshotName(2 ** 33 + 1)));
    const data = readFileSync(file);
    const payload = data.subarray(SNAPSHOT_HEADER_BYTES);
    expect(data.subarray(0, 8).toString('ascii')).toBe('LHSNAP01');
    expect(data.readUInt16BE(8)).toBe(2);
    expect(data.readBigUInt64BE(10)).toBe(2n ** 33n + 1n);
    expect(data.readUInt32BE(18)).toBe(payload.length);
    expect(data.readUInt32BE(22)).toBe(crc32(payload));
    expect(decodeColumnar(payload)).toEqual(state(3));
    expect(await readNewestSnapshot(dir)).toEqual({ seq: 2 ** 33 + 1, state: state(3), file, warnings: [] });
  });

  it('stores long arrays as columns and gives back plain arrays', async () => {
    const dir = tempStateDir();
    const rows = 5000;
    const big = {
      ids: Array.from({ length: rows }, (_, i) => `lease-${i.toString(16).padStart(8, '0')}`),
      counts: Array.from({ length: rows }, (_, i) => i % 7),
      fencing: Array.from({ length: rows }, (_, i) => 2 ** 40 + i),
      ageMs: Array.from({ length: rows }, (_, i) => i / 3),
      keys: Array.from({ length: rows }, (_, i) => (i % 2 ? `clé-${i}` : null)),
    };
    const file = await writeSnapshot(dir, 9, big);
    const loaded = await readNewestSnapshot(dir);
    expect(loaded?.state).toEqual(big);
    for (const values of Object.values(loaded?.state as object)) expect(Array.isArray(values)).toBe(true);
    // Smaller than MessagePack of the same state (which writes every double in 9 bytes).
    expect(readFileSync(file).length).toBeLessThan(packPayload(big).length);
  });

  it('reads a version 1 snapshot (one MessagePack document) written by an earlier build', async () => {
    const dir = tempStateDir();
    const file = writeVersion1Snapshot(dir, 20, state(70));
    expect(await readNewestSnapshot(dir)).toEqual({ seq: 20, state: state(70), file, warnings: [] });
  });

  it('reports a version 1 snapshot whose payload is not MessagePack as corrupt, and falls back', async () => {
    const dir = tempStateDir();
    await writeSnapshot(dir, 10, state(1));
    const newest = join(dir, snapshotName(20));
    writeFileSync(newest, snapshotFile(20, Buffer.from([0x92, 0x01])));
    const loaded = await readNewestSnapshot(dir);
    expect(loaded?.seq).toBe(10);
    expect(loaded?.warnings[0]).toMatch(/the payload is not valid MessagePack/);
  });

  it('reports a version 2 snapshot with a sound checksum but a malformed payload as corrupt, and falls back', async () => {
    const dir = tempStateDir();
    writeVersion1Snapshot(dir, 10, state(1));
    const newest = join(dir, snapshotName(20));
    // A payload whose data offset points past its end, checksummed correctly.
    const payload = Buffer.alloc(16);
    payload.writeUInt32BE(0, 0);
    payload.writeUInt32BE(1000, 4);
    writeFileSync(newest, snapshotFile(20, payload, 2));
    const loaded = await readNewestSnapshot(dir);
    expect(loaded?.seq).toBe(10);
    expect(loaded?.state).toEqual(state(1));
    expect(loaded?.warnings[0]).toContain(newest);
    expect(loaded?.warnings[0]).toMatch(/the payload is not a valid columnar payload \(.*do not fit/);
  });

  it('returns undefined for a directory without snapshots', async () => {
    const dir = tempStateDir();
    expect(await readNewestSnapshot(dir)).toBeUndefined();
    expect(await readNewestSnapshot(join(dir, 'missing'))).toBeUndefined();
  });

  it('ignores a .tmp left by an interrupted write, and the next write removes it', async () => {
    const dir = tempStateDir();
    await writeSnapshot(dir, 5, state(1));
    writeFileSync(join(dir, 'snapshot-00000000000000000009.tmp'), 'half a snapshot');
    expect((await readNewestSnapshot(dir))?.seq).toBe(5);
    await writeSnapshot(dir, 12, state(2));
    expect(filesIn(dir)).toEqual([snapshotName(5), snapshotName(12)]);
  });

  it('encodes the state when called: changes made while the write is under way are not in it', async () => {
    const dir = tempStateDir();
    const live = { counter: 1 };
    const writing = writeSnapshot(dir, 1, live);
    live.counter = 2;
    await writing;
    expect((await readNewestSnapshot(dir))?.state).toEqual({ counter: 1 });
  });

  it('keeps the two newest snapshots and deletes older ones after a successful write', async () => {
    const dir = tempStateDir();
    for (const seq of [10, 20, 30, 40]) await writeSnapshot(dir, seq, state(seq / 10));
    expect(filesIn(dir)).toEqual([snapshotName(30), snapshotName(40)]);
    expect((await listSnapshots(dir)).map((s) => s.seq)).toEqual([40, 30]);
  });

  it('does not count a snapshot with a broken header among the two it keeps', async () => {
    const dir = tempStateDir();
    for (const seq of [10, 20]) await writeSnapshot(dir, seq, state(2));
    truncateSync(join(dir, snapshotName(20)), 100);
    await writeSnapshot(dir, 30, state(3));
    expect(filesIn(dir)).toEqual([snapshotName(10), snapshotName(30)]);
  });

  it('falls back to the older snapshot when the newest is corrupt, with a warning', async () => {
    const dir = tempStateDir();
    await writeSnapshot(dir, 10, state(1));
    const newest = await writeSnapshot(dir, 20, state(2));
    flipByte(newest, SNAPSHOT_HEADER_BYTES + 5);
    const loaded = await readNewestSnapshot(dir);
    expect(loaded?.seq).toBe(10);
    expect(loaded?.state).toEqual(state(1));
    expect(loaded?.warnings).toHaveLength(1);
    expect(loaded?.warnings[0]).toContain(newest);
    expect(loaded?.warnings[0]).toMatch(/payload checksum mismatch.*Fell back to an older snapshot/);
  });

  it.each([
    ['bad magic', 0, /bad magic/],
    [
      'an unknown format version',
      8,
      /format version 258 is not supported \(this build reads versions 1 and 2\)/,
    ],
    ['a seq that is not the one in the name', 17, /the header says seq 21 but the file name says 20/],
    ['a wrong payload length', 21, /announces \d+ payload bytes but the file holds \d+/],
  ])('rejects a snapshot with %s', async (_name, byte, reason) => {
    const dir = tempStateDir();
    const file = await writeSnapshot(dir, 20, state(2));
    flipByte(file, byte);
    const err = await readNewestSnapshot(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapshotCorruptError);
    expect((err as SnapshotCorruptError).file).toBe(file);
    expect((err as SnapshotCorruptError).message).toMatch(reason);
  });

  it('throws rather than reporting "no snapshot" when every snapshot is unusable', async () => {
    const dir = tempStateDir();
    const older = await writeSnapshot(dir, 10, state(1));
    const newer = await writeSnapshot(dir, 20, state(2));
    truncateSync(older, 10);
    flipByte(newer, SNAPSHOT_HEADER_BYTES);
    const err = await readNewestSnapshot(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapshotCorruptError);
    expect((err as Error).message).toContain(newer);
    expect((err as Error).message).toMatch(
      /no older snapshot is usable either \(.*snapshot-0+10\.snap: the file is 10 bytes/,
    );
  });

  it('makes the snapshot visible only once waitFor resolves, and abandons it if waitFor rejects', async () => {
    const dir = tempStateDir();
    let release!: () => void;
    const journalDurable = new Promise<void>((resolve) => {
      release = resolve;
    });
    const writing = writeSnapshot(dir, 7, state(1), { waitFor: journalDurable });
    for (let i = 0; i < 20 && !filesIn(dir).some((f) => f.endsWith('.tmp')); i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(filesIn(dir)).toEqual(['snapshot-00000000000000000007.tmp']);
    release();
    await writing;
    expect(filesIn(dir)).toEqual([snapshotName(7)]);

    const failed = writeSnapshot(dir, 8, state(2), { waitFor: Promise.reject(new Error('journal failed')) });
    await expect(failed).rejects.toThrow('journal failed');
    expect(filesIn(dir)).toEqual([snapshotName(7)]);
  });

  it('refuses an invalid seq', async () => {
    const dir = tempStateDir();
    await expect(writeSnapshot(dir, -1, {})).rejects.toThrow(RangeError);
    await expect(writeSnapshot(dir, 1.5, {})).rejects.toThrow(RangeError);
  });
});
