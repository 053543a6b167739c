/**
 * The public surface of the `leasehold` package (STYLE.md §12: named exports, types in their own
 * block). The client SDK joins it with the daemon slice; today it is the error classes and codes
 * every part of Leasehold shares.
 */
export { CONNECTION_FATAL, ErrorCode, isErrorCode, RETRYABLE, ReclaimReason } from './protocol/codes.js';
export type { ErrorDetails, LeaseholdErrorOptions } from './protocol/errors.js';
export {
  AuthFailedError,
  BlockedError,
  CountExceedsSeatsError,
  DrainingError,
  DuplicateRequestIdError,
  errorFromCode,
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
  NotPermittedError,
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
