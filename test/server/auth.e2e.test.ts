/**
 * Issue 6 end to end: authentication (client tokens, personal tokens, admin tokens, rate limiting),
 * roles on every admin request, and free with a block, over real 127.0.0.1 sockets and the admin
 * socket of a real in-process daemon.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AdminApi } from '../../src/client/admin.js';
import { LeaseholdClient } from '../../src/client/client.js';
import type { LeaseLostInfo } from '../../src/client/lease.js';
import { LeaseholdError } from '../../src/protocol/errors.js';
import { onCleanup } from '../helpers/cleanup.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { RawPeer } from '../helpers/raw-peer.js';

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const MANAGER_TOKEN = 'manager-token-0123456789abcdef';
const VIEWER_TOKEN = 'viewer-token-0123456789abcdef';
const CLIENT_TOKEN = 'client-token-0123456789abcdef';

const ADMINS = `
[admins.boss]
token = "${ADMIN_TOKEN}"
role = "admin"

[admins.mgr]
token = "${MANAGER_TOKEN}"
role = "manager"

[admins.view]
token = "${VIEWER_TOKEN}"
role = "viewer"
`;

async function client(
  td: TestDaemon,
  options: { token?: string; user?: string; socket?: boolean } = {},
): Promise<LeaseholdClient> {
  const c = await LeaseholdClient.connect({
    servers: [td.address],
    ...(options.socket ? { socket: join(td.stateDir, 'leasehold.sock') } : {}),
    ...(options.token === undefined ? {} : { token: options.token }),
    user: options.user ?? 'alice',
    host: 'ws-1',
    clientName: 'auth-test',
    requestTimeoutMs: 3000,
  });
  onCleanup(() => c.close());
  return c;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof LeaseholdError) return err.code;
    throw err;
  }
}

/** Each admin operation, run so that an allowed call cannot fail for another reason than its role. */
const OPERATIONS: Array<
  [string, 'viewer' | 'manager' | 'admin', (a: AdminApi, n: number) => Promise<unknown>]
> = [
  ['users list', 'viewer', (a) => a.listUsers()],
  ['blocks', 'viewer', (a) => a.blocks()],
  ['free --user', 'manager', (a) => a.free({ user: 'nobody' })],
  ['unblock', 'manager', (a) => a.unblock('0'.repeat(32))],
  ['users add', 'manager', (a, n) => a.addUser({ name: `u${n}` })],
  ['users set', 'manager', (a) => a.setUser('carol', { email: 'carol@example.com' })],
  ['users assign', 'manager', (a) => a.assign('carol', 'cad')],
  ['users unassign', 'manager', (a) => a.unassign('carol', 'cad')],
  ['users join', 'manager', (a) => a.joinGroup('carol', 'design')],
  ['users leave', 'manager', (a) => a.leaveGroup('carol', 'design')],
  ['users remove', 'manager', (a, n) => a.addUser({ name: `r${n}` }).then(() => a.removeUser(`r${n}`))],
];

