/** Issue 6: `sessions`, `free`, `blocks` and `unblock` against a real daemon, run in-process. */
import { describe, expect, it } from 'vitest';
import type { LeaseLostInfo } from '../../src/client/lease.js';
import { LeaseholdError } from '../../src/protocol/errors.js';
import { runCli } from '../helpers/cli.js';
import { connectAs, hold, json, startAdminDaemon, VIEWER_TOKEN } from './admin-fixture.js';

interface SessionJson {
  id: string;
  user: string;
  host: string;
  displayName?: string;
  email?: string;
  clientName: string;
  type: string;
  count: number;
  since: string;
  idleMs: number;
}

describe('leasehold sessions', () => {
  it('--json over --socket adds the directory name and e-mail of a holder', async () => {
    const d = await startAdminDaemon();
    const alice = await hold(d.address, 'alice');
    const bob = await hold(d.address, 'bob', 'ws-2');
    const r = await runCli('sessions', '--socket', d.socket, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const sessions = json<{ sessions: SessionJson[] }>(r.stdout).sessions;
    const byUser = new Map(sessions.map((s) => [s.user, s]));
    expect(byUser.get('alice')).toMatchObject({
      id: alice.id,
      host: 'ws-1',
      displayName: 'Alice Liddell',
      email: 'alice@example.com',
      clientName: 'cad-app',
      type: 'named',
      count: 1,
    });
    // The keys that were there before issue 6 are still there.
    expect(Object.keys(byUser.get('alice')!)).toEqual(
      expect.arrayContaining(['id', 'feature', 'user', 'host', 'clientName', 'type', 'shared', 'count']),
    );
    expect(byUser.get('alice')).toHaveProperty('lastHeartbeat');
    expect(byUser.get('bob')).toMatchObject({ id: bob.id, host: 'ws-2' });
    expect(byUser.get('bob')).not.toHaveProperty('displayName');
    expect(byUser.get('bob')).not.toHaveProperty('email');
  });

  it('shows NAME and EMAIL columns only when some holder has them', async () => {
    const d = await startAdminDaemon();
    await hold(d.address, 'bob');
    const without = await runCli('sessions', '--socket', d.socket);
    expect(without.code).toBe(0);
    expect(without.stdout).toMatch(/^FEATURE\s+TYPE\s+USER\s+HOST\s+PEER/);
    expect(without.stdout).not.toContain('EMAIL');
    await hold(d.address, 'alice');
    const withNames = await runCli('sessions', '--socket', d.socket);
    expect(withNames.stdout).toMatch(/^FEATURE\s+TYPE\s+USER\s+NAME\s+EMAIL\s+HOST/);
    expect(withNames.stdout).toMatch(/alice\s+Alice Liddell\s+alice@example\.com\s+ws-1/);
    expect(withNames.stdout).toMatch(/bob\s+-\s+-\s+ws-1/);
  });

  it('over --server without an admin token lists leases (open like lmstat) but not the directory details', async () => {
    // PROTOCOL.md §4 "Roles": `leases` is open to every client; display name and e-mail need a role.
    const d = await startAdminDaemon();
    const alice = await hold(d.address, 'alice');
    const r = await runCli('sessions', '--server', d.address, '--json');
    expect(r.code).toBe(0);
    const [s] = json<{ sessions: SessionJson[] }>(r.stdout).sessions;
    expect(s).toMatchObject({ id: alice.id, user: 'alice' });
    expect(s).not.toHaveProperty('displayName');
    expect(s).not.toHaveProperty('email');
  });

  it('a viewer admin token may list sessions with directory details, but not free (exit 77)', async () => {
    const d = await startAdminDaemon();
    const alice = await hold(d.address, 'alice');
    const r = await runCli('sessions', '--server', d.address, '--token', VIEWER_TOKEN, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(json<{ sessions: SessionJson[] }>(r.stdout).sessions[0]).toMatchObject({
      id: alice.id,
      displayName: 'Alice Liddell',
    });
    const free = await runCli('free', alice.id, '--yes', '--server', d.address, '--token', VIEWER_TOKEN);
    expect(free.code).toBe(77);
    expect(free.stderr).toContain('FORBIDDEN');
    expect(alice.valid).toBe(true);
    expect(d.daemon.engine.listLeases().map((l) => l.id)).toEqual([alice.id]);
  });
});

describe('leasehold free', () => {
  it('LEASE_ID --yes frees the lease; its holder hears it was lost (reason admin)', async () => {
    const d = await startAdminDaemon();
    const lease = await hold(d.address, 'bob', 'ws-7');
    const lost = new Promise<LeaseLostInfo>((resolve) => lease.once('lost', resolve));
    const r = await runCli('free', lease.id, '--yes', '--socket', d.socket);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`freed ${lease.id} feature cad, bob@ws-7, 1 seat\n`);
    expect((await lost).reason).toBe('admin');
    expect(lease.valid).toBe(false);
    expect(d.daemon.engine.listLeases()).toEqual([]);
  });

  it('without --yes (not a terminal) exits 64 and frees nothing', async () => {
    const d = await startAdminDaemon();
    const lease = await hold(d.address, 'bob');
    const r = await runCli('free', lease.id, '--socket', d.socket);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('this command needs --yes when not run on a terminal');
    expect(r.stdout).toBe('');
    expect(lease.valid).toBe(true);
    expect(d.daemon.engine.listLeases().map((l) => l.id)).toEqual([lease.id]);
  });

  it('--json prints the freed leases; an unknown lease ID frees nothing (exit 1)', async () => {
    const d = await startAdminDaemon();
    const lease = await hold(d.address, 'bob');
    const unknown = await runCli('free', lease.id, '0'.repeat(32), '--yes', '--socket', d.socket);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('LEASE_NOT_FOUND');
    expect(lease.valid).toBe(true);
    const r = await runCli('free', lease.id, '--yes', '--json', '--socket', d.socket);
    expect(r.code).toBe(0);
    expect(json(r.stdout)).toEqual({
      freed: [{ id: lease.id, feature: 'cad', user: 'bob', host: 'ws-1', count: 1 }],
      blocks: [],
    });
  });

  it('--user with nothing to free says so', async () => {
    const d = await startAdminDaemon();
    const r = await runCli('free', '--user', 'nobody', '--yes', '--socket', d.socket);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('nothing to free\n');
  });

  it('--user --feature --block-for frees and blocks; a checkout is BLOCKED until `unblock`', async () => {
    const d = await startAdminDaemon();
    const bob = await connectAs(d.address, 'bob', 'ws-2');
    const lease = await bob.checkout('cad');
    const r = await runCli(
      'free',
      '--user',
      'bob',
      '--feature',
      'cad',
      '--block-for',
      '10m',
      '--yes',
      '--json',
      '--socket',
      d.socket,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = json<{
      freed: unknown[];
      blocks: { id: string; user: string; until: string; remainingMs: number }[];
    }>(r.stdout);
    expect(doc.freed).toEqual([{ id: lease.id, feature: 'cad', user: 'bob', host: 'ws-2', count: 1 }]);
    expect(doc.blocks).toHaveLength(1);
    const block = doc.blocks[0]!;
    expect(block).toMatchObject({ user: 'bob', feature: 'cad' });
    expect(block).not.toHaveProperty('host');
    expect(block.remainingMs).toBeGreaterThan(9 * 60_000);
    expect(block.remainingMs).toBeLessThanOrEqual(10 * 60_000);
    const untilMs = Date.parse(block.until);
    expect(untilMs).toBeGreaterThan(Date.now() + 9 * 60_000);

    const denied = await bob.checkout('cad').catch((err: unknown) => err);
    expect(denied).toBeInstanceOf(LeaseholdError);
    expect((denied as LeaseholdError).code).toBe('BLOCKED');
    expect((denied as LeaseholdError).message).toContain(block.until);

    const listed = await runCli('blocks', '--json', '--socket', d.socket);
    expect(listed.code).toBe(0);
    expect(json<{ blocks: { id: string }[] }>(listed.stdout).blocks.map((b) => b.id)).toEqual([block.id]);
    const table = await runCli('blocks', '--socket', d.socket);
    expect(table.stdout).toMatch(/^BLOCK\s+USER\s+HOST\s+FEATURE\s+BY\s+UNTIL\s+LEFT/);
    expect(table.stdout).toContain(block.id);

    const lifted = await runCli('unblock', block.id, '--socket', d.socket);
    expect(lifted.stderr).toBe('');
    expect(lifted.code).toBe(0);
    expect(lifted.stdout).toBe(`lifted block ${block.id}\n`);
    const again = await bob.checkout('cad');
    expect(again.valid).toBe(true);
    expect((await runCli('blocks', '--socket', d.socket)).stdout).toBe('No blocks.\n');

    const gone = await runCli('unblock', block.id, '--socket', d.socket);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`no active block ${block.id}`);
  });

  it('prints one line per freed lease and per block', async () => {
    const d = await startAdminDaemon();
    const lease = await hold(d.address, 'bob', 'ws-3');
    const r = await runCli(
      'free',
      '--user',
      'bob',
      '--host',
      'ws-3',
      '--block-for',
      '1h',
      '--yes',
      '--socket',
      d.socket,
    );
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`freed ${lease.id} feature cad, bob@ws-3, 1 seat`);
    expect(lines[1]).toMatch(
      /^blocked bob on ws-3 from every feature until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(block (\S+)\); lift it with `leasehold unblock \1`$/,
    );
    expect(lines).toHaveLength(2);
  });

  it.each([
    ['lease IDs and --user', ['free', 'abc', '--user', 'bob', '--yes'], 'not both'],
    ['neither', ['free', '--yes'], 'say what to free'],
    ['--host with lease IDs', ['free', 'abc', '--host', 'ws-1', '--yes'], 'go with --user'],
    ['a bad --block-for', ['free', '--user', 'bob', '--block-for', '10 minutes', '--yes'], '--block-for'],
    ['a zero --block-for', ['free', '--user', 'bob', '--block-for', '0s', '--yes'], '--block-for'],
  ])('exits 64 on %s, without connecting', async (_name, args, message) => {
    const r = await runCli(...args, '--socket', '/nonexistent/leasehold.sock');
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(message);
  });
});
