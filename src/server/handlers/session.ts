/** hello and bye (PROTOCOL.md §4, §6.1, §6.7): opening, resuming and ending a session. */
import { ErrorCode } from '../../protocol/codes.js';
import { LeaseholdError, SessionNotFoundError } from '../../protocol/errors.js';
import {
  type Bye,
  type ByeOk,
  Capability,
  type Hello,
  type HelloOk,
  SUPPORTED_VERSIONS,
} from '../../protocol/messages.js';
import type { ClientConnection } from '../connection.js';
import { toLeaseGrant } from '../wire-views.js';

export function handleHello(conn: ClientConnection, hello: Hello): HelloOk {
  const { engine, limits, logger } = conn.ctx;
  // Authentication comes first, so nothing about the server is disclosed before it (§4).
  const principal = conn.ctx.auth.authenticate({
    token: hello.token,
    address: conn.address,
    peer: conn.peer,
    viaAdminSocket: conn.admin,
    userByTokenHash: (hash) => engine.userByTokenHash(hash),
    anyUserToken: engine.userTokenCount > 0,
  });
  // A personal token is the identity; in identity mode "token" an admin token stands for its admin.
  const user =
    principal.user ??
    (conn.ctx.auth.config.identity === 'token' && principal.via === 'admin-token'
      ? principal.name
      : hello.user);
  const version = Math.max(...hello.versions.filter((v) => SUPPORTED_VERSIONS.includes(v)));
  if (!Number.isFinite(version)) {
    throw new LeaseholdError(
      ErrorCode.UnsupportedVersion,
      `No common protocol version: the client speaks ${hello.versions.join(', ')}, the server ${SUPPORTED_VERSIONS.join(', ')}.`,
      { details: { supported: [...SUPPORTED_VERSIONS] } },
    );
  }
  let sessionId: string;
  let resumeToken: string;
  let resumed = false;
  if (hello.resume) {
    // PROTOCOL.md §4: a resume keeps the session's leases, ids and fencing tokens: no second seat.
    // With a personal token, only that user's sessions may be taken back.
    const owner =
      principal.user === undefined ? undefined : engine.session(hello.resume.session)?.identity.user;
    if (owner !== undefined && owner !== principal.user) {
      throw new SessionNotFoundError('No such session, or the resume token is wrong.');
    }
    const session = engine.resumeSession(hello.resume.session, hello.resume.token, conn.peer);
    sessionId = session.id;
    resumeToken = hello.resume.token;
    resumed = true;
    logger.info(
      { conn: conn.connectionId, peer: conn.peer, session: sessionId, leases: session.leaseIds.length },
      'session resumed',
    );
  } else {
    const identity = {
      user,
      host: hello.host,
      clientName: hello.client_name,
      peer: conn.peer,
      ...(hello.display === undefined ? {} : { display: hello.display }),
    };
    ({ sessionId, resumeToken } = engine.openSession(identity));
    logger.info(
      {
        conn: conn.connectionId,
        peer: conn.peer,
        session: sessionId,
        user,
        host: hello.host,
        client: hello.client_name,
        auth: principal.via,
        ...(principal.role === undefined ? {} : { admin: principal.name, role: principal.role }),
      },
      'session opened',
    );
  }
  conn.establish(sessionId, principal.name === '' ? { ...principal, name: user } : principal);
  return {
    type: 'hello_ok',
    id: hello.id,
    version,
    server_name: conn.ctx.serverName,
    server_version: conn.ctx.serverVersion,
    session: sessionId,
    resume_token: resumeToken,
    resumed,
    heartbeat_interval_ms: limits.heartbeatIntervalMs,
    lease_ttl_ms: engine.leaseTtlMs,
    max_frame_bytes: limits.maxFrameBytes,
    capabilities: [Capability.Queue, Capability.Models, Capability.Admin],
    leases: resumed ? engine.listLeases({ sessionId }).map(toLeaseGrant) : [],
    user,
    ...(principal.role === undefined ? {} : { role: principal.role }),
  };
}

export function handleBye(conn: ClientConnection, sessionId: string, bye: Bye): ByeOk {
  const { released } = conn.ctx.engine.endSession(sessionId);
  conn.ctx.logger.info(
    { conn: conn.connectionId, peer: conn.peer, session: sessionId, released },
    'session ended',
  );
  return { type: 'bye_ok', id: bye.id, released };
}
