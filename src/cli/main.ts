/**
 * The `leasehold` command line (DESIGN §5). Each command lives in its own file and is added here;
 * commander parses, the command returns its exit code, and nothing calls process.exit, so tests can
 * run `main` in-process.
 */
import { Command, CommanderError } from 'commander';
import { addAdminCommands } from './admin-commands.js';
import { addAlertsCommand } from './alerts.js';
import { addBlockCommands } from './blocks.js';
import { addCheckConfigCommand } from './check-config.js';
import { addCheckoutCommand } from './checkout.js';
import { ExitCode } from './exit-codes.js';
import { addFreeCommand } from './free.js';
import type { CommandIO } from './io.js';
import { addQueueCommand } from './queue.js';
import { addReportCommand } from './report.js';
import { addServeCommand } from './serve.js';
import { addSessionsCommand } from './sessions.js';
import { addStatusCommand } from './status.js';
import { addUsersCommand } from './users.js';
import { VERSION } from './version.js';

export function buildProgram(io: CommandIO): Command {
  const program = new Command('leasehold')
    .description(
      'Leasehold: a floating-license server. Applications check out seats of licensed features and ' +
        'hold them as leases kept alive by heartbeats; admins see and free seats from here.',
    )
    .version(VERSION, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help for a command')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  program.configureOutput({ writeOut: (t) => io.out(t), writeErr: (t) => io.err(t) });
  addServeCommand(program, io);
  addCheckConfigCommand(program, io);
  addStatusCommand(program, io);
  addSessionsCommand(program, io);
  addQueueCommand(program, io);
  addCheckoutCommand(program, io);
  addFreeCommand(program, io);
  addBlockCommands(program, io);
  addUsersCommand(program, io);
  addAdminCommands(program, io);
  addAlertsCommand(program, io);
  addReportCommand(program, io);
  program.addHelpText(
    'after',
    '\nExit codes: 0 ok, 64 usage, 69 server unreachable, 75 denied / no seat, 77 not permitted,\n' +
      '78 config error, 1 anything else.\n',
  );
  return program;
}

/** Runs the CLI with a full argv (node, script, args...) and resolves to the exit code. */
export async function main(argv: readonly string[], io: CommandIO = processIO()): Promise<number> {
  let exitCode: number = ExitCode.Ok;
  const program = buildProgram({ ...io, setExitCode: (code) => (exitCode = code) });
  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    io.err(`leasehold: ${err instanceof Error ? err.message : String(err)}\n`);
    return ExitCode.Failure;
  }
}

function processIO(): CommandIO {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    setExitCode: (code) => {
      process.exitCode = code;
    },
  };
}
