import { describe, expect, it } from 'vitest';
import { LeaseholdError } from '../../src/protocol/errors.js';
import { FrameDecoder, frame } from '../../src/protocol/frame.js';
import { CHUNKINGS, chunkings } from '../helpers/chunking.js';
import { framingVectors } from '../helpers/vectors.js';

function run(chunks: Buffer[], max?: number): { frames: string[]; error?: string } {
  const frames: string[] = [];
  const decoder = new FrameDecoder((p) => frames.push(Buffer.from(p).toString('hex')), max);
  try {
    for (const c of chunks) decoder.push(c);
  } catch (err) {
    if (!(err instanceof LeaseholdError)) throw err;
    return { frames, error: err.code };
  }
  return { frames };
}

describe('FrameDecoder against protocol/vectors/framing.json', () => {
  for (const how of CHUNKINGS) {
    describe(how, () => {
      for (const v of framingVectors) {
        it(v.name, () => {
          for (const chunks of chunkings(Buffer.from(v.hex, 'hex'), how)) {
            const got = run(chunks, v.max_frame_bytes);
            expect(got.frames).toEqual(v.frames ?? []);
            expect(got.error).toBe(v.error);
          }
        });
      }
    });
  }
});

describe('FrameDecoder', () => {
  it('refuses an oversize length before the payload arrives and buffers none of it', () => {
    const decoder = new FrameDecoder(() => {}, 1024);
    expect(() => decoder.push(Buffer.from('00100000', 'hex'))).toThrow(/over the limit of 1024/);
    expect(decoder.pendingBytes).toBe(0);
  });

  it('stays failed after a framing error', () => {
    const decoder = new FrameDecoder(() => {});
    expect(() => decoder.push(Buffer.from('00000000', 'hex'))).toThrow(LeaseholdError);
    expect(() => decoder.push(frame(Buffer.from([0x80])))).toThrow(/length is 0/);
  });

  it('delivers frames in order across many pushes and holds only the incomplete tail', () => {
    const payloads = Array.from({ length: 50 }, (_, i) => Buffer.alloc(i + 1, i));
    const stream = Buffer.concat(payloads.map((p) => frame(p)));
    const got: Buffer[] = [];
    const decoder = new FrameDecoder((p) => got.push(Buffer.from(p)));
    for (let i = 0; i < stream.length; i += 7) decoder.push(stream.subarray(i, i + 7));
    expect(got).toEqual(payloads);
    expect(decoder.pendingBytes).toBe(0);
  });

  it('handles a frame as large as the limit', () => {
    const payload = Buffer.alloc(1024, 7);
    const got: Buffer[] = [];
    const decoder = new FrameDecoder((p) => got.push(Buffer.from(p)), 1024);
    decoder.push(frame(payload));
    expect(got).toEqual([payload]);
  });
});
