/**
 * What the fault tests (issue 9 §2) share: SDK clients wired to the history, child client
 * processes, the built dist/ they run, and small waits.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LeaseholdClient } from '../../src/client/client.js';
import type { Lease } from '../../src/client/lease.js';
import { onCleanup } from '../helpers/cleanup.js';
import type { ServerLease } from './check-history.js';
import type { HistoryEvent, HistoryRecorder, RecordedClient } from './history.js';

/** `npm run soak` (SOAK=1): the long variants. */
export const SOAK = process.env.SOAK === '1';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLIENT_HOST = join(ROOT, 'test/robustness/client-host.mjs');
export const DAEMON_HOST = join(ROOT, 'test/robustness/daemon-host.mjs');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const randomInt = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));

/** Polls `condition` every 20 ms until it holds; throws `message` after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out: ${message}`);
    await sleep(20);
  }
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function distIsFresh(): boolean {
  try {
    return statSync(join(ROOT, 'dist/index.js')).mtimeMs >= newestMtime(join(ROOT, 'src'));
  } catch {
    return false;
  }
}

/**
 * The child processes (serve, client-host.mjs, daemon-host.mjs) run dist/: build it if src/ is
 * newer. `npm test` and `npm run soak` build first; this covers `vitest run test/robustness`. A lock
 * directory keeps test files that run in parallel from building over each other.
 */
export async function ensureBuilt(): Promise<void> {
  if (distIsFresh()) return;
  const lock = join(tmpdir(), `leasehold-build-${Buffer.from(ROOT).toString('hex').slice(-24)}.lock`);
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      await sleep(200);
      if (distIsFresh()) return;
    }
  }
  try {
    if (!distIsFresh()) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe' });
  } finally {
    rmdirSync(lock);
  }
}

export interface ClientSetup {
  requestTimeoutMs?: number;
  safetyMarginMs?: number;
}

/** An SDK client (short reconnect backoff) recorded into `recorder`, closed after the test. */
export async function recordedClient(
  recorder: HistoryRecorder,
  address: string,
  name: string,
  setup: ClientSetup = {},
): Promise<RecordedClient> {
  const client = await LeaseholdClient.connect({
    servers: [address],
    user: name,
    host: 'ws',
    clientName: 'robustness',
    reconnectInitialDelayMs: 50,
    reconnectMaxDelayMs: 200,
    requestTimeoutMs: setup.requestTimeoutMs ?? 20_000,
    ...(setup.safetyMarginMs !== undefined ? { safetyMarginMs: setup.safetyMarginMs } : {}),
  });
  client.on('error', () => {});
  onCleanup(() => client.close({ release: false }));
  return recorder.wrap(name, client);
}

/**
 * One client's share of a busy workload: check out (waiting in the queue up to 1.5 s, a fifth of
 * the time two seats), use it while valid for 20–300 ms (a fifth of the time 1–3 s), release;
 * again until `running()` is false.
 */
export async function churn(c: RecordedClient, running: () => boolean, feature = 'cad'): Promise<void> {
  while (running()) {
    let lease: Lease;
    try {
      lease = await c.checkout(feature, { wait: randomInt(0, 1500), count: Math.random() < 0.2 ? 2 : 1 });
    } catch {
      await sleep(randomInt(10, 50));
      continue;
    }
    // Mostly short holds; one in five spans a second or more, so some leases live through faults.
    const holdUntil = performance.now() + (Math.random() < 0.2 ? randomInt(1000, 3000) : randomInt(20, 300));
    while (performance.now() < holdUntil && c.use(lease)) await sleep(10);
    if (lease.state === 'held') await c.release(lease).catch(() => {});
  }
}

/**
 * After a workload stopped: waits until the daemon holds only what some client holds (a lease
 * given up while the daemon was away is checked in once it is back), for up to `timeoutMs`, and
 * returns what it holds then.
 */
export async function settledServerLeases(
  clients: readonly RecordedClient[],
  timeoutMs = 5000,
  feature = 'cad',
): Promise<ServerLease[]> {
  const held = () => new Set(clients.flatMap((c) => c.client.leases.map((l) => l.id)));
  let onServer = await serverLeases(clients[0]!, feature);
  const deadline = performance.now() + timeoutMs;
  while (onServer.some((l) => !held().has(l.id)) && performance.now() < deadline) {
    await sleep(100);
    onServer = await serverLeases(clients[0]!, feature);
  }
  return onServer;
}

/** Waits until every client is connected (after a daemon restart). */
export async function allConnected(clients: readonly RecordedClient[], timeoutMs = 15_000): Promise<void> {
  await waitUntil(() => clients.every((c) => c.client.connected), timeoutMs, 'clients reconnect');
}

/** The leases the daemon holds of `feature`, asked through `client`. */
export async function serverLeases(client: RecordedClient, feature = 'cad'): Promise<ServerLease[]> {
  const status = await client.client.status(feature);
  return (status.features[0]?.leases ?? []).map((l) => ({ id: l.id, feature, user: l.user }));
}

/** A client application in a child process (client-host.mjs), its events recorded into the history. */
export class ChildClient {
  readonly exited: Promise<number | null>;
  #stderr = '';
  readonly #waiters: Array<{ match: (e: HistoryEvent) => boolean; resolve: (e: HistoryEvent) => void }> = [];
  readonly #seen: HistoryEvent[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly name: string,
    recorder: HistoryRecorder,
  ) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      recorder.ingest(line);
      const event = JSON.parse(line) as HistoryEvent;
      this.#seen.push(event);
      for (const w of [...this.#waiters]) {
        if (w.match(event)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(event);
        }
      }
    });
    child.stderr!.on('data', (c: Buffer) => {
      this.#stderr += c.toString();
    });
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  static start(
    recorder: HistoryRecorder,
    options: {
      server: string;
      name: string;
      feature: string;
      wait?: number;
      key?: string;
      safetyMarginMs?: number;
    },
  ): ChildClient {
    const child = spawn(process.execPath, [CLIENT_HOST, JSON.stringify(options)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const c = new ChildClient(child, options.name, recorder);
    onCleanup(async () => {
      if (c.child.exitCode === null && c.child.signalCode === null) {
        c.child.kill('SIGCONT');
        c.child.kill('SIGKILL');
        await c.exited;
      }
    });
    return c;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Resolves with the first event of this child (seen or coming) that matches. */
  next<T extends HistoryEvent['type']>(
    type: T,
    timeoutMs = 10_000,
  ): Promise<Extract<HistoryEvent, { type: T }>> {
    const match = (e: HistoryEvent) => e.type === type;
    const found = this.#seen.find(match);
    if (found) return Promise.resolve(found as Extract<HistoryEvent, { type: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`child ${this.name}: no ${type} event in time\n${this.#stderr}`)),
        timeoutMs,
      );
      this.#waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e as Extract<HistoryEvent, { type: T }>);
        },
      });
    });
  }

  events(): readonly HistoryEvent[] {
    return this.#seen;
  }

  command(line: 'release' | 'finish'): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** Records what it still holds, closes without releasing, and exits. */
  async finish(): Promise<void> {
    this.command('finish');
    const code = await this.exited;
    if (code !== 0) throw new Error(`child ${this.name} exited with ${code}:\n${this.#stderr}`);
  }
}
