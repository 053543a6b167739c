/**
 * `leasehold alerts list|test` (issue 7 §4): the [alerts.*] of a config file, and a test
 * notification sent through the same delivery code the daemon uses (webhooks and command), so a
 * receiver can be checked before seats actually run out. Works on the config file alone: the daemon
 * need not run, and current usage is not read (`in_use` and `free` are null, `test` is true).
 *
 *   exit 0: every target took the notification; 1: one failed; 64: no such alert; 78: bad config.
 */
import type { Command } from 'commander';
import { type AlertConfig, alertCapacity } from '../config/alerts.js';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/types.js';
import { AlertDelivery, type AlertLogger, redactUrl } from '../reports/alert-delivery.js';
import { bands, testNotification } from '../reports/alerts.js';
import { configOption } from './config-option.js';
import { ExitCode } from './exit-codes.js';
import { table } from './format.js';
import type { CommandIO } from './io.js';

interface ConfigFlags {
  config: string;
  json?: boolean;
}

/** Results are printed, so the delivery's own log lines are not wanted here. */
const QUIET: AlertLogger = { info: () => {}, warn: () => {}, error: () => {} };

export function addAlertsCommand(program: Command, io: CommandIO): void {
  const alerts = program
    .command('alerts')
    .summary('list the seat alerts of a config file, or send one a test notification')
    .description(
      'seat alerts ([alerts.NAME] in the config): "no concurrent seats are available" and ' +
        '"concurrent seats are running out", delivered to the log, webhooks and a command',
    );
  alerts
    .command('list')
    .description('list the alerts of the config file')
    .addOption(configOption())
    .option('--json', 'print one JSON document (camelCase keys)')
    .action((flags: ConfigFlags) => {
      io.setExitCode(listAlerts(flags, io));
    });
  alerts
    .command('test')
    .description(
      "send NAME's webhooks and command a test notification (test: true) and print each result " +
        '(exit 0 all delivered, 1 one failed, 64 unknown NAME)',
    )
    .argument('<name>', 'the alert, as in [alerts.NAME]')
    .addOption(configOption())
    .option('--json', 'print the results as one JSON document (camelCase keys)')
    .action(async (name: string, flags: ConfigFlags) => {
      io.setExitCode(await testAlert(name, flags, io));
    });
}

function load(path: string, io: CommandIO): Config | undefined {
  try {
    return loadConfigFile(path);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`${err.message}\n`);
    return undefined;
  }
}

function capacityOf(config: Config, alert: AlertConfig): number {
  const feature = config.features.find((f) => f.name === alert.feature);
  // loadConfigFile checked that the feature exists.
  return feature ? alertCapacity(alert, feature) : 0;
}

function conditionText(alert: AlertConfig): string {
  const c = alert.condition;
  switch (c.when) {
    case 'exhausted':
      return 'exhausted';
    case 'free_at_most':
      return `free ≤ ${c.seats}`;
    case 'used_percent_at_least':
      return `used ≥ ${c.percent}%`;
  }
}

function listAlerts(flags: ConfigFlags, io: CommandIO): number {
  const config = load(flags.config, io);
  if (!config) return ExitCode.Config;
  const rows = config.alerts.map((alert) => {
    const capacity = capacityOf(config, alert);
    const { threshold, rearmAt } = bands(alert, capacity);
    return { alert, capacity, threshold, rearmAt };
  });
  if (flags.json) {
    const doc = {
      alerts: rows.map(({ alert, capacity, threshold, rearmAt }) => ({
        name: alert.name,
        feature: alert.feature,
        ...(alert.group === undefined ? {} : { group: alert.group }),
        condition: alert.condition,
        capacity,
        threshold,
        rearmAt,
        webhooks: alert.webhooks.map(redactUrl),
        ...(alert.command ? { command: alert.command[0] } : {}),
      })),
    };
    io.out(`${JSON.stringify(doc, null, 2)}\n`);
    return ExitCode.Ok;
  }
  if (rows.length === 0) {
    io.out(`${flags.config}: no [alerts.*] configured.\n`);
    return ExitCode.Ok;
  }
  io.out(
    `${table(
      [
        'ALERT',
        'FEATURE',
        'GROUP',
        'CONDITION',
        'FIRES AT FREE',
        'RE-ARMS AT FREE',
        'SEATS WATCHED',
        'DELIVERED TO',
      ],
      rows.map(({ alert, capacity, threshold, rearmAt }) => [
        alert.name,
        alert.feature,
        alert.group ?? '-',
        conditionText(alert),
        `≤ ${threshold}`,
        `≥ ${rearmAt}`,
        String(capacity),
        targetsText(alert),
      ]),
    )}\n`,
  );
  return ExitCode.Ok;
}

function targetsText(alert: AlertConfig): string {
  const targets = ['log'];
  if (alert.webhooks.length > 0) targets.push(`${alert.webhooks.length} webhook(s)`);
  if (alert.command) targets.push(`command ${alert.command[0]}`);
  return targets.join(', ');
}

async function testAlert(name: string, flags: ConfigFlags, io: CommandIO): Promise<number> {
  const config = load(flags.config, io);
  if (!config) return ExitCode.Config;
  const alert = config.alerts.find((a) => a.name === name);
  if (!alert) {
    const known = config.alerts.map((a) => a.name);
    io.err(
      `leasehold: ${flags.config} has no alert '${name}'` +
        (known.length > 0 ? ` (known: ${known.join(', ')})\n` : ' (it has no [alerts.*] at all)\n'),
    );
    return ExitCode.Usage;
  }
  const notification = testNotification(alert, capacityOf(config, alert), Date.now());
  const delivery = new AlertDelivery({ logger: QUIET, alerts: config.alerts });
  let results: Awaited<ReturnType<AlertDelivery['deliver']>>;
  try {
    results = await delivery.deliver(notification, alert);
  } finally {
    await delivery.close(0);
  }
  const failed = results.filter((r) => !r.ok).length;
  if (flags.json) {
    io.out(`${JSON.stringify({ alert: name, notification, results }, null, 2)}\n`);
  } else if (results.length === 0) {
    io.out(`Alert '${name}' has no webhooks and no command: only the daemon's log gets its notifications.\n`);
  } else {
    for (const r of results) {
      const tries = r.attempts === 1 ? '1 attempt' : `${r.attempts} attempts`;
      io.out(`${r.ok ? 'ok    ' : 'FAILED'}  ${r.target} ${r.to}: ${r.detail} (${tries})\n`);
    }
    io.out(
      failed === 0
        ? `Test notification of '${name}' delivered to ${results.length} target(s).\n`
        : `Test notification of '${name}': ${failed} of ${results.length} target(s) failed.\n`,
    );
  }
  return failed === 0 ? ExitCode.Ok : ExitCode.Failure;
}
