/**
 * Many connections (issue 8, DESIGN §7): N client connections each holding a lease and
 * heartbeating every heartbeat_interval (the run chooses it and the lease ttl), against the durable
 * daemon.
 * Within a measured window every connection also checks out and in a second feature once, at a
 * random moment (open-loop arrivals): the p99 checkout latency under that load. Meanwhile SDK
 * clients in their own processes (bench/sdk-holder.mjs) hold a lease each and are SIGKILLed right
 * after a heartbeat reply; the status of their feature is polled every 10 ms until the seat is
 * free: the reclaim delay, to compare with ttl + 250 ms.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuNow, inBatches, latencyStats, otherCpu, round } from './measure.mjs';
import { rssBytes } from './procs.mjs';
import { startLeasehold } from './targets.mjs';
import { WireClient } from './wire-client.mjs';

const HOLDER = fileURLToPath(new URL('../sdk-holder.mjs', import.meta.url));
const TICK_MS = 10;

/** Starts an SDK holder; resolves with {child, kill: Promise<{killAt, lastHeartbeatAt}>} once it holds the lease. */
function startHolder(port, feature) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HOLDER, `127.0.0.1:${port}`, feature], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`holder exited (${code ?? signal}): ${stderr.slice(-500)}`));
    });
    let killed;
    const kill = new Promise((r) => {
      killed = r;
    });
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      pending += chunk;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const event = JSON.parse(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        nl = pending.indexOf('\n');
        if (event.event === 'leased') resolve({ child, kill });
        if (event.event === 'heartbeat' && child.exitCode === null && !child.killed) {
          // Right after a renewal: the worst case for how long the seat stays taken.
          child.kill('SIGKILL');
          killed({ killAt: performance.timeOrigin + performance.now(), lastHeartbeatAt: event.at });
        }
      }
    });
  });
}

