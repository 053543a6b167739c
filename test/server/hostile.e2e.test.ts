/**
 * Issue 3: malformed frames, oversize length prefixes, silence instead of a handshake, and requests
 * before the handshake affect only the connection that sent them; other clients keep their leases;
 * the daemon logs one line for each.
 */
import { describe, expect, it } from 'vitest';
import { LeaseholdClient } from '../../src/client/client.js';
import { onCleanup } from '../helpers/cleanup.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { RawPeer } from '../helpers/raw-peer.js';

async function holder(address: string) {
  const c = await LeaseholdClient.connect({ servers: [address], user: 'good', host: 'ws-1' });
  onCleanup(() => c.close());
  return { client: c, lease: await c.checkout('cad') };
}

const cases = [
  {
    name: 'a malformed frame (not MessagePack)',
    code: 'MALFORMED_FRAME',
    act: async (p: RawPeer) => {
      await p.hello();
      p.sendRaw('00000003c1c1c1');
    },
  },
  {
    name: 'an oversize length prefix',
    code: 'FRAME_TOO_LARGE',
    act: async (p: RawPeer) => {
      await p.hello();
      p.sendRaw('7fffffff');
    },
  },
  {
    name: 'a request before the handshake',
    code: 'HANDSHAKE_REQUIRED',
    act: async (p: RawPeer) => {
      p.send({ type: 'checkout', id: 1, feature: 'cad' });
    },
  },
  {
    name: 'no handshake within the deadline',
    code: 'HANDSHAKE_TIMEOUT',
    act: async () => {},
  },
] as const;

describe('hostile connections', () => {
  for (const c of cases) {
    it(`${c.name}: an error frame, that connection closed, one log line; others unaffected`, async () => {
      const t = await startTestDaemon({
        server: 'handshake_timeout = "200ms"',
        leaseTtl: '600ms',
        heartbeatInterval: '150ms',
      });
      const good = await holder(t.address);
      const bad = await RawPeer.connect(t.address);
      await c.act(bad);
      const error = await bad.next((m) => m.type === 'error');
      expect(error).toMatchObject({ type: 'error', code: c.code });
      expect('id' in error && error.id !== undefined).toBe(false);
      await bad.closed;
      const lines = t.logs.filter((l) => l.msg.startsWith('protocol error') && l.code === c.code);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 40, peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
      // The well-behaved client is still served and still holds its seat, past the ttl.
      await new Promise((r) => setTimeout(r, 700));
      expect(good.lease.valid).toBe(true);
      const status = await good.client.status('cad');
      expect(status.features[0]!.leases.map((l) => l.id)).toEqual([good.lease.id]);
    });
  }

  it('a bad request gets a typed error reply and the connection lives', async () => {
    const t = await startTestDaemon();
    const peer = await RawPeer.connect(t.address);
    await peer.hello();
    peer.send({ type: 'checkout', id: 7, feature: 'cad', count: 0 } as never);
    expect(await peer.reply(7)).toMatchObject({
      type: 'error',
      code: 'INVALID_REQUEST',
      details: { field: 'count' },
    });
    peer.send({ type: 'frobnicate', id: 8 } as never);
    expect(await peer.reply(8)).toMatchObject({ type: 'error', code: 'UNKNOWN_TYPE' });
    peer.send({ type: 'checkout', id: 9, feature: 'cad' });
    expect(await peer.reply(9)).toMatchObject({ type: 'checkout_ok', feature: 'cad' });
    expect(peer.isClosed).toBe(false);
  });

  it('every invalid vector gets its error without taking the daemon down', async () => {
    const { invalidVectors } = await import('../helpers/vectors.js');
    const t = await startTestDaemon();
    const good = await holder(t.address);
    for (const v of invalidVectors) {
      const peer = await RawPeer.connect(t.address);
      await peer.hello();
      peer.sendRaw(v.hex);
      const error = await peer.next((m) => m.type === 'error');
      expect(error, v.name).toMatchObject({ code: v.error });
      peer.socket.destroy();
    }
    expect(good.lease.valid).toBe(true);
    expect(t.daemon.engine.listLeases().map((l) => l.id)).toEqual([good.lease.id]);
  });

  it('a client that never reads its replies is disconnected at the write-buffer cap', async () => {
    const t = await startTestDaemon({
      server: 'max_write_buffer_bytes = 65536',
      features: '[features.cad]\nseats = 300',
    });
    const peer = await RawPeer.connect(t.address);
    await peer.hello();
    // 300 holders make every status reply about 50 KB; the peer then stops reading and asks for 1,000.
    for (let i = 0; i < 300; i++) peer.send({ type: 'checkout', id: 10 + i, feature: 'cad' });
    await peer.reply(309);
    peer.socket.pause();
    for (let i = 0; i < 1000; i++) peer.send({ type: 'status', id: 1000 + i });
    await t.waitForLog((l) => l.msg.startsWith('client does not read its replies'), 15_000);
    // The peer sees the close once it reads what was already delivered.
    peer.socket.resume();
    await peer.closed;
    expect(t.logs.filter((l) => l.msg === 'connection closed')).toHaveLength(1);
  });

  for (const key of ['max_connections', 'max_connections_per_address']) {
    it(`connections over ${key} are refused with LIMIT_EXCEEDED; the others are served; a freed slot is usable`, async () => {
      const t = await startTestDaemon({ server: `${key} = 2` });
      const a = await RawPeer.connect(t.address);
      const b = await RawPeer.connect(t.address);
      await a.hello();
      await b.hello();
      const c = await RawPeer.connect(t.address);
      expect(await c.next()).toMatchObject({ type: 'error', code: 'LIMIT_EXCEEDED' });
      await c.closed;
      expect(t.logs.filter((l) => l.msg.startsWith('connection refused'))).toHaveLength(1);
      b.send({ type: 'status', id: 2 });
      expect(await b.reply(2)).toMatchObject({ type: 'status_ok' });
      a.socket.destroy();
      await a.closed;
      await new Promise((r) => setTimeout(r, 50));
      const d = await RawPeer.connect(t.address);
      await expect(d.hello()).resolves.toMatchObject({ type: 'hello_ok' });
    });
  }
});
