/**
 * TOML → a validated, typed Config (DESIGN §5). Every problem is collected and reported with the
 * file, the key and what is wrong (`config.toml: features.cad.seats: must be a whole number ≥ 1,
 * got -3`); unknown keys are errors, so a typo never silently falls back to a default.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { LeaseEngine } from '../engine/engine.js';
import type { FeatureConfig, GroupRule } from '../engine/types.js';
import { LeaseholdError } from '../protocol/errors.js';
import { isName, isUserName } from '../protocol/names.js';
import { readAlerts } from './alerts.js';
import { readAuth } from './auth.js';
import { type DirectoryConfig, readDirectory } from './directory.js';
import { ConfigError } from './errors.js';
import { readHistory } from './history.js';
import { readMetrics } from './metrics.js';
import { ConfigReader } from './reader.js';
import { readServerTls } from './tls.js';
import type { Config, ServerConfig } from './types.js';

export const DEFAULTS = {
  listen: '127.0.0.1:27000',
  stateDir: './var',
  heartbeatInterval: '5s',
  leaseTtl: '15s',
  handshakeTimeout: '5s',
  maxFrameBytes: 65_536,
  maxConnections: 10_000,
  maxConnectionsPerAddress: 1_000,
  maxLeasesPerSession: 1_000,
  maxWriteBufferBytes: 1_048_576,
  logLevel: 'info',
  durability: 'fsync',
  snapshotInterval: '5m',
  snapshotRecords: 100_000,
  shutdownTimeout: '10s',
  adminSocket: 'leasehold.sock',
} as const;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const MODELS = ['concurrent', 'named', 'mixed'] as const;
const DURABILITY = ['fsync', 'none'] as const;

/** Reads and validates a config file. Relative `state_dir` is resolved against the file's folder. */
export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason =
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ConfigError(path, [`cannot read the file: ${reason}`], { cause: err });
  }
  return parseConfig(text, path, resolve(path, '..'));
}

/** Validates config text; `baseDir` anchors relative paths (default: the working directory). */
export function parseConfig(text: string, source = '<inline>', baseDir = process.cwd()): Config {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const where = err instanceof TomlError ? `line ${err.line}, column ${err.column}: ` : '';
    const first = (err as Error).message.split('\n')[0] ?? 'invalid TOML';
    throw new ConfigError(source, [`${where}not valid TOML: ${first}`], { cause: err });
  }
  const r = new ConfigReader(doc);
  r.allowOnly([
    'server',
    'features',
    'users',
    'groups',
    'auth',
    'admins',
    'audit',
    'usage',
    'metrics',
    'alerts',
  ]);
  const server = readServer(r.child('server') ?? new ConfigReader({}, 'server', r.problems), baseDir);
  const directory = readDirectory(r, baseDir);
  const features = readFeatures(r, directory);
  const alerts = readAlerts(r, doc, features, directory);
  const auth = readAuth(r, baseDir);
  const history = readHistory(r);
  const metrics = readMetrics(r, server);
  if (r.problems.length > 0) throw new ConfigError(source, r.problems);
  const config: Config = { source, server, features, directory, auth, history, metrics, alerts };
  // The engine's own rules (user caps, named capacity, reserves against the pool) are config
  // errors too: build one to find out, as the daemon would at start.
  const problem = engineProblem(config);
  if (problem) throw new ConfigError(source, [problem]);
  return config;
}

