/**
 * The SDK's timing rules with vitest fake timers over in-memory pipes to the real server handler
 * (STYLE.md §6, §10): heartbeat cadence, loss at the client-side deadline, reconnect backoff, and no
 * timer left behind after close().
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaseholdClient } from '../../src/client/client.js';
import type { LeaseLostInfo } from '../../src/client/lease.js';
import { type MemoryServer, memoryServer } from '../helpers/memory-server.js';

let server: MemoryServer;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] });
});

afterEach(() => {
  server?.stop();
  vi.useRealTimers();
});

async function connect(extra = {}): Promise<LeaseholdClient> {
  const pending = LeaseholdClient.connect({
    servers: ['memory:1'],
    user: 'alice',
    host: 'ws-1',
    transport: server.transport,
    reconnectInitialDelayMs: 100,
    reconnectMaxDelayMs: 1000,
    ...extra,
  });
  await vi.advanceTimersByTimeAsync(0);
  return pending;
}

describe('SDK keepalive', () => {
  it('sends a heartbeat every interval the server advertises, listing its leases with their idle time', async () => {
    server = memoryServer();
    const heartbeat = vi.spyOn(server.engine, 'heartbeat');
    const client = await connect();
    const lease = await client.checkout('cad');
    expect(heartbeat).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(199);
    expect(heartbeat).toHaveBeenCalledTimes(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(heartbeat).toHaveBeenCalledTimes(1);
    expect(heartbeat.mock.calls[0]![1]).toEqual({
      leases: [{ lease: lease.id, fencing: lease.fencingToken, idleMs: 200 }],
    });
    lease.touch();
    await vi.advanceTimersByTimeAsync(1000);
    expect(heartbeat).toHaveBeenCalledTimes(6);
    expect(heartbeat.mock.calls[1]![1]?.leases?.[0]?.idleMs).toBe(200);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(lease.valid).toBe(true);
    await client.close();
  });

  it('reports `lost` at the deadline (send time of the last acknowledged renewal + ttl − margin), not before', async () => {
    server = memoryServer(undefined, { leaseTtlMs: 1000, heartbeatIntervalMs: 200 });
    const client = await connect({ safetyMarginMs: 100 });
    const lease = await client.checkout('cad');
    await vi.advanceTimersByTimeAsync(400); // two heartbeats acknowledged; the last sent at t0+400
    const lastAckedSend = performance.now();
    server.serverEnds[0]!.hold(true); // replies stop arriving; the connection stays open
    const lost: LeaseLostInfo[] = [];
    lease.on('lost', (info) => lost.push(info));
    const deadline = lastAckedSend + 1000 - 100;
    await vi.advanceTimersByTimeAsync(deadline - performance.now() - 1);
    expect(lost).toEqual([]);
    expect(lease.valid).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(lost).toEqual([expect.objectContaining({ code: 'LEASE_EXPIRED', reason: 'expired' })]);
    expect(lease.valid).toBe(false);
    // The server would reclaim only at its last received heartbeat + ttl; the SDK gave the lease
    // up first, so it checks it in at once over the live connection (its requests still arrive).
    await vi.advanceTimersByTimeAsync(0);
    expect(server.engine.listLeases()).toEqual([]);
    await client.close({ release: false });
  });

  it('reconnects with growing, jittered delays and resumes the same lease', async () => {
    server = memoryServer(undefined, { leaseTtlMs: 10_000, heartbeatIntervalMs: 1000 });
    const client = await connect();
    const lease = await client.checkout('cad');
    server.refuse = new Error('connection refused');
    server.serverEnds[0]!.destroy();
    await vi.advanceTimersByTimeAsync(0);
    expect(client.connected).toBe(false);
    const before = server.connects;
    // Delays: attempt n waits between half and all of min(1000, 100 · 2^n).
    await vi.advanceTimersByTimeAsync(49);
    expect(server.connects).toBe(before);
    await vi.advanceTimersByTimeAsync(51 + 200 + 400);
    expect(server.connects).toBeGreaterThanOrEqual(before + 2);
    expect(server.connects).toBeLessThanOrEqual(before + 3);
    server.refuse = undefined;
    const reconnected = new Promise((r) => client.once('reconnected', r));
    await vi.advanceTimersByTimeAsync(2000);
    await expect(reconnected).resolves.toMatchObject({ resumed: true });
    expect(client.connected).toBe(true);
    expect(lease.valid).toBe(true);
    expect(server.engine.listLeases().map((l) => [l.id, l.fencing])).toEqual([
      [lease.id, lease.fencingToken],
    ]);
    await client.close();
  });

  it('close() releases the leases and leaves no timer behind', async () => {
    server = memoryServer();
    const client = await connect();
    await client.checkout('cad');
    await vi.advanceTimersByTimeAsync(500);
    const closing = client.close();
    await vi.advanceTimersByTimeAsync(0);
    await closing;
    expect(server.engine.listLeases()).toEqual([]);
    server.stop();
    await vi.advanceTimersByTimeAsync(2000); // the server side's close grace timers
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a revoked push marks the lease lost at once with the reason', async () => {
    server = memoryServer();
    const client = await connect();
    const lease = await client.checkout('cad');
    const lost = new Promise<LeaseLostInfo>((r) => lease.once('lost', r));
    server.engine.revoke(lease.id, 'admin');
    await vi.advanceTimersByTimeAsync(0);
    await expect(lost).resolves.toMatchObject({ code: 'LEASE_REVOKED', reason: 'admin' });
    expect(client.leases).toEqual([]);
    await client.close();
  });

  it("an exception thrown by a 'lost' listener does not break the client", async () => {
    server = memoryServer();
    const client = await connect();
    const lease = await client.checkout('cad');
    lease.on('lost', () => {
      throw new Error('application bug');
    });
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      server.engine.revoke(lease.id, 'admin');
      await vi.advanceTimersByTimeAsync(0);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    // The application's exception surfaces as its own (uncaught), the lease is lost all the same,
    // and the client goes on working.
    expect(uncaught).toEqual([expect.objectContaining({ message: 'application bug' })]);
    expect(lease.state).toBe('lost');
    expect(client.connected).toBe(true);
    const again = await client.checkout('cad');
    expect(again.valid).toBe(true);
    await client.close();
  });
});
