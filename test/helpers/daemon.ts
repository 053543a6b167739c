/**
 * Starts a real daemon in this process on 127.0.0.1 port 0 with a temp state dir, its logs
 * captured as parsed JSON lines, and stops it after the test (STYLE.md §11).
 */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseConfig } from '../../src/config/load.js';
import { Daemon } from '../../src/server/daemon.js';
import { createLogger } from '../../src/server/logger.js';
import type { JournalFaults } from '../../src/store/index.js';
import { onCleanup } from './cleanup.js';

export interface LogLine {
  level: number;
  msg: string;
  time: number;
  [key: string]: unknown;
}

export interface TestDaemon {
  daemon: Daemon;
  /** `127.0.0.1:PORT` */
  address: string;
  logs: LogLine[];
  /** Resolves with the first log line (already written or coming) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stateDir: string;
}

export interface DaemonSetup {
  /** TOML for [features.*] tables; default one feature `cad` with 1 seat. */
  features?: string;
  /** Extra [server] keys as TOML lines. */
  server?: string;
  /** The [server] listen value as TOML; default "127.0.0.1:0" (`[]` with [server.tls] for TLS only). */
  listen?: string;
  leaseTtl?: string;
  heartbeatInterval?: string;
  /** Test-only store faults (issue 5). */
  faults?: JournalFaults;
  onFatal?: (err: Error) => void;
  /** Reuse this state directory (a restart); the caller removes it. Default: a fresh temp dir. */
  stateDir?: string;
  /** The daemon's wall clock (DaemonOptions.wallClock); default Date.now. */
  wallClock?: () => number;
}

export async function startTestDaemon(setup: DaemonSetup = {}): Promise<TestDaemon> {
  const stateDir = setup.stateDir ?? mkdtempSync(join(tmpdir(), 'leasehold-test-'));
  const text = [
    '[server]',
    `listen = ${setup.listen ?? '"127.0.0.1:0"'}`,
    `state_dir = ${JSON.stringify(stateDir)}`,
    `lease_ttl = "${setup.leaseTtl ?? '300ms'}"`,
    `heartbeat_interval = "${setup.heartbeatInterval ?? '100ms'}"`,
    'log_level = "debug"',
    setup.server ?? '',
    setup.features ?? '[features.cad]\nseats = 1',
  ].join('\n');
  const config = parseConfig(text, 'test.toml');
  const logs: LogLine[] = [];
  const watchers: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const raw of chunk.toString('utf8').split('\n')) {
        if (!raw) continue;
        const line = JSON.parse(raw) as LogLine;
        logs.push(line);
        for (const w of [...watchers]) {
          if (w.match(line)) {
            watchers.splice(watchers.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
      done();
    },
  });
  const daemon = await Daemon.start(config, {
    logger: createLogger('debug', sink),
    version: '0.0.0-test',
    ...(setup.faults ? { faults: setup.faults } : {}),
    ...(setup.onFatal ? { onFatal: setup.onFatal } : {}),
    ...(setup.wallClock ? { wallClock: setup.wallClock } : {}),
  });
  if (setup.stateDir === undefined) onCleanup(() => rm(stateDir, { recursive: true, force: true }));
  onCleanup(() => daemon.close());
  const a = daemon.addresses[0]!;
  return {
    daemon,
    address: `${a.host}:${a.port}`,
    logs,
    stateDir,
    waitForLog(match, timeoutMs = 5000) {
      const found = logs.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('log line did not come in time')), timeoutMs);
        watchers.push({
          match,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
  };
}
