/**
 * `leasehold blocks [--json]` and `leasehold unblock BLOCK_ID`: the blocks placed by
 * `free --block-for` (PROTOCOL.md §6.11), at the admin target (admin-target.ts). FlexLM has no
 * equivalent: its lmremove frees a seat that the application may take straight back.
 */
import type { Command } from 'commander';
import type { BlockEntry } from '../client/admin.js';
import { addAdminTargetOptions, withAdminClient } from './admin-target.js';
import { ExitCode } from './exit-codes.js';
import { localTime, shortDuration, table } from './format.js';
import type { CommandIO } from './io.js';

export function addBlockCommands(program: Command, io: CommandIO): void {
  addAdminTargetOptions(
    program
      .command('blocks')
      .description(
        'list active blocks (placed by `free --block-for`): who is kept out of what, by whom, until when',
      )
      .option('--json', 'print one JSON document (camelCase keys)'),
  ).action(async (flags: { json?: boolean }, command: Command) => {
    const got = await withAdminClient(command, io, (client) => client.admin.blocks());
    if (!got.ok) return io.setExitCode(got.code);
    io.out(
      flags.json ? `${JSON.stringify({ blocks: got.value.map(blockJson) }, null, 2)}\n` : toText(got.value),
    );
    io.setExitCode(ExitCode.Ok);
  });
  addAdminTargetOptions(
    program
      .command('unblock')
      .description('lift a block before it ends: the user may check the feature out again at once')
      .argument('<block>', 'the block ID (from `leasehold blocks` or `leasehold free --block-for`)'),
  ).action(async (id: string, _flags: unknown, command: Command) => {
    const got = await withAdminClient(command, io, (client) => client.admin.unblock(id));
    if (!got.ok) return io.setExitCode(got.code);
    if (!got.value) {
      io.err(`leasehold: no active block ${id} (it may have ended already; see \`leasehold blocks\`)\n`);
      return io.setExitCode(ExitCode.Failure);
    }
    io.out(`lifted block ${id}\n`);
    io.setExitCode(ExitCode.Ok);
  });
}

/** A block in `--json` output (also `free --json`). */
export function blockJson(b: BlockEntry): unknown {
  return {
    id: b.id,
    user: b.user,
    ...(b.host === undefined ? {} : { host: b.host }),
    ...(b.feature === undefined ? {} : { feature: b.feature }),
    ...(b.by === undefined ? {} : { by: b.by }),
    until: b.until,
    remainingMs: b.remainingMs,
  };
}

/** "blocked alice on ws-1 from cad until 2025-01-02 10:00:00 (block b7d2…)". */
export function blockLine(b: BlockEntry): string {
  return (
    `blocked ${b.user}${b.host === undefined ? '' : ` on ${b.host}`} from ` +
    `${b.feature ?? 'every feature'} until ${localTime(new Date(b.until))} (block ${b.id})`
  );
}

function toText(blocks: BlockEntry[]): string {
  if (blocks.length === 0) return 'No blocks.\n';
  return `${table(
    ['BLOCK', 'USER', 'HOST', 'FEATURE', 'BY', 'UNTIL', 'LEFT'],
    blocks.map((b) => [
      b.id,
      b.user,
      b.host ?? '*',
      b.feature ?? '*',
      b.by ?? '-',
      localTime(new Date(b.until)),
      shortDuration(b.remainingMs),
    ]),
  )}\n`;
}
