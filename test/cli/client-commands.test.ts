/** Issue 3: `status` and `checkout -- CMD` against a real daemon, run as real processes. */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { LeaseholdClient } from '../../src/client/client.js';
import { onCleanup } from '../helpers/cleanup.js';
import { BIN, runBin } from '../helpers/cli.js';
import { startTestDaemon } from '../helpers/daemon.js';

async function holdSeat(address: string, user = 'alice') {
  const c = await LeaseholdClient.connect({ servers: [address], user, host: 'ws-17', clientName: 'cad-app' });
  onCleanup(() => c.close());
  return c.checkout('cad');
}

/** A port nothing listens on: bind one, note it, close it. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('leasehold status', () => {
  it('--json has the shape of DESIGN §5', async () => {
    const { address } = await startTestDaemon({
      features: '[features.cad]\nseats = 3\n[features.analytics]\nseats = 1',
    });
    const lease = await holdSeat(address);
    const before = Date.now();
    const r = await runBin(['status', '--json', '--server', address]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.server).toEqual({ name: 'leasehold', version: '0.0.0-test', uptimeMs: expect.any(Number) });
    expect(doc.features.map((f: { name: string }) => f.name)).toEqual(['cad', 'analytics']);
    const cad = doc.features[0];
    expect(cad).toMatchObject({ name: 'cad', model: 'concurrent', seats: 3, inUse: 1, free: 2, queued: 0 });
    expect(cad.leases).toHaveLength(1);
    expect(cad.leases[0]).toMatchObject({
      id: lease.id,
      user: 'alice',
      host: 'ws-17',
      count: 1,
      type: 'concurrent',
    });
    expect(typeof cad.leases[0].idleMs).toBe('number');
    const since = Date.parse(cad.leases[0].since);
    expect(since).toBeLessThanOrEqual(Date.now());
    expect(since).toBeGreaterThan(before - 60_000);
    expect(doc.features[1]).toMatchObject({ name: 'analytics', seats: 1, inUse: 0, free: 1, leases: [] });
  });

  it('prints a human table, and one feature when named', async () => {
    const { address } = await startTestDaemon({
      features: '[features.cad]\nseats = 3\n[features.analytics]\nseats = 1',
    });
    await holdSeat(address, 'zoe');
    const r = await runBin(['status', 'cad', '--server', address]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/FEATURE\s+MODEL\s+SEATS\s+IN USE\s+FREE\s+QUEUED/);
    expect(r.stdout).toMatch(/cad\s+concurrent\s+3\s+1\s+2\s+0/);
    expect(r.stdout).toContain('zoe');
    expect(r.stdout).not.toContain('analytics');
  });

  it('exits 69 when no server is reachable', async () => {
    const r = await runBin(['status', '--server', `127.0.0.1:${await deadPort()}`]);
    expect(r.code).toBe(69);
    expect(r.stderr).toContain('SERVER_UNAVAILABLE');
  });
});

describe('leasehold checkout -- CMD', () => {
  it("holds the seat while CMD runs and exits with CMD's code", async () => {
    const { address, daemon } = await startTestDaemon();
    // CMD asks the daemon (status --json) whether its seat is held, and exits 3 if it is.
    const check = `${process.execPath} ${BIN} status cad --json --server ${address} | grep -q '"inUse": 1' && exit 3; exit 4`;
    const r = await runBin(['checkout', 'cad', '--server', address, '--', 'sh', '-c', check]);
    expect(r.code).toBe(3);
    // Released when CMD exited.
    expect(daemon.engine.listLeases()).toEqual([]);
  });

  it('exits 75 with the server message when denied', async () => {
    const { address } = await startTestDaemon();
    await holdSeat(address);
    const r = await runBin(['checkout', 'cad', '--server', address, '--', 'true']);
    expect(r.code).toBe(75);
    expect(r.stderr).toContain("NO_SEATS: The only seat of feature 'cad' is in use.");
  });

  it('exits 69 when the server is unreachable', async () => {
    const r = await runBin(['checkout', 'cad', '--server', `127.0.0.1:${await deadPort()}`, '--', 'true']);
    expect(r.code).toBe(69);
  });

  it('exits 64 on a bad --count', async () => {
    const r = await runBin(['checkout', 'cad', '--count', 'x', '--', 'true']);
    expect(r.code).toBe(64);
  });
});

describe('leasehold serve', () => {
  it('exits 78 with the messages for a bad config', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'leasehold-serve-')), 'bad.toml');
    writeFileSync(file, '[features.cad]\nseats = -3\n');
    const r = await runBin(['serve', '--config', file]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`${file}: features.cad.seats: must be a whole number ≥ 1, got -3`);
  });
});

describe('leasehold serve as a process', () => {
  it('serves on the configured address, holds leases, and stops on SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-serve-'));
    const file = join(dir, 'leasehold.toml');
    writeFileSync(file, '[server]\nlisten = "127.0.0.1:0"\n[features.cad]\nseats = 2\n');
    const child = spawn(process.execPath, [BIN, 'serve', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onCleanup(() => child.kill('SIGKILL'));
    let out = '';
    const address = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /"address":"(127\.0\.0\.1:\d+)","msg":"listening"/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', () => reject(new Error(`serve exited: ${out}`)));
    });
    const lease = await holdSeat(address);
    expect(lease.valid).toBe(true);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('"msg":"leasehold starting"');
    expect(out).toContain('"msg":"lease granted"');
  });
});
