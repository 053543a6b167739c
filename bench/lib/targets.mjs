/**
 * The targets the load generator drives, each a server process started here and a driver that
 * speaks to it: the echo bound and Leasehold (Leasehold's wire protocol, bench/lib/wire-client.mjs)
 * and Redis (a counting semaphore in Lua, bench/lib/resp-client.mjs). Every driver offers the same
 * operations (connect, checkout, checkin, heartbeat, close), so a scenario runs the same pattern
 * against every target.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort, startChild, stopChild, waitForPort } from './procs.mjs';
import { RespClient } from './resp-client.mjs';
import { WireClient, WireError } from './wire-client.mjs';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(REPO, 'bin', 'leasehold');
const ECHO = join(REPO, 'bench', 'echo-server.mjs');

// ---- Leasehold protocol driver (echo and Leasehold) -------------------------------------------

/** Leasehold's wire protocol: hello, then checkout (with a request key, as the SDK sends) and checkin. */
export function wireDriver(port) {
  return {
    protocol: 'leasehold',
    async connect(user = 'bench') {
      const conn = await WireClient.connect(port);
      conn.keySeq = 0;
      conn.tickets = new Map();
      // Pushes for a ticket whose checkout_queued reply is not yet handled: both frames can come in
      // one read (one corked write), and the request's promise resolves only after the push is read.
      conn.early = new Map();
      conn.pushes = 0;
      conn.onPush = (push) => {
        conn.pushes++;
        if (push.type === 'queue_granted' || push.type === 'queue_ended') {
          const waiter = conn.tickets.get(push.ticket);
          if (waiter) {
            conn.tickets.delete(push.ticket);
            waiter(push);
          } else conn.early.set(push.ticket, push);
        }
      };
      await conn.hello(user);
      return conn;
    },
    async checkout(conn, feature, waitMs = 0) {
      const request = { type: 'checkout', feature: feature.name, key: `k${++conn.keySeq}` };
      if (waitMs > 0) request.wait_ms = waitMs;
      let reply;
      try {
        reply = await conn.request(request);
      } catch (err) {
        if (err instanceof WireError && err.code === 'NO_SEATS') return undefined;
        throw err;
      }
      if (reply.type === 'checkout_queued') {
        // PROTOCOL.md §6.2: checkout_queued comes before any push about its ticket, but the push
        // may already have been read by the time this line runs (see conn.early).
        let push = conn.early.get(reply.ticket);
        if (push) conn.early.delete(reply.ticket);
        else push = await new Promise((resolve) => conn.tickets.set(reply.ticket, resolve));
        if (push.type !== 'queue_granted') throw new Error(`wait ended without a lease: ${push.code}`);
        reply = push;
      }
      return { lease: reply.lease, fencing: reply.fencing };
    },
    async checkin(conn, _feature, lease) {
      await conn.request({ type: 'checkin', lease: lease.lease, fencing: lease.fencing });
    },
    /** One heartbeat listing every lease given (the SDK lists every lease it holds). */
    heartbeatRequest(_feature, leases) {
      const message = {
        type: 'heartbeat',
        leases: leases.map((l) => ({ lease: l.lease, fencing: l.fencing })),
      };
      return (conn) => conn.request(message);
    },
    async close(conn) {
      await conn.bye();
    },
  };
}

// ---- Redis driver -----------------------------------------------------------------------------

/**
 * The Redis counting semaphore: a sorted set per feature, member = lease id, score = expiry time
 * in ms of Redis's own clock. Acquire drops expired members, counts, and adds with expiry when a
 * seat is free, atomically in one Lua script; release is ZREM; renew is ZADD XX with new expiries.
 */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  return 1
