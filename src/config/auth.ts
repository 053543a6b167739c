/**
 * [auth] and [admins.NAME] (issue 6): who may connect, how a client's identity is decided, and
 * the admin credentials with their roles. Tokens are resolved (secrets.ts) and kept only as hashes.
 *
 *   [auth]
 *   identity = "claimed"        # "claimed" (the client says who it is) | "token" (a personal token says)
 *   tokens = ["env:LH_TOKEN"]   # shared client tokens; none = any client may connect (claimed mode)
 *   max_failures = 5            # failed handshakes from one address within failure_window ...
 *   failure_window = "1m"       # ... before that address is refused for the rest of the window
 *
 *   [admins.alice]
 *   token = "file:/etc/leasehold/alice.token"
 *   role = "admin"              # admin | manager | viewer
 */
import { isUserName } from '../protocol/names.js';
import type { ConfigReader } from './reader.js';
import { hashToken, resolveSecret } from './secrets.js';

export type Role = 'admin' | 'manager' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'manager', 'viewer'];

export interface AdminCredential {
  readonly name: string;
  readonly role: Role;
  /** sha256 of the token, lowercase hex. */
  readonly tokenHash: string;
}

export interface AuthConfig {
  /** "claimed": hello.user is the identity; "token": only a personal token's user is. */
  readonly identity: 'claimed' | 'token';
  /** Hashes of the shared client tokens ([auth] tokens). */
  readonly clientTokenHashes: readonly string[];
  readonly admins: readonly AdminCredential[];
  readonly maxFailures: number;
  readonly failureWindowMs: number;
}

export const AUTH_DEFAULTS = { identity: 'claimed', maxFailures: 5, failureWindow: '1m' } as const;

/** A secret-valued key: resolved, checked, hashed; undefined (with a problem) when it cannot be. */
export function readTokenHash(r: ConfigReader, key: string, baseDir: string): string | undefined {
  const value = r.string(key, '');
  if (value === '') return undefined;
  const got = resolveSecret(value, baseDir);
  if ('problem' in got) {
    r.problem(key, got.problem);
    return undefined;
  }
  return hashToken(got.secret);
}

export function readAuth(top: ConfigReader, baseDir: string): AuthConfig {
  const r = top.child('auth');
  r?.allowOnly(['identity', 'tokens', 'max_failures', 'failure_window']);
  const clientTokenHashes: string[] = [];
  if (r) {
    const refs = r.stringList('tokens', (s) => s.length > 0, 'tokens (inline, "env:VAR" or "file:PATH")');
    for (const ref of refs) {
      const got = resolveSecret(ref, baseDir);
      if ('problem' in got) r.problem('tokens', got.problem);
      else clientTokenHashes.push(hashToken(got.secret));
    }
  }
  const admins: AdminCredential[] = [];
  const a = top.child('admins');
  for (const name of a?.keys() ?? []) {
    if (!isUserName(name)) {
      a!.problem(name, 'an admin name is 1..128 bytes without control characters');
      continue;
    }
    const ar = a!.child(name);
    if (!ar) continue;
    ar.allowOnly(['token', 'role']);
    if (!ar.has('token')) ar.problem('token', 'is required: the credential this admin presents');
    if (!ar.has('role')) ar.problem('role', `is required: one of ${ROLES.map((x) => `"${x}"`).join(', ')}`);
    const role = ar.oneOf('role', 'viewer', ROLES);
    const tokenHash = readTokenHash(ar, 'token', baseDir);
    if (tokenHash !== undefined) admins.push({ name, role, tokenHash });
  }
  const seen = new Set<string>();
  for (const hash of [...clientTokenHashes, ...admins.map((x) => x.tokenHash)]) {
    if (seen.has(hash)) {
      (r ?? top).problem(
        r ? 'tokens' : 'admins',
        'the same token is given twice: every credential must be distinct',
      );
      break;
    }
    seen.add(hash);
  }
  const identity = r ? r.oneOf('identity', AUTH_DEFAULTS.identity, ['claimed', 'token'] as const) : 'claimed';
  if (identity === 'token' && clientTokenHashes.length > 0) {
    r?.problem(
      'tokens',
      'shared client tokens are not used with identity = "token": every user presents a personal token',
    );
  }
  return {
    identity,
    clientTokenHashes,
    admins,
    maxFailures: r
      ? r.integer('max_failures', AUTH_DEFAULTS.maxFailures, 1, 1_000_000)
      : AUTH_DEFAULTS.maxFailures,
    failureWindowMs: r ? r.duration('failure_window', AUTH_DEFAULTS.failureWindow, 1000) : 60_000,
  };
}

/** No credentials at all: any client may connect; admin only on the local socket. */
export const OPEN_AUTH: AuthConfig = {
  identity: 'claimed',
  clientTokenHashes: [],
  admins: [],
  maxFailures: AUTH_DEFAULTS.maxFailures,
  failureWindowMs: 60_000,
};
