/**
 * The scale scenario (issue 8, DESIGN §7): N leases held at once.
 *
 * Engine alone (bench/scale-engine.mjs, its own process): RSS and heap per lease, expiry sweep cost.
 * Real daemon, same state directory throughout:
 *   1. start (log_level warn), fill N leases over N/1000 sessions (1,000 leases each, with request
 *      keys as the SDK sends) from as many connections; RSS before and after;
 *   2. kill -9, start again (log_level info): recovery = snapshot (empty) + replay of N journal
 *      records, from the daemon's own log lines ("leasehold starting" → "recovered …");
 *   3. SIGTERM: the final snapshot of N leases, its duration from the "snapshot written" line;
 *   4. start again: recovery from that snapshot alone; RSS of the recovered daemon.
 */
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cpuNow, inBatches, otherCpu, round } from './measure.mjs';
import { rssBytes } from './procs.mjs';
import { startLeasehold } from './targets.mjs';

const ENGINE_CHILD = fileURLToPath(new URL('../scale-engine.mjs', import.meta.url));
const run = promisify(execFile);

/** The engine-only figures for one shape, from a fresh process. */
export async function engineScale(leases, perSession, keys = true) {
  const args = ['--expose-gc', '--max-old-space-size=8192', ENGINE_CHILD, String(leases), String(perSession)];
  if (!keys) args.push('--no-keys');
  const { stdout } = await run(process.execPath, args, { maxBuffer: 1 << 20, timeout: 600_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1));
}

/** Collects the daemon's JSON log lines whose message matches `wanted`. */
function logCollector(wanted) {
  const lines = [];
  const onLine = (line) => {
    if (!wanted.test(line)) return;
    try {
      lines.push(JSON.parse(line));
    } catch {
      // Not a log line.
    }
  };
  return { lines, onLine, find: (re) => lines.find((l) => re.test(l.msg)) };
}

const WANTED = /leasehold starting|recovered|caught up|snapshot written|"listening"|leasehold stopped/;

/** The port accepts a moment before its "listening" line reaches us: wait for the line (≤ 10 s). */
async function untilLogged(log, re) {
  for (let i = 0; i < 1000 && !log.find(re); i++) await sleep(10);
}

function recoveryFrom(log) {
  const starting = log.find(/^leasehold starting$/);
  const recovered = log.find(/recovered/);
  if (!starting || !recovered) return { recoveryMs: null };
  const listening = log.find(/^listening$/);
  return {
    recoveryMs: recovered.time - starting.time,
    // After recovery and before listening: the audit trail's start line and the usage rollups.
    recoveredToListeningMs: listening ? listening.time - recovered.time : null,
    replayed: recovered.replayed,
    snapshotSeq: recovered.snapshotSeq,
    leasesRecovered: recovered.leases,
  };
}

export async function daemonScale({ leases, stateDir, say }) {
  const perSession = 1000;
  const sessions = Math.ceil(leases / perSession);
  const features = [{ name: 'big', seats: leases }];
  // Nothing may expire while the bench looks: a long ttl; snapshots only when asked (SIGTERM).
  const server = { lease_ttl: '1h', snapshot_interval: '10h', shutdown_timeout: '10m' };
  const base = { stateDir, durability: 'fsync', features, server };
  const out = { leases, sessions, leasesPerSession: perSession };

  // 1. Fill.
  const d1 = await startLeasehold({ ...base, logLevel: 'warn' });
  await sleep(300);
  const rssEmpty = rssBytes(d1.pid);
  const conns = [];
  let fillMs;
  let fillCpu;
  try {
    say(`  filling ${leases.toLocaleString('en-US')} leases over ${sessions} sessions…`);
    const cpu0 = cpuNow([d1.pid]);
    const t0 = performance.now();
    // The checkout rate in each tenth of the fill: does it fall as the table grows?
    let granted = 0;
    let tenth = 1;
    let lastAt = t0;
    const progress = [];
    await inBatches(new Array(sessions).fill(0), sessions, async (_, s) => {
      const conn = await d1.driver.connect(`user${s}`);
      conns.push(conn);
      const n = Math.min(perSession, leases - s * perSession);
      for (let i = 0; i < n; i++) {
        const lease = await d1.driver.checkout(conn, features[0]);
        if (!lease) throw new Error('checkout denied while filling');
        if (++granted >= (tenth * leases) / 10) {
          const now = performance.now();
          progress.push({
            upTo: granted,
            checkoutsPerSec: Math.round(leases / 10 / ((now - lastAt) / 1000)),
          });
          lastAt = now;
          tenth++;
        }
      }
    });
    fillMs = performance.now() - t0;
    const cpu1 = cpuNow([d1.pid]);
    const server = cpu1.servers[0] - cpu0.servers[0];
    const client = cpu1.self - cpu0.self;
    fillCpu = { server, client, other: otherCpu(cpu0, cpu1, server + client), progress };
  } catch (err) {
    for (const c of conns) c.destroy();
    await d1.stop('SIGKILL');
    throw err;
  }
  await sleep(1000);
  const rssFull = rssBytes(d1.pid);
  out.fill = {
    seconds: round(fillMs / 1000, 2),
    checkoutsPerSec: Math.round(leases / (fillMs / 1000)),
    connections: sessions,
    serverCpuS: round(fillCpu.server, 2),
    clientCpuS: round(fillCpu.client, 2),
    otherCpuS: round(fillCpu.other, 2),
    byTenth: fillCpu.progress,
  };
  out.daemonRssEmptyMiB = round(rssEmpty / 2 ** 20, 1);
  out.daemonRssFullMiB = round(rssFull / 2 ** 20, 1);
  out.daemonRssBytesPerLeaseAfterFill = Math.round((rssFull - rssEmpty) / leases);
  // 2. Crash: kill -9 with every lease only in the journal.
  await d1.stop('SIGKILL');
  for (const c of conns) c.destroy();

  say('  restart after kill -9 (journal replay)…');
  const log2 = logCollector(WANTED);
  const d2 = await startLeasehold({
    ...base,
    logLevel: 'info',
    onLine: log2.onLine,
    startTimeoutMs: 600_000,
  });
  await untilLogged(log2, /^listening$/);
  out.restartAfterKill = { ...recoveryFrom(log2), readyMs: Math.round(d2.readyMs) };

  // 3. The final snapshot at SIGTERM. `serve` installs its signal handlers only once start-up is
  // complete, a moment after the port accepts: a SIGTERM before that kills it without a snapshot.
  await sleep(1000);
  say('  SIGTERM (final snapshot)…');
  const t3 = performance.now();
  await d2.stop('SIGTERM', 600_000);
  const snap = log2.find(/^snapshot written$/);
  out.snapshot = {
    ms: snap?.ms ?? null,
    leases: snap?.leases ?? null,
    shutdownMs: Math.round(performance.now() - t3),
  };

  // 4. Restart from the snapshot alone.
  say('  restart from the snapshot…');
  const log4 = logCollector(WANTED);
  const d4 = await startLeasehold({
    ...base,
    logLevel: 'info',
    onLine: log4.onLine,
    startTimeoutMs: 600_000,
  });
  await untilLogged(log4, /^listening$/);
  await sleep(1000);
  const rssRecovered = rssBytes(d4.pid);
  out.restartFromSnapshot = { ...recoveryFrom(log4), readyMs: Math.round(d4.readyMs) };
  out.daemonRssRecoveredMiB = round(rssRecovered / 2 ** 20, 1);
  out.daemonRssBytesPerLeaseRecovered = Math.round((rssRecovered - rssEmpty) / leases);
  await d4.stop('SIGKILL');
  return out;
}
