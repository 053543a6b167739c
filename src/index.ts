/**
 * The public surface of the `leasehold` package (STYLE.md §12: named exports, types in their own
 * block): the client SDK, and the error classes and codes every part of Leasehold shares.
 */

export type {
  AdminApi,
  BlockEntry,
  FreeResult,
  FreeTarget,
  NewUser,
  UserChanges,
  UserEntry,
} from './client/admin.js';
export type { CheckoutOptions, ClientEvents, ConnectOptions } from './client/client.js';
export { LeaseholdClient } from './client/client.js';
export {
  AbortedError,
  ClientClosedError,
  ClientError,
  ClientErrorCode,
  ConnectionLostError,
  ProtocolViolationError,
  RequestTimeoutError,
  ServerUnavailableError,
} from './client/errors.js';
export type { LeaseLostInfo } from './client/lease.js';
export { Lease } from './client/lease.js';
export type { ServerAddress, TlsClientOptions } from './client/transport.js';
export type { FeatureInfo, HolderInfo, ServerStatus } from './client/views.js';
export { CONNECTION_FATAL, ErrorCode, isErrorCode, RETRYABLE, ReclaimReason } from './protocol/codes.js';
export type { ErrorDetails, LeaseholdErrorOptions } from './protocol/errors.js';
export {
  AuthFailedError,
  BlockedError,
  CountExceedsSeatsError,
  DrainingError,
  DuplicateRequestIdError,
  errorFromCode,
  ForbiddenError,
  FrameEmptyError,
  FrameTooLargeError,
  GroupMaxError,
  HandshakeRequiredError,
  HandshakeTimeoutError,
  InternalError,
  InvalidRequestError,
  KeyConflictError,
  LeaseExpiredError,
  LeaseholdError,
  LeaseNotFoundError,
  LeaseRevokedError,
  LimitExceededError,
  MalformedFrameError,
  NoSeatsError,
  NotAssignedError,
  SeatsReservedError,
  SessionNotFoundError,
  UnknownFeatureError,
  UnknownTypeError,
  UnsupportedVersionError,
  UserCapError,
  UserExcludedError,
  UserNotEnabledError,
} from './protocol/errors.js';
export { PROTOCOL_VERSION } from './protocol/messages.js';
