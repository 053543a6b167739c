/**
 * The steps of LeaseEngine.restore and LeaseEngine.applyRecord (DESIGN §3.6, issue 5): loading the
 * snapshot and journal records (state-loader.ts) into a new engine's state, starting the restart
 * grace, and checking the configuration against what was persisted. LeaseEngine.restore says in
 * what order they run and why.
 */
import { InvalidRequestError } from '../protocol/errors.js';
import { applyDirectoryOp } from './directory-changes.js';
import { DirectoryOpKind } from './directory-ops.js';
import type { EngineContext } from './engine-context.js';
import type { EngineOptions } from './engine-options.js';
import type { EngineState } from './engine-state.js';
import { validateFeatureConfig } from './feature-config-check.js';
import type { FeaturePool } from './feature-pool.js';
import type { JournalRecord } from './journal-records.js';
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

/**
 * Loads the snapshot, then the records, without events; returns the stand-in pools of features the
 * config no longer has (reclaimed once the restore is done).
 */
export function loadPersisted(
  ctx: EngineContext,
  state: EngineState | undefined,
  records: readonly JournalRecord[],
  firstSeq: number,
  now: number,
): Set<FeaturePool> {
  const ghosts = new Set<FeaturePool>();
  if (state == null && records.length === 0) return ghosts;
  const loader = new StateLoader(ctx.book, ctx.directory, ctx.fencing, now);
  if (state != null) loader.loadSnapshot(state);
  for (let i = 0; i < records.length; i++) loader.apply(records[i]!, firstSeq + i);
  ctx.directory = loader.directory;
  ctx.fencing = loader.fencing;
  for (const ghost of loader.ghosts) ghosts.add(ghost);
  return ghosts;
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

/**
 * The config's features must fit the persisted directory and named assignments (the config's
 * groups that the persisted directory lacks are added after this check, so they count as there).
 */
export function checkRestoredConfig(
  ctx: EngineContext,
  options: EngineOptions,
  ghosts: ReadonlySet<FeaturePool>,
): void {
  const draft = ctx.directory.clone();
  for (const group of options.directory?.groups ?? []) {
    if (!draft.hasGroup(group.name)) draft.setGroup(group);
  }
  for (const pool of ctx.book.pools.values()) {
    if (ghosts.has(pool)) continue;
    try {
      validateFeatureConfig(pool.currentConfig(), draft);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new InvalidRequestError(
        `The configuration does not fit the persisted state (its directory and named assignments are kept over the config's at a restart): ${message}`,
        { details: { feature: pool.name }, cause: error },
      );
    }
  }
}

/** Adds, with events (`groupSet`), the groups of the config that the persisted directory lacks. */
export function addMissingGroups(ctx: EngineContext, options: EngineOptions): void {
  for (const group of options.directory?.groups ?? []) {
    if (ctx.directory.hasGroup(group.name)) continue;
    applyDirectoryOp(ctx, DirectoryOpKind.GroupSet, {
      group: group.name,
      users: [...(group.users ?? [])],
      hosts: [...(group.hosts ?? [])],
      priority: group.priority ?? 0,
    });
  }
}

/** LeaseEngine.applyRecord: one record applied as restore does, without events. */
export function applyOneRecord(
  ctx: EngineContext,
  record: JournalRecord,
  seq: number | string,
  now: number,
): void {
  const loader = new StateLoader(ctx.book, ctx.directory, ctx.fencing, now);
  const sessions = new Set(ctx.book.sessions.values());
  loader.apply(record, seq);
  ctx.directory = loader.directory;
  ctx.fencing = loader.fencing;
  for (const ghost of loader.ghosts) ctx.book.pools.delete(ghost.name);
  for (const session of ctx.book.sessions.values()) {
    if (!sessions.has(session)) ctx.expiry.armSession(session);
  }
  if (record.t === 'g') {
    const lease = ctx.book.lease(record.id);
    if (lease !== undefined) ctx.expiry.armIdle(lease);
  }
}
