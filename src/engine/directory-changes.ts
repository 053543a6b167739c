/**
 * Run-time changes to the user directory and to named assignments (issue 4 §2), for LeaseEngine's
 * admin calls, reload and restore. Each change is announced with a `directoryChanged` event, which
 * the journal records, and marks the queues it may unblock for a scan. The checks that refuse a
 * change are in directory-admin.ts.
 */
import { InvalidRequestError } from '../protocol/errors.js';
import type { Directory } from './directory.js';
import { capBreach, checkAssign, checkUnassign } from './directory-admin.js';
import { applyDirectoryOp as applyToDirectory, DirectoryOpKind } from './directory-ops.js';
import type { EngineContext } from './engine-context.js';
import type { FeaturePool } from './feature-pool.js';
import type { QueueDesk } from './queue-desk.js';
import type { UserConfig, UserUpdate, UserView } from './types.js';

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

/** Adds a user; the journal record carries every field given, so a replay adds the same user. */
export function addUser(ctx: EngineContext, queues: QueueDesk, config: UserConfig): void {
  const detail: Record<string, unknown> = { user: config?.name, enabled: config?.enabled ?? true };
  if (Array.isArray(config?.groups) && config.groups.length > 0) detail.groups = [...config.groups];
  if (config?.display !== undefined) detail.display = config.display;
  if (config?.email !== undefined) detail.email = config.email;
  if (config?.tokenHash !== undefined) detail.hash = config.tokenHash;
  changeDirectory(ctx, queues, DirectoryOpKind.UserAdded, detail, (d) => d.addUser(config));
}

export function setUserEnabled(ctx: EngineContext, queues: QueueDesk, name: string, enabled: boolean): void {
  const kind = enabled ? DirectoryOpKind.UserEnabled : DirectoryOpKind.UserDisabled;
  changeDirectory(ctx, queues, kind, { user: name }, (d) => d.setEnabled(name, enabled));
}

/** Sets (string) or clears (null) a user's display name and email; absent fields stay. */
export function updateUser(ctx: EngineContext, queues: QueueDesk, name: string, fields: UserUpdate): void {
  if (fields === null || typeof fields !== 'object') {
    throw new InvalidRequestError('A user update must be a table of fields.', { details: { user: name } });
  }
  // Only these two: enabled and groups have calls of their own.
  const change: { display?: string | null; email?: string | null } = {};
  if (fields.display !== undefined) change.display = fields.display;
  if (fields.email !== undefined) change.email = fields.email;
  changeDirectory(ctx, queues, DirectoryOpKind.UserUpdated, { user: name, ...change }, (d) =>
    d.updateUser(name, change),
  );
}

/** Sets or (undefined) clears a user's personal-token hash; two users may not share one. */
export function setUserToken(
  ctx: EngineContext,
  queues: QueueDesk,
  name: string,
  tokenHash: string | undefined,
): void {
  const detail = tokenHash === undefined ? { user: name } : { user: name, hash: tokenHash };
  changeDirectory(ctx, queues, DirectoryOpKind.UserToken, detail, (d) => d.setTokenHash(name, tokenHash));
}

export function listUsers(ctx: EngineContext): UserView[] {
  const views: UserView[] = [];
  for (const user of ctx.directory.users()) {
    const named: string[] = [];
    for (const pool of ctx.book.pools.values()) if (pool.namedUsers.has(user.name)) named.push(pool.name);
    const view: { -readonly [K in keyof UserView]: UserView[K] } = {
      name: user.name,
      enabled: user.enabled,
      groups: ctx.directory.groupNamesOf(user.name),
      named,
      hasToken: user.tokenHash !== undefined,
    };
    if (user.display !== undefined) view.display = user.display;
    if (user.email !== undefined) view.email = user.email;
    views.push(view);
  }
  return views;
}
