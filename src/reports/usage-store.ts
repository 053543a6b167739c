/**
 * Where the usage rollups live between runs: `<state_dir>/usage.json` (issue 7 §2). The daemon
 * saves them now and then; whatever it wrote to the audit trail after its last save is caught up
 * from the trail (records with seq > lastSeq), by the daemon after start (in the background) and by
 * the reports, so a report always includes everything the trail holds. `rebuildUsage` starts from nothing.
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readAuditBatches } from './audit-reader.js';
import { ALL_GROUPS, UsageRollups, type UsageRollupsJSON, type UsageRollupsV1JSON } from './rollups.js';

export const USAGE_FILE = 'usage.json';

export function usagePath(stateDir: string): string {
  return join(stateDir, USAGE_FILE);
}

/** The audit trail's directory in the state directory (audit-log.ts writes there). */
export function auditDir(stateDir: string): string {
  return join(stateDir, 'audit');
}

/** The saved rollups; empty ones when there is no file yet. A corrupt file is an Error naming it. */
export async function loadUsage(stateDir: string): Promise<UsageRollups> {
  const file = usagePath(stateDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new UsageRollups();
    throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return UsageRollups.fromJSON(checkUsageJSON(JSON.parse(text)));
  } catch (err) {
    throw new Error(`${file} is corrupt: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes the rollups atomically: a temp file (mode 0600), fsync, rename over usage.json. */
export async function saveUsage(stateDir: string, rollups: UsageRollups): Promise<void> {
  const file = usagePath(stateDir);
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.chmod(0o600); // the mode of open() is only used when it creates the file
    await handle.writeFile(`${JSON.stringify(rollups)}\n`, 'utf8');
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  await rename(temp, file);
  // Make the rename itself durable (not possible on every platform: best effort).
  try {
    const dir = await open(stateDir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // e.g. EISDIR/EPERM on platforms that cannot open or fsync a directory
  }
}

export interface CatchUpOptions {
  /**
   * Apply records up to this seq only: a daemon catches up to the trail it opened, and applies
   * the records it appends after that itself (server/history.ts).
   */
  readonly toSeq?: number;
}

/**
 * Applies the audit records of `<state_dir>/audit` the rollups have not seen (seq > lastSeq), in
 * seq order; returns how many. Between chunks (about 1 MiB of lines) it lets the event loop run,
 * so a daemon catching up a million lines keeps serving (issue 8).
 */
export async function catchUp(
  rollups: UsageRollups,
  stateDir: string,
  options: CatchUpOptions = {},
): Promise<number> {
  if (options.toSeq !== undefined && rollups.lastSeq >= options.toSeq) return 0; // saved at stop
  let applied = 0;
  const range = {
    afterSeq: rollups.lastSeq,
    ...(options.toSeq === undefined ? {} : { toSeq: options.toSeq }),
  };
  for await (const { records, times } of readAuditBatches(auditDir(stateDir), range)) {
    for (let i = 0; i < records.length; i++) {
      if (rollups.applyAt(records[i]!, times[i]!)) applied++;
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return applied;
}

export interface RebuildOptions {
  /** Only the records before this time (epoch ms, exclusive); default: the whole trail. */
  readonly toMs?: number;
}

/** Fresh rollups computed from the whole audit trail (what `report usage --source audit` reads). */
export async function rebuildUsage(stateDir: string, options: RebuildOptions = {}): Promise<UsageRollups> {
  const rollups = new UsageRollups();
  for await (const { records, times } of readAuditBatches(
    auditDir(stateDir),
    options.toMs === undefined ? {} : { toMs: options.toMs },
  )) {
    for (let i = 0; i < records.length; i++) rollups.applyAt(records[i]!, times[i]!);
  }
  return rollups;
}

// --- the shape of usage.json ---

/**
 * What UsageRollups.toJSON writes (version 2), or wrote before issue 8 (version 1: every live lease
 * listed, read by counting them); throws a TypeError naming the first field that is not.
 */
export function checkUsageJSON(json: unknown): UsageRollupsJSON | UsageRollupsV1JSON {
  const doc = object(json, 'the document');
  if (doc.version !== 1 && doc.version !== 2) fail(`unknown version ${String(doc.version)}`);
  num(doc.lastSeq, 'lastSeq');
  const live = object(doc.live, 'live');
  if (typeof live.running !== 'boolean') fail('live.running is not a boolean');
  if (live.lastMs !== null) num(live.lastMs, 'live.lastMs');
  numbers(live.seats, 'live.seats');
  const each = (v: unknown, what: string, check: (item: Record<string, unknown>, what: string) => void) => {
    if (!Array.isArray(v)) fail(`${what} is not a list`);
    v.forEach((item, i) => {
      check(object(item, `${what}[${i}]`), `${what}[${i}]`);
    });
  };
  const holder = (keys: readonly string[]) => (x: Record<string, unknown>, what: string) => {
    for (const k of keys) str(x[k], `${what}.${k}`);
    num(x.count, `${what}.count`);
    if (x.group !== undefined) str(x.group, `${what}.group`);
  };
  if (doc.version === 1) {
    each(live.leases, 'live.leases', holder(['lease', 'feature', 'user', 'host', 'type']));
  } else {
    each(live.holders, 'live.holders', (x, what) => {
      for (const k of ['feature', 'group', 'user']) str(x[k], `${what}.${k}`);
      // '*' is the sum of the groups, never saved; a holding of no lease would never be removed.
      if (x.group === ALL_GROUPS) fail(`${what}.group is '${ALL_GROUPS}'`);
      const leases = num(x.leases, `${what}.leases`);
      if (!Number.isInteger(leases) || leases < 1) fail(`${what}.leases is not a whole number above 0`);
      if (num(x.seats, `${what}.seats`) < 0) fail(`${what}.seats is below 0`);
    });
  }
  each(live.waiters, 'live.waiters', holder(['ticket', 'feature', 'user', 'host']));
  each(doc.buckets, 'buckets', (b, what) => {
    if (Number.isNaN(Date.parse(str(b.hour, `${what}.hour`)))) fail(`${what}.hour is not a time`);
    for (const k of ['feature', 'group']) str(b[k], `${what}.${k}`);
    for (const k of BUCKET_NUMBERS) num(b[k], `${what}.${k}`);
    for (const k of ['users', 'waits']) if (!Array.isArray(b[k])) fail(`${what}.${k} is not a list`);
    for (const u of b.users as unknown[]) str(u, `${what}.users[]`);
    for (const w of b.waits as unknown[]) num(w, `${what}.waits[]`);
    numbers(b.denials, `${what}.denials`);
    if (b.demand !== undefined) numbers(b.demand, `${what}.demand`);
  });
  return json as UsageRollupsJSON | UsageRollupsV1JSON;
}

const BUCKET_NUMBERS = [
  'seats',
  'peak',
  'seatMs',
  'grants',
  'queueEntries',
  'waitCount',
  'waitStride',
  'longestQueue',
];

function fail(what: string): never {
  throw new TypeError(what);
}

function object(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${what} is not an object`);
  return v as Record<string, unknown>;
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${what} is not a number`);
  return v;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') fail(`${what} is not a string`);
  return v;
}

function numbers(v: unknown, what: string): void {
  for (const [k, x] of Object.entries(object(v, what))) num(x, `${what}.${k}`);
}
