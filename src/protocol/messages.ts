/**
 * Every message of protocol v1 (PROTOCOL.md §5–§7): one schema per type, from which both the check
 * and the TypeScript type come. Field names are the wire names (snake_case), so what is written
 * here is exactly what crosses the wire; the SDK and the CLI present camelCase on top.
 */
import {
  ADMIN_REPLY_SHAPES,
  ADMIN_REPLY_TYPE,
  ADMIN_REQUEST_SHAPES,
  type AdminReply,
  type AdminRequest,
} from './admin-messages.js';
import { UnknownTypeError } from './errors.js';
import {
  code,
  displayName,
  durationMs,
  email,
  featureName,
  fencing,
  groupName,
  hex32,
  hex64,
  hostName,
  MAX_SAFE,
  requestId,
  requestKey,
  seatCount,
  seatType,
  shortText,
  text,
  userName,
} from './fields.js';
import type { WireMap } from './msgpack.js';
import {
  anyMap,
  bool,
  type InferShape,
  invalid,
  list,
  literal,
  optional,
  parseShape,
  printable,
  record,
  type Shape,
  type Strictness,
  str,
  uint,
} from './schema.js';

export const PROTOCOL_VERSION = 1;
export const SUPPORTED_VERSIONS: readonly number[] = [PROTOCOL_VERSION];

/** Message types (§5). Requests go client → server; replies and pushes server → client. */
export const MessageType = {
  Hello: 'hello',
  Checkout: 'checkout',
  Heartbeat: 'heartbeat',
  Checkin: 'checkin',
  Status: 'status',
  Leases: 'leases',
  Bye: 'bye',
  Queue: 'queue',
  QueueCancel: 'queue_cancel',
  AdminReload: 'admin_reload',
  AdminShutdown: 'admin_shutdown',
  AdminFree: 'admin_free',
  AdminBlocks: 'admin_blocks',
  AdminUnblock: 'admin_unblock',
  AdminUsers: 'admin_users',
  AdminUserAdd: 'admin_user_add',
  AdminUserSet: 'admin_user_set',
  AdminUserRemove: 'admin_user_remove',
  AdminUserAssign: 'admin_user_assign',
  AdminUserUnassign: 'admin_user_unassign',
  AdminUserJoin: 'admin_user_join',
  AdminUserLeave: 'admin_user_leave',
  HelloOk: 'hello_ok',
  CheckoutOk: 'checkout_ok',
  HeartbeatOk: 'heartbeat_ok',
  CheckinOk: 'checkin_ok',
  StatusOk: 'status_ok',
  LeasesOk: 'leases_ok',
  ByeOk: 'bye_ok',
  CheckoutQueued: 'checkout_queued',
  QueueOk: 'queue_ok',
  QueueCancelOk: 'queue_cancel_ok',
  AdminReloadOk: 'admin_reload_ok',
  AdminShutdownOk: 'admin_shutdown_ok',
  AdminFreeOk: 'admin_free_ok',
  AdminBlocksOk: 'admin_blocks_ok',
  AdminUnblockOk: 'admin_unblock_ok',
  AdminUsersOk: 'admin_users_ok',
  AdminUserAddOk: 'admin_user_add_ok',
  AdminUserSetOk: 'admin_user_set_ok',
  AdminUserRemoveOk: 'admin_user_remove_ok',
  AdminOk: 'admin_ok',
  Error: 'error',
  Revoked: 'revoked',
  Draining: 'draining',
  QueuePosition: 'queue_position',
  QueueGranted: 'queue_granted',
  QueueEnded: 'queue_ended',
} as const;

/**
 * Capabilities a server advertises in hello_ok (PROTOCOL.md §3.5, §12): a client sends the
 * request fields and types of a capability only to a server that lists it.
 */
export const Capability = {
  /** checkout.wait_ms, checkout_queued, queue, queue_cancel and the queue_* pushes. */
  Queue: 'queue',
  /** leases.seat_type, and the named/group fields of status_ok. */
  Models: 'models',
  /** The admin_* requests beyond reload and shutdown: free, blocks, users (PROTOCOL.md §6.11). */
  Admin: 'admin',
} as const;
export type Capability = (typeof Capability)[keyof typeof Capability];
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

// Field rules (§3.3) live in fields.ts.
export { MAX_SAFE };

/** Largest `count` of one checkout. */
export const MAX_CHECKOUT_COUNT = 65_535;
/** Most entries in one heartbeat's `leases`. */
export const MAX_HEARTBEAT_LEASES = 10_000;
/** Longest wait a checkout may ask for: one day. */
export const MAX_WAIT_MS = 86_400_000;