describe('roles', () => {
  const RANK = { none: 0, viewer: 1, manager: 2, admin: 3 } as const;
  const WHO: Array<[keyof typeof RANK, { token?: string; socket?: boolean }]> = [
    ['none', {}],
    ['viewer', { token: VIEWER_TOKEN }],
    ['manager', { token: MANAGER_TOKEN }],
    ['admin', { token: ADMIN_TOKEN }],
    ['admin', { socket: true }],
  ];

  it('allows or refuses every admin operation by role (FORBIDDEN below the role)', async () => {
    const td = await startTestDaemon({
      features: `[features.cad]\nseats = 2\nmodel = "mixed"\n\n[users.carol]\n[users.alice]\n\n[groups.design]\n${ADMINS}`,
    });
    let n = 0;
    for (const [role, how] of WHO) {
      const c = await client(td, how);
      expect(c.role).toBe(role === 'none' ? undefined : role);
      for (const [name, needs, run] of OPERATIONS) {
        const code = await codeOf(run(c.admin, n++));
        const allowed = RANK[role] >= RANK[needs];
        expect(`${role}${how.socket ? '(socket)' : ''} ${name}: ${code}`).toBe(
          `${role}${how.socket ? '(socket)' : ''} ${name}: ${allowed ? 'ok' : 'FORBIDDEN'}`,
        );
      }
      // reload needs admin; this daemon has no config file, so an admin gets CONFIG_INVALID instead.
      expect(await codeOf(c.admin.reload())).toBe(RANK[role] >= RANK.admin ? 'CONFIG_INVALID' : 'FORBIDDEN');
      if (role !== 'admin') expect(await codeOf(c.admin.shutdown())).toBe('FORBIDDEN');
      // status, queue and sessions stay open to every authenticated client.
      expect(await codeOf(c.status())).toBe('ok');
      expect(await codeOf(c.queue())).toBe('ok');
      expect(await codeOf(c.listLeases())).toBe('ok');
    }
    // Every admin action is in the log with who did it.
    const line = td.logs.find(
      (l) => l.msg === 'admin action' && l.action === 'user add' && l.admin === 'mgr',
    );
    expect(line).toMatchObject({ role: 'manager', via: 'admin-token' });
  });

  it('shows the directory display name and e-mail to admins only', async () => {
    const td = await startTestDaemon({
      features: `[features.cad]\nseats = 2\n\n[users.alice]\ndisplay_name = "Alice Liddell"\nemail = "alice@example.com"\n${ADMINS}`,
    });
    const holder = await client(td);
    await holder.checkout('cad');
    const plain = (await holder.listLeases())[0]!;
    expect(plain.email).toBeUndefined();
    expect(plain.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    const viewer = await client(td, { token: VIEWER_TOKEN });
    expect((await viewer.listLeases())[0]).toMatchObject({
      user: 'alice',
      displayName: 'Alice Liddell',
      email: 'alice@example.com',
    });
  });
});

describe('authentication', () => {
  it('refuses a missing or wrong client token, accepts the right one', async () => {
    const td = await startTestDaemon({
      features: `[features.cad]\nseats = 1\n\n[auth]\ntokens = ["${CLIENT_TOKEN}"]\n`,
    });
    expect(await codeOf(client(td))).toBe('AUTH_FAILED');
    expect(await codeOf(client(td, { token: 'wrong-token-0123456789abcdef' }))).toBe('AUTH_FAILED');
    const c = await client(td, { token: CLIENT_TOKEN });
    expect(c.role).toBeUndefined();
    expect((await c.checkout('cad')).valid).toBe(true);
    const failures = td.logs.filter((l) => l.msg === 'authentication failed');
    expect(failures.map((l) => l.reason)).toEqual(['no token', 'wrong token']);
    expect(failures[0]).toMatchObject({ address: '127.0.0.1' });
  });

  it('discloses nothing before authentication: not the version, not the supported versions', async () => {
    const td = await startTestDaemon({
      features: `[features.cad]\nseats = 1\n\n[auth]\ntokens = ["${CLIENT_TOKEN}"]\n`,
    });
    const peer = await RawPeer.connect(td.address);
    peer.send({
      type: 'hello',
      id: 1,
      versions: [99],
      client_name: 'probe',
      user: 'x',
      host: 'y',
      token: 'wrong-token-0123456789abcdef',
    });
    const reply = await peer.reply(1);
    expect(reply).toEqual({ type: 'error', id: 1, code: 'AUTH_FAILED', message: 'Authentication failed.' });
    await peer.closed;
  });

  it('rate limits failed attempts per address, then refuses even the right token for the window', async () => {
    const td = await startTestDaemon({
      features: `[features.cad]\nseats = 1\n\n[auth]\ntokens = ["${CLIENT_TOKEN}"]\nmax_failures = 3\nfailure_window = "1m"\n`,
    });
    for (let i = 0; i < 3; i++) {
      expect(await codeOf(client(td, { token: `wrong-token-${i}-0123456789abcdef` }))).toBe('AUTH_FAILED');
    }
    let err: unknown;
    try {
      await client(td, { token: CLIENT_TOKEN });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LeaseholdError);
    expect((err as LeaseholdError).message).toMatch(/too many failed attempts/);
    expect(td.logs.some((l) => String(l.msg).includes('too many failures'))).toBe(true);
    // The admin socket is not rate limited: it is a different credential.
    expect((await client(td, { socket: true })).role).toBe('admin');
  });

  it('identity mode "token": the personal token is the identity, whatever the hello claims', async () => {
    const td = await startTestDaemon({
      features: `[features.cad]\nseats = 2\nmodel = "mixed"\n\n[users.carol]\n\n[auth]\nidentity = "token"\n`,
    });
    const admin = await client(td, { socket: true });
    const { token } = await admin.admin.addUser({ name: 'eve', issueToken: true });
    expect(token).toMatch(/^lh_[A-Za-z0-9_-]{43}$/);
    await admin.admin.assign('eve', 'cad');
    expect((await admin.admin.listUsers()).find((u) => u.name === 'eve')).toMatchObject({
      token: true,
      named: ['cad'],
    });
    // Without a token: refused; with eve's token but claiming to be carol: the lease is eve's.
    expect(await codeOf(client(td, { user: 'eve' }))).toBe('AUTH_FAILED');
    const eve = await client(td, { token: token!, user: 'carol' });
    expect(eve.identity).toBe('eve');
    await eve.checkout('cad');
    expect((await admin.listLeases()).map((l) => [l.user, l.type])).toEqual([['eve', 'named']]);
    // A new token replaces the old one.
    const { token: second } = await admin.admin.setUser('eve', { issueToken: true });
    expect(second).not.toBe(token);
    expect(await codeOf(client(td, { token: token! }))).toBe('AUTH_FAILED');
    expect((await client(td, { token: second! })).identity).toBe('eve');
    // The daemon never logged a token.
    expect(JSON.stringify(td.logs)).not.toContain(second!);
  });
});

describe('free and block', () => {
  it("frees a user's leases (lost with reason admin) and blocks them until the block ends", async () => {
    const td = await startTestDaemon({ features: '[features.cad]\nseats = 2\n', leaseTtl: '2s' });
    const bob = await client(td, { user: 'bob' });
    const lease = await bob.checkout('cad');
    const lost = new Promise<LeaseLostInfo>((resolve) => lease.on('lost', resolve));
    const admin = await client(td, { socket: true });
    const result = await admin.admin.free({ user: 'bob', feature: 'cad' }, { blockMs: 400 });
    expect(result.freed.map((f) => f.id)).toEqual([lease.id]);
    expect(result.blocks).toHaveLength(1);
    expect(result.blocks[0]).toMatchObject({ user: 'bob', feature: 'cad', by: 'admin-socket' });
    expect((await lost).reason).toBe('admin');
    // The removal sticks: bob cannot take the seat straight back.
    let denial: unknown;
    try {
      await bob.checkout('cad');
    } catch (err) {
      denial = err;
    }
    expect(denial).toBeInstanceOf(LeaseholdError);
    expect((denial as LeaseholdError).code).toBe('BLOCKED');
    expect((denial as LeaseholdError).message).toContain(result.blocks[0]!.until);
    // Others are not blocked.
    const carol = await client(td, { user: 'carol' });
    expect((await carol.checkout('cad')).valid).toBe(true);
    // After the block: bob gets a seat again.
    await new Promise((r) => setTimeout(r, result.blocks[0]!.remainingMs + 50));
    expect((await bob.checkout('cad')).valid).toBe(true);
    expect(await admin.admin.blocks()).toEqual([]);
  });

  it('frees leases by id; an unknown id frees nothing', async () => {
    const td = await startTestDaemon({ features: '[features.cad]\nseats = 2\n' });
    const a = await client(td, { user: 'a' });
    const l1 = await a.checkout('cad');
    const l2 = await a.checkout('cad');
    const admin = await client(td, { socket: true });
    expect(await codeOf(admin.admin.free({ leases: [l1.id, 'f'.repeat(32)] }))).toBe('LEASE_NOT_FOUND');
    expect((await admin.listLeases()).length).toBe(2);
    const r = await admin.admin.free({ leases: [l1.id] });
    expect(r.freed.map((f) => f.id)).toEqual([l1.id]);
    expect((await admin.listLeases()).map((l) => l.id)).toEqual([l2.id]);
  });
});

describe('provisioning', () => {
  it('adds, caps, assigns and removes users, all visible in the user list', async () => {
    const td = await startTestDaemon({
      features:
        '[features.cad]\nseats = 2\nmodel = "mixed"\nopen = false\nmax_users = 2\n\n[users.alice]\n[users.bob]\nenabled = false\n',
    });
    const admin = await client(td, { socket: true });
    await admin.admin.addUser({
      name: 'carol',
      enabled: false,
      displayName: 'Carol',
      email: 'carol@example.com',
    });
    // alice is enabled; enabling bob reaches the cap of 2; carol would exceed it.
    await admin.admin.setUser('bob', { enabled: true });
    expect(await codeOf(admin.admin.setUser('carol', { enabled: true }))).toBe('USER_CAP');
    await admin.admin.assign('alice', 'cad');
    const named = await admin.admin.listUsers({ feature: 'cad', type: 'named' });
    expect(named.map((u) => u.name)).toEqual(['alice']);
    const concurrent = await admin.admin.listUsers({ feature: 'cad', type: 'concurrent' });
    expect(concurrent.map((u) => u.name)).toEqual(['bob']);
    // Removing a user who holds a lease: the lease runs on unless `free` is asked for.
    const bob = await client(td, { user: 'bob' });
    const lease = await bob.checkout('cad');
    expect(await admin.admin.removeUser('bob')).toBe(0);
    expect(lease.valid).toBe(true);
    expect((await admin.listLeases()).map((l) => l.user)).toEqual(['bob']);
    expect(await codeOf(bob.checkout('cad'))).toBe('USER_NOT_ENABLED');
    await admin.admin.addUser({ name: 'bob' });
    expect(await admin.admin.removeUser('bob', { free: true })).toBe(1);
    expect(await admin.listLeases()).toEqual([]);
    const users = await admin.admin.listUsers();
    expect(users.map((u) => [u.name, u.enabled, u.named])).toEqual([
      ['alice', true, ['cad']],
      ['carol', false, []],
    ]);
    expect(users[1]).toMatchObject({ displayName: 'Carol', email: 'carol@example.com', token: false });
  });
});
