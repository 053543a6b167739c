/**
 * A minimal Redis client (RESP2) for the load generator: commands out as RESP arrays of bulk
 * strings, replies parsed incrementally and matched in order (Redis answers in order). Only what
 * the bench uses: integers, simple strings, errors, bulk strings and arrays. No dependency, so the
 * Redis rows carry the same thin client work as the Leasehold rows.
 */
import net from 'node:net';

export class RespError extends Error {
  constructor(message) {
    super(message);
    this.name = 'RespError';
  }
}

const CRLF = '\r\n';

/** One command as RESP bytes. */
function encodeCommand(args) {
  let out = `*${args.length}${CRLF}`;
  for (const arg of args) {
    const s = typeof arg === 'string' ? arg : String(arg);
    out += `$${Buffer.byteLength(s)}${CRLF}${s}${CRLF}`;
  }
  return out;
}

/**
 * Parses one reply starting at `pos`; returns [value, next] or undefined when the buffer does not
 * yet hold the whole reply.
 */
function parseReply(buf, pos) {
  if (pos >= buf.length) return undefined;
  const end = buf.indexOf(CRLF, pos);
  if (end < 0) return undefined;
  const kind = buf[pos];
  const line = buf.toString('latin1', pos + 1, end);
  const next = end + 2;
  switch (kind) {
    case 0x2b: // +
      return [line, next];
    case 0x2d: // -
      return [new RespError(line), next];
    case 0x3a: // :
      return [Number(line), next];
    case 0x24: {
      // $
      const n = Number(line);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return undefined;
      return [buf.toString('utf8', next, next + n), next + n + 2];
    }
    case 0x2a: {
      // *
      const n = Number(line);
      if (n < 0) return [null, next];
      const items = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, at);
        if (!item) return undefined;
        items.push(item[0]);
        at = item[1];
      }
      return [items, at];
    }
    default:
      throw new RespError(`unexpected RESP byte 0x${kind.toString(16)}`);
  }
}

export class RespClient {
  #socket;
  #buffer = Buffer.alloc(0);
  #queue = [];
  #closed = false;

  constructor(socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.#onData(chunk));
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
        resolve(new RespClient(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Sends one command; resolves with its reply, rejects on a Redis error reply. */
  command(...args) {
    if (this.#closed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ resolve, reject });
      this.#socket.write(encodeCommand(args));
    });
  }

  close() {
    this.#socket.end();
  }

  #onData(chunk) {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    let pos = 0;
    for (;;) {
      const reply = parseReply(this.#buffer, pos);
      if (!reply) break;
      pos = reply[1];
      const waiter = this.#queue.shift();
      if (!waiter) continue;
      if (reply[0] instanceof RespError) waiter.reject(reply[0]);
      else waiter.resolve(reply[0]);
    }
    this.#buffer = pos === this.#buffer.length ? Buffer.alloc(0) : this.#buffer.subarray(pos);
  }

  #shut(err) {
    if (this.#closed) return;
    this.#closed = true;
    const reason = err ?? new Error('connection closed');
    for (const waiter of this.#queue) waiter.reject(reason);
    this.#queue.length = 0;
  }
}
