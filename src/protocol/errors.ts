/**
 * One error class per failure (STYLE.md §8). Each has a `name`, a stable `code` that is also the wire
 * code (PROTOCOL.md §8), optional machine-readable `details`, and `cause` chaining. The engine, the
 * server and the SDK all throw these, so a denial reads the same everywhere.
 */
import { ErrorCode, RETRYABLE } from './codes.js';

export type ErrorDetails = Readonly<Record<string, unknown>>;

export interface LeaseholdErrorOptions {
  details?: ErrorDetails;
  cause?: unknown;
}

export class LeaseholdError extends Error {
  override name = 'LeaseholdError';
  readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message: string, options: LeaseholdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  /** Whether the same request may succeed later (PROTOCOL.md §8, column "retry"). */
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

/** A frame's declared length is over the limit. */
export class FrameTooLargeError extends LeaseholdError {
  override name = 'FrameTooLargeError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.FrameTooLarge, message, options);
  }
}

/** A frame declared a length of zero. */
export class FrameEmptyError extends LeaseholdError {
  override name = 'FrameEmptyError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.FrameEmpty, message, options);
  }
}

/** A frame's payload is not one valid MessagePack map with string keys. */
export class MalformedFrameError extends LeaseholdError {
  override name = 'MalformedFrameError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.MalformedFrame, message, options);
  }
}

/** A request came before the handshake. */
export class HandshakeRequiredError extends LeaseholdError {
  override name = 'HandshakeRequiredError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.HandshakeRequired, message, options);
  }
}

/** No handshake arrived within the deadline. */
export class HandshakeTimeoutError extends LeaseholdError {
  override name = 'HandshakeTimeoutError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.HandshakeTimeout, message, options);
  }
}

/** Client and server share no protocol version. */
export class UnsupportedVersionError extends LeaseholdError {
  override name = 'UnsupportedVersionError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.UnsupportedVersion, message, options);
  }
}

/** The credentials were missing or wrong. */
export class AuthFailedError extends LeaseholdError {
  override name = 'AuthFailedError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.AuthFailed, message, options);
  }
}

/** A request has a missing, extra or wrongly typed field, or a value out of range. */
export class InvalidRequestError extends LeaseholdError {
  override name = 'InvalidRequestError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.InvalidRequest, message, options);
  }
}

/** A message type this peer does not know. */
export class UnknownTypeError extends LeaseholdError {
  override name = 'UnknownTypeError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.UnknownType, message, options);
  }
}

/** A request reused the id of a request still in flight on the connection. */
export class DuplicateRequestIdError extends LeaseholdError {
  override name = 'DuplicateRequestIdError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.DuplicateRequestId, message, options);
  }
}

/** The caller's role does not allow the request. */
export class ForbiddenError extends LeaseholdError {
  override name = 'ForbiddenError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.Forbidden, message, options);
  }
}

/** A server limit (leases per session, connections, ...) was reached. */
export class LimitExceededError extends LeaseholdError {
  override name = 'LimitExceededError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.LimitExceeded, message, options);
  }
}

/** The feature is not licensed on this server. */
export class UnknownFeatureError extends LeaseholdError {
  override name = 'UnknownFeatureError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.UnknownFeature, message, options);
  }
}

/** Every seat of the feature is in use. */
export class NoSeatsError extends LeaseholdError {
  override name = 'NoSeatsError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.NoSeats, message, options);
  }
}

/** The checkout asks for more seats than the feature will ever have free. */
export class CountExceedsSeatsError extends LeaseholdError {
  override name = 'CountExceedsSeatsError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.CountExceedsSeats, message, options);
  }
}

/** The caller's group reached its cap for the feature. */
export class GroupMaxError extends LeaseholdError {
  override name = 'GroupMaxError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.GroupMax, message, options);
  }
}

/** The free seats are reserved for other groups. */
export class SeatsReservedError extends LeaseholdError {
  override name = 'SeatsReservedError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.SeatsReserved, message, options);
  }
}

/** The user is not enabled for the feature. */
export class UserNotEnabledError extends LeaseholdError {
  override name = 'UserNotEnabledError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.UserNotEnabled, message, options);
  }
}

/** The user, host or group is excluded from the feature. */
export class UserExcludedError extends LeaseholdError {
  override name = 'UserExcludedError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.UserExcluded, message, options);
  }
}

/** The feature has only named seats and none is assigned to the user. */
export class NotAssignedError extends LeaseholdError {
  override name = 'NotAssignedError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.NotAssigned, message, options);
  }
}

