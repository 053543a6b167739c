// The daemon in its own process with test-only hooks (issue 9 §2) that `leasehold serve` does not
// have and a config file cannot enable: it runs the built Daemon (dist/) the way serve does, and
// takes commands on stdin, one per line:
//
//   block MS      block the event loop for MS milliseconds (a long synchronous task)
//
// and flags:
//
//   --config FILE
//   --clock-rate R   the daemon's monotonic clock runs R times as fast as real time (DaemonOptions.clock).
//                    R = 2 is the injected bug "reclaims at ttl/2": every deadline comes twice as early.
//
// It logs like serve (JSON lines on stdout) and stops on SIGTERM like serve (drain, snapshot).
import { createInterface } from 'node:readline';
import { loadConfigFile } from '../../dist/config/load.js';
import { Daemon } from '../../dist/server/daemon.js';

const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const configPath = flag('--config');
const rate = Number(flag('--clock-rate') ?? 1);

const daemon = await Daemon.start(loadConfigFile(configPath), {
  version: '0.0.0-host',
  configPath,
  // A clock of our own replaces the stall-compensated one: only for the injected-bug run.
  ...(rate !== 1 ? { clock: { now: () => performance.now() * rate } } : {}),
  onFatal: () => process.exit(1),
});
const { logger } = daemon.ctx;
if (rate !== 1) logger.warn({ rate }, 'host: the daemon clock runs fast (an injected bug)');

createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, value] = line.trim().split(/\s+/);
  if (command === 'block') {
    const ms = Number(value);
    logger.info({ ms }, 'host: blocking the event loop');
    const end = performance.now() + ms;
    while (performance.now() < end) {
      // A long synchronous task: nothing else runs, timers and sockets included.
    }
    logger.info({ ms }, 'host: event loop free again');
  }
});

process.on('SIGTERM', () => {
  daemon.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
