/**
 * Commands that read the daemon's state directory directly (the reports, `report verify-audit`):
 * `--state-dir DIR` (env LEASEHOLD_STATE_DIR), else the state_dir of the config file (`--config`,
 * env LEASEHOLD_CONFIG). Reading the files works while the daemon is down, which is what an
 * auditor needs; it needs read access to the state directory.
 */
import { type Command, Option } from 'commander';
import { loadConfigFile } from '../config/load.js';
import { configOption } from './config-option.js';

export interface StateDirFlags {
  stateDir?: string;
  config: string;
}

export function addStateDirOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--state-dir <dir>', "the daemon's state directory (default: state_dir of --config)").env(
        'LEASEHOLD_STATE_DIR',
      ),
    )
    .addOption(configOption());
}

/** The state directory, or an Error saying what to give. */
export function stateDirOf(flags: StateDirFlags): string | Error {
  if (flags.stateDir !== undefined) return flags.stateDir;
  try {
    return loadConfigFile(flags.config).server.stateDir;
  } catch (err) {
    return new Error(
      `give --state-dir DIR, or --config FILE to find the state directory: ${(err as Error).message}`,
    );
  }
}
