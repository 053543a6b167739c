/** Issue 4: the directory, groups and the licensing-model keys of [features.*]. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { configProblems } from '../helpers/config.js';

const problems = configProblems;

const DIRECTORY = `
[groups.design]
users = ["alice"]
hosts = ["ws-17"]
priority = 10
[groups.ops]
[users.alice]
[users.bob]
enabled = false
groups = ["ops"]
[users.carol]
`;

describe('directory and models in the config', () => {
  it('reads users, groups and every feature key', () => {
    const config = parseConfig(
      `${DIRECTORY}
[features.cad]
seats = 10
model = "mixed"
named_users = ["carol"]
open = false
users_per_seat = 3
dedupe = "user-host"
include = { groups = ["design", "ops"], users = ["carol"] }
exclude = { hosts = ["kiosk"] }
reclaim_idle_when_queued = "10m"
[features.cad.groups.design]
reserve = 2
max = 5
[features.cad.groups.ops]
max = 3
`,
    );
    expect(config.directory.groups).toEqual([
      { name: 'design', users: ['alice'], hosts: ['ws-17'], priority: 10 },
      { name: 'ops', users: [], hosts: [], priority: 0 },
    ]);
    expect(config.directory.users).toEqual([
      { name: 'alice', enabled: true, groups: [] },
      { name: 'bob', enabled: false, groups: ['ops'] },
      { name: 'carol', enabled: true, groups: [] },
    ]);
    expect(config.features[0]).toEqual({
      name: 'cad',
      seats: 10,
      model: 'mixed',
      namedUsers: ['carol'],
      open: false,
      usersPerSeat: 3,
      dedupe: 'user-host',
      include: { users: ['carol'], hosts: [], groups: ['design', 'ops'] },
      exclude: { users: [], hosts: ['kiosk'], groups: [] },
      groupRules: [
        { group: 'design', reserve: 2, max: 5 },
        { group: 'ops', max: 3 },
      ],
      reclaimIdleWhenQueuedMs: 600_000,
    });
  });

  it.each([
    [
      '[users.alice]\ngroups = ["nope"]',
      'users.alice.groups: names group "nope", which no [groups.nope] defines',
    ],
    ['[users.alice]\nenabled = "yes"', 'users.alice.enabled: must be true or false, got "yes"'],
    ['[users.alice]\nphone = "555"', 'users.alice.phone: unknown key'],
    ['[groups.design]\nusers = "alice"', 'groups.design.users: must be a list of user names'],
    ['[groups.design]\npriority = -1', 'groups.design.priority: must be a whole number ≥ 0, got -1'],
    ['[groups."bad name"]', 'groups.bad name: a group name is'],
    [
      '[features.cad]\nseats = 2\nnamed_users = ["a"]',
      'features.cad.named_users: needs model = "named" or "mixed"',
    ],
    [
      '[features.cad]\nseats = 1\nmodel = "named"\nnamed_users = ["a", "b"]',
      'features.cad.named_users: assigns 2 named seats but the feature has only 1',
    ],
    [
      '[features.cad]\nseats = 1\nmodel = "named"\nnamed_users = ["a", "a"]',
      'features.cad.named_users: lists "a" twice',
    ],
    [
      '[features.cad]\nseats = 1\nmax_users = 3\nusers_per_seat = 2',
      'features.cad.users_per_seat: give max_users or users_per_seat, not both',
    ],
    [
      '[features.cad]\nseats = 1\nmax_users = 3\nopen = true',
      'features.cad.open: a cap on enabled users (max_users, users_per_seat) needs open = false',
    ],
    [
      '[features.cad]\nseats = 1\nusers_per_seat = 0',
      'features.cad.users_per_seat: must be a number > 0, got 0',
    ],
    [
      '[features.cad]\nseats = 1\ndedupe = "host"',
      'features.cad.dedupe: must be one of "none", "user", "user-host", got "host"',
    ],
    ['[features.cad]\nseats = 1\ninclude = { teams = ["x"] }', 'features.cad.include.teams: unknown key'],
    [
      '[features.cad]\nseats = 1\nexclude = { groups = ["nope"] }',
      'features.cad.exclude.groups: names group "nope"',
    ],
    [
      '[features.cad]\nseats = 1\n[features.cad.groups.nope]\nmax = 1',
      'features.cad.groups.nope: no [groups.nope] defines this group',
    ],
    [
      '[groups.g]\n[features.cad]\nseats = 4\n[features.cad.groups.g]\nreserve = 3\nmax = 2',
      'features.cad.groups.g.max: must be at least the reserve (3), got 2',
    ],
    [
      '[groups.g]\n[features.cad]\nseats = 4\n[features.cad.groups.g]\nreserve = 5',
      'features.cad.groups.g.reserve: must be at most 4, got 5',
    ],
    [
      '[groups.g]\n[groups.h]\n[features.cad]\nseats = 4\n[features.cad.groups.g]\nreserve = 3\n[features.cad.groups.h]\nreserve = 2',
      'features.cad.groups: reserves 5 seats but only 4 are not named',
    ],
    [
      '[features.cad]\nseats = 1\nreclaim_idle_when_queued = "5ms"',
      'features.cad.reclaim_idle_when_queued: must be at least 1s',
    ],
    ['[features.cad]\nseats = 1\nopen = 1', 'features.cad.open: must be true or false, got 1'],
  ])('%j → %s', (text, expected) => {
    const found = problems(text);
    expect(
      found.some((p) => p.startsWith(expected)),
      found.join('\n'),
    ).toBe(true);
  });
});
