import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'leasehold-cli-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('leasehold check-config', () => {
  it('exits 0 for config.example.toml', async () => {
    const r = await runCli('check-config', '--config', 'config.example.toml');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/config\.example\.toml: ok \(3 features, listen 127\.0\.0\.1:27000/);
  });

  it.each([
    [
      'bad-seats.toml',
      '[features.cad]\nseats = -3\n',
      'bad-seats.toml: features.cad.seats: must be a whole number ≥ 1, got -3',
    ],
    ['unknown-key.toml', '[server]\nlisten_on = "x"\n', 'unknown-key.toml: server.listen_on: unknown key'],
    [
      'bad-duration.toml',
      '[server]\nlease_ttl = "15"\n',
      'bad-duration.toml: server.lease_ttl: must be a duration',
    ],
    ['syntax.toml', '[server\n', 'syntax.toml: line 1, column'],
  ])('exits 78 for %s and names file, key and problem', async (name, text, message) => {
    const r = await runCli('check-config', '--config', file(name, text));
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(join(dir, message));
  });

  it('exits 78 for a missing file', async () => {
    const r = await runCli('check-config', '--config', join(dir, 'missing.toml'));
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('file not found');
  });

  it('exits 64 for a usage error', async () => {
    const r = await runCli('check-config', '--frobnicate');
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("unknown option '--frobnicate'");
  });
});