function readServer(r: ConfigReader, baseDir: string): ServerConfig {
  r.allowOnly([
    'listen',
    'state_dir',
    'heartbeat_interval',
    'lease_ttl',
    'handshake_timeout',
    'max_frame_bytes',
    'max_connections',
    'max_connections_per_address',
    'max_leases_per_session',
    'max_write_buffer_bytes',
    'log_level',
    'durability',
    'restart_grace',
    'snapshot_interval',
    'snapshot_records',
    'shutdown_timeout',
    'admin_socket',
    'tls',
  ]);
  const stateDir = r.string('state_dir', DEFAULTS.stateDir);
  const tls = readServerTls(r, baseDir);
  const server: ServerConfig = {
    // `listen = []` is allowed when [server.tls] listens instead (TLS only).
    listen: r.endpoints('listen', DEFAULTS.listen, tls !== undefined),
    stateDir: isAbsolute(stateDir) ? stateDir : resolve(baseDir, stateDir),
    heartbeatIntervalMs: r.duration('heartbeat_interval', DEFAULTS.heartbeatInterval, 10),
    leaseTtlMs: r.duration('lease_ttl', DEFAULTS.leaseTtl, 20),
    handshakeTimeoutMs: r.duration('handshake_timeout', DEFAULTS.handshakeTimeout, 10),
    maxFrameBytes: r.integer('max_frame_bytes', DEFAULTS.maxFrameBytes, 1024, 16 * 1024 * 1024),
    maxConnections: r.integer('max_connections', DEFAULTS.maxConnections, 1, 1_000_000),
    maxConnectionsPerAddress: r.integer(
      'max_connections_per_address',
      DEFAULTS.maxConnectionsPerAddress,
      1,
      1_000_000,
    ),
    maxLeasesPerSession: r.integer('max_leases_per_session', DEFAULTS.maxLeasesPerSession, 1, 1_000_000),
    maxWriteBufferBytes: r.integer('max_write_buffer_bytes', DEFAULTS.maxWriteBufferBytes, 65_536, 1 << 30),
    logLevel: r.oneOf('log_level', DEFAULTS.logLevel, LOG_LEVELS),
    durability: r.oneOf('durability', DEFAULTS.durability, DURABILITY),
    restartGraceMs: 0,
    snapshotIntervalMs: r.duration('snapshot_interval', DEFAULTS.snapshotInterval, 1000),
    snapshotRecords: r.integer('snapshot_records', DEFAULTS.snapshotRecords, 0, 1_000_000_000),
    shutdownTimeoutMs: r.duration('shutdown_timeout', DEFAULTS.shutdownTimeout, 100),
    adminSocket: '',
  };
  const socket = r.string('admin_socket', DEFAULTS.adminSocket);
  server.adminSocket = isAbsolute(socket) ? socket : resolve(server.stateDir, socket);
  if (tls) server.tls = tls;
  // DESIGN §3.6: after a restart every session gets at least a lease ttl to come back and resume.
  const grace = r.optionalDuration('restart_grace', 20);
  server.restartGraceMs = grace ?? 2 * server.leaseTtlMs;
  if (grace !== undefined && grace < server.leaseTtlMs) {
    r.problem('restart_grace', 'must be at least server.lease_ttl');
  }
  // DESIGN §3.3: the client must get at least one heartbeat in before its lease runs out.
  if (server.leaseTtlMs < 2 * server.heartbeatIntervalMs) {
    r.problem('lease_ttl', 'must be at least twice server.heartbeat_interval');
  }
  return server;
}

const FEATURE_KEYS = [
  'seats',
  'model',
  'idle_timeout',
  'named_users',
  'open',
  'max_users',
  'users_per_seat',
  'dedupe',
  'include',
  'exclude',
  'groups',
  'reclaim_idle_when_queued',
] as const;
const DEDUPE = ['none', 'user', 'user-host'] as const;

