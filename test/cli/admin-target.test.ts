/**
 * Issue 6: where the admin commands connect (--socket, else --server with an admin token, else the
 * config file's admin socket), the --yes rule of the destructive commands, and their help.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { confirmed } from '../../src/cli/admin-target.js';
import { runCli } from '../helpers/cli.js';
import { type AdminFixture, hold, json, startAdminDaemon } from './admin-fixture.js';

const DEAD_SOCKET = '/nonexistent/leasehold.sock';

afterEach(() => {
  vi.unstubAllEnvs();
});

/** A config file for the fixture's daemon: its state_dir, so its default admin socket. */
function configFileFor(d: AdminFixture): string {
  const file = join(mkdtempSync(join(tmpdir(), 'leasehold-cli-')), 'leasehold.toml');
  writeFileSync(file, `[server]\nstate_dir = ${JSON.stringify(d.stateDir)}\n[features.cad]\nseats = 1\n`);
  return file;
}

describe('the admin target', () => {
  it('without --socket or --server, uses the admin socket named by --config', async () => {
    const d = await startAdminDaemon();
    const lease = await hold(d.address, 'alice');
    const r = await runCli('sessions', '--json', '--config', configFileFor(d));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(json<{ sessions: { id: string; displayName?: string }[] }>(r.stdout).sessions).toEqual([
      expect.objectContaining({ id: lease.id, displayName: 'Alice Liddell' }),
    ]);
  });

  it('...or by LEASEHOLD_CONFIG', async () => {
    const d = await startAdminDaemon();
    vi.stubEnv('LEASEHOLD_CONFIG', configFileFor(d));
    const r = await runCli('blocks');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('No blocks.\n');
  });

  it('exits 64 saying what to give when the config file cannot be read', async () => {
    const r = await runCli('users', 'list', '--config', '/nonexistent/leasehold.toml');
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('give --socket PATH, --server HOST:PORT or --config FILE');
    expect(r.stderr).toContain('/nonexistent/leasehold.toml');
  });

  it('--server without an admin token is refused admin requests (exit 77, FORBIDDEN)', async () => {
    const d = await startAdminDaemon();
    for (const args of [['blocks'], ['users', 'list'], ['free', '--user', 'bob', '--yes']]) {
      const r = await runCli(...args, '--server', d.address);
      expect(r.code, args.join(' ')).toBe(77);
      expect(r.stderr).toContain('FORBIDDEN');
    }
  });

  it('a wrong token is refused at the handshake (exit 77, AUTH_FAILED), for admin and client commands', async () => {
    const d = await startAdminDaemon();
    for (const args of [['users', 'list'], ['status']]) {
      const r = await runCli(...args, '--server', d.address, '--token', 'not-the-viewer-token-000');
      expect(r.code, args.join(' ')).toBe(77);
      expect(r.stderr).toContain('AUTH_FAILED');
    }
  });

  it('--socket wins over --server', async () => {
    const d = await startAdminDaemon();
    const r = await runCli('users', 'list', '--socket', d.socket, '--server', d.address);
    expect(r.code).toBe(0);
  });

  it('LEASEHOLD_SOCKET wins over LEASEHOLD_SERVER, but not over --server on the command line', async () => {
    const d = await startAdminDaemon();
    vi.stubEnv('LEASEHOLD_SOCKET', d.socket);
    vi.stubEnv('LEASEHOLD_SERVER', '127.0.0.1:1');
    expect((await runCli('users', 'list')).code).toBe(0);
    vi.stubEnv('LEASEHOLD_SOCKET', DEAD_SOCKET);
    // Over TCP without a token: the server answered, so TCP was used and not the dead socket.
    const r = await runCli('users', 'list', '--server', d.address);
    expect(r.code).toBe(77);
  });

  it('an unreachable admin socket exits 69', async () => {
    const r = await runCli('blocks', '--socket', DEAD_SOCKET);
    expect(r.code).toBe(69);
  });
});

