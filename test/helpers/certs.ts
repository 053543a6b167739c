/**
 * Test certificates made with the openssl command (node:crypto cannot sign X.509): a CA, a server
 * certificate for 127.0.0.1 and localhost, a client certificate (CN alice) signed by the CA, and a
 * second, unrelated CA with a client certificate of its own (CN mallory). EC P-256 keys, so a set
 * takes a fraction of a second; make one per test file (beforeAll) and remove it afterwards.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const OPENSSL = '/usr/bin/openssl';

export interface CertPair {
  /** Paths of the PEM files. */
  cert: string;
  key: string;
}

export interface TestCerts {
  dir: string;
  ca: string;
  server: CertPair;
  /** Signed by `ca`, CN alice. */
  client: CertPair;
  /** A CA that signed neither the server's nor alice's certificate. */
  otherCa: string;
  /** Signed by `otherCa`, CN mallory. */
  otherClient: CertPair;
  /** The contents of a PEM file. */
  read(path: string): Buffer;
  remove(): Promise<void>;
}

export async function makeTestCerts(): Promise<TestCerts> {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-certs-'));
  const path = (name: string) => join(dir, name);
  const ca = await makeCa(path('ca'), 'Leasehold Test CA');
  const otherCa = await makeCa(path('other-ca'), 'Unrelated Test CA');
  const server = await makeLeaf(path('server'), 'localhost', ca, [
    'subjectAltName = IP:127.0.0.1, DNS:localhost',
    'extendedKeyUsage = serverAuth',
  ]);
  const client = await makeLeaf(path('client'), 'alice', ca, ['extendedKeyUsage = clientAuth']);
  const otherClient = await makeLeaf(path('other-client'), 'mallory', otherCa, [
    'extendedKeyUsage = clientAuth',
  ]);
  return {
    dir,
    ca: ca.cert,
    server,
    client,
    otherCa: otherCa.cert,
    otherClient,
    read: (p) => readFileSync(p),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(base: string, cn: string): Promise<CertPair> {
  const pair = { cert: `${base}.pem`, key: `${base}.key` };
  await run(OPENSSL, [
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    pair.key,
    '-out',
    pair.cert,
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints = critical, CA:TRUE',
    '-addext',
    'keyUsage = critical, keyCertSign, cRLSign',
  ]);
  return pair;
}

async function makeLeaf(base: string, cn: string, ca: CertPair, extensions: string[]): Promise<CertPair> {
  const pair = { cert: `${base}.pem`, key: `${base}.key` };
  const csr = `${base}.csr`;
  const ext = `${base}.ext`;
  writeFileSync(ext, `${['basicConstraints = CA:FALSE', ...extensions].join('\n')}\n`);
  await run(OPENSSL, ['req', '-new', ...EC_KEY, '-keyout', pair.key, '-out', csr, '-subj', `/CN=${cn}`]);
  await run(OPENSSL, [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    String(Math.floor(Math.random() * 2 ** 48)),
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    pair.cert,
  ]);
  return pair;
}