/** The feature's cap on users was reached. */
export class UserCapError extends LeaseholdError {
  override name = 'UserCapError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.UserCap, message, options);
  }
}

/** An administrator blocked this user or host from the feature for a while. */
export class BlockedError extends LeaseholdError {
  override name = 'BlockedError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.Blocked, message, options);
  }
}

/** The server is shutting down and grants nothing new. */
export class DrainingError extends LeaseholdError {
  override name = 'DrainingError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.Draining, message, options);
  }
}

/** The request key was already used for a different checkout. */
export class KeyConflictError extends LeaseholdError {
  override name = 'KeyConflictError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.KeyConflict, message, options);
  }
}

/** No lease with that id is held by this session. */
export class LeaseNotFoundError extends LeaseholdError {
  override name = 'LeaseNotFoundError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.LeaseNotFound, message, options);
  }
}

/** The lease was reclaimed because its session missed heartbeats. */
export class LeaseExpiredError extends LeaseholdError {
  override name = 'LeaseExpiredError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.LeaseExpired, message, options);
  }
}

/** The lease was taken back (idle timeout, an administrator, a removed feature). */
export class LeaseRevokedError extends LeaseholdError {
  override name = 'LeaseRevokedError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.LeaseRevoked, message, options);
  }
}

/** The session to resume does not exist (expired, ended, or a wrong token). */
export class SessionNotFoundError extends LeaseholdError {
  override name = 'SessionNotFoundError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.SessionNotFound, message, options);
  }
}

/** A reload found the config file invalid: the old config stays in force (details.problems). */
export class ConfigInvalidError extends LeaseholdError {
  override name = 'ConfigInvalidError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.ConfigInvalid, message, options);
  }
}

/** The server failed in a way that is not the client's fault. */
export class InternalError extends LeaseholdError {
  override name = 'InternalError';
  constructor(message: string, options?: LeaseholdErrorOptions) {
    super(ErrorCode.Internal, message, options);
  }
}

type ErrorClass = new (message: string, options?: LeaseholdErrorOptions) => LeaseholdError;

const CLASS_BY_CODE: { readonly [C in ErrorCode]: ErrorClass } = {
  [ErrorCode.FrameTooLarge]: FrameTooLargeError,
  [ErrorCode.FrameEmpty]: FrameEmptyError,
  [ErrorCode.MalformedFrame]: MalformedFrameError,
  [ErrorCode.HandshakeRequired]: HandshakeRequiredError,
  [ErrorCode.HandshakeTimeout]: HandshakeTimeoutError,
  [ErrorCode.UnsupportedVersion]: UnsupportedVersionError,
  [ErrorCode.AuthFailed]: AuthFailedError,
  [ErrorCode.InvalidRequest]: InvalidRequestError,
  [ErrorCode.UnknownType]: UnknownTypeError,
  [ErrorCode.DuplicateRequestId]: DuplicateRequestIdError,
  [ErrorCode.Forbidden]: ForbiddenError,
  [ErrorCode.LimitExceeded]: LimitExceededError,
  [ErrorCode.UnknownFeature]: UnknownFeatureError,
  [ErrorCode.NoSeats]: NoSeatsError,
  [ErrorCode.CountExceedsSeats]: CountExceedsSeatsError,
  [ErrorCode.GroupMax]: GroupMaxError,
  [ErrorCode.SeatsReserved]: SeatsReservedError,
  [ErrorCode.UserNotEnabled]: UserNotEnabledError,
  [ErrorCode.UserExcluded]: UserExcludedError,
  [ErrorCode.NotAssigned]: NotAssignedError,
  [ErrorCode.UserCap]: UserCapError,
  [ErrorCode.Blocked]: BlockedError,
  [ErrorCode.Draining]: DrainingError,
  [ErrorCode.KeyConflict]: KeyConflictError,
  [ErrorCode.LeaseNotFound]: LeaseNotFoundError,
  [ErrorCode.LeaseExpired]: LeaseExpiredError,
  [ErrorCode.LeaseRevoked]: LeaseRevokedError,
  [ErrorCode.SessionNotFound]: SessionNotFoundError,
  [ErrorCode.ConfigInvalid]: ConfigInvalidError,
  [ErrorCode.Internal]: InternalError,
};

/** The error class for a wire code: how the SDK turns an `error` reply into a typed exception. */
export function errorFromCode(
  code: ErrorCode,
  message: string,
  options?: LeaseholdErrorOptions,
): LeaseholdError {
  return new CLASS_BY_CODE[code](message, options);
}
