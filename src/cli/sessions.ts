/**
 * `leasehold sessions [--feature F] [--user U] [--host H] [--type named|concurrent] [--json]`: every
 * lease with its holder and seat type (DESIGN §5), at the admin target (admin-target.ts). With an
 * admin role the server adds the holder's display name and e-mail from the user directory.
 */
import { type Command, Option } from 'commander';
import type { HolderInfo } from '../client/views.js';
import { addAdminTargetOptions, withAdminClient } from './admin-target.js';
import { ExitCode } from './exit-codes.js';
import { localTime, shortDuration, table } from './format.js';
import type { CommandIO } from './io.js';

interface SessionsFlags {
  feature?: string;
  user?: string;
  host?: string;
  type?: 'named' | 'concurrent';
  json?: boolean;
}

export function addSessionsCommand(program: Command, io: CommandIO): void {
  addAdminTargetOptions(
    program
      .command('sessions')
      .summary('list leases: who holds which seats, where, since when (like lmstat -a)')
      .description(
        'list leases (like lmstat -a, one line per lease): holder, name and e-mail from the user ' +
          'directory, host, peer, feature, seat type, count, since, last heartbeat, idle time',
      )
      .option('--feature <feature>', 'only this feature')
      .option('--user <user>', 'only this user')
      .option('--host <host>', 'only this host')
      .addOption(new Option('--type <type>', 'only this seat type').choices(['named', 'concurrent']))
      .option('--json', 'print one JSON document (camelCase keys)'),
  ).action(async (flags: SessionsFlags, command: Command) => {
    io.setExitCode(await sessions(flags, command, io));
  });
}

async function sessions(flags: SessionsFlags, command: Command, io: CommandIO): Promise<number> {
  const got = await withAdminClient(command, io, (client) =>
    client.listLeases({
      ...(flags.feature === undefined ? {} : { feature: flags.feature }),
      ...(flags.user === undefined ? {} : { user: flags.user }),
      ...(flags.host === undefined ? {} : { host: flags.host }),
      ...(flags.type === undefined ? {} : { type: flags.type }),
    }),
  );
  if (!got.ok) return got.code;
  const leases: HolderInfo[] = got.value;
  const now = Date.now();
  if (flags.json) {
    const doc = {
      sessions: leases.map((l) => ({
        id: l.id,
        feature: l.feature,
        user: l.user,
        host: l.host,
        ...(l.display === undefined ? {} : { display: l.display }),
        ...(l.displayName === undefined ? {} : { displayName: l.displayName }),
        ...(l.email === undefined ? {} : { email: l.email }),
        clientName: l.clientName,
        ...(l.peer === undefined ? {} : { peer: l.peer }),
        type: l.type,
        ...(l.group === undefined ? {} : { group: l.group }),
        shared: l.shared ?? false,
        count: l.count,
        since: new Date(now - l.ageMs).toISOString(),
        lastHeartbeat: new Date(now - l.heartbeatAgeMs).toISOString(),
        idleMs: l.idleMs,
      })),
    };
    io.out(`${JSON.stringify(doc, null, 2)}\n`);
    return ExitCode.Ok;
  }
  if (leases.length === 0) {
    io.out('No leases.\n');
    return ExitCode.Ok;
  }
  // The directory columns only when the server gave them (an admin role, a user in the directory).
  const names = leases.some((l) => l.displayName !== undefined);
  const emails = leases.some((l) => l.email !== undefined);
  io.out(
    `${table(
      [
        'FEATURE',
        'TYPE',
        'USER',
        ...(names ? ['NAME'] : []),
        ...(emails ? ['EMAIL'] : []),
        'HOST',
        'PEER',
        'GROUP',
        'COUNT',
        'SINCE',
        'HEARTBEAT',
        'IDLE',
        'LEASE',
      ],
      leases.map((l) => [
        l.feature,
        l.shared ? `${l.type}*` : l.type,
        l.user,
        ...(names ? [l.displayName ?? '-'] : []),
        ...(emails ? [l.email ?? '-'] : []),
        l.host,
        l.peer ?? '-',
        l.group ?? '-',
        String(l.count),
        localTime(new Date(now - l.ageMs)),
        `${shortDuration(l.heartbeatAgeMs)} ago`,
        shortDuration(l.idleMs),
        l.id,
      ]),
    )}\n${leases.some((l) => l.shared) ? '* shares a seat with another lease of the same user\n' : ''}`,
  );
  return ExitCode.Ok;
}
