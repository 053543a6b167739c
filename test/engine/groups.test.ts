/** Issue 4 §3: per-group max and reserve, and their validation. */
import { describe, expect, it } from 'vitest';
import type { DirectoryConfig, FeatureConfig } from '../../src/engine/types.js';
import { harness, thrown } from './fixtures.js';

const DIRECTORY: DirectoryConfig = {
  users: [],
  groups: [
    { name: 'design', users: ['dan', 'dee'] },
    { name: 'ops', users: ['olga'], priority: 5 },
    { name: 'qa', hosts: ['qa1'] },
  ],
};

function withRules(seats: number, groupRules: FeatureConfig['groupRules']) {
  return harness([{ name: 'cad', seats, model: 'concurrent', groupRules }], { directory: DIRECTORY });
}

describe('group max', () => {
  it('caps the group with GROUP_MAX; other holders are not affected', () => {
    const h = withRules(10, [{ group: 'design', max: 2 }]);
    const dan = h.open('dan');
    const lease = h.engine.checkout(dan, { feature: 'cad', count: 2 });
    expect(lease.group).toBe('design');
    const error = thrown(() => h.engine.checkout(h.open('dee'), { feature: 'cad', count: 1 }));
    expect(error.code).toBe('GROUP_MAX');
    expect(error.message).toBe(
      "Group 'design' may use at most 2 seats of 'cad' and uses 2. Wait, or ask an admin.",
    );
    expect(error.details).toMatchObject({
      feature: 'cad',
      group: 'design',
      max: 2,
      group_in_use: 2,
      requested: 1,
    });
    expect(h.engine.checkout(h.open('zed'), { feature: 'cad', count: 3 }).group).toBeUndefined();
    expect(h.engine.featureStatus('cad')[0]?.groups).toEqual([{ name: 'design', inUse: 2, max: 2 }]);
    h.engine.checkin(dan, lease.id, lease.fencing);
    expect(h.engine.checkout(h.open('dee'), { feature: 'cad', count: 1 }).group).toBe('design');
  });

  it('a count above the max can never be granted and is not queued', () => {
    const h = withRules(10, [{ group: 'design', max: 2 }]);
    const error = thrown(() =>
      h.engine.requestCheckout(h.open('dan'), { feature: 'cad', count: 3, waitMs: 1 }),
    );
    expect(error.code).toBe('GROUP_MAX');
    expect(error.message).toContain('can never be granted');
    expect(h.engine.queueStatus()).toEqual([]);
  });

  it("a lease counts against the holder's first group with a rule, in directory order", () => {
    const h = withRules(10, [{ group: 'qa', max: 5 }, { group: 'ops' }]);
    // olga on qa1 is in ops (by name) and qa (by host); ops comes first in the directory.
    expect(h.engine.checkout(h.open('olga', 'qa1'), { feature: 'cad', count: 1 }).group).toBe('ops');
    expect(h.engine.checkout(h.open('dan', 'qa1'), { feature: 'cad', count: 1 }).group).toBe('qa');
  });
});

describe('group reserve', () => {
  it('others cannot take the last seats reserved for a group; the group can', () => {
    const h = withRules(4, [
      { group: 'ops', reserve: 1 },
      { group: 'qa', reserve: 1 },
    ]);
    const zed = h.open('zed');
    h.engine.checkout(zed, { feature: 'cad', count: 2 });
    const error = thrown(() => h.engine.checkout(zed, { feature: 'cad', count: 1 }));
    expect(error.code).toBe('SEATS_RESERVED');
    expect(error.message).toBe(
      "The free seats of 'cad' are reserved for groups 'ops' (1) and 'qa' (1). Wait for a free seat or ask an admin.",
    );
    expect(error.details).toMatchObject({ free: 2, reserved: { ops: 1, qa: 1 } });
    const olga = h.open('olga');
    expect(h.engine.checkout(olga, { feature: 'cad', count: 1 }).group).toBe('ops');
    // ops used its reserve; the last seat is qa's.
    const again = thrown(() => h.engine.checkout(olga, { feature: 'cad', count: 1 }));
    expect(again.code).toBe('SEATS_RESERVED');
    expect(again.message).toContain("reserved for group 'qa' (1)");
    expect(h.engine.checkout(h.open('qq', 'qa1'), { feature: 'cad', count: 1 }).group).toBe('qa');
    expect(thrown(() => h.engine.checkout(zed, { feature: 'cad', count: 1 })).code).toBe('NO_SEATS');
  });

  it('a group above its reserve competes for unreserved seats like anyone', () => {
    const h = withRules(3, [{ group: 'ops', reserve: 1 }]);
    const olga = h.open('olga');
    h.engine.checkout(olga, { feature: 'cad', count: 2 });
    expect(h.engine.featureStatus('cad')[0]?.groups).toEqual([{ name: 'ops', inUse: 2, reserve: 1 }]);
    expect(h.engine.checkout(h.open('zed'), { feature: 'cad', count: 1 }).count).toBe(1);
  });

  it('validates rules: known groups, max ≥ reserve, reserves fit the concurrent pool', () => {
    const cases: [FeatureConfig['groupRules'], string][] = [
      [[{ group: 'nope', max: 1 }], "Feature 'cad': group rule names group 'nope', which does not exist."],
      [
        [{ group: 'ops', reserve: 2, max: 1 }],
        "Feature 'cad': group 'ops': max (1) is below its reserve (2).",
      ],
      [
        [
          { group: 'ops', reserve: 2 },
          { group: 'qa', reserve: 2 },
        ],
        "Feature 'cad': the group reserves add up to 4 seats but the concurrent pool has 3.",
      ],
      [
        [
          { group: 'ops', max: 1 },
          { group: 'ops', max: 2 },
        ],
        "Feature 'cad': group 'ops' has two rules.",
      ],
    ];
    for (const [rules, message] of cases) {
      const error = thrown(() => withRules(3, rules));
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.message).toBe(message);
    }
    const h = withRules(3, [{ group: 'ops', reserve: 2 }]);
    expect(thrown(() => h.engine.setSeats('cad', 1)).code).toBe('INVALID_REQUEST');
    const mixed = harness(
      [{ name: 'cad', seats: 3, model: 'mixed', groupRules: [{ group: 'ops', reserve: 2 }] }],
      { directory: DIRECTORY },
    );
    mixed.engine.assign('cad', 'dan');
    expect(thrown(() => mixed.engine.assign('cad', 'dee')).message).toContain('Lower a reserve first');
  });
});
