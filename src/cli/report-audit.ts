/**
 * `leasehold report denials|compliance|verify-audit` (DESIGN §5, issue 7 §1 and §3): the reports
 * computed from the audit trail alone (`<state_dir>/audit/audit-YYYY-MM-DD.jsonl`), read directly
 * from the state directory, so they work while the daemon is down. report.ts adds them to `report`.
 *
 * Exit codes (DESIGN §5): 0 the report was made, 64 bad input, 1 anything else. `compliance` exits
 * 0 even when it finds an overdraft: the report says so (`compliant: false` in JSON), the way
 * `report usage` exits 0 whatever the usage was; a failed check is what `verify-audit` is for,
 * which exits 1 when the trail is damaged.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { formatDuration, parseDuration } from '../config/duration.js';
import { readAudit } from '../reports/audit-reader.js';
import { type AuditVerifyResult, verifyAudit } from '../reports/audit-verify.js';
import {
  COMPLIANCE_TABLES,
  type ComplianceTable,
  complianceReport,
  formatCompliance,
} from '../reports/report-compliance.js';
import {
  DEFAULT_RETRY_WINDOW_MS,
  DENIAL_VIEWS,
  type DenialView,
  denialsReport,
  formatDenials,
} from '../reports/report-denials.js';
import { REPORT_FORMATS, type ReportFormat } from '../reports/report-format.js';
import {
  parseReportTime,
  type ReportPeriod,
  type ReportTime,
  reportPeriod,
  startOfDay,
} from '../reports/report-usage.js';
import { DAY_MS } from '../reports/rollups.js';
import { auditDir } from '../reports/usage-store.js';
import { ExitCode } from './exit-codes.js';
import type { CommandIO } from './io.js';
import { addStateDirOptions, type StateDirFlags, stateDirOf } from './state-dir-option.js';

/** How far back the audit reports look by default (issue 7: compliance over 12 months). */
const DEFAULT_DAYS = 365;

interface PeriodFlags extends StateDirFlags {
  feature?: string;
  from?: ReportTime;
  to?: ReportTime;
  format: ReportFormat;
}

interface DenialsFlags extends PeriodFlags {
  window: string;
  by: DenialView;
}

interface ComplianceFlags extends PeriodFlags {
  rows?: ComplianceTable;
}

interface VerifyFlags extends StateDirFlags {
  json?: boolean;
}

// The same date rules as `report usage` (report-usage.ts): a date in --to includes that day.
const DATES_HELP =
  '\nDates: YYYY-MM-DD or an ISO time (2025-03-03T14:00, 2025-03-03T14:00+01:00). All days and hours are\n' +
  'UTC; a time without an offset is UTC. A date in --to includes that whole day; a time in --to is\n' +
  `the end, exclusive. Default period: from the start of the day ${DEFAULT_DAYS} days ago (UTC) to now.\n`;

function reportTime(value: string): ReportTime {
  const t = parseReportTime(value);
  if (!t) throw new InvalidArgumentError('give a date YYYY-MM-DD or an ISO time like 2025-03-03T14:00Z.');
  return t;
}

function periodOptions(command: Command): Command {
  return addStateDirOptions(
    command
      .option('--feature <name>', 'only this feature')
      .addOption(
        new Option('--from <date>', `start of the period, UTC (default: ${DEFAULT_DAYS} days ago)`).argParser(
          reportTime,
        ),
      )
      .addOption(new Option('--to <date>', 'end of the period, UTC (default: now)').argParser(reportTime))
      .addOption(new Option('--format <format>', 'output format').choices(REPORT_FORMATS).default('table')),
  ).addHelpText('after', DATES_HELP);
}

/** Adds `denials`, `compliance` and `verify-audit` to the `report` command. */
export function addAuditReports(report: Command, io: CommandIO): void {
  periodOptions(
    report
      .command('denials')
      .description(
        'denials from the audit trail by reason, user, UTC hour or feature, and how many were "true" ' +
          'denials: not followed by a grant of the same feature to the same user within --window ' +
          '(the others are "retried": the user got a seat soon after)',
      )
      .option(
        '--window <duration>',
        'a grant this soon after a denial makes it "retried"',
        formatDuration(DEFAULT_RETRY_WINDOW_MS),
      )
      .addOption(
        new Option('--by <view>', 'one row per reason (error code), user, UTC hour or feature')
          .choices(DENIAL_VIEWS)
          .default('reason'),
      ),
  ).action(async (flags: DenialsFlags) => {
    io.setExitCode(await denials(flags, io));
  });

  periodOptions(
    report
      .command('compliance')
      .description(
        'per feature: licensed seats and every change of them, peak seats in use, and every interval ' +
          'of overdraft (seats in use above the licensed count, as after an admin lowers seats), ' +
          'replayed from the audit trail alone',
      )
      .addOption(
        new Option(
          '--rows <table>',
          'print only this table (csv holds one table: default features; json always holds all)',
        ).choices(COMPLIANCE_TABLES),
      ),
  )
    .addHelpText(
      'after',
      '\nExit code 0 whenever the report is made, overdraft or not: the report says which (with\n' +
        '--format json: `compliant`). `verify-audit` checks that the trail itself is intact.\n',
    )
    .action(async (flags: ComplianceFlags) => {
      io.setExitCode(await compliance(flags, io));
    });

  addStateDirOptions(
    report
      .command('verify-audit')
      .description(
        "check the audit trail's hash chain: that no line was edited, deleted, inserted or reordered; " +
          'names each problem by file and line',
      )
      .option('--json', 'print one JSON document (camelCase keys)'),
  )
    .addHelpText(
      'after',
      '\nExit codes: 0 the trail is intact, 1 a problem was found (or it cannot be read).\n',
    )
    .action(async (flags: VerifyFlags) => {
      io.setExitCode(await verify(flags, io));
    });
}

