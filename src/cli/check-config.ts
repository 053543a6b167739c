/** `leasehold check-config [--config FILE]`: validate a config file; exit 0 when good, 78 when not. */
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import { formatHostPort } from '../protocol/names.js';
import { configOption } from './config-option.js';
import { ExitCode } from './exit-codes.js';
import type { CommandIO } from './io.js';

export function addCheckConfigCommand(program: Command, io: CommandIO): void {
  program
    .command('check-config')
    .description('validate a config file and exit (0 ok, 78 bad)')
    .addOption(configOption())
    .action((options: { config: string }) => {
      io.setExitCode(checkConfig(options.config, io));
    });
}

export function checkConfig(path: string, io: CommandIO): number {
  try {
    const config = loadConfigFile(path);
    const listen = config.server.listen.map((e) => formatHostPort(e.host, e.port));
    io.out(
      `${path}: ok (${config.features.length} feature${config.features.length === 1 ? '' : 's'}, ` +
        `listen ${listen.join(', ')}, state_dir ${config.server.stateDir})\n`,
    );
    return ExitCode.Ok;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`${err.message}\n`);
    return ExitCode.Config;
  }
}
