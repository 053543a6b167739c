/**
 * The listeners: TCP and TLS, thin wrappers that enforce the connection limits (in total and per
 * peer address), and the local admin socket; each hands its sockets to a ClientConnection. The only
 * file of the server that imports node:net and node:tls (STYLE.md §1).
 */
import { chmod, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Endpoint, TlsServerConfig } from '../config/types.js';
import { encodeMessage } from '../protocol/codec.js';
import { ErrorCode } from '../protocol/codes.js';
import { formatHostPort } from '../protocol/names.js';

export interface ListenerLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  /** TLS: how long the TLS handshake may take (the protocol handshake gets its own deadline). */
  readonly handshakeTimeoutMs?: number;
}

export interface AcceptedSocket {
  readonly socket: Socket;
  readonly peer: string;
  readonly address: string;
  /** Set for a TLS connection. */
  readonly tls?: {
    /** The subject CN of a client certificate that was presented and verified against client_ca. */
    readonly clientCert?: string;
    /** A client certificate was presented but did not verify (require_client_cert = false). */
    readonly unverifiedReason?: string;
  };
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
    admit(socket, undefined, limits, counter, accept, onRefused);
  });
  return bind(server, endpoint);
}

/**
 * Starts a TLS listener on one endpoint: the same limits and refusal as `listen`, checked once the
 * TLS handshake is done (so the refusal frame is readable by the client). The certificate, key and
 * client CA files are read now; a renewed certificate takes a restart. With a client CA, clients
 * are asked for a certificate; require_client_cert makes the handshake fail without a valid one.
 */
export async function listenTls(
  endpoint: Endpoint,
  tls: TlsServerConfig,
  limits: ListenerLimits,
  counter: ConnectionCounter,
  accept: (accepted: AcceptedSocket) => void,
  onRefused: (peer: string, reason: string) => void,
  onHandshakeFailed: (peer: string, reason: string) => void,
): Promise<Server> {
  const [cert, key, ca] = await Promise.all([
    readFile(tls.cert),
    readFile(tls.key),
    tls.clientCa === undefined ? undefined : readFile(tls.clientCa),
  ]);
  const server = createTlsServer({
    cert,
    key,
    ...(ca === undefined ? {} : { ca, requestCert: true }),
    rejectUnauthorized: tls.requireClientCert,
    ...(limits.handshakeTimeoutMs === undefined ? {} : { handshakeTimeout: limits.handshakeTimeoutMs }),
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.setNoDelay(true);
    admit(socket, clientCertOf(socket), limits, counter, accept, onRefused);
  });
  server.on('tlsClientError', (err: Error & { reason?: string }, socket) => {
    // A client certificate that did not verify: node:tls closes without an alert, so only the log
    // can say why (the client sees the connection close).
    const reason = socket.authorizationError
      ? `client certificate refused: ${String(socket.authorizationError)}`
      : (err.reason ?? err.message);
    onHandshakeFailed(formatPeer(socket.remoteAddress, socket.remotePort), reason);
  });
  return bind(server, endpoint);
}

/** The verified client certificate's subject CN, or why a presented one did not verify. */
function clientCertOf(socket: TLSSocket): NonNullable<AcceptedSocket['tls']> {
  const cert = socket.getPeerCertificate();
  // An empty object when the client sent no certificate.
  if (!cert || Object.keys(cert).length === 0) return {};
  if (!socket.authorized) {
    return { unverifiedReason: String(socket.authorizationError ?? 'not verified') };
  }
  const cn: unknown = cert.subject?.CN;
  const name = Array.isArray(cn) ? cn.join(', ') : typeof cn === 'string' ? cn : '';
  return { clientCert: name };
}

/** The connection limits, shared by every TCP and TLS listener; over a limit, an error frame and close. */
function admit(
  socket: Socket,
  tls: AcceptedSocket['tls'],
  limits: ListenerLimits,
  counter: ConnectionCounter,
  accept: (accepted: AcceptedSocket) => void,
  onRefused: (peer: string, reason: string) => void,
): void {
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
  accept(tls === undefined ? { socket, peer, address } : { socket, peer, address, tls });
}

function bind(server: Server, endpoint: Endpoint): Promise<Server> {
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
