/**
 * Issue 9 §2: `leasehold serve` SIGKILLed at random moments while 8 clients check out and release
 * seats of a 5-seat feature (short holds, some waiting in the queue, some taking two seats), then
 * restarted on the same state directory. The combined history must keep DESIGN §3: never more
 * than 5 seats valid by their holders' deadlines, every acknowledged grant released, reported lost
 * (only LEASE_EXPIRED: a daemon that forgot a lease would answer LEASE_NOT_FOUND) or still held,
 * fencing tokens growing across every restart, and at the end the daemon holds exactly what the
 * clients hold (or were told they lost).
 *
 * npm test: 20 cycles; npm run soak: 500.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DaemonFixture } from '../helpers/daemon-process.js';
import { checkHistory, describeViolations } from './check-history.js';
import {
  allConnected,
  churn,
  ensureBuilt,
  randomInt,
  recordedClient,
  SOAK,
  settledServerLeases,
  sleep,
} from './harness.js';
import { eventsOf, HistoryRecorder } from './history.js';

/** KILL_CYCLES=n overrides, to chase a rare failure. */
const CYCLES = Number(process.env.KILL_CYCLES ?? (SOAK ? 500 : 20));
const CLIENTS = 8;
const SEATS = 5;
// The ttl leaves room for a restart (≈ 0.5 s, more on a loaded machine) inside the client-side
// deadline; snapshots every second so that kills also land during snapshot writes and compaction.
const CONFIG = `lease_ttl = "2s"
heartbeat_interval = "250ms"
restart_grace = "10s"
snapshot_interval = "1s"
[features.cad]
seats = ${SEATS}`;

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

describe('daemon SIGKILLed under concurrent checkouts', () => {
  it(
    `${CYCLES} kill/restart cycles: the history keeps every promise`,
    async () => {
      await ensureBuilt();
      const started = Date.now();
      const fx = await DaemonFixture.create(CONFIG);
      await fx.start();
      const recorder = new HistoryRecorder();
      const clients = await Promise.all(
        Array.from({ length: CLIENTS }, (_, i) => recordedClient(recorder, fx.address, `c${i}`)),
      );
      let running = true;
      const workers = clients.map((c) => churn(c, () => running));
      /** Every daemon run's log, written out with the history when the check fails. */
      const logs: string[] = [];
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        await sleep(randomInt(50, 600));
        logs.push(fx.current?.output() ?? '');
        await fx.kill();
        await sleep(randomInt(0, 100));
        await fx.start();
      }
      // Let the last restart settle under load, then stop the workload and let every call finish.
      await sleep(500);
      running = false;
      await Promise.all(workers);
      await allConnected(clients);
      const onServer = await settledServerLeases(clients);
      for (const c of clients) c.finish();

      const found = checkHistory(recorder.events, {
        seats: SEATS,
        serverLeases: onServer,
        allowLoss: (e) => e.code === 'LEASE_EXPIRED',
      });
      const violations = found;
      const grants = recorder.count('checkout:ok');
      console.log(
        `daemon-kill: ${CYCLES} cycles in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
          `${grants} grants, ${recorder.count('release:ok')} releases, ${recorder.count('lost')} losses, ` +
          `${recorder.count('checkout:fail')} failed checkouts, ${recorder.events.length} events; ` +
          `losses by code ${JSON.stringify(countBy(eventsOf(recorder.events, 'lost'), (e) => `${e.code}/${e.reason}`))}; ` +
          `${violations.length} violations`,
      );
      if (violations.length > 0) {
        logs.push(fx.current?.output() ?? '');
        const file = join(tmpdir(), `leasehold-daemon-kill-${process.pid}.log`);
        writeFileSync(file, logs.join(''));
        console.log(`daemon logs: ${file}`);
      }
      expect(violations, describeViolations(violations, recorder.events)).toEqual([]);
      // The workload really ran through the restarts.
      expect(grants).toBeGreaterThan(CYCLES * 2);
    },
    60_000 + CYCLES * 2500,
  );
});
