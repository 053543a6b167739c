/**
 * Issue 7 §5: the [metrics] endpoint of a real daemon, scraped over HTTP after a scripted scenario
 * driven with the SDK over TCP.
 */
import { describe, expect, it } from 'vitest';
import { LeaseholdClient } from '../../src/client/client.js';
import type { Lease } from '../../src/client/lease.js';
import { onCleanup } from '../helpers/cleanup.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

const METRICS = '[metrics]\nlisten = "127.0.0.1:0"';

const FEATURES = `
[users.alice]
groups = ["design"]
[users.bob]
[users.carol]
[groups.design]
[features.cad]
seats = 2
[features.cad.groups.design]
reserve = 1
max = 2
[features.sim]
seats = 1
${METRICS}
`;

async function client(address: string, user: string): Promise<LeaseholdClient> {
  const c = await LeaseholdClient.connect({ servers: [address], user, host: 'ws-1', clientName: 'e2e' });
  onCleanup(() => c.close());
  return c;
}

function metricsUrl(t: TestDaemon, path = '/metrics'): string {
  const a = t.daemon.metricsAddress;
  if (!a) throw new Error('the daemon has no metrics endpoint');
  return `http://${a.host}:${a.port}${path}`;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The sample lines of a Prometheus text exposition (label values here never hold `"` or `,`). */
function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of m[2] ? m[2].split(',') : []) {
      const l = /^(\w+)="(.*)"$/.exec(pair);
      if (!l) throw new Error(`bad label in: ${line}`);
      labels[l[1]!] = l[2]!;
    }
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample with exactly these labels; undefined when there is none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  const found = samples.filter(
    (s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want,
  );
  if (found.length > 1) throw new Error(`${name} ${want} appears ${found.length} times`);
  return found[0]?.value;
}

async function scrape(t: TestDaemon): Promise<Sample[]> {
  const res = await fetch(metricsUrl(t));
  expect(res.status).toBe(200);
  return parseSamples(await res.text());
}

