/**
 * `leasehold free LEASE_ID... | --user U [--host H] [--feature F] [--block-for DUR] [--yes] [--json]`
 * (DESIGN §5): frees seats like FlexLM's lmremove, at the admin target (admin-target.ts; role
 * manager). The holders' applications are told their lease is gone (reason `admin`). With
 * --block-for, a block keeps the user out for that long, so the application cannot take the seat
 * straight back (PROTOCOL.md §6.11 `admin_free`).
 */
import type { Command } from 'commander';
import type { FreeResult, FreeTarget } from '../client/admin.js';
import { parseDuration } from '../config/duration.js';
import {
  addAdminTargetOptions,
  addYesOption,
  type ConfirmFlags,
  confirmed,
  withAdminClient,
} from './admin-target.js';
import { blockJson, blockLine } from './blocks.js';
import { ExitCode } from './exit-codes.js';
import type { CommandIO } from './io.js';

/** PROTOCOL.md §6.11: `block_ms` is 1 .. 31622400000 (366 days). */
const MAX_BLOCK_MS = 31_622_400_000;

interface FreeFlags extends ConfirmFlags {
  user?: string;
  host?: string;
  feature?: string;
  blockFor?: string;
  json?: boolean;
}

export function addFreeCommand(program: Command, io: CommandIO): void {
  addAdminTargetOptions(
    addYesOption(
      program
        .command('free')
        .summary('free seats now, optionally keeping the holder out for a while (like lmremove)')
        .description(
          'free seats now (like lmremove): the given leases, or every lease of --user (on --host, of ' +
            '--feature); --block-for keeps the user out for a while so the seat is not taken straight back',
        )
        .argument('[lease...]', 'lease IDs (from `leasehold sessions`); or give --user instead')
        .option('--user <user>', 'free every lease of this user')
        .option('--host <host>', "with --user: only the user's leases on this host")
        .option('--feature <feature>', "with --user: only the user's leases of this feature")
        .option(
          '--block-for <duration>',
          'then refuse checkouts of the same user (host, feature) for this long, e.g. 10m, 2h (max 366d)',
        )
        .option('--json', 'print one JSON document (camelCase keys)'),
    ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  leasehold free 9d4701fd2d58d0baffa067b5644b571e --yes\n' +
        '  leasehold free --user alice --host ws-17 --feature cad --block-for 30m --yes\n' +
        'A block can be lifted early with `leasehold unblock BLOCK_ID` (see `leasehold blocks`).',
    )
    .action(async (leases: string[], flags: FreeFlags, command: Command) => {
      io.setExitCode(await free(leases, flags, command, io));
    });
}

async function free(leases: string[], flags: FreeFlags, command: Command, io: CommandIO): Promise<number> {
  const target = freeTarget(leases, flags, io);
  if (target === undefined) return ExitCode.Usage;
  let blockMs: number | undefined;
  if (flags.blockFor !== undefined) {
    blockMs = parseDuration(flags.blockFor);
    if (blockMs === undefined || blockMs < 1 || blockMs > MAX_BLOCK_MS) {
      io.err(
        `leasehold: --block-for must be a duration like 30s, 10m or 2h, at most 366d; got ${flags.blockFor}\n`,
      );
      return ExitCode.Usage;
    }
  }
  if (!(await confirmed(flags, io, question(target, flags.blockFor)))) return ExitCode.Usage;
  const got = await withAdminClient(command, io, (client) =>
    client.admin.free(target, blockMs === undefined ? {} : { blockMs }),
  );
  if (!got.ok) return got.code;
  io.out(flags.json ? `${JSON.stringify(toJson(got.value), null, 2)}\n` : toText(got.value));
  return ExitCode.Ok;
}

function freeTarget(leases: string[], flags: FreeFlags, io: CommandIO): FreeTarget | undefined {
  if (leases.length > 0 && flags.user !== undefined) {
    io.err('leasehold: give lease IDs or --user, not both\n');
    return undefined;
  }
  if (leases.length > 0) {
    if (flags.host !== undefined || flags.feature !== undefined) {
      io.err('leasehold: --host and --feature go with --user, not with lease IDs\n');
      return undefined;
    }
    return { leases };
  }
  if (flags.user === undefined) {
    io.err('leasehold: say what to free: lease IDs, or --user USER [--host H] [--feature F]\n');
    return undefined;
  }
  return {
    user: flags.user,
    ...(flags.host === undefined ? {} : { host: flags.host }),
    ...(flags.feature === undefined ? {} : { feature: flags.feature }),
  };
}

function question(target: FreeTarget, blockFor: string | undefined): string {
  const block = blockFor === undefined ? '' : `, and block them for ${blockFor}`;
  if ('leases' in target) {
    return `Free lease${target.leases.length === 1 ? '' : 's'} ${target.leases.join(', ')}${block}? Their holders lose the seats now.`;
  }
  return `Free every lease of ${holder(target)}${block}? The holders lose the seats now.`;
}

/** "alice", "alice on ws-1", "alice on ws-1 of cad". */
function holder(t: { user: string; host?: string; feature?: string }): string {
  return `${t.user}${t.host === undefined ? '' : ` on ${t.host}`}${t.feature === undefined ? '' : ` of ${t.feature}`}`;
}

/** The `free --json` document. */
function toJson(r: FreeResult): unknown {
  return {
    freed: r.freed.map((f) => ({ id: f.id, feature: f.feature, user: f.user, host: f.host, count: f.count })),
    blocks: r.blocks.map(blockJson),
  };
}

function toText(r: FreeResult): string {
  const lines = r.freed.map(
    (f) =>
      `freed ${f.id} feature ${f.feature}, ${f.user}@${f.host}, ${f.count} seat${f.count === 1 ? '' : 's'}`,
  );
  if (lines.length === 0) lines.push('nothing to free');
  for (const b of r.blocks) {
    lines.push(`${blockLine(b)}; lift it with \`leasehold unblock ${b.id}\``);
  }
  return `${lines.join('\n')}\n`;
}
