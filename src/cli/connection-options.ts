/**
 * The connection options of every client command (DESIGN §5): --server HOST:PORT (repeatable, for
 * failover), --token TOKEN; environment LEASEHOLD_SERVER (comma-separated) and LEASEHOLD_TOKEN.
 * The TLS options (--tls, --tls-ca, --tls-cert, --tls-key) are in tls-options.ts.
 */
import { type Command, Option } from 'commander';
import { type ConnectOptions, LeaseholdClient } from '../client/client.js';
import { ClientError, ClientErrorCode } from '../client/errors.js';
import { ErrorCode } from '../protocol/codes.js';
import { LeaseholdError } from '../protocol/errors.js';
import { ExitCode } from './exit-codes.js';
import { addTlsOptions, type TlsFlags, TlsOptionError, tlsConnectOptions } from './tls-options.js';
import { VERSION } from './version.js';

export const DEFAULT_SERVER = '127.0.0.1:27000';

export interface ConnectionFlags extends TlsFlags {
  server?: string[];
  token?: string;
  socket?: string;
}

export function addConnectionOptions(command: Command): Command {
  command
    .addOption(
      new Option('-s, --server <host:port>', `server to use; repeat for failover (default ${DEFAULT_SERVER})`)
        .env('LEASEHOLD_SERVER')
        .argParser((value: string, previous: string[] | undefined) => [
          ...(previous ?? []),
          ...value
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        ]),
    )
    .addOption(new Option('--token <token>', 'auth token').env('LEASEHOLD_TOKEN'))
    .addOption(
      new Option('--socket <path>', "the daemon's local admin socket (instead of --server)").env(
        'LEASEHOLD_SOCKET',
      ),
    );
  return addTlsOptions(command);
}

export function connectOptions(flags: ConnectionFlags, extra: Partial<ConnectOptions> = {}): ConnectOptions {
  const options: ConnectOptions = {
    servers: flags.server && flags.server.length > 0 ? flags.server : [DEFAULT_SERVER],
    clientName: 'leasehold-cli',
    clientVersion: VERSION,
    ...extra,
  };
  if (flags.token !== undefined) options.token = flags.token;
  if (flags.socket !== undefined) options.socket = flags.socket;
  // The local admin socket is never TLS: the TLS settings (often from the environment) are unused.
  const tls = flags.socket === undefined ? tlsConnectOptions(flags) : undefined;
  if (tls) options.tls = tls;
  return options;
}

export function connect(
  flags: ConnectionFlags,
  extra: Partial<ConnectOptions> = {},
): Promise<LeaseholdClient> {
  return LeaseholdClient.connect(connectOptions(flags, extra));
}

/** Denials of a checkout: exit 75, "try again later" (DESIGN §5). */
const DENIALS: ReadonlySet<string> = new Set([
  ErrorCode.NoSeats,
  ErrorCode.CountExceedsSeats,
  ErrorCode.GroupMax,
  ErrorCode.SeatsReserved,
  ErrorCode.UserNotEnabled,
  ErrorCode.UserExcluded,
  ErrorCode.NotAssigned,
  ErrorCode.UserCap,
  ErrorCode.Blocked,
  ErrorCode.Draining,
  ErrorCode.UnknownFeature,
  ErrorCode.LimitExceeded,
]);

/** The exit code for an error from the SDK, per DESIGN §5. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof TlsOptionError) return ExitCode.Usage;
  if (err instanceof ClientError) {
    if (err.code === ClientErrorCode.ServerUnavailable || err.code === ClientErrorCode.RequestTimeout) {
      return ExitCode.Unavailable;
    }
    return ExitCode.Failure;
  }
  if (err instanceof LeaseholdError) {
    if (err.code === ErrorCode.Forbidden || err.code === ErrorCode.AuthFailed) return ExitCode.NoPerm;
    if (err.code === ErrorCode.ConfigInvalid) return ExitCode.Config;
    if (DENIALS.has(err.code)) return ExitCode.TempFail;
  }
  return ExitCode.Failure;
}

/** One line for stderr: the code when there is one, then the server's message. */
export function describeError(err: unknown): string {
  if (err instanceof LeaseholdError || err instanceof ClientError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs one client command: connects, calls `run`, closes; an SDK error becomes a line on stderr and
 * its exit code (DESIGN §5). Resolves with the result, or with the exit code on failure.
 */
export async function withClient<T>(
  flags: ConnectionFlags,
  io: { err(text: string): void },
  run: (client: LeaseholdClient) => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; code: number }> {
  try {
    const client = await connect(flags);
    try {
      return { ok: true, value: await run(client) };
    } finally {
      await client.close();
    }
  } catch (err) {
    io.err(`leasehold: ${describeError(err)}\n`);
    return { ok: false, code: exitCodeFor(err) };
  }
}
