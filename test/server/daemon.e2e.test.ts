/** Issue 3: the daemon's log lines and SDK failover over a server list. */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { LeaseholdClient } from '../../src/client/client.js';
import { onCleanup } from '../helpers/cleanup.js';
import { startTestDaemon } from '../helpers/daemon.js';

describe('daemon logs', () => {
  it('one line per lifecycle event, with the reason where there is one, and nothing per heartbeat at info', async () => {
    const t = await startTestDaemon({ leaseTtl: '300ms', heartbeatInterval: '50ms' });
    const a = await LeaseholdClient.connect({ servers: [t.address], user: 'alice', host: 'ws-1' });
    const b = await LeaseholdClient.connect({ servers: [t.address], user: 'bob', host: 'ws-2' });
    onCleanup(() => b.close());
    const lease = await a.checkout('cad');
    await expect(b.checkout('cad')).rejects.toMatchObject({ code: 'NO_SEATS' });
    await new Promise((r) => setTimeout(r, 400)); // several heartbeats
    await lease.release();
    await a.close();
    const info = t.logs.filter((l) => l.level >= 30).map((l) => l.msg);
    expect(info[0]).toBe('leasehold starting');
    expect(info.indexOf('listening')).toBeGreaterThan(info.indexOf('state recovered'));
    expect(t.logs[0]).toMatchObject({
      features: [{ name: 'cad', seats: 1, model: 'concurrent' }],
      leaseTtlMs: 300,
    });
    expect(info.filter((m) => m === 'lease granted')).toHaveLength(1);
    expect(info.filter((m) => m === 'lease released')).toHaveLength(1);
    const denial = t.logs.filter((l) => l.msg.startsWith('checkout denied'));
    expect(denial).toHaveLength(1);
    expect(denial[0]).toMatchObject({ code: 'NO_SEATS', user: 'bob', feature: 'cad' });
    expect(info.filter((m) => /heartbeat/i.test(m))).toEqual([]);
    expect(t.logs.find((l) => l.msg === 'lease granted')).toMatchObject({
      lease: lease.id,
      feature: 'cad',
      user: 'alice',
      host: 'ws-1',
      fencing: lease.fencingToken,
    });
  });
});

describe('server list', () => {
  it('connect() skips an unreachable server and uses the next one', async () => {
    const t = await startTestDaemon();
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as { port: number }).port;
    await new Promise((r) => dead.close(r));
    const client = await LeaseholdClient.connect({
      servers: [`127.0.0.1:${deadPort}`, t.address],
      user: 'u',
      host: 'h',
    });
    onCleanup(() => client.close());
    await expect(client.checkout('cad')).resolves.toMatchObject({ feature: 'cad' });
  });

  it('reconnects to the next server when its server goes away', async () => {
    const first = await startTestDaemon({ leaseTtl: '2s', heartbeatInterval: '100ms' });
    const second = await startTestDaemon({ leaseTtl: '2s', heartbeatInterval: '100ms' });
    const client = await LeaseholdClient.connect({
      servers: [first.address, second.address],
      user: 'u',
      host: 'h',
      reconnectInitialDelayMs: 20,
      reconnectMaxDelayMs: 50,
    });
    onCleanup(() => client.close());
    const reconnected = new Promise((r) => client.once('reconnected', r));
    await first.daemon.close();
    // The second server does not know the session: the client starts a new one there.
    await expect(reconnected).resolves.toMatchObject({ resumed: false, server: second.address });
    await expect(client.checkout('cad')).resolves.toMatchObject({ feature: 'cad' });
  });
});
