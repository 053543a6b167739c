/**
 * The running daemon: the engine driven by the monotonic clock and one sweep timer, a listener per
 * configured address, and engine events turned into pushes and log lines (DESIGN §6).
 */
import type { Server, Socket } from 'node:net';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import type { Config, Endpoint } from '../config/types.js';
import type { Clock } from '../engine/clock.js';
import type { LeaseEngine } from '../engine/engine.js';
import { codeForReclaim } from '../protocol/codes.js';
import { ConfigInvalidError, LeaseholdError } from '../protocol/errors.js';
import { formatHostPort } from '../protocol/names.js';
import { AlertWatch } from '../reports/alert-delivery.js';
import type { JournalFaults } from '../store/index.js';
import { Authenticator } from './auth.js';
import { StallCompensatedClock } from './clock.js';
import { ClientConnection } from './connection.js';
import type { ServerContext } from './context.js';
import { History } from './history.js';
import { type AcceptedSocket, listen, listenTls, listenUnix } from './listener.js';
import { createLogger, type Logger } from './logger.js';
import { MetricsServer } from './metrics.js';
import { Persistence } from './persistence.js';
import { SessionLinks } from './session-links.js';
import { Sweeper } from './sweeper.js';
import { grantFields } from './wire-views.js';

export interface DaemonOptions {
  logger?: Logger;
  clock?: Clock;
  /** Reported in hello_ok and status. */
  version?: string;
  /** The file the config came from: `reload` (SIGHUP, admin_reload) rereads it. */
  configPath?: string;
  /** `serve --force-recover`: start from the last good point of damaged state files. */
  forceRecover?: boolean;
  /**
   * Wall clock (epoch ms) for everything the daemon dates: the audit trail, alerts and the engine's
   * block ends; default Date.now. Tests fake it (issue 9: a wall-clock jump must not expire a lease).
   */
  wallClock?: () => number;
  /** Test-only: make the journal's writes or fsyncs fail. */
  faults?: JournalFaults;
  /** A write or fsync failed: the daemon has stopped acknowledging and closed its connections. */
  onFatal?: (err: Error) => void;
}

export class Daemon {
  readonly #connections = new Set<ClientConnection>();
  readonly #sockets = new Set<Socket>();
  readonly #perAddress = new Map<string, number>();
  #servers: Server[] = [];
  readonly #tlsServers: Server[] = [];
  #metrics: MetricsServer | undefined;
  #alerts: AlertWatch | undefined;
  #closed = false;

  private constructor(
    public config: Config,
    readonly engine: LeaseEngine,
    readonly ctx: ServerContext,
    readonly persistence: Persistence,
    private readonly configPath: string | undefined,
  ) {}

