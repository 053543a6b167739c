/** The protocol layer's surface for the server and the SDK (STYLE.md §12: named exports only). */
export { decodeClientPayload, decodeServerPayload, encodeMessage } from './codec.js';
export {
  CONNECTION_FATAL,
  codeForReclaim,
  ErrorCode,
  isErrorCode,
  RETRYABLE,
  ReclaimReason,
} from './codes.js';
export { errorFromCode, LeaseholdError } from './errors.js';
export { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, frame, HEADER_BYTES } from './frame.js';
export type {
  Bye,
  ByeOk,
  Checkin,
  CheckinOk,
  Checkout,
  CheckoutOk,
  ClientMessage,
  Draining,
  ErrorReply,
  FeatureStatusWire,
  Heartbeat,
  HeartbeatOk,
  Hello,
  HelloOk,
  LeaseGrant,
  LeaseInfo,
  Leases,
  LeasesOk,
  Message,
  PushMessage,
  ReplyMessage,
  Revoked,
  ServerMessage,
  Status,
  StatusOk,
} from './messages.js';
export {
  isClientMessageType,
  MAX_CHECKOUT_COUNT,
  MAX_HEARTBEAT_LEASES,
  MessageType,
  PROTOCOL_VERSION,
  parseClientMessage,
  parseServerMessage,
  peekRequestId,
  REPLY_TYPE,
  SUPPORTED_VERSIONS,
} from './messages.js';
export { decodeMap, encodeValue, MAX_DEPTH, type WireMap, type WireValue } from './msgpack.js';
