/**
 * `leasehold reload` and `leasehold shutdown [--yes]` (DESIGN §5): requests to the daemon itself,
 * role admin, at the admin target (admin-target.ts).
 */
import type { Command } from 'commander';
import {
  addAdminTargetOptions,
  addYesOption,
  type ConfirmFlags,
  confirmed,
  withAdminClient,
} from './admin-target.js';
import { ExitCode } from './exit-codes.js';
import type { CommandIO } from './io.js';

export function addAdminCommands(program: Command, io: CommandIO): void {
  addAdminTargetOptions(
    program
      .command('reload')
      .description('make the daemon reread its config file (like lmreread); every lease is kept'),
  ).action(async (_flags: unknown, command: Command) => {
    const got = await withAdminClient(command, io, (client) => client.admin.reload());
    if (!got.ok) return io.setExitCode(got.code);
    const r = got.value;
    const list = (xs: string[]) => (xs.length > 0 ? xs.join(', ') : 'none');
    io.out(
      `reloaded: features added ${list(r.added)}; removed ${list(r.removed)}; changed ${list(r.changed)}\n`,
    );
    io.setExitCode(ExitCode.Ok);
  });
  addAdminTargetOptions(
    addYesOption(
      program
        .command('shutdown')
        .description(
          'stop the daemon gracefully (like lmdown): clients are told to fail over; state is snapshotted',
        ),
    ),
  ).action(async (flags: ConfirmFlags, command: Command) => {
    if (!(await confirmed(flags, io, 'Stop the Leasehold daemon? Clients will have to fail over.'))) {
      return io.setExitCode(ExitCode.Usage);
    }
    const got = await withAdminClient(command, io, (client) => client.admin.shutdown());
    if (!got.ok) return io.setExitCode(got.code);
    io.out('the daemon is shutting down\n');
    io.setExitCode(ExitCode.Ok);
  });
}
