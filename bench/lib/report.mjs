/**
 * Turning the figures into the human table, the ratios and the DESIGN §7 checks. Ratios are from
 * one run: ops/s of a row ÷ ops/s of the echo row (or a Redis row) of the same scenario; p99 ratios
 * likewise with p99 latencies.
 */

export const TARGET_LABELS = {
  echo: 'echo bound',
  leaseholdFsync: 'leasehold fsync',
  leaseholdNone: 'leasehold none',
  redis: 'redis',
  redisAof: 'redis aof-always',
};

const ratio = (a, b) =>
  Number.isFinite(a) && Number.isFinite(b) && b > 0 ? Math.round((a / b) * 100) / 100 : null;

/** Adds `ratios` to every ok row of a scenario. */
export function addRatios(scenario) {
  const ok = (key) => scenario.rows.find((r) => r.target === key && r.status === 'ok');
  const echo = ok('echo');
  const redis = ok('redis');
  const redisAof = ok('redisAof');
  for (const row of scenario.rows) {
    if (row.status !== 'ok') continue;
    row.ratios = {
      opsVsEcho: echo ? ratio(row.opsPerSec, echo.opsPerSec) : null,
      opsVsRedis: redis ? ratio(row.opsPerSec, redis.opsPerSec) : null,
      opsVsRedisAof: redisAof ? ratio(row.opsPerSec, redisAof.opsPerSec) : null,
      p99VsRedis: redis ? ratio(row.p99Ms, redis.p99Ms) : null,
      p99VsRedisAof: redisAof ? ratio(row.p99Ms, redisAof.p99Ms) : null,
    };
  }
}

