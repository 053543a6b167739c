/**
 * The SDK's admin client (issue 6; PROTOCOL.md §6.10, §6.11): `client.admin` on a LeaseholdClient
 * connected with an admin role — over the local admin socket, or with an admin token. Views are
 * camelCase. Requests that change something are sent once: if the connection drops before the
 * reply, they fail with ConnectionLostError instead of being repeated (the first may have applied).
 */
import type {
  AdminBlocksOk,
  AdminFreeOk,
  AdminOk,
  AdminReloadOk,
  AdminShutdownOk,
  AdminUnblockOk,
  AdminUserAddOk,
  AdminUserRemoveOk,
  AdminUserSetOk,
  AdminUsersOk,
  BlockInfo,
  ReplyMessage,
  UserInfo,
} from '../protocol/messages.js';
import type { RequestBody } from './wire-connection.js';

type AdminRequestBody = RequestBody;
export type Caller = <R extends ReplyMessage>(body: RequestBody) => Promise<R>;

export interface BlockEntry {
  id: string;
  user: string;
  host?: string;
  feature?: string;
  by?: string;
  /** When the block ends (the server's clock), RFC 3339. */
  until: string;
  remainingMs: number;
}

export interface FreeResult {
  freed: { id: string; feature: string; user: string; host: string; count: number }[];
  blocks: BlockEntry[];
}

export interface UserEntry {
  name: string;
  displayName?: string;
  email?: string;
  enabled: boolean;
  groups: string[];
  /** Features on which the user has a named seat. */
  named: string[];
  /** Whether the user has a personal token. */
  token: boolean;
  /** With `listUsers({ feature })`: the seat type the user is given on that feature. */
  seat?: 'named' | 'concurrent' | 'none';
}

export interface NewUser {
  name: string;
  displayName?: string;
  email?: string;
  /** Default true. */
  enabled?: boolean;
  groups?: string[];
  /** Issue a personal token (returned once; the server keeps only its hash). */
  issueToken?: boolean;
}

export interface UserChanges {
  /** '' clears it. */
  displayName?: string;
  /** '' clears it. */
  email?: string;
  enabled?: boolean;
  /** Issue a new personal token (the old one stops working). */
  issueToken?: boolean;
  /** Remove the user's personal token. */
  revokeToken?: boolean;
}

export type FreeTarget = { leases: string[] } | { user: string; host?: string; feature?: string };

function toBlockEntry(b: BlockInfo): BlockEntry {
  const out: BlockEntry = { id: b.block, user: b.user, until: b.until, remainingMs: b.remaining_ms };
  if (b.host !== undefined) out.host = b.host;
  if (b.feature !== undefined) out.feature = b.feature;
  if (b.by !== undefined) out.by = b.by;
  return out;
}

function toUserEntry(u: UserInfo): UserEntry {
  const out: UserEntry = {
    name: u.name,
    enabled: u.enabled,
    groups: u.groups,
    named: u.named,
    token: u.token,
  };
  if (u.display_name !== undefined) out.displayName = u.display_name;
  if (u.email !== undefined) out.email = u.email;
  if (u.seat !== undefined) out.seat = u.seat;
  return out;
}

