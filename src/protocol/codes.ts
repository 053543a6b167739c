/**
 * Stable error codes: the wire `code` of an `error` reply or push, the `code` of the SDK's error
 * classes, and the reason a denial carries. PROTOCOL.md §8 is the normative table; this object
 * mirrors it one-to-one (test/protocol/spec.test.ts checks that they agree).
 */
export const ErrorCode = {
  // Framing: the connection is closed after the error is sent (PROTOCOL.md §2.3).
  FrameTooLarge: 'FRAME_TOO_LARGE',
  FrameEmpty: 'FRAME_EMPTY',
  MalformedFrame: 'MALFORMED_FRAME',
  // Connection state: the connection is closed.
  HandshakeRequired: 'HANDSHAKE_REQUIRED',
  HandshakeTimeout: 'HANDSHAKE_TIMEOUT',
  UnsupportedVersion: 'UNSUPPORTED_VERSION',
  AuthFailed: 'AUTH_FAILED',
  // Requests: a typed error reply; the connection lives.
  InvalidRequest: 'INVALID_REQUEST',
  UnknownType: 'UNKNOWN_TYPE',
  DuplicateRequestId: 'DUPLICATE_REQUEST_ID',
  Forbidden: 'FORBIDDEN',
  LimitExceeded: 'LIMIT_EXCEEDED',
  // Denials of a checkout (DESIGN §2 "denial").
  UnknownFeature: 'UNKNOWN_FEATURE',
  NoSeats: 'NO_SEATS',
  CountExceedsSeats: 'COUNT_EXCEEDS_SEATS',
  GroupMax: 'GROUP_MAX',
  SeatsReserved: 'SEATS_RESERVED',
  UserNotEnabled: 'USER_NOT_ENABLED',
  UserExcluded: 'USER_EXCLUDED',
  NotAssigned: 'NOT_ASSIGNED',
  UserCap: 'USER_CAP',
  Blocked: 'BLOCKED',
  Draining: 'DRAINING',
  KeyConflict: 'KEY_CONFLICT',
  // Leases and sessions.
  LeaseNotFound: 'LEASE_NOT_FOUND',
  LeaseExpired: 'LEASE_EXPIRED',
  LeaseRevoked: 'LEASE_REVOKED',
  SessionNotFound: 'SESSION_NOT_FOUND',
  // Administration.
  ConfigInvalid: 'CONFIG_INVALID',
  // Anything else.
  Internal: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const ALL_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && ALL_CODES.has(value);
}

/** Codes after which the server closes the connection (PROTOCOL.md §8, column "closes"). */
export const CONNECTION_FATAL: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.FrameTooLarge,
  ErrorCode.FrameEmpty,
  ErrorCode.MalformedFrame,
  ErrorCode.HandshakeRequired,
  ErrorCode.HandshakeTimeout,
  ErrorCode.UnsupportedVersion,
  ErrorCode.AuthFailed,
]);

/**
 * Codes a client may retry later with the same request and hope for success (PROTOCOL.md §8,
 * column "retry"). Everything else fails the same way until something about the request changes.
 */
export const RETRYABLE: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.NoSeats,
  ErrorCode.GroupMax,
  ErrorCode.SeatsReserved,
  ErrorCode.UserCap,
  ErrorCode.Blocked,
  ErrorCode.Draining,
  ErrorCode.HandshakeTimeout,
  ErrorCode.LimitExceeded,
  ErrorCode.Internal,
]);

/** Reasons a lease ends other than its holder's checkin (the `reason` of a `revoked` push). */
export const ReclaimReason = {
  /** The session sent no heartbeat for `lease_ttl`. */
  Expired: 'expired',
  /** The holder reported no user activity for the feature's `idle_timeout`. */
  Idle: 'idle',
  /** An administrator freed the lease. */
  Admin: 'admin',
  /** The feature was removed from the configuration. */
  FeatureRemoved: 'feature_removed',
  /**
   * Someone was waiting and this lease was the one idle longest, past the feature's
   * `reclaim_idle_when_queued` (the spelling is the one the licensing brief gives).
   */
  IdlePreempted: 'idle-preempted',
} as const;

export type ReclaimReason = (typeof ReclaimReason)[keyof typeof ReclaimReason];

/** The error code a holder sees for a lease that ended for `reason`. */
export function codeForReclaim(reason: ReclaimReason): ErrorCode {
  return reason === ReclaimReason.Expired ? ErrorCode.LeaseExpired : ErrorCode.LeaseRevoked;
}
