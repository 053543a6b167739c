import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeClientPayload, decodeServerPayload, encodeMessage } from '../../src/protocol/codec.js';
import { ErrorCode } from '../../src/protocol/codes.js';
import { LeaseholdError } from '../../src/protocol/errors.js';
import { FrameDecoder } from '../../src/protocol/frame.js';
import type { ClientMessage, ServerMessage } from '../../src/protocol/messages.js';
import { decodeMap, encodeValue, type WireMap } from '../../src/protocol/msgpack.js';
import { hasControlCharacters } from '../../src/protocol/schema.js';

const id = fc.integer({ min: 1, max: 0xffffffff });
const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const feature = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,20}$/);
const name = fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !hasControlCharacters(s));
const safe = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const ms = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

const clientMessage: fc.Arbitrary<ClientMessage> = fc.oneof(
  fc.record(
    {
      type: fc.constant('hello' as const),
      id,
      versions: fc.array(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 16 }),
      client_name: name,
      client_version: fc.string({ maxLength: 10 }).filter((s) => !hasControlCharacters(s)),
      user: name,
      host: name,
      display: name,
      token: fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !hasControlCharacters(s)),
      resume: fc.record({ session: hex(32), token: hex(64) }),
    },
    { requiredKeys: ['type', 'id', 'versions', 'client_name', 'user', 'host'] },
  ),
  fc.record(
    {
      type: fc.constant('checkout' as const),
      id,
      feature,
      count: fc.integer({ min: 1, max: 65535 }),
      key: fc.stringMatching(/^[\x21-\x7e]{1,40}$/),
    },
    { requiredKeys: ['type', 'id', 'feature'] },
  ),
  fc.record(
    {
      type: fc.constant('heartbeat' as const),
      id,
      leases: fc.array(
        fc.record({ lease: hex(32), fencing: safe, idle_ms: ms }, { requiredKeys: ['lease', 'fencing'] }),
        { maxLength: 20 },
      ),
    },
    { requiredKeys: ['type', 'id'] },
  ),
  fc.record({ type: fc.constant('checkin' as const), id, lease: hex(32), fencing: safe }),
  fc.record({ type: fc.constant('status' as const), id, feature }, { requiredKeys: ['type', 'id'] }),
  fc.record(
    { type: fc.constant('leases' as const), id, feature, user: name, host: name },
    { requiredKeys: ['type', 'id'] },
  ),
  fc.record({ type: fc.constant('bye' as const), id }),
);

const serverMessage: fc.Arbitrary<ServerMessage> = fc.oneof(
  fc.record({
    type: fc.constant('checkout_ok' as const),
    id,
    lease: hex(32),
    feature,
    count: safe,
    fencing: safe,
    ttl_ms: safe,
  }),
  fc.record({
    type: fc.constant('heartbeat_ok' as const),
    id,
    ttl_ms: safe,
    lost: fc.array(fc.record({ lease: hex(32), code: fc.constantFrom(...Object.values(ErrorCode)) })),
  }),
  fc.record({ type: fc.constant('checkin_ok' as const), id, released: fc.boolean() }),
  fc.record({ type: fc.constant('bye_ok' as const), id, released: ms }),
  fc.record(
    {
      type: fc.constant('error' as const),
      id,
      code: fc.constantFrom(...Object.values(ErrorCode)),
      message: fc.string({ maxLength: 100 }),
    },
    { requiredKeys: ['type', 'code', 'message'] },
  ),
  fc.record({
    type: fc.constant('revoked' as const),
    lease: hex(32),
    feature,
    code: fc.constantFrom('LEASE_EXPIRED', 'LEASE_REVOKED'),
    reason: fc.constantFrom('expired', 'idle', 'admin'),
    message: fc.string({ maxLength: 100 }),
  }),
  fc.record({ type: fc.constant('draining' as const), message: fc.string(), grace_ms: ms }),
);

function expectOnlyTypedErrors(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LeaseholdError);
  }
}