export async function manyConnections({ connections, holders, windowMs, heartbeatMs, ttlMs, stateDir, say }) {
  const features = [
    { name: 'hold', seats: connections * 2 },
    { name: 'probe', seats: connections * 2 },
    ...Array.from({ length: holders }, (_, i) => ({ name: `reclaim-${i}`, seats: 1 })),
  ];
  const daemon = await startLeasehold({
    stateDir,
    durability: 'fsync',
    features,
    server: { heartbeat_interval: `${heartbeatMs}ms`, lease_ttl: `${ttlMs}ms`, handshake_timeout: '60s' },
  });
  const { port, driver } = daemon;
  const clients = new Array(connections);
  const setup = [];
  let heartbeatTimer;
  try {
    // Heartbeats: each connection every heartbeatMs, spread evenly over the ticks, from the moment
    // it holds its lease (opening 10,000 connections takes longer than the ttl).
    const slices = heartbeatMs / TICK_MS;
    let tick = 0;
    let measuring = false;
    const hbLatency = [];
    const hbErrors = {};
    heartbeatTimer = setInterval(() => {
      const slice = tick++ % slices;
      for (let i = slice; i < connections; i += slices) {
        const conn = clients[i];
        // Not open yet, or a reply still awaited.
        if (!conn || conn.hbPending || conn.closed) continue;
        conn.hbPending = true;
        const s = performance.now();
        conn.request(conn.heartbeat).then(
          () => {
            conn.hbPending = false;
            if (measuring) hbLatency.push(performance.now() - s);
          },
          (err) => {
            conn.hbPending = false;
            count(hbErrors, err);
          },
        );
      }
    }, TICK_MS);
    say(`  opening ${connections.toLocaleString('en-US')} connections, each with a lease…`);
    const t0 = performance.now();
    await inBatches(clients, 200, async (_, i) => {
      const s = performance.now();
      const conn = await WireClient.connect(port, '127.0.0.1', 60_000);
      conn.keySeq = 0;
      await conn.hello(`user${i % 1000}`, `host-${i}`);
      const lease = await driver.checkout(conn, features[0]);
      if (!lease) throw new Error('checkout denied while opening connections');
      conn.heartbeat = { type: 'heartbeat', leases: [{ lease: lease.lease, fencing: lease.fencing }] };
      clients[i] = conn;
      setup.push(performance.now() - s);
    });
    const openSeconds = (performance.now() - t0) / 1000;

    // One full round of heartbeats with every connection open before measuring.
    await new Promise((r) => setTimeout(r, heartbeatMs + 200));
    const lostBeforeWindow = clients.filter((c) => c.closed).length;

    say(`  measuring for ${windowMs} ms: one probe checkout per connection, ${holders} SDK holders killed…`);
    const cpu0 = cpuNow([daemon.pid]);
    const w0 = performance.now();
    measuring = true;
    const probeLatency = [];
    const probeErrors = {};
    const probes = clients.map(
      (conn) =>
        new Promise((resolve) => {
          setTimeout(async () => {
            const s = performance.now();
            try {
              const lease = await driver.checkout(conn, features[1]);
              probeLatency.push(performance.now() - s);
              await driver.checkin(conn, features[1], lease);
            } catch (err) {
              count(probeErrors, err);
            }
            resolve();
          }, Math.random() * windowMs);
        }),
    );

    // Reclaim delay, measured while all of the above runs.
    const poller = await WireClient.connect(port);
    await poller.hello('poller');
    // The poller's own session must not expire while it waits (status renews nothing).
    const pollerHeartbeat = setInterval(
      () => poller.request({ type: 'heartbeat' }).catch(() => {}),
      heartbeatMs,
    );
    const reclaims = await Promise.all(
      Array.from({ length: holders }, async (_, i) => {
        const feature = `reclaim-${i}`;
        const holder = await startHolder(port, feature);
        const { killAt, lastHeartbeatAt } = await holder.kill;
        for (;;) {
          await new Promise((r) => setTimeout(r, 10));
          const status = await poller.request({ type: 'status', feature });
          if (status.features[0].in_use === 0) {
            const freedAt = performance.timeOrigin + performance.now();
            return {
              fromKillMs: Math.round(freedAt - killAt),
              fromLastHeartbeatMs: Math.round(freedAt - lastHeartbeatAt),
            };
          }
          if (sinceMs(killAt) > ttlMs * 5)
            return { fromKillMs: null, fromLastHeartbeatMs: null, timedOut: true };
        }
      }),
    );
    await Promise.all(probes);
    measuring = false;
    const seconds = (performance.now() - w0) / 1000;
    const cpu1 = cpuNow([daemon.pid]);
    const serverCpuS = cpu1.servers[0] - cpu0.servers[0];
    const clientCpuS = cpu1.self - cpu0.self;
    const rss = rssBytes(daemon.pid);
    clearInterval(heartbeatTimer);
    heartbeatTimer = undefined;
    clearInterval(pollerHeartbeat);
    poller.destroy();

    const worst = Math.max(...reclaims.map((r) => r.fromLastHeartbeatMs ?? Number.POSITIVE_INFINITY));
    return {
      status: 'ok',
      connections,
      heartbeatIntervalMs: heartbeatMs,
      leaseTtlMs: ttlMs,
      open: { seconds: round(openSeconds, 2), ...prefixed('connectHelloCheckout', latencyStats(setup)) },
      windowSeconds: round(seconds, 2),
      connectionsLostBeforeWindow: lostBeforeWindow,
      probeCheckouts: probeLatency.length,
      probeErrors,
      ...prefixed('checkout', latencyStats(probeLatency)),
      heartbeats: hbLatency.length,
      heartbeatsPerSec: Math.round(hbLatency.length / seconds),
      // A copy: heartbeats still in flight when the clients are destroyed below fail with
      // "connection closed", which is the bench's own teardown, not the daemon's doing.
      heartbeatErrors: { ...hbErrors },
      ...prefixed('heartbeat', latencyStats(hbLatency)),
      serverCpuS: round(serverCpuS, 2),
      clientCpuS: round(clientCpuS, 2),
      otherCpuS: round(otherCpu(cpu0, cpu1, serverCpuS + clientCpuS), 2),
      daemonRssMiB: round(rss / 2 ** 20, 1),
      reclaims,
      reclaimTargetMs: ttlMs + 250,
      reclaimWorstFromLastHeartbeatMs: Number.isFinite(worst) ? worst : null,
    };
  } finally {
    if (heartbeatTimer) clearInterval(heartbeatTimer);
    for (const c of clients) c?.destroy();
    await daemon.stop('SIGKILL');
  }
}

/** Counts an error by its wire code (or message) in `tally`. */
function count(tally, err) {
  const key = err?.code ?? String(err?.message ?? err).slice(0, 80);
  tally[key] = (tally[key] ?? 0) + 1;
}

function sinceMs(killAt) {
  return performance.timeOrigin + performance.now() - killAt;
}

function prefixed(prefix, stats) {
  return {
    [`${prefix}P50Ms`]: stats.p50Ms,
    [`${prefix}P99Ms`]: stats.p99Ms,
    [`${prefix}MaxMs`]: stats.maxMs,
  };
}
