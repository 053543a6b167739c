/**
 * `leasehold serve [--config FILE] [--force-recover]`: run the daemon in the foreground (systemd
 * runs this). A bad config exits 78 with every problem; damaged state files refuse to start with
 * what to do (exit 1); SIGTERM and SIGINT stop it gracefully (drain, final snapshot, exit 0);
 * SIGHUP rereads the config, keeping every lease, or keeps the old one if the new one is bad.
 */
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import { Daemon } from '../server/daemon.js';
import { configOption } from './config-option.js';
import { ExitCode } from './exit-codes.js';
import type { CommandIO } from './io.js';
import { VERSION } from './version.js';

interface ServeFlags {
  config: string;
  forceRecover?: boolean;
}

export function addServeCommand(program: Command, io: CommandIO): void {
  program
    .command('serve')
    .description('run the daemon in the foreground (logs are JSON lines on stdout)')
    .addOption(configOption())
    .option(
      '--force-recover',
      'start even if state files are damaged: keep everything up to the last good record, set the rest aside (logged)',
    )
    .action(async (flags: ServeFlags) => {
      io.setExitCode(await serve(flags, io));
    });
}

async function serve(flags: ServeFlags, io: CommandIO): Promise<number> {
  let daemon: Daemon;
  let fatal: ((code: number) => void) | undefined;
  // A signal during start-up (recovery can take seconds) is remembered and acted on once the
  // daemon runs: without this, SIGTERM then would kill the process with no final snapshot.
  let early: NodeJS.Signals | undefined;
  const remember = (signal: NodeJS.Signals) => {
    if (signal !== 'SIGHUP' || early === undefined) early = signal;
  };
  const startSignals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  for (const signal of startSignals) process.on(signal, remember);
  const forget = () => {
    for (const signal of startSignals) process.off(signal, remember);
  };
  try {
    daemon = await Daemon.start(loadConfigFile(flags.config), {
      version: VERSION,
      configPath: flags.config,
      ...(flags.forceRecover ? { forceRecover: true } : {}),
      onFatal: () => fatal?.(ExitCode.Failure),
    });
  } catch (err) {
    forget();
    if (err instanceof ConfigError) {
      io.err(`${err.message}\n`);
      return ExitCode.Config;
    }
    io.err(`leasehold: cannot start: ${(err as Error).message}\n`);
    return ExitCode.Failure;
  }
  return new Promise((resolve) => {
    const signals = { SIGTERM: stop, SIGINT: stop, SIGHUP: reload } as const;
    const detach = () => {
      for (const [signal, handler] of Object.entries(signals)) process.off(signal, handler);
    };
    fatal = (code) => {
      detach();
      resolve(code);
    };
    function stop(signal: NodeJS.Signals): void {
      daemon.ctx.logger.info({ signal }, 'stopping');
      detach();
      daemon.close().then(
        () => resolve(daemon.shutdownExitCode),
        () => resolve(ExitCode.Failure),
      );
    }
    function reload(): void {
      daemon.reload();
    }
    for (const [signal, handler] of Object.entries(signals)) process.on(signal, handler);
    forget();
    daemon.onShutdownRequested(() => stop('SIGTERM'));
    if (early === 'SIGHUP') reload();
    else if (early !== undefined) stop(early);
  });
}
