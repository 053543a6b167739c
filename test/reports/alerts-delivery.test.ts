/** Issue 7 §4: delivering alert notifications to the log, webhooks (local HTTP) and a command. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AlertConfig } from '../../src/config/alerts.js';
import { AlertDelivery, redactUrl } from '../../src/reports/alert-delivery.js';
import type { AlertNotification } from '../../src/reports/alerts.js';
import { onCleanup } from '../helpers/cleanup.js';

interface Line {
  level: 'info' | 'warn' | 'error';
  msg: string;
  [key: string]: unknown;
}

function recorder() {
  const lines: Line[] = [];
  const at = (level: Line['level']) => (obj: object, msg: string) => lines.push({ ...obj, level, msg });
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
}

interface Hook {
  url: string;
  /** Parsed bodies, in arrival order (also of requests not yet answered). */
  bodies: unknown[];
  headers: Record<string, string | string[] | undefined>[];
}

/** A webhook receiver on 127.0.0.1:0; `answer(n, res)` answers the n-th request (1-based) or not at all. */
async function webhook(
  answer: (n: number, res: ServerResponse) => void = (_n, res) => res.end(),
): Promise<Hook> {
  const hook: Hook = { url: '', bodies: [], headers: [] };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hook.bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      hook.headers.push(req.headers);
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

function alert(extra: Partial<AlertConfig> = {}): AlertConfig {
  return {
    name: 'cad-low',
    feature: 'cad',
    condition: { when: 'free_at_most', seats: 2 },
    webhooks: [],
    webhookTimeoutMs: 2000,
    webhookRetries: 3,
    commandTimeoutMs: 5000,
    ...extra,
  };
}

const NOTE: AlertNotification = {
  alert: 'cad-low',
  kind: 'running_out',
  feature: 'cad',
  capacity: 10,
  in_use: 8,
  free: 2,
  threshold: 2,
  rearm_at: 4,
  message: "Concurrent seats of 'cad' are running out: 2 of 10 free (alert when ≤ 2).",
  time: '2025-01-02T03:04:05.000Z',
};

function delivery(config: AlertConfig, extra: { maxInFlight?: number; backoffMs?: number } = {}) {
  const log = recorder();
  const d = new AlertDelivery({
    logger: log.logger,
    alerts: [config],
    backoffMs: 20,
    random: () => 0.5,
    ...extra,
  });
  onCleanup(() => d.close(0));
  return { d, lines: log.lines };
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('webhooks', () => {
  it('notify() logs at warn, returns at once and POSTs the JSON body', async () => {
    const hook = await webhook();
    const { d, lines } = delivery(alert({ webhooks: [hook.url] }));
    d.notify(NOTE);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      msg: NOTE.message,
      alert: 'cad-low',
      kind: 'running_out',
    });
    expect(d.inFlight).toBe(1);
    await until(() => d.inFlight === 0);
    expect(hook.bodies).toEqual([NOTE]);
    expect(hook.headers[0]!['content-type']).toBe('application/json');
    expect(lines.at(-1)).toMatchObject({
      level: 'info',
      msg: 'alert webhook delivered: HTTP 200',
      attempts: 1,
    });
  });

  it('a recovered notification is logged at info', () => {
    const { d, lines } = delivery(alert());
    d.notify({ ...NOTE, kind: 'recovered', message: 'again' });
    expect(lines).toEqual([expect.objectContaining({ level: 'info', msg: 'again', kind: 'recovered' })]);
  });

  it('retries a 500 with backoff and succeeds', async () => {
    const hook = await webhook((n, res) => {
      res.statusCode = n < 3 ? 500 : 204;
      res.end();
    });
    const { d, lines } = delivery(alert({ webhooks: [hook.url] }));
    const [result] = await d.deliver(NOTE, alert({ webhooks: [hook.url] }));
    expect(result).toEqual({ target: 'webhook', to: hook.url, ok: true, attempts: 3, detail: 'HTTP 204' });
    expect(hook.bodies).toHaveLength(3);
    expect(lines.filter((l) => l.msg === 'alert webhook failed; retrying').map((l) => l.reason)).toEqual([
      'HTTP 500',
      'HTTP 500',
    ]);
  });

  it('gives up after webhook_retries and logs the URL and the reason', async () => {
    const hook = await webhook((_n, res) => {
      res.statusCode = 503;
      res.end();
    });
    const config = alert({ webhooks: [hook.url], webhookRetries: 2 });
    const { d, lines } = delivery(config);
    const [result] = await d.deliver(NOTE, config);
    expect(result).toMatchObject({ ok: false, attempts: 3, detail: 'HTTP 503' });
    expect(lines.at(-1)).toMatchObject({
      level: 'error',
      msg: 'alert webhook failed: HTTP 503',
      url: hook.url,
      attempts: 3,
      reason: 'HTTP 503',
    });
  });

  it('does not retry a 4xx or follow a redirect', async () => {
    const hook = await webhook((n, res) => {
      res.statusCode = n === 1 ? 404 : 302;
      if (n === 2) res.setHeader('location', 'http://127.0.0.1:1/');
      res.end();
    });
    const config = alert({ webhooks: [hook.url] });
    const { d } = delivery(config);
    expect((await d.deliver(NOTE, config))[0]).toMatchObject({ ok: false, attempts: 1, detail: 'HTTP 404' });
    expect((await d.deliver(NOTE, config))[0]).toMatchObject({
      ok: false,
      attempts: 1,
      detail: 'HTTP 302 (redirects are not followed)',
    });
  });

  it('times out a receiver that never answers, and retries it', async () => {
    const hook = await webhook(() => {});
    const config = alert({ webhooks: [hook.url], webhookTimeoutMs: 150, webhookRetries: 1 });
    const { d, lines } = delivery(config);
    const started = Date.now();
    const [result] = await d.deliver(NOTE, config);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(result).toMatchObject({ ok: false, attempts: 2, detail: 'timed out after 150ms' });
    expect(hook.bodies).toHaveLength(2);
    expect(lines.at(-1)).toMatchObject({ level: 'error', url: hook.url, reason: 'timed out after 150ms' });
  });

  it('reports a connection refused with its cause', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const config = alert({ webhooks: [`http://127.0.0.1:${port}/hook`], webhookRetries: 0 });
    const { d } = delivery(config);
    const [result] = await d.deliver(NOTE, config);
    expect(result).toMatchObject({
      ok: false,
      detail: `fetch failed: connect ECONNREFUSED 127.0.0.1:${port}`,
    });
  });

  it('bounds deliveries in flight: beyond the limit they are dropped with a log line', async () => {
    const hook = await webhook(() => {});
    const urls = [1, 2, 3].map((i) => `${hook.url}?n=${i}`);
    const { d, lines } = delivery(alert({ webhooks: urls, webhookTimeoutMs: 5000 }), { maxInFlight: 2 });
    d.notify(NOTE);
    expect(d.inFlight).toBe(2);
    expect(
      lines.filter((l) => l.msg === 'alert delivery dropped: too many deliveries in flight'),
    ).toHaveLength(1);
  });

  it('close() stops retrying, waits its grace, then aborts what is in flight', async () => {
    const hook = await webhook((_n, res) => {
      res.statusCode = 500;
      res.end();
    });
    const config = alert({ webhooks: [hook.url], webhookRetries: 10 });
    const { d } = delivery(config, { backoffMs: 60_000 });
    const pending = d.deliver(NOTE, config);
    await until(() => hook.bodies.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await d.close(1000);
    expect(Date.now() - started).toBeLessThan(500);
    expect((await pending)[0]).toMatchObject({
      ok: false,
      attempts: 1,
      detail: 'HTTP 500; no retry: shutting down',
    });

    const hanging = await webhook(() => {});
    const d2 = delivery(alert({ webhooks: [hanging.url] })).d;
    const inFlight = d2.deliver(NOTE, alert({ webhooks: [hanging.url], webhookTimeoutMs: 60_000 }));
    await until(() => hanging.bodies.length === 1);
    await d2.close(50);
    expect((await inFlight)[0]).toMatchObject({ ok: false, detail: 'cancelled: shutting down' });
  });

  it('redacts credentials and query strings in what it logs', () => {
    expect(redactUrl('https://user:pw@hooks.example.com/a/b?token=s3cret')).toBe(
      'https://***@hooks.example.com/a/b?***',
    );
    expect(redactUrl('http://127.0.0.1:9000/hook')).toBe('http://127.0.0.1:9000/hook');
  });
});

