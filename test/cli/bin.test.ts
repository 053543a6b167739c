import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/cli/version.js';
import { runBin } from '../helpers/cli.js';

describe('bin/leasehold as a process', () => {
  it('prints the version from package.json', async () => {
    const r = await runBin(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it('prints help with the commands and the exit codes', async () => {
    const r = await runBin(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('check-config');
    expect(r.stdout).toContain('75 denied / no seat');
  });

  it('exits 64 on an unknown command', async () => {
    const r = await runBin(['frobnicate']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });
});
