/**
 * `leasehold serve [--config FILE]`: run the daemon in the foreground (systemd runs this). A bad
 * config exits 78 with every problem; SIGTERM and SIGINT stop it gracefully.
 */
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import { Daemon } from '../server/daemon.js';
import { configOption } from './config-option.js';
import { ExitCode } from './exit-codes.js';
import type { CommandIO } from './io.js';
import { VERSION } from './version.js';

export function addServeCommand(program: Command, io: CommandIO): void {
  program
    .command('serve')
    .description('run the daemon in the foreground (logs are JSON lines on stdout)')
    .addOption(configOption())
    .action(async (options: { config: string }) => {
      io.setExitCode(await serve(options.config, io));
    });
}

async function serve(path: string, io: CommandIO): Promise<number> {
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(loadConfigFile(path), { version: VERSION });
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`${err.message}\n`);
      return ExitCode.Config;
    }
    io.err(`leasehold: cannot start: ${(err as Error).message}\n`);
    return ExitCode.Failure;
  }
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      daemon.ctx.logger.info({ signal }, 'stopping');
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      daemon.close().then(
        () => resolve(ExitCode.Ok),
        () => resolve(ExitCode.Failure),
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
