/**
 * `leasehold report usage|rightsize|...` (DESIGN §5, issue 7 §3): reports read the daemon's state
 * directory directly (usage.json and the audit trail), so they work while the daemon is down.
 * `denials`, `compliance` and `verify-audit` are added by report-audit.ts.
 */
import { stat } from 'node:fs/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { REPORT_FORMATS, type ReportFormat } from '../reports/report-format.js';
import { renderRightsize, rightsizeRows } from '../reports/report-rightsize.js';
import {
  ALL_GROUPS_LABEL,
  defaultGranularity,
  GRANULARITIES,
  type Granularity,
  parseReportTime,
  type ReportPeriod,
  type ReportTime,
  renderUsage,
  reportPeriod,
  startOfDay,
  usageRows,
} from '../reports/report-usage.js';
import { ALL_GROUPS, DAY_MS, type UsageRollups } from '../reports/rollups.js';
import { catchUp, loadUsage, rebuildUsage } from '../reports/usage-store.js';
import { ExitCode } from './exit-codes.js';
import type { CommandIO } from './io.js';
import { addAuditReports } from './report-audit.js';
import { addStateDirOptions, type StateDirFlags, stateDirOf } from './state-dir-option.js';

type Source = 'rollups' | 'audit';

interface PeriodFlags extends StateDirFlags {
  feature?: string;
  from?: ReportTime;
  to?: ReportTime;
  format: ReportFormat;
}

interface UsageFlags extends PeriodFlags {
  group?: string;
  by?: Granularity;
  source: Source;
}

/** How long `report rightsize` looks back by default. */
const RIGHTSIZE_DEFAULT_DAYS = 365;

const DATES_HELP =
  '\nDates: YYYY-MM-DD or an ISO time (2025-03-03T14:00, 2025-03-03T14:00+01:00). All days and hours are\n' +
  'UTC; a time without an offset is UTC. A date in --to includes that whole day; a time in --to is\n' +
  'the end, exclusive.\n';

function reportTime(value: string): ReportTime {
  const t = parseReportTime(value);
  if (!t) throw new InvalidArgumentError('give a date YYYY-MM-DD or an ISO time like 2025-03-03T14:00Z.');
  return t;
}

/** --feature, --from and --to: what a report covers. */
function periodOptions(command: Command, fromHelp: string): Command {
  return command
    .option('--feature <name>', 'only this feature')
    .addOption(new Option('--from <date>', fromHelp).argParser(reportTime))
    .addOption(new Option('--to <date>', 'end of the period, UTC (default: now)').argParser(reportTime));
}

/** --format and where the state directory is; last in the help, then the dates explained. */
function outputOptions(command: Command): Command {
  return addStateDirOptions(
    command.addOption(
      new Option('--format <format>', 'output format').choices(REPORT_FORMATS).default('table'),
    ),
  ).addHelpText('after', DATES_HELP);
}

export function addReportCommand(program: Command, io: CommandIO): void {
  const report = program
    .command('report')
    .summary('usage, right-sizing, denial and compliance reports')
    .description(
      "reports from the daemon's state directory (the usage rollups and the audit trail); they read " +
        'the files directly, so they work while the daemon is down (like FlexLM report log analysis)',
    );

  const usage = report
    .command('usage')
    .description(
      'the Concurrent Usage Report: per hour (a period of up to a day) or per day, per feature and ' +
        'group ("(all)" is the feature total): licensed seats, peak and average seats in use, distinct ' +
        'users, grants, denials, queue entries, queue waits (median, 95th percentile) and the longest queue',
    );
  periodOptions(usage, 'start of the period, UTC (default: the start of today)')
    .option('--group <group>', `only this group ('-': leases of no group; '${ALL_GROUPS_LABEL}': the totals)`)
    .addOption(
      new Option(
        '--by <unit>',
        'one row per hour or per day (default: hour for up to a day, else day)',
      ).choices(GRANULARITIES),
    )
    .addOption(
      new Option(
        '--source <source>',
        'rollups: usage.json plus the audit trail since; audit: rebuild from the whole audit trail ' +
          '(for auditors: the same numbers)',
      )
        .choices(['rollups', 'audit'])
        .default('rollups'),
    );
  outputOptions(usage).action(async (flags: UsageFlags) => {
    io.setExitCode(await usageReport(flags, io));
  });

  const rightsize = report
    .command('rightsize')
    .description(
      'per feature: the seats that would have met the observed demand (seats in use + seats waited ' +
        'for) 95%, 99% and 100% of the time, against the licensed seats and the peak, with a suggestion',
    );
  periodOptions(rightsize, `start of the period, UTC (default: ${RIGHTSIZE_DEFAULT_DAYS} days before today)`);
  outputOptions(rightsize).action(async (flags: PeriodFlags) => {
    io.setExitCode(await rightsizeReport(flags, io));
  });

  addAuditReports(report, io);
}

