/** Issue 4 §1, §2, §4, §5: named and mixed models, the directory, include/exclude, dedupe. */
import { describe, expect, it } from 'vitest';
import type { DirectoryConfig, FeatureConfig } from '../../src/engine/types.js';
import { harness, thrown } from './fixtures.js';

const DIRECTORY: DirectoryConfig = {
  users: [
    { name: 'alice', groups: ['design'] },
    { name: 'bob' },
    { name: 'carol', enabled: false },
    { name: 'dave' },
  ],
  groups: [
    { name: 'design', users: ['dave'] },
    { name: 'lab', hosts: ['lab1'] },
  ],
};

function withDirectory(features: FeatureConfig[], directory: DirectoryConfig = DIRECTORY) {
  return harness(features, { directory });
}

describe('named seats (named model)', () => {
  const NAMED: FeatureConfig = { name: 'cad', seats: 3, model: 'named', namedUsers: ['alice', 'bob'] };

  it('grants an assigned user their named seat, shared by all their sessions', () => {
    const h = withDirectory([NAMED]);
    const s1 = h.open('alice', 'ws1');
    const s2 = h.open('alice', 'ws2');
    const first = h.engine.checkout(s1, { feature: 'cad', count: 1 });
    const second = h.engine.checkout(s2, { feature: 'cad', count: 1 });
    expect(first).toMatchObject({ type: 'named', shared: false });
    expect(second).toMatchObject({ type: 'named', shared: true });
    expect(h.engine.featureStatus('cad')[0]).toMatchObject({ inUse: 1, namedInUse: 1, namedSeats: 2 });
    // The seat frees with the last lease of the user only.
    h.engine.checkin(s1, first.id, first.fencing);
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(1);
    h.engine.checkin(s2, second.id, second.fencing);
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(0);
    expect(h.engine.listLeases({ type: 'named' })).toEqual([]);
  });

  it('denies an unassigned user NOT_ASSIGNED, never queued', () => {
    const h = withDirectory([NAMED]);
    const dave = h.open('dave');
    const error = thrown(() => h.engine.requestCheckout(dave, { feature: 'cad', count: 1, waitMs: 1_000 }));
    expect(error.code).toBe('NOT_ASSIGNED');
    expect(error.message).toBe(
      "Feature 'cad' has only named seats and none is assigned to user 'dave'. Ask an admin to assign one.",
    );
    expect(error.details).toMatchObject({ feature: 'cad', user: 'dave', requested: 1 });
    expect(h.engine.queueStatus('cad')).toEqual([]);
  });

  it('a named seat is one seat: count > 1 is COUNT_EXCEEDS_SEATS', () => {
    const h = withDirectory([NAMED]);
    const error = thrown(() => h.engine.checkout(h.open('alice'), { feature: 'cad', count: 2 }));
    expect(error.code).toBe('COUNT_EXCEEDS_SEATS');
    expect(error.message).toContain('a named seat is one seat');
  });

  it('refuses a disabled assigned user, and a full session', () => {
    const h = withDirectory([{ ...NAMED, namedUsers: ['carol'] }], DIRECTORY);
    expect(thrown(() => h.engine.checkout(h.open('carol'), { feature: 'cad', count: 1 })).code).toBe(
      'USER_NOT_ENABLED',
    );
    const limited = harness([NAMED], { directory: DIRECTORY, maxLeasesPerSession: 1 });
    const id = limited.open('alice');
    limited.engine.checkout(id, { feature: 'cad', count: 1 });
    expect(thrown(() => limited.engine.checkout(id, { feature: 'cad', count: 1 })).code).toBe(
      'LIMIT_EXCEEDED',
    );
  });

  it('assignment capacity: no more assignments than seats', () => {
    const h = withDirectory([{ name: 'cad', seats: 2, model: 'named', namedUsers: ['alice', 'bob'] }]);
    const error = thrown(() => h.engine.assign('cad', 'dave'));
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toBe(
      "Feature 'cad' has 2 seats and 2 named assignments; no seat is left to assign.",
    );
    expect(h.engine.featureConfig('cad')?.namedUsers).toEqual(['alice', 'bob']);
    const config = thrown(() =>
      withDirectory([{ name: 'cad', seats: 1, model: 'named', namedUsers: ['alice', 'bob'] }]),
    );
    expect(config.code).toBe('INVALID_REQUEST');
    expect(config.message).toContain('named assignments cannot exceed the seats');
    // Seats cannot go below the assignments either.
    expect(thrown(() => h.engine.setSeats('cad', 1)).code).toBe('INVALID_REQUEST');
  });

  it('assign and unassign at run time; live named leases survive unassign', () => {
    const h = withDirectory([{ name: 'cad', seats: 2, model: 'mixed' }]);
    const dave = h.open('dave');
    h.engine.assign('cad', 'dave');
    expect(h.eventsOf('directoryChanged')).toEqual([
      { kind: 'assigned', detail: { feature: 'cad', user: 'dave' } },
    ]);
    expect(h.engine.listUsers().find((u) => u.name === 'dave')?.named).toEqual(['cad']);
    const lease = h.engine.checkout(dave, { feature: 'cad', count: 1 });
    expect(lease.type).toBe('named');
    h.engine.unassign('cad', 'dave');
    expect(h.engine.lease(lease.id)).toBeDefined();
    // Still held, so still out of the concurrent pool.
    expect(h.engine.featureStatus('cad')[0]).toMatchObject({ namedSeats: 0, concurrentSeats: 1 });
    h.engine.checkin(dave, lease.id, lease.fencing);
    expect(h.engine.featureStatus('cad')[0]).toMatchObject({ concurrentSeats: 2 });
    expect(thrown(() => h.engine.unassign('cad', 'dave')).message).toBe(
      "User 'dave' has no named seat of feature 'cad'.",
    );
    expect(thrown(() => h.engine.assign('cad', 'zed')).message).toBe(
      "No user 'zed' in the directory; add the user first.",
    );
    expect(thrown(() => h.engine.assign('nope', 'dave')).code).toBe('UNKNOWN_FEATURE');
  });
});

