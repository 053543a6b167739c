/** Issue 7 §4: seat alerts from a real daemon to a local webhook receiver, end to end. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LeaseholdClient } from '../../src/client/client.js';
import type { Lease } from '../../src/client/lease.js';
import { loadConfigFile } from '../../src/config/load.js';
import { Daemon } from '../../src/server/daemon.js';
import { createLogger } from '../../src/server/logger.js';
import { onCleanup } from '../helpers/cleanup.js';
import { type LogLine, startTestDaemon } from '../helpers/daemon.js';

interface Hook {
  url: string;
  bodies: Array<Record<string, unknown>>;
}

/** A webhook receiver on 127.0.0.1:0; `answer(n, res)` answers the n-th request (1-based), or never. */
async function webhook(
  answer: (n: number, res: ServerResponse) => void = (_n, res) => res.end(),
): Promise<Hook> {
  const hook: Hook = { url: '', bodies: [] };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hook.bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      answer(hook.bodies.length, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  hook.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return hook;
}

async function client(address: string, user = 'alice'): Promise<LeaseholdClient> {
  const c = await LeaseholdClient.connect({ servers: [address], user, host: 'ws-1', clientName: 'e2e' });
  onCleanup(() => c.close());
  return c;
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The alert lines of the daemon's log (a notification, not a delivery result), as "alert:kind". */
function alertLines(logs: readonly LogLine[]): string[] {
  return logs
    .filter((l) => typeof l.alert === 'string' && typeof l.inUse === 'number')
    .map((l) => `${l.alert}:${l.kind}`);
}

describe('alerts end to end', () => {
  it('a crossing gives exactly one running_out and one exhausted POST; flapping inside the band gives none', async () => {
    const hook = await webhook();
    const { address, logs } = await startTestDaemon({
      features: `
[features.cad]
seats = 4

[alerts.cad-running-out]
feature = "cad"
free_at_most = 1
rearm_margin = 2
webhooks = ["${hook.url}"]

[alerts.cad-exhausted]
feature = "cad"
when = "exhausted"
rearm_margin = 2
webhooks = ["${hook.url}"]
`,
    });
    const c = await client(address);
    const held: Lease[] = [];
    for (let i = 0; i < 3; i++) held.push(await c.checkout('cad')); // free 1: running out
    held.push(await c.checkout('cad')); // free 0: exhausted
    await until(() => hook.bodies.length >= 2);
    // Flapping: free 0 → 1 → 0 → 1 → 0, inside both bands (they re-arm at free ≥ 3 and ≥ 2).
    for (let i = 0; i < 2; i++) {
      await held.pop()!.release();
      held.push(await c.checkout('cad'));
    }
    await held.pop()!.release();
    held.push(await c.checkout('cad'));
    await sleep(300);
    expect(hook.bodies.map((b) => `${b.alert}:${b.kind}`).sort()).toEqual([
      'cad-exhausted:exhausted',
      'cad-running-out:running_out',
    ]);
    expect(hook.bodies.find((b) => b.kind === 'exhausted')).toMatchObject({
      feature: 'cad',
      capacity: 4,
      in_use: 4,
      free: 0,
      threshold: 0,
      rearm_at: 2,
      message: "No concurrent seats of 'cad' are available (4 of 4 in use).",
    });
    expect(hook.bodies.find((b) => b.kind === 'running_out')).toMatchObject({
      in_use: 3,
      free: 1,
      message: "Concurrent seats of 'cad' are running out: 1 of 4 free (alert when ≤ 1).",
    });
    expect(alertLines(logs)).toEqual(['cad-running-out:running_out', 'cad-exhausted:exhausted']);
    // Recovering to free 3 re-arms both, with one `recovered` POST each.
    for (let i = 0; i < 3; i++) await held.pop()!.release();
    await until(() => hook.bodies.length >= 4);
    await sleep(100);
    expect(
      hook.bodies
        .slice(2)
        .map((b) => `${b.alert}:${b.kind}`)
        .sort(),
    ).toEqual(['cad-exhausted:recovered', 'cad-running-out:recovered']);
    const warn = logs.find((l) => l.alert === 'cad-exhausted' && l.kind === 'exhausted');
    expect(warn?.level).toBe(40);
  });

  it('a webhook that never answers does not slow granting; its timeout is logged', async () => {
    const hook = await webhook(() => {});
    const { address, logs, waitForLog } = await startTestDaemon({
      features: `
[features.cad]
seats = 10

[alerts.cad-running-out]
feature = "cad"
free_at_most = 9
webhooks = ["${hook.url}"]
webhook_timeout = "3s"
webhook_retries = 0
`,
    });
    const c = await client(address);
    const first = await c.checkout('cad'); // fires
    await until(() => hook.bodies.length === 1);
    const started = Date.now();
    let slowest = 0;
    for (let i = 0; i < 10; i++) {
      const t = Date.now();
      const lease = await c.checkout('cad', { count: 2 });
      await lease.release();
      slowest = Math.max(slowest, Date.now() - t);
    }
    // All of it while the POST is still hanging (it times out 3 s after it was sent): blocked
    // checkouts would have taken that long.
    expect(logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('alert webhook failed'))).toBe(
      false,
    );
    expect(Date.now() - started).toBeLessThan(2500);
    expect(slowest).toBeLessThan(1000);
    const failed = await waitForLog((l) => l.msg === 'alert webhook failed: timed out after 3s', 6000);
    expect(failed).toMatchObject({ level: 50, alert: 'cad-running-out', url: hook.url, attempts: 1 });
    await first.release();
  });

  it('a 500 answer is retried (with backoff) until the receiver takes it', async () => {
    const hook = await webhook((n, res) => {
      res.statusCode = n === 1 ? 500 : 204;
      res.end();
    });
    const { address, waitForLog } = await startTestDaemon({
      features: `
[features.cad]
seats = 2

[alerts.cad-exhausted]
feature = "cad"
when = "exhausted"
webhooks = ["${hook.url}"]
webhook_retries = 2
`,
    });
    const c = await client(address);
    await c.checkout('cad', { count: 2 });
    const retry = await waitForLog((l) => l.msg === 'alert webhook failed; retrying');
    expect(retry).toMatchObject({ level: 40, url: hook.url, attempt: 1, reason: 'HTTP 500' });
    const done = await waitForLog((l) => l.msg === 'alert webhook delivered: HTTP 204');
    expect(done).toMatchObject({ attempts: 2 });
    expect(hook.bodies).toHaveLength(2);
    expect(hook.bodies[1]).toEqual(hook.bodies[0]);
  });

  it('reload takes the new alert list: an unchanged fired alert stays quiet, a new one fires at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-alerts-'));
    onCleanup(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'leasehold.toml');
    const head = `[server]\nlisten = "127.0.0.1:0"\nstate_dir = "${dir}/state"\nlease_ttl = "300ms"\nheartbeat_interval = "100ms"\n\n[features.cad]\nseats = 2\n\n[alerts.out]\nfeature = "cad"\nwhen = "exhausted"\n`;
    writeFileSync(path, head);
    const logs: LogLine[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const raw of chunk.toString('utf8').split('\n')) if (raw) logs.push(JSON.parse(raw) as LogLine);
        done();
      },
    });
    const daemon = await Daemon.start(loadConfigFile(path), {
      logger: createLogger('info', sink),
      configPath: path,
    });
    onCleanup(() => daemon.close());
    const a = daemon.addresses[0]!;
    const c = await client(`${a.host}:${a.port}`);
    await c.checkout('cad', { count: 2 });
    expect(alertLines(logs)).toEqual(['out:exhausted']);
    writeFileSync(path, `${head}\n[alerts.low]\nfeature = "cad"\nfree_at_most = 1\n`);
    daemon.reload();
    expect(alertLines(logs)).toEqual(['out:exhausted', 'low:running_out']);
    expect(daemon.config.alerts.map((x) => x.name)).toEqual(['out', 'low']);
  });
});
