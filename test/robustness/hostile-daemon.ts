/**
 * A real `leasehold serve` child for the hostile-client test (issue 9 §3): its own process, so a
 * crash shows as an exit and its memory is its own (VmRSS/VmHWM from /proc/<pid>/status). Logs go
 * to a file, not a pipe, so a busy test process can never block the daemon's log writes; the file
 * is tailed to count the daemon's own account of what it closed and why.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { onCleanup } from '../helpers/cleanup.js';
import { BIN } from '../helpers/cli.js';
import { freePort } from '../helpers/daemon-process.js';

export interface LogLine {
  msg: string;
  level: number;
  code?: string;
  [key: string]: unknown;
}

export interface Memory {
  /** Resident set now, bytes. */
  rss: number;
  /** Peak resident set since the process started, bytes. */
  hwm: number;
}

export class HostileDaemon {
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;
  #offset = 0;
  #partial = '';
  readonly #utf8 = new StringDecoder('utf8');
  readonly #counts = new Map<string, number>();
  readonly #kept: LogLine[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly address: string,
    readonly metricsUrl: string,
    readonly logFile: string,
    /** Which log lines to keep whole (the rest are only counted). */
    private readonly keep: (line: LogLine) => boolean,
  ) {
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve();
      }),
    );
  }

  /** Starts `serve` with `[server]` lines and feature tables; resolves once every listener is up. */
  static async start(
    serverLines: string,
    features: string,
    keep: (line: LogLine) => boolean = () => false,
  ): Promise<HostileDaemon> {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-hostile-'));
    const [port, metricsPort] = [await freePort(), await freePort()];
    const configFile = join(dir, 'leasehold.toml');
    writeFileSync(
      configFile,
      [
        '[server]',
        `listen = "127.0.0.1:${port}"`,
        `state_dir = ${JSON.stringify(join(dir, 'state'))}`,
        serverLines,
        '[metrics]',
        `listen = "127.0.0.1:${metricsPort}"`,
        features,
      ].join('\n'),
    );
    const logFile = join(dir, 'daemon.log');
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [BIN, 'serve', '--config', configFile], {
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    const daemon = new HostileDaemon(
      child,
      `127.0.0.1:${port}`,
      `http://127.0.0.1:${metricsPort}/metrics`,
      logFile,
      keep,
    );
    onCleanup(() => rm(dir, { recursive: true, force: true }));
    onCleanup(() => daemon.kill());
    const deadline = Date.now() + 15_000;
    while (daemon.count('admin socket listening') === 0) {
      if (daemon.#exit || Date.now() > deadline) {
        throw new Error(
          `serve did not start (${JSON.stringify(daemon.#exit)}):\n${readFileSync(logFile, 'utf8')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return daemon;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** How the process ended, or undefined while it runs. */
  get exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.#exit;
  }

  memory(): Memory {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
  }

  /** One gauge or counter of the Prometheus endpoint (no labels). */
  async metric(name: string): Promise<number> {
    const text = await (await fetch(this.metricsUrl)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
  }

  /** Reads what the daemon logged since the last call. */
  #tail(): void {
    const fd = openSync(this.logFile, 'r');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.#offset);
        if (n <= 0) break;
        this.#offset += n;
        const lines = (this.#partial + this.#utf8.write(buf.subarray(0, n))).split('\n');
        this.#partial = lines.pop()!;
        for (const raw of lines) {
          if (!raw.startsWith('{')) continue;
          const line = JSON.parse(raw) as LogLine;
          // Protocol errors are counted by code; everything else by message.
          const key = line.msg.startsWith('protocol error') ? `protocol error ${line.code}` : line.msg;
          this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
          if (this.keep(line)) this.#kept.push(line);
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Lines logged so far whose message (or `protocol error CODE`) starts with `prefix`. */
  count(prefix: string): number {
    this.#tail();
    let n = 0;
    for (const [key, c] of this.#counts) if (key.startsWith(prefix)) n += c;
    return n;
  }

  /** The lines `keep` selected, so far. */
  kept(): readonly LogLine[] {
    this.#tail();
    return this.#kept;
  }

  /**
   * The sum of `count(p)` over `prefixes` once it reaches `n` (pino may not have written the last
   * lines yet), or whatever it is after `timeoutMs`, for the caller to compare.
   */
  async countOnceAt(prefixes: readonly string[], n: number, timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = prefixes.reduce((sum, p) => sum + this.count(p), 0);
      if (c >= n || Date.now() > deadline) return c;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits until `count(prefix)` reaches `n`; throws after `timeoutMs`. */
  async waitForCount(prefix: string, n: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = this.count(prefix);
      if (c >= n) return c;
      if (Date.now() > deadline)
        throw new Error(`daemon logged ${c} of ${n} '${prefix}' lines in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGTERM, as systemd stops it: resolves with the exit code of a graceful stop. */
  async stop(timeoutMs = 10_000): Promise<number | null> {
    if (!this.#exit) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
    return this.#exit!.code;
  }

  async kill(): Promise<void> {
    if (this.#exit) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

export interface MemorySample {
  phase: string;
  rss: number;
}

/** Samples the daemon's RSS every `everyMs`, labelled with the phase the test is in. */
export class MemoryWatch {
  readonly samples: MemorySample[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly daemon: HostileDaemon,
    private readonly phase: () => string,
    everyMs = 100,
  ) {
    this.#timer = setInterval(() => this.sample(), everyMs);
    onCleanup(() => this.stop());
  }

  sample(): void {
    if (this.daemon.exit) return;
    this.samples.push({ phase: this.phase(), rss: this.daemon.memory().rss });
  }

  /** Highest sampled RSS, of one phase or of all. */
  peak(phase?: string): number {
    let max = 0;
    for (const s of this.samples) if (phase === undefined || s.phase === phase) max = Math.max(max, s.rss);
    return max;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
