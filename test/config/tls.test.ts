/** [server.tls]: parsing, paths, and the problems reported as `file: key: what is wrong`. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { configProblems } from '../helpers/config.js';

let certs: TestCerts;
beforeAll(async () => {
  certs = await makeTestCerts();
});
afterAll(() => certs?.remove());

const q = (s: string) => JSON.stringify(s);

/** A [server.tls] table with the test server certificate; `lines` replace or add keys. */
function tlsConfig(lines: Record<string, string> = {}, server = ''): string {
  const keys: Record<string, string> = {
    listen: q('127.0.0.1:0'),
    cert: q(certs.server.cert),
    key: q(certs.server.key),
    ...lines,
  };
  const body = Object.entries(keys)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k} = ${v}`);
  return `[server]\n${server}\n[server.tls]\n${body.join('\n')}\n`;
}

function expectProblem(text: string, expected: string): void {
  const found = configProblems(text);
  expect(
    found.some((p) => p.startsWith(expected)),
    found.join('\n'),
  ).toBe(true);
}

describe('[server.tls]', () => {
  it('is absent by default', () => {
    expect(parseConfig('', 'config.toml').server.tls).toBeUndefined();
  });

  it('reads listen, the files and the client CA; require_client_cert defaults to false', () => {
    const config = parseConfig(
      tlsConfig({ listen: '["127.0.0.1:27443", "[::1]:27443"]', client_ca: q(certs.ca) }),
      'config.toml',
    );
    expect(config.server.listen).toEqual([{ host: '127.0.0.1', port: 27000 }]);
    expect(config.server.tls).toEqual({
      listen: [
        { host: '127.0.0.1', port: 27443 },
        { host: '::1', port: 27443 },
      ],
      cert: certs.server.cert,
      key: certs.server.key,
      clientCa: certs.ca,
      requireClientCert: false,
    });
    const strict = parseConfig(
      tlsConfig({ client_ca: q(certs.ca), require_client_cert: 'true' }),
      'config.toml',
    );
    expect(strict.server.tls?.requireClientCert).toBe(true);
  });

  it('resolves relative paths against the config file folder, as state_dir', () => {
    const file = join(certs.dir, 'leasehold.toml');
    writeFileSync(
      file,
      '[server.tls]\nlisten = "127.0.0.1:0"\ncert = "server.pem"\nkey = "./server.key"\nclient_ca = "ca.pem"\n',
    );
    const tls = loadConfigFile(file).server.tls;
    expect(tls).toMatchObject({ cert: certs.server.cert, key: certs.server.key, clientCa: certs.ca });
  });

  it('allows [server] listen = [] when [server.tls] listens (TLS only)', () => {
    const config = parseConfig(tlsConfig({}, 'listen = []'), 'config.toml');
    expect(config.server.listen).toEqual([]);
    expect(config.server.tls?.listen).toEqual([{ host: '127.0.0.1', port: 0 }]);
  });

  it('keeps [server] listen = [] an error without [server.tls]: no listener at all', () => {
    expectProblem('[server]\nlisten = []', 'server.listen: must name at least one host:port');
  });

  it('a missing cert file names the key and the path', () => {
    const missing = join(certs.dir, 'nope.pem');
    expectProblem(tlsConfig({ cert: q(missing) }), `server.tls.cert: cannot read ${missing}: file not found`);
  });

  it('require_client_cert without client_ca is an error', () => {
    expectProblem(
      tlsConfig({ require_client_cert: 'true' }),
      'server.tls.require_client_cert: needs client_ca',
    );
  });

  it('unknown keys are errors', () => {
    expectProblem(
      tlsConfig({ ciphers: q('HIGH') }),
      'server.tls.ciphers: unknown key (known keys here: listen,',
    );
  });

  it.each([
    ['listen', { listen: '' }, 'server.tls.listen: is required'],
    ['an empty listen', { listen: '[]' }, 'server.tls.listen: must name at least one host:port'],
    ['a bad listen', { listen: q('localhost') }, 'server.tls.listen: must be "host:port"'],
    ['cert', { cert: '' }, 'server.tls.cert: is required'],
    ['key', { key: '' }, 'server.tls.key: is required'],
    [
      'a non-boolean',
      { require_client_cert: q('yes') },
      'server.tls.require_client_cert: must be true or false',
    ],
  ])('%s → a problem', (_what, lines, expected) => {
    expectProblem(tlsConfig(lines), expected);
  });

  it('files that are not PEM certificates or keys, and a key of another certificate, are errors', () => {
    expectProblem(
      tlsConfig({ cert: q(certs.server.key) }),
      `server.tls.cert: ${certs.server.key} is not a PEM certificate`,
    );
    expectProblem(
      tlsConfig({ key: q(certs.server.cert) }),
      `server.tls.key: ${certs.server.cert} is not a PEM private key`,
    );
    expectProblem(
      tlsConfig({ client_ca: q(certs.client.key) }),
      `server.tls.client_ca: ${certs.client.key} is not a PEM certificate`,
    );
    expectProblem(
      tlsConfig({ key: q(certs.client.key) }),
      `server.tls.key: ${certs.client.key} is not the private key of the certificate in ${certs.server.cert}`,
    );
  });

  it('[server.tls] must be a table', () => {
    expectProblem('[server]\ntls = true', 'server.tls: must be a table');
  });
});
