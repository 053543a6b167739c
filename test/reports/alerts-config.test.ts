/** Issue 7 §4: [alerts.NAME] in the config file. */
import { describe, expect, it } from 'vitest';
import { alertThreshold } from '../../src/config/alerts.js';
import { parseConfig } from '../../src/config/load.js';
import { configProblems } from '../helpers/config.js';

const BASE = `
[groups.design]
users = ["alice"]

[groups.ops]
users = ["olga"]

[features.cad]
seats = 10
[features.cad.groups.design]
max = 4

[features.badge]
seats = 2
model = "named"
named_users = ["alice"]
`;

function problems(alerts: string): readonly string[] {
  return configProblems(BASE + alerts);
}

describe('[alerts.NAME]', () => {
  it('reads a full alert with every default applied', () => {
    const config = parseConfig(
      BASE +
        `
[alerts.cad-low]
feature = "cad"
free_at_most = 2

[alerts.design-out]
feature = "cad"
group = "design"
when = "exhausted"
rearm_margin = 2
webhooks = ["https://hooks.example.com/x?token=1", "http://127.0.0.1:9000/"]
webhook_timeout = "2s"
webhook_retries = 0
command = ["/usr/bin/logger", "-t", "x", "-t", "x"]
command_timeout = "3s"

[alerts.busy]
feature = "cad"
used_percent_at_least = 90
`,
      'config.toml',
    );
    expect(config.alerts).toEqual([
      {
        name: 'cad-low',
        feature: 'cad',
        condition: { when: 'free_at_most', seats: 2 },
        webhooks: [],
        webhookTimeoutMs: 5000,
        webhookRetries: 3,
        commandTimeoutMs: 10_000,
      },
      {
        name: 'design-out',
        feature: 'cad',
        group: 'design',
        condition: { when: 'exhausted' },
        rearmMargin: 2,
        webhooks: ['https://hooks.example.com/x?token=1', 'http://127.0.0.1:9000/'],
        webhookTimeoutMs: 2000,
        webhookRetries: 0,
        // An argv may repeat an argument.
        command: ['/usr/bin/logger', '-t', 'x', '-t', 'x'],
        commandTimeoutMs: 3000,
      },
      {
        name: 'busy',
        feature: 'cad',
        condition: { when: 'used_percent_at_least', percent: 90 },
        webhooks: [],
        webhookTimeoutMs: 5000,
        webhookRetries: 3,
        commandTimeoutMs: 10_000,
      },
    ]);
  });

  it('no [alerts] is an empty list', () => {
    expect(parseConfig(BASE).alerts).toEqual([]);
  });

  it.each([
    ['free_at_most = 1', 'alerts.a.feature: is required (the feature to watch)'],
    ['feature = "cam"\nfree_at_most = 1', 'alerts.a.feature: no [features.cam] defines this feature'],
    [
      'feature = "cad"',
      'alerts.a: needs a condition: when = "exhausted", free_at_most = N or used_percent_at_least = P',
    ],
    [
      'feature = "cad"\nwhen = "exhausted"\nfree_at_most = 1',
      'alerts.a: give one condition, not when and free_at_most',
    ],
    ['feature = "cad"\nwhen = "soon"', 'alerts.a.when: must be one of "exhausted", got "soon"'],
    ['feature = "cad"\nfree_at_most = 10', 'alerts.a.free_at_most: must be less than the 10 seats watched'],
    ['feature = "cad"\nfree_at_most = -1', 'alerts.a.free_at_most: must be a whole number ≥ 0, got -1'],
    [
      'feature = "cad"\ngroup = "design"\nfree_at_most = 4',
      'alerts.a.free_at_most: must be less than the 4 seats watched',
    ],
    [
      'feature = "cad"\nused_percent_at_least = 0',
      'alerts.a.used_percent_at_least: must be a whole number ≥ 1, got 0',
    ],
    [
      'feature = "cad"\nused_percent_at_least = 101',
      'alerts.a.used_percent_at_least: must be at most 100, got 101',
    ],
    [
      'feature = "cad"\nwhen = "exhausted"\nrearm_margin = 0',
      'alerts.a.rearm_margin: must be a whole number ≥ 1, got 0',
    ],
    [
      'feature = "cad"\nwhen = "exhausted"\ngroup = "qa"',
      'alerts.a.group: no [groups.qa] defines this group',
    ],
    [
      'feature = "cad"\nwhen = "exhausted"\ngroup = "ops"',
      "alerts.a.group: 'cad' has no [features.cad.groups.ops] rule, so the seats group 'ops' uses are not counted",
    ],
    [
      'feature = "badge"\nwhen = "exhausted"',
      `alerts.a.feature: 'badge' is model = "named": it has no concurrent seats to watch`,
    ],
    [
      'feature = "cad"\nwhen = "exhausted"\nwebhooks = ["ftp://x/"]',
      'alerts.a.webhooks: must be a list of http:// or https:// URLs; "ftp://x/" is not one',
    ],
    [
      'feature = "cad"\nwhen = "exhausted"\nwebhooks = "http://x/"',
      'alerts.a.webhooks: must be a list of http:// or https:// URLs, got "http://x/"',
    ],
    [
      'feature = "cad"\nwhen = "exhausted"\nwebhook_timeout = "5"',
      'alerts.a.webhook_timeout: must be a duration',
    ],
    [
      'feature = "cad"\nwhen = "exhausted"\nwebhook_retries = 11',
      'alerts.a.webhook_retries: must be at most 10, got 11',
    ],
    [
      'feature = "cad"\nwhen = "exhausted"\ncommand = "/bin/true"',
      'alerts.a.command: must be a non-empty list of strings',
    ],
    [
      'feature = "cad"\nwhen = "exhausted"\ncommand = []',
      'alerts.a.command: must be a non-empty list of strings',
    ],
    ['feature = "cad"\nwhen = "exhausted"\nemail = "x@y"', 'alerts.a.email: unknown key'],
  ])('%s → %s', (body, message) => {
    const found = problems(`[alerts.a]\n${body}\n`);
    expect(
      found.some((p) => p.includes(message)),
      found.join('\n'),
    ).toBe(true);
  });

  it('reports a bad alert name and a non-table', () => {
    expect(problems('[alerts."-x"]\nfeature = "cad"\nwhen = "exhausted"\n')[0]).toContain(
      'alerts.-x: an alert name is 1..64 letters',
    );
    expect(configProblems(`alerts = 3\n${BASE}`)[0]).toContain('alerts: must be a table');
  });

  it.each([
    [{ when: 'exhausted' } as const, 10, 0],
    [{ when: 'free_at_most', seats: 3 } as const, 10, 3],
    [{ when: 'used_percent_at_least', percent: 70 } as const, 10, 3],
    [{ when: 'used_percent_at_least', percent: 75 } as const, 10, 2],
    [{ when: 'used_percent_at_least', percent: 100 } as const, 10, 0],
    [{ when: 'used_percent_at_least', percent: 1 } as const, 10, 9],
    [{ when: 'used_percent_at_least', percent: 90 } as const, 3, 0],
  ])('%o of %i seats is free ≤ %i', (condition, capacity, threshold) => {
    expect(alertThreshold(condition, capacity)).toBe(threshold);
  });
});
