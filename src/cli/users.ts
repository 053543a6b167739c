/**
 * `leasehold users list|add|set|remove|enable|disable|assign|unassign|join|leave` (DESIGN §5;
 * PROTOCOL.md §6.11): the user directory, named seats and group membership, changed live at the
 * admin target (admin-target.ts; listing needs role viewer, changes role manager). The daemon
 * journals each change before it answers, so it survives a restart.
 */
import { type Command, Option } from 'commander';
import type { UserEntry } from '../client/admin.js';
import type { LeaseholdClient } from '../client/client.js';
import {
  addAdminTargetOptions,
  addYesOption,
  type ConfirmFlags,
  confirmed,
  withAdminClient,
} from './admin-target.js';
import { ExitCode } from './exit-codes.js';
import { table } from './format.js';
import type { CommandIO } from './io.js';

interface JsonFlag {
  json?: boolean;
}

interface ListFlags extends JsonFlag {
  feature?: string;
  type?: 'named' | 'concurrent';
}

interface AddFlags extends JsonFlag {
  displayName?: string;
  email?: string;
  disabled?: boolean;
  group: string[];
  issueToken?: boolean;
}

interface SetFlags extends JsonFlag {
  displayName?: string;
  email?: string;
  issueToken?: boolean;
  revokeToken?: boolean;
}

const JSON_HELP = 'print one JSON document (camelCase keys)';

