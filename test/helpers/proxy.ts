/**
 * A TCP proxy on 127.0.0.1 between SDK and daemon, to make network faults on demand: `cut()` drops
 * every connection (a blip), `blackhole(true)` stops forwarding bytes while keeping connections open
 * (a partition, a stalled network, or with one direction only, lost replies).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { onCleanup } from './cleanup.js';
import { splitAddress } from './raw-peer.js';

export class FaultProxy {
  readonly #pairs = new Set<[Socket, Socket]>();
  #blackholed: { up: boolean; down: boolean } = { up: false, down: false };
  #held: { up: boolean; down: boolean } = { up: false, down: false };
  /** Bytes kept by hold(), by the socket they were going to. */
  readonly #kept = new Map<Socket, Buffer[]>();

  private constructor(
    private readonly server: Server,
    readonly address: string,
  ) {}

  static async start(target: string): Promise<FaultProxy> {
    const [host, port] = splitAddress(target);
    let proxy: FaultProxy | undefined;
    const server = createServer((client) => {
      const upstream = connect({ host, port });
      const pair: [Socket, Socket] = [client, upstream];
      proxy!.#pairs.add(pair);
      const forward = (from: Socket, to: Socket, direction: 'up' | 'down') =>
        from.on('data', (chunk: Buffer) => {
          if (proxy!.#blackholed[direction]) return;
          if (!proxy!.#held[direction]) {
            to.write(chunk);
            return;
          }
          const kept = proxy!.#kept.get(to);
          if (kept) kept.push(chunk);
          else proxy!.#kept.set(to, [chunk]);
        });
      forward(client, upstream, 'up');
      forward(upstream, client, 'down');
      const close = () => {
        client.destroy();
        upstream.destroy();
        proxy!.#pairs.delete(pair);
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const a = server.address();
    if (!a || typeof a !== 'object') throw new Error('proxy did not bind');
    proxy = new FaultProxy(server, `127.0.0.1:${a.port}`);
    onCleanup(() => proxy!.close());
    return proxy;
  }

  get connections(): number {
    return this.#pairs.size;
  }

  /** Destroys every proxied connection; new ones are accepted. */
  cut(): void {
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    this.#pairs.clear();
  }

  /** Drops bytes instead of forwarding them: both ways, or only `up` (to the server) or `down`. */
  blackhole(on: boolean, direction: 'both' | 'up' | 'down' = 'both'): void {
    if (direction !== 'down') this.#blackholed.up = on;
    if (direction !== 'up') this.#blackholed.down = on;
  }

  /**
   * Keeps the bytes going one way (`down`: to the clients) instead of forwarding them, until
   * `release()`, which sends what each connection kept in one write: frames the daemon wrote apart
   * then arrive at the client in one read.
   */
  hold(direction: 'up' | 'down'): void {
    this.#held[direction] = true;
  }

  /** Ends hold(): each connection's kept bytes go out in one write. */
  release(): void {
    this.#held = { up: false, down: false };
    for (const [to, chunks] of this.#kept) if (!to.destroyed) to.write(Buffer.concat(chunks));
    this.#kept.clear();
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
