import type { Clock } from '../engine/clock.js';
import type { LeaseEngine } from '../engine/engine.js';
import type { Logger } from './logger.js';
import type { SessionLinks } from './session-links.js';
import type { Sweeper } from './sweeper.js';

/** The limits a connection enforces (from [server] in the config). */
export interface ConnectionLimits {
  readonly maxFrameBytes: number;
  readonly handshakeTimeoutMs: number;
  readonly maxWriteBufferBytes: number;
  readonly heartbeatIntervalMs: number;
}

/** What every connection and handler shares: one per daemon. */
export interface ServerContext {
  readonly engine: LeaseEngine;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly links: SessionLinks;
  readonly sweeper: Sweeper;
  readonly limits: ConnectionLimits;
  readonly serverName: string;
  readonly serverVersion: string;
  /** Clock reading when the daemon started, for uptime. */
  readonly startedAt: number;
}
