/** Issue 7 §3: denials by reason, user, hour and feature; true denials versus retried ones. */
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/reports/audit-events.js';
import {
  DEFAULT_RETRY_WINDOW_MS,
  type DenialsOptions,
  denialsReport,
  formatDenials,
  type TimedAuditEvent,
} from '../../src/reports/report-denials.js';

const MIN = 60_000;
/** 2025-01-06T00:00Z */
const DAY0 = Date.UTC(2025, 0, 6);
/** `at(9, 2)`: 09:02 UTC on 2025-01-06. */
const at = (h: number, m = 0) => DAY0 + h * 3_600_000 + m * MIN;
const rec = (ms: number, event: AuditEvent): TimedAuditEvent => ({
  ...event,
  ts: new Date(ms).toISOString(),
});

const deny = (ms: number, user: string, code: string, feature = 'cad') =>
  rec(ms, { t: 'deny', feature, user, host: 'ws', count: 1, code });
let leaseNo = 0;
const grant = (ms: number, user: string, feature = 'cad') =>
  rec(ms, {
    t: 'grant',
    lease: `L${++leaseNo}`,
    feature,
    user,
    host: 'ws',
    count: 1,
    type: 'concurrent',
    session: 's',
    fencing: leaseNo,
  });

/**
 * The period is [09:00, 11:00). In it: 9 denials, 4 true (bob, gina, alice at 10:05, dave), 5
 * retried (alice at 09:00, carol twice, hank exactly at the window, erin by a grant after `to`).
 */
const TRAIL: TimedAuditEvent[] = [
  deny(at(8, 59), 'zoe', 'NO_SEATS'), // before the period
  deny(at(9, 0), 'alice', 'NO_SEATS'),
  grant(at(9, 2), 'alice'), // 2 min later: retried
  deny(at(9, 10), 'bob', 'NO_SEATS'),
  grant(at(9, 20), 'bob'), // 10 min later: too late, true
  deny(at(9, 30), 'carol', 'GROUP_MAX'),
  deny(at(9, 31), 'carol', 'GROUP_MAX'),
  grant(at(9, 34), 'carol'), // retries both
  grant(at(9, 40), 'gina'),
  deny(at(9, 41), 'gina', 'NO_SEATS'), // a grant before the denial does not count: true
  deny(at(10, 5), 'alice', 'USER_NOT_ENABLED'),
  grant(at(10, 6), 'alice', 'analytics'), // another feature: the 10:05 denial stays true
  deny(at(10, 10), 'dave', 'NO_SEATS', 'analytics'), // never granted: true
  deny(at(10, 20), 'hank', 'NO_SEATS'),
  grant(at(10, 25), 'hank'), // exactly 5 min: retried (the window is inclusive)
  deny(at(10, 58), 'erin', 'NO_SEATS'),
  deny(at(11, 1), 'frank', 'NO_SEATS'), // after the period
  grant(at(11, 2), 'erin'), // after `to`, within erin's window: retried
];

const PERIOD: DenialsOptions = { fromMs: at(9), toMs: at(11), windowMs: DEFAULT_RETRY_WINDOW_MS };

