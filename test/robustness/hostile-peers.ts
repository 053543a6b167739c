/**
 * Thousands of raw, misbehaving TCP peers for the hostile-client test (issue 9 §3). Lighter than
 * RawPeer: a peer keeps its first few messages and counts the rest, knows whether it or the daemon
 * closed the connection, and every peer opened is destroyed after the test.
 */
import { connect, type Socket } from 'node:net';
import { decodeServerPayload, encodeMessage } from '../../src/protocol/codec.js';
import { FrameDecoder, MAX_MAX_FRAME_BYTES } from '../../src/protocol/frame.js';
import type { ClientMessage, ServerMessage } from '../../src/protocol/messages.js';
import { onCleanup } from '../helpers/cleanup.js';
import { splitAddress } from '../helpers/raw-peer.js';

const KEEP_MESSAGES = 4;
const live = new Set<HostilePeer>();
let cleanupRegistered = false;

export class HostilePeer {
  /** The first few messages the daemon sent. */
  readonly messages: ServerMessage[] = [];
  received = 0;
  /** Frames that the SDK's own checks refuse: the daemon must never send one. */
  invalid = 0;
  closed = false;
  /** We destroyed it (as opposed to the daemon closing or resetting it). */
  closedByUs = false;
  readonly openedAt = performance.now();
  /** `127.0.0.1:PORT` as the daemon sees (and logs) this peer. */
  readonly local: string;
  closedAt = 0;
  /** The first socket error (ECONNRESET, EPIPE…), if any. */
  error: string | undefined;
  readonly whenClosed: Promise<void>;
  #waiters: Array<() => void> = [];

  constructor(readonly socket: Socket) {
    live.add(this);
    this.local = `${socket.localAddress}:${socket.localPort}`;
    const decoder = new FrameDecoder((payload) => {
      this.received++;
      try {
        const m = decodeServerPayload(payload);
        if (this.messages.length < KEEP_MESSAGES) this.messages.push(m);
      } catch {
        this.invalid++;
      }
      this.#wake();
    }, MAX_MAX_FRAME_BYTES);
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch {
        this.invalid++;
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error ??= err.code ?? err.message;
    });
    this.whenClosed = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.closedAt = performance.now();
        live.delete(this);
        this.#wake();
        resolve();
      }),
    );
  }

  /** The code of the first `error` message, if any. */
  get firstError(): string | undefined {
    const e = this.messages.find((m) => m.type === 'error');
    return e?.type === 'error' ? e.code : undefined;
  }

  write(bytes: Buffer): void {
    if (!this.closed && !this.socket.destroyed) this.socket.write(bytes);
  }

  send(message: ClientMessage): void {
    this.write(encodeMessage(message));
  }

  destroy(): void {
    if (!this.closed) this.closedByUs = true;
    this.socket.destroy();
  }

  /** Resolves once `done()` holds (checked on every message and on close), or rejects after `timeoutMs`. */
  async until(done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!done()) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error('peer: condition not met in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

export function connectPeer(address: string): Promise<HostilePeer> {
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    onCleanup(() => {
      cleanupRegistered = false;
      for (const p of [...live]) p.destroy();
    });
  }
  const [host, port] = splitAddress(address);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(new HostilePeer(socket));
    });
  });
}

/**
 * Opens `count` peers, `concurrency` connects in flight at a time (the daemon's accept backlog is
 * 511: a burst far beyond it only trades the test's time for SYN retries). `onOpen` runs as each
 * one connects. Connect failures are counted, not thrown.
 */
export async function openPeers(
  address: string,
  count: number,
  onOpen: (peer: HostilePeer, index: number) => void = () => {},
  concurrency = 200,
): Promise<{ peers: HostilePeer[]; failed: number }> {
  const peers: HostilePeer[] = [];
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      try {
        const peer = await connectPeer(address);
        peers.push(peer);
        onOpen(peer, i);
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { peers, failed };
}

/** Waits until every peer is closed; returns how many were still open at the deadline. */
export async function allClosed(peers: readonly HostilePeer[], timeoutMs: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(peers.map((p) => p.whenClosed)),
    new Promise((r) => {
      timer = setTimeout(r, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  return countOf(peers, (p) => !p.closed);
}

/** How many of `peers` satisfy `test`. */
export function countOf(peers: readonly HostilePeer[], test: (p: HostilePeer) => boolean): number {
  let n = 0;
  for (const p of peers) if (test(p)) n++;
  return n;
}

export function helloMessage(id = 1, user = 'mallory'): ClientMessage {
  return { type: 'hello', id, versions: [1], client_name: 'hostile', user, host: 'attacker' };
}
