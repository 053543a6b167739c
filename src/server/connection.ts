/**
 * One client connection over any duplex stream (STYLE.md §10): framing, the handshake deadline,
 * dispatch of pipelined requests, pushes, and the write-buffer cap. A misbehaving peer closes its
 * own connection, never the daemon (STYLE.md §9); closing a connection never frees a lease — the
 * session may come back and resume until its ttl runs out (PROTOCOL.md §6.7).
 */
import type { Duplex } from 'node:stream';
import { encodeMessage } from '../protocol/codec.js';
import { CONNECTION_FATAL, ErrorCode } from '../protocol/codes.js';
import { HandshakeRequiredError, HandshakeTimeoutError, LeaseholdError } from '../protocol/errors.js';
import { FrameDecoder, HEADER_BYTES, MAX_MAX_FRAME_BYTES } from '../protocol/frame.js';
import {
  type ClientMessage,
  type ErrorReply,
  MessageType,
  type PushMessage,
  parseClientMessage,
  peekRequestId,
  type ServerMessage,
} from '../protocol/messages.js';
import { decodeMap, type WireMap } from '../protocol/msgpack.js';
import { parseHostPort } from '../protocol/names.js';
import { printable } from '../protocol/schema.js';
import type { Principal } from './auth.js';
import type { DurabilityGate, ServerContext } from './context.js';
import { dispatch } from './router.js';
import type { PushTarget } from './session-links.js';

/** How long a closing connection may take to flush its last frame before it is destroyed. */
const CLOSE_GRACE_MS = 1000;

let nextConnectionId = 1;

export type ConnectionState = 'handshake' | 'open' | 'closing' | 'closed';

/** The connections of one durability gate whose outbox holds frames, and whether a wait is armed. */
interface Holding {
  readonly conns: Set<ClientConnection>;
  armed: boolean;
}

export class ClientConnection implements PushTarget {
  readonly connectionId = nextConnectionId++;
  #state: ConnectionState = 'handshake';
  #sessionId: string | undefined;
  #principal: Principal | undefined;
  readonly #decoder: FrameDecoder;
  #handshakeTimer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<number>();
  /** Frames waiting for the journal to make the changes before them durable. */
  readonly #outbox: { seq: number; frame: Buffer }[] = [];
  /** Bytes of the frames in #outbox: queued for the peer like the socket's own buffer (§2.2). */
  #outboxBytes = 0;
  #endWhenDrained = false;
  /**
   * Frames written while a read is being handled (-1 outside one): from the second on they are
   * corked, so the replies to requests pipelined in one read leave in one write.
   */
  #writesInRead = -1;
  #corked = false;

  /**
   * Per durability gate, the connections holding frames for the journal. One whenDurable wait
   * serves them all, so a journal batch releases every connection's frames in one callback
   * instead of a promise reaction per connection.
   */
  static readonly #holdings = new WeakMap<DurabilityGate, Holding>();

