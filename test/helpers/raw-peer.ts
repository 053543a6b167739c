/**
 * A scriptable peer built on the real codec (STYLE.md §11): send any frame or raw bytes, read what
 * the server answers, see when it closes. For tests of the server's handling of hostile input.
 */
import { connect, type Socket } from 'node:net';
import { decodeServerPayload, encodeMessage } from '../../src/protocol/codec.js';
import { FrameDecoder, MAX_MAX_FRAME_BYTES } from '../../src/protocol/frame.js';
import type { ClientMessage, HelloOk, ServerMessage } from '../../src/protocol/messages.js';
import { onCleanup } from './cleanup.js';

export class RawPeer {
  readonly received: ServerMessage[] = [];
  readonly closed: Promise<void>;
  #waiters: Array<() => void> = [];
  #isClosed = false;

  private constructor(readonly socket: Socket) {
    const decoder = new FrameDecoder((p) => {
      this.received.push(decodeServerPayload(p));
      for (const w of this.#waiters.splice(0)) w();
    }, MAX_MAX_FRAME_BYTES);
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.#isClosed = true;
        for (const w of this.#waiters.splice(0)) w();
        resolve();
      });
    });
  }

  static connect(address: string): Promise<RawPeer> {
    const [host, port] = splitAddress(address);
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port }, () => {
        const peer = new RawPeer(socket);
        onCleanup(() => socket.destroy());
        resolve(peer);
      });
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  send(message: ClientMessage): void {
    this.socket.write(encodeMessage(message));
  }

  sendRaw(bytes: Buffer | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'hex') : bytes);
  }

  /** Waits for a received message that matches (already received ones count), or throws on close/timeout. */
  async next(match: (m: ServerMessage) => boolean = () => true, timeoutMs = 5000): Promise<ServerMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.received.findIndex(match);
      if (index >= 0) return this.received.splice(index, 1)[0]!;
      if (this.#isClosed) throw new Error('connection closed before the expected message');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('expected message did not come in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  reply(id: number): Promise<ServerMessage> {
    return this.next((m) => 'id' in m && m.id === id);
  }

  async hello(extra: Partial<Extract<ClientMessage, { type: 'hello' }>> = {}): Promise<HelloOk> {
    this.send({
      type: 'hello',
      id: 1,
      versions: [1],
      client_name: 'raw-peer',
      user: 'raw',
      host: 'test',
      ...extra,
    });
    const reply = await this.reply(extra.id ?? 1);
    if (reply.type !== 'hello_ok') throw new Error(`hello failed: ${JSON.stringify(reply)}`);
    return reply;
  }
}

export function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), Number(address.slice(i + 1))];
}
