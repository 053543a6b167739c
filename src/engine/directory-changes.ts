/**
 * Run-time changes to the user directory and to named assignments (issue 4 §2), for LeaseEngine's
 * admin calls, reload and restore. Each change is announced with a `directoryChanged` event, which
 * the journal records, and marks the queues it may unblock for a scan. The checks that refuse a
 * change are in directory-admin.ts.
 */
import type { Directory } from './directory.js';
import { capBreach, checkAssign, checkUnassign } from './directory-admin.js';
import { applyDirectoryOp as applyToDirectory, DirectoryOpKind } from './directory-ops.js';
import type { EngineContext } from './engine-context.js';
import type { FeaturePool } from './feature-pool.js';
import type { QueueDesk } from './queue-desk.js';
import type { UserView } from './types.js';

/**
 * Tries `change` on a copy of the directory; keeps it only if no feature's user cap breaks. A
 * change that changes nothing (`false`) emits nothing.
 */
export function changeDirectory(
  ctx: EngineContext,
  queues: QueueDesk,
  kind: string,
  detail: Record<string, unknown>,
  change: (draft: Directory) => unknown,
): void {
  const draft = ctx.directory.clone();
  if (change(draft) === false) return;
  const breach = capBreach(ctx.book.pools.values(), ctx.directory, draft);
  if (breach !== undefined) throw breach;
  ctx.directory = draft;
  queues.scanAll();
  ctx.events.queue('directoryChanged', { kind, detail });
}

/**
 * A journaled directory change, applied exactly as a replay applies it (state-loader.ts), with its
 * event. Used by reload and restore, whose changes were validated as a whole beforehand.
 */
export function applyDirectoryOp(
  ctx: EngineContext,
  kind: DirectoryOpKind,
  detail: Record<string, unknown>,
): void {
  if (kind === DirectoryOpKind.Assigned || kind === DirectoryOpKind.Unassigned) return;
  if (!applyToDirectory(ctx.directory, kind, detail)) return;
  if (kind === DirectoryOpKind.UserRemoved) dropNamedSeats(ctx, detail.user as string);
  ctx.events.queue('directoryChanged', { kind, detail });
}

/** A removed user's named assignments go with them; their live leases continue until they end. */
export function dropNamedSeats(ctx: EngineContext, user: string): void {
  for (const pool of ctx.book.pools.values()) {
    if (pool.namedUsers.delete(user)) pool.assignmentChanged(user, false);
  }
}

/** Gives `user` a named seat of `pool` (assigning twice changes nothing). */
export function assignNamedSeat(
  ctx: EngineContext,
  queues: QueueDesk,
  pool: FeaturePool,
  user: string,
): void {
  if (typeof user === 'string' && pool.namedUsers.has(user)) return;
  checkAssign(pool, user, ctx.directory);
  pool.namedUsers.add(user);
  pool.assignmentChanged(user, true);
  queues.markForScan(pool);
  ctx.events.queue('directoryChanged', { kind: 'assigned', detail: { feature: pool.name, user } });
}

export function unassignNamedSeat(
  ctx: EngineContext,
  queues: QueueDesk,
  pool: FeaturePool,
  user: string,
): void {
  checkUnassign(pool, user);
  pool.namedUsers.delete(user);
  pool.assignmentChanged(user, false);
  queues.markForScan(pool);
  ctx.events.queue('directoryChanged', { kind: 'unassigned', detail: { feature: pool.name, user } });
}

export function listUsers(ctx: EngineContext): UserView[] {
  const views: UserView[] = [];
  for (const user of ctx.directory.users()) {
    const named: string[] = [];
    for (const pool of ctx.book.pools.values()) if (pool.namedUsers.has(user.name)) named.push(pool.name);
    views.push({
      name: user.name,
      enabled: user.enabled,
      groups: ctx.directory.groupNamesOf(user.name),
      named,
    });
  }
  return views;
}
