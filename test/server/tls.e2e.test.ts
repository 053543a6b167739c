/** TLS ([server.tls], ConnectOptions.tls, --tls-*): the daemon, the SDK and the CLI over real TLS on 127.0.0.1. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ConnectOptions, LeaseholdClient } from '../../src/client/client.js';
import { ServerUnavailableError } from '../../src/client/errors.js';
import type { TlsClientOptions } from '../../src/client/transport.js';
import { loadConfigFile } from '../../src/config/load.js';
import { Daemon } from '../../src/server/daemon.js';
import { createLogger } from '../../src/server/logger.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { onCleanup } from '../helpers/cleanup.js';
import { runCli } from '../helpers/cli.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

let certs: TestCerts;
beforeAll(async () => {
  certs = await makeTestCerts();
});
afterAll(() => certs?.remove());

/** [server.tls] lines for startTestDaemon (its [server] listen stays: plain TCP beside TLS). */
function tlsTable(extra: string[] = []): string {
  return [
    '[server.tls]',
    'listen = "127.0.0.1:0"',
    `cert = ${JSON.stringify(certs.server.cert)}`,
    `key = ${JSON.stringify(certs.server.key)}`,
    ...extra,
  ].join('\n');
}

function mutualTls(): string {
  return tlsTable([`client_ca = ${JSON.stringify(certs.ca)}`, 'require_client_cert = true']);
}

function tlsAddress(t: TestDaemon): string {
  const a = t.daemon.tlsAddresses[0]!;
  return `${a.host}:${a.port}`;
}

async function connect(
  address: string,
  tls: TlsClientOptions | undefined,
  extra: Partial<ConnectOptions> = {},
): Promise<LeaseholdClient> {
  const c = await LeaseholdClient.connect({
    servers: [address],
    user: 'alice',
    host: 'ws-1',
    connectTimeoutMs: 3000,
    ...(tls ? { tls } : {}),
    ...extra,
  });
  onCleanup(() => c.close());
  return c;
}

/** The error LeaseholdClient.connect fails with (the test fails if it connects). */
async function refusal(address: string, tls: TlsClientOptions | undefined): Promise<Error> {
  const err = await connect(address, tls).then(
    () => new Error('connected, but should have been refused'),
    (e: unknown) => e as Error,
  );
  expect(err).toBeInstanceOf(ServerUnavailableError);
  return err;
}

describe('TLS listener and SDK', () => {
  it('checks out and releases over TLS with the CA, and logs the TLS listener', async () => {
    const t = await startTestDaemon({ server: tlsTable() });
    const address = tlsAddress(t);
    const client = await connect(address, { ca: certs.read(certs.ca) });
    const lease = await client.checkout('cad');
    expect(lease.valid).toBe(true);
    expect((await client.status('cad')).features[0]).toMatchObject({ inUse: 1, free: 0 });
    await lease.release();
    expect((await client.status('cad')).features[0]).toMatchObject({ inUse: 0, free: 1 });
    expect(t.logs.find((l) => l.msg === 'listening' && l.tls === true)).toMatchObject({ address });
  });

  it('verifies the host name: localhost (SNI) works, a name not in the certificate is refused', async () => {
    const t = await startTestDaemon({ server: tlsTable() });
    const port = t.daemon.tlsAddresses[0]!.port;
    const ca = certs.read(certs.ca);
    const byName = await connect(`localhost:${port}`, { ca });
    expect((await byName.status()).features).toHaveLength(1);
    const err = await refusal(tlsAddress(t), { ca, servername: 'license.example.com' });
    expect(err.message).toMatch(
      /TLS handshake failed: .*is not in the cert's altnames.*ERR_TLS_CERT_ALTNAME_INVALID/,
    );
  });

  it('refuses a server certificate the client does not trust, and says why', async () => {
    const t = await startTestDaemon({ server: tlsTable() });
    const address = tlsAddress(t);
    const untrusted =
      /TLS handshake failed: (unable to verify the first certificate|unable to get local issuer certificate|self[- ]signed certificate in certificate chain)/;
    // The system's CAs do not know the test CA.
    expect((await refusal(address, {})).message).toMatch(untrusted);
    expect((await refusal(address, { ca: certs.read(certs.otherCa) })).message).toMatch(untrusted);
    expect((await refusal(address, { ca: certs.read(certs.otherCa) })).message).toContain(address);
  });

  it('an unusable client certificate or key throws a TypeError before connecting', async () => {
    const servers = ['127.0.0.1:1'];
    const mismatched = { cert: certs.read(certs.client.cert), key: certs.read(certs.otherClient.key) };
    await expect(LeaseholdClient.connect({ servers, tls: mismatched })).rejects.toThrow(
      /^ConnectOptions\.tls: the CA or client certificate is not usable: key values mismatch/,
    );
    await expect(
      LeaseholdClient.connect({ servers, tls: { cert: certs.read(certs.client.cert) } }),
    ).rejects.toThrow(TypeError);
  });

  it('rejectUnauthorized: false connects without verifying the server certificate', async () => {
    const t = await startTestDaemon({ server: tlsTable() });
    const client = await connect(tlsAddress(t), { rejectUnauthorized: false });
    expect((await client.status()).features).toHaveLength(1);
  });
});

