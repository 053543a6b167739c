/** [auth], [admins.*] and personal tokens in [users.*] (issue 6): secrets, hashing, and every mistake named. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { hashToken, resolveSecret } from '../../src/config/secrets.js';
import { configProblems } from '../helpers/config.js';

const SEATS = '[features.cad]\nseats = 1\n';
const T1 = 'first-token-0123456789';
const T2 = 'second-token-0123456789';

describe('secrets', () => {
  it('reads inline, env: and file: values (trimmed) and refuses short or missing ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-secret-'));
    writeFileSync(join(dir, 'admin.token'), `${T1}\n`);
    expect(resolveSecret(T1, dir)).toEqual({ secret: T1 });
    expect(resolveSecret('env:LH_TEST_SECRET', dir, { LH_TEST_SECRET: T2 })).toEqual({ secret: T2 });
    expect(resolveSecret('file:admin.token', dir)).toEqual({ secret: T1 });
    expect(resolveSecret(`file:${join(dir, 'admin.token')}`, '/')).toEqual({ secret: T1 });
    expect(resolveSecret('env:LH_TEST_MISSING', dir, {})).toEqual({
      problem: expect.stringContaining('LH_TEST_MISSING, which is not set'),
    });
    expect(resolveSecret('file:nope.token', dir)).toEqual({
      problem: expect.stringContaining('file not found'),
    });
    expect(resolveSecret('short', dir)).toEqual({
      problem: expect.stringContaining('at least 16 characters'),
    });
  });
});

describe('[auth] and [admins]', () => {
  it('defaults to claimed identity, no tokens, no admins', () => {
    const { auth } = parseConfig(SEATS);
    expect(auth).toEqual({
      identity: 'claimed',
      clientTokenHashes: [],
      admins: [],
      maxFailures: 5,
      failureWindowMs: 60_000,
    });
  });

  it('keeps only hashes of the tokens', () => {
    const { auth } = parseConfig(
      `${SEATS}[auth]\ntokens = ["${T1}"]\nmax_failures = 3\nfailure_window = "30s"\n[admins.ops]\ntoken = "${T2}"\nrole = "manager"\n`,
    );
    expect(auth.clientTokenHashes).toEqual([hashToken(T1)]);
    expect(auth.admins).toEqual([{ name: 'ops', role: 'manager', tokenHash: hashToken(T2) }]);
    expect(auth.maxFailures).toBe(3);
    expect(auth.failureWindowMs).toBe(30_000);
    expect(JSON.stringify(auth)).not.toContain(T1);
  });

  it.each([
    [`[auth]\nidentity = "oauth"`, 'auth.identity: must be one of "claimed", "token"'],
    [`[auth]\ntokens = "${T1}"`, 'auth.tokens: must be a list'],
    ['[auth]\ntokens = ["short"]', 'auth.tokens: a token must be at least 16 characters'],
    [
      `[auth]\nidentity = "token"\ntokens = ["${T1}"]`,
      'auth.tokens: shared client tokens are not used with identity = "token"',
    ],
    ['[auth]\nsecret = 1', 'auth.secret: unknown key'],
    [`[admins.ops]\ntoken = "${T1}"`, 'admins.ops.role: is required'],
    ['[admins.ops]\nrole = "admin"', 'admins.ops.token: is required'],
    [
      `[admins.ops]\ntoken = "${T1}"\nrole = "root"`,
      'admins.ops.role: must be one of "admin", "manager", "viewer"',
    ],
    [
      '[admins.ops]\ntoken = "env:LH_SURELY_UNSET_VAR"\nrole = "admin"',
      'admins.ops.token: names environment variable LH_SURELY_UNSET_VAR',
    ],
    [
      `[auth]\ntokens = ["${T1}"]\n[admins.ops]\ntoken = "${T1}"\nrole = "admin"`,
      'the same token is given twice',
    ],
    ['[users.alice]\nemail = "not-an-address"', 'users.alice.email: must be an e-mail address'],
    ['[users.alice]\ntoken = "short"', 'users.alice.token: a token must be at least 16 characters'],
  ])('%j is refused: %s', (text, message) => {
    expect(configProblems(`${SEATS}${text}\n`).join('\n')).toContain(message);
  });

  it('reads display names, e-mail addresses and personal tokens of users', () => {
    const { directory } = parseConfig(
      `${SEATS}[users.alice]\ndisplay_name = "Alice Liddell"\nemail = "alice@example.com"\ntoken = "${T1}"\n`,
    );
    expect(directory.users).toEqual([
      {
        name: 'alice',
        enabled: true,
        groups: [],
        display: 'Alice Liddell',
        email: 'alice@example.com',
        tokenHash: hashToken(T1),
      },
    ]);
  });
});
