import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeClientPayload, decodeServerPayload, encodeMessage } from '../../src/protocol/codec.js';
import { ErrorCode } from '../../src/protocol/codes.js';
import { LeaseholdError } from '../../src/protocol/errors.js';
import { FrameDecoder } from '../../src/protocol/frame.js';
import type { Message } from '../../src/protocol/messages.js';
import { CHUNKINGS, chunkings } from '../helpers/chunking.js';
import { clientVectors, invalidVectors, serverVectors } from '../helpers/vectors.js';

/** Feeds a frame through the decoder and the message parser, the way the server reads a socket. */
function decodeAll(chunks: Buffer[], parse: (p: Uint8Array) => unknown): unknown[] {
  const out: unknown[] = [];
  const decoder = new FrameDecoder((payload) => out.push(parse(payload)));
  for (const chunk of chunks) decoder.push(chunk);
  return out;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof LeaseholdError) return err.code;
    throw err;
  }
  return undefined;
}

const reference = new Unpackr({ useRecords: false, int64AsType: 'number' });

const valid = [
  ['client', clientVectors, decodeClientPayload],
  ['server', serverVectors, decodeServerPayload],
] as const;

for (const [side, vectors, parse] of valid) {
  describe(`${side} vectors`, () => {
    it('cover every message type of that side', () => {
      const types = new Set(vectors.map((v) => v.message.type));
      const expected =
        side === 'client'
          ? ['hello', 'checkout', 'heartbeat', 'checkin', 'status', 'leases', 'bye', 'queue', 'queue_cancel']
          : [
              'hello_ok',
              'checkout_ok',
              'heartbeat_ok',
              'checkin_ok',
              'status_ok',
              'leases_ok',
              'bye_ok',
              'checkout_queued',
              'queue_ok',
              'queue_cancel_ok',
            ];
      const pushes = ['error', 'revoked', 'draining', 'queue_position', 'queue_granted', 'queue_ended'];
      for (const t of [...expected, ...(side === 'server' ? pushes : [])]) {
        expect(types).toContain(t);
      }
    });

    for (const v of vectors) {
      it(`${v.name}: encodes to the vector's bytes`, () => {
        expect(encodeMessage(v.message as unknown as Message).toString('hex')).toBe(v.hex);
      });
      it(`${v.name}: decodes to the vector's meaning, however the bytes arrive`, () => {
        for (const how of CHUNKINGS) {
          for (const chunks of chunkings(Buffer.from(v.hex, 'hex'), how)) {
            expect(decodeAll(chunks, parse)).toEqual([v.message]);
          }
        }
      });
      it(`${v.name}: is plain MessagePack that another library reads the same`, () => {
        expect(reference.unpack(Buffer.from(v.hex, 'hex').subarray(4))).toEqual(v.message);
      });
    }
  });
}

describe('invalid vectors', () => {
  it('each kind of error is represented', () => {
    const codes = new Set(invalidVectors.map((v) => v.error));
    expect(codes).toEqual(
      new Set([ErrorCode.MalformedFrame, ErrorCode.InvalidRequest, ErrorCode.UnknownType]),
    );
  });
  for (const v of invalidVectors) {
    it(`${v.name}: ${v.error}${v.field ? ` (${v.field})` : ''}`, () => {
      for (const how of CHUNKINGS) {
        for (const chunks of chunkings(Buffer.from(v.hex, 'hex'), how)) {
          let field: unknown;
          const code = codeOf(() => {
            try {
              decodeAll(chunks, decodeClientPayload);
            } catch (err) {
              if (err instanceof LeaseholdError) field = err.details?.field;
              throw err;
            }
          });
          expect(code).toBe(v.error);
          if (v.field) expect(field).toBe(v.field);
        }
      }
    });
  }
});
