/**
 * Routes a validated request to the handler of its family (STYLE.md §5). The connection has
 * already refused everything but `hello` before the handshake; here a second `hello` is refused.
 * The switch is exhaustive: a new request type does not compile until it is routed.
 */
import { InvalidRequestError, SessionNotFoundError } from '../protocol/errors.js';
import type { ClientMessage, ServerMessage } from '../protocol/messages.js';
import type { ClientConnection } from './connection.js';
import {
  handleAdminBlocks,
  handleAdminFree,
  handleAdminReload,
  handleAdminShutdown,
  handleAdminUnblock,
} from './handlers/admin.js';
import { handleCheckin, handleCheckout, handleHeartbeat } from './handlers/leases.js';
import { handleLeases, handleStatus } from './handlers/queries.js';
import { handleQueue, handleQueueCancel } from './handlers/queue.js';
import { handleBye, handleHello } from './handlers/session.js';
import {
  handleAdminUserAdd,
  handleAdminUserAssign,
  handleAdminUserJoin,
  handleAdminUserLeave,
  handleAdminUserRemove,
  handleAdminUserSet,
  handleAdminUsers,
  handleAdminUserUnassign,
} from './handlers/users.js';
import { authorize } from './permissions.js';

export function dispatch(conn: ClientConnection, message: ClientMessage): ServerMessage {
  if (message.type === 'hello') {
    if (conn.state !== 'handshake')
      throw new InvalidRequestError('The handshake is already done on this connection.');
    return handleHello(conn, message);
  }
  const sessionId = conn.sessionId;
  if (sessionId === undefined) throw new SessionNotFoundError('No session on this connection.');
  authorize(conn.principal, message.type);
  switch (message.type) {
    case 'checkout':
      return handleCheckout(conn, sessionId, message);
    case 'heartbeat':
      return handleHeartbeat(conn, sessionId, message);
    case 'checkin':
      return handleCheckin(conn, sessionId, message);
    case 'status':
      return handleStatus(conn, message);
    case 'leases':
      return handleLeases(conn, message);
    case 'bye':
      return handleBye(conn, sessionId, message);
    case 'queue':
      return handleQueue(conn, message);
    case 'queue_cancel':
      return handleQueueCancel(conn, sessionId, message);
    case 'admin_reload':
      return handleAdminReload(conn, message);
    case 'admin_shutdown':
      return handleAdminShutdown(conn, message);
    case 'admin_free':
      return handleAdminFree(conn, message);
    case 'admin_blocks':
      return handleAdminBlocks(conn, message);
    case 'admin_unblock':
      return handleAdminUnblock(conn, message);
    case 'admin_users':
      return handleAdminUsers(conn, message);
    case 'admin_user_add':
      return handleAdminUserAdd(conn, message);
    case 'admin_user_set':
      return handleAdminUserSet(conn, message);
    case 'admin_user_remove':
      return handleAdminUserRemove(conn, message);
    case 'admin_user_assign':
      return handleAdminUserAssign(conn, message);
    case 'admin_user_unassign':
      return handleAdminUserUnassign(conn, message);
    case 'admin_user_join':
      return handleAdminUserJoin(conn, message);
    case 'admin_user_leave':
      return handleAdminUserLeave(conn, message);
    default: {
      const unhandled: never = message;
      throw new InvalidRequestError(`Unhandled request ${(unhandled as { type: string }).type}.`);
    }
  }
}
