/**
 * Issue 9 §2: a client process (the built SDK in a child, client-host.mjs) holding the only seat is
 * SIGSTOPped past the lease ttl while another client waits in the queue, then SIGCONTed. DESIGN
 * §3.3: the paused client's own deadline passes before the daemon re-grants the seat, so it has
 * stopped using the seat (`lease.valid` is false) before anyone else is granted it, and says so
 * ('lost', LEASE_EXPIRED) once it runs again; §3.4: its fencing token is older than the new
 * holder's and the daemon refuses it.
 */
import { describe, expect, it } from 'vitest';
import { DaemonFixture } from '../helpers/daemon-process.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { checkHistory, describeViolations } from './check-history.js';
import { ChildClient, ensureBuilt, recordedClient, SOAK, serverLeases, sleep } from './harness.js';
import { type EventOf, HistoryRecorder, monoNow } from './history.js';

const TTL_MS = 1500;
const CONFIG = `lease_ttl = "${TTL_MS}ms"
heartbeat_interval = "250ms"
[features.cad]
seats = 1`;
const ROUNDS = SOAK ? 10 : 1;

describe('a client SIGSTOPped past its ttl', () => {
  it(
    'stops using the seat before it is re-granted, reports the loss on SIGCONT, and its token is refused',
    async () => {
      await ensureBuilt();
      const fx = await DaemonFixture.create(CONFIG);
      await fx.start();
      for (let round = 0; round < ROUNDS; round++) {
        const recorder = new HistoryRecorder();
        const a = ChildClient.start(recorder, { server: fx.address, name: `a${round}`, feature: 'cad' });
        const granted = await a.next('checkout:ok');
        const b = await recordedClient(recorder, fx.address, `b${round}`);
        const waiting = b.checkout('cad', { wait: 15_000 });
        // Let a few heartbeats go by and b settle in the queue, then freeze a at a random phase.
        await sleep(400 + Math.random() * 250);
        a.child.kill('SIGSTOP');
        const stoppedAt = monoNow();
        const lease = await waiting;
        const grantedAt = monoNow();
        // Past the ttl, certainly: the seat was re-granted while a was frozen.
        await sleep(Math.max(0, stoppedAt + TTL_MS + 500 - monoNow()));
        a.child.kill('SIGCONT');
        const lost = await a.next('lost');
        await a.finish();
        b.finish();
        // The history first: at no instant two holders valid by their own deadlines.
        const onServer = await serverLeases(b);
        const violations = checkHistory(recorder.events, {
          seats: 1,
          serverLeases: onServer,
          allowLoss: (e) => e.code === 'LEASE_EXPIRED',
        });
        expect(violations, describeViolations(violations, recorder.events)).toEqual([]);
        expect(onServer.map((l) => l.id)).toEqual([lease.id]);

        expect(lost).toMatchObject({ lease: granted.lease, code: 'LEASE_EXPIRED', reason: 'expired' });
        // It noticed only after it ran again, but its deadline had passed before b was granted.
        expect(lost.t).toBeGreaterThan(grantedAt);
        expect(lost.deadline).toBeLessThan(grantedAt);
        const uses = a.events().filter((e): e is EventOf<'use'> => e.type === 'use');
        expect(uses.length).toBeGreaterThan(5);
        expect(Math.max(...uses.map((u) => u.t))).toBeLessThan(lost.deadline);
        expect(lease.fencingToken).toBeGreaterThan(granted.fencing);

        // The stale token is refused, for its own lease and for the seat's new lease.
        const peer = await RawPeer.connect(fx.address);
        await peer.hello();
        peer.send({
          type: 'heartbeat',
          id: 2,
          leases: [
            { lease: granted.lease, fencing: granted.fencing },
            { lease: lease.id, fencing: granted.fencing },
          ],
        });
        const beat = await peer.reply(2);
        expect(beat.type).toBe('heartbeat_ok');
        const refused = ['LEASE_EXPIRED', 'LEASE_REVOKED', 'LEASE_NOT_FOUND'];
        const lostEntries = (beat as { lost: { lease: string; code: string }[] }).lost;
        expect(lostEntries.map((l) => l.lease).sort()).toEqual([granted.lease, lease.id].sort());
        for (const l of lostEntries) expect(refused).toContain(l.code);
        peer.send({ type: 'checkin', id: 3, lease: granted.lease, fencing: granted.fencing });
        const checkin = await peer.reply(3);
        expect(checkin.type).toBe('error');
        expect(refused).toContain((checkin as { code: string }).code);

        await b.release(lease);
        await b.client.close();
      }
    },
    30_000 * ROUNDS,
  );
});