function readFeatures(top: ConfigReader, directory: DirectoryConfig): FeatureConfig[] {
  const r = top.child('features');
  if (!r) return [];
  const groupNames = new Set(directory.groups.map((g) => g.name));
  const out: FeatureConfig[] = [];
  for (const name of r.keys()) {
    if (!isName(name)) {
      r.problem(
        name,
        'a feature name is 1..64 letters, digits, "_", "." or "-", starting with a letter or digit',
      );
      continue;
    }
    const f = r.child(name);
    if (!f) continue;
    f.allowOnly(FEATURE_KEYS);
    const seats = f.requiredInteger('seats', 1, 1_000_000) ?? 1;
    const model = f.oneOf('model', 'concurrent', MODELS);
    const feature: Mutable<FeatureConfig> = { name, seats, model };
    const idle = f.optionalDuration('idle_timeout', 1000);
    if (idle !== undefined) feature.idleTimeoutMs = idle;
    const named = f.stringList('named_users', isUserName, 'user names');
    if (named.length > 0) {
      if (model === 'concurrent') f.problem('named_users', 'needs model = "named" or "mixed"');
      if (named.length > seats) {
        f.problem('named_users', `assigns ${named.length} named seats but the feature has only ${seats}`);
      }
      feature.namedUsers = named;
    }
    const open = f.optionalBoolean('open');
    if (open !== undefined) feature.open = open;
    const maxUsers = f.has('max_users') ? f.requiredInteger('max_users', 1, 10_000_000) : undefined;
    const perSeat = f.optionalPositive('users_per_seat');
    if (maxUsers !== undefined && perSeat !== undefined) {
      f.problem('users_per_seat', 'give max_users or users_per_seat, not both');
    }
    if ((maxUsers !== undefined || perSeat !== undefined) && open === true) {
      f.problem('open', 'a cap on enabled users (max_users, users_per_seat) needs open = false');
    }
    if (maxUsers !== undefined) feature.maxUsers = maxUsers;
    if (perSeat !== undefined) feature.usersPerSeat = perSeat;
    const dedupe = f.oneOf('dedupe', 'none', DEDUPE);
    if (dedupe !== 'none') feature.dedupe = dedupe;
    for (const which of ['include', 'exclude'] as const) {
      const list = f.child(which);
      if (!list) continue;
      list.allowOnly(['users', 'hosts', 'groups']);
      const groups = list.stringList('groups', isName, 'group names');
      for (const g of groups) {
        if (!groupNames.has(g)) list.problem('groups', `names group "${g}", which no [groups.${g}] defines`);
      }
      feature[which] = {
        users: list.stringList('users', isUserName, 'user names'),
        hosts: list.stringList('hosts', isUserName, 'host names'),
        groups,
      };
    }
    const rules = f.child('groups');
    if (rules) {
      const groupRules: GroupRule[] = [];
      for (const group of rules.keys()) {
        if (!groupNames.has(group)) {
          rules.problem(group, `no [groups.${group}] defines this group`);
          continue;
        }
        const g = rules.child(group);
        if (!g) continue;
        g.allowOnly(['reserve', 'max']);
        const reserve = g.has('reserve') ? g.requiredInteger('reserve', 0, seats) : undefined;
        const max = g.has('max') ? g.requiredInteger('max', 0, seats) : undefined;
        if (reserve !== undefined && max !== undefined && max < reserve) {
          g.problem('max', `must be at least the reserve (${reserve}), got ${max}`);
        }
        groupRules.push({
          group,
          ...(reserve === undefined ? {} : { reserve }),
          ...(max === undefined ? {} : { max }),
        });
      }
      const reserved = groupRules.reduce((sum, g) => sum + (g.reserve ?? 0), 0);
      if (reserved > seats - named.length) {
        f.problem('groups', `reserves ${reserved} seats but only ${seats - named.length} are not named`);
      }
      if (groupRules.length > 0) feature.groupRules = groupRules;
    }
    const preempt = f.optionalDuration('reclaim_idle_when_queued', 1000);
    if (preempt !== undefined) feature.reclaimIdleWhenQueuedMs = preempt;
    out.push(feature);
  }
  return out;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function engineProblem(config: Config): string | undefined {
  try {
    new LeaseEngine({
      clock: { now: () => 0 },
      leaseTtlMs: config.server.leaseTtlMs,
      features: config.features,
      directory: config.directory,
    });
    return undefined;
  } catch (err) {
    if (err instanceof LeaseholdError) return `features: ${err.message}`;
    throw err;
  }
}
