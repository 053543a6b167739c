/**
 * Issue 9: the suite must fail on a deliberately injected bug. The same scenario runs against a
 * correct daemon and against one that reclaims at ttl/2 (daemon-host.mjs --clock-rate 2: its
 * monotonic clock runs twice as fast, a test-only DaemonOptions.clock that no config can set).
 *
 * A child client holds the only seat and is SIGSTOPped for 5/8 of the ttl while another client
 * waits. The correct daemon keeps the seat (the holder's deadline outlives the pause); the broken
 * one re-grants it at ttl/2 while the paused holder's client-side deadline is still live, and the
 * history checker must say so.
 */
import { describe, expect, it } from 'vitest';
import { DaemonFixture } from '../helpers/daemon-process.js';
import { checkHistory, type Violation } from './check-history.js';
import { ChildClient, DAEMON_HOST, ensureBuilt, recordedClient, sleep } from './harness.js';
import { HistoryRecorder } from './history.js';

// The holder's deadline is at least ttl − margin − heartbeat interval (3350 ms) after the pause
// begins; the broken daemon reclaims at most ttl/2 (2000 ms) after it.
const TTL_MS = 4000;
const PAUSE_MS = 2500;

async function pausedHolder(
  clockRate: number,
): Promise<{ violations: Violation[]; recorder: HistoryRecorder }> {
  await ensureBuilt();
  const fx = await DaemonFixture.create(
    `lease_ttl = "${TTL_MS}ms"\nheartbeat_interval = "250ms"\n[features.cad]\nseats = 1`,
  );
  await fx.start(['--clock-rate', String(clockRate)], { script: DAEMON_HOST });
  const recorder = new HistoryRecorder();
  const a = ChildClient.start(recorder, { server: fx.address, name: 'a', feature: 'cad' });
  await a.next('checkout:ok');
  const b = await recordedClient(recorder, fx.address, 'b');
  const waiting = b.checkout('cad', { wait: 2 * TTL_MS });
  waiting.catch(() => {});
  await sleep(400 + Math.random() * 250);
  a.child.kill('SIGSTOP');
  await sleep(PAUSE_MS);
  a.child.kill('SIGCONT');
  await sleep(500);
  await a.finish();
  b.finish();
  return { violations: checkHistory(recorder.events, { seats: 1 }), recorder };
}

describe('an injected bug makes the suite fail', () => {
  it('a correct daemon keeps the paused holder’s seat: no violation', async () => {
    const { violations, recorder } = await pausedHolder(1);
    expect(violations).toEqual([]);
    // The holder kept its lease through the pause, and the waiter waited.
    expect(recorder.count('lost')).toBe(0);
    expect(recorder.events.filter((e) => e.type === 'checkout:ok').map((e) => e.client)).toEqual(['a']);
  }, 20_000);

  it('a daemon that reclaims at ttl/2 re-grants a seat whose holder may still use it: the checker reports it', async () => {
    const { violations } = await pausedHolder(2);
    expect(violations.map((v) => v.rule)).toContain('seats');
  }, 20_000);
});
