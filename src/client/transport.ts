/**
 * The SDK's only use of node:net (STYLE.md §1): open a TCP connection to `host:port`, or a unix
 * socket, within a deadline. Everything above works on the Duplex it returns.
 */
import { connect, type Socket } from 'node:net';
import { formatHostPort, parseHostPort } from '../protocol/names.js';

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  /** A unix socket instead of host and port (the daemon's local admin socket). */
  readonly path?: string;
}

/** Parses `host:port` or `[v6]:port`. */
export function parseServerAddress(text: string): ServerAddress {
  const address = parseHostPort(text);
  if (!address || address.port < 1) {
    throw new TypeError(`Server address must be host:port (or [v6]:port), got ${JSON.stringify(text)}.`);
  }
  return address;
}

export function formatServerAddress(a: ServerAddress): string {
  if (a.path !== undefined) return a.path;
  return formatHostPort(a.host, a.port);
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
