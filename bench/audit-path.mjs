/**
 * The main-thread cost of the usage history per engine event (issue 8, task H1): the audit line
 * (conversion of the engine event, numbering, timestamp, JSON, sha256, queueing and the batched
 * write) and the hourly rollups, as the daemon pays them for a checkout + checkin cycle.
 *
 *   npm run build && node bench/audit-path.mjs [--mode=events|engine] [--dist=DIR[,DIR2…]]
 *                                               [--cycles=N] [--rounds=R]
 *
 * Both modes run R rounds of N checkout + checkin cycles on 64 sessions (users u0..u63, one
 * 1,000-seat feature, as bench/run.mjs's cycles64) into a History (a temp state dir, the real
 * AuditLog writing its files). The event loop gets a turn every 64 cycles so the audit write loop
 * runs as it does in the daemon, and each timed block ends with an idle wait for the last batch to
 * be written: CPU time (process.cpuUsage: every thread, the writes of libuv's pool included) is
 * the figure, and idle time costs none. Reported per build: the median over the rounds.
 *
 * --mode=events (default): a stand-in engine emits the `granted` and `released` events of each
 * cycle (a fresh LeaseView each, as the engine builds), so the figure is the history's own cost
 * per event (plus building that view), with nothing to subtract: the precise one.
 * --mode=engine: a real LeaseEngine on a ManualClock runs the cycles (with request keys), once with
 * a History attached and once without, in alternation; the history's cost per event is half the
 * difference per cycle. Noisier, but it includes what the history does to the engine's own cost
 * (garbage collection, caches).
 *
 * Several builds (e.g. a copy of an older dist/ beside the current one) are loaded side by side
 * in this one process and take turns round by round, so a noisy machine weighs on each alike: the
 * fair way to compare them. Only the History, LeaseEngine, config and logger entry points are used.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

const argv = process.argv.slice(2);
const option = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const DISTS = (option('dist') ?? new URL('../dist', import.meta.url).pathname)
  .split(',')
  .map((d) => resolve(d));
const CYCLES = Number(option('cycles') ?? 20_000);
const ROUNDS = Number(option('rounds') ?? 15);
const SESSIONS = 64;
const MODE = option('mode') ?? 'events';

/** Request keys are never reused (a key of a checked-in lease is a conflict). */
let nextKey = 0;

async function loadBuild(dist) {
  const load = (path) => import(pathToFileURL(join(dist, path)).href);
  return {
    dist,
    ...(await load('engine/clock.js')),
    ...(await load('engine/engine.js')),
    ...(await load('config/load.js')),
    ...(await load('server/logger.js')),
    ...(await load('server/history.js')),
  };
}

function engineWithSessions(build) {
  const clock = new build.ManualClock(0);
  const engine = new build.LeaseEngine({
    clock,
    leaseTtlMs: 60_000,
    features: [{ name: 'cad', seats: 1000, model: 'concurrent' }],
  });
  const sessions = [];
  for (let i = 0; i < SESSIONS; i++) {
    const identity = { user: `u${i}`, host: `host-${i}`, clientName: 'bench', peer: '127.0.0.1:40000' };
    sessions.push(engine.openSession(identity).sessionId);
  }
  return { clock, engine, sessions };
}

/**
 * What History uses of a LeaseEngine, emitting by hand what a checkout + checkin emits: `granted`
 * and `released` with the lease's view (ids of 32 hex digits, as the engine's).
 */
class EventSource {
  #listeners = new Map();
  #fencing = 0;
  #sessions = Array.from({ length: SESSIONS }, (_, i) => ({
    user: `u${i}`,
    host: `host-${i}`,
    sessionId: (0x10000000 + i).toString(16).repeat(4),
  }));
  leaseCount = 0;
  on(name, listener) {
    this.#listeners.set(name, listener);
    return this;
  }
  off(name) {
    this.#listeners.delete(name);
    return this;
  }
  featureStatus() {
    return [{ name: 'cad', seats: 1000 }];
  }
  featureConfig() {
    return { name: 'cad', seats: 1000, model: 'concurrent' };
  }
  listLeases() {
    return [];
  }
  /** One cycle of session `i` at monotonic time `now`. */
  cycle(i, now) {
    const s = this.#sessions[i % SESSIONS];
    const fencing = ++this.#fencing;
    const lease = {
      id: (0x10000000 + fencing).toString(16).repeat(4),
      feature: 'cad',
      count: 1,
      fencing,
      sessionId: s.sessionId,
      user: s.user,
      host: s.host,
      clientName: 'bench',
      peer: '127.0.0.1:40000',
      type: 'concurrent',
      shared: false,
      grantedAt: now,
      lastHeartbeatAt: now,
      lastActivityAt: now,
    };
    this.#listeners.get('granted')?.({ lease });
    this.#listeners.get('released')?.({ lease });
  }
}

