/** Issue 7 §4: `leasehold alerts test NAME` and `alerts list`, against a local webhook receiver. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'leasehold-cli-alerts-'));

interface Hook {
  url: string;
  bodies: Array<Record<string, unknown>>;
}

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

let files = 0;
function configFile(alerts: string): string {
  const path = join(dir, `alerts-${++files}.toml`);
  writeFileSync(path, `[features.cad]\nseats = 10\n\n${alerts}`);
  return path;
}

describe('leasehold alerts test', () => {
  it('sends a test notification to every webhook and the command; exit 0', async () => {
    const hook = await webhook((_n, res) => {
      res.statusCode = 204;
      res.end();
    });
    const out = join(dir, 'command-got.json');
    const script =
      "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>require('fs').writeFileSync(process.argv[1],s))";
    const path = configFile(`
[alerts.cad-running-out]
feature = "cad"
used_percent_at_least = 80
webhooks = ["${hook.url}"]
command = [${JSON.stringify(process.execPath)}, "-e", ${JSON.stringify(script)}, ${JSON.stringify(out)}]
`);
    const r = await runCli('alerts', 'test', 'cad-running-out', '--config', path);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`ok      webhook ${hook.url}: HTTP 204 (1 attempt)`);
    expect(r.stdout).toContain(`ok      command ${process.execPath}: exit code 0 (1 attempt)`);
    expect(r.stdout).toContain("Test notification of 'cad-running-out' delivered to 2 target(s).");
    expect(hook.bodies).toHaveLength(1);
    expect(hook.bodies[0]).toMatchObject({
      alert: 'cad-running-out',
      kind: 'running_out',
      feature: 'cad',
      capacity: 10,
      in_use: null,
      free: null,
      threshold: 2,
      test: true,
    });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(hook.bodies[0]);
  });

  it('exit 1 when a target fails, naming it and why', async () => {
    const hook = await webhook((_n, res) => {
      res.statusCode = 500;
      res.end();
    });
    const path = configFile(`
[alerts.cad-exhausted]
feature = "cad"
when = "exhausted"
webhooks = ["${hook.url}"]
webhook_retries = 1
`);
    const r = await runCli('alerts', 'test', 'cad-exhausted', '--config', path, '--json');
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { notification: Record<string, unknown>; results: unknown[] };
    expect(doc.notification).toMatchObject({ kind: 'exhausted', test: true });
    expect(doc.results).toEqual([
      { target: 'webhook', to: hook.url, ok: false, attempts: 2, detail: 'HTTP 500' },
    ]);
    expect(hook.bodies).toHaveLength(2);
  });

  it('exit 64 for an unknown alert, listing the known ones', async () => {
    const path = configFile(
      '[alerts.a]\nfeature = "cad"\nwhen = "exhausted"\n\n[alerts.b]\nfeature = "cad"\nfree_at_most = 1\n',
    );
    const r = await runCli('alerts', 'test', 'nope', '--config', path);
    expect(r.code).toBe(64);
    expect(r.stderr).toBe(`leasehold: ${path} has no alert 'nope' (known: a, b)\n`);
  });

  it('an alert with no targets has nothing to test: exit 0 and says so', async () => {
    const path = configFile('[alerts.a]\nfeature = "cad"\nwhen = "exhausted"\n');
    const r = await runCli('alerts', 'test', 'a', '--config', path);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Alert 'a' has no webhooks and no command");
  });

  it('exit 78 for a bad config, naming the key', async () => {
    const path = configFile('[alerts.a]\nfeature = "cad"\nfree_at_most = 10\n');
    const r = await runCli('alerts', 'test', 'a', '--config', path);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`${path}: alerts.a.free_at_most: must be less than the 10 seats watched`);
  });
});

describe('leasehold alerts list', () => {
  it('shows each alert with its thresholds and targets, as a table or JSON', async () => {
    const path = configFile(`
[alerts.cad-running-out]
feature = "cad"
free_at_most = 2
rearm_margin = 2
webhooks = ["https://hooks.example.com/x?token=secret"]

[alerts.cad-exhausted]
feature = "cad"
when = "exhausted"
`);
    const r = await runCli('alerts', 'list', '--config', path);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^ALERT\s+FEATURE\s+GROUP\s+CONDITION\s+FIRES AT FREE\s+RE-ARMS AT FREE\s+SEATS WATCHED\s+DELIVERED TO$/,
    );
    expect(lines[1]).toMatch(/^cad-running-out\s+cad\s+-\s+free ≤ 2\s+≤ 2\s+≥ 4\s+10\s+log, 1 webhook\(s\)$/);
    expect(lines[2]).toMatch(/^cad-exhausted\s+cad\s+-\s+exhausted\s+≤ 0\s+≥ 1\s+10\s+log$/);
    const json = await runCli('alerts', 'list', '--config', path, '--json');
    expect(JSON.parse(json.stdout).alerts[0]).toEqual({
      name: 'cad-running-out',
      feature: 'cad',
      condition: { when: 'free_at_most', seats: 2 },
      capacity: 10,
      threshold: 2,
      rearmAt: 4,
      webhooks: ['https://hooks.example.com/x?***'],
    });
  });

  it('says so when there are none', async () => {
    const path = configFile('');
    const r = await runCli('alerts', 'list', '--config', path);
    expect(r.stdout).toBe(`${path}: no [alerts.*] configured.\n`);
  });
});