function defined<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export class AdminApi {
  constructor(
    /** Read-only requests: retried across a reconnect, like every SDK read. */
    private readonly read: Caller,
    /** Changes: sent once. */
    private readonly change: Caller,
  ) {}

  /** Rereads the daemon's config file (lmreread); every lease is kept. Role admin. */
  async reload(): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
    const r = await this.change<AdminReloadOk>({ type: 'admin_reload' });
    return { added: r.added, removed: r.removed, changed: r.changed };
  }

  /** Asks the daemon to drain and stop (lmdown). Role admin. */
  async shutdown(): Promise<void> {
    await this.change<AdminShutdownOk>({ type: 'admin_shutdown' });
  }

  /**
   * Frees leases (lmremove): by id, or every lease of a user (optionally on one host, of one
   * feature). The holders' SDKs are told (reason `admin`). With `blockMs` the user (and host) may
   * not check the feature out again until the block ends. Role manager.
   */
  async free(target: FreeTarget, options: { blockMs?: number } = {}): Promise<FreeResult> {
    const body =
      'leases' in target
        ? { type: 'admin_free' as const, leases: target.leases }
        : {
            type: 'admin_free' as const,
            ...defined({ user: target.user, host: target.host, feature: target.feature }),
          };
    const r = await this.change<AdminFreeOk>({
      ...body,
      ...(options.blockMs === undefined ? {} : { block_ms: options.blockMs }),
    } as AdminRequestBody);
    return {
      freed: r.freed.map((f) => ({
        id: f.lease,
        feature: f.feature,
        user: f.user,
        host: f.host,
        count: f.count,
      })),
      blocks: r.blocks.map(toBlockEntry),
    };
  }

  /** Active blocks, soonest end first. Role viewer. */
  async blocks(): Promise<BlockEntry[]> {
    const r = await this.read<AdminBlocksOk>({ type: 'admin_blocks' });
    return r.blocks.map(toBlockEntry);
  }

  /** Lifts a block; false when there was none with that id (or it had ended). Role manager. */
  async unblock(id: string): Promise<boolean> {
    const r = await this.change<AdminUnblockOk>({ type: 'admin_unblock', block: id });
    return r.removed;
  }

  /** The user directory; with a feature, each user's seat type on it, optionally only one type. Role viewer. */
  async listUsers(filter: { feature?: string; type?: 'named' | 'concurrent' } = {}): Promise<UserEntry[]> {
    const r = await this.read<AdminUsersOk>({
      type: 'admin_users',
      ...(filter.feature === undefined ? {} : { feature: filter.feature }),
      ...(filter.type === undefined ? {} : { seat_type: filter.type }),
    });
    return r.users.map(toUserEntry);
  }

  /** Adds a user; resolves with the personal token when one was asked for. Role manager. */
  async addUser(user: NewUser): Promise<{ token?: string }> {
    const r = await this.change<AdminUserAddOk>({
      type: 'admin_user_add',
      user: user.name,
      ...defined({
        display_name: user.displayName,
        email: user.email,
        enabled: user.enabled,
        groups: user.groups,
        issue_token: user.issueToken,
      }),
    });
    return r.token === undefined ? {} : { token: r.token };
  }

  /** Changes a user; resolves with the new personal token when one was asked for. Role manager. */
  async setUser(name: string, changes: UserChanges): Promise<{ token?: string }> {
    const r = await this.change<AdminUserSetOk>({
      type: 'admin_user_set',
      user: name,
      ...defined({
        display_name: changes.displayName,
        email: changes.email,
        enabled: changes.enabled,
        issue_token: changes.issueToken,
        revoke_token: changes.revokeToken,
      }),
    });
    return r.token === undefined ? {} : { token: r.token };
  }

  /**
   * Removes a user: their named seats go; their leases continue until they end, or are freed at
   * once with `free: true`. Resolves with the number of leases freed. Role manager.
   */
  async removeUser(name: string, options: { free?: boolean } = {}): Promise<number> {
    const r = await this.change<AdminUserRemoveOk>({
      type: 'admin_user_remove',
      user: name,
      ...(options.free ? { free: true } : {}),
    });
    return r.freed;
  }

  /** Gives the user a named seat of the feature. Role manager. */
  async assign(user: string, feature: string): Promise<void> {
    await this.change<AdminOk>({ type: 'admin_user_assign', user, feature });
  }

  async unassign(user: string, feature: string): Promise<void> {
    await this.change<AdminOk>({ type: 'admin_user_unassign', user, feature });
  }

  /** Makes the user a member of the group. Role manager. */
  async joinGroup(user: string, group: string): Promise<void> {
    await this.change<AdminOk>({ type: 'admin_user_join', user, group });
  }

  async leaveGroup(user: string, group: string): Promise<void> {
    await this.change<AdminOk>({ type: 'admin_user_leave', user, group });
  }
}