describe('command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-alert-cmd-'));
  const node = process.execPath;

  it('runs without a shell, the JSON on stdin and the alert in the environment', async () => {
    const out = join(dir, 'got.json');
    const script =
      "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>require('fs').writeFileSync(process.argv[1]," +
      'JSON.stringify({body:JSON.parse(s),env:process.env.LEASEHOLD_ALERT,kind:process.env.LEASEHOLD_ALERT_KIND,arg:process.argv[2]})))';
    const config = alert({ command: [node, '-e', script, out, '$HOME; echo no'] });
    const { d, lines } = delivery(config);
    const [result] = await d.deliver(NOTE, config);
    expect(result).toEqual({ target: 'command', to: node, ok: true, attempts: 1, detail: 'exit code 0' });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({
      body: NOTE,
      env: 'cad-low',
      kind: 'running_out',
      arg: '$HOME; echo no',
    });
    expect(lines.at(-1)).toMatchObject({ level: 'info', msg: 'alert command ran: exit code 0' });
  });

  it('logs a non-zero exit with its stderr, a timeout, and a program that cannot run', async () => {
    const failing = alert({ command: [node, '-e', "console.error('nope'); process.exit(3)"] });
    const { d, lines } = delivery(failing);
    expect((await d.deliver(NOTE, failing))[0]).toMatchObject({ ok: false, detail: 'exit code 3' });
    expect(lines.at(-1)).toMatchObject({
      level: 'error',
      msg: 'alert command failed: exit code 3',
      stderr: 'nope',
    });

    const slow = alert({ command: [node, '-e', 'setTimeout(() => {}, 60000)'], commandTimeoutMs: 200 });
    expect((await d.deliver(NOTE, slow))[0]).toMatchObject({
      ok: false,
      detail: 'timed out after 200ms; killed',
    });

    const missing = alert({ command: [join(dir, 'no-such-program')] });
    const [r] = await d.deliver(NOTE, missing);
    expect(r?.ok).toBe(false);
    expect(r?.detail).toContain('cannot run: spawn');
    expect(r?.detail).toContain('ENOENT');
  });

  it('a spawn that throws becomes a failed result, never a rejection', async () => {
    const config = alert({ command: [node, 'nul\0byte'] });
    const { d, lines } = delivery(config);
    const [r] = await d.deliver(NOTE, config);
    expect(r).toMatchObject({ target: 'command', to: node, ok: false });
    expect(lines.at(-1)).toMatchObject({ level: 'error', msg: 'alert delivery failed' });
  });

  it('a program that ignores its stdin is fine', async () => {
    const config = alert({ command: [node, '-e', 'process.exit(0)'] });
    const { d } = delivery(config);
    expect((await d.deliver(NOTE, config))[0]).toMatchObject({ ok: true });
  });
});
