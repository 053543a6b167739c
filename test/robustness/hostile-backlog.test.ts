/**
 * Issue 9 §3, found by hostile.test.ts: replies that wait for the journal (DESIGN §3.6: nothing is
 * acknowledged before the changes made before it are durable) are held in the connection's outbox.
 * They must count against max_write_buffer_bytes like the socket's own buffer, or a pipelining
 * peer that never reads makes the daemon compute and keep every reply while an fsync is in flight:
 * 4 such peers sending 20,000 small requests each took a real daemon from 82 MiB to 594 MiB of RSS
 * and stalled every other client for 11 s.
 */
import { describe, expect, it } from 'vitest';
import { encodeMessage } from '../../src/protocol/codec.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { RawPeer } from '../helpers/raw-peer.js';

const CAP = 65_536;

describe('a pipelining peer that never reads, while the journal is busy', () => {
  it('is dropped at max_write_buffer_bytes counting the replies held for the journal', async () => {
    let hold: Promise<void> | undefined;
    let release = () => {};
    const t = await startTestDaemon({
      server: `max_write_buffer_bytes = ${CAP}`,
      features: '[features.cad]\nseats = 60',
      leaseTtl: '30s',
      heartbeatInterval: '10s',
      faults: { beforeSync: () => hold },
    });
    try {
      // 50 holders make every status reply about 10 KB.
      const holder = await RawPeer.connect(t.address);
      await holder.hello();
      for (let i = 0; i < 50; i++) holder.send({ type: 'checkout', id: 10 + i, feature: 'cad' });
      await holder.reply(59);
      const flooder = await RawPeer.connect(t.address);
      await flooder.hello();
      // The next fsync hangs: a change made now stays in flight, and every reply after it waits.
      hold = new Promise((resolve) => {
        release = resolve;
      });
      holder.send({ type: 'checkout', id: 100, feature: 'cad' });
      await new Promise((r) => setTimeout(r, 50));
      flooder.socket.pause();
      // 2,000 status requests (30 KB) whose replies would take about 20 MB.
      flooder.sendRaw(
        Buffer.concat(Array.from({ length: 2000 }, (_, i) => encodeMessage({ type: 'status', id: 2 + i }))),
      );
      const dropped = await t
        .waitForLog((l) => l.msg.startsWith('client does not read its replies'), 3000)
        .catch(() => undefined);
      expect(dropped, 'dropped at the cap while its replies wait for the journal').toBeDefined();
      // No reply beyond the cap (plus the one that crossed it) was ever queued for it.
      expect(Number(dropped?.buffered)).toBeLessThan(CAP + 64 * 1024);
    } finally {
      release();
    }
  });
});
