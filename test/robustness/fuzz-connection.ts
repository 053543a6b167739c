/**
 * Connection-level fuzzing (issue 9 §4c): bytes through a real ClientConnection over an in-memory
 * pipe, checked against a model of what PROTOCOL.md §2.3, §4, §5 and §7.8 say the server does
 * with each frame, and an engine snapshot that must not move.
 */
import { expect } from 'vitest';
import type { LeaseEngine } from '../../src/engine/engine.js';
import { decodeServerPayload, encodeMessage } from '../../src/protocol/codec.js';
import { CONNECTION_FATAL, ErrorCode, isErrorCode } from '../../src/protocol/codes.js';
import { LeaseholdError } from '../../src/protocol/errors.js';
import { FrameDecoder, HEADER_BYTES, MAX_MAX_FRAME_BYTES } from '../../src/protocol/frame.js';
import {
  type ClientMessage,
  parseClientMessage,
  peekRequestId,
  REPLY_TYPE,
  type ServerMessage,
} from '../../src/protocol/messages.js';
import { decodeMap, type WireMap } from '../../src/protocol/msgpack.js';
import { ClientConnection } from '../../src/server/connection.js';
import type { ServerContext } from '../../src/server/context.js';
import { duplexPair, type PipeEnd } from '../helpers/memory-pipe.js';

/** The only feature of the fuzzed server: no vector names it, so no mutated checkout can take it. */
export const FUZZ_FEATURE = 'fz-only';

/** What of the engine must stay the same (time-based fields of other sessions included). */
export function snapshot(engine: LeaseEngine) {
  return {
    fencing: engine.fencing,
    leaseCount: engine.leaseCount,
    leases: engine.listLeases().sort((a, b) => a.id.localeCompare(b.id)),
    features: engine.featureStatus(undefined, { leases: false }).map((f) => ({
      name: f.name,
      seats: f.seats,
      inUse: f.inUse,
      free: f.free,
      queued: f.queued,
      overdraft: f.overdraft,
    })),
    queue: engine.queueStatus(),
    sessions: [...engine.exportState().sessions.ids].sort(),
    blocks: engine.listBlocks(),
    users: engine.listUsers(),
  };
}

export interface Conversation {
  readonly received: ServerMessage[];
  /** Frames from the server that its own SDK would refuse: must stay empty. */
  readonly invalidFromServer: unknown[];
  readonly closed: () => boolean;
  readonly whenClosed: Promise<void>;
  readonly client: PipeEnd;
  readonly server: PipeEnd;
}

/** One ClientConnection on a fresh in-memory pipe; the client end decodes with the SDK's rules. */
export function converse(ctx: ServerContext): Conversation {
  const [client, server] = duplexPair();
  const received: ServerMessage[] = [];
  const invalidFromServer: unknown[] = [];
  const decoder = new FrameDecoder((payload) => {
    try {
      received.push(decodeServerPayload(payload));
    } catch (err) {
      invalidFromServer.push(err);
    }
  }, MAX_MAX_FRAME_BYTES);
  let closed = false;
  const whenClosed = new Promise<void>((resolve) => {
    const done = () => {
      closed = true;
      resolve();
    };
    client.on('end', done);
    client.on('close', done);
  });
  client.on('data', (chunk: Buffer) => decoder.push(chunk));
  client.on('error', () => {});
  new ClientConnection(server, 'fuzz:1', ctx);
  return { received, invalidFromServer, closed: () => closed, whenClosed, client, server };
}

/** Lets the pipes deliver: everything in a memory pipe and ALWAYS_DURABLE is done within a few turns. */
export async function settle(turns = 4): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

export function helloFrame(): Buffer {
  return encodeMessage({
    type: 'hello',
    id: 1,
    versions: [1],
    client_name: 'fuzz',
    user: 'fuzz',
    host: 'fz',
  });
}

export interface ModelOutcome {
  /** Sessions opened by valid hellos of the fuzzed bytes (from their hello_ok). */
  opened: string[];
  /** A valid bye was answered: the connection's session ended. */
  ended: boolean;
  /** The connection must be closed now. */
  closes: boolean;
  /** Still open with no partial frame pending: a request sent now is read as a whole frame. */
  inSync: boolean;
  /** A valid request that may legitimately change state (a checkout of the configured feature). */
  mayChangeState: boolean;
  /** How many frames the model read. */
  frames: number;
}