const until = async (check: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('the metrics endpoint', () => {
  it('counts grants, denials, releases, queue waits and reclaims, and reads the seats at scrape time', async () => {
    const t = await startTestDaemon({ features: FEATURES, leaseTtl: '2s', heartbeatInterval: '200ms' });
    expect(t.daemon.config.server.durability).toBe('fsync');
    const alice = await client(t.address, 'alice');
    const bob = await client(t.address, 'bob');
    const carol = await client(t.address, 'carol');

    await alice.checkout('cad'); // design's reserved seat
    const bobLease = await bob.checkout('cad');
    await expect(carol.checkout('cad')).rejects.toMatchObject({ code: 'NO_SEATS' });
    const waiting: Promise<Lease> = carol.checkout('cad', { wait: 10_000 });
    await until(() => t.daemon.engine.queueStatus('cad').length === 1);

    let s = await scrape(t);
    expect(value(s, 'leasehold_seats', { feature: 'cad' })).toBe(2);
    expect(value(s, 'leasehold_seats_in_use', { feature: 'cad' })).toBe(2);
    expect(value(s, 'leasehold_seats_free', { feature: 'cad' })).toBe(0);
    expect(value(s, 'leasehold_queued', { feature: 'cad' })).toBe(1);
    expect(value(s, 'leasehold_group_seats_in_use', { feature: 'cad', group: 'design' })).toBe(1);
    expect(value(s, 'leasehold_queue_wait_seconds_count', { feature: 'cad', outcome: 'granted' })).toBe(
      undefined,
    );

    await new Promise((r) => setTimeout(r, 50));
    await bobLease.release();
    await waiting;
    const admin = await LeaseholdClient.connect({
      servers: [],
      socket: t.daemon.config.server.adminSocket,
      requestTimeoutMs: 5000,
    });
    onCleanup(() => admin.close());
    const freed = await admin.admin.free({ user: 'alice' });
    expect(freed.freed).toHaveLength(1);

    s = await scrape(t);
    // cad: carol holds the one lease left; alice's was freed by the admin, bob's released.
    expect(value(s, 'leasehold_seats', { feature: 'cad' })).toBe(2);
    expect(value(s, 'leasehold_seats_in_use', { feature: 'cad' })).toBe(1);
    expect(value(s, 'leasehold_seats_free', { feature: 'cad' })).toBe(1);
    expect(value(s, 'leasehold_queued', { feature: 'cad' })).toBe(0);
    expect(value(s, 'leasehold_overdraft', { feature: 'cad' })).toBe(0);
    expect(value(s, 'leasehold_group_seats_in_use', { feature: 'cad', group: 'design' })).toBe(0);
    expect(value(s, 'leasehold_group_seats_reserved', { feature: 'cad', group: 'design' })).toBe(1);
    expect(value(s, 'leasehold_group_seats_max', { feature: 'cad', group: 'design' })).toBe(2);
    expect(value(s, 'leasehold_grants_total', { feature: 'cad' })).toBe(3);
    expect(value(s, 'leasehold_releases_total', { feature: 'cad' })).toBe(1);
    expect(value(s, 'leasehold_denials_total', { feature: 'cad', reason: 'NO_SEATS' })).toBe(1);
    expect(value(s, 'leasehold_reclaims_total', { feature: 'cad', reason: 'admin' })).toBe(1);
    expect(s.filter((x) => x.name === 'leasehold_denials_total')).toHaveLength(1);
    expect(s.filter((x) => x.name === 'leasehold_reclaims_total')).toHaveLength(1);
    const wait = { feature: 'cad', outcome: 'granted' };
    expect(value(s, 'leasehold_queue_wait_seconds_count', wait)).toBe(1);
    expect(value(s, 'leasehold_queue_wait_seconds_bucket', { ...wait, le: '+Inf' })).toBe(1);
    expect(value(s, 'leasehold_queue_wait_seconds_sum', wait)).toBeGreaterThanOrEqual(0.05);
    expect(value(s, 'leasehold_queue_wait_seconds_sum', wait)).toBeLessThan(5);
    // sim: untouched, its counters present at 0 from the first scrape.
    expect(value(s, 'leasehold_seats', { feature: 'sim' })).toBe(1);
    expect(value(s, 'leasehold_seats_free', { feature: 'sim' })).toBe(1);
    expect(value(s, 'leasehold_grants_total', { feature: 'sim' })).toBe(0);
    // Three SDK clients and the admin socket client; the scrape itself is not one.
    expect(value(s, 'leasehold_connections')).toBe(4);
    expect(value(s, 'leasehold_leases')).toBe(1);
    expect(value(s, 'leasehold_build_info', { version: '0.0.0-test' })).toBe(1);
    // durability = "fsync": every acknowledged change went through an fsync.
    expect(value(s, 'leasehold_journal_fsync_seconds_count')).toBeGreaterThan(0);
    expect(value(s, 'leasehold_journal_fsync_seconds_bucket', { le: '+Inf' })).toBe(
      value(s, 'leasehold_journal_fsync_seconds_count'),
    );
    expect(value(s, 'leasehold_journal_synced_records_total')).toBeGreaterThanOrEqual(
      value(s, 'leasehold_journal_fsync_seconds_count')!,
    );
    // Process metrics from prom-client's default collectors.
    expect(value(s, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(s.some((x) => x.name === 'nodejs_heap_size_used_bytes')).toBe(true);
  });

  it('answers GET /metrics in the Prometheus text format, 404 elsewhere, 405 to other methods', async () => {
    const t = await startTestDaemon({ features: `[features.cad]\nseats = 1\n${METRICS}` });
    const ok = await fetch(metricsUrl(t));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await ok.text();
    expect(text).toContain('# TYPE leasehold_seats gauge\n');
    expect(text).toContain('# TYPE leasehold_grants_total counter\n');
    expect(text).toContain('# TYPE leasehold_queue_wait_seconds histogram\n');
    expect(text).toContain('leasehold_seats{feature="cad"} 1\n');
    const withQuery = await fetch(metricsUrl(t, '/metrics?x=1'));
    expect(withQuery.status).toBe(200);
    await withQuery.text();
    const head = await fetch(metricsUrl(t), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');

    const other = await fetch(metricsUrl(t, '/other'));
    expect(other.status).toBe(404);
    await other.text();
    const post = await fetch(metricsUrl(t), { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    await post.text();
  });

  it('each daemon has its own registry, and close() stops the endpoint', async () => {
    const features = `[features.cad]\nseats = 1\n${METRICS}`;
    const one = await startTestDaemon({ features });
    const two = await startTestDaemon({ features });
    const c = await client(one.address, 'alice');
    await c.checkout('cad');
    expect(value(await scrape(one), 'leasehold_grants_total', { feature: 'cad' })).toBe(1);
    expect(value(await scrape(two), 'leasehold_grants_total', { feature: 'cad' })).toBe(0);

    const url = metricsUrl(two);
    await two.daemon.close();
    await expect(fetch(url)).rejects.toThrow();
  });

  it('is off without [metrics]', async () => {
    const t = await startTestDaemon();
    expect(t.daemon.metricsAddress).toBeUndefined();
    expect(t.logs.some((l) => l.msg === 'metrics listening')).toBe(false);
  });
});
