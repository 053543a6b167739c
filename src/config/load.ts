/**
 * TOML → a validated, typed Config (DESIGN §5). Every problem is collected and reported with the
 * file, the key and what is wrong (`config.toml: features.cad.seats: must be a whole number ≥ 1,
 * got -3`); unknown keys are errors, so a typo never silently falls back to a default.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { FeatureConfig } from '../engine/types.js';
import { ConfigError } from './errors.js';
import { ConfigReader } from './reader.js';
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
} as const;

const FEATURE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const MODELS = ['concurrent', 'named', 'mixed'] as const;

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
  r.allowOnly(['server', 'features']);
  const server = readServer(r.child('server') ?? new ConfigReader({}, 'server', r.problems), baseDir);
  const features = readFeatures(r);
  if (r.problems.length > 0) throw new ConfigError(source, r.problems);
  return { source, server, features };
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
  ]);
  const stateDir = r.string('state_dir', DEFAULTS.stateDir);
  const server: ServerConfig = {
    listen: r.endpoints('listen', DEFAULTS.listen),
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
  };
  // DESIGN §3.3: the client must get at least one heartbeat in before its lease runs out.
  if (server.leaseTtlMs < 2 * server.heartbeatIntervalMs) {
    r.problem('lease_ttl', 'must be at least twice server.heartbeat_interval');
  }
  return server;
}

function readFeatures(top: ConfigReader): FeatureConfig[] {
  const r = top.child('features');
  if (!r) return [];
  const out: FeatureConfig[] = [];
  for (const name of r.keys()) {
    if (!FEATURE_NAME.test(name)) {
      r.problem(
        name,
        'a feature name is 1..64 letters, digits, "_", "." or "-", starting with a letter or digit',
      );
      continue;
    }
    const f = r.child(name);
    if (!f) continue;
    f.allowOnly(['seats', 'model', 'idle_timeout']);
    const seats = f.requiredInteger('seats', 1, 1_000_000) ?? 1;
    const model = f.oneOf('model', 'concurrent', MODELS);
    if (model !== 'concurrent') f.problem('model', `"${model}" is not supported yet; use "concurrent"`);
    const idle = f.optionalDuration('idle_timeout', 1000);
    out.push(idle === undefined ? { name, seats, model } : { name, seats, model, idleTimeoutMs: idle });
  }
  return out;
}
