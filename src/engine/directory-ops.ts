/**
 * The directory changes the engine makes and journals (issue 5: every admin change is in the
 * journal). Each is announced as a `directoryChanged` event whose `kind` and `detail` are the
 * operation and its arguments, so a restart re-applies it with `applyDirectoryOp` and gets the same
 * directory. Named assignments (`assigned`, `unassigned`) live on the features and are applied by
 * the engine.
 *
 * Kinds and their detail (`?`: may be absent):
 *   userAdded {user, enabled, groups?, display?, email?, hash?}
 *   userRemoved {user}   userEnabled {user}   userDisabled {user}
 *   userUpdated {user, enabled?, groups?, display?, email?}
 *       only the fields present change; `display: null` / `email: null` clear them
 *   userToken {user, hash?}   sets the personal-token hash (sha256 hex); no hash clears it
 *   memberAdded {group, user}            memberRemoved {group, user}
 *   assigned {feature, user}             unassigned {feature, user}
 *   userSet {user, enabled, groups, display?, email?, hash?}
 *       creates or replaces the user: enabled, groups, display and email as given (absent = none);
 *       the token hash only when `hash` is given, else an existing user keeps theirs
 *   groupSet {group, users, hosts, priority}   creates or replaces the group
 *   groupRemoved {group}                 groupsOrdered {groups}
 * userAdded, userUpdated and userToken come from admin calls (the first two from a reload's merge
 * too); userSet, groupSet, groupRemoved and groupsOrdered from a reload or a restart applying the
 * config file's changes (config-merge.ts). `hash` never holds a token, only its sha256.
 */
import { InvalidRequestError } from '../protocol/errors.js';
import type { Directory } from './directory.js';

export const DirectoryOpKind = {
  UserAdded: 'userAdded',
  UserRemoved: 'userRemoved',
  UserEnabled: 'userEnabled',
  UserDisabled: 'userDisabled',
  UserUpdated: 'userUpdated',
  UserToken: 'userToken',
  MemberAdded: 'memberAdded',
  MemberRemoved: 'memberRemoved',
  Assigned: 'assigned',
  Unassigned: 'unassigned',
  UserSet: 'userSet',
  GroupSet: 'groupSet',
  GroupRemoved: 'groupRemoved',
  GroupsOrdered: 'groupsOrdered',
} as const;
export type DirectoryOpKind = (typeof DirectoryOpKind)[keyof typeof DirectoryOpKind];

const KINDS: ReadonlySet<string> = new Set(Object.values(DirectoryOpKind));

export function isDirectoryOpKind(kind: unknown): kind is DirectoryOpKind {
  return typeof kind === 'string' && KINDS.has(kind);
}

type Detail = Readonly<Record<string, unknown>>;

function str(detail: Detail, field: string): string {
  const value = detail[field];
  if (typeof value !== 'string') {
    throw new InvalidRequestError(`A directory change needs a string '${field}'.`, { details: { field } });
  }
  return value;
}

/** A string field that may be absent (undefined); anything else but a string is refused. */
function optionalStr(detail: Detail, field: string): string | undefined {
  const value = detail[field];
  if (value === undefined) return undefined;
  return str(detail, field);
}

/** A text field of `userUpdated`: absent (undefined), cleared (null) or set. */
function textChange(detail: Detail, field: string): string | null | undefined {
  return detail[field] === null ? null : optionalStr(detail, field);
}

/** The optional user fields of userAdded and userSet, as UserConfig fields. */
function userExtras(detail: Detail): { display?: string; email?: string; tokenHash?: string } {
  const display = optionalStr(detail, 'display');
  const email = optionalStr(detail, 'email');
  const tokenHash = optionalStr(detail, 'hash');
  return {
    ...(display !== undefined ? { display } : {}),
    ...(email !== undefined ? { email } : {}),
    ...(tokenHash !== undefined ? { tokenHash } : {}),
  };
}

function list(detail: Detail, field: string): string[] {
  const value = detail[field];
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new InvalidRequestError(`A directory change's '${field}' must be a list of strings.`, {
      details: { field },
    });
  }
  return value as string[];
}

/**
 * Applies a directory operation to `directory` (named assignments excepted: the engine applies
 * those). Returns false when it changed nothing. Throws InvalidRequestError when it cannot apply.
 */
export function applyDirectoryOp(directory: Directory, kind: DirectoryOpKind, detail: Detail): boolean {
  switch (kind) {
    case DirectoryOpKind.UserAdded: {
      const groups = list(detail, 'groups');
      const enabled = detail.enabled;
      directory.addUser({
        name: str(detail, 'user'),
        ...(typeof enabled === 'boolean' ? { enabled } : {}),
        ...(groups.length > 0 ? { groups } : {}),
        ...userExtras(detail),
      });
      return true;
    }
    case DirectoryOpKind.UserUpdated: {
      const enabled = detail.enabled;
      const display = textChange(detail, 'display');
      const email = textChange(detail, 'email');
      return directory.updateUser(str(detail, 'user'), {
        ...(typeof enabled === 'boolean' ? { enabled } : {}),
        ...(detail.groups !== undefined ? { groups: list(detail, 'groups') } : {}),
        ...(display !== undefined ? { display } : {}),
        ...(email !== undefined ? { email } : {}),
      });
    }
    case DirectoryOpKind.UserToken:
      return directory.setTokenHash(str(detail, 'user'), optionalStr(detail, 'hash'));
    case DirectoryOpKind.UserRemoved:
      directory.removeUser(str(detail, 'user'));
      return true;
    case DirectoryOpKind.UserEnabled:
      return directory.setEnabled(str(detail, 'user'), true);
    case DirectoryOpKind.UserDisabled:
      return directory.setEnabled(str(detail, 'user'), false);
    case DirectoryOpKind.MemberAdded:
      return directory.addMember(str(detail, 'group'), str(detail, 'user'));
    case DirectoryOpKind.MemberRemoved:
      directory.removeMember(str(detail, 'group'), str(detail, 'user'));
      return true;
    case DirectoryOpKind.UserSet:
      return directory.setUser({
        name: str(detail, 'user'),
        enabled: detail.enabled !== false,
        groups: list(detail, 'groups'),
        ...userExtras(detail),
      });
    case DirectoryOpKind.GroupSet: {
      const priority = detail.priority;
      return directory.setGroup({
        name: str(detail, 'group'),
        users: list(detail, 'users'),
        hosts: list(detail, 'hosts'),
        ...(typeof priority === 'number' ? { priority } : {}),
      });
    }
    case DirectoryOpKind.GroupRemoved:
      directory.removeGroup(str(detail, 'group'));
      return true;
    case DirectoryOpKind.GroupsOrdered:
      directory.orderGroups(list(detail, 'groups'));
      return true;
    case DirectoryOpKind.Assigned:
    case DirectoryOpKind.Unassigned:
      return false;
    default:
      return kind satisfies never;
  }
}
