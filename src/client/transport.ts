/**
 * The SDK's only use of node:net and node:tls (STYLE.md §1): open a TCP or TLS connection to
 * `host:port`, or a unix socket, within a deadline. Everything above works on the Duplex it returns.
 */
import { connect, isIP, type Socket } from 'node:net';
import { connect as connectTlsSocket, createSecureContext, type SecureContext } from 'node:tls';
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

/**
 * TLS to the servers (`ConnectOptions.tls`). Without `ca` the system's CAs are trusted. PEM text or
 * Buffers, not paths: the caller reads its files.
 */
export interface TlsClientOptions {
  /** CA certificate(s) the server's certificate must chain to, instead of the system's CAs. */
  ca?: string | Buffer;
  /** Client certificate, for a server with `require_client_cert` (give `key` with it). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name the server's certificate must carry; default: the host of each server address. */
  servername?: string;
  /** false accepts any server certificate (testing only: it gives up the protection of TLS). Default true. */
  rejectUnauthorized?: boolean;
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

/**
 * The transport for `ConnectOptions.tls`. The CA and the client certificate are parsed once, here,
 * so unusable ones (not PEM, a key that is not the certificate's) throw a TypeError at once rather
 * than failing every connection.
 */
export function tlsTransport(
  options: TlsClientOptions,
): (address: ServerAddress, timeoutMs: number) => Promise<Socket> {
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TypeError('ConnectOptions.tls: give a client certificate and its key together (cert and key).');
  }
  let context: SecureContext;
  try {
    context = createSecureContext({
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      ...(options.cert === undefined ? {} : { cert: options.cert }),
      ...(options.key === undefined ? {} : { key: options.key }),
    });
  } catch (err) {
    throw new TypeError(
      `ConnectOptions.tls: the CA or client certificate is not usable: ${tlsReason(err as TlsError)}`,
      {
        cause: err,
      },
    );
  }
  return (address, timeoutMs) => connectTls(address, timeoutMs, options, context);
}

/**
 * Opens a TLS connection within `timeoutMs` (the TCP connect and the TLS handshake together). A
 * handshake failure (an untrusted or mismatched server certificate, a refused client certificate)
 * rejects with the TLS reason in the message. A unix socket address is opened without TLS.
 */
export function connectTls(
  address: ServerAddress,
  timeoutMs: number,
  options: TlsClientOptions,
  secureContext: SecureContext,
): Promise<Socket> {
  if (address.path !== undefined) return connectTcp(address, timeoutMs);
  return new Promise((resolve, reject) => {
    // RFC 6066 forbids an IP address as SNI; the certificate is then checked against the IP itself.
    const servername = options.servername ?? (isIP(address.host) ? undefined : address.host);
    const socket = connectTlsSocket({
      host: address.host,
      port: address.port,
      ...(servername === undefined ? {} : { servername }),
      secureContext,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
    });
    let tcpConnected = false;
    socket.once('connect', () => {
      tcpConnected = true;
    });
    const timer = setTimeout(() => {
      socket.destroy();
      const stage = tcpConnected ? 'the TLS handshake with' : 'connect to';
      reject(new Error(`${stage} ${formatServerAddress(address)} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      // TLS 1.3: the server checks a client certificate after the client's side of the handshake
      // is done, so its refusal (an alert) arrives as a later error; say it in words.
      socket.on('error', (err: TlsError) => {
        if (err.reason !== undefined) err.message = `TLS: ${tlsReason(err)}`;
      });
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', (err: TlsError) => {
      clearTimeout(timer);
      socket.destroy();
      reject(tcpConnected ? tlsHandshakeError(err) : err);
    });
  });
}

/** An error from node:tls; OpenSSL's own errors carry a short `reason` beside a long message. */
type TlsError = NodeJS.ErrnoException & { reason?: string };

/** The reason in words with its code, and a hint for the usual mistake. */
function tlsReason(err: TlsError): string {
  const words = err.reason ?? err.message.split('\n')[0] ?? err.message;
  const code = err.code === undefined ? '' : ` (${err.code})`;
  const hint =
    err.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || err.code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG'
      ? '; is the server listening with TLS on this port?'
      : '';
  return `${words}${code}${hint}`;
}

function tlsHandshakeError(err: TlsError): Error {
  return new Error(`TLS handshake failed: ${tlsReason(err)}`, { cause: err });
}
