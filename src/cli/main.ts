/**
 * The `leasehold` command line (DESIGN §5). Each command lives in its own file and is added here;
 * commander parses, the command returns its exit code, and nothing calls process.exit, so tests can
 * run `main` in-process.
 */
import { Command, CommanderError } from 'commander';
import { ExitCode } from './exit-codes.js';
import { VERSION } from './version.js';

export function buildProgram(): Command {
  const program = new Command('leasehold')
    .description(
      'Leasehold: a floating-license server. Applications check out seats of licensed features and ' +
        'hold them as leases kept alive by heartbeats; admins see and free seats from here.',
    )
    .version(VERSION, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help for a command')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  program.addHelpText(
    'after',
    '\nExit codes: 0 ok, 64 usage, 69 server unreachable, 75 denied / no seat, 77 not permitted,\n' +
      '78 config error, 1 anything else.\n',
  );
  return program;
}

/** Runs the CLI with a full argv (node, script, args...) and resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    process.stderr.write(`leasehold: ${err instanceof Error ? err.message : String(err)}\n`);
    return ExitCode.Failure;
  }
}
