/**
 * The steps of LeaseEngine.restore and LeaseEngine.applyRecord (DESIGN §3.6, issue 5): loading the
 * snapshot and journal records (state-loader.ts) into a new engine's state, starting the restart
 * grace, and planning the merge of the configuration into what was persisted (config-merge.ts).
 * LeaseEngine.restore says in what order they run and why.
 */
import { InvalidRequestError } from '../protocol/errors.js';
import type { ConfigBaselineData } from './config-baseline.js';
import type { EngineContext } from './engine-context.js';
import type { EngineOptions } from './engine-options.js';
import type { RestorableState } from './engine-state.js';
import type { FeaturePool } from './feature-pool.js';
import type { JournalRecord } from './journal-records.js';
import { planReconfigure, type ReconfigurePlan } from './reconfigure-plan.js';
import { StateLoader } from './state-loader.js';

export interface RestoreOptions {
  /**
   * DESIGN §3.6 restart grace: every restored session lives at least this long after the restore
   * for its client to resume it. The server passes max(restart_grace, lease_ttl).
   */
  readonly graceMs: number;
  /** The journal seq of `records[0]`, to name a record that cannot apply. Default 1. */
  readonly firstSeq?: number;
}

export function checkGraceMs(graceMs: number): void {
  if (!(Number.isFinite(graceMs) && graceMs >= 0)) {
    throw new InvalidRequestError(`graceMs must be a number of at least 0; got ${String(graceMs)}.`);
  }
}

/** What a restore found persisted. */
export interface Persisted {
  /** Stand-in pools of features the config no longer has (reclaimed once the restore is done). */
  readonly ghosts: ReadonlySet<FeaturePool>;
  /** Whether there was a snapshot or records at all. */
  readonly found: boolean;
  /** The config baseline they hold; undefined when they predate baselines (or there are none). */
  readonly baseline: ConfigBaselineData | undefined;
}

/** Loads the snapshot, then the records, without events. */
export function loadPersisted(
  ctx: EngineContext,
  state: RestorableState | undefined,
  records: readonly JournalRecord[],
  firstSeq: number,
  now: number,
): Persisted {
  if (state == null && records.length === 0) return { ghosts: new Set(), found: false, baseline: undefined };
  const loader = new StateLoader(ctx.book, ctx.directory, ctx.fencing, now, ctx);
  if (state != null) loader.loadSnapshot(state);
  for (let i = 0; i < records.length; i++) loader.apply(records[i]!, firstSeq + i);
  ctx.directory = loader.directory;
  ctx.fencing = loader.fencing;
  return { ghosts: new Set(loader.ghosts), found: true, baseline: loader.baseline };
}

/**
 * Every session has a heartbeat now and lives at least `graceMs` (DESIGN §3.6 restart grace; a
 * resume ends the grace); every lease counts as active now.
 */
export function startGrace(ctx: EngineContext, now: number, graceMs: number): void {
  for (const session of ctx.book.sessions.values()) {
    session.lastHeartbeatAt = now;
    session.graceUntil = now + graceMs;
    ctx.expiry.armSession(session);
  }
  for (const lease of ctx.book.leases()) {
    lease.lastActivityAt = now;
    ctx.expiry.armIdle(lease);
  }
}

const RESTORE_CONFLICT =
  'The configuration does not fit the persisted state (run-time changes to the directory and named ' +
  'assignments are kept at a restart unless the file changed the same thing since it was last applied)';

/**
 * The restart's config merge (LeaseEngine.restore), planned and validated before anything changes:
 * the differences between the persisted config baseline and the config now are applied onto the
 * persisted directory and named assignments, exactly as a reload would apply them.
 *
 * State persisted before baselines existed has none: its directory and named assignments are kept
 * (the rule of that version), and the config's groups it lacks are added. The config's baseline is
 * then recorded (`configBaseline`) so the next restart merges against it.
 */
export function planRestore(
  ctx: EngineContext,
  options: EngineOptions,
  persisted: Persisted,
): ReconfigurePlan {
  let base = persisted.baseline;
  const legacy = base === undefined && persisted.found;
  if (base === undefined) {
    // The config's own baseline, less the groups the persisted directory lacks (so they are added).
    const own = ctx.baseline;
    base = {
      directory: {
        users: own.directory.users,
        groups: own.directory.groups.filter((group) => ctx.directory.hasGroup(group.name)),
      },
      named: own.named,
    };
  }
  const plan = planReconfigure(
    ctx.book.pools,
    ctx.directory,
    base,
    options.features,
    options.directory ?? { users: [], groups: [] },
    RESTORE_CONFLICT,
  );
  return legacy ? { ...plan, baselineChanged: true } : plan;
}

/** LeaseEngine.applyRecord: one record applied as restore does, without events. */
export function applyOneRecord(
  ctx: EngineContext,
  record: JournalRecord,
  seq: number | string,
  now: number,
): void {
  const loader = new StateLoader(ctx.book, ctx.directory, ctx.fencing, now, ctx);
  const sessions = new Set(ctx.book.sessions.values());
  loader.apply(record, seq);
  ctx.directory = loader.directory;
  ctx.fencing = loader.fencing;
  if (loader.baseline !== undefined) ctx.baseline = loader.baseline;
  for (const ghost of loader.ghosts) ctx.book.pools.delete(ghost.name);
  for (const session of ctx.book.sessions.values()) {
    if (!sessions.has(session)) ctx.expiry.armSession(session);
  }
  if (record.t === 'g') {
    const lease = ctx.book.lease(record.id);
    if (lease !== undefined) ctx.expiry.armIdle(lease);
  }
}
