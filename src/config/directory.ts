/**
 * [users.NAME] and [groups.NAME]: the user directory and the groups that features give reserves,
 * caps, priorities and include/exclude rules to (DESIGN §2; issue 4).
 */
import type { GroupConfig, UserConfig } from '../engine/types.js';
import { isName as isGroupName, isUserName } from '../protocol/names.js';
import { readTokenHash } from './auth.js';
import type { ConfigReader } from './reader.js';

const EMAIL = /^[^\s@]+@[^\s@]+$/;

export interface DirectoryConfig {
  users: UserConfig[];
  groups: GroupConfig[];
}

export function readDirectory(top: ConfigReader, baseDir: string): DirectoryConfig {
  const groups: GroupConfig[] = [];
  const g = top.child('groups');
  for (const name of g?.keys() ?? []) {
    if (!isGroupName(name)) {
      g!.problem(
        name,
        'a group name is 1..64 letters, digits, "_", "." or "-", starting with a letter or digit',
      );
      continue;
    }
    const r = g!.child(name);
    if (!r) continue;
    r.allowOnly(['users', 'hosts', 'priority']);
    groups.push({
      name,
      users: r.stringList('users', isUserName, 'user names'),
      hosts: r.stringList('hosts', isUserName, 'host names'),
      priority: r.integer('priority', 0, 0, 1_000_000),
    });
  }
  const groupNames = new Set(groups.map((x) => x.name));
  const users: UserConfig[] = [];
  const u = top.child('users');
  for (const name of u?.keys() ?? []) {
    if (!isUserName(name)) {
      u!.problem(name, 'a user name is 1..128 bytes without control characters');
      continue;
    }
    const r = u!.child(name);
    if (!r) continue;
    r.allowOnly(['enabled', 'groups', 'display_name', 'email', 'token']);
    const memberOf = r.stringList('groups', isGroupName, 'group names');
    for (const group of memberOf) {
      if (!groupNames.has(group))
        r.problem('groups', `names group "${group}", which no [groups.${group}] defines`);
    }
    const display = r.has('display_name') ? r.string('display_name', '') : undefined;
    const email = r.has('email') ? r.string('email', '') : undefined;
    if (email !== undefined && !EMAIL.test(email))
      r.problem('email', `must be an e-mail address, got "${email}"`);
    const tokenHash = r.has('token') ? readTokenHash(r, 'token', baseDir) : undefined;
    users.push({
      name,
      enabled: r.boolean('enabled', true),
      groups: memberOf,
      ...(display ? { display } : {}),
      ...(email ? { email } : {}),
      ...(tokenHash ? { tokenHash } : {}),
    });
  }
  return { users, groups };
}
