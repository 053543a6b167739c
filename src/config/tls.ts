/**
 * [server.tls] (DESIGN §5): the TLS listeners, the server's certificate and key, and optionally a
 * CA that client certificates are verified against. Paths are resolved like state_dir (relative to
 * the config file's folder) and each file is read here, so a missing or wrong file is a config
 * error naming the key and the path rather than a failure when the daemon starts listening.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { ConfigReader } from './reader.js';
import type { TlsServerConfig } from './types.js';

const TLS_KEYS = ['listen', 'cert', 'key', 'client_ca', 'require_client_cert'] as const;

const CERTIFICATE_PEM = /-----BEGIN CERTIFICATE-----/;
const PRIVATE_KEY_PEM = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

/** Reads `[server.tls]` from the [server] reader; undefined when the table is absent. */
export function readServerTls(server: ConfigReader, baseDir: string): TlsServerConfig | undefined {
  const r = server.child('tls');
  if (!r) return undefined;
  r.allowOnly(TLS_KEYS);
  let listen: TlsServerConfig['listen'] = [];
  if (r.has('listen')) listen = r.endpoints('listen', '');
  else r.problem('listen', 'is required: the TLS listeners, "host:port" or a list of them');

  const certPath = requiredPath(r, 'cert', baseDir);
  const keyPath = requiredPath(r, 'key', baseDir);
  const caPath = r.has('client_ca') ? requiredPath(r, 'client_ca', baseDir) : undefined;
  const requireClientCert = r.boolean('require_client_cert', false);
  if (requireClientCert && !r.has('client_ca')) {
    r.problem('require_client_cert', 'needs client_ca: the CA that client certificates are verified against');
  }

  const cert = certPath === undefined ? undefined : readCertificate(r, 'cert', certPath);
  const key = keyPath === undefined ? undefined : readPrivateKey(r, 'key', keyPath);
  if (caPath !== undefined) readCertificate(r, 'client_ca', caPath);
  if (cert && key && !cert.checkPrivateKey(key)) {
    r.problem('key', `${keyPath} is not the private key of the certificate in ${certPath}`);
  }

  const tls: TlsServerConfig = {
    listen,
    cert: certPath ?? '',
    key: keyPath ?? '',
    requireClientCert,
  };
  if (caPath !== undefined) tls.clientCa = caPath;
  return tls;
}

function requiredPath(r: ConfigReader, key: string, baseDir: string): string | undefined {
  if (!r.has(key)) {
    r.problem(key, 'is required: the path of a PEM file');
    return undefined;
  }
  const path = r.string(key, '');
  if (path === '') return undefined;
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

function readPem(r: ConfigReader, key: string, path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    r.problem(key, `cannot read ${path}: ${reason}`);
    return undefined;
  }
}

function readCertificate(r: ConfigReader, key: string, path: string): X509Certificate | undefined {
  const pem = readPem(r, key, path);
  if (pem === undefined) return undefined;
  if (!CERTIFICATE_PEM.test(pem)) {
    r.problem(key, `${path} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" line)`);
    return undefined;
  }
  try {
    return new X509Certificate(pem);
  } catch (err) {
    r.problem(key, `${path} holds no valid certificate: ${(err as Error).message}`);
    return undefined;
  }
}

function readPrivateKey(r: ConfigReader, key: string, path: string): KeyObject | undefined {
  const pem = readPem(r, key, path);
  if (pem === undefined) return undefined;
  if (!PRIVATE_KEY_PEM.test(pem)) {
    r.problem(key, `${path} is not a PEM private key (no "-----BEGIN PRIVATE KEY-----" line)`);
    return undefined;
  }
  try {
    return createPrivateKey(pem);
  } catch (err) {
    // An encrypted key needs a passphrase, which the daemon has no way to be given.
    r.problem(key, `${path} holds no usable private key: ${(err as Error).message}`);
    return undefined;
  }
}
