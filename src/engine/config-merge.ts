/**
 * The three-way merge of a reload or a restart (decision "config vs. run-time provisioning"): the
 * differences between the config baseline (config-baseline.ts: the configuration last applied) and
 * the new configuration are applied onto the run-time directory and named assignments, so changes
 * made at run time that the file did not touch are kept.
 *
 * Rules, per thing the file defines:
 * - a user the file newly defines (not in the baseline) is set as the file says (`userSet`),
 *   replacing a run-time user of that name: its enabled flag, groups, display and email are the
 *   file's; its personal-token hash is the file's when the file gives one, else the run-time one
 *   is kept (a file that does not mention a token does not revoke one);
 * - a user the file changed: only the fields that changed in the file are set (`userUpdated`,
 *   `userToken`); a list field (the user's own groups) is merged element by element: members the
 *   file added are added, members it removed are removed, the rest stays as at run time. A user
 *   removed at run time stays removed;
 * - a user the file removed is removed (with their named assignments) if still there;
 * - a group the file newly defines is set as the file says; a group the file changed has its
 *   priority set when the file changed it, and its users and hosts merged element by element; a
 *   group the file removed is removed; when the file's group order changed, the run-time order is
 *   brought to the file's (groups the file does not have, after);
 * - named assignments, per feature: users the file added to named_users are assigned, users it
 *   removed are unassigned, the rest stays as at run time (a feature the engine does not have is
 *   created with the file's list; a user removed from the directory loses their assignments).
 * An addition of something already there and equal, or a removal of something already gone,
 * changes nothing. Whether the result is valid is checked by the caller (reconfigure-plan.ts).
 */
import type { Directory, UserFieldChange, UserRecord } from './directory.js';
import { DirectoryOpKind } from './directory-ops.js';
import type { DirectoryConfig, GroupConfig } from './types.js';

export interface DirectoryOp {
  readonly kind: DirectoryOpKind;
  readonly detail: Record<string, unknown>;
}

/**
 * `runtime` with the elements `base` → `next` removed taken out and those added appended (in
 * `next`'s order): the run-time order and run-time changes the file did not touch are kept.
 */
export function mergeList(
  runtime: Iterable<string>,
  base: readonly string[],
  next: readonly string[],
): string[] {
  const nextSet = new Set(next);
  const baseSet = new Set(base);
  const out = [...runtime].filter((item) => nextSet.has(item) || !baseSet.has(item));
  const present = new Set(out);
  for (const item of next) {
    if (!baseSet.has(item) && !present.has(item)) {
      out.push(item);
      present.add(item);
    }
  }
  return out;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((item) => set.has(item));
}

