/**
 * The engine alone, one checkout + checkin cycle at a time (issue 8): what the daemon's main thread
 * spends in LeaseEngine per cycle of the 64-connection benchmark, without sockets, codec or journal
 * writes, so that changes to the engine can be compared in CPU time rather than in noisy
 * end-to-end throughput.
 *
 *   npm run build && node --expose-gc bench/engine-cycles.mjs [CYCLES] [--dist=DIR] [--bare] [--json]
 *
 * One feature of 1,000 seats, 64 sessions. Each round checks out one lease per session (with a
 * request key, as the SDK sends, through requestCheckout, as the checkout handler calls it) and then
 * checks the 64 leases in, so 64 leases are held at the peak, as with 64 connections. The listeners
 * are the daemon's: the journal's (toJournalRecord on every persisted event, src/server/persistence.ts),
 * the daemon's log lines (src/server/daemon.ts: the objects are built, the logger is a no-op, as at
 * log level warn), the audit trail's (src/reports/audit-events.ts) and the metrics counters'.
 * `--bare` attaches none: the engine's own cost, with no event payload built.
 *
 * Reports CPU µs per cycle (process.cpuUsage, user + system) and bytes allocated on the V8 heap per
 * cycle (v8.GCProfiler: the heap growth plus what every GC in between collected). `--dist=DIR` runs
 * another build (say a copy of the old dist/) for A/B comparisons; alternate the runs, the machine
 * is noisy.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';

const args = process.argv.slice(2);
const cycles = Number(args.find((a) => /^\d+$/.test(a)) ?? 200_000);
const distArg = args.find((a) => a.startsWith('--dist='));
const dist = pathToFileURL(`${distArg === undefined ? 'dist' : distArg.slice('--dist='.length)}/`);
const asJson = args.includes('--json');
const bare = args.includes('--bare');

const { ManualClock } = await import(new URL('engine/clock.js', dist).href);
const { LeaseEngine } = await import(new URL('engine/engine.js', dist).href);
const { toJournalRecord } = await import(new URL('engine/journal-records.js', dist).href);
const { auditEngineEvents } = await import(new URL('reports/audit-events.js', dist).href);
const { JOURNALED_EVENTS } = await import(new URL('server/persistence.js', dist).href);
if (JOURNALED_EVENTS === undefined) {
  throw new Error(
    `${fileURLToPath(dist)}: this build predates the JOURNALED_EVENTS export of server/persistence.js; rebuild it`,
  );
}

const SESSIONS = 64;
const FEATURE = 'f';

/** Keeps the last few outputs reachable, as a journal's pending batch would, so none is optimised away. */
const sink = new Array(64);
let sunk = 0;
const keep = (value) => {
  sink[sunk++ & 63] = value;
};
const log = (fields, message) => keep(fields ?? message);

function attachDaemonListeners(engine, clock) {
  for (const name of JOURNALED_EVENTS) {
    engine.on(name, (payload) => {
      const record = toJournalRecord(name, payload);
      if (record) keep(record);
    });
  }
  // daemon.ts #wireEngineEvents, with a logger that drops everything (log level warn).
  engine.on('granted', ({ lease }) =>
    log({
      lease: lease.id,
      feature: lease.feature,
      count: lease.count,
      fencing: lease.fencing,
      user: lease.user,
      host: lease.host,
      session: lease.sessionId,
    }),
  );
  engine.on('released', ({ lease }) =>
    log({ lease: lease.id, feature: lease.feature, count: lease.count, user: lease.user, host: lease.host }),
  );
  engine.on('reclaimed', ({ lease, reason }) => log({ lease: lease.id, reason }));
  engine.on('denied', (d) => log({ feature: d.feature, code: d.code }));
  engine.on('sessionEnded', ({ sessionId }) => log({ session: sessionId }));
  engine.on('queued', ({ waiter }) => log({ ticket: waiter.ticket }));
  engine.on('queuePosition', ({ waiter }) => log({ ticket: waiter.ticket }));
  engine.on('queueGranted', ({ waiter }) => log({ ticket: waiter.ticket }));
  engine.on('queueLeft', ({ waiter }) => log({ ticket: waiter.ticket }));
  engine.on('seatsChanged', (e) => log({ feature: e.feature }));
  // history.ts: the audit trail.
  auditEngineEvents(engine, () => clock.now(), keep);
  // metrics.ts: counters by feature.
  const counts = new Map();
  const count = (feature) => counts.set(feature, (counts.get(feature) ?? 0) + 1);
  engine.on('granted', ({ lease }) => count(lease.feature));
  engine.on('released', ({ lease }) => count(lease.feature));
}

