/**
 * Issue 9 §1: the history checker. Given what every client saw (history.ts), it says where DESIGN
 * §3 was broken; checkHistory's comment lists the rules. Unit tests: check-history.test.ts.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventOf, HistoryEvent } from './history.js';

export type Rule = 'seats' | 'grants' | 'fencing' | 'use';

export interface Violation {
  readonly rule: Rule;
  readonly message: string;
  /** Monotonic ms, when the violation is at an instant. */
  readonly at?: number;
  readonly leases?: readonly string[];
}

/** A lease the daemon holds at the end of the run (from `status` or the engine). */
export interface ServerLease {
  readonly id: string;
  readonly feature?: string;
  /** The holder's user name (the tests name clients and users alike). */
  readonly user?: string;
}

export interface CheckOptions {
  /** Seats per feature (a number: the same for every feature). */
  readonly seats: number | Readonly<Record<string, number>>;
  /**
   * What the daemon holds after the run, once every client has settled: every lease a client still
   * holds must be there, and every lease there must be one a client holds or was told it lost.
   */
  readonly serverLeases?: readonly ServerLease[];
  /** Which recorded losses are acceptable in this run (default: any loss with a code and a reason). */
  readonly allowLoss?: (event: EventOf<'lost'>) => boolean;
  /** At most this many violations per rule are reported (default 20). */
  readonly limit?: number;
}

/** One acknowledged grant as the checker sees it. */
export interface GrantSpan {
  readonly lease: string;
  readonly client: string;
  readonly feature: string;
  readonly count: number;
  readonly fencing: number;
  /** The checkout's invoke time (for real-time order) and its acknowledgement. */
  readonly invokedAt: number;
  readonly ackedAt: number;
  /** How its holder's part ended, if it did: release invoked, loss reported, or held at the end. */
  readonly end: EventOf<'release:invoke' | 'lost' | 'held'> | undefined;
  /** [ackedAt, validUntil): when the holder may have believed it valid. */
  readonly validUntil: number;
}

/**
 * Checks a history against DESIGN §3 and returns every violation found (empty: the run kept the
 * promises):
 *
 * - seats (§3.1, §3.3): at no instant do leases that are valid by their holders' own client-side
 *   deadline hold more seats of a feature than it has. A lease counts from its grant's
 *   acknowledgement until the first of: its release is invoked, its loss is reported, and the
 *   deadline in force then (the SDK's `validUntil` never moves back, so this over-approximates the
 *   time the SDK called it valid: sound for finding violations).
 * - grants (§3.5, §3.6): every acknowledged grant ends in a release, a reported loss with a code
 *   and a reason (that `allowLoss` accepts), or is held at the end; with `serverLeases`, what the
 *   clients hold and what the daemon holds agree.
 * - fencing (§3.4): one token per lease, distinct leases have distinct tokens, and a grant whose
 *   checkout began after another grant was acknowledged has a larger token (the grant order the
 *   clients can observe; it implies the order per feature).
 * - use: the application used a lease only inside that span.
 */
export function checkHistory(events: readonly HistoryEvent[], options: CheckOptions): Violation[] {
  const limit = options.limit ?? 20;
  const out: Violation[] = [];
  const perRule = new Map<Rule, number>();
  const report = (v: Violation) => {
    const n = perRule.get(v.rule) ?? 0;
    perRule.set(v.rule, n + 1);
    if (n < limit) out.push(v);
  };
  const sorted = [...events].sort((a, b) => a.t - b.t);
  const spans = grantSpans(sorted, report);
  checkSeats(spans, options.seats, report);
  checkGrants(sorted, spans, options, report);
  checkFencing(spans, report);
  checkUses(sorted, spans, report);
  for (const [rule, n] of perRule) {
    if (n > limit) out.push({ rule, message: `… and ${n - limit} more ${rule} violations` });
  }
  return out;
}

/**
 * A readable one-line-per-violation summary for assertion messages; with `events`, the whole
 * history is also written to a JSON-lines file in the temp dir, named in the summary.
 */
export function describeViolations(
  violations: readonly Violation[],
  events?: readonly HistoryEvent[],
): string {
  const lines = violations.map((v) => `[${v.rule}] ${v.message}`);
  if (events !== undefined && violations.length > 0) {
    const file = join(tmpdir(), `leasehold-history-${process.pid}-${Date.now()}.jsonl`);
    writeFileSync(
      file,
      [...events]
        .sort((a, b) => a.t - b.t)
        .map((e) => JSON.stringify(e))
        .join('\n'),
    );
    lines.push(`history: ${file}`);
  }
  return lines.join('\n');
}