describe('denialsReport', () => {
  it('counts the denials of the period with true and retried ones', async () => {
    const r = await denialsReport(TRAIL, PERIOD);
    expect(r.summary).toEqual({ total: 9, trueDenials: 4, retried: 5 });
  });

  it('groups by reason, most denials first', async () => {
    const r = await denialsReport(TRAIL, PERIOD);
    expect(r.byReason).toEqual([
      { key: 'NO_SEATS', denials: 6, trueDenials: 3, retried: 3 },
      { key: 'GROUP_MAX', denials: 2, trueDenials: 0, retried: 2 },
      { key: 'USER_NOT_ENABLED', denials: 1, trueDenials: 1, retried: 0 },
    ]);
  });

  it('groups by user, most denials first, then by name', async () => {
    const r = await denialsReport(TRAIL, PERIOD);
    expect(r.byUser).toEqual([
      { key: 'alice', denials: 2, trueDenials: 1, retried: 1 },
      { key: 'carol', denials: 2, trueDenials: 0, retried: 2 },
      { key: 'bob', denials: 1, trueDenials: 1, retried: 0 },
      { key: 'dave', denials: 1, trueDenials: 1, retried: 0 },
      { key: 'erin', denials: 1, trueDenials: 0, retried: 1 },
      { key: 'gina', denials: 1, trueDenials: 1, retried: 0 },
      { key: 'hank', denials: 1, trueDenials: 0, retried: 1 },
    ]);
  });

  it('groups by UTC hour in time order, and by feature', async () => {
    const r = await denialsReport(TRAIL, PERIOD);
    expect(r.byHour).toEqual([
      { key: '2025-01-06T09:00:00.000Z', denials: 5, trueDenials: 2, retried: 3 },
      { key: '2025-01-06T10:00:00.000Z', denials: 4, trueDenials: 2, retried: 2 },
    ]);
    expect(r.byFeature).toEqual([
      { key: 'cad', denials: 8, trueDenials: 3, retried: 5 },
      { key: 'analytics', denials: 1, trueDenials: 1, retried: 0 },
    ]);
  });

  it('takes the retry window as an option', async () => {
    const narrow = await denialsReport(TRAIL, { ...PERIOD, windowMs: MIN });
    expect(narrow.summary).toEqual({ total: 9, trueDenials: 9, retried: 0 });
    // 10 minutes: bob's grant 10 min after his denial now counts (inclusive).
    const wide = await denialsReport(TRAIL, { ...PERIOD, windowMs: 10 * MIN });
    expect(wide.summary).toEqual({ total: 9, trueDenials: 3, retried: 6 });
  });

  it('filters by feature', async () => {
    const r = await denialsReport(TRAIL, { ...PERIOD, feature: 'analytics' });
    expect(r.summary).toEqual({ total: 1, trueDenials: 1, retried: 0 });
    expect(r.byUser).toEqual([{ key: 'dave', denials: 1, trueDenials: 1, retried: 0 }]);
  });

  it('counts a denial whose window reaches past the end of the trail as true', async () => {
    const r = await denialsReport(
      TRAIL.filter((x) => Date.parse(x.ts) < at(11, 2)),
      PERIOD,
    );
    expect(r.summary).toEqual({ total: 9, trueDenials: 5, retried: 4 });
  });

  it('reads an async trail and stops after `to` + window', async () => {
    let pulledAfterEnd = false;
    async function* trail(): AsyncGenerator<TimedAuditEvent> {
      yield* TRAIL;
      yield grant(at(11, 6), 'frank'); // past 11:05: ends the reading
      pulledAfterEnd = true;
      yield grant(at(11, 7), 'frank');
    }
    const r = await denialsReport(trail(), PERIOD);
    expect(r.summary.total).toBe(9);
    expect(pulledAfterEnd).toBe(false);
  });

  it('books a record whose clock stepped back at the time of the one before', async () => {
    // The denial's ts is before the grant's, but it comes after it in the trail: no retry.
    const r = await denialsReport([grant(at(9, 5), 'ivy'), deny(at(9, 4), 'ivy', 'NO_SEATS')], PERIOD);
    expect(r.summary).toEqual({ total: 1, trueDenials: 1, retried: 0 });
    expect(r.byHour[0]?.key).toBe('2025-01-06T09:00:00.000Z');
  });
});

describe('formatDenials', () => {
  it('table: a heading with the summary, then the rows', async () => {
    const r = await denialsReport(TRAIL, PERIOD);
    expect(formatDenials(r, 'reason', 'table')).toBe(
      'Denials of all features, 2025-01-06T09:00:00.000Z to 2025-01-06T11:00:00.000Z (UTC, end excluded): 9\n' +
        '  true: 4, retried: 5 (the user got a seat of the feature within 5m after the denial)\n' +
        '\n' +
        'REASON            DENIALS  TRUE  RETRIED\n' +
        'NO_SEATS                6     3        3\n' +
        'GROUP_MAX               2     0        2\n' +
        'USER_NOT_ENABLED        1     1        0\n',
    );
    expect(formatDenials(r, 'hour', 'table')).toContain(
      'HOUR (UTC)         DENIALS  TRUE  RETRIED\n' +
        '2025-01-06 09:00Z        5     2        3\n' +
        '2025-01-06 10:00Z        4     2        2\n',
    );
  });

  it('table: says so when there are none', async () => {
    const r = await denialsReport([], PERIOD);
    expect(formatDenials(r, 'user', 'table')).toMatch(/: 0\n.*\n\nNo denials\.\n$/);
  });

  it('csv: a header row and one row per user', async () => {
    const r = await denialsReport(TRAIL, PERIOD);
    expect(formatDenials(r, 'user', 'csv')).toBe(
      'user,denials,trueDenials,retried\r\n' +
        'alice,2,1,1\r\n' +
        'carol,2,0,2\r\n' +
        'bob,1,1,0\r\n' +
        'dave,1,1,0\r\n' +
        'erin,1,0,1\r\n' +
        'gina,1,1,0\r\n' +
        'hank,1,0,1\r\n',
    );
  });

  it('json: the period, the window, the summary and the rows', async () => {
    const r = await denialsReport(TRAIL, { ...PERIOD, feature: 'cad' });
    expect(JSON.parse(formatDenials(r, 'hour', 'json'))).toEqual({
      from: '2025-01-06T09:00:00.000Z',
      to: '2025-01-06T11:00:00.000Z',
      feature: 'cad',
      windowMs: 300_000,
      by: 'hour',
      summary: { total: 8, trueDenials: 3, retried: 5 },
      denials: [
        { hour: '2025-01-06T09:00:00.000Z', denials: 5, trueDenials: 2, retried: 3 },
        { hour: '2025-01-06T10:00:00.000Z', denials: 3, trueDenials: 1, retried: 2 },
      ],
    });
  });
});