function setUp() {
  const clock = new ManualClock(0);
  const engine = new LeaseEngine({
    clock,
    leaseTtlMs: 15_000,
    features: [{ name: FEATURE, seats: 1000, model: 'concurrent' }],
  });
  if (!bare) attachDaemonListeners(engine, clock);
  const sessions = [];
  for (let s = 0; s < SESSIONS; s++) {
    const identity = {
      user: `user${s}`,
      host: `host-${s}`,
      clientName: 'bench',
      peer: `127.0.0.1:${40000 + s}`,
    };
    sessions.push(engine.openSession(identity).sessionId);
  }
  return { clock, engine, sessions };
}

/** `rounds` rounds of 64 checkouts then 64 checkins; the clock moves 1 ms per round. */
function runRounds(bench, rounds, firstKey) {
  const { clock, engine, sessions } = bench;
  const held = new Array(SESSIONS);
  let key = firstKey;
  for (let r = 0; r < rounds; r++) {
    clock.advance(1);
    for (let s = 0; s < SESSIONS; s++) {
      // As handleCheckout builds it (src/server/handlers/leases.ts).
      const result = engine.requestCheckout(sessions[s], { feature: FEATURE, count: 1, key: `k${key++}` });
      held[s] = result.lease;
    }
    for (let s = 0; s < SESSIONS; s++) {
      const lease = held[s];
      if (!engine.checkin(sessions[s], lease.id, lease.fencing).released) throw new Error('not released');
    }
  }
  return key;
}

function usedHeap(stats) {
  return stats.heapStatistics.usedHeapSize;
}

const bench = setUp();
const rounds = Math.max(1, Math.round(cycles / SESSIONS));
// Warm-up: the JIT settles and the ended-lease caches fill to their bound, as in a long-running daemon.
let nextKey = runRounds(bench, Math.max(rounds, Math.ceil(220_000 / SESSIONS)), 0);
globalThis.gc?.();

const profiler = new v8.GCProfiler();
const heapBefore = v8.getHeapStatistics().used_heap_size;
profiler.start();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
nextKey = runRounds(bench, rounds, nextKey);
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const heapAfter = v8.getHeapStatistics().used_heap_size;
const gcs = profiler.stop().statistics;

let collected = 0;
for (const gc of gcs) collected += usedHeap(gc.beforeGC) - usedHeap(gc.afterGC);
const done = rounds * SESSIONS;
const result = {
  dist: distArg === undefined ? 'dist' : distArg.slice('--dist='.length),
  listeners: bare ? 'no' : 'daemon',
  cycles: done,
  cpuUsPerCycle: +((cpu.user + cpu.system) / done).toFixed(3),
  wallUsPerCycle: +((wallMs * 1000) / done).toFixed(3),
  bytesPerCycle: Math.round((heapAfter - heapBefore + collected) / done),
  gcs: gcs.length,
};
if (asJson) console.log(JSON.stringify(result));
else {
  console.log(
    `${result.dist} (${result.listeners} listeners): ${result.cycles} cycles, ${result.cpuUsPerCycle} µs CPU/cycle ` +
      `(${result.wallUsPerCycle} µs wall), ${result.bytesPerCycle} B allocated/cycle, ${result.gcs} GCs`,
  );
}
