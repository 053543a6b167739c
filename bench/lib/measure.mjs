/**
 * The load pattern and its statistics: closed-loop workers (each sends its next request only when
 * the previous reply is in), a warm-up, then a measured window in which every cycle's latency is
 * kept and the CPU time of the server processes and of this load generator is read at both ends.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSeconds, machineBusySeconds, selfCpuSeconds } from './procs.mjs';

/** Value at quantile q (0..1) of an ascending array (nearest rank). */
function quantile(sorted, q) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

/** p50, p99, max and count of a list of milliseconds, rounded to microseconds. */
export function latencyStats(samples) {
  const sorted = Float64Array.from(samples).sort();
  const r = (x) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);
  return {
    count: sorted.length,
    p50Ms: r(quantile(sorted, 0.5)),
    p99Ms: r(quantile(sorted, 0.99)),
    maxMs: r(sorted.length ? sorted[sorted.length - 1] : Number.NaN),
  };
}

/** Jain's fairness index of per-client counts: 1 = perfectly even, 1/n = one client got everything. */
export function jainIndex(counts) {
  const n = counts.length;
  if (n === 0) return null;
  let sum = 0;
  let squares = 0;
  for (const c of counts) {
    sum += c;
    squares += c * c;
  }
  return squares === 0 ? null : Math.round(((sum * sum) / (n * squares)) * 1000) / 1000;
}

/** CPU seconds of each pid and of this process, now. */
function cpuNow(pids) {
  return {
    servers: pids.map((pid) => cpuSeconds(pid)),
    self: selfCpuSeconds(),
    machine: machineBusySeconds(),
  };
}

/**
 * CPU seconds the machine spent on anything but the measured processes between two readings: other
 * programs on a shared machine, and kernel work not charged to a process (loopback softirqs, the
 * filesystem journal thread). A large figure means the row was measured on a busy machine.
 */
export function otherCpu(cpu0, cpu1, measured) {
  return cpu1.machine - cpu0.machine - measured;
}

export { cpuNow };

/**
 * Runs `workers` (async functions doing one cycle each; a cycle may return a number, e.g. how long
 * it waited, kept in `extra`) in closed loops: `warmupMs` unmeasured, then `durationMs` measured.
 * Returns ops/s, latency stats, the CPU seconds used by `cpuPids` and by the load generator within
 * the window, and the number of cycles each worker completed in it. `onWindow('start' | 'end')` is
 * called at the edges of the measured window.
 */
export async function closedLoop({ workers, warmupMs, durationMs, cpuPids = [], onWindow = () => {} }) {
  let measuring = false;
  let stop = false;
  const samples = [];
  const extra = [];
  const perWorker = new Array(workers.length).fill(0);
  let failure;
  const loops = workers.map(async (cycle, i) => {
    while (!stop) {
      const t0 = performance.now();
      let value;
      try {
        value = await cycle();
      } catch (err) {
        failure ??= err;
        stop = true;
        return;
      }
      if (measuring) {
        samples.push(performance.now() - t0);
        if (typeof value === 'number') extra.push(value);
        perWorker[i]++;
      }
    }
  });
  await Promise.race([sleep(warmupMs), Promise.all(loops)]);
  onWindow('start');
  const cpu0 = cpuNow(cpuPids);
  const t0 = performance.now();
  measuring = true;
  await Promise.race([sleep(durationMs), Promise.all(loops)]);
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuNow(cpuPids);
  onWindow('end');
  stop = true;
  await Promise.all(loops);
  if (failure) throw failure;
  const serverCpu = cpu1.servers.reduce((sum, c, i) => sum + (c - cpu0.servers[i]), 0);
  return {
    seconds: round(seconds, 3),
    ops: samples.length,
    opsPerSec: Math.round(samples.length / seconds),
    latency: latencyStats(samples),
    extra,
    perWorker,
    serverCpuS: round(serverCpu, 3),
    clientCpuS: round(cpu1.self - cpu0.self, 3),
    otherCpuS: round(otherCpu(cpu0, cpu1, serverCpu + cpu1.self - cpu0.self), 3),
  };
}

export function round(x, digits) {
  if (!Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function inBatches(items, limit, fn) {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(runners);
}
