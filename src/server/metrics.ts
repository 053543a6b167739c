/**
 * The Prometheus endpoint (issue 7 §5), enabled by `[metrics] listen = "host:port"`: GET /metrics
 * answers in the Prometheus text format. FlexLM and RLM offer nothing like it; their users scrape
 * lmstat instead.
 *
 * - Seat gauges are read from the engine at scrape time, with one `featureStatus(undefined,
 *   { leases: false })` call per scrape (O(features + groups), not O(leases)): exact, and free
 *   between scrapes.
 * - Counters and histograms follow engine events (granted, released, reclaimed, denied, queue
 *   grants and departures) and the journal's fsyncs, counted from the daemon's start.
 * - Process metrics (CPU, memory, event loop lag, GC, file descriptors) come from prom-client's
 *   default collectors, registered once per process: they describe the process, not a daemon.
 *
 * Each daemon has its own registry (never prom-client's global one), so tests can run several.
 * Labels are feature, group and reason names only: never user or host names, which would grow
 * without bound and leak who uses what to whoever can scrape.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Endpoint } from '../config/types.js';
import type { Clock } from '../engine/clock.js';
import type { LeaseEngine } from '../engine/engine.js';
import type { EngineEventName, EngineEvents, WaiterView } from '../engine/types.js';
import type { Logger } from './logger.js';

export interface MetricsSources {
  readonly engine: LeaseEngine;
  /** The engine's clock: queue waits are measured on it, like the waiters' `enqueuedAt`. */
  readonly clock: Clock;
  /** Open client connections (TCP, TLS and the admin socket). */
  readonly connections: () => number;
  readonly version: string;
}

/** From a fast local SSD (~0.1 ms) to a disk in trouble (seconds). */
const FSYNC_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];
/** From an instant hand-over to a wait of hours for a busy license. */
const QUEUE_WAIT_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 14_400];

let processRegistry: Registry | undefined;

/**
 * prom-client's default collectors start observers (GC, event loop delay) that cannot be stopped:
 * one set per process, shared by every daemon's registry.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** The daemon's metrics: gauges refreshed per scrape, counters fed by engine events. */
export class DaemonMetrics {
  /** This daemon's metrics and the process metrics, rendered together. */
  readonly registry: Registry;
  readonly #sources: MetricsSources;
  readonly #off: Array<() => void> = [];

  readonly #seats: Gauge<'feature'>;
  readonly #inUse: Gauge<'feature'>;
  readonly #free: Gauge<'feature'>;
  readonly #queued: Gauge<'feature'>;
  readonly #overdraft: Gauge<'feature'>;
  readonly #groupInUse: Gauge<'feature' | 'group'>;
  readonly #groupReserve: Gauge<'feature' | 'group'>;
  readonly #groupMax: Gauge<'feature' | 'group'>;
  readonly #leases: Gauge;
  readonly #connections: Gauge;
  readonly #grants: Counter<'feature'>;
  readonly #releases: Counter<'feature'>;
  readonly #denials: Counter<'feature' | 'reason'>;
  readonly #reclaims: Counter<'feature' | 'reason'>;
  readonly #queueWait: Histogram<'feature' | 'outcome'>;
  readonly #fsync: Histogram;
  readonly #fsyncRecords: Counter;

