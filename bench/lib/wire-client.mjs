/**
 * A raw Leasehold protocol client for the load generator (PROTOCOL.md §2–§6): one TCP connection,
 * frames built and read with the daemon's own codec from dist/, replies matched to requests by id.
 * It is deliberately not the SDK: no heartbeat timers, no reconnect, no lease bookkeeping, so the
 * same few lines of client work go with every request to every target (echo and Leasehold).
 */
import net from 'node:net';
import { decodeServerPayload, encodeMessage, FrameDecoder } from '../../dist/protocol/codec.js';

/** PROTOCOL.md §2.2: a server frame may be up to 16 MiB long (a big status_ok). */
const MAX_SERVER_FRAME = 16 * 1024 * 1024;
const MAX_REQUEST_ID = 4294967295;

/** An `error` reply to a request: `code` is the wire code (NO_SEATS, ...). */
export class WireError extends Error {
  constructor(reply) {
    super(`${reply.code}: ${reply.message}`);
    this.name = 'WireError';
    this.code = reply.code;
    this.reply = reply;
  }
}

export class WireClient {
  #socket;
  #decoder;
  #nextId = 1;
  #pending = new Map();
  #closed = false;
  /** Called with every push (a message without id, or an id nobody waits for). */
  onPush = undefined;
  /** Called once when the connection closes, with the error if there was one. */
  onClose = undefined;

  constructor(socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    this.#decoder = new FrameDecoder((payload) => this.#onFrame(payload), MAX_SERVER_FRAME);
    socket.on('data', (chunk) => this.#decoder.push(chunk));
    socket.on('error', (err) => this.#shut(err));
    socket.on('close', () => this.#shut(undefined));
  }

  static connect(port, host = '127.0.0.1', timeoutMs = 15_000) {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', reject);
        resolve(new WireClient(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  get closed() {
    return this.#closed;
  }

  /** Sends one request (its `id` is set here) and resolves with the reply; an `error` reply rejects. */
  request(message) {
    if (this.#closed) return Promise.reject(new Error('connection closed'));
    const id = this.#nextId;
    this.#nextId = id === MAX_REQUEST_ID ? 1 : id + 1;
    message.id = id;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.write(encodeMessage(message));
    });
  }

  /** The handshake (PROTOCOL.md §6.1) as a new session. */
  hello(user = 'bench', host = 'bench-host') {
    return this.request({ type: 'hello', versions: [1], client_name: 'leasehold-bench', user, host });
  }

  /** Closes at once (no bye): the session stays until its ttl, as after a crash. */
  destroy() {
    this.#socket.destroy();
  }

  /** Ends the session politely (bye releases its leases) and closes. */
  async bye() {
    if (this.#closed) return;
    try {
      await this.request({ type: 'bye' });
    } catch {
      // The server closes after bye_ok; a race with that close is fine.
    }
    this.#socket.end();
  }

  #onFrame(payload) {
    const message = decodeServerPayload(payload);
    const waiter = message.id === undefined ? undefined : this.#pending.get(message.id);
    if (!waiter) {
      this.onPush?.(message);
      return;
    }
    this.#pending.delete(message.id);
    if (message.type === 'error') waiter.reject(new WireError(message));
    else waiter.resolve(message);
  }

  #shut(err) {
    if (this.#closed) return;
    this.#closed = true;
    const reason = err ?? new Error('connection closed');
    for (const waiter of this.#pending.values()) waiter.reject(reason);
    this.#pending.clear();
    this.onClose?.(err);
  }
}
