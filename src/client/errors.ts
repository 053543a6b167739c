/**
 * Failures that happen on the client side of the wire and so have no wire code. They extend
 * LeaseholdError's shape (name, code, cause) with codes of their own, kept apart from the wire codes.
 */
export const ClientErrorCode = {
  ServerUnavailable: 'SERVER_UNAVAILABLE',
  ConnectionLost: 'CONNECTION_LOST',
  RequestTimeout: 'REQUEST_TIMEOUT',
  ClientClosed: 'CLIENT_CLOSED',
  ProtocolViolation: 'PROTOCOL_VIOLATION',
  Aborted: 'ABORTED',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

export class ClientError extends Error {
  override name = 'ClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** No server in the list could be reached (CLI exit 69). */
export class ServerUnavailableError extends ClientError {
  override name = 'ServerUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ClientErrorCode.ServerUnavailable, message, options);
  }
}

/** The connection closed while a request awaited its reply; the client retries it after reconnecting. */
export class ConnectionLostError extends ClientError {
  override name = 'ConnectionLostError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ClientErrorCode.ConnectionLost, message, options);
  }
}

/** No reply within the request timeout (the server may be down, or unreachable for too long). */
export class RequestTimeoutError extends ClientError {
  override name = 'RequestTimeoutError';
  constructor(message: string) {
    super(ClientErrorCode.RequestTimeout, message);
  }
}

/** The client was closed while the call was under way. */
export class ClientClosedError extends ClientError {
  override name = 'ClientClosedError';
  constructor(message = 'The client is closed.') {
    super(ClientErrorCode.ClientClosed, message);
  }
}

/** The server sent something the protocol does not allow. */
export class ProtocolViolationError extends ClientError {
  override name = 'ProtocolViolationError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ClientErrorCode.ProtocolViolation, message, options);
  }
}

/** The caller's AbortSignal fired. */
export class AbortedError extends ClientError {
  override name = 'AbortedError';
  constructor(message = 'The operation was aborted.', options?: { cause?: unknown }) {
    super(ClientErrorCode.Aborted, message, options);
  }
}