describe('mixed model', () => {
  const MIXED: FeatureConfig = { name: 'cad', seats: 4, model: 'mixed', namedUsers: ['alice'] };

  it('the concurrent pool is seats − assignments; an assigned user still gets a seat when it is full', () => {
    const h = withDirectory([MIXED]);
    const bob = h.open('bob');
    for (let i = 0; i < 3; i++) h.engine.checkout(bob, { feature: 'cad', count: 1 });
    const denied = thrown(() => h.engine.checkout(bob, { feature: 'cad', count: 1 }));
    expect(denied.code).toBe('NO_SEATS');
    expect(denied.message).toBe(
      "All 3 shared seats of feature 'cad' are in use. Wait for a free seat or ask an admin to free one.",
    );
    expect(thrown(() => h.engine.checkout(bob, { feature: 'cad', count: 4 })).message).toBe(
      "Feature 'cad' has 3 shared seats (4 minus 1 named); a checkout of 4 from the shared pool can never be granted.",
    );
    const named = h.engine.checkout(h.open('alice'), { feature: 'cad', count: 1 });
    expect(named.type).toBe('named');
    expect(h.engine.featureStatus('cad')[0]).toMatchObject({
      seats: 4,
      inUse: 4,
      namedSeats: 1,
      namedInUse: 1,
      concurrentSeats: 3,
      concurrentInUse: 3,
    });
    expect(h.engine.listLeases({ type: 'concurrent' })).toHaveLength(3);
  });

  it('an assigned user asking for more than one seat draws from the pool', () => {
    const h = withDirectory([MIXED]);
    const lease = h.engine.checkout(h.open('alice'), { feature: 'cad', count: 2 });
    expect(lease).toMatchObject({ type: 'concurrent', count: 2 });
  });

  it('an assignment while the pool is full evicts nothing and grants nothing from the pool until it fits', () => {
    const h = withDirectory([{ name: 'cad', seats: 2, model: 'mixed' }]);
    const bob = h.open('bob');
    const leases = [0, 1].map(() => h.engine.checkout(bob, { feature: 'cad', count: 1 }));
    h.engine.assign('cad', 'dave');
    // Dave's named seat is honoured: an overdraft the assignment caused, reported as such.
    expect(h.engine.checkout(h.open('dave'), { feature: 'cad', count: 1 }).type).toBe('named');
    expect(h.engine.featureStatus('cad')[0]).toMatchObject({ inUse: 3, overdraft: 1 });
    h.engine.checkin(bob, leases[0]!.id, leases[0]!.fencing);
    expect(thrown(() => h.engine.checkout(bob, { feature: 'cad', count: 1 })).code).toBe('NO_SEATS');
  });
});

