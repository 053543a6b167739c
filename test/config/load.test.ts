import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/config/duration.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import { configProblems } from '../helpers/config.js';

const problems = configProblems;

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['400d', 34_560_000_000],
    ['1h30m', 5_400_000],
    ['0s', 0],
  ])('%s is %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each(['', '5', 's', '1.5s', '-1s', '30 s', '1m1h', '1s1s', '5sec', '99999999999999999d'])(
    '%j is refused',
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );
  it('formats what it parses', () => {
    for (const ms of [1, 999, 1000, 90_000, 5_400_000, 86_400_001]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });
});

describe('parseConfig', () => {
  it('applies the defaults to an empty file', () => {
    const config = parseConfig('', 'config.toml', '/srv/leasehold');
    expect(config.server).toMatchObject({
      listen: [{ host: '127.0.0.1', port: 27000 }],
      stateDir: '/srv/leasehold/var',
      heartbeatIntervalMs: 5000,
      leaseTtlMs: 15000,
      handshakeTimeoutMs: 5000,
      maxFrameBytes: 65536,
      logLevel: 'info',
    });
    expect(config.features).toEqual([]);
  });

  it('reads features and several listen addresses', () => {
    const config = parseConfig(
      `[server]
listen = ["127.0.0.1:0", "[::1]:27001"]
lease_ttl = "300ms"
heartbeat_interval = "100ms"
[features.cad]
seats = 2
idle_timeout = "30m"
[features."analytics.pro"]
seats = 1
model = "concurrent"
`,
    );
    expect(config.server.listen).toEqual([
      { host: '127.0.0.1', port: 0 },
      { host: '::1', port: 27001 },
    ]);
    expect(config.features).toEqual([
      { name: 'cad', seats: 2, model: 'concurrent', idleTimeoutMs: 1_800_000 },
      { name: 'analytics.pro', seats: 1, model: 'concurrent' },
    ]);
  });

  it.each([
    ['[features.cad]\nseats = -3', 'features.cad.seats: must be a whole number ≥ 1, got -3'],
    ['[features.cad]\nseats = 2.5', 'features.cad.seats: must be a whole number ≥ 1, got 2.5'],
    ['[features.cad]\nseats = "10"', 'features.cad.seats: must be a whole number ≥ 1, got "10"'],
    ['[features.cad]\nmodel = "concurrent"', 'features.cad.seats: is required'],
    [
      '[features.cad]\nseats = 1\nmodel = "floating"',
      'features.cad.model: must be one of "concurrent", "named", "mixed", got "floating"',
    ],
    [
      '[features.cad]\nseats = 1\nidle_timeout = "soon"',
      'features.cad.idle_timeout: must be a duration like',
    ],
    ['[features.cad]\nseats = 1\nidle_timeout = "10ms"', 'features.cad.idle_timeout: must be at least 1s'],
    ['[features.cad]\nseats = 1\nsaets = 2', 'features.cad.saets: unknown key'],
    ['[features."bad name"]\nseats = 1', 'features.bad name: a feature name is'],
    [
      '[server]\nlease_ttl = "1s"\nheartbeat_interval = "1s"',
      'server.lease_ttl: must be at least twice server.heartbeat_interval',
    ],
    ['[server]\nlisten = "localhost"', 'server.listen: must be "host:port"'],
    ['[server]\nlisten = "127.0.0.1:70000"', 'server.listen: must be "host:port"'],
    ['[server]\nlisten = []', 'server.listen: must name at least one host:port'],
    ['[server]\nmax_frame_bytes = 10', 'server.max_frame_bytes: must be a whole number ≥ 1024, got 10'],
    [
      '[server]\nmax_frame_bytes = 99999999',
      'server.max_frame_bytes: must be at most 16777216, got 99999999',
    ],
    ['[server]\nlog_level = "loud"', 'server.log_level: must be one of'],
    ['[server]\nlisten_on = "x"', 'server.listen_on: unknown key'],
    ['[sever]\nlisten = "127.0.0.1:1"', 'sever: unknown key'],
    ['server = 3', 'server: must be a table'],
    ['[features]\ncad = 3', 'features.cad: must be a table'],
  ])('%j → %s', (text, expected) => {
    const found = problems(text);
    expect(
      found.some((p) => p.startsWith(expected)),
      found.join('\n'),
    ).toBe(true);
  });

  it('reports every problem at once, each with the file name', () => {
    try {
      parseConfig('[server]\nlease_ttl = "x"\n[features.cad]\nseats = 0\n', 'site.toml');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const e = err as ConfigError;
      expect(e.problems).toHaveLength(2);
      expect(e.message.split('\n').every((line) => line.startsWith('site.toml: '))).toBe(true);
    }
  });

  it('names the line of a TOML syntax error', () => {
    expect(problems('[server]\nlisten = \n')[0]).toMatch(/^line 2, column \d+: not valid TOML/);
  });
});

describe('loadConfigFile', () => {
  it('says when the file is missing', () => {
    expect(() => loadConfigFile('/nonexistent/leasehold.toml')).toThrow(
      '/nonexistent/leasehold.toml: cannot read the file: file not found',
    );
  });

  it('resolves state_dir against the file folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-config-'));
    const file = join(dir, 'leasehold.toml');
    writeFileSync(file, '[server]\nstate_dir = "state"\n');
    expect(loadConfigFile(file).server.stateDir).toBe(join(dir, 'state'));
  });

  it('accepts config.example.toml as shipped', () => {
    const config = loadConfigFile(new URL('../../config.example.toml', import.meta.url).pathname);
    expect(config.features.map((f) => f.name)).toEqual(['cad', 'simulate', 'analytics']);
    expect(config.directory.users.map((u) => u.name)).toEqual(['alice', 'bob', 'carol', 'dave']);
  });
});