  get #history(): History {
    return this.ctx.audit as History;
  }

  /** The usage rollups (issue 7), live. */
  get usage(): History['rollups'] {
    return this.#history.rollups;
  }

  /** Exit code for `serve` after a requested shutdown. */
  readonly shutdownExitCode = 0;
  #onShutdownRequested: (() => void) | undefined;

  /** Who stops the process when an admin asks for a shutdown (serve); without one, close() runs. */
  onShutdownRequested(callback: () => void): void {
    this.#onShutdownRequested = callback;
  }

  requestShutdown(): void {
    if (this.#onShutdownRequested) this.#onShutdownRequested();
    else void this.close();
  }

  /**
   * Rereads the config file (SIGHUP, `leasehold reload`): features added, removed and changed and
   * the directory brought in line, every lease kept. A bad file changes nothing: the old config stays
   * in force and the problems are logged and thrown as ConfigInvalidError.
   */
  reload(): { added: string[]; removed: string[]; changed: string[] } {
    const { logger } = this.ctx;
    if (!this.configPath) throw new ConfigInvalidError('The daemon was not started from a config file.');
    let next: Config;
    try {
      next = loadConfigFile(this.configPath);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      logger.error(
        { config: this.configPath, problems: err.problems },
        'reload refused: the config is invalid; the old one stays in force',
      );
      // One line: wire messages carry no control characters (PROTOCOL.md §3.3).
      throw new ConfigInvalidError(
        `The config is invalid; the old one stays in force: ${err.problems.join('; ')}`,
        {
          details: { problems: [...err.problems] },
        },
      );
    }
    let result: { added: string[]; removed: string[]; changed: string[] };
    try {
      result = this.engine.reconfigure(next.features, next.directory);
    } catch (err) {
      if (!(err instanceof LeaseholdError)) throw err;
      logger.error(
        { config: this.configPath, err: err.message },
        'reload refused; the old config stays in force',
      );
      throw new ConfigInvalidError(`${this.configPath}: ${err.message} The old config stays in force.`, {
        details: { problems: [err.message] },
      });
    }
    const restartOnly = restartOnlyChanges(this.config, next);
    if (restartOnly.length > 0) {
      logger.warn({ keys: restartOnly }, 'reload: these [server] settings take effect at the next restart');
    }
    this.config = {
      ...this.config,
      features: next.features,
      directory: next.directory,
      auth: next.auth,
      alerts: next.alerts,
    };
    // New credentials apply to the next handshakes; connections already in keep their role.
    this.ctx.auth.update(next.auth);
    this.#alerts?.update(next.alerts);
    this.#history.reloaded(result);
    logger.info({ config: this.configPath, ...result }, 'config reloaded; every lease kept');
    this.ctx.sweeper.poke();
    return result;
  }

  static async start(config: Config, options: DaemonOptions = {}): Promise<Daemon> {
    const logger = options.logger ?? createLogger(config.server.logLevel);
    // Time the daemon could not run (a blocked loop, SIGSTOP) is not counted against leases.
    const ownClock = options.clock
      ? undefined
      : new StallCompensatedClock(undefined, {
          onStall: (ms) =>
            logger.warn(
              { stalledMs: Math.round(ms) },
              'the daemon could not run for a while; deadlines extended by that much',
            ),
        }).start();
    const clock = options.clock ?? ownClock!;
    const s = config.server;
    logger.info(
      {
        version: options.version ?? '0.0.0',
        config: config.source,
        listen: s.listen.map(formatEndpoint),
        ...(s.tls ? { tlsListen: s.tls.listen.map(formatEndpoint) } : {}),
        heartbeatIntervalMs: s.heartbeatIntervalMs,
        leaseTtlMs: s.leaseTtlMs,
        features: config.features.map((f) => ({ name: f.name, seats: f.seats, model: f.model })),
      },
      'leasehold starting',
    );
    let daemon: Daemon | undefined;
    const persistence = await Persistence.open(config, {
      clock,
      logger,
      ...(options.forceRecover ? { forceRecover: true } : {}),
      ...(options.faults ? { faults: options.faults } : {}),
      ...(options.wallClock ? { wallClock: options.wallClock } : {}),
      onFatal: (err) => daemon?.fatal(err, options.onFatal),
      onSync: (ms, records) => {
        if (daemon) daemon.#metrics?.metrics.journalSynced(ms, records);
      },
    });
    const engine = persistence.engine;
    let history: History;
    try {
      history = await History.open({
        config,
        engine,
        now: () => clock.now(),
        ...(options.wallClock ? { wallClock: options.wallClock } : {}),
        logger,
        version: options.version ?? '0.0.0',
      });
    } catch (err) {
      await persistence.close();
      throw err;
    }
    const links = new SessionLinks();
    const sweeper = new Sweeper(engine, clock, (err) => logger.error({ err }, 'sweep failed'));
    const ctx: ServerContext = {
      engine,
      clock,
      logger,
      links,
      sweeper,
      auth: new Authenticator(config.auth, clock, logger),
      journal: persistence,
      audit: history,
      admin: {
        reload: () => daemon!.reload(),
        requestShutdown: () => daemon!.requestShutdown(),
      },
      limits: {
        maxFrameBytes: s.maxFrameBytes,
        handshakeTimeoutMs: s.handshakeTimeoutMs,
        maxWriteBufferBytes: s.maxWriteBufferBytes,
        heartbeatIntervalMs: s.heartbeatIntervalMs,
      },
      serverName: 'leasehold',
      serverVersion: options.version ?? '0.0.0',
      startedAt: clock.now(),
    };
    daemon = new Daemon(config, engine, ctx, persistence, options.configPath);
    daemon.#wireEngineEvents();
    daemon.#alerts = new AlertWatch({
      engine,
      alerts: config.alerts,
      logger,
      ...(options.wallClock ? { wallClock: options.wallClock } : {}),
    });
    // One count of connections across the TCP and TLS listeners: the limits are the server's.
    const counter = {
      total: () => daemon.#sockets.size,
      fromAddress: (address: string) => daemon.#perAddress.get(address) ?? 0,
    };
    const refused = (peer: string, reason: string) => logger.warn({ peer }, `connection refused: ${reason}`);
    try {
      if (config.metrics) {
        const connections = () => daemon.#connections.size;
        const sources = { engine, clock, connections, version: options.version ?? '0.0.0' };
        daemon.#metrics = await MetricsServer.start(config.metrics.listen, sources, logger);
        logger.info({ address: formatEndpoint(daemon.#metrics.address) }, 'metrics listening');
      }
      for (const endpoint of s.listen) {
        const server = await listen(
          endpoint,
          s,
          counter,
          ({ socket, peer, address }) => daemon.#accept(socket, peer, address),
          refused,
        );
        daemon.#servers.push(server);
        logger.info({ address: formatEndpoint(addressOf(server, endpoint)) }, 'listening');
      }
      for (const endpoint of s.tls?.listen ?? []) {
        const server = await listenTls(
          endpoint,
          s.tls!,
          s,
          counter,
          (accepted) => daemon.#acceptTls(accepted),
          refused,
          (peer, reason) => logger.info({ peer, tls: true, err: reason }, 'tls handshake failed'),
        );
        daemon.#servers.push(server);
        daemon.#tlsServers.push(server);
        logger.info({ address: formatEndpoint(addressOf(server, endpoint)), tls: true }, 'listening');
      }
      const adminServer = await listenUnix(s.adminSocket, (socket) =>
        daemon!.#accept(socket, 'admin-socket', 'unix', true),
      );
      daemon.#servers.push(adminServer);
      logger.info({ socket: s.adminSocket }, 'admin socket listening');
    } catch (err) {
      await daemon.close();
      throw err;
    }
    return daemon;
  }

  /** The addresses actually bound (port 0 in the config becomes the port the OS chose). */
  get addresses(): Endpoint[] {
    return this.#servers.map((server) => addressOf(server));
  }

  /** The [metrics] endpoint actually bound, when configured. */
  get metricsAddress(): Endpoint | undefined {
    return this.#metrics?.address;
  }

  /** The TLS listeners' addresses actually bound (also part of `addresses`). */
  get tlsAddresses(): Endpoint[] {
    return this.#tlsServers.map((server) => addressOf(server));
  }

  /**
   * Stops listening, tells connected clients the server is going away (so SDKs fail over), writes
   * the final snapshot and closes the journal — within shutdown_timeout.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.ctx.sweeper.stop();
    if (this.ctx.clock instanceof StallCompensatedClock) this.ctx.clock.stop();
    const metricsClosed = this.#metrics?.close();
    const alertsClosed = this.#alerts?.close();
    this.engine.setDraining(true);
    // server.close() waits for open connections to end, so those are told and closed first.
    const closed = Promise.all(
      this.#servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
    for (const conn of this.#connections) {
      conn.push({ type: 'draining', message: 'The server is shutting down.', grace_ms: 0 });
      conn.close('server shutting down');
    }
    const timeout = this.config.server.shutdownTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const finished = Promise.all([closed, this.persistence.close(), this.#history.close()]).then(
      () => 'done' as const,
    );
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeout);
    });
    const outcome = await Promise.race([finished, late]).finally(() => clearTimeout(timer));
    for (const socket of this.#sockets) socket.destroy();
    await metricsClosed;
    await alertsClosed;
    if (outcome === 'late')
      this.ctx.logger.warn({ timeoutMs: timeout }, 'shutdown took too long; stopping anyway');
    this.ctx.logger.info({ leases: this.engine.leaseCount }, 'leasehold stopped');
  }

  /** A write or fsync failed (issue 5): acknowledge nothing more, drop every connection, report. */
  fatal(err: Error, report: ((err: Error) => void) | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.ctx.logger.fatal({ err }, 'the journal could not be written: stopping; restart to recover');
    this.ctx.sweeper.stop();
    if (this.ctx.clock instanceof StallCompensatedClock) this.ctx.clock.stop();
    void this.#metrics?.close();
    void this.#alerts?.close();
    for (const server of this.#servers) server.close();
    for (const socket of this.#sockets) socket.destroy();
    report?.(err);
  }

  #accept(socket: Socket, peer: string, address: string, admin = false): ClientConnection | undefined {
    if (this.#closed) {
      socket.destroy();
      return undefined;
    }
    this.#sockets.add(socket);
    this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      const n = (this.#perAddress.get(address) ?? 1) - 1;
      if (n <= 0) this.#perAddress.delete(address);
      else this.#perAddress.set(address, n);
    });
    const conn = new ClientConnection(socket, peer, this.ctx, (c) => this.#connections.delete(c), admin);
    this.#connections.add(conn);
    return conn;
  }

  /** A TLS connection: accepted like any other, and the verified client certificate's CN logged. */
  #acceptTls({ socket, peer, address, tls }: AcceptedSocket): void {
    const conn = this.#accept(socket, peer, address);
    if (!conn) return;
    const { logger } = this.ctx;
    if (tls?.clientCert !== undefined) {
      logger.info(
        { conn: conn.connectionId, peer, tls: true, clientCert: tls.clientCert },
        'connection accepted',
      );
    } else if (tls?.unverifiedReason !== undefined) {
      // require_client_cert = false: the connection goes on as if it had presented no certificate.
      logger.warn(
        { conn: conn.connectionId, peer, tls: true, err: tls.unverifiedReason },
        'connection accepted; its client certificate did not verify and is ignored',
      );
    } else {
      logger.debug({ conn: conn.connectionId, peer, tls: true }, 'connection accepted');
    }
  }

  #wireEngineEvents(): void {
    const { engine, logger, links } = this.ctx;
    engine.on('granted', ({ lease }) => {
      logger.info(
        {
          lease: lease.id,
          feature: lease.feature,
          count: lease.count,
          fencing: lease.fencing,
          user: lease.user,
          host: lease.host,
          session: lease.sessionId,
        },
        'lease granted',
      );
    });
    engine.on('released', ({ lease }) => {
      logger.info(
        { lease: lease.id, feature: lease.feature, count: lease.count, user: lease.user, host: lease.host },
        'lease released',
      );
    });
    engine.on('reclaimed', ({ lease, reason }) => {
      const message = reclaimMessage(reason, this.config, lease.feature);
      logger.info(
        {
          lease: lease.id,
          feature: lease.feature,
          count: lease.count,
          user: lease.user,
          host: lease.host,
          reason,
        },
        'lease reclaimed',
      );
      links.get(lease.sessionId)?.push({
        type: 'revoked',
        lease: lease.id,
        feature: lease.feature,
        code: codeForReclaim(reason),
        reason,
        message,
      });
    });
    engine.on('denied', (d) => {
      logger.info(
        { feature: d.feature, count: d.count, user: d.user, host: d.host, code: d.code },
        `checkout denied: ${d.message}`,
      );
    });
    engine.on('sessionEnded', ({ sessionId, reason }) => {
      if (reason !== 'expired') return;
      logger.info({ session: sessionId }, 'session expired: no heartbeat within the lease ttl');
      // A connection still open for an expired session is stale: closing it sends the client
      // through reconnect, where the failed resume tells it to start a new session.
      const conn = links.get(sessionId);
      if (conn instanceof ClientConnection) conn.close('session expired');
    });
    engine.on('queued', ({ waiter }) => {
      logger.info(
        {
          ticket: waiter.ticket,
          feature: waiter.feature,
          count: waiter.count,
          user: waiter.user,
          host: waiter.host,
          position: waiter.position,
        },
        'checkout queued',
      );
    });
    engine.on('queuePosition', ({ waiter }) => {
      links.get(waiter.sessionId)?.push({
        type: 'queue_position',
        ticket: waiter.ticket,
        feature: waiter.feature,
        position: waiter.position,
      });
    });
    engine.on('queueGranted', ({ waiter, lease }) => {
      links
        .get(waiter.sessionId)
        ?.push({ type: 'queue_granted', ticket: waiter.ticket, ...grantFields(engine, lease) });
    });
    engine.on('queueLeft', ({ waiter, reason, code, message }) => {
      logger.info(
        { ticket: waiter.ticket, feature: waiter.feature, user: waiter.user, reason, code },
        `left the queue: ${message}`,
      );
      // A cancel is answered by its reply, and a disconnected waiter has nobody to tell.
      if (reason === 'cancelled' || reason === 'disconnected') return;
      links.get(waiter.sessionId)?.push({
        type: 'queue_ended',
        ticket: waiter.ticket,
        feature: waiter.feature,
        reason,
        code,
        message,
      });
    });
    engine.on('seatsChanged', (e) => {
      logger.info(
        { feature: e.feature, seats: e.seats, inUse: e.inUse, overdraft: e.overdraft },
        'seats changed',
      );
    });
  }
}