describe('the directory: open and closed features, disabled users', () => {
  it('with no users, every feature is open to anyone', () => {
    const h = harness();
    expect(h.engine.checkout(h.open('stranger'), { feature: 'cad', count: 1 }).user).toBe('stranger');
  });

  it('with users, a feature is closed by default to users not in the directory', () => {
    const h = withDirectory([{ name: 'cad', seats: 3, model: 'concurrent' }]);
    const error = thrown(() =>
      h.engine.requestCheckout(h.open('zed'), { feature: 'cad', count: 1, waitMs: 9 }),
    );
    expect(error.code).toBe('USER_NOT_ENABLED');
    expect(error.message).toBe(
      "User 'zed' is not enabled for feature 'cad'. Ask an admin to add and enable them.",
    );
    expect(h.engine.checkout(h.open('bob'), { feature: 'cad', count: 1 }).user).toBe('bob');
  });

  it('open = true lets anyone in even with a directory; open = false closes an empty one', () => {
    const h = withDirectory([{ name: 'cad', seats: 3, model: 'concurrent', open: true }]);
    expect(h.engine.checkout(h.open('zed'), { feature: 'cad', count: 1 }).user).toBe('zed');
    const closed = harness([{ name: 'cad', seats: 3, model: 'concurrent', open: false }]);
    expect(thrown(() => closed.engine.checkout(closed.open('zed'), { feature: 'cad', count: 1 })).code).toBe(
      'USER_NOT_ENABLED',
    );
  });

  it('a disabled user is refused; disabling evicts nothing; enabling lets them back', () => {
    const h = withDirectory([{ name: 'cad', seats: 3, model: 'concurrent', open: true }]);
    const carol = h.open('carol');
    const error = thrown(() => h.engine.checkout(carol, { feature: 'cad', count: 1 }));
    expect(error.code).toBe('USER_NOT_ENABLED');
    expect(error.message).toBe(
      "User 'carol' is not enabled for feature 'cad': the user is disabled. Ask an admin to enable them.",
    );
    const bob = h.open('bob');
    const lease = h.engine.checkout(bob, { feature: 'cad', count: 1 });
    h.engine.setUserEnabled('bob', false);
    expect(h.engine.lease(lease.id)).toBeDefined();
    expect(thrown(() => h.engine.checkout(bob, { feature: 'cad', count: 1 })).code).toBe('USER_NOT_ENABLED');
    h.engine.setUserEnabled('carol', true);
    expect(h.engine.checkout(carol, { feature: 'cad', count: 1 }).user).toBe('carol');
    expect(h.eventsOf('directoryChanged').map((e) => e.kind)).toEqual(['userDisabled', 'userEnabled']);
  });

  it('adds and removes users and group members, with clear errors', () => {
    const h = withDirectory([{ name: 'cad', seats: 3, model: 'mixed', namedUsers: ['bob'] }]);
    h.engine.addUser({ name: 'erin', groups: ['lab'] });
    expect(h.engine.listUsers().at(-1)).toEqual({
      name: 'erin',
      enabled: true,
      groups: ['lab'],
      named: [],
      hasToken: false,
    });
    expect(thrown(() => h.engine.addUser({ name: 'erin' })).message).toBe("User 'erin' already exists.");
    expect(thrown(() => h.engine.addUser({ name: 'x', groups: ['nope'] })).message).toBe(
      "User 'x': no group 'nope' in the directory.",
    );
    h.engine.addGroupMember('design', 'bob');
    expect(h.engine.listGroups()[0]).toEqual({
      name: 'design',
      users: ['dave', 'bob', 'alice'],
      hosts: [],
      priority: 0,
    });
    h.engine.removeGroupMember('design', 'alice');
    expect(h.engine.listUsers()[0]?.groups).toEqual([]);
    expect(thrown(() => h.engine.removeGroupMember('design', 'alice')).message).toBe(
      "User 'alice' is not a member of group 'design'.",
    );
    expect(thrown(() => h.engine.addGroupMember('nope', 'bob')).message).toBe(
      "No group 'nope' in the directory.",
    );
    h.engine.removeUser('bob');
    expect(h.engine.featureConfig('cad')?.namedUsers).toBeUndefined();
    expect(thrown(() => h.engine.removeUser('bob')).message).toBe("No user 'bob' in the directory.");
    expect(h.eventsOf('directoryChanged').map((e) => e.kind)).toEqual([
      'userAdded',
      'memberAdded',
      'memberRemoved',
      'userRemoved',
    ]);
  });
});

