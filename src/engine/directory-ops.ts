/**
 * The directory changes the engine makes and journals (issue 5: every admin change is in the
 * journal). Each is announced as a `directoryChanged` event whose `kind` and `detail` are the
 * operation and its arguments, so a restart re-applies it with `applyDirectoryOp` and gets the same
 * directory. Named assignments (`assigned`, `unassigned`) live on the features and are applied by
 * the engine.
 *
 * Kinds and their detail:
 *   userAdded {user, enabled, groups?}   userRemoved {user}   userEnabled {user}   userDisabled {user}
 *   memberAdded {group, user}            memberRemoved {group, user}
 *   assigned {feature, user}             unassigned {feature, user}
 *   userSet {user, enabled, groups}      groupSet {group, users, hosts, priority}
 *   groupRemoved {group}                 groupsOrdered {groups}
 * The last four come from a configuration reload (LeaseEngine.reconfigure) bringing the directory
 * in line with the config file.
 */
import { InvalidRequestError } from '../protocol/errors.js';
import type { Directory } from './directory.js';

export const DirectoryOpKind = {
  UserAdded: 'userAdded',
  UserRemoved: 'userRemoved',
  UserEnabled: 'userEnabled',
  UserDisabled: 'userDisabled',
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
      });
      return true;
    }
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
