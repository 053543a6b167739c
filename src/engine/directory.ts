/**
 * The user directory (issue 4 §2): users (enabled or not), groups of users and hosts, and each
 * group's queue priority. Seeded from the configuration and changed at run time through engine
 * calls. Named assignments live on the features (FeaturePool.namedUsers), not here.
 *
 * A holder (user, host) is a member of group G if G lists the user, the user lists G, or G lists the
 * host. A holder's groups are always considered in directory order (the order of the config).
 */
import { InvalidRequestError } from '../protocol/errors.js';
import type { DirectoryConfig, GroupConfig, GroupView, UserConfig } from './types.js';

export interface DirectoryUser {
  readonly name: string;
  enabled: boolean;
  /** Groups the user names itself, in the order given. */
  readonly groups: string[];
}

export interface DirectoryGroup {
  readonly name: string;
  /** Users the group lists. */
  readonly users: Set<string>;
  readonly hosts: Set<string>;
  readonly priority: number;
}

function invalid(message: string, details?: Record<string, unknown>): InvalidRequestError {
  return new InvalidRequestError(message, details === undefined ? undefined : { details });
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function stringList(value: unknown, what: string): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every(isName)) {
    throw invalid(`${what} must be a list of non-empty strings.`);
  }
  return value;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

export class Directory {
  readonly #users = new Map<string, DirectoryUser>();
  /** In directory order. */
  readonly #groups = new Map<string, DirectoryGroup>();

  static from(config: DirectoryConfig | undefined): Directory {
    const directory = new Directory();
    if (config === undefined) return directory;
    if (!Array.isArray(config.users) || !Array.isArray(config.groups)) {
      throw invalid('The directory needs a list of users and a list of groups.');
    }
    for (const group of config.groups) directory.#addGroup(group);
    for (const user of config.users) directory.addUser(user);
    return directory;
  }

