/** Issue 5: a write or fsync failure is fatal — the change it carried is never acknowledged. */
import { describe, expect, it } from 'vitest';
import { startTestDaemon } from '../helpers/daemon.js';
import { RawPeer } from '../helpers/raw-peer.js';

describe('store failure', () => {
  for (const hook of ['beforeSync', 'beforeWrite'] as const) {
    it(`a failing ${hook === 'beforeSync' ? 'fsync' : 'write'} stops the daemon without acknowledging the change`, async () => {
      let failing = false;
      let fatal: Error | undefined;
      const t = await startTestDaemon({
        features: '[features.cad]\nseats = 5',
        faults: {
          [hook]: () => {
            if (failing) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
          },
        },
        onFatal: (err) => {
          fatal = err;
        },
      });
      const peer = await RawPeer.connect(t.address);
      await peer.hello();
      peer.send({ type: 'checkout', id: 2, feature: 'cad' });
      expect(await peer.reply(2)).toMatchObject({ type: 'checkout_ok' });
      failing = true;
      peer.send({ type: 'checkout', id: 3, feature: 'cad' });
      await peer.closed;
      expect(peer.received.filter((m) => 'id' in m && m.id === 3)).toEqual([]);
      expect(fatal).toBeDefined();
      expect(t.logs.some((l) => l.level === 60 && /journal could not be written/.test(l.msg))).toBe(true);
      // Nobody else gets in either: the daemon stopped listening.
      await expect(RawPeer.connect(t.address)).rejects.toThrow();
    });
  }
});