  constructor(sources: MetricsSources) {
    this.#sources = sources;
    const own = new Registry();
    const registers = [own];
    const gauge = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Gauge<L>({ name, help, labelNames, registers });
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Counter<L>({ name, help, labelNames, registers });

    this.#seats = gauge('leasehold_seats', 'Licensed seats of the feature.', ['feature']);
    this.#inUse = gauge('leasehold_seats_in_use', 'Seats of the feature held by leases.', ['feature']);
    this.#free = gauge('leasehold_seats_free', 'Seats of the feature free to check out.', ['feature']);
    this.#queued = gauge('leasehold_queued', 'Checkouts waiting in the feature queue.', ['feature']);
    this.#overdraft = gauge(
      'leasehold_overdraft',
      'Seats in use beyond the licensed count after the seats were lowered.',
      ['feature'],
    );
    this.#groupInUse = gauge(
      'leasehold_group_seats_in_use',
      'Seats of the feature held by the group (features with a rule for the group).',
      ['feature', 'group'],
    );
    this.#groupReserve = gauge(
      'leasehold_group_seats_reserved',
      'Seats of the feature reserved for the group (rules with a reserve).',
      ['feature', 'group'],
    );
    this.#groupMax = gauge(
      'leasehold_group_seats_max',
      'The most seats of the feature the group may hold (rules with a max).',
      ['feature', 'group'],
    );
    this.#leases = gauge('leasehold_leases', 'Leases held, all features.', []);
    this.#connections = gauge('leasehold_connections', 'Open client connections (all listeners).', []);
    new Gauge({
      name: 'leasehold_build_info',
      help: 'Always 1; the version label says which Leasehold is running.',
      labelNames: ['version'],
      registers,
    }).set({ version: sources.version }, 1);
    this.#grants = counter('leasehold_grants_total', 'Leases granted, at once or from the queue.', [
      'feature',
    ]);
    this.#releases = counter('leasehold_releases_total', 'Leases given back by their holder.', ['feature']);
    this.#denials = counter('leasehold_denials_total', 'Checkouts refused, by error code.', [
      'feature',
      'reason',
    ]);
    this.#reclaims = counter(
      'leasehold_reclaims_total',
      'Leases taken back by the server (expired, idle, admin, feature_removed, idle-preempted).',
      ['feature', 'reason'],
    );
    this.#queueWait = new Histogram({
      name: 'leasehold_queue_wait_seconds',
      help: 'Time checkouts spent in the queue, by how the wait ended (granted or why it was left).',
      labelNames: ['feature', 'outcome'],
      buckets: QUEUE_WAIT_BUCKETS,
      registers,
    });
    this.#fsync = new Histogram({
      name: 'leasehold_journal_fsync_seconds',
      help: 'Duration of each journal fdatasync (durability = "fsync").',
      buckets: FSYNC_BUCKETS,
      registers,
    });
    this.#fsyncRecords = counter(
      'leasehold_journal_synced_records_total',
      'Journal records made durable by an fsync.',
      [],
    );
    this.registry = Registry.merge([own, processMetrics()]);
    this.#watch();
  }

  /** The journal's onSync hook (JournalOptions.onSync). */
  readonly journalSynced = (ms: number, records: number): void => {
    this.#fsync.observe(ms / 1000);
    this.#fsyncRecords.inc(records);
  };

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric as Prometheus text, the seat gauges read from the engine now. */
  render(): Promise<string> {
    this.#refresh();
    return this.registry.metrics();
  }

  /** Stops following the engine's events. */
  stop(): void {
    for (const off of this.#off.splice(0)) off();
  }

  #refresh(): void {
    const { engine, connections } = this.#sources;
    const perFeature = [this.#seats, this.#inUse, this.#free, this.#queued, this.#overdraft];
    const perGroup = [this.#groupInUse, this.#groupReserve, this.#groupMax];
    // A feature or group rule removed by a reload disappears from the gauges.
    for (const g of [...perFeature, ...perGroup]) g.reset();
    for (const f of engine.featureStatus(undefined, { leases: false })) {
      const feature = f.name;
      this.#seats.set({ feature }, f.seats);
      this.#inUse.set({ feature }, f.inUse);
      this.#free.set({ feature }, f.free);
      this.#queued.set({ feature }, f.queued);
      this.#overdraft.set({ feature }, f.overdraft);
      for (const g of f.groups) {
        this.#groupInUse.set({ feature, group: g.name }, g.inUse);
        if (g.reserve !== undefined) this.#groupReserve.set({ feature, group: g.name }, g.reserve);
        if (g.max !== undefined) this.#groupMax.set({ feature, group: g.name }, g.max);
      }
      // Present from the first scrape, so rate() and increase() see the first grant.
      this.#grants.inc({ feature }, 0);
      this.#releases.inc({ feature }, 0);
    }
    this.#leases.set(engine.leaseCount);
    this.#connections.set(connections());
  }

  #watch(): void {
    const { engine, clock } = this.#sources;
    const on = <E extends EngineEventName>(name: E, listener: (payload: EngineEvents[E]) => void) => {
      engine.on(name, listener);
      this.#off.push(() => engine.off(name, listener));
    };
    // Events are delivered as the engine call that caused them returns: the clock is that call's time.
    const waited = (waiter: WaiterView) => Math.max(0, clock.now() - waiter.enqueuedAt) / 1000;
    on('granted', ({ lease }) => this.#grants.inc({ feature: lease.feature }));
    on('released', ({ lease }) => this.#releases.inc({ feature: lease.feature }));
    on('reclaimed', ({ lease, reason }) => this.#reclaims.inc({ feature: lease.feature, reason }));
    on('denied', ({ feature, code }) => this.#denials.inc({ feature, reason: code }));
    on('queueGranted', ({ waiter }) =>
      this.#queueWait.observe({ feature: waiter.feature, outcome: 'granted' }, waited(waiter)),
    );
    on('queueLeft', ({ waiter, reason }) =>
      this.#queueWait.observe({ feature: waiter.feature, outcome: reason }, waited(waiter)),
    );
  }
}

/** The HTTP server in front of DaemonMetrics: GET (or HEAD) /metrics, nothing else. */
export class MetricsServer {
  private constructor(
    readonly metrics: DaemonMetrics,
    readonly server: Server,
  ) {}

  /** Starts following the engine and listens on `endpoint`; rejects (following nothing) if it cannot. */
  static async start(endpoint: Endpoint, sources: MetricsSources, logger: Logger): Promise<MetricsServer> {
    const metrics = new DaemonMetrics(sources);
    const server = createServer((req, res) => void answer(req, res, metrics, logger));
    // Scrapers are few: a cap keeps a misbehaving one from eating the daemon's file descriptors.
    server.maxConnections = 64;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: endpoint.host, port: endpoint.port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      metrics.stop();
      throw err;
    }
    server.on('error', (err) => logger.error({ err }, 'metrics server error'));
    return new MetricsServer(metrics, server);
  }

  /** The address actually bound (port 0 in the config becomes the port the OS chose). */
  get address(): Endpoint {
    const a = this.server.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : { host: 'unknown', port: 0 };
  }

  /** Stops listening, drops open scrape connections and stops following the engine. */
  close(): Promise<void> {
    this.metrics.stop();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  metrics: DaemonMetrics,
  logger: Logger,
): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0];
  if (path !== '/metrics') {
    reply(res, 404, 'Not found: the metrics are at /metrics.\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    reply(res, 405, 'Method not allowed: use GET.\n');
    return;
  }
  let body: string;
  try {
    body = await metrics.render();
  } catch (err) {
    logger.error({ err }, 'metrics scrape failed');
    reply(res, 500, 'The metrics could not be collected; see the daemon log.\n');
    return;
  }
  res.writeHead(200, { 'content-type': metrics.contentType });
  res.end(body);
}

function reply(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}
