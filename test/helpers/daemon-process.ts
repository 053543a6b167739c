/**
 * A real `leasehold serve` child process on a temp state dir and a fixed loopback port (so that a
 * restart comes back on the same address), for crash and restart tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { BIN } from './cli.js';

/** A port that was free a moment ago (bind 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

export interface DaemonProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export interface StartOptions {
  /**
   * Run this script (`node SCRIPT --config FILE ...extraArgs`, stdin a pipe) instead of
   * `bin/leasehold serve`: a test host around Daemon that takes test-only options (see
   * test/robustness/daemon-host.mjs). It must log like serve, to stdout.
   */
  script?: string;
}

export class DaemonFixture {
  readonly dir = mkdtempSync(join(tmpdir(), 'leasehold-proc-'));
  readonly configFile = join(this.dir, 'leasehold.toml');
  current: DaemonProcess | undefined;

  private constructor(readonly port: number) {}

  static async create(body: string): Promise<DaemonFixture> {
    const fixture = new DaemonFixture(await freePort());
    fixture.writeConfig(body);
    onCleanup(() => rm(fixture.dir, { recursive: true, force: true }));
    onCleanup(() => fixture.kill());
    return fixture;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Writes the config: [server] listen/state_dir filled in, then `body` (more [server] keys first). */
  writeConfig(body: string): void {
    writeFileSync(
      this.configFile,
      `[server]\nlisten = "${this.address}"\nstate_dir = ${JSON.stringify(join(this.dir, 'state'))}\n${body}\n`,
    );
  }

  /** Starts `serve`; resolves once it listens, rejects with its output if it exits first. */
  start(extraArgs: string[] = [], options: StartOptions = {}): Promise<DaemonProcess> {
    const args = options.script
      ? [options.script, '--config', this.configFile, ...extraArgs]
      : [BIN, 'serve', '--config', this.configFile, ...extraArgs];
    const child = spawn(process.execPath, args, {
      stdio: [options.script ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const proc: DaemonProcess = { child, output: () => out, exited };
    this.current = proc;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start:\n${out}`)), 15_000);
      const check = () => {
        // The admin socket is the last thing the daemon opens: once it listens, everything does.
        if (out.includes('"msg":"admin socket listening"')) {
          clearTimeout(timer);
          child.stdout!.off('data', check);
          resolve(proc);
        }
      };
      child.stdout!.on('data', check);
      void exited.then((code) => {
        clearTimeout(timer);
        reject(Object.assign(new Error(`serve exited with ${code}:\n${out}`), { code, output: out }));
      });
    });
  }

  /** Runs `serve` expecting it to refuse to start; resolves with its exit code and output. */
  async startFailing(extraArgs: string[] = []): Promise<{ code: number | null; output: string }> {
    try {
      const proc = await this.start(extraArgs);
      proc.child.kill('SIGKILL');
      throw new Error(`serve started but should not have:\n${proc.output()}`);
    } catch (err) {
      const e = err as { code?: number | null; output?: string };
      if (e.output === undefined) throw err;
      return { code: e.code ?? null, output: e.output };
    }
  }

  async kill(): Promise<void> {
    const proc = this.current;
    if (!proc) return;
    proc.child.kill('SIGKILL');
    await proc.exited;
    this.current = undefined;
  }
}