// ---- client → server (§6) ----
const helloShape = {
  id: requestId,
  versions: list(uint(1, 65_535), 16, 1),
  client_name: str({ min: 1, max: 64 }),
  client_version: optional(shortText),
  user: userName,
  host: hostName,
  display: optional(displayName),
  token: optional(str({ min: 1, max: 1024 })),
  resume: optional(record({ session: hex32, token: hex64 })),
} as const;
const checkoutShape = {
  id: requestId,
  feature: featureName,
  count: optional(uint(1, MAX_CHECKOUT_COUNT)),
  key: optional(requestKey),
  // Capability "queue": wait up to this long in the feature's queue instead of being denied.
  wait_ms: optional(uint(0, MAX_WAIT_MS)),
} as const;
const heartbeatShape = {
  id: requestId,
  leases: optional(
    list(record({ lease: hex32, fencing, idle_ms: optional(durationMs) }), MAX_HEARTBEAT_LEASES),
  ),
} as const;
const checkinShape = { id: requestId, lease: hex32, fencing } as const;
const statusShape = { id: requestId, feature: optional(featureName) } as const;
const leasesShape = {
  id: requestId,
  feature: optional(featureName),
  user: optional(userName),
  host: optional(hostName),
  // Capability "models". (Not `type`: that key names the message.)
  seat_type: optional(seatType),
} as const;
const queueShape = { id: requestId, feature: optional(featureName) } as const;
const queueCancelShape = { id: requestId, ticket: hex32 } as const;
const byeShape = { id: requestId } as const;

// ---- server → client (§7) ----
const leaseGrant = record({ lease: hex32, feature: featureName, count: uint(1, MAX_SAFE), fencing });
const leaseInfo = record({
  lease: hex32,
  feature: featureName,
  user: userName,
  host: hostName,
  display: optional(displayName),
  // From the user directory, when it knows the user; only in leases_ok (an admin request).
  display_name: optional(displayName),
  email: optional(email),
  client_name: str({ min: 1, max: 64 }),
  peer: optional(str({ min: 0, max: 128 })),
  count: uint(1, MAX_SAFE),
  type: seatType,
  group: optional(groupName),
  shared: optional(bool()),
  age_ms: durationMs,
  idle_ms: durationMs,
  heartbeat_age_ms: durationMs,
});
const groupUsage = record({
  name: groupName,
  in_use: seatCount,
  reserve: optional(seatCount),
  max: optional(seatCount),
});
const waiterInfo = record({
  ticket: hex32,
  feature: featureName,
  user: userName,
  host: hostName,
  count: uint(1, MAX_SAFE),
  position: uint(1, MAX_SAFE),
  priority: uint(0, MAX_SAFE),
  group: optional(groupName),
  waited_ms: durationMs,
  wait_left_ms: durationMs,
});
const featureStatus = record({
  name: featureName,
  model: literal(['concurrent', 'named', 'mixed']),
  seats: seatCount,
  in_use: seatCount,
  free: seatCount,
  queued: seatCount,
  overdraft: seatCount,
  idle_timeout_ms: optional(durationMs),
  // Capability "models".
  named_seats: optional(seatCount),
  named_in_use: optional(seatCount),
  concurrent_seats: optional(seatCount),
  concurrent_in_use: optional(seatCount),
  groups: optional(list(groupUsage, 10_000)),
  leases: list(leaseInfo, 1_000_000),
});