end
return 0`;

const RENEW = `
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
local args = {}
for i = 2, #ARGV do
  args[#args + 1] = expiry
  args[#args + 1] = ARGV[i]
end
return redis.call('ZADD', KEYS[1], 'XX', 'CH', unpack(args))`;

let redisLeaseSeq = 0;

export function redisDriver(port, ttlMs = 15_000) {
  let shas;
  return {
    protocol: 'redis',
    async connect() {
      const conn = await RespClient.connect(port);
      if (!shas) {
        shas = {
          acquire: await conn.command('SCRIPT', 'LOAD', ACQUIRE),
          renew: await conn.command('SCRIPT', 'LOAD', RENEW),
        };
      }
      return conn;
    },
    async checkout(conn, feature) {
      const id = `${process.pid}-${++redisLeaseSeq}`;
      const ok = await conn.command(
        'EVALSHA',
        shas.acquire,
        1,
        `sem:${feature.name}`,
        feature.seats,
        ttlMs,
        id,
      );
      return ok === 1 ? { lease: id } : undefined;
    },
    async checkin(conn, feature, lease) {
      await conn.command('ZREM', `sem:${feature.name}`, lease.lease);
    },
    heartbeatRequest(feature, leases) {
      const args = ['EVALSHA', shas.renew, 1, `sem:${feature.name}`, ttlMs, ...leases.map((l) => l.lease)];
      return (conn) => conn.command(...args);
    },
    async close(conn) {
      conn.close();
    },
  };
}

// ---- starting the servers ---------------------------------------------------------------------

export async function startEcho() {
  const handle = startChild(process.execPath, [ECHO]);
  const line = await handle.waitForLine((l) => l.startsWith('{'), 10_000, 'the echo server');
  const { port } = JSON.parse(line);
  return { handle, port, pid: handle.pid, driver: wireDriver(port), stop: () => stopChild(handle) };
}

/** The TOML of a bench daemon. `features`: [{name, seats}]; `server`: extra [server] keys. */
export function leaseholdConfig({ port, stateDir, durability, logLevel = 'warn', server = {}, features }) {
  const keys = {
    listen: `127.0.0.1:${port}`,
    state_dir: stateDir,
    admin_socket: 'leasehold.sock',
    max_connections: 1_000_000,
    max_connections_per_address: 1_000_000,
    max_leases_per_session: 100_000,
    log_level: logLevel,
    durability,
    ...server,
  };
  const lines = ['[server]'];
  for (const [k, v] of Object.entries(keys)) lines.push(`${k} = ${JSON.stringify(v)}`);
  for (const f of features) {
    lines.push('', `[features.${f.name}]`, `seats = ${f.seats}`, 'model = "concurrent"');
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Starts `node bin/leasehold serve --config <file>` with the state in `stateDir`. `nodeArgs` go to
 * node (e.g. --cpu-prof). Resolves once the daemon accepts connections.
 */
export async function startLeasehold(options) {
  const { stateDir, nodeArgs = [], port = await freePort() } = options;
  mkdirSync(stateDir, { recursive: true });
  const configFile = join(stateDir, 'bench.toml');
  writeFileSync(configFile, leaseholdConfig({ ...options, port }));
  const spawnedAt = performance.timeOrigin + performance.now();
  const handle = startChild(process.execPath, [...nodeArgs, BIN, 'serve', '--config', configFile], {
    cwd: stateDir,
  });
  if (options.onLine) handle.lineListeners.add(options.onLine);
  try {
    await waitForPort(port, options.startTimeoutMs ?? 120_000, () => !handle.exited);
  } catch (err) {
    await stopChild(handle, 'SIGKILL');
    throw new Error(`leasehold did not start: ${err.message}\n${handle.stderrTail}`);
  }
  const readyAt = performance.timeOrigin + performance.now();
  return {
    handle,
    port,
    pid: handle.pid,
    configFile,
    spawnedAt,
    readyMs: readyAt - spawnedAt,
    driver: wireDriver(port),
    stop: (signal = 'SIGTERM', graceMs = 60_000) => stopChild(handle, signal, graceMs),
  };
}

/** redis-server's version line, or undefined when it is not installed. */
export function redisVersion() {
  try {
    return execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** Starts redis-server on a free port, persistence off, or with `appendfsync always` when `aof`. */
export async function startRedis({ dir, aof }) {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--daemonize',
    'no',
    '--protected-mode',
    'no',
    '--loglevel',
    'warning',
    '--maxclients',
    '20000',
  ];
  if (aof) args.push('--appendonly', 'yes', '--appendfsync', 'always');
  else args.push('--appendonly', 'no');
  const handle = startChild('redis-server', args, { cwd: dir });
  try {
    await waitForPort(port, 15_000, () => !handle.exited);
  } catch (err) {
    await stopChild(handle, 'SIGKILL');
    throw new Error(`redis-server did not start: ${err.message}\n${handle.stderrTail}`);
  }
  // Give the server its first cron tick (AOF file creation) before it is measured.
  await sleep(100);
  return { handle, port, pid: handle.pid, driver: redisDriver(port), stop: () => stopChild(handle) };
}
