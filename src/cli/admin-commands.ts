/**
 * `leasehold reload` and `leasehold shutdown [--yes]` (DESIGN §5): admin requests over the daemon's
 * local admin socket — `--socket PATH`, env LEASEHOLD_SOCKET, or the admin_socket of the config file
 * (`--config`, env LEASEHOLD_CONFIG).
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { LeaseholdClient } from '../client/client.js';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import { configOption } from './config-option.js';
import { addConnectionOptions, type ConnectionFlags, withClient } from './connection-options.js';
import { ExitCode } from './exit-codes.js';
import type { CommandIO } from './io.js';

interface AdminFlags extends ConnectionFlags {
  config: string;
  yes?: boolean;
}

export function addAdminCommands(program: Command, io: CommandIO): void {
  addConnectionOptions(
    program
      .command('reload')
      .description('make the daemon reread its config file (like lmreread); every lease is kept')
      .addOption(configOption()),
  ).action(async (flags: AdminFlags) => {
    io.setExitCode(
      await viaAdminSocket(flags, io, async (client) => {
        const r = await client.reloadConfig();
        const list = (xs: string[]) => (xs.length > 0 ? xs.join(', ') : 'none');
        io.out(
          `reloaded: features added ${list(r.added)}; removed ${list(r.removed)}; changed ${list(r.changed)}\n`,
        );
      }),
    );
  });
  addConnectionOptions(
    program
      .command('shutdown')
      .description(
        'stop the daemon gracefully (like lmdown): clients are told to fail over; state is snapshotted',
      )
      .addOption(configOption())
      .option('-y, --yes', 'do not ask for confirmation (required when not on a terminal)'),
  ).action(async (flags: AdminFlags) => {
    if (!(await confirmed(flags, io, 'Stop the Leasehold daemon? Clients will have to fail over.'))) {
      io.setExitCode(ExitCode.Usage);
      return;
    }
    io.setExitCode(
      await viaAdminSocket(flags, io, async (client) => {
        await client.shutdownServer();
        io.out('the daemon is shutting down\n');
      }),
    );
  });
}

/** Destructive commands ask on a terminal and need --yes otherwise. */
async function confirmed(flags: AdminFlags, io: CommandIO, question: string): Promise<boolean> {
  if (flags.yes) return true;
  if (!process.stdin.isTTY) {
    io.err('leasehold: this command needs --yes when not run on a terminal\n');
    return false;
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

async function viaAdminSocket(
  flags: AdminFlags,
  io: CommandIO,
  run: (client: LeaseholdClient) => Promise<void>,
): Promise<number> {
  let socket = flags.socket;
  if (socket === undefined) {
    try {
      socket = loadConfigFile(flags.config).server.adminSocket;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      io.err(`leasehold: give --socket PATH, or --config FILE to find the admin socket:\n${err.message}\n`);
      return ExitCode.Usage;
    }
  }
  const got = await withClient({ ...flags, socket }, io, run);
  return got.ok ? ExitCode.Ok : got.code;
}
