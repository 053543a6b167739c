/** `leasehold queue [FEATURE] [--json]`: who waits for seats, in which order, since when (DESIGN §5). */
import type { Command } from 'commander';
import type { QueueEntry } from '../client/views.js';
import { addConnectionOptions, type ConnectionFlags, withClient } from './connection-options.js';
import { ExitCode } from './exit-codes.js';
import { localTime, shortDuration, table } from './format.js';
import type { CommandIO } from './io.js';

interface QueueFlags extends ConnectionFlags {
  json?: boolean;
}

export function addQueueCommand(program: Command, io: CommandIO): void {
  addConnectionOptions(
    program
      .command('queue')
      .description('show who waits for seats, in queue order (priority, then first come), and since when')
      .argument('[feature]', 'only this feature')
      .option('--json', 'print one JSON document (camelCase keys)'),
  ).action(async (feature: string | undefined, flags: QueueFlags) => {
    io.setExitCode(await showQueue(feature, flags, io));
  });
}

async function showQueue(feature: string | undefined, flags: QueueFlags, io: CommandIO): Promise<number> {
  const got = await withClient(flags, io, (client) => client.queue(feature));
  if (!got.ok) return got.code;
  const waiters: QueueEntry[] = got.value;
  const now = Date.now();
  if (flags.json) {
    const doc = {
      waiters: waiters.map((w) => ({
        feature: w.feature,
        position: w.position,
        user: w.user,
        host: w.host,
        count: w.count,
        priority: w.priority,
        ...(w.group === undefined ? {} : { group: w.group }),
        since: new Date(now - w.waitedMs).toISOString(),
        waitedMs: w.waitedMs,
        waitLeftMs: w.waitLeftMs,
        ticket: w.ticket,
      })),
    };
    io.out(`${JSON.stringify(doc, null, 2)}\n`);
    return ExitCode.Ok;
  }
  if (waiters.length === 0) {
    io.out(feature ? `Nobody waits for '${feature}'.\n` : 'Nobody waits.\n');
    return ExitCode.Ok;
  }
  io.out(
    `${table(
      ['FEATURE', 'POS', 'USER', 'HOST', 'COUNT', 'PRIORITY', 'GROUP', 'SINCE', 'WAITED', 'GIVES UP IN'],
      waiters.map((w) => [
        w.feature,
        String(w.position),
        w.user,
        w.host,
        String(w.count),
        String(w.priority),
        w.group ?? '-',
        localTime(new Date(now - w.waitedMs)),
        shortDuration(w.waitedMs),
        shortDuration(w.waitLeftMs),
      ]),
    )}\n`,
  );
  return ExitCode.Ok;
}
