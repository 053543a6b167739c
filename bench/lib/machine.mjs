/** What the bench ran on: CPU, memory, kernel, runtime, peer versions, the state directory's filesystem. */
import { readFileSync } from 'node:fs';
import os from 'node:os';

function cpuModel() {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const models = [...info.matchAll(/^model name\s*:\s*(.+)$/gm)].map((m) => m[1].trim());
    return { model: models[0] ?? os.cpus()[0]?.model ?? 'unknown', count: models.length || os.cpus().length };
  } catch {
    return { model: os.cpus()[0]?.model ?? 'unknown', count: os.cpus().length };
  }
}

/** The filesystem holding `path` (longest matching mount point in /proc/mounts). */
function filesystemOf(path) {
  try {
    let best = { mount: '', type: 'unknown', device: '' };
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [device, mount, type] = line.split(' ');
      if (!mount) continue;
      const inside = path === mount || path.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
      if (inside && mount.length > best.mount.length) best = { mount, type, device };
    }
    return best;
  } catch {
    return { mount: '', type: 'unknown', device: '' };
  }
}

export function machineInfo({ stateRoot, redisVersion }) {
  const cpu = cpuModel();
  return {
    cpuModel: cpu.model,
    cpuCount: cpu.count,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    arch: os.arch(),
    node: process.version,
    redis: redisVersion ?? null,
    stateFilesystem: { path: stateRoot, ...filesystemOf(stateRoot) },
    openFilesLimit: openFilesLimit(),
  };
}

/** The soft limit on open files of this process (ulimit -n), from /proc/self/limits. */
export function openFilesLimit() {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(
      readFileSync('/proc/self/limits', 'utf8'),
    );
    if (!m) return undefined;
    const n = (s) => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
    return { soft: n(m[1]), hard: n(m[2]) };
  } catch {
    return undefined;
  }
}
