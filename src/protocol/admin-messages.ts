/**
 * The administrative requests of protocol v1 and their replies (PROTOCOL.md §6.10, §6.11, §7.13,
 * §7.14; capability `admin`): reload and shutdown, freeing seats and blocking, and the user
 * directory (provisioning). Who may send each is decided by the server from the connection's role
 * (PROTOCOL.md §4 "Roles"); the shapes here only say what is well formed.
 */
import {
  displayName,
  durationMs,
  email,
  featureName,
  groupName,
  hex32,
  hostName,
  MAX_BLOCK_MS,
  MAX_SAFE,
  requestId,
  seatType,
  userName,
} from './fields.js';
import { bool, type InferShape, list, literal, optional, record, type Shape, str, uint } from './schema.js';

/** Most lease ids one `admin_free` may name. */
export const MAX_FREE_LEASES = 1000;
/** Most groups given in one `admin_user_add`. */
export const MAX_USER_GROUPS = 100;

const adminName = str({ min: 1, max: 128 });

// ---- requests ----
export const adminReloadShape = { id: requestId } as const;
export const adminShutdownShape = { id: requestId } as const;
export const adminFreeShape = {
  id: requestId,
  leases: optional(list(hex32, MAX_FREE_LEASES, 1)),
  user: optional(userName),
  host: optional(hostName),
  feature: optional(featureName),
  block_ms: optional(uint(1, MAX_BLOCK_MS)),
} as const;
export const adminBlocksShape = { id: requestId } as const;
export const adminUnblockShape = { id: requestId, block: hex32 } as const;
export const adminUsersShape = {
  id: requestId,
  feature: optional(featureName),
  seat_type: optional(seatType),
} as const;
export const adminUserAddShape = {
  id: requestId,
  user: userName,
  display_name: optional(displayName),
  email: optional(email),
  enabled: optional(bool()),
  groups: optional(list(groupName, MAX_USER_GROUPS)),
  issue_token: optional(bool()),
} as const;
export const adminUserSetShape = {
  id: requestId,
  user: userName,
  // '' clears the display name or the e-mail address.
  display_name: optional(displayName),
  email: optional(email),
  enabled: optional(bool()),
  issue_token: optional(bool()),
  revoke_token: optional(bool()),
} as const;
export const adminUserRemoveShape = { id: requestId, user: userName, free: optional(bool()) } as const;
export const adminUserAssignShape = { id: requestId, user: userName, feature: featureName } as const;
export const adminUserUnassignShape = adminUserAssignShape;
export const adminUserJoinShape = { id: requestId, user: userName, group: groupName } as const;
export const adminUserLeaveShape = adminUserJoinShape;

// ---- replies ----
const freedLease = record({
  lease: hex32,
  feature: featureName,
  user: userName,
  host: hostName,
  count: uint(1, MAX_SAFE),
});
const blockInfo = record({
  block: hex32,
  user: userName,
  host: optional(hostName),
  feature: optional(featureName),
  by: optional(adminName),
  /** When the block ends, as an RFC 3339 UTC time (the server's wall clock). */
  until: str({ min: 1, max: 64 }),
  remaining_ms: durationMs,
});
const userInfo = record({
  name: userName,
  display_name: optional(displayName),
  email: optional(email),
  enabled: bool(),
  groups: list(groupName, 10_000),
  named: list(featureName, 100_000),
  token: bool(),
  // Only with `admin_users.feature`: the seat type the user is given on that feature.
  seat: optional(literal(['named', 'concurrent', 'none'])),
});

export const adminReloadOkShape = {
  id: requestId,
  added: list(featureName, 100_000),
  removed: list(featureName, 100_000),
  changed: list(featureName, 100_000),
} as const;
export const adminShutdownOkShape = { id: requestId } as const;
export const adminFreeOkShape = {
  id: requestId,
  freed: list(freedLease, 1_000_000),
  blocks: list(blockInfo, 1_000_000),
} as const;
export const adminBlocksOkShape = { id: requestId, blocks: list(blockInfo, 1_000_000) } as const;
export const adminUnblockOkShape = { id: requestId, removed: bool() } as const;
export const adminUsersOkShape = { id: requestId, users: list(userInfo, 1_000_000) } as const;
/** `token`: the personal token just issued (only with `issue_token`); the server keeps only its hash. */
export const adminUserAddOkShape = { id: requestId, token: optional(str({ min: 1, max: 256 })) } as const;
export const adminUserSetOkShape = adminUserAddOkShape;
export const adminUserRemoveOkShape = { id: requestId, freed: uint(0, MAX_SAFE) } as const;
/** The reply of the directory changes that return nothing but success. */
export const adminOkShape = { id: requestId } as const;

type Msg<T extends string, S extends Shape> = { type: T } & InferShape<S>;