  constructor(
    private readonly stream: Duplex,
    readonly peer: string,
    readonly ctx: ServerContext,
    private readonly onClosed: (conn: ClientConnection) => void = () => {},
    /** Arrived on the local admin socket: full admin (PROTOCOL.md §4 "Roles"). */
    readonly admin = false,
  ) {
    this.#decoder = new FrameDecoder((payload) => this.#onFrame(payload), ctx.limits.maxFrameBytes);
    this.#handshakeTimer = setTimeout(() => {
      this.fail(new HandshakeTimeoutError(`No handshake within ${ctx.limits.handshakeTimeoutMs} ms.`));
    }, ctx.limits.handshakeTimeoutMs);
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('error', (err) => {
      ctx.logger.debug({ conn: this.connectionId, peer, err: err.message }, 'connection error');
    });
    stream.on('close', () => this.#cleanup());
    ctx.logger.debug({ conn: this.connectionId, peer }, 'connection opened');
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get sessionId(): string | undefined {
    return this.#sessionId;
  }

  /** Who the connection is (PROTOCOL.md §4): set by a successful hello. */
  get principal(): Principal | undefined {
    return this.#principal;
  }

  /** The peer's IP address (without the port), or "unix" on the admin socket. */
  get address(): string {
    return this.admin ? 'unix' : (parseHostPort(this.peer)?.host ?? this.peer);
  }

  /** Called by the hello handler once the session is open or resumed. */
  establish(sessionId: string, principal: Principal): void {
    this.#sessionId = sessionId;
    this.#principal = principal;
    this.#state = 'open';
    if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    const previous = this.ctx.links.link(sessionId, this);
    // The session moved here (a reconnect): the old connection is stale.
    if (previous instanceof ClientConnection) previous.close('session resumed on another connection');
  }

  push(message: PushMessage): void {
    this.#send(message);
  }

  /** Sends a connection-level error (no id) and closes (PROTOCOL.md §2.3, §7.8). */
  fail(error: LeaseholdError): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.ctx.logger.warn(
      { conn: this.connectionId, peer: this.peer, code: error.code, bytes: this.#decoder.pendingBytes },
      `protocol error: ${error.message}`,
    );
    this.#send({
      type: MessageType.Error,
      code: error.code,
      message: wireText(error.message),
      ...detailsOf(error),
    });
    this.#end();
  }

  /** Closes without an error frame (bye, a resumed session elsewhere, daemon shutdown). */
  close(reason: string): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.ctx.logger.debug({ conn: this.connectionId, peer: this.peer, reason }, 'closing connection');
    this.#end();
  }

  /** Destroys at once (slow consumer, daemon stop). */
  destroy(): void {
    this.stream.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#writesInRead = 0;
    try {
      this.#decoder.push(chunk);
    } catch (err) {
      if (err instanceof LeaseholdError) this.fail(err);
      else throw err;
    } finally {
      this.#writesInRead = -1;
      if (this.#corked) {
        this.#corked = false;
        this.stream.uncork();
      }
    }
  }

  #onFrame(payload: Buffer): void {
    // Dropped (a slow reader) while a read was being split into frames: the rest is not served.
    if (this.#state === 'closing' || this.#state === 'closed' || this.stream.destroyed) return;
    let map: WireMap;
    try {
      map = decodeMap(payload);
    } catch (err) {
      // MALFORMED_FRAME: the framing is still in sync, but the peer does not speak the protocol.
      if (err instanceof LeaseholdError) {
        this.fail(err);
        return;
      }
      throw err;
    }
    if (this.#state === 'handshake' && map.type !== MessageType.Hello) {
      this.fail(new HandshakeRequiredError('The first message on a connection must be hello.'));
      return;
    }
    let message: ClientMessage;
    try {
      message = parseClientMessage(map);
    } catch (err) {
      if (!(err instanceof LeaseholdError)) throw err;
      this.ctx.logger.info(
        { conn: this.connectionId, peer: this.peer, code: err.code, details: err.details },
        'bad request',
      );
      this.#replyError(peekRequestId(map), err);
      return;
    }
    this.#handle(message);
  }

  #handle(message: ClientMessage): void {
    const id = message.id;
    if (this.#inFlight.has(id)) {
      this.#replyError(
        id,
        new LeaseholdError(ErrorCode.DuplicateRequestId, `Request id ${id} is still awaiting its reply.`),
      );
      return;
    }
    this.#inFlight.add(id);
    let reply: ServerMessage;
    try {
      reply = dispatch(this, message);
    } catch (err) {
      this.#inFlight.delete(id);
      if (err instanceof LeaseholdError) {
        this.#replyError(id, err);
        return;
      }
      this.ctx.logger.error(
        { conn: this.connectionId, peer: this.peer, err, type: message.type },
        'request failed',
      );
      this.#replyError(
        id,
        new LeaseholdError(ErrorCode.Internal, 'The server failed to handle the request.'),
      );
      return;
    } finally {
      // A request may have brought a deadline forward (a new session, an idle-tracked lease).
      this.ctx.sweeper.poke();
    }
    this.#inFlight.delete(id);
    this.#send(reply);
    if (message.type === MessageType.Bye) this.close('bye');
  }

  #replyError(id: number | undefined, err: LeaseholdError): void {
    const reply: ErrorReply = {
      type: MessageType.Error,
      code: err.code,
      message: wireText(err.message),
      ...detailsOf(err),
    };
    if (id !== undefined) reply.id = id;
    this.#send(reply);
    if (CONNECTION_FATAL.has(err.code) || id === undefined) this.#end();
  }

  /**
   * Sends a reply or push once every change made before it is durable (DESIGN §3.6: a change is
   * in the journal, fsync'd, before it is acknowledged). Messages leave in the order they were
   * produced; with nothing pending and nothing new to wait for, they leave at once.
   */
  #send(message: ServerMessage): void {
    if (this.#state === 'closed' || this.stream.destroyed || !this.stream.writable) return;
    const frame = this.#encode(message);
    const { journal } = this.ctx;
    const seq = journal.lastSeq;
    if (this.#outbox.length === 0 && seq <= journal.durableSeq) {
      this.#write(frame);
      return;
    }
    this.#outbox.push({ seq, frame });
    this.#outboxBytes += frame.length;
    if (this.#overWriteCap()) return;
    if (this.#outbox.length === 1) ClientConnection.#hold(this);
  }

  /** Joins the connections waiting for the journal (the outbox has just become non-empty). */
  static #hold(conn: ClientConnection): void {
    const gate = conn.ctx.journal;
    let holding = ClientConnection.#holdings.get(gate);
    if (holding === undefined) {
      holding = { conns: new Set(), armed: false };
      ClientConnection.#holdings.set(gate, holding);
    }
    holding.conns.add(conn);
    ClientConnection.#arm(gate, holding);
  }

  /** Waits for the oldest frame held by any connection of the gate to become durable. */
  static #arm(gate: DurabilityGate, holding: Holding): void {
    if (holding.armed) return;
    let seq = Number.POSITIVE_INFINITY;
    for (const conn of holding.conns) {
      const head = conn.#outbox[0];
      if (head === undefined) holding.conns.delete(conn);
      else if (head.seq < seq) seq = head.seq;
    }
    if (holding.conns.size === 0) return;
    holding.armed = true;
    gate.whenDurable(seq).then(
      () => {
        holding.armed = false;
        const durable = gate.durableSeq;
        for (const conn of holding.conns) {
          if (conn.#release(durable)) holding.conns.delete(conn);
        }
        ClientConnection.#arm(gate, holding);
      },
      () => {
        // The store failed: nothing more is acknowledged; the daemon is stopping (issue 5).
        holding.armed = false;
        for (const conn of holding.conns) {
          conn.#outbox.length = 0;
          conn.#outboxBytes = 0;
          conn.stream.destroy();
        }
        holding.conns.clear();
      },
    );
  }

  /**
   * Writes the held frames that are durable now, corked when there are several; returns whether
   * the outbox is empty (the connection no longer waits).
   */
  #release(durable: number): boolean {
    const outbox = this.#outbox;
    const several = outbox.length > 1 && outbox[1]!.seq <= durable && !this.#corked;
    if (several) this.stream.cork();
    while (outbox.length > 0 && outbox[0]!.seq <= durable) {
      const { frame } = outbox.shift()!;
      this.#outboxBytes -= frame.length;
      this.#write(frame);
    }
    if (several) this.stream.uncork();
    if (outbox.length > 0) return false;
    if (this.#endWhenDrained) this.stream.end();
    return true;
  }

  #encode(message: ServerMessage): Buffer {
    const frame = encodeMessage(message);
    if (frame.length - HEADER_BYTES > MAX_MAX_FRAME_BYTES && 'id' in message && message.id !== undefined) {
      // PROTOCOL.md §2.2: no frame is larger than 16 MiB; the request learns why it got no answer.
      return encodeMessage({
        type: MessageType.Error,
        id: message.id,
        code: ErrorCode.LimitExceeded,
        message: `The reply would be ${frame.length - HEADER_BYTES} bytes, over the ${MAX_MAX_FRAME_BYTES}-byte frame limit; ask for less (one feature, a filter).`,
      });
    }
    return frame;
  }

  #write(frame: Buffer): void {
    if (this.#state === 'closed' || this.stream.destroyed || !this.stream.writable) return;
    if (this.#writesInRead >= 0 && this.#writesInRead++ === 1 && !this.#corked) {
      this.stream.cork();
      this.#corked = true;
    }
    this.stream.write(frame);
    this.#overWriteCap();
  }

  /**
   * PROTOCOL.md §2.2: a peer whose queued replies and pushes pass the output limit is dropped.
   * Queued means in the socket's buffer or held in the outbox for the journal: a pipelining peer
   * that never reads must not make the daemon keep every reply while an fsync is in flight.
   */
  #overWriteCap(): boolean {
    const buffered = this.stream.writableLength + this.#outboxBytes;
    if (buffered <= this.ctx.limits.maxWriteBufferBytes) return false;
    this.ctx.logger.warn(
      { conn: this.connectionId, peer: this.peer, buffered },
      'client does not read its replies: write buffer over the limit, disconnecting',
    );
    this.#outbox.length = 0;
    this.#outboxBytes = 0;
    this.stream.destroy();
    return true;
  }

  #end(): void {
    this.#state = 'closing';
    // The last replies (bye_ok, an error) may still wait for the journal: end after them.
    if (this.#outbox.length > 0) this.#endWhenDrained = true;
    else this.stream.end();
    setTimeout(() => this.stream.destroy(), CLOSE_GRACE_MS).unref();
  }

  #cleanup(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    ClientConnection.#holdings.get(this.ctx.journal)?.conns.delete(this);
    if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    if (this.#sessionId) {
      // Disconnect leaves the queue (DESIGN §2 "queue"), unless the session already moved on.
      if (this.ctx.links.get(this.#sessionId) === this) this.ctx.engine.leaveQueue(this.#sessionId);
      this.ctx.links.unlink(this.#sessionId, this);
    }
    this.ctx.logger.debug({ conn: this.connectionId, peer: this.peer }, 'connection closed');
    this.onClosed(this);
  }
}

/** Error messages go on the wire as one line of at most 4096 bytes (PROTOCOL.md §3.3 free text). */
function wireText(message: string): string {
  const line = printable(message.replace(/\n/g, ' '), 2000);
  return Buffer.byteLength(line) <= 4096 ? line : line.slice(0, 1000);
}

function detailsOf(err: LeaseholdError): { details?: Record<string, unknown> } {
  return err.details ? { details: { ...err.details } } : {};
}
