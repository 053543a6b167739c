/**
 * The scenarios run against every target with the same pattern (issue 8): checkout+checkin cycles,
 * heartbeat throughput with many leases held, and contention with waiting. Each returns one row of
 * figures for one target.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { closedLoop, inBatches, jainIndex, latencyStats, round } from './measure.mjs';

async function connectAll(driver, count) {
  const conns = new Array(count);
  await inBatches(conns, 64, async (_, i) => {
    conns[i] = await driver.connect(`bench-${i}`);
  });
  return conns;
}

async function closeAll(driver, conns) {
  await Promise.all(conns.map((c) => driver.close(c).catch(() => undefined)));
}

function row(result, extra = {}) {
  const { opsPerSec, latency, serverCpuS, clientCpuS, otherCpuS, seconds, ops } = result;
  return {
    status: 'ok',
    seconds,
    ops,
    opsPerSec,
    p50Ms: latency.p50Ms,
    p99Ms: latency.p99Ms,
    maxMs: latency.maxMs,
    serverCpuS,
    clientCpuS,
    otherCpuS,
    serverCpuUsPerOp: ops > 0 ? round((serverCpuS * 1e6) / ops, 1) : null,
    clientCpuUsPerOp: ops > 0 ? round((clientCpuS * 1e6) / ops, 1) : null,
    ...extra,
  };
}

/** Checkout+checkin cycles on `connections` connections of a 1,000-seat feature. */
export async function cycles(target, { connections, warmupMs, durationMs }) {
  const { driver } = target;
  const feature = { name: 'cyc', seats: 1000 };
  const conns = await connectAll(driver, connections);
  const workers = conns.map((conn) => async () => {
    const lease = await driver.checkout(conn, feature);
    if (!lease) throw new Error('checkout denied in the cycle scenario (1,000 seats)');
    await driver.checkin(conn, feature, lease);
  });
  try {
    const result = await closedLoop({ workers, warmupMs, durationMs, cpuPids: [target.pid] });
    return row(result, { unit: 'cycles/s', connections });
  } finally {
    await closeAll(driver, conns);
  }
}

/**
 * Heartbeats while `leases` leases are held, spread over `connections` sessions: each closed loop
 * sends one heartbeat listing every lease its session holds (as the SDK does). Ops are heartbeats;
 * lease renewals/s = heartbeats/s × leases per session.
 */
export async function heartbeats(target, { connections, leases, warmupMs, durationMs }) {
  const { driver } = target;
  const feature = { name: 'hb', seats: leases * 2 };
  const conns = await connectAll(driver, connections);
  try {
    const held = conns.map(() => []);
    await inBatches(conns, connections, async (conn, i) => {
      const mine = Math.floor(leases / connections) + (i < leases % connections ? 1 : 0);
      for (let n = 0; n < mine; n++) {
        const lease = await driver.checkout(conn, feature);
        if (!lease) throw new Error('checkout denied while setting up the heartbeat scenario');
        held[i].push(lease);
      }
    });
    const workers = conns.map((conn, i) => {
      const send = driver.heartbeatRequest(feature, held[i]);
      return () => send(conn);
    });
    const result = await closedLoop({ workers, warmupMs, durationMs, cpuPids: [target.pid] });
    const perSession = leases / connections;
    return row(result, {
      unit: 'heartbeats/s',
      connections,
      leases,
      leaseRenewalsPerSec: Math.round(result.opsPerSec * perSession),
    });
  } finally {
    await closeAll(driver, conns);
    if (driver.protocol === 'redis') {
      const c = await driver.connect();
      await c.command('DEL', `sem:${feature.name}`);
      c.close();
    }
  }
}

/**
 * Contention: `clients` clients share `seats` seats; each checks out (waiting in the server's queue
 * when the target has one, else polling every 1 ms), holds the seat `holdMs`, checks in, repeats.
 * Reports cycles/s, cycle latency, the wait for a seat (p50, p99, max = fairness) and Jain's index
 * of the cycles each client completed.
 */
export async function contention(target, { clients, seats, holdMs, warmupMs, durationMs }) {
  const { driver } = target;
  const feature = { name: 'cont', seats };
  const conns = await connectAll(driver, clients);
  const queued = driver.protocol === 'leasehold';
  let retries = 0;
  const workers = conns.map((conn) => async () => {
    const t0 = performance.now();
    let lease = await driver.checkout(conn, feature, queued ? 60_000 : 0);
    while (!lease) {
      retries++;
      await sleep(1);
      lease = await driver.checkout(conn, feature);
    }
    const waited = performance.now() - t0;
    await sleep(holdMs);
    await driver.checkin(conn, feature, lease);
    return waited;
  });
  try {
    // Pushes (queue_position, queue_granted) received in the window: the server's fan-out per cycle.
    let pushes = 0;
    const countPushes = () => conns.reduce((sum, c) => sum + (c.pushes ?? 0), 0);
    const onWindow = (edge) => {
      pushes = edge === 'start' ? -countPushes() : pushes + countPushes();
    };
    const result = await closedLoop({ workers, warmupMs, durationMs, cpuPids: [target.pid], onWindow });
    const wait = latencyStats(result.extra);
    return row(result, {
      unit: 'cycles/s',
      clients,
      seats,
      holdMs,
      waitMode: queued ? 'server queue (wait_ms)' : 'poll every 1 ms',
      waitP50Ms: wait.p50Ms,
      waitP99Ms: wait.p99Ms,
      waitMaxMs: wait.maxMs,
      fairnessJain: jainIndex(result.perWorker),
      cyclesPerClientMin: Math.min(...result.perWorker),
      cyclesPerClientMax: Math.max(...result.perWorker),
      pollRetries: queued ? undefined : retries,
      pushesPerCycle: queued && result.ops > 0 ? round(pushes / result.ops, 1) : undefined,
    });
  } finally {
    await closeAll(driver, conns);
  }
}
