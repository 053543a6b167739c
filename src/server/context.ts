import type { Clock } from '../engine/clock.js';
import type { LeaseEngine } from '../engine/engine.js';
import type { AuditEvent } from '../reports/audit-events.js';
import type { Authenticator } from './auth.js';
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

/**
 * How far the journal is: replies and pushes wait until every change made before them is durable.
 * JournalWriter has this shape; a daemon without persistence uses ALWAYS_DURABLE.
 */
export interface DurabilityGate {
  readonly lastSeq: number;
  readonly durableSeq: number;
  whenDurable(seq: number): Promise<void>;
}

export const ALWAYS_DURABLE: DurabilityGate = {
  lastSeq: 0,
  durableSeq: 0,
  whenDurable: () => Promise.resolve(),
};

/** What admin requests ask of the daemon (PROTOCOL.md §6.10). */
export interface AdminHooks {
  /** Rereads the config file; throws ConfigInvalidError (old config kept) when it is bad. */
  reload(): { added: string[]; removed: string[]; changed: string[] };
  /** Starts a graceful shutdown (after the reply is sent). */
  requestShutdown(): void;
}

/** What every connection and handler shares: one per daemon. */
export interface ServerContext {
  readonly engine: LeaseEngine;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly links: SessionLinks;
  readonly sweeper: Sweeper;
  readonly journal: DurabilityGate;
  readonly admin: AdminHooks;
  readonly limits: ConnectionLimits;
  /** The audit trail (history.ts): admin actions are recorded here with who did them. */
  readonly audit: { record(event: AuditEvent): unknown };
  /** Decides who a connection is at the handshake (auth.ts). */
  readonly auth: Authenticator;
  readonly serverName: string;
  readonly serverVersion: string;
  /** Clock reading when the daemon started, for uptime. */
  readonly startedAt: number;
}
