/** hello and bye (PROTOCOL.md §4, §6.1, §6.7): opening, resuming and ending a session. */
import { ErrorCode } from '../../protocol/codes.js';
import { LeaseholdError } from '../../protocol/errors.js';
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
      user: hello.user,
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
        user: hello.user,
        host: hello.host,
        client: hello.client_name,
      },
      'session opened',
    );
  }
  conn.establish(sessionId);
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
    capabilities: [Capability.Queue, Capability.Models],
    leases: resumed ? engine.listLeases({ sessionId }).map(toLeaseGrant) : [],
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
