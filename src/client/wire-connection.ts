/**
 * One connection to a server, seen from the client: frames out, frames in, replies matched to
 * requests by id (replies may come in any order, PROTOCOL.md §5), pushes handed to a callback.
 * When the stream closes, every pending request is rejected with ConnectionLostError.
 */
import type { Duplex } from 'node:stream';
import { decodeServerPayload, encodeMessage } from '../protocol/codec.js';
import { isErrorCode } from '../protocol/codes.js';
import { errorFromCode, LeaseholdError } from '../protocol/errors.js';
import { FrameDecoder, MAX_MAX_FRAME_BYTES } from '../protocol/frame.js';
import {
  type ClientMessage,
  isPush,
  type PushMessage,
  type ReplyMessage,
  type ServerMessage,
} from '../protocol/messages.js';
import { ConnectionLostError, ProtocolViolationError, RequestTimeoutError } from './errors.js';

type Pending = {
  resolve: (reply: ReplyMessage) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
};

/** A request as the caller builds it: everything but the id, which the connection assigns. */
export type RequestBody = ClientMessage extends infer M
  ? M extends ClientMessage
    ? Omit<M, 'id'>
    : never
  : never;

export interface WireConnectionEvents {
  onPush(push: PushMessage): void;
  /** A connection-level error from the server (no id), or a protocol violation by the server. */
  onServerError(err: Error): void;
  onClose(): void;
}

export class WireConnection {
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #decoder: FrameDecoder;
  #closed = false;
  /** Why the stream failed, if it did (a TLS alert, a reset): said in ConnectionLostError. */
  #streamError: Error | undefined;

  constructor(
    private readonly stream: Duplex,
    private readonly events: WireConnectionEvents,
  ) {
    // Replies (status of a big table) may be larger than what a client may send: accept the most
    // the protocol allows (PROTOCOL.md §2.2).
    this.#decoder = new FrameDecoder((payload) => this.#onFrame(payload), MAX_MAX_FRAME_BYTES);
    stream.on('data', (chunk: Buffer) => {
      try {
        this.#decoder.push(chunk);
      } catch (err) {
        this.#violation(err);
      }
    });
    stream.on('error', (err) => {
      this.#streamError ??= err;
    });
    stream.on('close', () => this.#onClose());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a request and resolves with its reply; an `error` reply rejects with its typed error. */
  request<R extends ReplyMessage = ReplyMessage>(body: RequestBody, timeoutMs: number): Promise<R> {
    if (this.#closed) return Promise.reject(new ConnectionLostError('The connection is closed.'));
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
    return new Promise<R>((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.#pending.delete(id);
              reject(new RequestTimeoutError(`No reply to ${body.type} within ${timeoutMs} ms.`));
            }, timeoutMs)
          : undefined;
      this.#pending.set(id, { resolve: resolve as (r: ReplyMessage) => void, reject, timer });
      this.stream.write(encodeMessage({ ...body, id } as ClientMessage));
    });
  }

  close(): void {
    this.stream.end();
    setTimeout(() => this.stream.destroy(), 1000).unref();
  }

  destroy(): void {
    this.stream.destroy();
  }

  #onFrame(payload: Buffer): void {
    let message: ServerMessage;
    try {
      message = decodeServerPayload(payload);
    } catch (err) {
      // An unknown push type is allowed (PROTOCOL.md §5): skip it. Anything else is a violation.
      if (!(err instanceof LeaseholdError && err.code === 'UNKNOWN_TYPE')) this.#violation(err);
      return;
    }
    if (isPush(message)) {
      this.events.onPush(message);
      return;
    }
    if (message.id === undefined) {
      // Only `error` may come without an id: a connection-level error; the server closes next.
      if (message.type === 'error')
        this.events.onServerError(toError(message.code, message.message, message.details));
      return;
    }
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    if (pending.timer) clearTimeout(pending.timer);
    if (message.type === 'error') pending.reject(toError(message.code, message.message, message.details));
    else pending.resolve(message);
  }

  #violation(err: unknown): void {
    this.events.onServerError(
      new ProtocolViolationError(`The server sent an invalid frame: ${(err as Error).message}`, {
        cause: err,
      }),
    );
    this.stream.destroy();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, pending] of this.#pending) {
      if (pending.timer) clearTimeout(pending.timer);
      this.#pending.delete(id);
      const why = this.#streamError;
      pending.reject(
        why
          ? new ConnectionLostError(`The connection to the server was lost: ${why.message}`, { cause: why })
          : new ConnectionLostError('The connection to the server was lost.'),
      );
    }
    this.events.onClose();
  }
}

function toError(
  code: string,
  message: string,
  details: Readonly<Record<string, unknown>> | undefined,
): Error {
  // PROTOCOL.md §7.8: a code this client does not know is a non-retryable failure with its message.
  if (!isErrorCode(code))
    return new LeaseholdError('INTERNAL', `${message} (${code})`, details ? { details } : {});
  return errorFromCode(code, message, details ? { details } : {});
}
