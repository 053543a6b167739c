/**
 * Provisioning (PROTOCOL.md §6.11): the user directory over the wire — list, add, change, remove,
 * named assignments and group membership, and personal tokens for identity mode "token". A token
 * is made here, returned once in the reply and kept by the engine only as its sha256 (secrets.ts).
 */
import { hashToken, newToken } from '../../config/secrets.js';
import type { UserView } from '../../engine/types.js';
import type {
  AdminOk,
  AdminUserAdd,
  AdminUserAddOk,
  AdminUserAssign,
  AdminUserJoin,
  AdminUserLeave,
  AdminUserRemove,
  AdminUserRemoveOk,
  AdminUserSet,
  AdminUserSetOk,
  AdminUsers,
  AdminUsersOk,
  AdminUserUnassign,
  UserInfo,
} from '../../protocol/messages.js';
import type { ClientConnection } from '../connection.js';
import { logAdminAction } from './admin.js';

function toUserInfo(user: UserView, seat?: UserInfo['seat']): UserInfo {
  const info: UserInfo = {
    name: user.name,
    enabled: user.enabled,
    groups: [...user.groups],
    named: [...user.named],
    token: user.hasToken,
  };
  if (user.display !== undefined) info.display_name = user.display;
  if (user.email !== undefined) info.email = user.email;
  if (seat !== undefined) info.seat = seat;
  return info;
}

/**
 * `users list [--feature F [--type named|concurrent]]`: with a feature, each user's seat type on
 * it (as the vendors' admin centers show), and with a type only the users given that type.
 */
export function handleAdminUsers(conn: ClientConnection, req: AdminUsers): AdminUsersOk {
  const { engine } = conn.ctx;
  const users = engine.listUsers();
  if (req.feature === undefined) {
    return { type: 'admin_users_ok', id: req.id, users: users.map((u) => toUserInfo(u)) };
  }
  const seats = engine.userSeatTypes(req.feature);
  const out: UserInfo[] = [];
  for (const user of users) {
    const seat = seats.get(user.name) ?? 'none';
    if (req.seat_type !== undefined && seat !== req.seat_type) continue;
    out.push(toUserInfo(user, seat));
  }
  return { type: 'admin_users_ok', id: req.id, users: out };
}

export function handleAdminUserAdd(conn: ClientConnection, req: AdminUserAdd): AdminUserAddOk {
  const token = req.issue_token ? newToken() : undefined;
  conn.ctx.engine.addUser({
    name: req.user,
    enabled: req.enabled ?? true,
    groups: req.groups ?? [],
    ...(req.display_name ? { display: req.display_name } : {}),
    ...(req.email ? { email: req.email } : {}),
    ...(token === undefined ? {} : { tokenHash: hashToken(token) }),
  });
  logAdminAction(conn, 'user add', {
    user: req.user,
    enabled: req.enabled ?? true,
    groups: req.groups ?? [],
    tokenIssued: token !== undefined,
  });
  return { type: 'admin_user_add_ok', id: req.id, ...(token === undefined ? {} : { token }) };
}

export function handleAdminUserSet(conn: ClientConnection, req: AdminUserSet): AdminUserSetOk {
  const { engine } = conn.ctx;
  if (!engine.listUsers().some((u) => u.name === req.user)) {
    // The engine would say so too; checked first so a partial change never happens.
    engine.updateUser(req.user, {});
  }
  if (req.display_name !== undefined || req.email !== undefined) {
    engine.updateUser(req.user, {
      ...(req.display_name === undefined
        ? {}
        : { display: req.display_name === '' ? null : req.display_name }),
      ...(req.email === undefined ? {} : { email: req.email === '' ? null : req.email }),
    });
  }
  if (req.enabled !== undefined) engine.setUserEnabled(req.user, req.enabled);
  let token: string | undefined;
  if (req.issue_token) {
    token = newToken();
    engine.setUserToken(req.user, hashToken(token));
  } else if (req.revoke_token) {
    engine.setUserToken(req.user, undefined);
  }
  logAdminAction(conn, 'user set', {
    user: req.user,
    ...(req.enabled === undefined ? {} : { enabled: req.enabled }),
    ...(req.display_name === undefined ? {} : { displayName: req.display_name }),
    ...(req.email === undefined ? {} : { email: req.email }),
    ...(req.issue_token ? { tokenIssued: true } : {}),
    ...(req.revoke_token && !req.issue_token ? { tokenRevoked: true } : {}),
  });
  return { type: 'admin_user_set_ok', id: req.id, ...(token === undefined ? {} : { token }) };
}

/**
 * Removes a user. Their named assignments go with them; leases they hold continue until they end
 * unless `free` is set, in which case they are freed (reason `admin`) at once.
 */
export function handleAdminUserRemove(conn: ClientConnection, req: AdminUserRemove): AdminUserRemoveOk {
  const { engine } = conn.ctx;
  engine.removeUser(req.user);
  const freed = req.free ? engine.freeLeases({ user: req.user }).length : 0;
  logAdminAction(conn, 'user remove', { user: req.user, freed });
  return { type: 'admin_user_remove_ok', id: req.id, freed };
}

export function handleAdminUserAssign(conn: ClientConnection, req: AdminUserAssign): AdminOk {
  conn.ctx.engine.assign(req.feature, req.user);
  logAdminAction(conn, 'user assign', { user: req.user, feature: req.feature });
  return { type: 'admin_ok', id: req.id };
}

export function handleAdminUserUnassign(conn: ClientConnection, req: AdminUserUnassign): AdminOk {
  conn.ctx.engine.unassign(req.feature, req.user);
  logAdminAction(conn, 'user unassign', { user: req.user, feature: req.feature });
  return { type: 'admin_ok', id: req.id };
}

export function handleAdminUserJoin(conn: ClientConnection, req: AdminUserJoin): AdminOk {
  conn.ctx.engine.addGroupMember(req.group, req.user);
  logAdminAction(conn, 'user join', { user: req.user, group: req.group });
  return { type: 'admin_ok', id: req.id };
}

export function handleAdminUserLeave(conn: ClientConnection, req: AdminUserLeave): AdminOk {
  conn.ctx.engine.removeGroupMember(req.group, req.user);
  logAdminAction(conn, 'user leave', { user: req.user, group: req.group });
  return { type: 'admin_ok', id: req.id };
}
