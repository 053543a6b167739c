/**
 * Issue 9 §4: fuzzing the bytes a peer can send. The frame decoder, the strict MessagePack reader,
 * request validation and a whole ClientConnection get random bytes, mutated vectors, deep nesting,
 * huge declared lengths and wrong or out-of-range field values. Only LeaseholdErrors with a known
 * code (or a valid message) may come out; nothing else is thrown; the engine does not move
 * (DESIGN §3.7). Over 100,000 cases in npm test, ten times as many under SOAK=1, with a fixed seed
 * (fast-check prints it with any counterexample; FUZZ_SEED=n tries another).
 *
 * "No hang" is the vitest timeout of each property: per-case timings would be flaky on a loaded
 * machine, while a quadratic or unbounded path shows up as a whole property running out of time.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { decodeClientPayload, encodeMessage } from '../../src/protocol/codec.js';
import { ErrorCode, isErrorCode } from '../../src/protocol/codes.js';
import { LeaseholdError } from '../../src/protocol/errors.js';
import { FrameDecoder, frame, HEADER_BYTES, MAX_MAX_FRAME_BYTES } from '../../src/protocol/frame.js';
import { type ClientMessage, parseClientMessage } from '../../src/protocol/messages.js';
import { encodeValue, MAX_DEPTH, type WireMap, type WireValue } from '../../src/protocol/msgpack.js';
import { memoryServer } from '../helpers/memory-server.js';
import {
  checkConversation,
  converse,
  FUZZ_FEATURE,
  helloFrame,
  settle,
  snapshot,
} from './fuzz-connection.js';
import {
  chunk,
  cuts,
  FUZZ_SEED,
  hugeDeclared,
  mutatedStream,
  nearMissRequest,
  nested,
  requestLike,
  runs,
  SOAK,
  validRequest,
} from './fuzz-inputs.js';

const FRAMING_CODES: ReadonlySet<string> = new Set([ErrorCode.FrameEmpty, ErrorCode.FrameTooLarge]);
const PAYLOAD_CODES: ReadonlySet<string> = new Set([
  ErrorCode.MalformedFrame,
  ErrorCode.InvalidRequest,
  ErrorCode.UnknownType,
]);
const REQUEST_CODES: ReadonlySet<string> = new Set([ErrorCode.InvalidRequest, ErrorCode.UnknownType]);

/** The error a call threw, which must be a LeaseholdError with a known code; undefined if none. */
function typedError(fn: () => unknown): LeaseholdError | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (!(err instanceof LeaseholdError) || !isErrorCode(err.code)) throw err;
    return err;
  }
}

/**
 * The server's read path without the socket: frames out of the decoder, each decoded and
 * validated. Checks that framing errors are framing codes with the right details, that payload
 * errors are payload codes, and that the decoder never holds more than one frame's worth.
 */
function readLikeTheServer(chunks: readonly Buffer[], limit: number, tally?: Tally): void {
  const decoder = new FrameDecoder((payload) => {
    const err = typedError(() => decodeClientPayload(payload));
    if (err) expect(PAYLOAD_CODES).toContain(err.code);
    tally?.add(err ? err.code : 'valid message');
  }, limit);
  for (const c of chunks) {
    const err = typedError(() => decoder.push(c));
    if (err) {
      expect(FRAMING_CODES).toContain(err.code);
      if (err.code === ErrorCode.FrameTooLarge) {
        const { length } = err.details as { length: number; limit: number };
        expect(err.details).toEqual({ length, limit });
        expect(length).toBeGreaterThan(limit);
      }
      // The stream is out of sync for good: every later push throws the same error.
      expect(typedError(() => decoder.push(Buffer.from([0])))).toBe(err);
      tally?.add(err.code);
      return;
    }
    // PROTOCOL.md §2.2: nothing is buffered beyond one frame within the limit (or a partial header).
    expect(decoder.pendingBytes).toBeLessThan(Math.max(HEADER_BYTES, limit));
  }
  if (decoder.pendingBytes > 0) tally?.add('waits for more');
}

const limits = fc.constantFrom(1024, 4096, 65_536);

