/** Directory users' display name, email and personal-token hash: set, cleared, listed, persisted. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { type EngineOptions, LeaseEngine } from '../../src/engine/engine.js';
import { type JournalRecord, toJournalRecord } from '../../src/engine/journal-records.js';
import type { DirectoryConfig, EngineEventName, FeatureConfig } from '../../src/engine/types.js';
import { ALL_EVENTS, countingRandom, harness, normalised, TTL, thrown } from './fixtures.js';

const sha = (token: string) => createHash('sha256').update(token).digest('hex');
const H1 = sha('token-1');
const H2 = sha('token-2');
const FEATURES: FeatureConfig[] = [{ name: 'cad', seats: 2, model: 'concurrent', maxUsers: 3 }];
const DIRECTORY: DirectoryConfig = {
  users: [{ name: 'alice', display: 'Alice A.', email: 'alice@example.com', tokenHash: H1 }, { name: 'bob' }],
  groups: [],
};

function setup() {
  return harness(FEATURES, { directory: DIRECTORY });
}

describe('user display, email and token hash', () => {
  it('come from the config and are listed; the hash never is, only whether there is one', () => {
    const h = setup();
    expect(h.engine.listUsers()).toEqual([
      {
        name: 'alice',
        enabled: true,
        groups: [],
        named: [],
        display: 'Alice A.',
        email: 'alice@example.com',
        hasToken: true,
      },
      { name: 'bob', enabled: true, groups: [], named: [], hasToken: false },
    ]);
    expect(JSON.stringify(h.engine.listUsers())).not.toContain(H1);
    expect(h.engine.userByTokenHash(H1)).toBe('alice');
    expect(h.engine.userByTokenHash(H2)).toBeUndefined();
  });

  it('updateUser sets and clears display and email, one event per real change', () => {
    const h = setup();
    h.engine.updateUser('bob', { display: 'Bob B.', email: 'bob@example.com' });
    expect(h.engine.listUsers()[1]).toMatchObject({ display: 'Bob B.', email: 'bob@example.com' });
    // Absent fields stay; null clears.
    h.engine.updateUser('bob', { email: null });
    expect(h.engine.listUsers()[1]).toEqual({
      name: 'bob',
      enabled: true,
      groups: [],
      named: [],
      display: 'Bob B.',
      hasToken: false,
    });
    // No change: no event.
    h.engine.updateUser('bob', { display: 'Bob B.', email: null });
    h.engine.updateUser('bob', {});
    expect(h.eventsOf('directoryChanged')).toEqual([
      {
        kind: 'userUpdated',
        detail: { user: 'bob', display: 'Bob B.', email: 'bob@example.com' },
      },
      { kind: 'userUpdated', detail: { user: 'bob', email: null } },
    ]);
    const unknown = thrown(() => h.engine.updateUser('zed', { display: 'Z' }));
    expect(unknown.code).toBe('INVALID_REQUEST');
    expect(unknown.message).toContain("'zed'");
    expect(thrown(() => h.engine.updateUser('bob', { display: '' })).code).toBe('INVALID_REQUEST');
    expect(thrown(() => h.engine.updateUser('bob', { email: 5 as unknown as string })).code).toBe(
      'INVALID_REQUEST',
    );
  });

  it('setUserToken sets, moves and clears the hash; two users may not share one', () => {
    const h = setup();
    h.engine.setUserToken('bob', H2);
    expect(h.engine.userByTokenHash(H2)).toBe('bob');
    expect(h.engine.listUsers()[1]?.hasToken).toBe(true);
    const shared = thrown(() => h.engine.setUserToken('bob', H1));
    expect(shared.code).toBe('INVALID_REQUEST');
    expect(shared.message).toMatch(/belongs to user 'alice'/);
    expect(h.engine.userByTokenHash(H1)).toBe('alice');
    expect(h.engine.userByTokenHash(H2)).toBe('bob');
    // A new token replaces the old one: the old hash no longer names anyone.
    const H3 = sha('token-3');
    h.engine.setUserToken('bob', H3);
    expect(h.engine.userByTokenHash(H2)).toBeUndefined();
    expect(h.engine.userByTokenHash(H3)).toBe('bob');
    h.engine.setUserToken('bob', undefined);
    expect(h.engine.userByTokenHash(H3)).toBeUndefined();
    expect(h.engine.listUsers()[1]?.hasToken).toBe(false);
    // The same hash again, or clearing what is clear: no event.
    h.engine.setUserToken('alice', H1);
    h.engine.setUserToken('bob', undefined);
    expect(h.eventsOf('directoryChanged')).toEqual([
      { kind: 'userToken', detail: { user: 'bob', hash: H2 } },
      { kind: 'userToken', detail: { user: 'bob', hash: H3 } },
      { kind: 'userToken', detail: { user: 'bob' } },
    ]);
    for (const bad of ['ABC', H1.toUpperCase(), `${H1}0`]) {
      expect(thrown(() => h.engine.setUserToken('bob', bad)).message).toMatch(/64 lowercase hex/);
    }
    expect(thrown(() => h.engine.setUserToken('zed', H2)).message).toContain("'zed'");
  });

  it('the token index follows added, removed and refused users', () => {
    const h = setup();
    h.engine.addUser({ name: 'carol', display: 'Carol', email: 'c@example.com', tokenHash: H2 });
    expect(h.engine.userByTokenHash(H2)).toBe('carol');
    expect(h.eventsOf('directoryChanged').at(-1)).toEqual({
      kind: 'userAdded',
      detail: { user: 'carol', enabled: true, display: 'Carol', email: 'c@example.com', hash: H2 },
    });
    expect(thrown(() => h.engine.addUser({ name: 'dave', tokenHash: H2 })).message).toMatch(
      /belongs to user 'carol'/,
    );
    // Refused by the user cap (3): the draft is dropped, and its token with it.
    const H4 = sha('token-4');
    expect(thrown(() => h.engine.addUser({ name: 'erin', tokenHash: H4 })).code).toBe('USER_CAP');
    expect(h.engine.userByTokenHash(H4)).toBeUndefined();
    h.engine.removeUser('carol');
    expect(h.engine.userByTokenHash(H2)).toBeUndefined();
    // Removed, the hash is free for someone else.
    h.engine.setUserToken('bob', H2);
    expect(h.engine.userByTokenHash(H2)).toBe('bob');
  });
});

describe('user fields across a restart', () => {
  function journaled() {
    const clock = new ManualClock(1_000);
    const options: EngineOptions = {
      clock,
      leaseTtlMs: TTL,
      features: FEATURES,
      directory: DIRECTORY,
      random: countingRandom(),
    };
    const engine = new LeaseEngine(options);
    const records: JournalRecord[] = [];
    for (const name of ALL_EVENTS) {
      engine.on(name, (payload) => {
        const record = toJournalRecord(name as EngineEventName, payload as never);
        if (record !== undefined) records.push(structuredClone(record));
      });
    }
    return { engine, records, options };
  }

  it('are journaled, snapshotted and replayed to the same directory', () => {
    const live = journaled();
    const snapshot = live.engine.exportState();
    const seq = live.records.length;
    live.engine.addUser({ name: 'carol', display: 'Carol', tokenHash: H2 });
    live.engine.updateUser('alice', { display: null, email: 'a@example.com' });
    live.engine.setUserToken('alice', undefined);
    live.engine.setUserToken('bob', H1);
    expect(live.records.slice(seq)).toEqual([
      { t: 'd', k: 'userAdded', a: { user: 'carol', enabled: true, display: 'Carol', hash: H2 } },
      { t: 'd', k: 'userUpdated', a: { user: 'alice', display: null, email: 'a@example.com' } },
      { t: 'd', k: 'userToken', a: { user: 'alice' } },
      { t: 'd', k: 'userToken', a: { user: 'bob', hash: H1 } },
    ]);
    const state = live.engine.exportState();
    expect(state.directory.users).toEqual([
      { name: 'alice', enabled: true, groups: [], email: 'a@example.com' },
      { name: 'bob', enabled: true, groups: [], tokenHash: H1 },
      { name: 'carol', enabled: true, groups: [], display: 'Carol', tokenHash: H2 },
    ]);
    const fromSnapshot = LeaseEngine.restore(
      { ...live.options, clock: new ManualClock(0) },
      structuredClone(state),
      [],
      { graceMs: TTL },
    );
    const fromRecords = LeaseEngine.restore(
      { ...live.options, clock: new ManualClock(0) },
      snapshot,
      live.records.slice(seq),
      { graceMs: TTL },
    );
    const fromJournalAlone = LeaseEngine.restore(
      { ...live.options, clock: new ManualClock(0) },
      undefined,
      live.records,
      { graceMs: TTL },
    );
    for (const engine of [fromSnapshot, fromRecords, fromJournalAlone]) {
      expect(engine.listUsers()).toEqual(live.engine.listUsers());
      expect(normalised(engine.exportState())).toEqual(normalised(live.engine.exportState()));
      expect(engine.userByTokenHash(H1)).toBe('bob');
      expect(engine.userByTokenHash(H2)).toBe('carol');
    }
  });
});
