/** Issue 4 end to end over TCP: the queue, named seats, groups, and the queue/sessions commands. */
import { describe, expect, it } from 'vitest';
import { LeaseholdClient } from '../../src/client/client.js';
import type { Lease } from '../../src/client/lease.js';
import { onCleanup } from '../helpers/cleanup.js';
import { runBin } from '../helpers/cli.js';
import { startTestDaemon } from '../helpers/daemon.js';

async function client(address: string, user: string, host = 'ws-1'): Promise<LeaseholdClient> {
  const c = await LeaseholdClient.connect({ servers: [address], user, host, clientName: 'e2e' });
  onCleanup(() => c.close());
  return c;
}

const until = async (check: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('the queue over TCP', () => {
  it('three clients wait for one seat and get it in order as it frees', async () => {
    const { address, daemon } = await startTestDaemon({ leaseTtl: '2s', heartbeatInterval: '200ms' });
    const holder = await client(address, 'holder');
    let lease: Lease = await holder.checkout('cad');
    const order: string[] = [];
    const positions: Record<string, number[]> = { w1: [], w2: [], w3: [] };
    const waiting: Promise<Lease>[] = [];
    const waiters: LeaseholdClient[] = [];
    for (const name of ['w1', 'w2', 'w3']) {
      const c = await client(address, name);
      waiters.push(c);
      waiting.push(
        c.checkout('cad', { wait: 10_000, onQueued: (p) => positions[name]!.push(p) }).then((l) => {
          order.push(name);
          return l;
        }),
      );
      await until(() => daemon.engine.queueStatus('cad').length === waiters.length);
    }
    expect(daemon.engine.queueStatus('cad').map((w) => [w.user, w.position])).toEqual([
      ['w1', 1],
      ['w2', 2],
      ['w3', 3],
    ]);
    const status = await holder.status('cad');
    expect(status.features[0]!.queued).toBe(3);

    for (let i = 0; i < 3; i++) {
      await lease.release();
      lease = await waiting[i]!;
      expect(lease.valid).toBe(true);
    }
    expect(order).toEqual(['w1', 'w2', 'w3']);
    // Positions were pushed as the queue moved: w3 went 3 → 2 → 1.
    expect(positions.w3).toEqual([3, 2, 1]);
    expect(daemon.engine.listLeases().map((l) => l.user)).toEqual(['w3']);
  });

  it('an aborted waiter leaves the queue, and one that disconnects too', async () => {
    const { address, daemon } = await startTestDaemon({ leaseTtl: '2s', heartbeatInterval: '200ms' });
    const holder = await client(address, 'holder');
    const lease = await holder.checkout('cad');
    const quitter = await client(address, 'quitter');
    const leaver = await client(address, 'leaver');
    const patient = await client(address, 'patient');
    const controller = new AbortController();
    const aborted = quitter
      .checkout('cad', { wait: 10_000, signal: controller.signal })
      .catch((e: unknown) => e);
    await until(() => daemon.engine.queueStatus('cad').length === 1);
    void leaver.checkout('cad', { wait: 10_000 }).catch(() => {});
    await until(() => daemon.engine.queueStatus('cad').length === 2);
    const patientLease = patient.checkout('cad', { wait: 10_000 });
    await until(() => daemon.engine.queueStatus('cad').length === 3);

    controller.abort();
    expect(await aborted).toMatchObject({ code: 'ABORTED' });
    await until(() => daemon.engine.queueStatus('cad').length === 2);
    await leaver.close();
    await until(() => daemon.engine.queueStatus('cad').length === 1);
    expect(daemon.engine.queueStatus('cad').map((w) => [w.user, w.position])).toEqual([['patient', 1]]);

    await lease.release();
    await expect(patientLease).resolves.toMatchObject({ feature: 'cad' });
    expect(daemon.engine.listLeases().map((l) => l.user)).toEqual(['patient']);
  });

  it('a wait that runs out fails with the denial it waited out', async () => {
    const { address } = await startTestDaemon();
    const holder = await client(address, 'holder');
    await holder.checkout('cad');
    const late = await client(address, 'late');
    await expect(late.checkout('cad', { wait: 300 })).rejects.toMatchObject({ code: 'NO_SEATS' });
  });
});

describe('named seats and groups over TCP', () => {
  const features = `
[users.carol]
[users.alice]
groups = ["design"]
[users.bob]
[groups.design]
[features.cad]
seats = 3
model = "mixed"
named_users = ["carol"]
[features.cad.groups.design]
reserve = 1
`;

  it('a named user gets a seat while the pool is full; reserved seats stay for their group', async () => {
    const { address, daemon } = await startTestDaemon({ features });
    const bob = await client(address, 'bob');
    await bob.checkout('cad');
    // One pool seat left, reserved for design: bob cannot take it.
    await expect(bob.checkout('cad')).rejects.toMatchObject({ code: 'SEATS_RESERVED' });
    const alice = await client(address, 'alice');
    await expect(alice.checkout('cad')).resolves.toMatchObject({ feature: 'cad' });
    // The pool is full now; carol's named seat is still hers, from two sessions sharing it.
    const carol1 = await client(address, 'carol', 'laptop');
    const carol2 = await client(address, 'carol', 'desktop');
    await expect(carol1.checkout('cad')).resolves.toMatchObject({ feature: 'cad' });
    await expect(carol2.checkout('cad')).resolves.toMatchObject({ feature: 'cad' });
    const status = (await bob.status('cad')).features[0]!;
    expect(status).toMatchObject({
      seats: 3,
      inUse: 3,
      namedSeats: 1,
      namedInUse: 1,
      concurrentSeats: 2,
      concurrentInUse: 2,
    });
    expect(status.groups).toEqual([{ name: 'design', inUse: 1, reserve: 1 }]);
    expect(daemon.engine.listLeases({ type: 'named' }).map((l) => l.user)).toEqual(['carol', 'carol']);
    // A user outside the directory is not enabled for a closed feature.
    const mallory = await client(address, 'mallory');
    await expect(mallory.checkout('cad')).rejects.toMatchObject({ code: 'USER_NOT_ENABLED' });
  });

  it('`sessions --type` and `queue --json` show the right rows', async () => {
    // A ttl that a loaded machine cannot miss: the CLI runs below take seconds there, and a session
    // lost meanwhile would change the rows (this failed once at a load average of 5 with 300 ms).
    const { address } = await startTestDaemon({ features, leaseTtl: '5s', heartbeatInterval: '1s' });
    const carol = await client(address, 'carol');
    await carol.checkout('cad');
    const bob = await client(address, 'bob');
    await bob.checkout('cad');
    const alice = await client(address, 'alice');
    await alice.checkout('cad');
    const bob2 = await client(address, 'bob', 'ws-2');
    void bob2.checkout('cad', { wait: 10_000 }).catch(() => {});
    const deadline = Date.now() + 5000;
    let queue: { waiters: Array<Record<string, unknown>> } = { waiters: [] };
    while (queue.waiters.length === 0 && Date.now() < deadline) {
      const r = await runBin(['queue', 'cad', '--json', '--server', address]);
      expect(r.code).toBe(0);
      queue = JSON.parse(r.stdout);
    }
    expect(queue.waiters).toEqual([
      expect.objectContaining({
        feature: 'cad',
        position: 1,
        user: 'bob',
        host: 'ws-2',
        count: 1,
        priority: 0,
      }),
    ]);
    expect(Date.parse(queue.waiters[0]!.since as string)).toBeLessThanOrEqual(Date.now());

    const named = await runBin(['sessions', '--type', 'named', '--json', '--server', address]);
    expect(named.code).toBe(0);
    expect(
      JSON.parse(named.stdout).sessions.map((s: { user: string; type: string }) => [s.user, s.type]),
    ).toEqual([['carol', 'named']]);
    const concurrent = await runBin(['sessions', '--type', 'concurrent', '--json', '--server', address]);
    expect(
      JSON.parse(concurrent.stdout)
        .sessions.map((s: { user: string }) => s.user)
        .sort(),
    ).toEqual(['alice', 'bob']);
    const table = await runBin(['sessions', '--server', address]);
    expect(table.stdout).toMatch(/cad\s+named\s+carol/);
    expect(table.stdout).toMatch(/cad\s+concurrent\s+alice\s+ws-1\s+\S+\s+design/);
  });
});
