import type { FeatureConfig } from '../engine/types.js';
import type { AlertConfig } from './alerts.js';
import type { AuthConfig } from './auth.js';
import type { DirectoryConfig } from './directory.js';
import type { HistoryConfig } from './history.js';
import type { MetricsConfig } from './metrics.js';

/** A host and port to listen on or connect to. */
export interface Endpoint {
  host: string;
  port: number;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The validated configuration: every default applied, every duration in milliseconds. */
export interface Config {
  /** The file it came from, for messages; '<inline>' for a config given as text. */
  source: string;
  server: ServerConfig;
  features: FeatureConfig[];
  /** [users.*] and [groups.*]. */
  directory: DirectoryConfig;
  /** [auth] and [admins.*]. */
  auth: AuthConfig;
  /** [alerts.*]: seat alerts (src/reports/alerts.ts), in file order. */
  alerts: AlertConfig[];
  /** [audit] and [usage]: retention of the audit trail and the usage rollups. */
  history: HistoryConfig;
  /** [metrics]: the Prometheus endpoint; absent = no metrics server. */
  metrics?: MetricsConfig;
}

/** [server.tls]: the TLS listeners and their certificate (PEM file paths, absolute). */
export interface TlsServerConfig {
  listen: Endpoint[];
  cert: string;
  key: string;
  /** Client certificates are verified against this CA (and requested) when set. */
  clientCa?: string;
  /** Refuse a TLS client that presents no certificate signed by clientCa. */
  requireClientCert: boolean;
}

export interface ServerConfig {
  /** The plain TCP listeners; [] when only [server.tls] listens. */
  listen: Endpoint[];
  /** TLS listeners, when [server.tls] is configured. */
  tls?: TlsServerConfig;
  stateDir: string;
  heartbeatIntervalMs: number;
  leaseTtlMs: number;
  handshakeTimeoutMs: number;
  maxFrameBytes: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  maxLeasesPerSession: number;
  maxWriteBufferBytes: number;
  logLevel: LogLevel;
  /** "fsync": every change is on disk before it is acknowledged; "none": unsafe, for benchmarks. */
  durability: 'fsync' | 'none';
  /** After a restart, how long a session has to resume before its leases are reclaimed. */
  restartGraceMs: number;
  snapshotIntervalMs: number;
  /**
   * A snapshot is also written once this many journal records were appended since the last one
   * (etcd's snapshot-count): it bounds what a restart after a crash replays. 0: by time only.
   */
  snapshotRecords: number;
  /** SIGTERM: how long draining and the final snapshot may take before the process exits anyway. */
  shutdownTimeoutMs: number;
  /** The local admin socket (absolute path): full admin for whoever can open it (mode 0600). */
  adminSocket: string;
}
