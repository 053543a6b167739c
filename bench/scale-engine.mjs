/**
 * The engine alone at scale (issue 8, scale scenario): run by bench/run.mjs in its own process with
 * --expose-gc so that the memory figures are the engine's and nobody else's.
 *
 *   node --expose-gc bench/scale-engine.mjs LEASES LEASES_PER_SESSION [--no-keys]
 *
 * Prints one JSON line: RSS and V8 heap per held lease (after full GCs), the time to grant them and
 * to export the state (what a snapshot serialises), and the expiry sweep cost when 10 % of the
 * sessions expire and when the other 90 % do (the sweep should cost in proportion to what expires,
 * not to what is held — DESIGN §7), and when nothing is due.
 *
 * The clock is fractional, as the daemon's is (performance.now()): V8 keeps a whole-number time in
 * a field as a small integer, but a fractional one as a separate 16-byte heap number, so a clock
 * that only ever reads whole milliseconds would under-count the bytes of every time a lease holds.
 */
import { ManualClock } from '../dist/engine/clock.js';
import { LeaseEngine } from '../dist/engine/engine.js';

const leases = Number(process.argv[2] ?? 1_000_000);
const perSession = Number(process.argv[3] ?? 1000);
const withKeys = !process.argv.includes('--no-keys');
const TTL = 15_000;
/** Where the clock starts, and how far it moves per checkout: fractional milliseconds, as in the daemon. */
const CLOCK_START_MS = 1_000.25;
const CLOCK_STEP_MS = 0.001;

function settle() {
  for (let i = 0; i < 3; i++) globalThis.gc();
}

function memory() {
  settle();
  const m = process.memoryUsage();
  // `external` includes `arrayBuffers` already (typed-array columns, lease-columns.ts): count once.
  return { rss: m.rss, heap: m.heapUsed + m.external };
}

/**
 * Opens the sessions and grants the leases, measures memory, exports the state, then heartbeats 90 %
 * of the sessions at 10 s so that 10 % expire at 15 s and the rest at 25 s, and times the sweeps.
 */
function run(total) {
  const count = Math.ceil(total / perSession);
  const clock = new ManualClock(CLOCK_START_MS);
  const before = memory();
  const engine = new LeaseEngine({
    clock,
    leaseTtlMs: TTL,
    features: [{ name: 'big', seats: total, model: 'concurrent' }],
    maxLeasesPerSession: Math.max(perSession, 1000),
  });
  const ids = new Array(count);
  let t = performance.now();
  let granted = 0;
  for (let s = 0; s < count; s++) {
    const { sessionId } = engine.openSession({
      user: `user${s % 5000}`,
      host: `host-${s}`,
      clientName: 'bench',
      peer: '127.0.0.1:40000',
    });
    ids[s] = sessionId;
    const n = Math.min(perSession, total - granted);
    // With a request key, as the SDK sends: the key of a held lease is kept (PROTOCOL.md §6.2).
    for (let j = 0; j < n; j++) {
      clock.advance(CLOCK_STEP_MS);
      engine.checkout(
        sessionId,
        withKeys ? { feature: 'big', count: 1, key: `key-${s}-${j}` } : { feature: 'big', count: 1 },
      );
    }
    granted += n;
  }
  const grantMs = performance.now() - t;
  const after = memory();

  t = performance.now();
  engine.exportState();
  const exportMs = performance.now() - t;

  // Every later time counts from the end of the fill (≤ 1 s of clock for a million checkouts).
  const filled = clock.now();
  clock.set(filled + 10_000);
  const expireFirst = Math.max(1, Math.floor(count / 10));
  for (let s = expireFirst; s < count; s++) engine.heartbeat(ids[s]);

  const timedSweep = (at) => {
    clock.set(filled + at);
    const popped0 = engine.expiryStats().popped;
    const t0 = performance.now();
    const reclaimed = engine.sweep();
    const ms = performance.now() - t0;
    return {
      reclaimed,
      ms: Math.round(ms * 100) / 100,
      usPerReclaimed: reclaimed > 0 ? Math.round((ms * 1000 * 100) / reclaimed) / 100 : null,
      // Entries due by their armed deadline: expired sessions, and heartbeated ones re-armed later.
      heapEntriesPopped: engine.expiryStats().popped - popped0,
    };
  };
  const sweepNothingDue = timedSweep(12_000);
  const sweep10 = timedSweep(TTL + 1);
  const sweep90 = timedSweep(10_000 + TTL + 1);
  return {
    leases: granted,
    sessions: count,
    perSession,
    requestKeys: withKeys,
    grantMs: Math.round(grantMs),
    grantsPerSec: Math.round(granted / (grantMs / 1000)),
    rssBytesPerLease: Math.round((after.rss - before.rss) / granted),
    heapBytesPerLease: Math.round((after.heap - before.heap) / granted),
    exportStateMs: Math.round(exportMs),
    sweepNothingDue,
    sweep10pct: sweep10,
    sweep90pct: sweep90,
  };
}

// A small pass first, so the timed sweeps run optimised code rather than the first, cold calls.
run(Math.min(leases, 20_000));
process.stdout.write(`${JSON.stringify(run(leases))}\n`);