function grantSpans(sorted: readonly HistoryEvent[], report: (v: Violation) => void): Map<string, GrantSpan> {
  const invokes = new Map<string, number>();
  const acks = new Map<string, { ok: EventOf<'checkout:ok'>; invokedAt: number }>();
  const ends = new Map<string, EventOf<'release:invoke' | 'lost' | 'held'>>();
  /** Per client, the last deadline recorded: the bound for a client that stopped recording. */
  const lastDeadline = new Map<string, number>();
  for (const e of sorted) {
    if ('deadline' in e)
      lastDeadline.set(e.client, Math.max(lastDeadline.get(e.client) ?? -Infinity, e.deadline));
    switch (e.type) {
      case 'checkout:invoke':
        invokes.set(`${e.client}#${e.op}`, e.t);
        break;
      case 'checkout:ok': {
        const known = acks.get(e.lease);
        if (known === undefined) {
          acks.set(e.lease, { ok: e, invokedAt: invokes.get(`${e.client}#${e.op}`) ?? e.t });
        } else if (known.ok.client !== e.client) {
          report({
            rule: 'grants',
            message: `lease ${e.lease} was acknowledged to two clients: ${known.ok.client} and ${e.client}`,
            at: e.t,
            leases: [e.lease],
          });
        }
        break;
      }
      case 'release:invoke':
      case 'lost':
      case 'held':
        if (acks.has(e.lease) && !ends.has(e.lease)) ends.set(e.lease, e);
        break;
      default:
        break;
    }
  }
  const spans = new Map<string, GrantSpan>();
  for (const [lease, { ok, invokedAt }] of acks) {
    const end = ends.get(lease);
    // A client that stopped recording (a killed child) is bounded by the last deadline it saw.
    const until = end ? Math.min(end.t, end.deadline) : (lastDeadline.get(ok.client) ?? ok.deadline);
    spans.set(lease, {
      lease,
      client: ok.client,
      feature: ok.feature,
      count: ok.count,
      fencing: ok.fencing,
      invokedAt,
      ackedAt: ok.t,
      end,
      validUntil: Math.max(ok.t, until),
    });
  }
  return spans;
}

function checkSeats(
  spans: ReadonlyMap<string, GrantSpan>,
  seats: CheckOptions['seats'],
  report: (v: Violation) => void,
): void {
  const byFeature = new Map<string, GrantSpan[]>();
  for (const span of spans.values()) {
    if (span.validUntil <= span.ackedAt) continue;
    const list = byFeature.get(span.feature) ?? [];
    list.push(span);
    byFeature.set(span.feature, list);
  }
  for (const [feature, list] of byFeature) {
    const limit = typeof seats === 'number' ? seats : seats[feature];
    if (limit === undefined) {
      report({ rule: 'seats', message: `feature '${feature}' has no seat count in the check options` });
      continue;
    }
    // Half-open spans: at one instant an end is taken before a start.
    const points: Array<{ t: number; delta: number; span: GrantSpan }> = [];
    for (const span of list) {
      points.push({ t: span.ackedAt, delta: span.count, span });
      points.push({ t: span.validUntil, delta: -span.count, span });
    }
    points.sort((a, b) => a.t - b.t || a.delta - b.delta);
    const live = new Set<GrantSpan>();
    let inUse = 0;
    let over = false;
    for (const p of points) {
      inUse += p.delta;
      if (p.delta > 0) live.add(p.span);
      else live.delete(p.span);
      if (inUse > limit && !over) {
        over = true;
        const holders = [...live].map(
          (s) =>
            `${s.lease} (${s.client}, fencing ${s.fencing}, valid ${s.ackedAt.toFixed(1)}..${s.validUntil.toFixed(1)})`,
        );
        report({
          rule: 'seats',
          message: `${inUse} seats of '${feature}' (of ${limit}) held by valid leases at ${p.t.toFixed(1)}: ${holders.join(', ')}`,
          at: p.t,
          leases: [...live].map((s) => s.lease),
        });
      } else if (inUse <= limit) over = false;
    }
  }
}