describe('include and exclude', () => {
  const base = { name: 'cad', seats: 5, model: 'concurrent' as const, open: true };

  it('exclude by user, host and group', () => {
    const h = withDirectory([{ ...base, exclude: { users: ['bob'], hosts: ['kiosk'], groups: ['design'] } }]);
    const cases: [string, string, string][] = [
      ['bob', 'ws1', "the exclude list names user 'bob'"],
      ['zed', 'kiosk', "the exclude list names host 'kiosk'"],
      ['dave', 'ws1', "the exclude list names group 'design'"],
      ['alice', 'ws1', "the exclude list names group 'design'"],
    ];
    for (const [user, host, why] of cases) {
      const error = thrown(() => h.engine.checkout(h.open(user, host), { feature: 'cad', count: 1 }));
      expect(error.code).toBe('USER_EXCLUDED');
      expect(error.message).toBe(
        `User '${user}' on host '${host}' is excluded from feature 'cad' (${why}). Ask an admin if this is wrong.`,
      );
    }
    expect(h.engine.checkout(h.open('zed', 'ws1'), { feature: 'cad', count: 1 }).user).toBe('zed');
  });

  it('include by user, host or group; anyone else is refused', () => {
    const h = withDirectory([{ ...base, include: { users: ['bob'], hosts: ['lab2'], groups: ['lab'] } }]);
    expect(h.engine.checkout(h.open('bob', 'ws1'), { feature: 'cad', count: 1 }).user).toBe('bob');
    expect(h.engine.checkout(h.open('zed', 'lab2'), { feature: 'cad', count: 1 }).host).toBe('lab2');
    expect(h.engine.checkout(h.open('zed', 'lab1'), { feature: 'cad', count: 1 }).host).toBe('lab1');
    const error = thrown(() => h.engine.checkout(h.open('dave', 'ws1'), { feature: 'cad', count: 1 }));
    expect(error.code).toBe('USER_EXCLUDED');
    expect(error.message).toBe(
      "User 'dave' on host 'ws1' is not on the include list of feature 'cad'. Ask an admin to include them.",
    );
  });

  it('named users are not subject to the lists', () => {
    const h = withDirectory([{ ...base, model: 'mixed', namedUsers: ['bob'], exclude: { users: ['bob'] } }]);
    expect(h.engine.checkout(h.open('bob'), { feature: 'cad', count: 1 }).type).toBe('named');
  });

  it('refuses lists naming unknown groups', () => {
    const error = thrown(() => withDirectory([{ ...base, include: { groups: ['nope'] } }]));
    expect(error.message).toBe("Feature 'cad': include names group 'nope', which does not exist.");
  });
});

describe('dedupe (FlexLM DUP_GROUP)', () => {
  it("'user': the same user shares the seat it holds, on any host; the last lease frees it", () => {
    const h = harness([{ name: 'cad', seats: 3, model: 'concurrent', dedupe: 'user' }]);
    const a1 = h.open('alice', 'ws1');
    const a2 = h.open('alice', 'ws2');
    const first = h.engine.checkout(a1, { feature: 'cad', count: 1 });
    const second = h.engine.checkout(a2, { feature: 'cad', count: 1 });
    expect(second.shared).toBe(true);
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(1);
    // A third checkout joins too, from either host.
    expect(h.engine.checkout(a1, { feature: 'cad', count: 1 }).shared).toBe(true);
    // More seats than the claim holds: a new claim.
    expect(h.engine.checkout(a1, { feature: 'cad', count: 2 }).shared).toBe(false);
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(3);
    h.engine.checkin(a1, first.id, first.fencing);
    h.engine.checkin(a2, second.id, second.fencing);
    // The third lease still holds the first claim.
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(3);
  });

  it('frees a shared seat with its last lease', () => {
    const h = harness([{ name: 'cad', seats: 1, model: 'concurrent', dedupe: 'user' }]);
    const a1 = h.open('alice', 'ws1');
    const a2 = h.open('alice', 'ws2');
    const first = h.engine.checkout(a1, { feature: 'cad', count: 1 });
    const second = h.engine.checkout(a2, { feature: 'cad', count: 1 });
    h.engine.checkin(a1, first.id, first.fencing);
    expect(thrown(() => h.engine.checkout(h.open('bob'), { feature: 'cad', count: 1 })).code).toBe(
      'NO_SEATS',
    );
    h.engine.checkin(a2, second.id, second.fencing);
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(0);
  });

  it("'user-host': only on the same host; a larger count takes a new claim", () => {
    const h = harness([{ name: 'cad', seats: 4, model: 'concurrent', dedupe: 'user-host' }]);
    const a1 = h.open('alice', 'ws1');
    const a2 = h.open('alice', 'ws2');
    h.engine.checkout(a1, { feature: 'cad', count: 1 });
    expect(h.engine.checkout(a1, { feature: 'cad', count: 1 }).shared).toBe(true);
    expect(h.engine.checkout(a2, { feature: 'cad', count: 1 }).shared).toBe(false);
    expect(h.engine.checkout(a1, { feature: 'cad', count: 2 }).shared).toBe(false);
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(4);
    // The pool is full, but joining takes no seat.
    expect(h.engine.checkout(a1, { feature: 'cad', count: 2 }).shared).toBe(true);
  });

  it("'none' (the default) takes a seat per checkout", () => {
    const h = harness([{ name: 'cad', seats: 2, model: 'concurrent' }]);
    const a = h.open('alice');
    h.engine.checkout(a, { feature: 'cad', count: 1 });
    expect(h.engine.checkout(a, { feature: 'cad', count: 1 }).shared).toBe(false);
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(2);
  });
});

