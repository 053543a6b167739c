/**
 * Where the admin commands (sessions, free, blocks, unblock, users, reload, shutdown) connect, and
 * the confirmation the destructive ones ask for.
 *
 * The target, first that applies:
 *   1. --socket PATH (env LEASEHOLD_SOCKET): the daemon's local admin socket (role admin);
 *   2. --server HOST:PORT (env LEASEHOLD_SERVER): over TCP, with --token (env LEASEHOLD_TOKEN) as the
 *      admin token of an [admins.NAME] entry (its role decides what is allowed) and the TLS flags;
 *   3. the admin_socket of the config file (--config, env LEASEHOLD_CONFIG, default
 *      /etc/leasehold/leasehold.toml), for an admin on the daemon's own host.
 * A flag on the command line beats the environment: `--server` given on the command line wins over a
 * LEASEHOLD_SOCKET that only comes from the environment.
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

export interface AdminTargetFlags extends ConnectionFlags {
  config: string;
}

/** Flags of a command that asks before it changes something (`-y, --yes`). */
export interface ConfirmFlags {
  yes?: boolean;
}

export const ADMIN_TARGET_HELP =
  '\nConnects to --socket PATH if given; else to --server HOST:PORT with --token as an admin token\n' +
  "([admins.NAME] in the daemon's config; its role decides what is allowed); else to the\n" +
  'admin_socket named by the config file (--config, default /etc/leasehold/leasehold.toml).';

/** Adds the connection options, --config and the help text on where the command connects. */
export function addAdminTargetOptions(command: Command): Command {
  addConnectionOptions(command).addOption(configOption()).addHelpText('after', ADMIN_TARGET_HELP);
  // The shared descriptions speak of a plain client (default server 127.0.0.1:27000); an admin
  // command defaults to the config's admin socket instead, and its token is an admin token.
  for (const option of command.options) {
    if (option.long === '--server') {
      option.description = 'administer this server over TCP (with --token); repeat for failover';
    } else if (option.long === '--token') {
      option.description = "admin token ([admins.NAME] in the daemon's config), with --server";
    }
  }
  return command;
}

/** `-y, --yes` for a destructive command. */
export function addYesOption(command: Command): Command {
  return command.option('-y, --yes', 'do not ask for confirmation (required when not on a terminal)');
}

/**
 * The connection flags for the admin target of `command` (its parsed options and where they came
 * from), or an exit code when there is none (the config file cannot say: 64).
 */
export function adminConnectionFlags(command: Command, io: CommandIO): ConnectionFlags | number {
  const flags = command.opts<AdminTargetFlags>();
  const hasServer = flags.server !== undefined && flags.server.length > 0;
  const serverOnCommandLine = hasServer && command.getOptionValueSource('server') === 'cli';
  const socketOnCommandLine = command.getOptionValueSource('socket') === 'cli';
  const { socket, token, ...rest } = flags;
  if (socket !== undefined && (socketOnCommandLine || !serverOnCommandLine)) {
    // The admin socket's role comes from the socket itself; a token would be unused.
    return { ...rest, socket };
  }
  if (hasServer) return token === undefined ? rest : { ...rest, token };
  try {
    return { ...rest, socket: loadConfigFile(flags.config).server.adminSocket };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(
      `leasehold: give --socket PATH, --server HOST:PORT or --config FILE to say which daemon to ` +
        `administer; the config file did not name its admin socket:\n${err.message}\n`,
    );
    return ExitCode.Usage;
  }
}

/**
 * Runs one admin request against the admin target of `command` (see above): connects, calls `run`,
 * closes; an error becomes a line on stderr and its exit code (DESIGN §5).
 */
export async function withAdminClient<T>(
  command: Command,
  io: CommandIO,
  run: (client: LeaseholdClient) => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; code: number }> {
  const flags = adminConnectionFlags(command, io);
  if (typeof flags === 'number') return { ok: false, code: flags };
  return withClient(flags, io, run);
}

/** Where a confirmation is asked: the process's stdin and stderr, or streams in tests. */
export interface Terminal {
  readonly isTTY: boolean;
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream;
}

const PROCESS_TERMINAL: Terminal = {
  get isTTY() {
    return process.stdin.isTTY === true;
  },
  input: process.stdin,
  output: process.stderr,
};

/**
 * Destructive commands ask on a terminal and need --yes otherwise; called before connecting, so a
 * script that forgot --yes changes nothing. False: do not go on (the command exits 64).
 */
export async function confirmed(
  flags: ConfirmFlags,
  io: CommandIO,
  question: string,
  terminal: Terminal = PROCESS_TERMINAL,
): Promise<boolean> {
  if (flags.yes) return true;
  if (!terminal.isTTY) {
    io.err('leasehold: this command needs --yes when not run on a terminal\n');
    return false;
  }
  const rl = createInterface({ input: terminal.input, output: terminal.output });
  try {
    const yes = /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
    if (!yes) io.err('leasehold: not confirmed; nothing was changed\n');
    return yes;
  } finally {
    rl.close();
  }
}