export function addUsersCommand(program: Command, io: CommandIO): void {
  const users = program
    .command('users')
    .summary('manage users, named seats, groups and personal tokens, live')
    .description(
      'manage the user directory live: users, named seats, groups, personal tokens (what FlexLM ' +
        'does with INCLUDE/EXCLUDE/GROUP lines in an options file and lmreread)',
    )
    .addHelpText(
      'after',
      '\n`remove`, `disable` and `unassign` ask for confirmation on a terminal; elsewhere they need --yes.',
    );
  /** A subcommand: its own options first, then --json, [--yes,] and where to connect. */
  const sub = (
    name: string,
    description: string,
    define: (c: Command) => Command,
    options: { yes?: boolean } = {},
  ): Command => {
    const c = define(users.command(name).description(description)).option('--json', JSON_HELP);
    return addAdminTargetOptions(options.yes ? addYesOption(c) : c);
  };
  const userArg = (c: Command) => c.argument('<user>', 'the user name');

  sub(
    'list',
    'list users: name, e-mail, enabled, groups, named seats, token; with --feature their seat type',
    (c) =>
      c
        .option('--feature <feature>', "add each user's seat type on this feature (SEAT)")
        .addOption(
          new Option('--type <type>', 'with --feature: only users given this seat type').choices([
            'named',
            'concurrent',
          ]),
        ),
  ).action(async (flags: ListFlags, command: Command) => {
    io.setExitCode(await list(flags, command, io));
  });

  sub('add', 'add a user to the directory (enabled unless --disabled)', (c) =>
    c
      .argument('<user>', 'the user name (as the applications check out with)')
      .option('--display-name <name>', 'the full name shown by `sessions` and `users list`')
      .option('--email <address>', 'e-mail address')
      .option('--disabled', 'add the user disabled: checkouts are refused until `users enable`')
      .option(
        '--group <group>',
        'make the user a member of this group; repeat for several',
        (value: string, previous: string[]) => [...previous, value],
        [] as string[],
      )
      .option('--issue-token', 'issue a personal token (printed once: store it now)'),
  ).action(async (user: string, flags: AddFlags, command: Command) => {
    io.setExitCode(await add(user, flags, command, io));
  });

  sub('set', "change a user's name, e-mail or personal token ('' clears a field)", (c) =>
    userArg(c)
      .option('--display-name <name>', "the full name ('' clears it)")
      .option('--email <address>', "e-mail address ('' clears it)")
      .option('--issue-token', 'issue a new personal token (printed once; the old one stops working)')
      .option('--revoke-token', "remove the user's personal token"),
  ).action(async (user: string, flags: SetFlags, command: Command) => {
    io.setExitCode(await set(user, flags, command, io));
  });

  sub(
    'remove',
    'remove a user and their named seats; their leases run on until they end, unless --free',
    (c) =>
      userArg(c).option(
        '--free',
        "also free the user's leases now (like lmremove); without it they run until they end",
      ),
    { yes: true },
  ).action(async (user: string, flags: ConfirmFlags & JsonFlag & { free?: boolean }, command: Command) => {
    const what = flags.free ? ' and free their leases now' : '';
    if (!(await confirmed(flags, io, `Remove user ${user} and their named seats${what}?`))) {
      return io.setExitCode(ExitCode.Usage);
    }
    const got = await withAdminClient(command, io, (client) =>
      client.admin.removeUser(user, flags.free ? { free: true } : {}),
    );
    if (!got.ok) return io.setExitCode(got.code);
    const freed = got.value;
    io.out(
      flags.json
        ? `${JSON.stringify({ user, removed: true, freed }, null, 2)}\n`
        : `removed user ${user}${flags.free ? `; freed ${freed} lease${freed === 1 ? '' : 's'}` : ''}\n`,
    );
    io.setExitCode(ExitCode.Ok);
  });

  sub('enable', 'let a disabled user check out again', userArg).action(
    async (user: string, flags: JsonFlag, command: Command) => {
      io.setExitCode(await setEnabled(user, true, flags, command, io));
    },
  );

  sub(
    'disable',
    "refuse a user's checkouts (like EXCLUDE in a FlexLM options file); leases held go on",
    userArg,
    { yes: true },
  ).action(async (user: string, flags: ConfirmFlags & JsonFlag, command: Command) => {
    const question = `Disable user ${user}? Their checkouts will be refused; leases held go on.`;
    if (!(await confirmed(flags, io, question))) return io.setExitCode(ExitCode.Usage);
    io.setExitCode(await setEnabled(user, false, flags, command, io));
  });

  const featureArgs = (c: Command) => userArg(c).argument('<feature>', 'the feature');
  sub('assign', 'give a user a named seat of a feature (model named or mixed)', featureArgs).action(
    async (user: string, feature: string, flags: JsonFlag, command: Command) => {
      io.setExitCode(
        await change(command, io, flags, (c) => c.admin.assign(user, feature), {
          text: `${user} has a named seat of ${feature}`,
          json: { user, feature, named: true },
        }),
      );
    },
  );

  sub('unassign', "take a user's named seat of a feature away", featureArgs, { yes: true }).action(
    async (user: string, feature: string, flags: ConfirmFlags & JsonFlag, command: Command) => {
      if (!(await confirmed(flags, io, `Take the named seat of ${feature} away from ${user}?`))) {
        return io.setExitCode(ExitCode.Usage);
      }
      io.setExitCode(
        await change(command, io, flags, (c) => c.admin.unassign(user, feature), {
          text: `${user} no longer has a named seat of ${feature}`,
          json: { user, feature, named: false },
        }),
      );
    },
  );

  const groupArgs = (c: Command) => userArg(c).argument('<group>', 'the group');
  sub('join', 'make a user a member of a group', groupArgs).action(
    async (user: string, group: string, flags: JsonFlag, command: Command) => {
      io.setExitCode(
        await change(command, io, flags, (c) => c.admin.joinGroup(user, group), {
          text: `${user} is a member of ${group}`,
          json: { user, group, member: true },
        }),
      );
    },
  );

  sub('leave', 'take a user out of a group', groupArgs).action(
    async (user: string, group: string, flags: JsonFlag, command: Command) => {
      io.setExitCode(
        await change(command, io, flags, (c) => c.admin.leaveGroup(user, group), {
          text: `${user} is no longer a member of ${group}`,
          json: { user, group, member: false },
        }),
      );
    },
  );
}

async function add(user: string, flags: AddFlags, command: Command, io: CommandIO): Promise<number> {
  const got = await withAdminClient(command, io, (client) =>
    client.admin.addUser({
      name: user,
      ...(flags.displayName === undefined ? {} : { displayName: flags.displayName }),
      ...(flags.email === undefined ? {} : { email: flags.email }),
      enabled: !flags.disabled,
      groups: flags.group,
      ...(flags.issueToken ? { issueToken: true } : {}),
    }),
  );
  if (!got.ok) return got.code;
  const { token } = got.value;
  if (flags.json) {
    io.out(`${JSON.stringify({ user, ...(token === undefined ? {} : { token }) }, null, 2)}\n`);
  } else {
    io.out(`added user ${user}${flags.disabled ? ' (disabled)' : ''}\n${tokenLine(user, token)}`);
  }
  return ExitCode.Ok;
}

