/**
 * Issue 9 §2: the wall clock the daemon reads (DaemonOptions.wallClock: the audit trail, alerts,
 * the engine's block ends; and Date.now itself, in this process where the daemon runs) jumps by
 * hours, days and years, forward and back, while three clients hold every seat with heartbeats
 * and a fourth waits in the queue; then the daemon restarts with the wall clock two days ahead.
 * DESIGN §3.2: deadlines run on the monotonic clock only, so no lease expires because of a jump:
 * nobody loses a lease, the waiter is never granted, the daemon reclaims nothing and logs no
 * error, and the leases resume after the restart.
 */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { type DaemonSetup, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/daemon-process.js';
import { checkHistory, describeViolations } from './check-history.js';
import { allConnected, recordedClient, SOAK, serverLeases, sleep } from './harness.js';
import { HistoryRecorder } from './history.js';

const HOUR = 3_600_000;
const JUMPS = [6 * HOUR, -6 * HOUR, 30 * 24 * HOUR, -365 * 24 * HOUR, 10 * 365 * 24 * HOUR, -HOUR, 0];
const DURATION_MS = SOAK ? 30_000 : 3000;

function quiet(t: TestDaemon): void {
  const bad = t.logs.filter(
    (l) => l.level >= 50 || l.msg === 'lease reclaimed' || /session expired/.test(l.msg),
  );
  expect(bad).toEqual([]);
}

describe('wall-clock jumps', () => {
  it(
    'expire no lease, before and across a restart',
    async () => {
      const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-wall-'));
      onCleanup(() => rm(stateDir, { recursive: true, force: true }));
      let offset = 0;
      // Date.now jumps too, for any code in the daemon (in this process) that reads it directly.
      const realNow = Date.now.bind(Date);
      const spy = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
      onCleanup(() => spy.mockRestore());
      const setup: DaemonSetup = {
        features: '[features.cad]\nseats = 3',
        // Room for the in-process restart inside the client-side deadline, even on a loaded machine
        // (1.5 s was once too little at a load average of 5; the jumps are hours, so a longer ttl
        // hides no wall-clock bug).
        leaseTtl: '3s',
        heartbeatInterval: '250ms',
        server: 'restart_grace = "5s"',
        listen: `"127.0.0.1:${await freePort()}"`,
        stateDir,
        wallClock: () => realNow() + offset,
      };
      const first = await startTestDaemon(setup);
      const recorder = new HistoryRecorder();
      const holders = await Promise.all(
        ['a', 'b', 'c'].map((name) => recordedClient(recorder, first.address, name)),
      );
      const leases = await Promise.all(holders.map((h) => h.checkout('cad')));
      const waiter = await recordedClient(recorder, first.address, 'w');
      let granted = false;
      const waiting = waiter.checkout('cad', { wait: 60_000 });
      waiting.then(
        () => {
          granted = true;
        },
        () => {},
      );
      const end = performance.now() + DURATION_MS;
      let jumps = 0;
      while (performance.now() < end) {
        offset = JUMPS[jumps++ % JUMPS.length]! + Math.round((Math.random() - 0.5) * HOUR);
        await sleep(50 + Math.random() * 150);
        for (const [i, h] of holders.entries()) h.use(leases[i]!);
      }
      expect(leases.every((l) => l.valid)).toBe(true);
      expect(granted).toBe(false);
      quiet(first);

      // A restart with the wall clock two days ahead (the machine's clock was fixed while it was down).
      await first.daemon.close();
      offset = 2 * 24 * HOUR;
      const second = await startTestDaemon(setup);
      await allConnected([...holders, waiter]);
      for (let i = 0; i < 10; i++) {
        offset = -offset;
        await sleep(100);
      }
      expect(leases.every((l) => l.valid)).toBe(true);
      expect(granted).toBe(false);
      const onServer = await serverLeases(holders[0]!);
      expect(onServer.map((l) => l.id).sort()).toEqual(leases.map((l) => l.id).sort());
      quiet(second);
      for (const h of [...holders, waiter]) h.finish();
      const violations = checkHistory(recorder.events, { seats: 3, serverLeases: onServer });
      expect(violations, describeViolations(violations, recorder.events)).toEqual([]);
      expect(recorder.events.filter((e) => e.type === 'lost')).toEqual([]);
      console.log(`wall-clock: ${jumps} jumps over ${DURATION_MS} ms, a restart 2 days ahead; no lease lost`);
    },
    DURATION_MS + 20_000,
  );
});