describe('codec properties', () => {
  it('client messages round-trip through encode → frame decoder → parse', () => {
    fc.assert(
      fc.property(clientMessage, (msg) => {
        const out: unknown[] = [];
        new FrameDecoder((p) => out.push(decodeClientPayload(p))).push(encodeMessage(msg));
        expect(out).toEqual([msg]);
      }),
      { numRuns: 2000 },
    );
  });

  it('server messages round-trip', () => {
    fc.assert(
      fc.property(serverMessage, (msg) => {
        const frameBytes = encodeMessage(msg);
        expect(decodeServerPayload(frameBytes.subarray(4))).toEqual(msg);
      }),
      { numRuns: 2000 },
    );
  });

  it('random bytes fed to the frame decoder and parser give only typed errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expectOnlyTypedErrors(() => {
          new FrameDecoder((p) => decodeClientPayload(p), 4096).push(Buffer.from(bytes));
        });
      }),
      { numRuns: 5000 },
    );
  });

  it('random payloads give only typed errors from the MessagePack reader and the parser', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (bytes) => {
        expectOnlyTypedErrors(() => decodeClientPayload(bytes));
      }),
      { numRuns: 5000 },
    );
  });

  it('mutated valid frames give a message or a typed error', () => {
    const base = fc.tuple(
      clientMessage,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    );
    fc.assert(
      fc.property(base, ([msg, flips]) => {
        const payload = Buffer.from(encodeMessage(msg).subarray(4));
        for (const [at, byte] of flips) payload[at % payload.length] = byte;
        expectOnlyTypedErrors(() => decodeClientPayload(payload));
      }),
      { numRuns: 5000 },
    );
  });

  it('any JSON-like map the reader accepts re-encodes to the same value', () => {
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small', maxDepth: 4 },
        fc.constant(null),
        fc.boolean(),
        fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
        fc.string(),
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(fc.stringMatching(/^[a-z_]{1,8}$/), tie('v'), { maxKeys: 4 }),
      ),
    }));
    fc.assert(
      fc.property(fc.dictionary(fc.stringMatching(/^[a-z_]{1,8}$/), value.v, { maxKeys: 5 }), (map) => {
        expect({ ...decodeMap(encodeValue(map as WireMap)) }).toEqual(map);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('encodeMessage', () => {
  it('gives frames that stay intact while later messages are encoded', () => {
    // Frames are views of the encoder's working buffer behind room for the header: each must keep
    // its bytes however many are encoded after it (outboxes hold them until the journal is durable).
    fc.assert(
      fc.property(fc.array(serverMessage, { minLength: 1, maxLength: 300 }), (messages) => {
        const frames = messages.map((m) => encodeMessage(m));
        const decoded: ServerMessage[] = [];
        const decoder = new FrameDecoder((p) => decoded.push(decodeServerPayload(p)), 16 * 1024 * 1024);
        for (const f of frames) decoder.push(f);
        expect(decoded).toEqual(messages);
      }),
      { numRuns: 50 },
    );
  });

  it('writes integers beyond 32 bits as msgpack integers and leaves out undefined members', () => {
    const checks: [number, string][] = [
      [2 ** 32, 'd30000000100000000'],
      [Number.MAX_SAFE_INTEGER, 'd3001fffffffffffff'],
      [-(2 ** 31) - 1, 'd3ffffffff7fffffff'],
      [0xffffffff, 'ceffffffff'],
      [1.5, 'cb3ff8000000000000'],
    ];
    for (const [n, hex] of checks) {
      const plain = encodeMessage({
        type: 'checkin_ok',
        id: 1,
        released: true,
        n,
      } as unknown as ServerMessage);
      const nested = encodeMessage({
        type: 'heartbeat_ok',
        id: 1,
        ttl_ms: 5,
        lost: [{ lease: 'x', code: 'y', n, gone: undefined }],
      } as unknown as ServerMessage);
      expect(plain.toString('hex').endsWith(`a16e${hex}`)).toBe(true);
      expect(plain.readUInt32BE(0)).toBe(plain.length - 4);
      expect(nested.toString('hex')).toContain(`a16e${hex}`);
      expect(nested.toString('hex')).not.toContain(Buffer.from('gone').toString('hex'));
      expect(decodeMap(nested.subarray(4))).toEqual({
        type: 'heartbeat_ok',
        id: 1,
        ttl_ms: 5,
        lost: [{ lease: 'x', code: 'y', n }],
      });
    }
  });
});

describe('decodeMap', () => {
  it('reads every key from the bytes given, whatever maps were decoded before', () => {
    // The reader keeps the keys it has seen: a buffer reused for other bytes, and keys of the
    // same length and ends, must still decode as what they are.
    const buf = Buffer.from(encodeValue({ abc: 1, xyz: 2 }));
    expect({ ...decodeMap(buf) }).toEqual({ abc: 1, xyz: 2 });
    buf.write('xQz', buf.indexOf('xyz'));
    expect({ ...decodeMap(buf) }).toEqual({ abc: 1, xQz: 2 });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-c]{0,3}$/), { minLength: 1, maxLength: 6 }),
        (keys) => {
          const map = Object.fromEntries(keys.map((k, i) => [k, i]));
          expect({ ...decodeMap(encodeValue(map)) }).toEqual(map);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
