/**
 * The real server connection handler and engine behind in-memory pipes, on the (fakeable) global
 * performance clock: for SDK tests driven by vitest fake timers, with no sockets.
 */

import type { Duplex } from 'node:stream';
import { Writable } from 'node:stream';
import { OPEN_AUTH } from '../../src/config/auth.js';
import { LeaseEngine } from '../../src/engine/engine.js';
import type { FeatureConfig } from '../../src/engine/types.js';
import { Authenticator } from '../../src/server/auth.js';
import { ClientConnection } from '../../src/server/connection.js';
import { ALWAYS_DURABLE, type ServerContext } from '../../src/server/context.js';
import { createLogger } from '../../src/server/logger.js';
import { SessionLinks } from '../../src/server/session-links.js';
import { Sweeper } from '../../src/server/sweeper.js';
import { duplexPair, type PipeEnd } from './memory-pipe.js';

export interface MemoryServer {
  ctx: ServerContext;
  engine: LeaseEngine;
  /** Server-side ends of the pipes, newest last. */
  serverEnds: PipeEnd[];
  clientEnds: PipeEnd[];
  connects: number;
  /** When set, the next connection attempts fail with this error. */
  refuse: Error | undefined;
  transport: () => Promise<Duplex>;
  stop(): void;
}

export function memoryServer(
  features: FeatureConfig[] = [{ name: 'cad', seats: 1, model: 'concurrent' }],
  timing = { leaseTtlMs: 1000, heartbeatIntervalMs: 200 },
): MemoryServer {
  const clock = { now: () => performance.now() };
  const engine = new LeaseEngine({ clock, leaseTtlMs: timing.leaseTtlMs, features });
  const logger = createLogger('silent', new Writable({ write: (_c, _e, done) => done() }));
  const sweeper = new Sweeper(engine, clock, () => {});
  const ctx: ServerContext = {
    engine,
    clock,
    logger,
    links: new SessionLinks(),
    sweeper,
    auth: new Authenticator(OPEN_AUTH, clock, logger),
    journal: ALWAYS_DURABLE,
    audit: { record: () => undefined },
    admin: {
      reload: () => ({ added: [], removed: [], changed: [] }),
      requestShutdown: () => {},
    },
    limits: {
      maxFrameBytes: 65_536,
      handshakeTimeoutMs: 5000,
      maxWriteBufferBytes: 1 << 20,
      heartbeatIntervalMs: timing.heartbeatIntervalMs,
    },
    serverName: 'leasehold',
    serverVersion: 'memory',
    startedAt: clock.now(),
  };
  const server: MemoryServer = {
    ctx,
    engine,
    serverEnds: [],
    clientEnds: [],
    connects: 0,
    refuse: undefined,
    transport: async () => {
      server.connects++;
      if (server.refuse) throw server.refuse;
      const [clientEnd, serverEnd] = duplexPair();
      server.clientEnds.push(clientEnd);
      server.serverEnds.push(serverEnd);
      new ClientConnection(serverEnd, `memory:${server.connects}`, ctx);
      return clientEnd;
    },
    stop: () => {
      sweeper.stop();
      for (const end of server.serverEnds) end.destroy();
    },
  };
  engine.on('reclaimed', ({ lease, reason }) => {
    ctx.links.get(lease.sessionId)?.push({
      type: 'revoked',
      lease: lease.id,
      feature: lease.feature,
      code: reason === 'expired' ? 'LEASE_EXPIRED' : 'LEASE_REVOKED',
      reason,
      message: reason,
    });
  });
  return server;
}
