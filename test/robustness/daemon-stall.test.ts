/**
 * Issue 9 §2: the daemon itself cannot run for a while, two ways: `leasehold serve` SIGSTOPped
 * (then SIGCONTed), and its event loop blocked by a long synchronous task (daemon-host.mjs `block`,
 * a test-only host around the same Daemon: a busy loop in the test's own process would freeze the
 * clients too, so the daemon runs in a child either way). A holder keeps heartbeating into the
 * frozen daemon while another client waits in the queue for the only seat.
 *
 * - A stall shorter than the holder's client-side deadline: on resume the daemon reads the
 *   heartbeats that queued up, the holder keeps its lease and the waiter is not granted it; the
 *   stall is logged.
 * - A stall past the ttl: the holder's own deadline passes while the daemon is frozen (no heartbeat
 *   can be acknowledged), so it reports the loss and stops first; only then may the seat move on.
 *
 * In both the checker sees at most one valid holder at every instant.
 */
import { describe, expect, it } from 'vitest';
import { DaemonFixture, type DaemonProcess } from '../helpers/daemon-process.js';
import { checkHistory, describeViolations } from './check-history.js';
import { DAEMON_HOST, ensureBuilt, recordedClient, SOAK, serverLeases, sleep, waitUntil } from './harness.js';
import { HistoryRecorder, monoNow } from './history.js';

const TTL_MS = 2000;
const HEARTBEAT_MS = 250;
const CONFIG = `lease_ttl = "${TTL_MS}ms"
heartbeat_interval = "${HEARTBEAT_MS}ms"
[features.cad]
seats = 1`;
const ROUNDS = SOAK ? 5 : 1;

type Method = 'SIGSTOP' | 'blocked event loop';

async function startDaemon(method: Method): Promise<{ fx: DaemonFixture; proc: DaemonProcess }> {
  await ensureBuilt();
  const fx = await DaemonFixture.create(CONFIG);
  const proc = method === 'SIGSTOP' ? await fx.start() : await fx.start([], { script: DAEMON_HOST });
  return { fx, proc };
}

/** Freezes the daemon for `ms`; resolves when it runs again. */
async function stall(proc: DaemonProcess, method: Method, ms: number): Promise<void> {
  if (method === 'SIGSTOP') {
    proc.child.kill('SIGSTOP');
    await sleep(ms);
    proc.child.kill('SIGCONT');
  } else {
    const before = proc.output().length;
    proc.child.stdin!.write(`block ${ms}\n`);
    await waitUntil(
      () => proc.output().slice(before).includes('host: event loop free again'),
      ms + 5000,
      'unblock',
    );
  }
}

interface StallLog {
  stalledMs: number;
}

/** The stall the daemon logs (its watchdog's next tick after the resume). */
async function stallLogged(proc: DaemonProcess, since: number): Promise<StallLog> {
  const find = () =>
    proc
      .output()
      .slice(since)
      .split('\n')
      .find((l) => l.includes('deadlines extended by that much'));
  await waitUntil(() => find() !== undefined, 2000, 'the daemon logs the stall');
  return JSON.parse(find()!) as StallLog;
}

for (const method of ['SIGSTOP', 'blocked event loop'] as const) {
  describe(`daemon stalled (${method})`, () => {
    it(
      'shorter than the client-side deadline: the holder keeps its lease, the waiter is not granted it',
      async () => {
        const { fx, proc } = await startDaemon(method);
        for (let round = 0; round < ROUNDS; round++) {
          const recorder = new HistoryRecorder();
          const a = await recordedClient(recorder, fx.address, `a${round}`);
          const b = await recordedClient(recorder, fx.address, `b${round}`);
          const lease = await a.checkout('cad');
          const waiting = b.checkout('cad', { wait: 20_000 });
          waiting.catch(() => {});
          let grantedAt: number | undefined;
          void waiting.then(() => {
            grantedAt = monoNow();
          });
          await sleep(300 + Math.random() * HEARTBEAT_MS);
          // Well inside ttl − margin − heartbeat interval (1550 ms): a's deadline outlives it.
          const stallMs = 800;
          const logFrom = proc.output().length;
          await stall(proc, method, stallMs);
          const resumedAt = monoNow();
          // Several heartbeats after the resume: all acknowledged, the lease held, the waiter waiting.
          await sleep(4 * HEARTBEAT_MS);
          expect(lease.valid).toBe(true);
          expect(a.deadline).toBeGreaterThan(resumedAt + TTL_MS / 2);
          expect(grantedAt).toBeUndefined();
          expect((await serverLeases(a)).map((l) => l.id)).toEqual([lease.id]);
          expect((await stallLogged(proc, logFrom)).stalledMs).toBeGreaterThan(stallMs - 300);
          // The seat passes on when it is given back.
          await a.release(lease);
          const next = await waiting;
          expect(next.fencingToken).toBeGreaterThan(lease.fencingToken);
          a.finish();
          b.finish();
          const violations = checkHistory(recorder.events, { seats: 1, serverLeases: await serverLeases(b) });
          expect(violations, describeViolations(violations, recorder.events)).toEqual([]);
          expect(recorder.events.filter((e) => e.type === 'lost')).toEqual([]);
          await b.release(next);
        }
      },
      20_000 * ROUNDS,
    );

    it(
      'past the ttl: the holder reports the loss while the daemon is frozen, before the seat moves on',
      async () => {
        const { fx, proc } = await startDaemon(method);
        for (let round = 0; round < ROUNDS; round++) {
          const recorder = new HistoryRecorder();
          const a = await recordedClient(recorder, fx.address, `a${round}`);
          const b = await recordedClient(recorder, fx.address, `b${round}`);
          const lease = await a.checkout('cad');
          const lostAt = new Promise<number>((resolve) => lease.once('lost', () => resolve(monoNow())));
          const waiting = b.checkout('cad', { wait: 20_000 });
          waiting.catch(() => {});
          await sleep(300 + Math.random() * HEARTBEAT_MS);
          const stallMs = TTL_MS + 1000;
          const bSession = b.client.sessionId;
          const frozenAt = monoNow();
          const logFrom = proc.output().length;
          await stall(proc, method, stallMs);
          const resumedAt = monoNow();
          // NaN (failing below) if the SDK never gives the lease up.
          const lost = await Promise.race([lostAt, sleep(3000).then(() => Number.NaN)]);
          expect(lost).toBeGreaterThan(frozenAt);
          expect(lost).toBeLessThan(resumedAt);
          expect((await stallLogged(proc, logFrom)).stalledMs).toBeGreaterThan(stallMs - 300);
          // Its own stall did not count against the sessions: the waiter kept its session (and its
          // place in the queue), and no session expired.
          expect(b.client.sessionId).toBe(bSession);
          expect(proc.output().slice(logFrom)).not.toContain('session expired');
          // The daemon did not count the stall, so it does not reclaim at once; a gave the lease up
          // and its SDK checks it in over the same connection, so the seat moves on to b.
          const next = await waiting;
          const grantedAt = monoNow();
          expect(grantedAt).toBeGreaterThan(resumedAt);
          expect(next.fencingToken).toBeGreaterThan(lease.fencingToken);
          a.finish();
          b.finish();
          const violations = checkHistory(recorder.events, {
            seats: 1,
            serverLeases: await serverLeases(b),
            allowLoss: (e) => e.code === 'LEASE_EXPIRED',
          });
          expect(violations, describeViolations(violations, recorder.events)).toEqual([]);
          await b.release(next);
        }
      },
      20_000 * ROUNDS,
    );
  });
}