describe('destructive commands', () => {
  /** Each: the arguments, and a check that the daemon was left alone. */
  const cases: Array<[string, string[], (d: AdminFixture, leaseId: string) => Promise<void>]> = [
    [
      'free',
      ['free', 'LEASE'],
      async (d, id) => {
        expect(d.daemon.engine.listLeases().map((l) => l.id)).toEqual([id]);
      },
    ],
    [
      'users remove',
      ['users', 'remove', 'alice'],
      async (d) => {
        expect((await runCli('users', 'list', '--socket', d.socket)).stdout).toContain('alice');
      },
    ],
    [
      'users disable',
      ['users', 'disable', 'alice'],
      async (d) => {
        expect((await runCli('users', 'list', '--socket', d.socket)).stdout).toMatch(/alice\s.*\syes\s/);
      },
    ],
    [
      'users unassign',
      ['users', 'unassign', 'alice', 'cad'],
      async (d) => {
        const r = await runCli('users', 'list', '--feature', 'cad', '--type', 'named', '--socket', d.socket);
        expect(r.stdout).toContain('alice');
      },
    ],
    [
      'shutdown',
      ['shutdown'],
      async (d) => {
        expect((await runCli('status', '--server', d.address)).code).toBe(0);
      },
    ],
  ];

  it.each(cases)(
    '%s without --yes off a terminal exits 64 and changes nothing',
    async (_name, args, unchanged) => {
      const d = await startAdminDaemon();
      const lease = await hold(d.address, 'alice');
      const argv = args.map((a) => (a === 'LEASE' ? lease.id : a));
      const r = await runCli(...argv, '--socket', d.socket);
      expect(r.code).toBe(64);
      expect(r.stderr).toBe('leasehold: this command needs --yes when not run on a terminal\n');
      expect(r.stdout).toBe('');
      await unchanged(d, lease.id);
    },
  );

  it.each(cases)('%s without --yes does not even connect', async (_name, args) => {
    // A connection attempt to a socket that does not exist would exit 69.
    const r = await runCli(...args.map((a) => (a === 'LEASE' ? '0'.repeat(32) : a)), '--socket', DEAD_SOCKET);
    expect(r.code).toBe(64);
  });

  it('shutdown --yes stops the daemon', async () => {
    const d = await startAdminDaemon();
    const r = await runCli('shutdown', '--yes', '--socket', d.socket);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('the daemon is shutting down\n');
    await d.waitForLog((l) => l.msg === 'leasehold stopped');
  });

  it.each([
    [
      ['free', '--help'],
      ['--yes', '--block-for', 'lmremove', 'leasehold unblock'],
    ],
    [
      ['users', '--help'],
      ['--yes', 'remove', 'disable', 'unassign', 'join', 'leave'],
    ],
    [
      ['users', 'remove', '--help'],
      ['--yes', '--free', 'until they end'],
    ],
    [['users', 'disable', '--help'], ['--yes']],
    [['users', 'unassign', '--help'], ['--yes']],
    [
      ['shutdown', '--help'],
      ['--yes', 'lmdown'],
    ],
    [
      ['sessions', '--help'],
      ['--socket', '--server', '--config', 'admin token'],
    ],
  ])('%j mentions %j', async (args, words) => {
    const r = await runCli(...args);
    expect(r.code).toBe(0);
    for (const w of words) expect(r.stdout).toContain(w);
  });
});

describe('confirmation on a terminal', () => {
  function terminal(answer: string) {
    const input = new PassThrough();
    const output = new PassThrough();
    let asked = '';
    output.on('data', (chunk: Buffer) => {
      asked += chunk.toString();
      if (asked.endsWith('[y/N] ')) input.write(answer);
    });
    return { terminal: { isTTY: true, input, output }, asked: () => asked };
  }
  const io = () => {
    const lines: string[] = [];
    return { lines, io: { out: () => {}, err: (t: string) => void lines.push(t), setExitCode: () => {} } };
  };

  it.each([
    ['y\n', true],
    ['yes\n', true],
    ['Y\n', true],
    ['n\n', false],
    ['\n', false],
    ['sure\n', false],
  ])('answer %j → %s', async (answer, expected) => {
    const t = terminal(answer);
    const out = io();
    expect(await confirmed({}, out.io, 'Stop the daemon?', t.terminal)).toBe(expected);
    expect(t.asked()).toBe('Stop the daemon? [y/N] ');
    expect(out.lines).toEqual(expected ? [] : ['leasehold: not confirmed; nothing was changed\n']);
  });

  it('--yes does not ask', async () => {
    const t = terminal('n\n');
    expect(await confirmed({ yes: true }, io().io, 'Stop?', t.terminal)).toBe(true);
    expect(t.asked()).toBe('');
  });
});
