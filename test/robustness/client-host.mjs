// A client application in its own process (issue 9 §2), for faults that must hit a real process:
// SIGSTOP/SIGCONT. It runs the built SDK (dist/), checks out a lease, "uses" what the lease protects
// only while `lease.valid`, and writes what it saw as JSON lines on stdout, in the event format of
// test/robustness/history.ts (times on the host's monotonic clock, shared with the test process).
//
//   node client-host.mjs '{"server":"127.0.0.1:PORT","name":"a","feature":"cad"}'
//
// stdin commands, one per line: `release` (give the lease back), `finish` (record what is still
// held, close without releasing, exit 0).
import { createInterface } from 'node:readline';
import { LeaseholdClient } from '../../dist/index.js';

const options = JSON.parse(process.argv[2] ?? '{}');
const name = options.name ?? 'child';
const monoNow = () => Number(process.hrtime.bigint()) / 1e6;
const PERF_OFFSET = monoNow() - performance.now();
let ops = 0;

function emit(event) {
  process.stdout.write(`${JSON.stringify({ ...event, t: monoNow(), client: name })}\n`);
}

const client = await LeaseholdClient.connect({
  servers: [options.server],
  user: options.user ?? name,
  host: 'child-host',
  clientName: 'robustness-child',
  reconnectInitialDelayMs: 50,
  reconnectMaxDelayMs: 200,
  requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
  ...(options.safetyMarginMs !== undefined ? { safetyMarginMs: options.safetyMarginMs } : {}),
});
client.on('error', () => {});
const deadline = () => client.validUntil + PERF_OFFSET;
emit({ type: '$connected', session: client.sessionId });

let lastDeadline = Number.NEGATIVE_INFINITY;
const sampler = setInterval(() => {
  const d = deadline();
  if (d !== lastDeadline) {
    lastDeadline = d;
    emit({ type: 'deadline', deadline: d });
  }
}, 25);

let lease;
const op = ++ops;
const count = options.count ?? 1;
emit({ type: 'checkout:invoke', op, feature: options.feature, count, wait: options.wait ?? 0 });
try {
  lease = await client.checkout(options.feature, {
    count,
    wait: options.wait ?? 0,
    ...(options.key ? { key: options.key } : {}),
  });
} catch (err) {
  emit({ type: 'checkout:fail', op, code: err?.code ?? err?.name ?? 'UNKNOWN' });
  process.exit(3);
}
emit({
  type: 'checkout:ok',
  op,
  lease: lease.id,
  feature: lease.feature,
  count: lease.count,
  fencing: lease.fencingToken,
  deadline: deadline(),
});
lease.once('lost', (info) =>
  emit({ type: 'lost', lease: lease.id, code: info.code, reason: info.reason, deadline: deadline() }),
);

// The application's work: only while the SDK says the lease is valid (DESIGN §3.3).
const worker = setInterval(() => {
  if (lease.valid) emit({ type: 'use', lease: lease.id });
}, options.useEveryMs ?? 20);

const lines = createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  const command = line.trim();
  if (command === 'release') {
    const op = ++ops;
    emit({ type: 'release:invoke', op, lease: lease.id, deadline: deadline() });
    try {
      await lease.release();
      emit({ type: 'release:ok', op, lease: lease.id });
    } catch (err) {
      emit({ type: 'release:fail', op, lease: lease.id, code: err?.code ?? err?.name ?? 'UNKNOWN' });
    }
  } else if (command === 'finish') {
    clearInterval(worker);
    clearInterval(sampler);
    for (const l of client.leases) {
      if (l.state === 'held') emit({ type: 'held', lease: l.id, deadline: deadline() });
    }
    emit({ type: '$done' });
    await client.close({ release: false });
    process.exit(0);
  }
});