function checkGrants(
  sorted: readonly HistoryEvent[],
  spans: ReadonlyMap<string, GrantSpan>,
  options: CheckOptions,
  report: (v: Violation) => void,
): void {
  const lost = new Map<string, EventOf<'lost'>>();
  const released = new Set<string>();
  const held = new Set<string>();
  for (const e of sorted) {
    if (e.type === 'lost' && !lost.has(e.lease)) lost.set(e.lease, e);
    if (e.type === 'release:ok') released.add(e.lease);
    if (e.type === 'held') held.add(e.lease);
  }
  for (const span of spans.values()) {
    if (span.end === undefined) {
      report({
        rule: 'grants',
        message: `acknowledged grant ${span.lease} (${span.client}, fencing ${span.fencing}) disappeared: no release, no reported loss, not held at the end`,
        at: span.ackedAt,
        leases: [span.lease],
      });
    }
  }
  for (const e of lost.values()) {
    // A loss reported while the release was under way (the checkin's reply lost with the
    // connection, the heartbeat that follows the reconnect answering LEASE_NOT_FOUND) is the release.
    if (spans.get(e.lease)?.end !== e) continue;
    const accepted = e.code !== '' && e.reason !== '' && (options.allowLoss?.(e) ?? true);
    if (!accepted) {
      report({
        rule: 'grants',
        message: `lease ${e.lease} (${e.client}) was lost with ${e.code || 'no code'} / ${e.reason || 'no reason'}, which this run does not allow`,
        at: e.t,
        leases: [e.lease],
      });
    }
  }
  if (options.serverLeases === undefined) return;
  const onServer = new Set(options.serverLeases.map((l) => l.id));
  for (const id of held) {
    if (!onServer.has(id)) {
      report({
        rule: 'grants',
        message: `client ${spans.get(id)?.client} still holds ${id} but the daemon does not (a silent loss)`,
        leases: [id],
      });
    }
  }
  for (const l of options.serverLeases) {
    // Held by a client, or its loss was reported (the SDK checks such a lease in when it can).
    if (held.has(l.id) || lost.has(l.id)) continue;
    const span = spans.get(l.id);
    if (span === undefined) {
      report({
        rule: 'grants',
        message: `the daemon holds ${l.id}, which no client was ever told it was granted (a leaked seat)`,
        leases: [l.id],
      });
    } else if (released.has(l.id)) {
      report({
        rule: 'grants',
        message: `the daemon still holds ${l.id}, whose release was acknowledged to ${span.client}`,
        leases: [l.id],
      });
    }
    // Otherwise the grant has no end at all, reported above.
  }
}

function checkFencing(spans: ReadonlyMap<string, GrantSpan>, report: (v: Violation) => void): void {
  const byToken = new Map<number, string>();
  for (const span of spans.values()) {
    const other = byToken.get(span.fencing);
    if (other !== undefined) {
      report({
        rule: 'fencing',
        message: `leases ${other} and ${span.lease} share fencing token ${span.fencing}`,
        leases: [other, span.lease],
      });
    } else byToken.set(span.fencing, span.lease);
  }
  // Real-time order: everything acknowledged before a checkout began was granted before it.
  const byAck = [...spans.values()].sort((a, b) => a.ackedAt - b.ackedAt);
  const byInvoke = [...spans.values()].sort((a, b) => a.invokedAt - b.invokedAt);
  let i = 0;
  let best: GrantSpan | undefined;
  for (const span of byInvoke) {
    while (i < byAck.length && byAck[i]!.ackedAt < span.invokedAt) {
      const candidate = byAck[i++]!;
      if (best === undefined || candidate.fencing > best.fencing) best = candidate;
    }
    if (best !== undefined && best.lease !== span.lease && best.fencing >= span.fencing) {
      report({
        rule: 'fencing',
        message: `lease ${span.lease} (${span.client}) got fencing ${span.fencing}, not more than ${best.fencing} of ${best.lease} (${best.client}) acknowledged before its checkout began`,
        at: span.ackedAt,
        leases: [best.lease, span.lease],
      });
    }
  }
}

function checkUses(
  sorted: readonly HistoryEvent[],
  spans: ReadonlyMap<string, GrantSpan>,
  report: (v: Violation) => void,
): void {
  for (const e of sorted) {
    if (e.type !== 'use') continue;
    const span = spans.get(e.lease);
    if (span === undefined || e.t < span.ackedAt || e.t >= span.validUntil) {
      report({
        rule: 'use',
        message: `${e.client} used ${e.lease} at ${e.t.toFixed(1)}, outside its valid span${span ? ` ${span.ackedAt.toFixed(1)}..${span.validUntil.toFixed(1)}` : ' (never granted)'}`,
        at: e.t,
        leases: [e.lease],
      });
    }
  }
}
