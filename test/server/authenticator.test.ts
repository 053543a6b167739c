/** The Authenticator alone, with a fake clock (issue 6): which credential wins, and the rate limit window. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type AuthConfig, OPEN_AUTH } from '../../src/config/auth.js';
import { hashToken } from '../../src/config/secrets.js';
import { ManualClock } from '../../src/engine/clock.js';
import { AuthFailedError } from '../../src/protocol/errors.js';
import { type AuthAttempt, Authenticator } from '../../src/server/auth.js';
import { createLogger } from '../../src/server/logger.js';

const ADMIN = 'admin-token-0123456789';
const CLIENT = 'client-token-0123456789';
const PERSONAL = 'personal-token-0123456789';

function setup(config: Partial<AuthConfig>) {
  const clock = new ManualClock(1000);
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const raw of chunk.toString().split('\n')) if (raw) lines.push(JSON.parse(raw));
      done();
    },
  });
  const auth = new Authenticator({ ...OPEN_AUTH, ...config }, clock, createLogger('info', sink));
  const attempt = (token?: string, address = '10.0.0.1'): AuthAttempt => ({
    token,
    address,
    peer: `${address}:4000`,
    viaAdminSocket: false,
    userByTokenHash: (h) => (h === hashToken(PERSONAL) ? 'eve' : undefined),
    anyUserToken: true,
  });
  return { clock, lines, auth, attempt };
}

describe('Authenticator', () => {
  it('tells admin, personal and client tokens apart', () => {
    const { auth, attempt } = setup({
      clientTokenHashes: [hashToken(CLIENT)],
      admins: [{ name: 'ops', role: 'viewer', tokenHash: hashToken(ADMIN) }],
    });
    expect(auth.authenticate(attempt(ADMIN))).toEqual({ name: 'ops', role: 'viewer', via: 'admin-token' });
    expect(auth.authenticate(attempt(PERSONAL))).toEqual({ name: 'eve', user: 'eve', via: 'user-token' });
    expect(auth.authenticate(attempt(CLIENT))).toEqual({ name: '', via: 'client-token' });
    expect(() => auth.authenticate(attempt())).toThrow(AuthFailedError);
    expect(() => auth.authenticate(attempt('nope-nope-nope-nope'))).toThrow(AuthFailedError);
  });

  it('ignores tokens when no credential exists at all, and the admin socket is admin', () => {
    const { auth, attempt } = setup({});
    const open = { ...attempt('anything-at-all-0000'), anyUserToken: false };
    expect(auth.authenticate(open)).toEqual({ name: '', via: 'none' });
    expect(auth.authenticate({ ...attempt(), viaAdminSocket: true })).toMatchObject({ role: 'admin' });
  });

  it('in identity mode "token" accepts only personal and admin tokens', () => {
    const { auth, attempt } = setup({
      identity: 'token',
      admins: [{ name: 'ops', role: 'admin', tokenHash: hashToken(ADMIN) }],
    });
    expect(() => auth.authenticate(attempt())).toThrow(AuthFailedError);
    expect(auth.authenticate(attempt(PERSONAL)).user).toBe('eve');
    expect(auth.authenticate(attempt(ADMIN)).role).toBe('admin');
  });

  it('locks an address out after max_failures within the window, and only that address', () => {
    const { auth, attempt, clock, lines } = setup({
      clientTokenHashes: [hashToken(CLIENT)],
      maxFailures: 2,
      failureWindowMs: 10_000,
    });
    expect(() => auth.authenticate(attempt('bad-bad-bad-bad-bad-1'))).toThrow(AuthFailedError);
    clock.advance(5000);
    expect(() => auth.authenticate(attempt('bad-bad-bad-bad-bad-2'))).toThrow(AuthFailedError);
    // Locked: even the right token is refused, without a check, for the rest of the window.
    expect(() => auth.authenticate(attempt(CLIENT))).toThrow(/too many failed attempts/);
    expect(auth.authenticate(attempt(CLIENT, '10.0.0.2')).via).toBe('client-token');
    clock.advance(4999);
    expect(() => auth.authenticate(attempt(CLIENT))).toThrow(/too many failed attempts/);
    clock.advance(1);
    expect(auth.authenticate(attempt(CLIENT)).via).toBe('client-token');
    expect(lines.filter((l) => l.msg === 'authentication failed')).toHaveLength(2);
    // The lock-out is logged once, not once per refused attempt.
    expect(lines.filter((l) => String(l.msg).includes('too many failures'))).toHaveLength(1);
  });

  it('applies new credentials after update (reload)', () => {
    const { auth, attempt } = setup({ clientTokenHashes: [hashToken(CLIENT)] });
    expect(auth.authenticate(attempt(CLIENT)).via).toBe('client-token');
    auth.update({ ...OPEN_AUTH, clientTokenHashes: [hashToken(ADMIN)] });
    expect(() => auth.authenticate(attempt(CLIENT))).toThrow(AuthFailedError);
  });
});