async function list(flags: ListFlags, command: Command, io: CommandIO): Promise<number> {
  if (flags.type !== undefined && flags.feature === undefined) {
    io.err('leasehold: --type needs --feature: seat types are per feature\n');
    return ExitCode.Usage;
  }
  const got = await withAdminClient(command, io, (client) =>
    client.admin.listUsers({
      ...(flags.feature === undefined ? {} : { feature: flags.feature }),
      ...(flags.type === undefined ? {} : { type: flags.type }),
    }),
  );
  if (!got.ok) return got.code;
  const users = got.value;
  if (flags.json) {
    io.out(`${JSON.stringify({ users: users.map(userJson) }, null, 2)}\n`);
    return ExitCode.Ok;
  }
  if (users.length === 0) {
    io.out(flags.feature === undefined ? 'No users.\n' : `No users for '${flags.feature}'.\n`);
    return ExitCode.Ok;
  }
  const seat = flags.feature !== undefined;
  const joined = (xs: string[]) => (xs.length > 0 ? xs.join(',') : '-');
  io.out(
    `${table(
      ['USER', 'NAME', 'EMAIL', 'ENABLED', 'GROUPS', 'NAMED', 'TOKEN', ...(seat ? ['SEAT'] : [])],
      users.map((u) => [
        u.name,
        u.displayName ?? '-',
        u.email ?? '-',
        u.enabled ? 'yes' : 'no',
        joined(u.groups),
        joined(u.named),
        u.token ? 'yes' : 'no',
        ...(seat ? [u.seat ?? 'none'] : []),
      ]),
    )}\n`,
  );
  return ExitCode.Ok;
}

function userJson(u: UserEntry): unknown {
  return {
    name: u.name,
    ...(u.displayName === undefined ? {} : { displayName: u.displayName }),
    ...(u.email === undefined ? {} : { email: u.email }),
    enabled: u.enabled,
    groups: u.groups,
    named: u.named,
    token: u.token,
    ...(u.seat === undefined ? {} : { seat: u.seat }),
  };
}

async function set(user: string, flags: SetFlags, command: Command, io: CommandIO): Promise<number> {
  if (flags.issueToken && flags.revokeToken) {
    io.err('leasehold: give --issue-token or --revoke-token, not both\n');
    return ExitCode.Usage;
  }
  if (
    flags.displayName === undefined &&
    flags.email === undefined &&
    !flags.issueToken &&
    !flags.revokeToken
  ) {
    io.err('leasehold: nothing to change: give --display-name, --email, --issue-token or --revoke-token\n');
    return ExitCode.Usage;
  }
  const got = await withAdminClient(command, io, (client) =>
    client.admin.setUser(user, {
      ...(flags.displayName === undefined ? {} : { displayName: flags.displayName }),
      ...(flags.email === undefined ? {} : { email: flags.email }),
      ...(flags.issueToken ? { issueToken: true } : {}),
      ...(flags.revokeToken ? { revokeToken: true } : {}),
    }),
  );
  if (!got.ok) return got.code;
  const { token } = got.value;
  if (flags.json) {
    io.out(`${JSON.stringify({ user, ...(token === undefined ? {} : { token }) }, null, 2)}\n`);
  } else {
    io.out(
      `changed user ${user}${flags.revokeToken ? '; personal token revoked' : ''}\n${tokenLine(user, token)}`,
    );
  }
  return ExitCode.Ok;
}

function setEnabled(
  user: string,
  enabled: boolean,
  flags: JsonFlag,
  command: Command,
  io: CommandIO,
): Promise<number> {
  return change(command, io, flags, (c) => c.admin.setUser(user, { enabled }), {
    text: `${enabled ? 'enabled' : 'disabled'} user ${user}`,
    json: { user, enabled },
  });
}

/** One change with nothing to report but that it was done. */
async function change(
  command: Command,
  io: CommandIO,
  flags: JsonFlag,
  run: (client: LeaseholdClient) => Promise<unknown>,
  done: { text: string; json: Record<string, unknown> },
): Promise<number> {
  const got = await withAdminClient(command, io, run);
  if (!got.ok) return got.code;
  io.out(flags.json ? `${JSON.stringify(done.json, null, 2)}\n` : `${done.text}\n`);
  return ExitCode.Ok;
}

/** The personal token, printed once (the daemon keeps only its hash). */
function tokenLine(user: string, token: string | undefined): string {
  return token === undefined ? '' : `token for ${user} (shown once, store it now): ${token}\n`;
}
