/**
 * Processes the bench starts and watches: CPU time and RSS from /proc, free ports, waiting for a
 * port to accept, child processes with their output collected line by line.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

let clockTicks;

/** Clock ticks per second of /proc/<pid>/stat times (sysconf CLK_TCK; 100 on Linux). */
function ticksPerSecond() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User + system CPU seconds a process has used so far (its threads included), or NaN if gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the name: state is field 3 (index 0 here); utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU seconds the whole machine has spent busy so far (every CPU, every process, kernel work such
 * as softirqs included), from the first line of /proc/stat; NaN where there is no /proc/stat.
 */
export function machineBusySeconds() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (user + nice + system + irq + softirq + (steal ?? 0)) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/** This process's own user + system CPU seconds. */
export function selfCpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Resident set size of a process in bytes (VmRSS), or NaN if gone. */
export function rssBytes(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port; rejects after `timeoutMs`. */
export async function waitForPort(port, timeoutMs, isAlive = () => true) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (!isAlive()) throw new Error('the process exited before it listened');
    if (performance.now() > deadline)
      throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/**
 * A child process whose stdout and stderr lines are collected: `onLine` sees every stdout line as
 * it arrives; the last lines of stderr are kept for error messages.
 */
export function startChild(command, args, options = {}) {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  const handle = {
    child,
    pid: child.pid,
    exited: false,
    exitCode: undefined,
    stderrTail: '',
    lineListeners: new Set(),
    /** Resolves with the first stdout line for which `predicate` returns true. */
    waitForLine(predicate, timeoutMs, what = 'a log line') {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          handle.lineListeners.delete(listener);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        const listener = (line) => {
          if (!predicate(line)) return;
          clearTimeout(timer);
          handle.lineListeners.delete(listener);
          resolve(line);
        };
        handle.lineListeners.add(listener);
      });
    },
  };
  handle.exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      handle.exited = true;
      handle.exitCode = code ?? signal;
      resolve(handle.exitCode);
    });
  });
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    pending += chunk;
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      for (const listener of handle.lineListeners) listener(line);
      nl = pending.indexOf('\n');
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    handle.stderrTail = (handle.stderrTail + chunk).slice(-4000);
  });
  return handle;
}

/** Stops a child: `signal` (SIGTERM by default), then SIGKILL after `graceMs`. */
export async function stopChild(handle, signal = 'SIGTERM', graceMs = 30_000) {
  if (!handle || handle.exited) return handle?.exitCode;
  handle.child.kill(signal);
  const timer = setTimeout(() => {
    if (!handle.exited) handle.child.kill('SIGKILL');
  }, graceMs);
  const code = await handle.exit;
  clearTimeout(timer);
  return code;
}
