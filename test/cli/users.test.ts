/** Issue 6: `leasehold users ...` against a real daemon over its admin socket, run in-process. */
import { describe, expect, it } from 'vitest';
import type { UserEntry } from '../../src/client/admin.js';
import { runCli } from '../helpers/cli.js';
import { hold, json, startAdminDaemon } from './admin-fixture.js';

async function listUsers(socket: string, ...filter: string[]): Promise<UserEntry[]> {
  const r = await runCli('users', 'list', '--json', '--socket', socket, ...filter);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return json<{ users: UserEntry[] }>(r.stdout).users;
}

async function user(socket: string, name: string): Promise<UserEntry | undefined> {
  return (await listUsers(socket)).find((u) => u.name === name);
}

async function ok(...args: string[]): Promise<string> {
  const r = await runCli(...args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

describe('leasehold users', () => {
  it('add, set, disable, enable, assign, unassign, leave, join and remove round-trip through `users list --json`', async () => {
    const { socket } = await startAdminDaemon();
    const s = ['--socket', socket];

    const added = json<{ user: string; token: string }>(
      await ok(
        'users',
        'add',
        'eve',
        '--display-name',
        'Eve Example',
        '--email',
        'eve@example.com',
        '--group',
        'eng',
        '--issue-token',
        '--json',
        ...s,
      ),
    );
    expect(added.user).toBe('eve');
    expect(added.token).toEqual(expect.any(String));
    expect(added.token.length).toBeGreaterThanOrEqual(16);
    expect(await user(socket, 'eve')).toEqual({
      name: 'eve',
      displayName: 'Eve Example',
      email: 'eve@example.com',
      enabled: true,
      groups: ['eng'],
      named: [],
      token: true,
    });

    expect(await ok('users', 'disable', 'eve', '--yes', ...s)).toBe('disabled user eve\n');
    expect((await user(socket, 'eve'))?.enabled).toBe(false);
    expect(await ok('users', 'enable', 'eve', ...s)).toBe('enabled user eve\n');
    expect((await user(socket, 'eve'))?.enabled).toBe(true);

    await ok('users', 'assign', 'eve', 'cad', ...s);
    expect((await user(socket, 'eve'))?.named).toEqual(['cad']);
    await ok('users', 'unassign', 'eve', 'cad', '--yes', ...s);
    expect((await user(socket, 'eve'))?.named).toEqual([]);

    await ok('users', 'leave', 'eve', 'eng', ...s);
    expect((await user(socket, 'eve'))?.groups).toEqual([]);
    await ok('users', 'join', 'eve', 'eng', ...s);
    expect((await user(socket, 'eve'))?.groups).toEqual(['eng']);

    await ok('users', 'set', 'eve', '--display-name', '', '--revoke-token', ...s);
    const changed = await user(socket, 'eve');
    expect(changed).not.toHaveProperty('displayName');
    expect(changed).toMatchObject({ email: 'eve@example.com', token: false });

    const reissued = json<{ user: string; token?: string }>(
      await ok('users', 'set', 'eve', '--issue-token', '--json', ...s),
    );
    expect(reissued.token).toEqual(expect.any(String));
    expect((await user(socket, 'eve'))?.token).toBe(true);

    expect(await ok('users', 'remove', 'eve', '--yes', ...s)).toBe('removed user eve\n');
    expect(await user(socket, 'eve')).toBeUndefined();
  });

  it('add --issue-token prints the token once on stdout', async () => {
    const { socket } = await startAdminDaemon();
    const out = await ok('users', 'add', 'carol', '--disabled', '--issue-token', '--socket', socket);
    expect(out).toMatch(
      /^added user carol \(disabled\)\ntoken for carol \(shown once, store it now\): \S{16,}\n$/,
    );
    expect(await user(socket, 'carol')).toMatchObject({ enabled: false, token: true });
  });

  it('list --feature cad --type named lists exactly the named users', async () => {
    const { socket } = await startAdminDaemon();
    await ok('users', 'add', 'dave', '--socket', socket);
    await ok('users', 'assign', 'dave', 'cad', '--socket', socket);
    const named = await listUsers(socket, '--feature', 'cad', '--type', 'named');
    expect(named.map((u) => u.name).sort()).toEqual(['alice', 'dave']);
    expect(named.every((u) => u.seat === 'named')).toBe(true);
    const concurrent = await listUsers(socket, '--feature', 'cad', '--type', 'concurrent');
    expect(concurrent.map((u) => u.name)).toEqual(['bob']);
    expect((await listUsers(socket, '--feature', 'cad')).map((u) => [u.name, u.seat]).sort()).toEqual([
      ['alice', 'named'],
      ['bob', 'concurrent'],
      ['dave', 'named'],
    ]);
  });

  it('prints a table, with SEAT when --feature is given', async () => {
    const { socket } = await startAdminDaemon();
    const plain = await ok('users', 'list', '--socket', socket);
    expect(plain).toMatch(/^USER\s+NAME\s+EMAIL\s+ENABLED\s+GROUPS\s+NAMED\s+TOKEN\n/);
    expect(plain).toMatch(/alice\s+Alice Liddell\s+alice@example\.com\s+yes\s+eng\s+cad\s+no\n/);
    expect(plain).toMatch(/bob\s+-\s+-\s+yes\s+-\s+-\s+no\n/);
    const withSeat = await ok('users', 'list', '--feature', 'cad', '--socket', socket);
    expect(withSeat).toMatch(/^USER\s+NAME\s+EMAIL\s+ENABLED\s+GROUPS\s+NAMED\s+TOKEN\s+SEAT\n/);
    expect(withSeat).toMatch(/alice\s.*\snamed\n/);
  });

  it('list --type without --feature exits 64', async () => {
    const r = await runCli('users', 'list', '--type', 'named', '--socket', '/nonexistent/leasehold.sock');
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('--type needs --feature');
  });

  it('remove --free frees the removed user’s leases too', async () => {
    const d = await startAdminDaemon();
    const lease = await hold(d.address, 'bob');
    const out = await ok('users', 'remove', 'bob', '--free', '--yes', '--socket', d.socket);
    expect(out).toBe('removed user bob; freed 1 lease\n');
    expect(d.daemon.engine.listLeases()).toEqual([]);
    await new Promise<void>((resolve) => (lease.valid ? lease.once('lost', () => resolve()) : resolve()));
    expect(lease.valid).toBe(false);
  });

  it('a change to an unknown user fails with the server’s message (exit 1)', async () => {
    const { socket } = await startAdminDaemon();
    const r = await runCli('users', 'set', 'nobody', '--email', 'x@example.com', '--socket', socket);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^leasehold: INVALID_REQUEST: /);
  });

  it.each([
    [['users', 'set', 'bob'], 'nothing to change'],
    [['users', 'set', 'bob', '--issue-token', '--revoke-token'], 'not both'],
  ])('%j exits 64', async (args, message) => {
    const r = await runCli(...args, '--socket', '/nonexistent/leasehold.sock');
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(message);
  });
});
