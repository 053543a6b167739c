/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time, the
 * functions with the most total (inclusive) time, and self time per source file and per layer.
 * The profile samples the main JavaScript thread only: libuv's worker threads (file writes,
 * fdatasync) are not in it, though the process's CPU time counts them.
 *
 *   node bench/profile-summary.mjs FILE.cpuprofile [--top N] [--json]
 *
 * Also imported by bench/run.mjs (summariseProfile) for the `--profile` run.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../', import.meta.url));

function shortUrl(url) {
  if (!url) return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith('/') ? relative(REPO, path) : path;
}

/**
 * The part of the program a frame belongs to: a dist/ layer (protocol, server, engine, store,
 * reports…), a package, Node's own JavaScript, or a native/VM entry such as (garbage collector).
 */
function layerOf(frame) {
  const url = shortUrl(frame.url);
  if (!url) return frame.functionName.startsWith('(') ? frame.functionName : `native: ${frame.functionName}`;
  let m = /^dist\/([^/]+)\//.exec(url);
  if (m) return `dist/${m[1]}`;
  m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (m) return `package ${m[1]}`;
  if (url.startsWith('node:')) return 'node internals (JS)';
  return url;
}

function label(frame) {
  const name = frame.functionName || '(anonymous)';
  const where = shortUrl(frame.url);
  return where ? `${name} ${where}:${frame.lineNumber + 1}` : name;
}

/** { totalMs, self: [{fn, ms, pct}], inclusive: [...], files: [...] } for the top `top` entries. */
export function summariseProfile(profile, top = 25) {
  const byId = new Map();
  const parent = new Map();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map();
  const inclusive = new Map();
  const files = new Map();
  const layers = new Map();
  let total = 0;
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute it to the sample (V8 DevTools does the same).
    const ms = (timeDeltas[i] ?? 0) / 1000;
    if (ms <= 0) continue;
    const node = byId.get(samples[i]);
    if (!node) continue;
    total += ms;
    const key = label(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + ms);
    const file = shortUrl(node.callFrame.url) || node.callFrame.functionName || '(native)';
    files.set(file, (files.get(file) ?? 0) + ms);
    const layer = layerOf(node.callFrame);
    layers.set(layer, (layers.get(layer) ?? 0) + ms);
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const k = label(byId.get(id).callFrame);
      if (k === '(root)' || seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + ms);
    }
  }
  const list = (map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, ms]) => ({ fn, ms: Math.round(ms), pct: Math.round((1000 * ms) / total) / 10 }));
  return {
    totalMs: Math.round(total),
    self: list(self),
    inclusive: list(inclusive),
    files: list(files),
    layers: list(layers),
  };
}

export function formatSummary(summary) {
  const lines = [`profile: ${summary.totalMs} ms sampled`];
  const section = (title, rows) => {
    lines.push('', title);
    for (const r of rows)
      lines.push(`${String(r.pct.toFixed(1)).padStart(6)}%  ${String(r.ms).padStart(7)} ms  ${r.fn}`);
  };
  section('top self time (function, file:line)', summary.self);
  section('top total time (inclusive)', summary.inclusive);
  section('self time by file', summary.files);
  if (summary.layers) section('self time by layer', summary.layers);
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  if (!file) {
    process.stderr.write('usage: node bench/profile-summary.mjs FILE.cpuprofile [--top N] [--json]\n');
    process.exit(64);
  }
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
  const summary = summariseProfile(JSON.parse(readFileSync(file, 'utf8')), top);
  process.stdout.write(
    args.includes('--json') ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`,
  );
}
