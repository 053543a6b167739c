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
  display: string | undefined;
  email: string | undefined;
  /** sha256 of the personal token, lowercase hex. Changed only through the Directory (it is indexed). */
  readonly tokenHash: string | undefined;
}

/** A user as plain data, in the shape a snapshot persists (optional fields only when set). */
export interface UserRecord {
  readonly name: string;
  readonly enabled: boolean;
  readonly groups: readonly string[];
  readonly display?: string;
  readonly email?: string;
  readonly tokenHash?: string;
}

/** A change to some of a user's fields (directory-ops.ts `userUpdated`); `null` clears a text field. */
export interface UserFieldChange {
  readonly enabled?: boolean;
  readonly groups?: readonly string[];
  readonly display?: string | null;
  readonly email?: string | null;
}

const TOKEN_HASH = /^[0-9a-f]{64}$/;

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

/** A display name or email: absent, or a non-empty string. */
function optionalText(value: unknown, field: string, user: string): string | undefined {
  if (value === undefined) return undefined;
  if (!isName(value)) {
    throw invalid(`User '${user}': ${field}, when given, must be a non-empty string.`, { user, field });
  }
  return value;
}

function checkTokenHash(value: unknown, user: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !TOKEN_HASH.test(value)) {
    throw invalid(`User '${user}': a token hash must be 64 lowercase hex characters (sha256).`, {
      user,
      field: 'tokenHash',
    });
  }
  return value;
}

function checkEnabled(value: unknown, user: string): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') {
    throw invalid(`User '${user}': enabled must be true or false.`, { user });
  }
  return value;
}

export class Directory {
  readonly #users = new Map<string, DirectoryUser>();
  /** In directory order. */
  readonly #groups = new Map<string, DirectoryGroup>();
  /** User by personal-token hash: O(1) for token authentication; kept in step with #users. */
  readonly #byToken = new Map<string, string>();

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
    for (const user of this.#users.values())
      copy.#users.set(user.name, { ...user, groups: [...user.groups] });
    for (const [hash, user] of this.#byToken) copy.#byToken.set(hash, user);
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

  /** How many users have a personal token. */
  get tokenCount(): number {
    return this.#byToken.size;
  }

  /** The user whose personal-token hash this is, if any. */
  userByTokenHash(hash: string): string | undefined {
    return typeof hash === 'string' ? this.#byToken.get(hash) : undefined;
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
    const user = this.#userFrom(config, undefined);
    this.#checkTokenFree(user.tokenHash, name);
    this.#users.set(name, user);
    if (user.tokenHash !== undefined) this.#byToken.set(user.tokenHash, name);
  }

  /** Removes the user and every explicit membership of it. */
  removeUser(name: string): void {
    const user = this.#knownUser(name);
    this.#users.delete(name);
    if (user.tokenHash !== undefined) this.#byToken.delete(user.tokenHash);
    for (const group of this.#groups.values()) group.users.delete(name);
  }

  /**
   * Changes the fields given (a `null` display or email clears it); the others stay. Returns whether
   * anything changed.
   */
  updateUser(name: string, change: UserFieldChange): boolean {
    const user = this.#knownUser(name);
    if (change === null || typeof change !== 'object') throw invalid('A user change must be a table.');
    const enabled = checkEnabled(change.enabled, name);
    let groups: string[] | undefined;
    if (change.groups !== undefined) {
      groups = [...new Set(stringList(change.groups, `User '${name}': groups`))];
      for (const group of groups) this.#knownGroup(group, `User '${name}'`);
    }
    const display = change.display === null ? null : optionalText(change.display, 'display', name);
    const email = change.email === null ? null : optionalText(change.email, 'email', name);
    let changed = false;
    if (enabled !== undefined && enabled !== user.enabled) {
      user.enabled = enabled;
      changed = true;
    }
    if (groups !== undefined && !sameList(groups, user.groups)) {
      user.groups.splice(0, user.groups.length, ...groups);
      changed = true;
    }
    if (display !== undefined && (display ?? undefined) !== user.display) {
      user.display = display ?? undefined;
      changed = true;
    }
    if (email !== undefined && (email ?? undefined) !== user.email) {
      user.email = email ?? undefined;
      changed = true;
    }
    return changed;
  }

  /** Sets or (undefined) clears the user's personal-token hash. Returns whether anything changed. */
  setTokenHash(name: string, tokenHash: string | undefined): boolean {
    const user = this.#knownUser(name);
    const hash = checkTokenHash(tokenHash, name);
    if (hash === user.tokenHash) return false;
    this.#checkTokenFree(hash, name);
    if (user.tokenHash !== undefined) this.#byToken.delete(user.tokenHash);
    if (hash !== undefined) this.#byToken.set(hash, name);
    this.#users.set(name, { ...user, tokenHash: hash });
    return true;
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
   * Creates or replaces a user: its enabled flag, its own group list, display name and email (absent
   * = none). The token hash is set when given; when not, an existing user keeps theirs (a config
   * that does not mention a token does not revoke one). An existing user keeps its place in the
   * directory. Returns whether anything changed.
   */
  setUser(config: UserConfig): boolean {
    if (!isName(config?.name)) throw invalid('A user name must be a non-empty string.');
    const { name } = config;
    const existing = this.#users.get(name);
    const user = this.#userFrom(config, existing?.tokenHash);
    if (
      existing !== undefined &&
      existing.enabled === user.enabled &&
      sameList(existing.groups, user.groups) &&
      existing.display === user.display &&
      existing.email === user.email &&
      existing.tokenHash === user.tokenHash
    ) {
      return false;
    }
    if (user.tokenHash !== existing?.tokenHash) {
      this.#checkTokenFree(user.tokenHash, name);
      if (existing?.tokenHash !== undefined) this.#byToken.delete(existing.tokenHash);
      if (user.tokenHash !== undefined) this.#byToken.set(user.tokenHash, name);
    }
    this.#users.set(name, user);
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
  toConfig(): { users: UserRecord[]; groups: Required<GroupConfig>[] } {
    return {
      users: Array.from(this.#users.values(), toUserRecord),
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

  /** A validated user record from a config; `keptToken` when the config names no token. */
  #userFrom(config: UserConfig, keptToken: string | undefined): DirectoryUser {
    const { name } = config;
    const enabled = checkEnabled(config.enabled, name) ?? true;
    const groups = [...new Set(stringList(config.groups, `User '${name}': groups`))];
    for (const group of groups) this.#knownGroup(group, `User '${name}'`);
    return {
      name,
      enabled,
      groups,
      display: optionalText(config.display, 'display', name),
      email: optionalText(config.email, 'email', name),
      tokenHash: checkTokenHash(config.tokenHash, name) ?? keptToken,
    };
  }

  /** Two users may not share a personal-token hash (it would let one log in as the other). */
  #checkTokenFree(hash: string | undefined, name: string): void {
    if (hash === undefined) return;
    const owner = this.#byToken.get(hash);
    if (owner !== undefined && owner !== name) {
      throw invalid(
        `User '${name}': that token hash belongs to user '${owner}'; every user needs a token of their own.`,
        {
          user: name,
          field: 'tokenHash',
        },
      );
    }
  }

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

export function toUserRecord(user: DirectoryUser): UserRecord {
  const record: { -readonly [K in keyof UserRecord]: UserRecord[K] } = {
    name: user.name,
    enabled: user.enabled,
    groups: [...user.groups],
  };
  if (user.display !== undefined) record.display = user.display;
  if (user.email !== undefined) record.email = user.email;
  if (user.tokenHash !== undefined) record.tokenHash = user.tokenHash;
  return record;
}
