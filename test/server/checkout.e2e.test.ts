/** Issue 3: the daemon and the SDK end to end over real TCP on 127.0.0.1. */
import { describe, expect, it } from 'vitest';
import { LeaseholdClient } from '../../src/client/client.js';
import { ErrorCode } from '../../src/protocol/codes.js';
import { NoSeatsError } from '../../src/protocol/errors.js';
import { onCleanup } from '../helpers/cleanup.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { RawPeer } from '../helpers/raw-peer.js';

async function client(address: string, user = 'alice'): Promise<LeaseholdClient> {
  const c = await LeaseholdClient.connect({ servers: [address], user, host: 'ws-1', clientName: 'e2e' });
  onCleanup(() => c.close());
  return c;
}

describe('checkout over TCP', () => {
  it('seats = 1: a second client is denied NO_SEATS with the clear message, and succeeds after the first releases', async () => {
    const { address } = await startTestDaemon();
    const a = await client(address, 'alice');
    const b = await client(address, 'bob');
    const lease = await a.checkout('cad');
    expect(lease.valid).toBe(true);
    expect(lease.fencingToken).toBeGreaterThan(0);

    const denied = await b.checkout('cad').catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(NoSeatsError);
    expect((denied as NoSeatsError).code).toBe(ErrorCode.NoSeats);
    expect((denied as NoSeatsError).message).toBe(
      "The only seat of feature 'cad' is in use. Wait for a free seat or ask an admin to free one.",
    );

    await lease.release();
    expect(lease.valid).toBe(false);
    const second = await b.checkout('cad');
    expect(second.fencingToken).toBeGreaterThan(lease.fencingToken);
    const status = await a.status('cad');
    expect(status.features[0]).toMatchObject({ name: 'cad', seats: 1, inUse: 1, free: 0 });
    expect(status.features[0]!.leases[0]).toMatchObject({
      id: second.id,
      user: 'bob',
      host: 'ws-1',
      count: 1,
    });
  });

  it('a checkout with wait gets the seat when it frees', async () => {
    const { address } = await startTestDaemon();
    const a = await client(address, 'alice');
    const b = await client(address, 'bob');
    const lease = await a.checkout('cad');
    const waiting = b.checkout('cad', { wait: 5000 });
    setTimeout(() => void lease.release(), 200);
    const got = await waiting;
    expect(got.valid).toBe(true);
  });

  it('unknown features and oversize counts are refused with their codes', async () => {
    const { address } = await startTestDaemon();
    const a = await client(address);
    await expect(a.checkout('nope')).rejects.toMatchObject({ code: ErrorCode.UnknownFeature });
    await expect(a.checkout('cad', { count: 2 })).rejects.toMatchObject({
      code: ErrorCode.CountExceedsSeats,
    });
  });

  it('close() releases what the client holds', async () => {
    const { address } = await startTestDaemon();
    const a = await client(address, 'alice');
    await a.checkout('cad');
    await a.close();
    const b = await client(address, 'bob');
    await expect(b.checkout('cad')).resolves.toBeDefined();
  });

  it('reports the ttl and heartbeat interval the server advertises and keeps a lease alive well past the ttl', async () => {
    const { address, daemon } = await startTestDaemon({ leaseTtl: '300ms', heartbeatInterval: '100ms' });
    const a = await client(address);
    const lease = await a.checkout('cad');
    await new Promise((r) => setTimeout(r, 1000));
    expect(lease.valid).toBe(true);
    expect(daemon.engine.listLeases().map((l) => l.id)).toEqual([lease.id]);
  });

  it('bye releases every lease, answers bye_ok once that is durable, then closes', async () => {
    const { address, daemon } = await startTestDaemon({ features: '[features.cad]\nseats = 3' });
    const peer = await RawPeer.connect(address);
    await peer.hello();
    peer.send({ type: 'checkout', id: 2, feature: 'cad', count: 2 });
    await peer.reply(2);
    peer.send({ type: 'bye', id: 3 });
    expect(await peer.reply(3)).toEqual({ type: 'bye_ok', id: 3, released: 1 });
    await peer.closed;
    expect(daemon.engine.listLeases()).toEqual([]);
  });
});