export type AdminReload = Msg<'admin_reload', typeof adminReloadShape>;
export type AdminShutdown = Msg<'admin_shutdown', typeof adminShutdownShape>;
export type AdminFree = Msg<'admin_free', typeof adminFreeShape>;
export type AdminBlocks = Msg<'admin_blocks', typeof adminBlocksShape>;
export type AdminUnblock = Msg<'admin_unblock', typeof adminUnblockShape>;
export type AdminUsers = Msg<'admin_users', typeof adminUsersShape>;
export type AdminUserAdd = Msg<'admin_user_add', typeof adminUserAddShape>;
export type AdminUserSet = Msg<'admin_user_set', typeof adminUserSetShape>;
export type AdminUserRemove = Msg<'admin_user_remove', typeof adminUserRemoveShape>;
export type AdminUserAssign = Msg<'admin_user_assign', typeof adminUserAssignShape>;
export type AdminUserUnassign = Msg<'admin_user_unassign', typeof adminUserUnassignShape>;
export type AdminUserJoin = Msg<'admin_user_join', typeof adminUserJoinShape>;
export type AdminUserLeave = Msg<'admin_user_leave', typeof adminUserLeaveShape>;

export type AdminReloadOk = Msg<'admin_reload_ok', typeof adminReloadOkShape>;
export type AdminShutdownOk = Msg<'admin_shutdown_ok', typeof adminShutdownOkShape>;
export type AdminFreeOk = Msg<'admin_free_ok', typeof adminFreeOkShape>;
export type AdminBlocksOk = Msg<'admin_blocks_ok', typeof adminBlocksOkShape>;
export type AdminUnblockOk = Msg<'admin_unblock_ok', typeof adminUnblockOkShape>;
export type AdminUsersOk = Msg<'admin_users_ok', typeof adminUsersOkShape>;
export type AdminUserAddOk = Msg<'admin_user_add_ok', typeof adminUserAddOkShape>;
export type AdminUserSetOk = Msg<'admin_user_set_ok', typeof adminUserSetOkShape>;
export type AdminUserRemoveOk = Msg<'admin_user_remove_ok', typeof adminUserRemoveOkShape>;
export type AdminOk = Msg<'admin_ok', typeof adminOkShape>;

export type BlockInfo = AdminBlocksOk['blocks'][number];
export type UserInfo = AdminUsersOk['users'][number];
export type FreedLease = AdminFreeOk['freed'][number];

export type AdminRequest =
  | AdminReload
  | AdminShutdown
  | AdminFree
  | AdminBlocks
  | AdminUnblock
  | AdminUsers
  | AdminUserAdd
  | AdminUserSet
  | AdminUserRemove
  | AdminUserAssign
  | AdminUserUnassign
  | AdminUserJoin
  | AdminUserLeave;
export type AdminReply =
  | AdminReloadOk
  | AdminShutdownOk
  | AdminFreeOk
  | AdminBlocksOk
  | AdminUnblockOk
  | AdminUsersOk
  | AdminUserAddOk
  | AdminUserSetOk
  | AdminUserRemoveOk
  | AdminOk;

export const ADMIN_REQUEST_SHAPES = {
  admin_reload: adminReloadShape,
  admin_shutdown: adminShutdownShape,
  admin_free: adminFreeShape,
  admin_blocks: adminBlocksShape,
  admin_unblock: adminUnblockShape,
  admin_users: adminUsersShape,
  admin_user_add: adminUserAddShape,
  admin_user_set: adminUserSetShape,
  admin_user_remove: adminUserRemoveShape,
  admin_user_assign: adminUserAssignShape,
  admin_user_unassign: adminUserUnassignShape,
  admin_user_join: adminUserJoinShape,
  admin_user_leave: adminUserLeaveShape,
} as const satisfies Record<AdminRequest['type'], object>;

export const ADMIN_REPLY_SHAPES = {
  admin_reload_ok: adminReloadOkShape,
  admin_shutdown_ok: adminShutdownOkShape,
  admin_free_ok: adminFreeOkShape,
  admin_blocks_ok: adminBlocksOkShape,
  admin_unblock_ok: adminUnblockOkShape,
  admin_users_ok: adminUsersOkShape,
  admin_user_add_ok: adminUserAddOkShape,
  admin_user_set_ok: adminUserSetOkShape,
  admin_user_remove_ok: adminUserRemoveOkShape,
  admin_ok: adminOkShape,
} as const satisfies Record<AdminReply['type'], object>;

/** The reply type that answers each admin request type. */
export const ADMIN_REPLY_TYPE = {
  admin_reload: 'admin_reload_ok',
  admin_shutdown: 'admin_shutdown_ok',
  admin_free: 'admin_free_ok',
  admin_blocks: 'admin_blocks_ok',
  admin_unblock: 'admin_unblock_ok',
  admin_users: 'admin_users_ok',
  admin_user_add: 'admin_user_add_ok',
  admin_user_set: 'admin_user_set_ok',
  admin_user_remove: 'admin_user_remove_ok',
  admin_user_assign: 'admin_ok',
  admin_user_unassign: 'admin_ok',
  admin_user_join: 'admin_ok',
  admin_user_leave: 'admin_ok',
} as const satisfies Record<AdminRequest['type'], AdminReply['type']>;
