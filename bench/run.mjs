/**
 * Leasehold's benchmark runner (issue 8, DESIGN §7). One load-generator process — this one — drives
 * every target over TCP on 127.0.0.1 with the same closed-loop pattern and reports ops/s, p50/p99/max
 * latency and the CPU time of each server process and of itself, with ratios to the echo bound and
 * to Redis. See bench/README.md.
 *
 *   npm run bench                    full run (≈ 10 minutes on 2 cores)
 *   npm run bench -- --quick         scaled down, under two minutes
 *   options: --profile       CPU profiles of the daemon under 64-connection cycles and under
 *                            contention (on by default in a full run; --no-profile skips them)
 *            --only=LIST     some of cycles1,cycles64,heartbeat,contention,scale,connections
 *            --out=FILE      default bench/results/latest.json (and .txt beside it)
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const option = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

const QUICK = flag('quick');
const SIZES = {
  warmupMs: QUICK ? 500 : 2000,
  durationMs: QUICK ? 2000 : 10_000,
  scaleLeases: QUICK ? 100_000 : 1_000_000,
  connections: QUICK ? 1000 : 10_000,
  holders: QUICK ? 2 : 5,
  connectionsWindowMs: QUICK ? 3000 : 15_000,
  // The daemon's defaults (5 s, 15 s) for the full 10,000 connections; faster in --quick so that the
  // reclaim measurement (≈ heartbeat + ttl) fits in its time.
  connectionsHeartbeatMs: QUICK ? 1000 : 5000,
  connectionsTtlMs: QUICK ? 3000 : 15_000,
};
const FULL = { scaleLeases: 1_000_000, connections: 10_000 };
const ALL = ['cycles1', 'cycles64', 'heartbeat', 'contention', 'scale', 'connections'];
const only = option('only')?.split(',') ?? ALL;
const PROFILE = flag('profile') || (!QUICK && !flag('no-profile'));
const OUT = option('out') ?? join(REPO, 'bench', 'results', 'latest.json');

const say = (line) => process.stderr.write(`${line}\n`);

// ---- the open-files limit: 10,000 connections need more than many defaults allow --------------

function reexecWithMoreFiles() {
  if (process.env.LEASEHOLD_BENCH_REEXEC) return;
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  if (!m || m[1] === 'unlimited') return;
  const needed = SIZES.connections + 2000;
  if (Number(m[1]) >= needed) return;
  const want = m[2] === 'unlimited' ? 65536 : Math.min(65536, Number(m[2]));
  // Raise the soft limit up to the hard one (root may raise the hard one too) in a shell, then
  // run this script again under it; the daemon and the other children inherit it.
  const raise = Number(m[2]) < needed && process.getuid?.() === 0 ? 65536 : want;
  const script = `ulimit -n ${raise} 2>/dev/null || ulimit -n ${want} 2>/dev/null; exec "$0" "$@"`;
  const r = spawnSync(
    'bash',
    ['-c', script, process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    {
      stdio: 'inherit',
      env: { ...process.env, LEASEHOLD_BENCH_REEXEC: '1' },
    },
  );
  process.exit(r.status ?? 1);
}
reexecWithMoreFiles();

// ---- a fresh dist/ ----------------------------------------------------------------------------

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function ensureBuilt() {
  const built = join(REPO, 'dist', 'index.js');
  const stale = !existsSync(built) || statSync(built).mtimeMs < newestMtime(join(REPO, 'src'));
  if (!stale) return { rebuilt: false, stale: false };
  say('dist/ is missing or older than src/: npm run build…');
  const r = spawnSync('npm', ['run', 'build'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status === 0) return { rebuilt: true, stale: false };
  if (!existsSync(built)) {
    say('npm run build failed and there is no dist/ to run: stopping.');
    process.exit(1);
  }
  say('WARNING: npm run build failed; benchmarking the dist/ already there, which is older than src/.');
  return { rebuilt: false, stale: true };
}
const build = ensureBuilt();

// dist/ is imported only now that it is fresh.
const { machineInfo } = await import('./lib/machine.mjs');
const { cycles, heartbeats, contention } = await import('./lib/throughput.mjs');
const { startEcho, startLeasehold, startRedis, redisVersion } = await import('./lib/targets.mjs');
const { engineScale, daemonScale } = await import('./lib/scale.mjs');
const { manyConnections } = await import('./lib/connections.mjs');
const { summariseProfile, formatSummary } = await import('./profile-summary.mjs');
const report = await import('./lib/report.mjs');

// ---- setting up -------------------------------------------------------------------------------

/** The commit benchmarked, and how many files under src/ differed from it (work in progress). */
function gitState() {
  const git = (...args) => spawnSync('git', args, { cwd: REPO, encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return null;
  const status = git('status', '--porcelain', '--', 'src');
  return {
    commit: head.stdout.trim(),
    srcFilesChanged: status.stdout.split('\n').filter((l) => l.trim() !== '').length,
  };
}

const started = performance.now();
const tmp = mkdtempSync(join(os.tmpdir(), 'leasehold-bench-'));
const redisLine = redisVersion();
const version = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version;
const command =
  process.env.npm_lifecycle_event === 'bench'
    ? `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`
    : `node bench/run.mjs${argv.length ? ` ${argv.join(' ')}` : ''}`;
const result = {
  tool: 'leasehold bench (issue 8)',
  leaseholdVersion: version,
  date: new Date().toISOString(),
  command,
  mode: QUICK ? 'quick' : 'full',
  sizes: SIZES,
  build,
  git: gitState(),
  machine: machineInfo({ stateRoot: tmp, redisVersion: redisLine }),
  // 1, 5 and 15 minute load averages: a busy machine at the start is a warning.
  loadAverage: { atStart: os.loadavg().map((x) => Math.round(x * 100) / 100) },
  targets: {},
  scenarios: [],
};

const running = [];
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  await Promise.all(running.map((t) => t.stop().catch(() => undefined)));
  rmSync(tmp, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  cleanup().finally(() => process.exit(130));
});

const SCENARIOS = [
  {
    id: 'cycles1',
    title: 'cycles, 1 conn',
    unit: 'cycles/s',
    targets: ['echo', 'leaseholdFsync', 'leaseholdNone', 'redis', 'redisAof'],
    run: (t) => cycles(t, { connections: 1, ...window() }),
  },
  {
    id: 'cycles64',
    title: 'cycles, 64 conns',
    unit: 'cycles/s',
    targets: ['echo', 'leaseholdFsync', 'leaseholdNone', 'redis', 'redisAof'],
    run: (t) => cycles(t, { connections: 64, ...window() }),
  },
  {
    id: 'heartbeat',
    title: 'heartbeats, 10k leases',
    unit: 'heartbeats/s',
    targets: ['echo', 'leaseholdFsync', 'leaseholdNone', 'redis', 'redisAof'],
    run: (t) => heartbeats(t, { connections: 64, leases: 10_000, ...window() }),
  },
  {
    id: 'contention',
    title: 'contention 16/64',
    unit: 'cycles/s',
    targets: ['leaseholdFsync', 'leaseholdNone', 'redis', 'redisAof'],
    run: (t) => contention(t, { clients: 64, seats: 16, holdMs: 1, ...window() }),
  },
];
function window() {
  return { warmupMs: SIZES.warmupMs, durationMs: SIZES.durationMs };
}

const FEATURES = [
  { name: 'cyc', seats: 1000 },
  { name: 'hb', seats: 20_000 },
  { name: 'cont', seats: 16 },
];

async function startTargets(needed) {
  const targets = {};
  const start = async (key, fn) => {
    if (!needed.has(key)) return;
    try {
      targets[key] = await fn();
      running.push(targets[key]);
      result.targets[key] = { status: 'ok', pid: targets[key].pid };
    } catch (err) {
      result.targets[key] = { status: 'failed', reason: err.message.split('\n')[0] };
    }
  };
  await start('echo', () => startEcho());
  for (const durability of ['fsync', 'none']) {
    const key = durability === 'fsync' ? 'leaseholdFsync' : 'leaseholdNone';
    await start(key, () => startLeasehold({ stateDir: join(tmp, key), durability, features: FEATURES }));
    if (result.targets[key]) result.targets[key].durability = durability;
  }
  if (redisLine) {
    await start('redis', () => startRedis({ dir: join(tmp, 'redis'), aof: false }));
    await start('redisAof', () => startRedis({ dir: join(tmp, 'redis-aof'), aof: true }));
    if (result.targets.redis) result.targets.redis.settings = 'save "" appendonly no';
    if (result.targets.redisAof) result.targets.redisAof.settings = 'appendonly yes appendfsync always';
  } else {
    const reason = 'redis-server is not installed (bench/setup could not install it)';
    for (const key of ['redis', 'redisAof'])
      if (needed.has(key)) result.targets[key] = { status: 'skipped', reason };
  }
  return targets;
}

// ---- the scenarios run against every target ---------------------------------------------------

const chosen = SCENARIOS.filter((s) => only.includes(s.id));
if (chosen.length > 0) {
  const needed = new Set(chosen.flatMap((s) => s.targets));
  say(`starting targets: ${[...needed].map((k) => report.TARGET_LABELS[k]).join(', ')}`);
  const targets = await startTargets(needed);
  for (const s of chosen) {
    const scenario = { id: s.id, title: s.title, unit: s.unit, rows: [] };
    for (const key of s.targets) {
      const t = targets[key];
      if (!t) {
        scenario.rows.push({ target: key, ...result.targets[key] });
        continue;
      }
      say(`${s.title}: ${report.TARGET_LABELS[key]}…`);
      try {
        scenario.rows.push({ target: key, ...(await s.run(t)) });
      } catch (err) {
        say(`  failed: ${err.stack ?? err}`);
        scenario.rows.push({
          target: key,
          status: 'failed',
          reason: String(err.message ?? err).split('\n')[0],
        });
      }
      await sleep(200);
    }
    if (s.id === 'contention')
      scenario.rows.unshift({ target: 'echo', status: 'n/a', reason: 'no seats to contend for' });
    report.addRatios(scenario);
    result.scenarios.push(scenario);
  }
  await Promise.all(running.splice(0).map((t) => t.stop().catch(() => undefined)));
}

// ---- the CPU profile of the daemon under the 64-connection cycle load -------------------------

if (PROFILE) {
  const dir = join(REPO, 'bench', 'results', 'profile');
  mkdirSync(dir, { recursive: true });
  result.profiles = {};
  const loads = [
    [
      'cycles64',
      '64-connection cycles',
      (d, durationMs) => cycles(d, { connections: 64, warmupMs: SIZES.warmupMs, durationMs }),
    ],
    [
      'contention',
      'contention 16 seats / 64 clients',
      (d, durationMs) =>
        contention(d, { clients: 64, seats: 16, holdMs: 1, warmupMs: SIZES.warmupMs, durationMs }),
    ],
  ];
  for (const [id, title, load] of loads) {
    say(`profile: leasehold fsync under ${title}, node --cpu-prof…`);
    const before = new Set(readdirSync(dir));
    try {
      const d = await startLeasehold({
        stateDir: join(tmp, `profile-${id}`),
        durability: 'fsync',
        features: FEATURES,
        nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
      });
      running.push(d);
      const figures = await load(d, QUICK ? 3000 : 10_000);
      await sleep(500);
      await d.stop('SIGTERM');
      running.splice(running.indexOf(d), 1);
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile') && !before.has(f));
      const summary = summariseProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')), 20);
      result.profiles[id] = { title, file: join('bench', 'results', 'profile', file), figures, ...summary };
    } catch (err) {
      result.profiles[id] = { title, status: 'failed', reason: err.message };
    }
  }
}

// ---- scale ------------------------------------------------------------------------------------

if (only.includes('scale')) {
  const leases = SIZES.scaleLeases;
  const scale = {
    status: 'ok',
    leases,
    scaledDown: leases < FULL.scaleLeases,
    fullLeases: FULL.scaleLeases,
    engine: [],
  };
  const shapes = QUICK
    ? [
        [1000, true],
        [1000, false],
      ]
    : [
        [1000, true],
        [1000, false],
        [1, true],
      ];
  for (const [perSession, keys] of shapes) {
    say(
      `scale: engine alone, ${leases.toLocaleString('en-US')} leases, ${perSession}/session${keys ? '' : ', no keys'}…`,
    );
    try {
      scale.engine.push(await engineScale(leases, perSession, keys));
    } catch (err) {
      scale.engine.push({ status: 'failed', perSession, reason: err.message.split('\n')[0] });
    }
  }
  say(`scale: the daemon with ${leases.toLocaleString('en-US')} leases…`);
  try {
    scale.daemon = await daemonScale({ leases, stateDir: join(tmp, 'scale'), say });
  } catch (err) {
    say(`  failed: ${err.stack ?? err}`);
    scale.daemon = undefined;
    scale.daemonFailure = err.message.split('\n')[0];
  }
  result.scale = scale;
}

// ---- many connections -------------------------------------------------------------------------

if (only.includes('connections')) {
  const n = SIZES.connections;
  say(`connections: ${n.toLocaleString('en-US')} connections heartbeating…`);
  const limit = result.machine.openFilesLimit?.soft ?? Number.POSITIVE_INFINITY;
  if (limit < n + 1000) {
    result.connections = {
      status: 'skipped',
      reason: `the open-files limit is ${limit} (ulimit -n) and could not be raised to ${n + 1000}`,
    };
  } else {
    try {
      result.connections = {
        ...(await manyConnections({
          connections: n,
          holders: SIZES.holders,
          windowMs: SIZES.connectionsWindowMs,
          heartbeatMs: SIZES.connectionsHeartbeatMs,
          ttlMs: SIZES.connectionsTtlMs,
          stateDir: join(tmp, 'connections'),
          say,
        })),
        scaledDown: n < FULL.connections,
        fullConnections: FULL.connections,
      };
    } catch (err) {
      say(`  failed: ${err.stack ?? err}`);
      result.connections = { status: 'failed', reason: err.message.split('\n')[0] };
    }
  }
}

await cleanup();

// ---- the report -------------------------------------------------------------------------------

result.checks = report.designChecks({
  scenarios: result.scenarios,
  scale: result.scale,
  connections: result.connections,
  quick: QUICK,
});
result.loadAverage.atEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
result.elapsedSeconds = Math.round((performance.now() - started) / 100) / 10;

const m = result.machine;
const text = [
  `Leasehold ${version} bench, ${result.mode} run, ${result.date}`,
  `machine: ${m.cpuModel} × ${m.cpuCount}, ${m.memoryGiB} GiB RAM, ${m.kernel}, node ${m.node}, ${m.redis ?? 'no redis-server'}`,
  `state on ${m.stateFilesystem.type} (${m.stateFilesystem.path}); command: ${command}`,
  `commit ${result.git?.commit ?? 'unknown'}${result.git?.srcFilesChanged ? ` with ${result.git.srcFilesChanged} file(s) under src/ changed` : ''}` +
    `${build.stale ? '; WARNING: dist/ is older than src/ (the build failed)' : ''}`,
  `load average at start ${result.loadAverage.atStart.join(' ')}, at end ${result.loadAverage.atEnd.join(' ')}; ` +
    "'other CPU s' = CPU the machine spent outside the measured processes during a row",
  '',
  report.throughputTable(result.scenarios),
  '',
  report.scenarioNotes(result.scenarios),
  '',
  report.scaleLines(result.scale),
  '',
  report.connectionLines(result.connections),
  '',
  'DESIGN §7 targets:',
  report.checkLines(result.checks),
  ...Object.values(result.profiles ?? {}).map((p) =>
    p.self
      ? `\nCPU profile of the daemon under ${p.title} (${p.figures.opsPerSec} ${p.figures.unit} while profiled; ${p.file}):\n` +
        formatSummary({
          ...p,
          self: p.self.slice(0, 15),
          inclusive: p.inclusive.slice(0, 12),
          files: p.files.slice(0, 10),
          layers: p.layers.slice(0, 12),
        })
      : `\nprofile under ${p.title}: ${p.status}: ${p.reason}`,
  ),
  '',
  `elapsed: ${result.elapsedSeconds} s`,
].join('\n');

process.stdout.write(`${text}\n`);
mkdirSync(join(OUT, '..'), { recursive: true });
writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
// bench/ is linted (biome.json): give the JSON the formatter's layout so `npm run lint` stays green.
const biome = join(REPO, 'node_modules', '.bin', 'biome');
if (existsSync(biome)) spawnSync(biome, ['format', '--write', OUT], { cwd: REPO, stdio: 'ignore' });
writeFileSync(OUT.replace(/\.json$/, '.txt'), `${text}\n`);
say(`wrote ${OUT} and ${OUT.replace(/\.json$/, '.txt')}`);
