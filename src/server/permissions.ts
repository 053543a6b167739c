/**
 * Who may send what (issue 6; PROTOCOL.md §4 "Roles"). Clients that authenticated (or any client,
 * when the server has no client tokens) may use seats and read `status` and `queue`, as `lmstat`
 * is open to all, and `leases` (sessions). Everything else needs an admin role, which only the local
 * admin socket and the admin tokens give: viewer reads (users, blocks, and the directory details of
 * holders), manager also frees seats and manages users, admin also reloads and shuts down.
 */
import type { Role } from '../config/auth.js';
import { ForbiddenError } from '../protocol/errors.js';
import type { ClientMessage } from '../protocol/messages.js';
import type { Principal } from './auth.js';

const RANK: Readonly<Record<Role, number>> = { viewer: 1, manager: 2, admin: 3 };

/** The least role each request needs; `undefined`: any authenticated client. */
export const REQUIRED_ROLE: Readonly<Record<ClientMessage['type'], Role | undefined>> = {
  hello: undefined,
  checkout: undefined,
  heartbeat: undefined,
  checkin: undefined,
  bye: undefined,
  status: undefined,
  queue: undefined,
  queue_cancel: undefined,
  // Open like status (lmstat -a shows holders to all); the directory's display name and e-mail
  // are added only for a viewer or higher (handlers/queries.ts).
  leases: undefined,
  admin_users: 'viewer',
  admin_blocks: 'viewer',
  admin_free: 'manager',
  admin_unblock: 'manager',
  admin_user_add: 'manager',
  admin_user_set: 'manager',
  admin_user_remove: 'manager',
  admin_user_assign: 'manager',
  admin_user_unassign: 'manager',
  admin_user_join: 'manager',
  admin_user_leave: 'manager',
  admin_reload: 'admin',
  admin_shutdown: 'admin',
};

export function hasRole(principal: Principal | undefined, needed: Role): boolean {
  const role = principal?.role;
  return role !== undefined && RANK[role] >= RANK[needed];
}

/** Throws FORBIDDEN when the connection's role does not allow `type`. */
export function authorize(principal: Principal | undefined, type: ClientMessage['type']): void {
  const needed = REQUIRED_ROLE[type];
  if (needed === undefined || hasRole(principal, needed)) return;
  const allowed = (Object.keys(RANK) as Role[]).filter((r) => RANK[r] >= RANK[needed]).join(' or ');
  if (principal?.role === undefined) {
    throw new ForbiddenError(
      `'${type}' is an admin request (role ${allowed}): use the daemon's local admin socket ` +
        `(--socket PATH) or an admin token ([admins.NAME] in the server's config).`,
      { details: { needs: needed } },
    );
  }
  throw new ForbiddenError(
    `'${type}' needs role ${allowed}; this connection has role ${principal.role} (${principal.name}).`,
    { details: { needs: needed, role: principal.role } },
  );
}