  /** A deep copy: changes are tried on a copy and swapped in only if every rule still holds. */
  clone(): Directory {
    const copy = new Directory();
    for (const group of this.#groups.values()) {
      copy.#groups.set(group.name, {
        name: group.name,
        users: new Set(group.users),
        hosts: new Set(group.hosts),
        priority: group.priority,
      });
    }
    for (const user of this.#users.values()) {
      copy.#users.set(user.name, { name: user.name, enabled: user.enabled, groups: [...user.groups] });
    }
    return copy;
  }

  get userCount(): number {
    return this.#users.size;
  }

  users(): IterableIterator<DirectoryUser> {
    return this.#users.values();
  }

  groups(): IterableIterator<DirectoryGroup> {
    return this.#groups.values();
  }

  user(name: string): DirectoryUser | undefined {
    return this.#users.get(name);
  }

  group(name: string): DirectoryGroup | undefined {
    return this.#groups.get(name);
  }

  hasGroup(name: string): boolean {
    return this.#groups.has(name);
  }

  /** The holder's groups in directory order (membership by user, by the user's own list, or by host). */
  groupsOf(user: string, host: string | undefined): DirectoryGroup[] {
    const own = this.#users.get(user)?.groups;
    const out: DirectoryGroup[] = [];
    for (const group of this.#groups.values()) {
      if (
        group.users.has(user) ||
        own?.includes(group.name) ||
        (host !== undefined && group.hosts.has(host))
      ) {
        out.push(group);
      }
    }
    return out;
  }

  /** Queue priority of a holder: the highest of its groups', 0 without groups. */
  priorityOf(user: string, host: string): number {
    let priority: number | undefined;
    for (const group of this.groupsOf(user, host)) {
      if (priority === undefined || group.priority > priority) priority = group.priority;
    }
    return priority ?? 0;
  }

  // ---- changes (each validates before it changes anything) ------------------------------------

  addUser(config: UserConfig): void {
    if (!isName(config?.name)) throw invalid('A user name must be a non-empty string.');
    const { name } = config;
    if (this.#users.has(name)) throw invalid(`User '${name}' already exists.`, { user: name });
    if (config.enabled !== undefined && typeof config.enabled !== 'boolean') {
      throw invalid(`User '${name}': enabled must be true or false.`, { user: name });
    }
    const groups = stringList(config.groups, `User '${name}': groups`);
    for (const group of groups) this.#knownGroup(group, `User '${name}'`);
    this.#users.set(name, { name, enabled: config.enabled ?? true, groups: [...new Set(groups)] });
  }

  /** Removes the user and every explicit membership of it. */
  removeUser(name: string): void {
    this.#knownUser(name);
    this.#users.delete(name);
    for (const group of this.#groups.values()) group.users.delete(name);
  }

  setEnabled(name: string, enabled: boolean): boolean {
    const user = this.#knownUser(name);
    if (typeof enabled !== 'boolean') throw invalid('enabled must be true or false.', { user: name });
    const changed = user.enabled !== enabled;
    user.enabled = enabled;
    return changed;
  }

  /** Returns whether anything changed (adding an explicit member twice changes nothing). */
  addMember(groupName: string, user: string): boolean {
    const group = this.#knownGroup(groupName);
    if (!isName(user)) throw invalid('A user name must be a non-empty string.');
    if (group.users.has(user) || this.#users.get(user)?.groups.includes(groupName)) return false;
    group.users.add(user);
    return true;
  }

  /** Ends the user's explicit membership (listed by the group or naming the group). */
  removeMember(groupName: string, user: string): void {
    const group = this.#knownGroup(groupName);
    const own = this.#users.get(user)?.groups;
    const index = own?.indexOf(groupName) ?? -1;
    if (!group.users.has(user) && index < 0) {
      throw invalid(`User '${user}' is not a member of group '${groupName}'.`, {
        group: groupName,
        user,
      });
    }
    group.users.delete(user);
    if (own !== undefined && index >= 0) own.splice(index, 1);
  }

  /**
   * Creates or replaces a user (its enabled flag and its own group list); an existing user keeps its
   * place in the directory. Returns whether anything changed.
   */
  setUser(config: UserConfig): boolean {
    if (!isName(config?.name)) throw invalid('A user name must be a non-empty string.');
    const { name } = config;
    if (config.enabled !== undefined && typeof config.enabled !== 'boolean') {
      throw invalid(`User '${name}': enabled must be true or false.`, { user: name });
    }
    const groups = [...new Set(stringList(config.groups, `User '${name}': groups`))];
    for (const group of groups) this.#knownGroup(group, `User '${name}'`);
    const enabled = config.enabled ?? true;
    const existing = this.#users.get(name);
    if (existing !== undefined && existing.enabled === enabled && sameList(existing.groups, groups))
      return false;
    this.#users.set(name, { name, enabled, groups });
    return true;
  }

  /** Creates or replaces a group; an existing group keeps its place. Returns whether anything changed. */
  setGroup(config: GroupConfig): boolean {
    const existing = typeof config?.name === 'string' ? this.#groups.get(config.name) : undefined;
    const next = Directory.#groupFrom(config);
    if (
      existing !== undefined &&
      existing.priority === next.priority &&
      sameList([...existing.users], [...next.users]) &&
      sameList([...existing.hosts], [...next.hosts])
    ) {
      return false;
    }
    this.#groups.set(next.name, next);
    return true;
  }

  /** Removes a group and every user's own reference to it. */
  removeGroup(name: string): void {
    this.#knownGroup(name);
    this.#groups.delete(name);
    for (const user of this.#users.values()) {
      const index = user.groups.indexOf(name);
      if (index >= 0) user.groups.splice(index, 1);
    }
  }

  /** Puts the groups in the given order (every group named once): a holder's groups are read in it. */
  orderGroups(names: readonly string[]): void {
    const list = stringList(names, 'groups');
    if (list.length !== this.#groups.size || new Set(list).size !== list.length) {
      throw invalid('A group order must name every group once.');
    }
    const ordered = list.map((name) => this.#knownGroup(name));
    this.#groups.clear();
    for (const group of ordered) this.#groups.set(group.name, group);
  }

  /** Group names in directory order. */
  groupOrder(): string[] {
    return [...this.#groups.keys()];
  }

  /** The directory as plain data, in the shape it is built from (what a snapshot persists). */
  toConfig(): { users: Required<UserConfig>[]; groups: Required<GroupConfig>[] } {
    return {
      users: Array.from(this.#users.values(), (u) => ({
        name: u.name,
        enabled: u.enabled,
        groups: [...u.groups],
      })),
      groups: Array.from(this.#groups.values(), (g) => ({
        name: g.name,
        users: [...g.users],
        hosts: [...g.hosts],
        priority: g.priority,
      })),
    };
  }

  // ---- views ----------------------------------------------------------------------------------

  /** Groups the user is a member of by name (host memberships aside), in directory order. */
  groupNamesOf(user: string): string[] {
    return this.groupsOf(user, undefined).map((group) => group.name);
  }

  groupViews(): GroupView[] {
    const views: GroupView[] = [];
    for (const group of this.#groups.values()) {
      const users = new Set(group.users);
      for (const user of this.#users.values()) if (user.groups.includes(group.name)) users.add(user.name);
      views.push({ name: group.name, users: [...users], hosts: [...group.hosts], priority: group.priority });
    }
    return views;
  }

  // ---- internals ------------------------------------------------------------------------------

  #addGroup(config: GroupConfig): void {
    if (isName(config?.name) && this.#groups.has(config.name)) {
      throw invalid(`Group '${config.name}' is defined twice.`, { group: config.name });
    }
    const group = Directory.#groupFrom(config);
    this.#groups.set(group.name, group);
  }

  static #groupFrom(config: GroupConfig): DirectoryGroup {
    if (!isName(config?.name)) throw invalid('A group name must be a non-empty string.');
    const { name } = config;
    const priority = config.priority ?? 0;
    if (!Number.isSafeInteger(priority)) {
      throw invalid(`Group '${name}': priority must be an integer; got ${String(priority)}.`, {
        group: name,
      });
    }
    return {
      name,
      users: new Set(stringList(config.users, `Group '${name}': users`)),
      hosts: new Set(stringList(config.hosts, `Group '${name}': hosts`)),
      priority,
    };
  }

  #knownUser(name: string): DirectoryUser {
    const user = typeof name === 'string' ? this.#users.get(name) : undefined;
    if (user === undefined) throw invalid(`No user '${String(name)}' in the directory.`, { user: name });
    return user;
  }

  #knownGroup(name: string, where?: string): DirectoryGroup {
    const group = typeof name === 'string' ? this.#groups.get(name) : undefined;
    if (group === undefined) {
      const what = `group '${String(name)}' in the directory.`;
      throw invalid(where === undefined ? `No ${what}` : `${where}: no ${what}`, { group: name });
    }
    return group;
  }
}
