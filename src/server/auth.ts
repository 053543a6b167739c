/**
 * Authentication (issue 6; PROTOCOL.md §4 "Authentication"): turns a hello's token, and the way the
 * connection arrived, into a Principal — who the connection is and which admin role it has.
 *
 * - The local admin socket is full admin: its file mode (0600) is the credential.
 * - A token is compared, as its sha256, with every configured credential in constant time: the
 *   admin tokens ([admins.NAME]), the shared client tokens ([auth] tokens) and the users' personal
 *   tokens (issued by `users add --issue-token`, or `token` in [users.NAME]). A personal token makes
 *   its user the identity, whatever the hello claims.
 * - Client authentication is required when shared tokens are configured or identity = "token";
 *   a token that matches nothing is refused whenever the server has any credential at all.
 * - Failed attempts are counted per address; after `max_failures` within `failure_window`, that
 *   address is refused without a check until the window ends. Every failure is logged; nothing
 *   about the server is disclosed to a client that has not authenticated.
 */
import { timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { AuthConfig, Role } from '../config/auth.js';
import { hashToken } from '../config/secrets.js';
import type { Clock } from '../engine/clock.js';
import { AuthFailedError } from '../protocol/errors.js';
import type { Logger } from './logger.js';

/** Who a connection is, decided at the handshake. */
export interface Principal {
  /** For logs and for the `by` of a block: the admin's name, "admin-socket", or the user. */
  readonly name: string;
  /** The admin role, if any: admin ⊃ manager ⊃ viewer. */
  readonly role?: Role;
  /** Set when a personal token fixed the identity (identity mode "token", or any personal token). */
  readonly user?: string;
  /** How it authenticated, for logs. */
  readonly via: 'admin-socket' | 'admin-token' | 'client-token' | 'user-token' | 'none';
}

export interface AuthAttempt {
  readonly token: string | undefined;
  /** The peer's IP address (rate limiting). */
  readonly address: string;
  readonly peer: string;
  readonly viaAdminSocket: boolean;
  /** The personal-token lookup (the engine's directory). */
  readonly userByTokenHash: (hash: string) => string | undefined;
  /** Whether any user has a personal token. */
  readonly anyUserToken: boolean;
}

interface Failures {
  count: number;
  since: number;
  lockLogged: boolean;
}

/** Most addresses whose failures are remembered at once. */
const MAX_TRACKED_ADDRESSES = 10_000;

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Authenticator {
  #config: AuthConfig;
  readonly #failures = new LRUCache<string, Failures>({ max: MAX_TRACKED_ADDRESSES });

  constructor(
    config: AuthConfig,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.#config = config;
  }

  get config(): AuthConfig {
    return this.#config;
  }

  /** A reload: new credentials apply to the next handshakes. */
  update(config: AuthConfig): void {
    this.#config = config;
  }

  /** Throws AuthFailedError (the connection is then closed) or returns who the connection is. */
  authenticate(attempt: AuthAttempt): Principal {
    if (attempt.viaAdminSocket) return { name: 'admin-socket', role: 'admin', via: 'admin-socket' };
    const now = this.clock.now();
    const failures = this.#failures.get(attempt.address);
    if (failures && now - failures.since >= this.#config.failureWindowMs) {
      this.#failures.delete(attempt.address);
    } else if (failures && failures.count >= this.#config.maxFailures) {
      if (!failures.lockLogged) {
        failures.lockLogged = true;
        this.logger.warn(
          { peer: attempt.peer, address: attempt.address, failures: failures.count },
          'authentication: too many failures from this address; refusing it for the rest of the window',
        );
      }
      throw new AuthFailedError('Authentication failed: too many failed attempts; try again later.');
    }
    const principal = this.#check(attempt);
    if (typeof principal === 'string') {
      this.#fail(attempt, now, principal);
      throw new AuthFailedError('Authentication failed.');
    }
    return principal;
  }

  #check(attempt: AuthAttempt): Principal | string {
    const c = this.#config;
    const { token } = attempt;
    const anyCredential =
      c.admins.length > 0 || c.clientTokenHashes.length > 0 || c.identity === 'token' || attempt.anyUserToken;
    if (token === undefined) {
      if (c.identity === 'token') return 'no token (identity mode "token" needs a personal token)';
      if (c.clientTokenHashes.length > 0) return 'no token';
      return { name: '', via: 'none' };
    }
    if (!anyCredential) return { name: '', via: 'none' }; // PROTOCOL.md §4: ignored without auth
    const hash = hashToken(token);
    // Every comparison runs, whichever matches, so the time taken does not say which kind matched.
    let admin: (typeof c.admins)[number] | undefined;
    for (const candidate of c.admins) if (sameHash(candidate.tokenHash, hash)) admin = candidate;
    let client = false;
    for (const candidate of c.clientTokenHashes) if (sameHash(candidate, hash)) client = true;
    const user = attempt.userByTokenHash(hash);
    if (admin) return { name: admin.name, role: admin.role, via: 'admin-token' };
    if (user !== undefined) return { name: user, user, via: 'user-token' };
    if (client && c.identity === 'claimed') return { name: '', via: 'client-token' };
    return 'wrong token';
  }

  #fail(attempt: AuthAttempt, now: number, reason: string): void {
    const entry = this.#failures.get(attempt.address) ?? { count: 0, since: now, lockLogged: false };
    entry.count++;
    this.#failures.set(attempt.address, entry);
    this.logger.warn(
      { peer: attempt.peer, address: attempt.address, reason, failures: entry.count },
      'authentication failed',
    );
  }
}
