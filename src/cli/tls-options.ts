/**
 * The TLS connection options of every client command: --tls (the system's CAs), --tls-ca FILE,
 * --tls-cert FILE and --tls-key FILE (env LEASEHOLD_TLS_CA, LEASEHOLD_TLS_CERT, LEASEHOLD_TLS_KEY).
 * --tls-ca or --tls-cert imply --tls. The files are read when the command connects; one that cannot
 * be read is a usage error (exit 64) naming the option and the file.
 */
import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { type TlsClientOptions, tlsTransport } from '../client/transport.js';

export interface TlsFlags {
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** A TLS option the command cannot use (an unreadable file, a key without a certificate): exit 64. */
export class TlsOptionError extends Error {
  override name = 'TlsOptionError';
}

export function addTlsOptions(command: Command): Command {
  return command
    .addOption(new Option('--tls', "connect with TLS, trusting the system's CAs"))
    .addOption(
      new Option('--tls-ca <file>', 'connect with TLS, trusting the CA certificate(s) in this PEM file').env(
        'LEASEHOLD_TLS_CA',
      ),
    )
    .addOption(
      new Option('--tls-cert <file>', 'client certificate (PEM) for a server that requires one').env(
        'LEASEHOLD_TLS_CERT',
      ),
    )
    .addOption(
      new Option('--tls-key <file>', 'private key (PEM) of the --tls-cert certificate').env(
        'LEASEHOLD_TLS_KEY',
      ),
    );
}

/** The SDK's `tls` option for these flags, the files read now; undefined when TLS is not asked for. */
export function tlsConnectOptions(flags: TlsFlags): TlsClientOptions | undefined {
  if (flags.tlsKey !== undefined && flags.tlsCert === undefined) {
    throw new TlsOptionError(
      '--tls-key needs --tls-cert (or LEASEHOLD_TLS_CERT): the certificate of the key',
    );
  }
  if (flags.tlsCert !== undefined && flags.tlsKey === undefined) {
    throw new TlsOptionError(
      '--tls-cert needs --tls-key (or LEASEHOLD_TLS_KEY): the private key of the certificate',
    );
  }
  if (!flags.tls && flags.tlsCa === undefined && flags.tlsCert === undefined) return undefined;
  const options: TlsClientOptions = {};
  if (flags.tlsCa !== undefined) options.ca = readPem('--tls-ca', flags.tlsCa);
  if (flags.tlsCert !== undefined) options.cert = readPem('--tls-cert', flags.tlsCert);
  if (flags.tlsKey !== undefined) options.key = readPem('--tls-key', flags.tlsKey);
  try {
    tlsTransport(options); // parses the PEM files as the SDK will
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    const files = [flags.tlsCa, flags.tlsCert, flags.tlsKey].filter((f) => f !== undefined).join(', ');
    throw new TlsOptionError(`${err.message.replace(/^ConnectOptions\.tls: /, '')} (${files})`, {
      cause: err,
    });
  }
  return options;
}

function readPem(option: string, path: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new TlsOptionError(`${option}: cannot read ${path}: ${reason}`, { cause: err });
  }
  if (!data.includes('-----BEGIN ')) {
    throw new TlsOptionError(`${option}: ${path} is not a PEM file (no "-----BEGIN" line)`);
  }
  return data;
}
