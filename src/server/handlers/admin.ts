/**
 * admin_reload and admin_shutdown (PROTOCOL.md §6.10): accepted only on the local admin socket,
 * whose file mode (0600) is the credential; every other connection gets NOT_PERMITTED.
 */
import { NotPermittedError } from '../../protocol/errors.js';
import type { AdminReload, AdminReloadOk, AdminShutdown, AdminShutdownOk } from '../../protocol/messages.js';
import type { ClientConnection } from '../connection.js';

function requireAdmin(conn: ClientConnection, what: string): void {
  if (!conn.admin) {
    throw new NotPermittedError(
      `${what} is an admin request: it is accepted on the daemon's local admin socket only (leasehold ... --socket PATH).`,
    );
  }
}

export function handleAdminReload(conn: ClientConnection, req: AdminReload): AdminReloadOk {
  requireAdmin(conn, 'reload');
  const result = conn.ctx.admin.reload();
  return { type: 'admin_reload_ok', id: req.id, ...result };
}

export function handleAdminShutdown(conn: ClientConnection, req: AdminShutdown): AdminShutdownOk {
  requireAdmin(conn, 'shutdown');
  conn.ctx.logger.info(
    { conn: conn.connectionId, peer: conn.peer },
    'shutdown requested over the admin socket',
  );
  // After the reply is on its way.
  setImmediate(() => conn.ctx.admin.requestShutdown());
  return { type: 'admin_shutdown_ok', id: req.id };
}