async function usageReport(flags: UsageFlags, io: CommandIO): Promise<number> {
  const nowMs = Date.now();
  const period = periodOf(flags, nowMs, startOfDay(nowMs), io);
  if (!period) return ExitCode.Usage;
  const by = flags.by ?? defaultGranularity(period);
  const group = flags.group === ALL_GROUPS_LABEL ? ALL_GROUPS : flags.group;
  return withRollups(flags, flags.source, nowMs, io, (rollups) =>
    renderUsage(
      usageRows(rollups, {
        ...period,
        by,
        nowMs,
        ...(flags.feature === undefined ? {} : { feature: flags.feature }),
        ...(group === undefined ? {} : { group }),
      }),
      { ...period, by, format: flags.format, source: flags.source },
    ),
  );
}

async function rightsizeReport(flags: PeriodFlags, io: CommandIO): Promise<number> {
  const nowMs = Date.now();
  const period = periodOf(flags, nowMs, startOfDay(nowMs) - RIGHTSIZE_DEFAULT_DAYS * DAY_MS, io);
  if (!period) return ExitCode.Usage;
  return withRollups(flags, 'rollups', nowMs, io, (rollups) =>
    renderRightsize(
      rightsizeRows(rollups, {
        ...period,
        ...(flags.feature === undefined ? {} : { feature: flags.feature }),
      }),
      { ...period, format: flags.format },
    ),
  );
}

function periodOf(
  flags: PeriodFlags,
  nowMs: number,
  defaultFromMs: number,
  io: CommandIO,
): ReportPeriod | null {
  const period = reportPeriod(flags.from, flags.to, nowMs, defaultFromMs);
  if (period instanceof Error) {
    io.err(`leasehold: ${period.message}\n`);
    return null;
  }
  return period;
}

/**
 * Reads the rollups (usage.json caught up with the audit trail, or rebuilt from the trail),
 * brings them up to now and prints what `show` makes of them.
 */
async function withRollups(
  flags: StateDirFlags,
  source: Source,
  nowMs: number,
  io: CommandIO,
  show: (rollups: UsageRollups) => string,
): Promise<number> {
  const stateDir = stateDirOf(flags);
  if (stateDir instanceof Error) {
    io.err(`leasehold: ${stateDir.message}\n`);
    return ExitCode.Usage;
  }
  let rollups: UsageRollups;
  try {
    if (!(await stat(stateDir)).isDirectory()) throw new Error(`${stateDir} is not a directory`);
    if (source === 'audit') {
      rollups = await rebuildUsage(stateDir);
    } else {
      rollups = await loadUsage(stateDir);
      await catchUp(rollups, stateDir);
    }
  } catch (err) {
    io.err(`leasehold: cannot read the usage of ${stateDir}: ${(err as Error).message}\n`);
    return ExitCode.Failure;
  }
  // The current hour counts up to now, as if the daemon still runs (unless the trail says it stopped).
  rollups.advance(nowMs);
  io.out(show(rollups));
  return ExitCode.Ok;
}
