/**
 * The SDK's only use of node:net (STYLE.md §1): open a TCP connection to `host:port`, or a unix
 * socket, within a deadline. Everything above works on the Duplex it returns.
 */
import { connect, type Socket } from 'node:net';

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  /** A unix socket instead of host and port (the daemon's local admin socket). */
  readonly path?: string;
}

/** Parses `host:port` or `[v6]:port`. */
export function parseServerAddress(text: string): ServerAddress {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port < 1 || port > 65_535) {
    throw new TypeError(`Server address must be host:port (or [v6]:port), got ${JSON.stringify(text)}.`);
  }
  return { host: (match[1] ?? match[2]) as string, port };
}

export function formatServerAddress(a: ServerAddress): string {
  if (a.path !== undefined) return a.path;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export function connectTcp(address: ServerAddress, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      address.path !== undefined
        ? connect({ path: address.path })
        : connect({ host: address.host, port: address.port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${formatServerAddress(address)} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}