function cell(v, digits = 0) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (typeof v !== 'number') return String(v);
  return digits === 0 ? Math.round(v).toLocaleString('en-US') : v.toFixed(digits);
}

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells.map((c, i) => (i < 2 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The main table: one row per scenario × target. */
export function throughputTable(scenarios) {
  const header = [
    'scenario',
    'target',
    'ops/s',
    'p50 ms',
    'p99 ms',
    'max ms',
    'srv CPU s',
    'gen CPU s',
    'other CPU s',
    'srv µs/op',
    '×echo',
    '×redis',
    '×redis-aof',
    'p99/redis',
  ];
  const rows = [];
  for (const s of scenarios) {
    s.rows.forEach((r, i) => {
      const name = i === 0 ? s.title : '';
      const label = TARGET_LABELS[r.target];
      if (r.status !== 'ok') {
        // The reason is among the notes under the table.
        rows.push([name, label, r.status, '', '', '', '', '', '', '', '', '', '', '']);
        return;
      }
      const q = r.ratios ?? {};
      rows.push([
        name,
        label,
        cell(r.opsPerSec),
        cell(r.p50Ms, 2),
        cell(r.p99Ms, 2),
        cell(r.maxMs, 1),
        cell(r.serverCpuS, 2),
        cell(r.clientCpuS, 2),
        cell(r.otherCpuS, 2),
        cell(r.serverCpuUsPerOp),
        cell(q.opsVsEcho, 2),
        cell(q.opsVsRedis, 2),
        cell(q.opsVsRedisAof, 2),
        cell(q.p99VsRedis, 2),
      ]);
    });
  }
  return table(header, rows);
}

/** Extra lines per scenario: renewals for heartbeats, waits and fairness for contention. */
export function scenarioNotes(scenarios) {
  const lines = [];
  for (const s of scenarios) {
    for (const r of s.rows) {
      const label = TARGET_LABELS[r.target];
      if (r.status !== 'ok') {
        lines.push(`${s.title} / ${label}: ${r.status} — ${r.reason ?? 'no reason given'}`);
        continue;
      }
      if (r.leaseRenewalsPerSec !== undefined) {
        lines.push(`${s.title} / ${label}: ${cell(r.leaseRenewalsPerSec)} lease renewals/s`);
      }
      if (r.waitMaxMs !== undefined) {
        lines.push(
          `${s.title} / ${label}: wait for a seat p50 ${cell(r.waitP50Ms, 2)} ms, p99 ${cell(r.waitP99Ms, 2)} ms, ` +
            `max ${cell(r.waitMaxMs, 1)} ms (${r.waitMode}); cycles per client ${r.cyclesPerClientMin}–${r.cyclesPerClientMax}, ` +
            `Jain ${cell(r.fairnessJain, 3)}` +
            (r.pushesPerCycle !== undefined ? `; ${r.pushesPerCycle} pushes received per cycle` : ''),
        );
      }
    }
  }
  return lines.join('\n');
}

export function scaleLines(scale) {
  if (!scale) return '';
  if (scale.status !== 'ok') return `scale: ${scale.status}: ${scale.reason}`;
  const d = scale.daemon;
  const lines = [
    `scale: ${cell(scale.leases)} leases${scale.scaledDown ? ` (scaled down from ${cell(scale.fullLeases)}: --quick)` : ''}`,
  ];
  if (d) {
    lines.push(
      `  daemon fill: ${cell(d.fill.checkoutsPerSec)} checkouts/s over ${cell(d.fill.connections)} connections (${d.fill.seconds} s; ` +
        `by tenth: ${(d.fill.byTenth ?? []).map((p) => cell(p.checkoutsPerSec)).join(' ')}; ` +
        `CPU daemon ${d.fill.serverCpuS} s, generator ${d.fill.clientCpuS} s, other ${d.fill.otherCpuS} s)`,
      `  daemon RSS: ${d.daemonRssEmptyMiB} MiB empty, ${d.daemonRssFullMiB} MiB after the fill = ${cell(d.daemonRssBytesPerLeaseAfterFill)} B/lease; ` +
        `${d.daemonRssRecoveredMiB} MiB after a restart = ${cell(d.daemonRssBytesPerLeaseRecovered)} B/lease`,
      `  snapshot at SIGTERM: ${cell(d.snapshot.ms)} ms (${cell(d.snapshot.leases)} leases; shutdown ${cell(d.snapshot.shutdownMs)} ms)`,
      `  restart after kill -9 (journal replay of ${cell(d.restartAfterKill.replayed)} records): recovery ${cell(d.restartAfterKill.recoveryMs)} ms, ` +
        `then ${cell(d.restartAfterKill.recoveredToListeningMs)} ms to listening; port open ${cell(d.restartAfterKill.readyMs)} ms after spawn`,
      `  restart from the snapshot: recovery ${cell(d.restartFromSnapshot.recoveryMs)} ms, then ${cell(d.restartFromSnapshot.recoveredToListeningMs)} ms ` +
        `to listening; port open ${cell(d.restartFromSnapshot.readyMs)} ms after spawn`,
    );
  }
  for (const e of scale.engine ?? []) {
    if (e.status && e.status !== 'ok') {
      lines.push(`  engine: ${e.status}: ${e.reason}`);
      continue;
    }
    lines.push(
      `  engine alone, ${e.perSession} lease(s)/session${e.requestKeys ? ', with request keys' : ', no request keys'}: ` +
        `${cell(e.rssBytesPerLease)} B RSS/lease (${cell(e.heapBytesPerLease)} B heap), ${cell(e.grantsPerSec)} grants/s, ` +
        `exportState ${cell(e.exportStateMs)} ms; sweep: nothing due ${e.sweepNothingDue.ms} ms, ` +
        `10% expiring ${e.sweep10pct.ms} ms (${cell(e.sweep10pct.reclaimed)} leases, ${e.sweep10pct.usPerReclaimed} µs each, ${cell(e.sweep10pct.heapEntriesPopped)} heap entries), ` +
        `90% ${e.sweep90pct.ms} ms (${e.sweep90pct.usPerReclaimed} µs each)`,
    );
  }
  return lines.join('\n');
}

function errorText(tally) {
  const entries = Object.entries(tally ?? {});
  return entries.length === 0 ? 'none' : entries.map(([k, n]) => `${n} × ${k}`).join(', ');
}

export function connectionLines(c) {
  if (!c) return '';
  if (c.status !== 'ok') return `connections: ${c.status}: ${c.reason}`;
  const reclaims = c.reclaims
    .map((r) => `${cell(r.fromLastHeartbeatMs)} ms (${cell(r.fromKillMs)} ms after the kill)`)
    .join(', ');
  return [
    `connections: ${cell(c.connections)} connections holding a lease, heartbeat every ${c.heartbeatIntervalMs} ms, ttl ${c.leaseTtlMs} ms` +
      `${c.scaledDown ? ` (scaled down from ${cell(c.fullConnections)}: --quick)` : ''}`,
    `  opened in ${c.open.seconds} s (connect+hello+checkout p99 ${cell(c.open.connectHelloCheckoutP99Ms, 1)} ms); ` +
      `${c.connectionsLostBeforeWindow} closed by then; daemon RSS ${c.daemonRssMiB} MiB`,
    `  probe checkouts: ${cell(c.probeCheckouts)} in ${c.windowSeconds} s, p50 ${cell(c.checkoutP50Ms, 2)} ms, p99 ${cell(c.checkoutP99Ms, 2)} ms, max ${cell(c.checkoutMaxMs, 1)} ms` +
      ` (errors: ${errorText(c.probeErrors)})`,
    `  heartbeats: ${cell(c.heartbeatsPerSec)}/s, p50 ${cell(c.heartbeatP50Ms, 2)} ms, p99 ${cell(c.heartbeatP99Ms, 2)} ms (errors: ${errorText(c.heartbeatErrors)})`,
    `  daemon CPU ${c.serverCpuS} s, load generator CPU ${c.clientCpuS} s, other CPU ${c.otherCpuS} s in the window`,
    `  reclaim after SIGKILL of an SDK client, from its last heartbeat: ${reclaims}; target ≤ ${c.reclaimTargetMs} ms`,
  ].join('\n');
}

/** DESIGN §7 targets against what this run saw. */
export function designChecks({ scenarios, scale, connections, quick }) {
  const checks = [];
  const add = (target, value, limit, pass, note) =>
    checks.push({ target, value, limit, pass, ...(note ? { note } : {}) });
  const c64 = scenarios.find((s) => s.id === 'cycles64');
  const row = (k) => c64?.rows.find((r) => r.target === k && r.status === 'ok');
  const lh = row('leaseholdFsync');
  const echo = row('echo');
  const redis = row('redis');
  if (lh && echo)
    add('64-conn cycles, durable: ≥ 0.75 × echo', lh.ratios.opsVsEcho, 0.75, lh.ratios.opsVsEcho >= 0.75);
  if (lh && redis) {
    add(
      '64-conn cycles, durable: ≥ 1.5 × Redis (non-durable)',
      lh.ratios.opsVsRedis,
      1.5,
      lh.ratios.opsVsRedis >= 1.5,
    );
    add('64-conn cycles, durable: p99 ≤ Redis p99 (ms)', lh.p99Ms, redis.p99Ms, lh.p99Ms <= redis.p99Ms);
  }
  const scaled = quick
    ? `scaled down to ${scale?.leases?.toLocaleString('en-US')} leases (--quick)`
    : undefined;
  const d = scale?.daemon;
  if (d) {
    add(
      'RSS per held lease ≤ 300 B (daemon, after the fill)',
      d.daemonRssBytesPerLeaseAfterFill,
      300,
      d.daemonRssBytesPerLeaseAfterFill <= 300,
      scaled,
    );
    if (d.snapshot.ms !== null) add('snapshot ≤ 2000 ms', d.snapshot.ms, 2000, d.snapshot.ms <= 2000, scaled);
    for (const [name, r] of [
      ['recovery ≤ 3000 ms (snapshot + journal replay, after kill -9)', d.restartAfterKill],
      ['recovery ≤ 3000 ms (from the snapshot)', d.restartFromSnapshot],
    ]) {
      if (r.recoveryMs !== null) add(name, r.recoveryMs, 3000, r.recoveryMs <= 3000, scaled);
    }
  }
  for (const e of scale?.engine ?? []) {
    if (e.status && e.status !== 'ok') continue;
    const perLease = ratio(e.sweep10pct.usPerReclaimed, e.sweep90pct.usPerReclaimed);
    // Proportional cost gives ≈ 1 (plus fixed costs weighing more on the smaller sweep); a sweep
    // that walked every held lease would give ≈ 9 (it does the same walk for 1/9 of the leases).
    add(
      'sweep cost proportional to what expires: µs/lease at 10% ÷ at 90% ≤ 3 (≈ 9 if it scanned all)',
      perLease,
      3,
      perLease !== null && perLease <= 3,
      `engine alone, ${e.perSession} lease(s)/session: the 10% sweep popped ${e.sweep10pct.heapEntriesPopped} heap entries (expired + heartbeated sessions re-armed) to reclaim ${e.sweep10pct.reclaimed} leases`,
    );
  }
  if (connections?.status === 'ok') {
    const worst = connections.reclaimWorstFromLastHeartbeatMs;
    add(
      `reclaim ≤ ttl + 250 ms with ${connections.connections.toLocaleString('en-US')} connections heartbeating`,
      worst,
      connections.reclaimTargetMs,
      worst !== null && worst <= connections.reclaimTargetMs,
      connections.scaledDown ? `scaled down from ${connections.fullConnections} (--quick)` : undefined,
    );
  }
  return checks;
}

export function checkLines(checks) {
  return checks
    .map(
      (c) =>
        `  ${c.pass ? 'PASS' : 'FAIL'}  ${c.target}: ${c.value} (limit ${c.limit})${c.note ? ` — ${c.note}` : ''}`,
    )
    .join('\n');
}