function reclaimMessage(reason: string, config: Config, feature: string): string {
  switch (reason) {
    case 'expired':
      return `No heartbeat for ${config.server.leaseTtlMs} ms: the lease was reclaimed.`;
    case 'idle': {
      const idle = config.features.find((f) => f.name === feature)?.idleTimeoutMs;
      return `No user activity for ${idle ?? '?'} ms (the idle timeout of '${feature}'): the lease was reclaimed.`;
    }
    case 'admin':
      return 'An administrator freed the lease.';
    case 'feature_removed':
      return `Feature '${feature}' was removed from the configuration.`;
    case 'idle-preempted':
      return `Someone is waiting for '${feature}' and this lease was the one idle longest: it was reclaimed for them.`;
    default:
      return `The lease was reclaimed (${reason}).`;
  }
}

function addressOf(server: Server, fallback?: Endpoint): Endpoint {
  const a = server.address();
  if (a && typeof a === 'object') return { host: a.address, port: a.port };
  return fallback ?? { host: 'unknown', port: 0 };
}

function formatEndpoint(e: Endpoint): string {
  return formatHostPort(e.host, e.port);
}

/** [server] keys a reload cannot apply to a running daemon. */
function restartOnlyChanges(before: Config, after: Config): string[] {
  const a = before.server;
  const b = after.server;
  const keys: string[] = [];
  if (JSON.stringify(a.listen) !== JSON.stringify(b.listen)) keys.push('listen');
  // [server.tls] is applied when the TLS listeners start. (So is a certificate renewed in place,
  // which this comparison of paths cannot notice.)
  if (JSON.stringify(a.tls) !== JSON.stringify(b.tls)) keys.push('tls');
  if (a.stateDir !== b.stateDir) keys.push('state_dir');
  if (a.adminSocket !== b.adminSocket) keys.push('admin_socket');
  if (a.leaseTtlMs !== b.leaseTtlMs) keys.push('lease_ttl');
  if (a.heartbeatIntervalMs !== b.heartbeatIntervalMs) keys.push('heartbeat_interval');
  if (a.durability !== b.durability) keys.push('durability');
  if (a.maxFrameBytes !== b.maxFrameBytes) keys.push('max_frame_bytes');
  return keys;
}