/** What the cases ended as, to show the fuzzing reaches every outcome (not only the first check). */
class Tally {
  readonly #counts = new Map<string, number>();
  add(label: string): void {
    this.#counts.set(label, (this.#counts.get(label) ?? 0) + 1);
  }
  toString(): string {
    return [...this.#counts]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
  }
}

interface Stats {
  name: string;
  cases: number;
  ms: number;
  tally: Tally;
}
const stats: Stats[] = [];

async function check<T>(
  ctx: TestContext,
  name: string,
  property: fc.IProperty<T> | fc.IAsyncProperty<T>,
  numRuns: number,
  tally = new Tally(),
): Promise<void> {
  const started = performance.now();
  await fc.assert(property as fc.IAsyncProperty<T>, { seed: FUZZ_SEED, numRuns });
  const ms = Math.round(performance.now() - started);
  stats.push({ name, cases: numRuns, ms, tally });
  await ctx.annotate(`${numRuns} cases in ${ms} ms (seed ${FUZZ_SEED}): ${tally}`, 'fuzz');
}

afterAll(() => {
  const total = stats.reduce((n, s) => n + s.cases, 0);
  const lines = stats.map((s) => `  ${s.name}: ${s.cases} cases, ${s.ms} ms [${s.tally}]`);
  console.log(`[fuzz] seed ${FUZZ_SEED}${SOAK ? ' (SOAK)' : ''}, ${total} cases\n${lines.join('\n')}`);
});

// Generous: a whole property, not a case. A hang or a quadratic path blows through these.
const SLOW = SOAK ? 600_000 : 60_000;

describe('fuzz: frame decoder and MessagePack reader', () => {
  it(
    'random bytes, in random reads, give messages or typed errors',
    async (ctx) => {
      const input = fc.tuple(fc.uint8Array({ maxLength: 512 }), fc.boolean(), cuts, limits);
      const tally = new Tally();
      await check(
        ctx,
        'decoder: random bytes',
        fc.property(input, ([bytes, framed, cutPoints, limit]) => {
          // Half the cases frame the random bytes properly, so they reach the MessagePack reader.
          const stream = framed && bytes.length > 0 ? frame(bytes) : Buffer.from(bytes);
          readLikeTheServer(chunk(stream, cutPoints), limit, tally);
        }),
        runs(25_000),
        tally,
      );
    },
    SLOW,
  );

  it(
    'mutated vector frames (bit flips, truncations, splices, hostile length prefixes)',
    async (ctx) => {
      const tally = new Tally();
      await check(
        ctx,
        'decoder: mutated vectors',
        fc.property(fc.tuple(mutatedStream, cuts, limits), ([stream, cutPoints, limit]) => {
          readLikeTheServer(chunk(stream, cutPoints), limit, tally);
        }),
        runs(30_000),
        tally,
      );
    },
    SLOW,
  );

  it(
    'nesting up to 1,000,000 deep is refused past depth 16, without recursing that deep',
    async (ctx) => {
      const tally = new Tally();
      await check(
        ctx,
        'reader: deep nesting',
        fc.property(nested, ({ payload, depth }) => {
          tally.add(
            depth > 10_001 ? 'depth 1,000,001' : depth > MAX_DEPTH ? 'depth 17..10,001' : 'depth <= 16',
          );
          const err = typedError(() => decodeClientPayload(payload));
          // The map has no type, so even a legal depth ends as INVALID_REQUEST (field type).
          expect(err?.code).toBe(depth > MAX_DEPTH ? ErrorCode.MalformedFrame : ErrorCode.InvalidRequest);
          // The same through the framing, with the largest limit there is.
          readLikeTheServer([frame(payload)], MAX_MAX_FRAME_BYTES);
        }),
        runs(5_000),
        tally,
      );
    },
    SLOW,
  );

  it(
    'huge declared str/bin/ext/array/map lengths are refused before allocating',
    async (ctx) => {
      const tally = new Tally();
      await check(
        ctx,
        'reader: huge declared lengths',
        fc.property(hugeDeclared, ({ payload, declared, element, left }) => {
          const err = typedError(() => decodeClientPayload(payload));
          if (err) expect(PAYLOAD_CODES).toContain(err.code);
          tally.add(err ? err.code : 'valid message');
          // §3.1 rules 1 and 11: a count or length the rest of the payload cannot hold is malformed.
          if (declared * element > left) expect(err?.code).toBe(ErrorCode.MalformedFrame);
        }),
        runs(10_000),
        tally,
      );
    },
    SLOW,
  );
});

/** Makes a generated value into what the MessagePack reader could have produced. */
function toWire(value: unknown): WireValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return Array.from(value, toWire);
  if (typeof value === 'object') {
    const out = Object.create(null) as WireMap;
    for (const [k, v] of Object.entries(value)) out[k] = toWire(v);
    return out;
  }
  return String(value);
}