function openHistory(build, { engine, clock }, stateDir) {
  const toml = ['[server]', `state_dir = ${JSON.stringify(stateDir)}`, '[features.cad]', 'seats = 1000'];
  return build.History.open({
    config: build.parseConfig(toml.join('\n'), 'bench.toml'),
    engine,
    now: () => clock.now(),
    logger: build.createLogger('silent', new Writable({ write: (_c, _e, done) => done() })),
    version: 'bench',
  });
}

/** N cycles over the sessions (a turn for the event loop every 64), then an idle wait. */
async function cycles({ engine, clock, sessions }, n) {
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const session = sessions[i % SESSIONS];
    const lease = engine.checkout(session, { feature: 'cad', count: 1, key: `k${nextKey++}` });
    engine.checkin(session, lease.id, lease.fencing);
    if (i % SESSIONS === SESSIONS - 1) {
      clock.advance(1);
      await new Promise((r) => setImmediate(r));
    }
  }
  // The audit batch delay is 20 ms: the last batch is written meanwhile; idle costs no CPU.
  await sleep(50);
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / n;
}

/** N cycles of the stand-in engine (a turn for the event loop every 64); µs per event. */
async function events(source, n) {
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    source.cycle(i, i);
    if (i % SESSIONS === SESSIONS - 1) await new Promise((r) => setImmediate(r));
  }
  await sleep(50);
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / n / 2;
}

async function eventsMode(root) {
  const subjects = [];
  for (const [i, dist] of DISTS.entries()) {
    const build = await loadBuild(dist);
    const source = new EventSource();
    const history = await openHistory(
      build,
      { engine: source, clock: { now: () => 0 } },
      join(root, String(i)),
    );
    await history.caughtUp();
    await events(source, CYCLES); // warm-up
    subjects.push({ dist, source, history, rounds: [] });
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of subjects) s.rounds.push(await events(s.source, CYCLES));
    process.stderr.write(
      `round ${r + 1}: ${subjects.map((s) => `${basename(s.dist)} ${s.rounds.at(-1).toFixed(2)}`).join(', ')} µs/event\n`,
    );
  }
  for (const s of subjects) {
    await s.history.close();
    const sorted = [...s.rounds].sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        mode: 'events',
        dist: s.dist,
        cycles: CYCLES,
        rounds: ROUNDS,
        historyUsPerEvent: round2(median(s.rounds)),
        min: round2(sorted[0]),
        max: round2(sorted.at(-1)),
      }),
    );
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round2 = (x) => Math.round(x * 100) / 100;

async function engineMode(root) {
  const subjects = [];
  for (const [i, dist] of DISTS.entries()) {
    const build = await loadBuild(dist);
    const plain = engineWithSessions(build);
    const audited = engineWithSessions(build);
    const history = await openHistory(build, audited, join(root, String(i)));
    await history.caughtUp();
    // Warm-up: both paths JIT-compiled before anything is timed.
    await cycles(plain, CYCLES);
    await cycles(audited, CYCLES);
    subjects.push({ dist, plain, audited, history, rounds: [] });
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of subjects) {
      const without = await cycles(s.plain, CYCLES);
      const withIt = await cycles(s.audited, CYCLES);
      s.rounds.push({ without, with: withIt, perEvent: (withIt - without) / 2 });
    }
    process.stderr.write(
      `round ${r + 1}: ${subjects.map((s) => `${basename(s.dist)} ${s.rounds.at(-1).perEvent.toFixed(2)}`).join(', ')} µs/event\n`,
    );
  }
  for (const s of subjects) {
    await s.history.close();
    console.log(
      JSON.stringify({
        mode: 'engine',
        dist: s.dist,
        cycles: CYCLES,
        rounds: ROUNDS,
        engineUsPerCycle: round2(median(s.rounds.map((x) => x.without))),
        withHistoryUsPerCycle: round2(median(s.rounds.map((x) => x.with))),
        historyUsPerEvent: round2(median(s.rounds.map((x) => x.perEvent))),
      }),
    );
  }
}

const root = mkdtempSync(join(tmpdir(), 'leasehold-audit-path-'));
// The audit log's timers are unref'd (a daemon has its sockets to keep it alive): so must this.
const keepAlive = setInterval(() => {}, 1000);
try {
  if (MODE === 'events') await eventsMode(root);
  else await engineMode(root);
} finally {
  clearInterval(keepAlive);
  rmSync(root, { recursive: true, force: true });
}