function typed(err: unknown): LeaseholdError {
  if (err instanceof LeaseholdError && isErrorCode(err.code)) return err;
  throw err;
}

function isFatal(code: string): boolean {
  return isErrorCode(code) && CONNECTION_FATAL.has(code);
}

function idOf(m: ServerMessage): number | undefined {
  return 'id' in m ? m.id : undefined;
}

/**
 * Walks the frames of `chunks` as the server must (state `start`), matching each expectation
 * against `received` in order (the v1 server answers in order, and this session holds nothing
 * that could be pushed). Throws (an assertion) on any difference; the caller checks `closes`
 * against the pipe, since a close takes a few more turns to arrive.
 */
export function checkConversation(
  chunks: readonly Buffer[],
  limit: number,
  start: 'handshake' | 'open',
  received: readonly ServerMessage[],
): ModelOutcome {
  const payloads: Buffer[] = [];
  let framingError: LeaseholdError | undefined;
  const decoder = new FrameDecoder((p) => payloads.push(p), limit);
  for (const c of chunks) {
    try {
      decoder.push(c);
    } catch (err) {
      framingError = typed(err);
      break;
    }
  }
  let state = start;
  let next = 0;
  const out: ModelOutcome = {
    opened: [],
    ended: false,
    closes: false,
    inSync: false,
    mayChangeState: false,
    frames: 0,
  };
  const take = (what: string): ServerMessage => {
    const m = received[next++];
    if (!m) throw new Error(`expected ${what} for frame ${out.frames}, the server sent nothing more`);
    return m;
  };
  const connectionError = (code: string, echo?: number) => {
    const m = take(`a connection error ${code}`);
    expect(m).toMatchObject({ type: 'error', code });
    const id = idOf(m);
    if (id !== undefined) expect(id).toBe(echo);
    out.closes = true;
  };
  for (const payload of payloads) {
    out.frames++;
    let map: WireMap;
    try {
      map = decodeMap(payload);
    } catch (err) {
      connectionError(typed(err).code);
      break;
    }
    if (state === 'handshake' && map.type !== 'hello') {
      // PROTOCOL.md §4: the error normally has no id; the server MAY echo a valid one.
      connectionError(ErrorCode.HandshakeRequired, peekRequestId(map));
      break;
    }
    let message: ClientMessage;
    try {
      message = parseClientMessage(map);
    } catch (err) {
      const e = typed(err);
      const id = peekRequestId(map);
      const m = take(`an error ${e.code}`);
      expect(m).toMatchObject({ type: 'error', code: e.code });
      expect(idOf(m)).toBe(id);
      // §5: without a usable id the error cannot be matched: the connection closes.
      if (id === undefined) {
        out.closes = true;
        break;
      }
      continue;
    }
    const m = take(`a reply to ${message.type} ${message.id}`);
    expect(idOf(m)).toBe(message.id);
    if (m.type === 'error') expect(isErrorCode(m.code)).toBe(true);
    if (state === 'handshake') {
      if (m.type === 'hello_ok') {
        state = 'open';
        out.opened.push(m.session);
      } else if (m.type === 'error' && isFatal(m.code)) {
        out.closes = true;
        break;
      } else {
        expect(m.type).toBe('error');
      }
      continue;
    }
    if (message.type === 'hello') {
      expect(m).toMatchObject({ type: 'error', code: ErrorCode.InvalidRequest });
      continue;
    }
    if (m.type !== 'error') {
      const expected: string[] = [REPLY_TYPE[message.type]];
      if (message.type === 'checkout') expected.push('checkout_queued');
      expect(expected).toContain(m.type);
    } else {
      expect(isFatal(m.code)).toBe(false);
    }
    if (message.type === 'checkout' && message.feature === FUZZ_FEATURE) out.mayChangeState = true;
    if (message.type === 'bye' && m.type === 'bye_ok') {
      out.ended = true;
      out.closes = true;
      break;
    }
  }
  if (!out.closes && framingError) connectionError(framingError.code);
  expect(next, 'no message beyond the ones the model expects').toBe(received.length);
  // At a frame boundary: every byte sent belonged to a whole frame (no header or payload pending).
  const framed = payloads.reduce((n, p) => n + HEADER_BYTES + p.length, 0);
  out.inSync = !out.closes && framed === chunks.reduce((n, c) => n + c.length, 0);
  return out;
}