/**
 * A plain msgpackr encoder for generated maps: unlike the protocol's encodeValue (which would write
 * 2^64 as an integer and throw), it writes numbers beyond 32 bits as float64, the form §3.2's
 * leniency accepts when integral and in range.
 */
const anyPackr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });
const encodeAny = (map: Record<string, unknown>): Buffer => anyPackr.pack(toWire(map));

/** parseClientMessage either throws INVALID_REQUEST/UNKNOWN_TYPE with details, or returns a message it accepts again. */
function parsesOrRefuses(map: WireMap, tally: Tally): void {
  let message: ClientMessage | undefined;
  const err = typedError(() => {
    message = parseClientMessage(map);
  });
  tally.add(err ? err.code : 'valid request');
  if (err) {
    expect(REQUEST_CODES).toContain(err.code);
    const details = err.details as Record<string, unknown> | undefined;
    if (err.code === ErrorCode.InvalidRequest) expect(typeof details?.field).toBe('string');
    else expect(typeof details?.type).toBe('string');
    return;
  }
  // Accepted: a real request type, nothing invented, and accepted again as it is.
  const accepted = message!;
  expect(accepted.type).toBe(map.type);
  for (const [k, v] of Object.entries(accepted)) expect(toWire(v), k).toEqual(toWire(map[k]));
  expect(parseClientMessage(toWire(accepted) as WireMap)).toEqual(accepted);
}

const requestMaps = fc.oneof(requestLike, nearMissRequest);

describe('fuzz: request validation', () => {
  it(
    'request-shaped maps with wrong types, missing and extra keys, out-of-range values',
    async (ctx) => {
      const tally = new Tally();
      await check(
        ctx,
        'parseClientMessage: request maps',
        fc.property(requestMaps, (map) => {
          // Straight in (values that never come off the wire included: undefined, bigint, -0) …
          typedError(() => parseClientMessage(map as WireMap));
          // … and as the reader would hand them over.
          parsesOrRefuses(toWire(map) as WireMap, tally);
        }),
        runs(20_000),
        tally,
      );
    },
    SLOW,
  );

  it(
    'the same maps encoded and read back through decodeClientPayload',
    async (ctx) => {
      const tally = new Tally();
      await check(
        ctx,
        'decodeClientPayload: encoded request maps',
        fc.property(requestMaps, (map) => {
          const err = typedError(() => decodeClientPayload(encodeAny(map)));
          if (err) expect(PAYLOAD_CODES).toContain(err.code);
          tally.add(err ? err.code : 'valid request');
        }),
        runs(10_000),
        tally,
      );
    },
    SLOW,
  );

  it(
    'valid requests with unusual values (edges, UTF-8, long lists) are accepted exactly as sent',
    async (ctx) => {
      const tally = new Tally();
      await check(
        ctx,
        'parseClientMessage: valid requests',
        fc.property(validRequest, (request) => {
          tally.add(String(request.type));
          expect(parseClientMessage(toWire(request) as WireMap)).toEqual(request);
          // And through the protocol's own encoder and the strict reader.
          expect(decodeClientPayload(encodeValue(request as WireMap))).toEqual(request);
        }),
        runs(10_000),
        tally,
      );
    },
    SLOW,
  );
});

