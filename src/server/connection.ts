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
import type { ServerContext } from './context.js';
import { dispatch } from './router.js';
import type { PushTarget } from './session-links.js';

/** How long a closing connection may take to flush its last frame before it is destroyed. */
const CLOSE_GRACE_MS = 1000;

let nextConnectionId = 1;

export type ConnectionState = 'handshake' | 'open' | 'closing' | 'closed';

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
  #awaitingDurable = false;
  #endWhenDrained = false;

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
    try {
      this.#decoder.push(chunk);
    } catch (err) {
      if (err instanceof LeaseholdError) this.fail(err);
      else throw err;
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
    this.#drainOutbox();
  }

  #drainOutbox(): void {
    const head = this.#outbox[0];
    if (this.#awaitingDurable || !head) return;
    this.#awaitingDurable = true;
    this.ctx.journal.whenDurable(head.seq).then(
      () => {
        this.#awaitingDurable = false;
        const durable = this.ctx.journal.durableSeq;
        while (this.#outbox.length > 0 && this.#outbox[0]!.seq <= durable) {
          const { frame } = this.#outbox.shift()!;
          this.#outboxBytes -= frame.length;
          this.#write(frame);
        }
        if (this.#outbox.length === 0 && this.#endWhenDrained) this.stream.end();
        this.#drainOutbox();
      },
      () => {
        // The store failed: nothing more is acknowledged; the daemon is stopping (issue 5).
        this.#outbox.length = 0;
        this.#outboxBytes = 0;
        this.stream.destroy();
      },
    );
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