describe('mutual TLS', () => {
  it('require_client_cert: no client certificate is refused with the reason; the signed one works and its CN is logged', async () => {
    const t = await startTestDaemon({ server: mutualTls() });
    const address = tlsAddress(t);
    const ca = certs.read(certs.ca);
    const noCert = await refusal(address, { ca });
    expect(noCert.message).toMatch(
      /The connection to the server was lost: TLS: tlsv13 alert certificate required \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\)/,
    );
    await t.waitForLog((l) => l.msg === 'tls handshake failed', 3000);

    const client = await connect(address, {
      ca,
      cert: certs.read(certs.client.cert),
      key: certs.read(certs.client.key),
    });
    const lease = await client.checkout('cad');
    expect(lease.valid).toBe(true);
    const accepted = await t.waitForLog((l) => l.msg === 'connection accepted' && l.clientCert === 'alice');
    expect(accepted).toMatchObject({ tls: true, clientCert: 'alice' });
  });

  it('require_client_cert: a client certificate from another CA is refused, and the server logs why', async () => {
    const t = await startTestDaemon({ server: mutualTls() });
    await refusal(tlsAddress(t), {
      ca: certs.read(certs.ca),
      cert: certs.read(certs.otherClient.cert),
      key: certs.read(certs.otherClient.key),
    });
    // node:tls closes such a connection without a TLS alert: the client only sees it close.
    const failed = await t.waitForLog((l) => l.msg === 'tls handshake failed', 3000);
    expect(failed.err).toMatch(/^client certificate refused: [A-Z_]+$/);
    expect(t.logs.some((l) => l.msg === 'connection accepted')).toBe(false);
  });

  it('client_ca without require_client_cert: clients without a certificate get in; a bad certificate is logged and ignored', async () => {
    const t = await startTestDaemon({ server: tlsTable([`client_ca = ${JSON.stringify(certs.ca)}`]) });
    const address = tlsAddress(t);
    const ca = certs.read(certs.ca);
    const anonymous = await connect(address, { ca });
    expect((await anonymous.status()).features).toHaveLength(1);
    const other = await connect(address, {
      ca,
      cert: certs.read(certs.otherClient.cert),
      key: certs.read(certs.otherClient.key),
    });
    expect((await other.status()).features).toHaveLength(1);
    const warned = await t.waitForLog((l) => l.msg.startsWith('connection accepted; its client certificate'));
    expect(warned).toMatchObject({ tls: true });
    expect(t.logs.some((l) => l.clientCert === 'mallory')).toBe(false);
    const alice = await connect(address, {
      ca,
      cert: certs.read(certs.client.cert),
      key: certs.read(certs.client.key),
    });
    expect((await alice.status()).features).toHaveLength(1);
    await t.waitForLog((l) => l.msg === 'connection accepted' && l.clientCert === 'alice');
  });
});