describe('fuzz: a ClientConnection over an in-memory pipe', () => {
  const escaped: unknown[] = [];
  const onUncaught = (err: unknown) => escaped.push(err);
  beforeAll(() => {
    process.on('uncaughtException', onUncaught);
  });
  afterAll(() => {
    process.off('uncaughtException', onUncaught);
  });

  it(
    'random and mutated frames get typed errors or close; the engine does not change',
    async (ctx) => {
      // An hour of ttl: nothing expires while the property runs, so any change is the input's doing.
      const server = memoryServer([{ name: FUZZ_FEATURE, seats: 3, model: 'concurrent' }], {
        leaseTtlMs: 3_600_000,
        heartbeatIntervalMs: 1_000_000,
      });
      const { engine } = server;
      // Another session holds a lease: the fuzzed connection must not be able to touch it.
      const holder = engine.openSession({ user: 'holder', host: 'h1', clientName: 'fuzz', peer: 'x' });
      engine.checkout(holder.sessionId, { feature: FUZZ_FEATURE, count: 2 });
      const requestFrames = fc
        .array(requestMaps, { minLength: 1, maxLength: 4 })
        .map((maps) => Buffer.concat(maps.map((m) => frame(encodeAny(m)))));
      // Valid requests reach the handlers; some streams end with a mutated one.
      const validFrames = fc
        .tuple(fc.array(validRequest, { minLength: 1, maxLength: 6 }), fc.option(mutatedStream))
        .map(([requests, tail]) =>
          Buffer.concat([...requests.map((r) => frame(encodeValue(r as WireMap))), tail ?? Buffer.alloc(0)]),
        );
      const input = fc.tuple(
        fc.oneof(
          mutatedStream,
          requestFrames,
          validFrames,
          fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
        ),
        // Most cases fuzz after a valid hello; some fuzz the handshake itself.
        fc.nat({ max: 4 }).map((n) => n > 0),
        cuts,
        fc.constantFrom(1024, 65_536),
      );
      let stateChanging = 0;
      const tally = new Tally();
      await check(
        ctx,
        'ClientConnection: frames after hello',
        fc.asyncProperty(input, async ([bytes, withHello, cutPoints, limit]) => {
          const ctxFor = { ...server.ctx, limits: { ...server.ctx.limits, maxFrameBytes: limit } };
          const conv = converse(ctxFor);
          const sessions: string[] = [];
          try {
            if (withHello) {
              conv.client.write(helloFrame());
              await settle();
              const ok = conv.received.shift();
              expect(ok?.type).toBe('hello_ok');
              if (ok?.type === 'hello_ok') sessions.push(ok.session);
            }
            const before = snapshot(engine);
            const chunks = chunk(bytes, cutPoints);
            for (const c of chunks) conv.client.write(c);
            await settle();
            const outcome = checkConversation(chunks, limit, withHello ? 'open' : 'handshake', conv.received);
            if (outcome.closes && !conv.closed()) {
              await Promise.race([conv.whenClosed, new Promise((r) => setTimeout(r, 2000))]);
            }
            expect(conv.closed(), 'closed as the protocol says').toBe(outcome.closes);
            expect(conv.invalidFromServer, 'every server frame passes the SDK checks').toEqual([]);
            expect(escaped, 'no exception escaped the connection').toEqual([]);
            sessions.push(...outcome.opened);
            tally.add(outcome.closes ? 'closed' : outcome.inSync ? 'open, in step' : 'open, mid-frame');
            for (const m of conv.received) tally.add(m.type === 'error' ? m.code : m.type);
            if (outcome.inSync) {
              // Still in step: a request now is read as a whole frame and answered.
              const seen = conv.received.length;
              conv.client.write(encodeMessage({ type: 'status', id: 4_000_000_000 }));
              await settle();
              expect(conv.received.slice(seen).map((m) => m.type)).toEqual([
                sessions.length > 0 ? 'status_ok' : 'error',
              ]);
            }
            // No state change: leases, seats, queue, fencing, blocks, users are as they were; sessions
            // differ only by those the model saw opened by a valid hello or ended by a valid bye.
            const after = snapshot(engine);
            const ended = outcome.ended ? sessions.at(-1) : undefined;
            const expectedSessions = [...new Set([...before.sessions, ...outcome.opened])]
              .filter((s) => s !== ended)
              .sort();
            if (outcome.mayChangeState) stateChanging++;
            else expect(after).toEqual({ ...before, sessions: expectedSessions });
            expect(after.sessions).toEqual(expectedSessions);
          } finally {
            conv.client.destroy();
            for (const s of sessions) if (engine.session(s)) engine.endSession(s);
          }
        }),
        runs(8_000),
        tally,
      );
      server.stop();
      // No generated input should name the configured feature; if one ever does, say so.
      expect(stateChanging).toBe(0);
      expect(engine.listLeases().map((l) => l.sessionId)).toEqual([holder.sessionId]);
    },
    SLOW,
  );
});
