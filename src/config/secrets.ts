/**
 * Secrets in the config file (issue 6): a token is given inline, as `env:VAR` (read from the
 * daemon's environment) or as `file:PATH` (the file's content, surrounding white space trimmed;
 * relative to the config file's folder). The daemon keeps only the sha256 of each token.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

/** Shortest token accepted: guessing must be out of the question. */
export const MIN_TOKEN_LENGTH = 16;

/** The form in which tokens are kept and compared: sha256 of the UTF-8 text, lowercase hex. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new personal token: 32 random bytes, base64url, with a prefix that says what it is. */
export function newToken(): string {
  return `lh_${randomBytes(32).toString('base64url')}`;
}

/**
 * Resolves a secret reference; returns the secret, or a string describing what is wrong as
 * `{ problem }` (the caller names the key).
 */
export function resolveSecret(
  value: string,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
): { secret: string } | { problem: string } {
  let secret: string;
  if (value.startsWith('env:')) {
    const name = value.slice(4);
    const found = env[name];
    if (found === undefined || found === '') {
      return { problem: `names environment variable ${name}, which is not set (or empty)` };
    }
    secret = found.trim();
  } else if (value.startsWith('file:')) {
    const path = value.slice(5);
    const full = isAbsolute(path) ? path : resolve(baseDir, path);
    try {
      secret = readFileSync(full, 'utf8').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return {
        problem: `cannot read ${full}: ${code === 'ENOENT' ? 'file not found' : (err as Error).message}`,
      };
    }
  } else {
    secret = value;
  }
  if (secret.length < MIN_TOKEN_LENGTH) {
    return {
      problem: `a token must be at least ${MIN_TOKEN_LENGTH} characters (generate one with \`openssl rand -hex 24\`)`,
    };
  }
  return { secret };
}