describe('plain TCP and TLS side by side', () => {
  it('one daemon serves both; a lease taken over one is seen over the other', async () => {
    const t = await startTestDaemon({ server: tlsTable() });
    const plain = await connect(t.address, undefined, { user: 'bob' });
    const secure = await connect(tlsAddress(t), { ca: certs.read(certs.ca) });
    const lease = await plain.checkout('cad');
    await expect(secure.checkout('cad')).rejects.toMatchObject({ code: 'NO_SEATS' });
    expect((await secure.status('cad')).features[0]!.leases[0]).toMatchObject({ id: lease.id, user: 'bob' });
    await lease.release();
    expect((await secure.checkout('cad')).valid).toBe(true);
    expect(t.logs.filter((l) => l.msg === 'listening').map((l) => l.tls === true)).toEqual([false, true]);
  });

  it('a TLS client on the plain port fails with a hint; a plain client on the TLS port is refused', async () => {
    const t = await startTestDaemon({ server: tlsTable() });
    const wrongPort = await refusal(t.address, { ca: certs.read(certs.ca) });
    expect(wrongPort.message).toMatch(
      /TLS handshake failed: .*is the server listening with TLS on this port\?/,
    );
    await refusal(tlsAddress(t), undefined);
    await t.waitForLog((l) => l.msg === 'tls handshake failed', 3000);
  });

  it('a TLS-only daemon: [server] listen = [] with [server.tls]', async () => {
    const t = await startTestDaemon({ listen: '[]', server: tlsTable() });
    expect(t.daemon.tlsAddresses).toHaveLength(1);
    expect(t.logs.filter((l) => l.msg === 'listening')).toHaveLength(1);
    const client = await connect(tlsAddress(t), { ca: certs.read(certs.ca) });
    expect((await client.status()).features).toHaveLength(1);
  });
});

describe('CLI over TLS', () => {
  it('status --server HOST:PORT --tls-ca FILE --json', async () => {
    const t = await startTestDaemon({ server: tlsTable() });
    const r = await runCli('status', '--server', tlsAddress(t), '--tls-ca', certs.ca, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ features: [{ name: 'cad', seats: 1, free: 1 }] });
  });

  it('mutual TLS with --tls-cert and --tls-key from the environment', async () => {
    const t = await startTestDaemon({ server: mutualTls() });
    vi.stubEnv('LEASEHOLD_TLS_CA', certs.ca);
    vi.stubEnv('LEASEHOLD_TLS_CERT', certs.client.cert);
    vi.stubEnv('LEASEHOLD_TLS_KEY', certs.client.key);
    onCleanup(() => vi.unstubAllEnvs());
    const r = await runCli('status', '--server', tlsAddress(t), '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('without the CA the command exits 69 and prints the TLS reason', async () => {
    const t = await startTestDaemon({ server: tlsTable() });
    const r = await runCli('status', '--server', tlsAddress(t), '--tls-ca', certs.otherCa);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/SERVER_UNAVAILABLE: .*TLS handshake failed: /);
  });

  it('an unreadable --tls-ca file is a usage error (64) naming the file', async () => {
    const missing = `${certs.dir}/no-such-ca.pem`;
    const r = await runCli('status', '--server', '127.0.0.1:1', '--tls-ca', missing);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(`--tls-ca: cannot read ${missing}: file not found`);
  });

  it('a --tls-key that is not the --tls-cert key is a usage error (64)', async () => {
    const r = await runCli(
      'status',
      '--server',
      '127.0.0.1:1',
      '--tls-cert',
      certs.client.cert,
      '--tls-key',
      certs.otherClient.key,
    );
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('key values mismatch');
  });

  it('--tls-cert without --tls-key is a usage error (64)', async () => {
    const r = await runCli('status', '--server', '127.0.0.1:1', '--tls-cert', certs.client.cert);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('--tls-cert needs --tls-key');
  });
});

describe('reload', () => {
  it('a changed [server.tls] is reported as taking effect at the next restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-tls-reload-'));
    onCleanup(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'leasehold.toml');
    const config = (extra: string) =>
      `[server]\nlisten = "127.0.0.1:0"\nstate_dir = "state"\n${tlsTable([extra])}\n[features.cad]\nseats = 1\n`;
    writeFileSync(file, config(''));
    const warnings: Array<{ msg: string; keys?: string[] }> = [];
    const logger = createLogger('warn', {
      write: (line: string) => {
        warnings.push(JSON.parse(line) as { msg: string; keys?: string[] });
      },
    });
    const daemon = await Daemon.start(loadConfigFile(file), { logger, configPath: file });
    onCleanup(() => daemon.close());
    writeFileSync(file, config(`client_ca = ${JSON.stringify(certs.ca)}`));
    daemon.reload();
    expect(warnings.find((l) => l.msg.startsWith('reload: '))).toMatchObject({ keys: ['tls'] });
  });
});