const helloOkShape = {
  id: requestId,
  version: uint(1, 65_535),
  server_name: shortText,
  server_version: shortText,
  session: hex32,
  resume_token: hex64,
  resumed: bool(),
  heartbeat_interval_ms: uint(1, MAX_SAFE),
  lease_ttl_ms: uint(1, MAX_SAFE),
  max_frame_bytes: uint(1024, 16 * 1024 * 1024),
  capabilities: list(shortText, 64),
  leases: list(leaseGrant, 1_000_000),
  // Capability "admin": the identity the server gave the session (with a personal token, the
  // token's user) and the connection's admin role, if any.
  user: optional(userName),
  role: optional(literal(['admin', 'manager', 'viewer'])),
} as const;
const checkoutOkShape = {
  id: requestId,
  lease: hex32,
  feature: featureName,
  count: uint(1, MAX_SAFE),
  fencing,
  ttl_ms: uint(1, MAX_SAFE),
  idle_timeout_ms: optional(durationMs),
} as const;
const heartbeatOkShape = {
  id: requestId,
  ttl_ms: uint(1, MAX_SAFE),
  lost: list(record({ lease: hex32, code }), MAX_HEARTBEAT_LEASES),
} as const;
const checkinOkShape = { id: requestId, released: bool() } as const;
const statusOkShape = {
  id: requestId,
  server: record({ name: shortText, version: shortText, uptime_ms: durationMs }),
  features: list(featureStatus, 100_000),
} as const;
const leasesOkShape = { id: requestId, leases: list(leaseInfo, 1_000_000) } as const;
const byeOkShape = { id: requestId, released: uint(0, MAX_SAFE) } as const;
const checkoutQueuedShape = {
  id: requestId,
  ticket: hex32,
  feature: featureName,
  count: uint(1, MAX_SAFE),
  position: uint(1, MAX_SAFE),
  wait_ms: durationMs,
  message: text,
} as const;
const queueOkShape = { id: requestId, waiters: list(waiterInfo, 1_000_000) } as const;
const queueCancelOkShape = { id: requestId, cancelled: bool() } as const;
const errorShape = { id: optional(requestId), code, message: text, details: optional(anyMap()) } as const;
const revokedShape = { lease: hex32, feature: featureName, code, reason: shortText, message: text } as const;
const drainingShape = { message: text, grace_ms: durationMs } as const;
const queuePositionShape = { ticket: hex32, feature: featureName, position: uint(1, MAX_SAFE) } as const;
const queueGrantedShape = {
  ticket: hex32,
  lease: hex32,
  feature: featureName,
  count: uint(1, MAX_SAFE),
  fencing,
  ttl_ms: uint(1, MAX_SAFE),
  idle_timeout_ms: optional(durationMs),
} as const;
const queueEndedShape = {
  ticket: hex32,
  feature: featureName,
  reason: shortText,
  code,
  message: text,
} as const;

type Msg<T extends MessageType, S extends Shape> = { type: T } & InferShape<S>;

export type Hello = Msg<'hello', typeof helloShape>;
export type Checkout = Msg<'checkout', typeof checkoutShape>;
export type Heartbeat = Msg<'heartbeat', typeof heartbeatShape>;
export type Checkin = Msg<'checkin', typeof checkinShape>;
export type Status = Msg<'status', typeof statusShape>;
export type Leases = Msg<'leases', typeof leasesShape>;
export type Bye = Msg<'bye', typeof byeShape>;
export type HelloOk = Msg<'hello_ok', typeof helloOkShape>;
export type CheckoutOk = Msg<'checkout_ok', typeof checkoutOkShape>;
export type HeartbeatOk = Msg<'heartbeat_ok', typeof heartbeatOkShape>;
export type CheckinOk = Msg<'checkin_ok', typeof checkinOkShape>;
export type StatusOk = Msg<'status_ok', typeof statusOkShape>;
export type LeasesOk = Msg<'leases_ok', typeof leasesOkShape>;
export type ByeOk = Msg<'bye_ok', typeof byeOkShape>;
export type ErrorReply = Msg<'error', typeof errorShape>;
export type Revoked = Msg<'revoked', typeof revokedShape>;
export type Draining = Msg<'draining', typeof drainingShape>;
export type Queue = Msg<'queue', typeof queueShape>;
export type QueueCancel = Msg<'queue_cancel', typeof queueCancelShape>;
export type CheckoutQueued = Msg<'checkout_queued', typeof checkoutQueuedShape>;
export type QueueOk = Msg<'queue_ok', typeof queueOkShape>;
export type QueueCancelOk = Msg<'queue_cancel_ok', typeof queueCancelOkShape>;
export type QueuePosition = Msg<'queue_position', typeof queuePositionShape>;
export type QueueGranted = Msg<'queue_granted', typeof queueGrantedShape>;
export type QueueEnded = Msg<'queue_ended', typeof queueEndedShape>;

export type LeaseGrant = HelloOk['leases'][number];
export type LeaseInfo = LeasesOk['leases'][number];
export type FeatureStatusWire = StatusOk['features'][number];
export type WaiterInfo = QueueOk['waiters'][number];
export type GroupUsage = NonNullable<FeatureStatusWire['groups']>[number];

export type ClientMessage =
  | Hello
  | Checkout
  | Heartbeat
  | Checkin
  | Status
  | Leases
  | Bye
  | Queue
  | QueueCancel
  | AdminRequest;
export type ReplyMessage =
  | HelloOk
  | CheckoutOk
  | CheckoutQueued
  | HeartbeatOk
  | CheckinOk
  | StatusOk
  | LeasesOk
  | ByeOk
  | QueueOk
  | QueueCancelOk
  | AdminReply
  | ErrorReply;
export type PushMessage = Revoked | Draining | QueuePosition | QueueGranted | QueueEnded;
export type ServerMessage = ReplyMessage | PushMessage;
export type Message = ClientMessage | ServerMessage;