describe('user cap', () => {
  const users = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `u${i}` }));

  it('refuses a configuration over the cap (maxUsers or usersPerSeat)', () => {
    const directory = { users: users(4), groups: [] };
    const max = thrown(() =>
      harness([{ name: 'cad', seats: 1, model: 'concurrent', maxUsers: 3 }], { directory }),
    );
    expect(max.code).toBe('INVALID_REQUEST');
    expect(max.message).toBe(
      "Feature 'cad' allows 3 enabled users but the directory has 4. Raise the cap or disable users.",
    );
    const ratio = thrown(() =>
      harness([{ name: 'cad', seats: 1, model: 'concurrent', usersPerSeat: 3 }], { directory }),
    );
    expect(ratio.message).toBe(
      "Feature 'cad' allows 3 enabled users (3 per seat × 1 seats) but the directory has 4. Raise the cap or disable users.",
    );
    expect(
      thrown(() => harness([{ name: 'cad', seats: 1, model: 'concurrent', maxUsers: 3, open: true }]))
        .message,
    ).toContain('an open feature cannot cap its users');
    expect(
      thrown(() => harness([{ name: 'cad', seats: 1, model: 'concurrent', maxUsers: 3, usersPerSeat: 2 }]))
        .message,
    ).toBe("Feature 'cad': set maxUsers or usersPerSeat, not both.");
  });

  it('refuses run-time changes that would exceed it, with state unchanged', () => {
    const directory = {
      users: [...users(2), { name: 'off', enabled: false }, { name: 'out', groups: ['guests'] }],
      groups: [{ name: 'guests' }],
    };
    const h = harness(
      [{ name: 'cad', seats: 1, model: 'concurrent', usersPerSeat: 2, exclude: { groups: ['guests'] } }],
      { directory },
    );
    const message =
      "Feature 'cad' allows 2 enabled users (2 per seat × 1 seats) and has 2. Disable a user first.";
    const attempts = [
      () => h.engine.setUserEnabled('off', true),
      () => h.engine.addUser({ name: 'new' }),
      () => h.engine.removeGroupMember('guests', 'out'),
    ];
    for (const attempt of attempts) {
      const error = thrown(attempt);
      expect(error.code).toBe('USER_CAP');
      expect(error.message).toBe(message);
    }
    expect(h.engine.listUsers().map((u) => [u.name, u.enabled, u.groups])).toEqual([
      ['u0', true, []],
      ['u1', true, []],
      ['off', false, []],
      ['out', true, ['guests']],
    ]);
    expect(h.eventsOf('directoryChanged')).toEqual([]);
    // Adding a disabled user, or one outside the lists, is fine; so is room made by disabling.
    h.engine.addUser({ name: 'idle', enabled: false });
    h.engine.addUser({ name: 'guest2', groups: ['guests'] });
    h.engine.setUserEnabled('u0', false);
    h.engine.setUserEnabled('off', true);
    expect(thrown(() => h.engine.setSeats('cad', 0)).code).toBe('INVALID_REQUEST');
  });

  it('counts membership changes that move a user onto an include list', () => {
    const directory = { users: users(2), groups: [{ name: 'cadders', users: ['u0'] }] };
    const h = harness(
      [{ name: 'cad', seats: 1, model: 'concurrent', maxUsers: 1, include: { groups: ['cadders'] } }],
      { directory },
    );
    expect(thrown(() => h.engine.addGroupMember('cadders', 'u1')).code).toBe('USER_CAP');
    expect(h.engine.listGroups()[0]?.users).toEqual(['u0']);
  });
});
