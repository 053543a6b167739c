/**
 * Issue 3: what happens when clients die, the network blips or stalls, or holders go idle.
 * Real sockets, a fault proxy, real child processes; short ttls (300 ms). Timing rules here are
 * checked with generous bounds; speed is never asserted.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { LeaseholdClient } from '../../src/client/client.js';
import type { LeaseLostInfo } from '../../src/client/lease.js';
import { onCleanup } from '../helpers/cleanup.js';
import { BIN } from '../helpers/cli.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { FaultProxy } from '../helpers/proxy.js';
import { RawPeer } from '../helpers/raw-peer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function client(address: string, user = 'alice', extra = {}): Promise<LeaseholdClient> {
  const c = await LeaseholdClient.connect({
    servers: [address],
    user,
    host: 'ws-1',
    clientName: 'e2e',
    reconnectInitialDelayMs: 20,
    reconnectMaxDelayMs: 100,
    ...extra,
  });
  onCleanup(() => c.close());
  return c;
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

describe('a holder that dies', () => {
  it('a client process killed with SIGKILL: its seat is reclaimed after the ttl, not before, and a waiting checkout then succeeds', async () => {
    const { address, daemon, waitForLog } = await startTestDaemon({
      leaseTtl: '600ms',
      heartbeatInterval: '150ms',
    });
    // The real CLI holds the seat around a long command, in its own process group.
    const child = spawn(
      process.execPath,
      [BIN, 'checkout', 'cad', '--server', address, '--user', 'victim', '--', 'sleep', '30'],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    onCleanup(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {}
    });
    await until(() => daemon.engine.listLeases({ feature: 'cad' }).length === 1, 10_000);
    const [held] = daemon.engine.listLeases({ feature: 'cad' });
    expect(held!.user).toBe('victim');

    process.kill(-child.pid!, 'SIGKILL');
    const killedAt = performance.now();
    const other = await client(address, 'bob');
    const waiting = other.checkout('cad', { wait: 5000 });
    await sleep(250);
    // Well inside the ttl: the dead holder still has the seat (it may come back and resume).
    expect(daemon.engine.listLeases({ feature: 'cad' }).map((l) => l.id)).toEqual([held!.id]);

    const lease = await waiting;
    const grantedAfter = performance.now() - killedAt;
    const reclaim = await waitForLog((l) => l.msg === 'lease reclaimed' && l.lease === held!.id);
    expect(reclaim.reason).toBe('expired');
    // Reclaimed no earlier than ttl after the last heartbeat, which came at most one interval before the kill.
    expect(grantedAfter).toBeGreaterThanOrEqual(600 - 150 - 20);
    expect(lease.fencingToken).toBeGreaterThan(held!.fencing);
  });
});

describe('a network blip', () => {
  it('the SDK resumes the same lease (same id and fencing token) and never takes a second seat', async () => {
    const { address, daemon } = await startTestDaemon({ features: '[features.cad]\nseats = 2' });
    const proxy = await FaultProxy.start(address);
    const a = await client(proxy.address);
    const reconnected = new Promise((r) => a.once('reconnected', r));
    const lease = await a.checkout('cad');
    let maxInUse = 0;
    const sampler = setInterval(() => {
      maxInUse = Math.max(maxInUse, daemon.engine.featureStatus('cad')[0]!.inUse);
    }, 5);
    onCleanup(() => clearInterval(sampler));

    proxy.cut();
    await expect(reconnected).resolves.toMatchObject({ resumed: true });
    await sleep(400); // beyond the ttl: the resumed session is heartbeating again
    expect(lease.valid).toBe(true);
    expect(a.leases.map((l) => [l.id, l.fencingToken])).toEqual([[lease.id, lease.fencingToken]]);
    expect(daemon.engine.listLeases().map((l) => [l.id, l.fencing])).toEqual([
      [lease.id, lease.fencingToken],
    ]);
    expect(maxInUse).toBe(1);
  });

  it('a checkout whose reply was lost is retried after the reconnect and returns the same lease', async () => {
    const { address, daemon } = await startTestDaemon({ features: '[features.cad]\nseats = 2' });
    const proxy = await FaultProxy.start(address);
    const a = await client(proxy.address);
    // The reply to this checkout never arrives: the server grants, the bytes back are dropped.
    proxy.blackhole(true, 'down');
    const pending = a.checkout('cad');
    await until(() => daemon.engine.listLeases().length === 1);
    proxy.cut();
    proxy.blackhole(false);
    const lease = await pending;
    const held = daemon.engine.listLeases();
    expect(held).toHaveLength(1);
    expect(held[0]!.id).toBe(lease.id);
    expect(held[0]!.fencing).toBe(lease.fencingToken);
  });

  it('raw protocol: the same request key after a resume on a new connection returns the same lease', async () => {
    const { address } = await startTestDaemon({ features: '[features.cad]\nseats = 2' });
    const first = await RawPeer.connect(address);
    const hello = await first.hello();
    first.send({ type: 'checkout', id: 2, feature: 'cad', key: 'k-123' });
    const granted = await first.reply(2);
    expect(granted.type).toBe('checkout_ok');
    first.socket.destroy();

    const second = await RawPeer.connect(address);
    const resumed = await second.hello({ resume: { session: hello.session, token: hello.resume_token } });
    expect(resumed.resumed).toBe(true);
    expect(resumed.leases).toEqual([
      {
        lease: (granted as { lease: string }).lease,
        feature: 'cad',
        count: 1,
        fencing: (granted as { fencing: number }).fencing,
      },
    ]);
    second.send({ type: 'checkout', id: 2, feature: 'cad', key: 'k-123' });
    expect(await second.reply(2)).toEqual(granted);
    second.send({ type: 'status', id: 3, feature: 'cad' });
    const status = await second.reply(3);
    expect(status.type === 'status_ok' && status.features[0]!.in_use).toBe(1);
  });

  it('a resume with a wrong token is refused and the connection may start a new session', async () => {
    const { address } = await startTestDaemon();
    const peer = await RawPeer.connect(address);
    const hello = await peer.hello();
    const other = await RawPeer.connect(address);
    other.send({
      type: 'hello',
      id: 1,
      versions: [1],
      client_name: 'x',
      user: 'mallory',
      host: 'h',
      resume: { session: hello.session, token: 'f'.repeat(64) },
    });
    expect(await other.reply(1)).toMatchObject({ type: 'error', code: 'SESSION_NOT_FOUND' });
    const fresh = await other.hello({ id: 2 });
    expect(fresh.session).not.toBe(hello.session);
  });
});

describe('heartbeats that stop arriving', () => {
  it('the SDK reports `lost` before the server reclaims the seat', async () => {
    const { address, waitForLog } = await startTestDaemon({ leaseTtl: '400ms', heartbeatInterval: '100ms' });
    const proxy = await FaultProxy.start(address);
    const a = await client(proxy.address);
    const lease = await a.checkout('cad');
    const lost = new Promise<[LeaseLostInfo, number]>((resolve) =>
      lease.once('lost', (info) => resolve([info, performance.now()])),
    );
    proxy.blackhole(true);
    const [info, lostAt] = await lost;
    expect(info).toMatchObject({ code: 'LEASE_EXPIRED', reason: 'expired' });
    expect(lease.valid).toBe(false);
    await waitForLog((l) => l.msg === 'lease reclaimed' && l.lease === lease.id);
    const reclaimedAt = performance.now();
    expect(lostAt).toBeLessThan(reclaimedAt);
  });
});

describe('a session that expires while its connection stays open', () => {
  it('the SDK loses the lease, starts a new session when the network is back, and the old token stays dead', async () => {
    const { address, daemon, waitForLog } = await startTestDaemon({
      leaseTtl: '400ms',
      heartbeatInterval: '100ms',
    });
    const proxy = await FaultProxy.start(address);
    const a = await client(proxy.address, 'alice', { connectTimeoutMs: 500 });
    const old = await a.checkout('cad');
    const oldSession = a.sessionId;
    const lost = new Promise<LeaseLostInfo>((resolve) => old.once('lost', resolve));
    proxy.blackhole(true);
    expect(await lost).toMatchObject({ code: 'LEASE_EXPIRED' });
    await waitForLog((l) => l.msg.startsWith('session expired') && l.session === oldSession);
    const reconnected = new Promise<{ resumed: boolean }>((resolve) => a.once('reconnected', resolve));
    proxy.blackhole(false);
    expect(await reconnected).toMatchObject({ resumed: false });
    expect(a.sessionId).not.toBe(oldSession);
    const fresh = await a.checkout('cad');
    expect(fresh.fencingToken).toBeGreaterThan(old.fencingToken);
    // The old lease never comes back (DESIGN §3.4): its release is a no-op, the seat stays with the new one.
    await old.release();
    expect(daemon.engine.listLeases().map((l) => l.id)).toEqual([fresh.id]);
  });
});

describe('idle holders', () => {
  it('an idle holder is reclaimed at idle_timeout and told why; an active one keeps its seat', async () => {
    const { address } = await startTestDaemon({
      leaseTtl: '300ms',
      heartbeatInterval: '100ms',
      features: '[features.cad]\nseats = 2\nidle_timeout = "1s"',
    });
    const idle = await client(address, 'idle-user');
    const active = await client(address, 'busy-user');
    const idleLease = await idle.checkout('cad');
    const activeLease = await active.checkout('cad');
    const typing = setInterval(() => activeLease.touch(), 100);
    onCleanup(() => clearInterval(typing));
    const lost = await new Promise<LeaseLostInfo>((resolve) => idleLease.once('lost', resolve));
    expect(lost).toMatchObject({ code: 'LEASE_REVOKED', reason: 'idle' });
    expect(lost.message).toContain('idle timeout');
    await sleep(500);
    expect(activeLease.valid).toBe(true);
    const status = await active.status('cad');
    expect(status.features[0]!.leases.map((l) => l.user)).toEqual(['busy-user']);
  });
});