/** The reply type that answers each request type. */
export const REPLY_TYPE = {
  hello: 'hello_ok',
  checkout: 'checkout_ok',
  heartbeat: 'heartbeat_ok',
  checkin: 'checkin_ok',
  status: 'status_ok',
  leases: 'leases_ok',
  bye: 'bye_ok',
  queue: 'queue_ok',
  queue_cancel: 'queue_cancel_ok',
  ...ADMIN_REPLY_TYPE,
} as const satisfies Record<ClientMessage['type'], ReplyMessage['type']>;

type Entries = ReadonlyArray<readonly [string, Schema]>;
type Schema = Parameters<typeof parseShape>[0][number][1];

function entriesOf<K extends string>(shapes: Readonly<Record<K, Shape>>): Record<K, Entries> {
  const out = {} as Record<K, Entries>;
  for (const [type, shape] of Object.entries(shapes) as [K, Shape][]) out[type] = Object.entries(shape);
  return out;
}

const CLIENT_SHAPES: Readonly<Record<ClientMessage['type'], Entries>> = {
  hello: Object.entries(helloShape),
  checkout: Object.entries(checkoutShape),
  heartbeat: Object.entries(heartbeatShape),
  checkin: Object.entries(checkinShape),
  status: Object.entries(statusShape),
  leases: Object.entries(leasesShape),
  bye: Object.entries(byeShape),
  queue: Object.entries(queueShape),
  queue_cancel: Object.entries(queueCancelShape),
  ...entriesOf(ADMIN_REQUEST_SHAPES),
};

const SERVER_SHAPES: Readonly<Record<ServerMessage['type'], Entries>> = {
  hello_ok: Object.entries(helloOkShape),
  checkout_ok: Object.entries(checkoutOkShape),
  heartbeat_ok: Object.entries(heartbeatOkShape),
  checkin_ok: Object.entries(checkinOkShape),
  status_ok: Object.entries(statusOkShape),
  leases_ok: Object.entries(leasesOkShape),
  bye_ok: Object.entries(byeOkShape),
  error: Object.entries(errorShape),
  revoked: Object.entries(revokedShape),
  draining: Object.entries(drainingShape),
  checkout_queued: Object.entries(checkoutQueuedShape),
  queue_ok: Object.entries(queueOkShape),
  queue_cancel_ok: Object.entries(queueCancelOkShape),
  queue_position: Object.entries(queuePositionShape),
  queue_granted: Object.entries(queueGrantedShape),
  queue_ended: Object.entries(queueEndedShape),
  ...entriesOf(ADMIN_REPLY_SHAPES),
};

const TYPE_KEY: ReadonlySet<string> = new Set(['type']);

function parseWith<M>(
  shapes: Readonly<Record<string, Entries>>,
  map: WireMap,
  strictness: Strictness,
  side: string,
): M {
  const type = map.type;
  if (typeof type !== 'string') invalid('type', 'is required and must be a string');
  const entries = Object.hasOwn(shapes, type) ? shapes[type] : undefined;
  if (!entries) {
    const shown = printable(type);
    throw new UnknownTypeError(`Unknown ${side} message type '${shown}'.`, { details: { type: shown } });
  }
  return parseShape(entries, map, '', strictness, TYPE_KEY, { type }) as M;
}

/**
 * Validates a decoded map as a client request (what the server receives). Unknown keys are an
 * error here (§3.5). Throws InvalidRequestError or UnknownTypeError.
 */
export function parseClientMessage(map: WireMap): ClientMessage {
  return parseWith<ClientMessage>(CLIENT_SHAPES, map, 'reject-unknown', 'request');
}

/**
 * Validates a decoded map as a reply or push (what the SDK receives). Unknown keys are ignored
 * so that servers may add fields without a version bump (§3.5).
 */
export function parseServerMessage(map: WireMap): ServerMessage {
  return parseWith<ServerMessage>(SERVER_SHAPES, map, 'ignore-unknown', 'server');
}

/** The request id of a map that failed validation, when it has a usable one, so the error can echo it. */
export function peekRequestId(map: WireMap): number | undefined {
  const id = map.id;
  return typeof id === 'number' && Number.isInteger(id) && id >= 1 && id <= 0xffffffff ? id : undefined;
}

const PUSH_TYPES: ReadonlySet<string> = new Set([
  'revoked',
  'draining',
  'queue_position',
  'queue_granted',
  'queue_ended',
]);

/** Whether a server message is a push (no request id; PROTOCOL.md §7.9). */
export function isPush(message: ServerMessage): message is PushMessage {
  return PUSH_TYPES.has(message.type);
}

export function isClientMessageType(type: string): type is ClientMessage['type'] {
  return Object.hasOwn(CLIENT_SHAPES, type);
}

export type * from './admin-messages.js';