function sameOrder(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

/** Normalised groups and users as a directory's toConfig writes them. */
type Normalised = ReturnType<Directory['toConfig']>;

function byName<T extends { name: string }>(list: readonly T[]): Map<string, T> {
  return new Map(list.map((item) => [item.name, item]));
}

function userSetDetail(user: UserRecord): Record<string, unknown> {
  const detail: Record<string, unknown> = {
    user: user.name,
    enabled: user.enabled,
    groups: [...user.groups],
  };
  if (user.display !== undefined) detail.display = user.display;
  if (user.email !== undefined) detail.email = user.email;
  if (user.tokenHash !== undefined) detail.hash = user.tokenHash;
  return detail;
}

function groupSetDetail(group: Required<GroupConfig>): Record<string, unknown> {
  return { group: group.name, users: [...group.users], hosts: [...group.hosts], priority: group.priority };
}

/**
 * Applies the differences `base` → `next` (both normalised) to `draft`, the run-time directory (a
 * copy), and returns them as journaled directory operations, in an order where each applies:
 * groups set, users set or updated, users removed, groups removed, then the group order.
 * Throws InvalidRequestError when one cannot apply (say, a token hash another user has).
 */
export function mergeDirectory(
  draft: Directory,
  base: DirectoryConfig,
  next: DirectoryConfig,
): DirectoryOp[] {
  const ops: DirectoryOp[] = [];
  const b = base as Normalised;
  const n = next as Normalised;
  const baseGroups = byName(b.groups);
  const baseUsers = byName(b.users);
  const nextGroups = byName(n.groups);
  const nextUsers = byName(n.users);

  for (const group of n.groups) {
    const was = baseGroups.get(group.name);
    const now = draft.group(group.name);
    let target = group;
    if (was !== undefined && now !== undefined) {
      if (
        was.priority === group.priority &&
        sameSet(was.users, group.users) &&
        sameSet(was.hosts, group.hosts)
      ) {
        continue;
      }
      target = {
        name: group.name,
        users: mergeList(now.users, was.users, group.users),
        hosts: mergeList(now.hosts, was.hosts, group.hosts),
        priority: was.priority === group.priority ? now.priority : group.priority,
      };
    }
    if (draft.setGroup(target)) ops.push({ kind: DirectoryOpKind.GroupSet, detail: groupSetDetail(target) });
  }

  for (const user of n.users) {
    const was = baseUsers.get(user.name);
    const now = draft.user(user.name);
    if (was === undefined) {
      if (draft.setUser(user)) ops.push({ kind: DirectoryOpKind.UserSet, detail: userSetDetail(user) });
      continue;
    }
    // Removed at run time: the run-time removal stands.
    if (now === undefined) continue;
    const change: { -readonly [K in keyof UserFieldChange]: UserFieldChange[K] } = {};
    if (was.enabled !== user.enabled && now.enabled !== user.enabled) change.enabled = user.enabled;
    if (!sameSet(was.groups, user.groups)) {
      const groups = mergeList(now.groups, was.groups, user.groups);
      if (!sameOrder(groups, now.groups)) change.groups = groups;
    }
    if (was.display !== user.display && now.display !== user.display) change.display = user.display ?? null;
    if (was.email !== user.email && now.email !== user.email) change.email = user.email ?? null;
    if (Object.keys(change).length > 0) {
      draft.updateUser(user.name, change);
      ops.push({ kind: DirectoryOpKind.UserUpdated, detail: { user: user.name, ...change } });
    }
    if (was.tokenHash !== user.tokenHash && draft.setTokenHash(user.name, user.tokenHash)) {
      ops.push({
        kind: DirectoryOpKind.UserToken,
        detail:
          user.tokenHash === undefined ? { user: user.name } : { user: user.name, hash: user.tokenHash },
      });
    }
  }

  for (const user of b.users) {
    if (nextUsers.has(user.name) || draft.user(user.name) === undefined) continue;
    draft.removeUser(user.name);
    ops.push({ kind: DirectoryOpKind.UserRemoved, detail: { user: user.name } });
  }
  for (const group of b.groups) {
    if (nextGroups.has(group.name) || !draft.hasGroup(group.name)) continue;
    draft.removeGroup(group.name);
    ops.push({ kind: DirectoryOpKind.GroupRemoved, detail: { group: group.name } });
  }

  const fileOrder = n.groups.map((group) => group.name);
  if (
    !sameOrder(
      b.groups.map((group) => group.name),
      fileOrder,
    )
  ) {
    const current = draft.groupOrder();
    const order = [
      ...fileOrder.filter((name) => draft.hasGroup(name)),
      ...current.filter((name) => !nextGroups.has(name)),
    ];
    if (!sameOrder(order, current)) {
      draft.orderGroups(order);
      ops.push({ kind: DirectoryOpKind.GroupsOrdered, detail: { groups: order } });
    }
  }
  return ops;
}

/**
 * A feature's named assignments after the merge: `runtime` (undefined: the engine has no such
 * feature, which is created with the file's list) less the users the merge removes from the
 * directory, with the file's changes `base` → `next` applied.
 */
export function mergeNamed(
  runtime: Iterable<string> | undefined,
  base: readonly string[],
  next: readonly string[],
  removedUsers: ReadonlySet<string>,
): string[] {
  if (runtime === undefined) return [...next];
  const kept = [...runtime].filter((user) => !removedUsers.has(user));
  return mergeList(kept, base, next);
}
