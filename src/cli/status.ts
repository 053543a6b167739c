/** `leasehold status [FEATURE] [--json]`: the lmstat -a of Leasehold (DESIGN §5). */
import type { Command } from 'commander';
import type { ServerStatus } from '../client/views.js';
import { addConnectionOptions, type ConnectionFlags, withClient } from './connection-options.js';
import { ExitCode } from './exit-codes.js';
import { localTime, shortDuration, table } from './format.js';
import type { CommandIO } from './io.js';

interface StatusFlags extends ConnectionFlags {
  json?: boolean;
}

export function addStatusCommand(program: Command, io: CommandIO): void {
  addConnectionOptions(
    program
      .command('status')
      .description('show the server, every feature (seats, in use, free, queued) and who holds them')
      .argument('[feature]', 'only this feature')
      .option('--json', 'print one JSON document (camelCase keys)'),
  ).action(async (feature: string | undefined, flags: StatusFlags) => {
    io.setExitCode(await status(feature, flags, io));
  });
}

async function status(feature: string | undefined, flags: StatusFlags, io: CommandIO): Promise<number> {
  const got = await withClient(flags, io, (client) => client.status(feature));
  if (!got.ok) return got.code;
  const result: ServerStatus = got.value;
  const now = Date.now();
  io.out(flags.json ? `${JSON.stringify(toJson(result, now), null, 2)}\n` : `${toText(result, now)}\n`);
  return ExitCode.Ok;
}

/** The `status --json` document: DESIGN §5's shape, plus a few more keys. */
export function toJson(s: ServerStatus, nowWall: number): unknown {
  return {
    server: { name: s.server.name, version: s.server.version, uptimeMs: s.server.uptimeMs },
    features: s.features.map((f) => ({
      name: f.name,
      model: f.model,
      seats: f.seats,
      inUse: f.inUse,
      free: f.free,
      queued: f.queued,
      overdraft: f.overdraft,
      ...(f.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: f.idleTimeoutMs }),
      ...(f.namedSeats === undefined
        ? {}
        : {
            named: { seats: f.namedSeats, inUse: f.namedInUse ?? 0 },
            concurrent: { seats: f.concurrentSeats ?? 0, inUse: f.concurrentInUse ?? 0 },
          }),
      ...(f.groups === undefined ? {} : { groups: f.groups }),
      leases: f.leases.map((l) => ({
        id: l.id,
        user: l.user,
        host: l.host,
        ...(l.display === undefined ? {} : { display: l.display }),
        clientName: l.clientName,
        ...(l.peer === undefined ? {} : { peer: l.peer }),
        count: l.count,
        type: l.type,
        ...(l.group === undefined ? {} : { group: l.group }),
        since: new Date(nowWall - l.ageMs).toISOString(),
        idleMs: l.idleMs,
        heartbeatAgeMs: l.heartbeatAgeMs,
      })),
    })),
  };
}

function toText(s: ServerStatus, nowWall: number): string {
  const out = [`${s.server.name} ${s.server.version}, up ${shortDuration(s.server.uptimeMs)}`, ''];
  out.push(
    table(
      ['FEATURE', 'MODEL', 'SEATS', 'IN USE', 'FREE', 'QUEUED'],
      s.features.map((f) => [
        f.name,
        f.model,
        String(f.seats),
        String(f.inUse),
        String(f.free),
        String(f.queued),
      ]),
    ),
  );
  for (const f of s.features) {
    if (f.overdraft > 0)
      out.push('', `${f.name}: ${f.overdraft} seats over the licensed count (seats were lowered)`);
    if (f.namedSeats) {
      out.push(
        '',
        `${f.name}: named ${f.namedInUse ?? 0} of ${f.namedSeats} in use, concurrent ${f.concurrentInUse ?? 0} of ${f.concurrentSeats ?? 0}`,
      );
    }
    if (f.groups && f.groups.length > 0) {
      out.push('', `${f.name} by group:`);
      out.push(
        table(
          ['GROUP', 'IN USE', 'RESERVE', 'MAX'],
          f.groups.map((g) => [
            g.name,
            String(g.inUse),
            g.reserve === undefined ? '-' : String(g.reserve),
            g.max === undefined ? '-' : String(g.max),
          ]),
          '  ',
        ),
      );
    }
    if (f.leases.length === 0) continue;
    out.push('', `${f.name}: ${f.inUse} of ${f.seats} seats in use`);
    out.push(
      table(
        ['USER', 'HOST', 'TYPE', 'COUNT', 'SINCE', 'IDLE', 'LEASE'],
        f.leases.map((l) => [
          l.user,
          l.host,
          l.type,
          String(l.count),
          localTime(new Date(nowWall - l.ageMs)),
          shortDuration(l.idleMs),
          l.id,
        ]),
        '  ',
      ),
    );
  }
  return out.join('\n');
}
