/**
 * `leasehold checkout FEATURE [--count N] [--wait DUR] -- CMD [ARGS...]`: run CMD holding the seats
 * (DESIGN §5). Heartbeats run while CMD runs; SIGINT, SIGTERM and SIGHUP are passed on to CMD; the
 * seats are released when CMD exits, and the exit code is CMD's. If the lease is lost, CMD is sent
 * SIGTERM. Denied: exit 75 with the server's message; server unreachable: 69.
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import type { LeaseholdClient } from '../client/client.js';
import type { Lease } from '../client/lease.js';
import { parseDuration } from '../config/duration.js';
import {
  addConnectionOptions,
  type ConnectionFlags,
  connect,
  describeError,
  exitCodeFor,
} from './connection-options.js';
import { ExitCode } from './exit-codes.js';
import type { CommandIO } from './io.js';

interface CheckoutFlags extends ConnectionFlags {
  count: string;
  wait?: string;
  user?: string;
  host?: string;
}

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function addCheckoutCommand(program: Command, io: CommandIO): void {
  addConnectionOptions(
    program
      .command('checkout')
      .description("run CMD holding seats of FEATURE; release them when it exits; exit with CMD's code")
      .argument('<feature>', 'the feature to check out')
      .argument('<cmd...>', 'the command to run, after --')
      .option('-n, --count <n>', 'seats to check out', '1')
      .option('-w, --wait <duration>', 'wait this long in the queue while no seat is free (e.g. 30s, 5m)')
      .option('--user <user>', 'user name to hold the seats as (env LEASEHOLD_USER; default: the OS user)')
      .option('--host <host>', 'host name to hold the seats as (env LEASEHOLD_HOST; default: this host)')
      .addHelpText('after', '\nExample: leasehold checkout cad --count 2 -- cad-solver --batch job.cad'),
  ).action(async (feature: string, cmd: string[], flags: CheckoutFlags) => {
    io.setExitCode(await checkout(feature, cmd, flags, io));
  });
}

async function checkout(
  feature: string,
  cmd: string[],
  flags: CheckoutFlags,
  io: CommandIO,
): Promise<number> {
  const count = Number(flags.count);
  if (!Number.isInteger(count) || count < 1) {
    io.err(`leasehold: --count must be a whole number ≥ 1, got ${flags.count}\n`);
    return ExitCode.Usage;
  }
  const wait = flags.wait === undefined ? 0 : parseDuration(flags.wait);
  if (wait === undefined) {
    io.err(`leasehold: --wait must be a duration like 30s or 5m, got ${flags.wait}\n`);
    return ExitCode.Usage;
  }
  const identity = {
    ...(flags.user === undefined ? {} : { user: flags.user }),
    ...(flags.host === undefined ? {} : { host: flags.host }),
  };
  let client: LeaseholdClient;
  let lease: Lease;
  try {
    client = await connect(flags, identity);
  } catch (err) {
    io.err(`leasehold: ${describeError(err)}\n`);
    return exitCodeFor(err);
  }
  try {
    lease = await client.checkout(feature, {
      count,
      wait,
      onQueued: (position) =>
        io.err(`leasehold: waiting for a seat of '${feature}': position ${position} in the queue\n`),
    });
  } catch (err) {
    io.err(`leasehold: ${describeError(err)}\n`);
    await client.close();
    return exitCodeFor(err);
  }
  try {
    return await runHolding(client, lease, cmd, io);
  } finally {
    await client.close();
  }
}

function runHolding(client: LeaseholdClient, lease: Lease, cmd: string[], io: CommandIO): Promise<number> {
  const [file, ...args] = cmd as [string, ...string[]];
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: 'inherit' });
    // The wrapper cannot see the user's activity: a running command counts as active.
    const activity = setInterval(() => client.touch(), 1000);
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const s of FORWARDED_SIGNALS) process.on(s, forward);
    lease.on('lost', (info) => {
      io.err(`leasehold: lease on '${lease.feature}' lost (${info.code}, ${info.reason}): ${info.message}\n`);
      child.kill('SIGTERM');
    });
    const done = (code: number) => {
      clearInterval(activity);
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
      resolve(code);
    };
    child.on('error', (err) => {
      io.err(`leasehold: cannot run ${file}: ${err.message}\n`);
      done((err as NodeJS.ErrnoException).code === 'ENOENT' ? 127 : 126);
    });
    child.on('exit', (code, signal) => done(code ?? 128 + signalNumber(signal)));
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return (signal && numbers[signal]) ?? 1;
}