async function denials(flags: DenialsFlags, io: CommandIO): Promise<number> {
  const windowMs = parseDuration(flags.window);
  if (windowMs === undefined) {
    io.err(`leasehold: --window must be a duration like 30s, 5m or 1h; got ${flags.window}\n`);
    return ExitCode.Usage;
  }
  const period = periodOf(flags, io);
  if (!period) return ExitCode.Usage;
  return withAuditDir(flags, io, async (dir) => {
    // A denial just before `to` is decided by the grants up to `to` + window.
    const records = readAudit(dir, { fromMs: period.fromMs, toMs: period.toMs + windowMs });
    const report = await denialsReport(records, {
      ...period,
      windowMs,
      ...(flags.feature === undefined ? {} : { feature: flags.feature }),
    });
    io.out(formatDenials(report, flags.by, flags.format));
    return ExitCode.Ok;
  });
}

async function compliance(flags: ComplianceFlags, io: CommandIO): Promise<number> {
  const period = periodOf(flags, io);
  if (!period) return ExitCode.Usage;
  return withAuditDir(flags, io, async (dir) => {
    // From the beginning of the trail: the state at `from` is replayed, not assumed.
    const records = readAudit(dir, { toMs: period.toMs });
    const report = await complianceReport(records, {
      ...period,
      ...(flags.feature === undefined ? {} : { feature: flags.feature }),
    });
    io.out(formatCompliance(report, flags.format, flags.rows));
    return ExitCode.Ok;
  });
}

async function verify(flags: VerifyFlags, io: CommandIO): Promise<number> {
  return withAuditDir(flags, io, async (dir) => {
    const result = await verifyAudit(dir);
    io.out(flags.json ? `${JSON.stringify({ dir, ...result }, null, 2)}\n` : verifyText(dir, result));
    return result.ok ? ExitCode.Ok : ExitCode.Failure;
  });
}

function verifyText(dir: string, r: AuditVerifyResult): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const seqs = r.firstSeq === undefined ? '' : `, seq ${r.firstSeq}–${r.lastSeq ?? r.firstSeq}`;
  let out = `Audit trail ${dir}: ${plural(r.files, 'file')}, ${plural(r.lines, 'line')}${seqs}.\n`;
  if (r.firstSeq !== undefined) {
    out += r.anchored
      ? 'Complete from its start: the first line begins the hash chain.\n'
      : `Begins at seq ${r.firstSeq}: older files were removed by retention; checked from there on.\n`;
  }
  if (r.torn) {
    out +=
      `${r.torn.file} line ${r.torn.line} has no newline yet: a write in progress, or a crash ` +
      'the daemon cuts away at its next start (not a problem).\n';
  }
  if (r.ok) return `${out}OK: the hash chain is intact.\n`;
  out += `FAILED: ${plural(r.problems.length, 'problem')}:\n`;
  for (const p of r.problems) {
    out += `  ${join(dir, p.file)}:${p.line}: ${p.seq === undefined ? '' : `seq ${p.seq}: `}${p.problem}\n`;
  }
  return out;
}

/** The period of --from/--to, by `report usage`'s rules; default the last 365 days. */
function periodOf(flags: PeriodFlags, io: CommandIO): ReportPeriod | null {
  const nowMs = Date.now();
  const period = reportPeriod(flags.from, flags.to, nowMs, startOfDay(nowMs) - DEFAULT_DAYS * DAY_MS);
  if (period instanceof Error) {
    io.err(`leasehold: ${period.message}\n`);
    return null;
  }
  return period;
}

/** Runs `work` on `<state_dir>/audit`; a missing state directory or trail is an error (exit 1). */
async function withAuditDir(
  flags: StateDirFlags,
  io: CommandIO,
  work: (dir: string) => Promise<number>,
): Promise<number> {
  const stateDir = stateDirOf(flags);
  if (stateDir instanceof Error) {
    io.err(`leasehold: ${stateDir.message}\n`);
    return ExitCode.Usage;
  }
  const dir = auditDir(stateDir);
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error(`${dir} is not a directory`);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    io.err(`leasehold: no audit trail: ${missing ? `${dir} does not exist` : (err as Error).message}\n`);
    return ExitCode.Failure;
  }
  try {
    return await work(dir);
  } catch (err) {
    io.err(`leasehold: cannot read the audit trail in ${dir}: ${(err as Error).message}\n`);
    return ExitCode.Failure;
  }
}
