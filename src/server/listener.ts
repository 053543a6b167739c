/**
 * The listeners: TCP, a thin wrapper that enforces the connection limits (in total and per peer
 * address), and the local admin socket; each hands its sockets to a ClientConnection. The only
 * file of the server that imports node:net (STYLE.md §1).
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Endpoint } from '../config/types.js';
import { encodeMessage } from '../protocol/codec.js';
import { ErrorCode } from '../protocol/codes.js';
import { formatHostPort } from '../protocol/names.js';

export interface ListenerLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
}

export interface AcceptedSocket {
  readonly socket: Socket;
  readonly peer: string;
  readonly address: string;
}

export interface ConnectionCounter {
  total(): number;
  fromAddress(address: string): number;
}

export function formatPeer(address: string | undefined, port: number | undefined): string {
  return formatHostPort(address ?? 'unknown', port ?? 0);
}

/**
 * Starts listening on one endpoint. Sockets over a limit get a LIMIT_EXCEEDED error frame and are
 * closed; the others go to `accept`.
 */
export function listen(
  endpoint: Endpoint,
  limits: ListenerLimits,
  counter: ConnectionCounter,
  accept: (accepted: AcceptedSocket) => void,
  onRefused: (peer: string, reason: string) => void,
): Promise<Server> {
  const server = createServer({ noDelay: true }, (socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const peer = formatPeer(socket.remoteAddress, socket.remotePort);
    let reason: string | undefined;
    if (counter.total() >= limits.maxConnections) {
      reason = `the server has its maximum of ${limits.maxConnections} connections`;
    } else if (counter.fromAddress(address) >= limits.maxConnectionsPerAddress) {
      reason = `${address} has its maximum of ${limits.maxConnectionsPerAddress} connections`;
    }
    if (reason) {
      onRefused(peer, reason);
      socket.on('error', () => {});
      socket.end(
        encodeMessage({
          type: 'error',
          code: ErrorCode.LimitExceeded,
          message: `Connection refused: ${reason}.`,
        }),
      );
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    accept({ socket, peer, address });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: endpoint.host, port: endpoint.port }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * The local admin socket: a unix socket, mode 0600, so only the daemon's user (and root) can open
 * it. A stale socket file from an earlier run is replaced.
 */
export async function listenUnix(path: string, accept: (socket: Socket) => void): Promise<Server> {
  await rm(path, { force: true });
  const server = createServer((socket) => accept(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, 0o600);
  return server;
}
