/**
 * Hourly usage rollups (issue 7 §2): per feature × group × UTC hour, computed only from audit
 * events applied in `seq` order, so the audit trail rebuilds them exactly (`report usage --source
 * audit` must give the same numbers as usage.json).
 *
 * Group key: the lease's or waiter's `group`, '-' when it has none, and '*' for the feature total
 * (always kept; its peak is the peak of the total, not the sum of the groups' peaks).
 *
 * Time: the integrals run from one record's `ts` to the next while the daemon runs. `stop` closes
 * them and nothing accrues until the next `start`; a `start` without a `stop` before it (a crash)
 * closes the previous integral at the start's time. An integral that crosses an hour boundary is
 * split exactly at the boundary, and the holders and waiters of that moment enter the new hour's
 * buckets. A record whose `ts` is earlier than the last one (the wall clock stepped back) is booked
 * at the last time instead, so time never runs backwards in an integral.
 *
 * Live state: counts of what is held and waited for (live-counts.ts; issue 8), not the leases. A
 * `start` that lists the leases resets the counts to them; one without the list (a large restart)
 * keeps them: the leases held are the ones the trail left held.
 *
 * Queue waits: each bucket keeps at most WAIT_SAMPLE_CAP waits. When the sample is full, every
 * other kept value is dropped and the stride doubles: the sample then holds the waits number 0,
 * stride, 2·stride, ... of the bucket in the order they were applied — the same for the same
 * records, and each kept value stands for `stride` waits when percentiles are merged.
 */
import type { AuditEvent, AuditLease, AuditWaiter } from './audit-events.js';
import { ALL_GROUPS, groupOf, type HeldCount, LiveCounts } from './live-counts.js';

export { ALL_GROUPS, NO_GROUP } from './live-counts.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** Buckets are kept at least 13 months. */
export const DEFAULT_USAGE_RETENTION_MS = 400 * DAY_MS;
/** The most queue waits a bucket keeps (see the header on downsampling). */
export const WAIT_SAMPLE_CAP = 1000;

type StartEvent = Extract<AuditEvent, { readonly t: 'start' }>;

/** One audit record as the rollups take it: `ts` in epoch milliseconds. */
export type UsageRecord = AuditEvent & { readonly seq: number; readonly ts: number };

/** One feature × group × UTC hour. */
export interface HourBucket {
  /** Start of the UTC hour, epoch ms. */
  readonly hour: number;
  readonly feature: string;
  /** The group, '-' for none, '*' for the feature total. */
  readonly group: string;
  /** Licensed seats of the feature: the most during the hour. */
  readonly seats: number;
  /** The most seats in use at once. */
  readonly peak: number;
  /** Integral of the seats in use over the hour (seat·ms). */
  readonly seatMs: number;
  /** Distinct users who held a lease at any time in the hour, sorted. */
  readonly users: readonly string[];
  readonly grants: number;
  /** Denials by error code ('*' buckets only: deny events name no group). */
  readonly denials: Readonly<Record<string, number>>;
  readonly queueEntries: number;
  /** How many waiters left the queue (for any reason) in the hour. */
  readonly waitCount: number;
  /** Their waits (ms), downsampled to WAIT_SAMPLE_CAP: every `waitStride`-th wait. */
  readonly waits: readonly number[];
  readonly waitStride: number;
  /** The most waiters at once. */
  readonly longestQueue: number;
  /** '*' only: ms spent at each level of demand (seats in use + seats waited for). */
  readonly demand?: Readonly<Record<string, number>>;
}

export interface BucketFilter {
  readonly feature?: string;
  readonly group?: string;
  /** Buckets whose hour ends after this. */
  readonly fromMs?: number;
  /** Buckets whose hour starts before this. */
  readonly toMs?: number;
}

/** The JSON form of a bucket in usage.json: `hour` as an ISO time. */
export type HourBucketJSON = Omit<HourBucket, 'hour'> & { readonly hour: string };

interface LiveCommonJSON {
  readonly running: boolean;
  readonly lastMs: number | null;
  readonly seats: Readonly<Record<string, number>>;
  readonly waiters: readonly AuditWaiter[];
}

/** usage.json: the buckets, and the live state as counts (sorted by feature, group, user). */
export interface UsageRollupsJSON {
  readonly version: 2;
  readonly lastSeq: number;
  readonly live: LiveCommonJSON & { readonly holders: readonly HeldCount[] };
  readonly buckets: readonly HourBucketJSON[];
}

/** usage.json before issue 8: every live lease. Still read; the next save writes version 2. */
export interface UsageRollupsV1JSON {
  readonly version: 1;
  readonly lastSeq: number;
  readonly live: LiveCommonJSON & { readonly leases: readonly AuditLease[] };
  readonly buckets: readonly HourBucketJSON[];
}

/** Mutable bucket; `buckets()` hands out HourBucket snapshots. */
interface Bucket {
  hour: number;
  feature: string;
  group: string;
  seats: number;
  peak: number;
  seatMs: number;
  users: Set<string>;
  grants: number;
  denials: Map<string, number>;
  queueEntries: number;
  waitCount: number;
  waits: number[];
  waitStride: number;
  longestQueue: number;
  demand: Map<number, number> | undefined;
}

export const hourOf = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS;

export class UsageRollups {
  /** The seq of the last record applied (0: none yet; audit seqs start at 1). */
  private seq = 0;
  private running = false;
  private lastMs: number | null = null;
  private readonly seats = new Map<string, number>();
  /** What is held and waited for now (replaced by a start that lists the leases). */
  private live = new LiveCounts();
  /** hour → feature → group → bucket. */
  private readonly hours = new Map<number, Map<string, Map<string, Bucket>>>();

  get lastSeq(): number {
    return this.seq;
  }

  /**
   * Applies one record. Records must come in seq order; one with a seq not above `lastSeq` was
   * applied already and is skipped (returns false), so catching up twice is harmless.
   */
  apply(record: UsageRecord): boolean {
    return this.applyAt(record, record.ts);
  }

  /**
   * apply() for a record and its time in epoch ms given apart: the daemon's own records (whose
   * time it knows) and the lines read back (whose ISO time is parsed once) need no copy.
   */
  applyAt(record: AuditEvent & { readonly seq: number }, ts: number): boolean {
    return this.applyEvent(record, record.seq, ts);
  }

  /**
   * apply() for an event with its seq and time given apart: the daemon applies the events it
   * appends as they are, without building a record of each (server/history.ts).
   */
  applyEvent(record: AuditEvent, seq: number, ts: number): boolean {
    if (seq <= this.seq) return false;
    const first = this.seq === 0;
    this.seq = seq;
    if (first && record.t !== 'start' && record.t !== 'stop') {
      // The trail starts mid-stream (older files pruned): count from its first record.
      this.running = true;
    }
    const at = this.accrueTo(ts);
    switch (record.t) {
      case 'start':
        this.restart(at, record.features, record.leases);
        break;
      case 'stop':
        // Nothing accrues until the next start. The counts of leases are kept (leases survive a
        // restart, and a start above START_LEASE_LIMIT does not list them); a start that lists
        // them resets them. Waiters are not kept: a restart disconnects them.
        this.running = false;
        this.live.removeWaiters();
        break;
      case 'grant': {
        const group = groupOf(record);
        this.live.addLease(record);
        this.bookHolder(this.bucket(at, record.feature, group), record.user, 1);
        this.bookHolder(this.bucket(at, record.feature, ALL_GROUPS), record.user, 1);
        break;
      }
      case 'release':
      case 'reclaim':
        this.live.removeLease(record);
        break;
      case 'deny': {
        addDenial(this.bucket(at, record.feature, ALL_GROUPS), record.code);
        // Deny events name no group today; count one toward its group should they ever carry it.
        const group = 'group' in record && typeof record.group === 'string' ? record.group : undefined;
        if (group !== undefined) addDenial(this.bucket(at, record.feature, group), record.code);
        break;
      }
      case 'queue': {
        const group = groupOf(record);
        this.live.addWaiter(record);
        this.bookWaiter(this.bucket(at, record.feature, group));
        this.bookWaiter(this.bucket(at, record.feature, ALL_GROUPS));
        break;
      }
      case 'dequeue':
        this.live.removeWaiter(record.ticket);
        addWait(this.bucket(at, record.feature, groupOf(record)), record.waitedMs);
        addWait(this.bucket(at, record.feature, ALL_GROUPS), record.waitedMs);
        break;
      case 'seats':
        this.setSeats(at, record.feature, record.seats);
        break;
      case 'reload':
      case 'admin':
        break;
      default: {
        const never: never = record;
        void never;
      }
    }
    return true;
  }

  /** Closes the integrals up to `atMs` (to read the current hour); no record is implied. */
  advance(atMs: number): void {
    this.accrueTo(atMs);
  }

  buckets(filter: BucketFilter = {}): HourBucket[] {
    const out: HourBucket[] = [];
    for (const [hour, byFeature] of this.hours) {
      if (filter.fromMs !== undefined && hour + HOUR_MS <= filter.fromMs) continue;
      if (filter.toMs !== undefined && hour >= filter.toMs) continue;
      for (const [feature, byGroup] of byFeature) {
        if (filter.feature !== undefined && feature !== filter.feature) continue;
        for (const b of byGroup.values()) {
          if (filter.group !== undefined && b.group !== filter.group) continue;
          out.push(snapshot(b));
        }
      }
    }
    return out.sort(compareBuckets);
  }

  /** Drops the buckets whose hour ended `retentionMs` or more before `nowMs`. */
  prune(nowMs: number, retentionMs: number = DEFAULT_USAGE_RETENTION_MS): number {
    let dropped = 0;
    for (const [hour, byFeature] of this.hours) {
      if (hour + HOUR_MS <= nowMs - retentionMs) {
        for (const byGroup of byFeature.values()) dropped += byGroup.size;
        this.hours.delete(hour);
      }
    }
    return dropped;
  }

  toJSON(): UsageRollupsJSON {
    return {
      version: 2,
      lastSeq: this.seq,
      live: {
        running: this.running,
        lastMs: this.lastMs,
        seats: Object.fromEntries([...this.seats].sort(([a], [b]) => compare(a, b))),
        holders: this.live.heldCounts(),
        waiters: this.live.waiterList(),
      },
      buckets: this.buckets().map((b) => ({ ...b, hour: new Date(b.hour).toISOString() })),
    };
  }

  /**
   * Rebuilds rollups saved by toJSON (usage-store.ts checks the shape of a file first). A version 1
   * file (every live lease listed) is read by counting its leases.
   */
  static fromJSON(doc: UsageRollupsJSON | UsageRollupsV1JSON): UsageRollups {
    const r = new UsageRollups();
    r.seq = doc.lastSeq;
    r.running = doc.live.running;
    r.lastMs = doc.live.lastMs;
    for (const [feature, seats] of Object.entries(doc.live.seats)) r.seats.set(feature, seats);
    if (doc.version === 1) {
      for (const lease of doc.live.leases) r.live.addLease(lease);
    } else {
      for (const h of doc.live.holders) r.live.hold(h.feature, h.group, h.user, h.leases, h.seats);
    }
    for (const waiter of doc.live.waiters) r.live.addWaiter(waiter);
    for (const b of doc.buckets) {
      const hour = Date.parse(b.hour);
      r.bucketsOf(hour, b.feature).set(b.group, {
        hour,
        feature: b.feature,
        group: b.group,
        seats: b.seats,
        peak: b.peak,
        seatMs: b.seatMs,
        users: new Set(b.users),
        grants: b.grants,
        denials: new Map(Object.entries(b.denials)),
        queueEntries: b.queueEntries,
        waitCount: b.waitCount,
        waits: [...b.waits],
        waitStride: b.waitStride,
        longestQueue: b.longestQueue,
        demand: b.demand && new Map(Object.entries(b.demand).map(([k, v]) => [Number(k), v])),
      });
    }
    return r;
  }

  // --- time ---

  /** Accrues the integrals up to `ts` (clamped to the last time); returns the time to book at. */
  private accrueTo(ts: number): number {
    const to = this.lastMs === null ? ts : Math.max(ts, this.lastMs);
    let from = this.lastMs ?? to;
    if (this.running) {
      while (from < to) {
        const hour = hourOf(from);
        // Time runs on past an hour boundary: what is live then enters the new hour. (Opened here,
        // not when a record lands exactly on the boundary, so where the reads split time changes
        // nothing, and a lease released at 11:00:00.000 does not show in the 11:00 hour.)
        if (from === hour) this.openHour(hour);
        const until = Math.min(to, hour + HOUR_MS);
        this.accrueSegment(from, until - from);
        from = until;
      }
    }
    this.lastMs = to;
    return to;
  }

  /** The same features as liveFeatures(), without a generator: this runs for nearly every record. */
  private accrueSegment(at: number, ms: number): void {
    for (const [feature, seats] of this.seats) {
      if (seats > 0 || this.live.has(feature)) this.accrueFeature(at, ms, feature);
    }
    for (const feature of this.live.features()) {
      if (!this.seats.has(feature)) this.accrueFeature(at, ms, feature);
    }
  }

  private accrueFeature(at: number, ms: number, feature: string): void {
    const total = this.bucket(at, feature, ALL_GROUPS);
    const use = this.live.use(feature, ALL_GROUPS);
    total.seatMs += use.inUse * ms;
    const level = use.inUse + use.waitingSeats;
    total.demand!.set(level, (total.demand!.get(level) ?? 0) + ms);
    const groups = this.live.groups(feature);
    if (groups === undefined) return;
    for (const [group, u] of groups) {
      if (group !== ALL_GROUPS && u.inUse > 0) this.bucket(at, feature, group).seatMs += u.inUse * ms;
    }
  }

  /** At an hour boundary: every live feature and group enters the new hour as it stands. */
  private openHour(hour: number): void {
    for (const feature of this.liveFeatures()) {
      this.bucket(hour, feature, ALL_GROUPS);
      for (const group of this.live.groups(feature)?.keys() ?? []) this.bucket(hour, feature, group);
    }
  }

  private *liveFeatures(): Generator<string> {
    for (const [feature, seats] of this.seats) if (seats > 0 || this.live.has(feature)) yield feature;
    for (const feature of this.live.features()) if (!this.seats.has(feature)) yield feature;
  }

  // --- live state ---

  private restart(
    at: number,
    features: StartEvent['features'],
    listed: readonly AuditLease[] | undefined,
  ): void {
    // Waiters never outlive a restart (their connections are gone); without a list (a large
    // restart) the leases held are the ones the trail left held, so their counts stay.
    const kept = this.live;
    kept.removeWaiters();
    // The seats are set as if nothing were held (a feature removed, 0 seats, is kept only while
    // leases of it are), then the leases enter the hour of the start.
    this.live = new LiveCounts();
    this.seats.clear();
    this.running = true;
    for (const f of features) this.setSeats(at, f.name, f.seats);
    if (listed === undefined) {
      this.live = kept;
      for (const feature of kept.features()) {
        for (const [group, use] of kept.groups(feature) ?? []) {
          const b = this.bucket(at, feature, group);
          for (const user of use.holders.keys()) b.users.add(user);
          this.refresh(b);
        }
      }
    } else {
      for (const lease of listed) {
        this.live.addLease(lease);
        this.bookHolder(this.bucket(at, lease.feature, groupOf(lease)), lease.user, 0);
        this.bookHolder(this.bucket(at, lease.feature, ALL_GROUPS), lease.user, 0);
      }
    }
    for (const feature of this.liveFeatures()) this.bucket(at, feature, ALL_GROUPS);
  }

  private setSeats(at: number, feature: string, seats: number): void {
    this.seats.set(feature, seats);
    if (seats <= 0 && !this.live.has(feature)) {
      this.seats.delete(feature);
      return;
    }
    // Every bucket of the feature in this hour shows the feature's licensed seats.
    this.bucket(at, feature, ALL_GROUPS);
    for (const b of this.bucketsOf(hourOf(at), feature).values()) b.seats = Math.max(b.seats, seats);
  }

  // --- buckets ---

  /** A lease held: its user is one of the hour's, and the maxima rise to what is live now. */
  private bookHolder(b: Bucket, user: string, grants: 0 | 1): void {
    b.users.add(user);
    b.grants += grants;
    this.refresh(b);
  }

  private bookWaiter(b: Bucket): void {
    b.queueEntries++;
    this.refresh(b);
  }

  /** Raises the bucket's maxima to what is live now. */
  private refresh(b: Bucket): void {
    const u = this.live.use(b.feature, b.group);
    b.peak = Math.max(b.peak, u.inUse);
    b.longestQueue = Math.max(b.longestQueue, u.waiters);
    b.seats = Math.max(b.seats, this.seats.get(b.feature) ?? 0);
  }

  /** group → bucket of one feature in one hour, created empty if need be. */
  private bucketsOf(hour: number, feature: string): Map<string, Bucket> {
    let byFeature = this.hours.get(hour);
    if (!byFeature) {
      byFeature = new Map();
      this.hours.set(hour, byFeature);
    }
    let byGroup = byFeature.get(feature);
    if (!byGroup) {
      byGroup = new Map();
      byFeature.set(feature, byGroup);
    }
    return byGroup;
  }

  /** The bucket of the hour of `at`; a new one starts with what is live now (holders, queue). */
  private bucket(at: number, feature: string, group: string): Bucket {
    const hour = hourOf(at);
    const byGroup = this.bucketsOf(hour, feature);
    let b = byGroup.get(group);
    if (!b) {
      const u = this.live.use(feature, group);
      b = {
        hour,
        feature,
        group,
        seats: this.seats.get(feature) ?? 0,
        peak: u.inUse,
        seatMs: 0,
        users: new Set(u.holders.keys()),
        grants: 0,
        denials: new Map(),
        queueEntries: 0,
        waitCount: 0,
        waits: [],
        waitStride: 1,
        longestQueue: u.waiters,
        demand: group === ALL_GROUPS ? new Map() : undefined,
      };
      byGroup.set(group, b);
    }
    return b;
  }
}

function addDenial(b: Bucket, code: string): void {
  b.denials.set(code, (b.denials.get(code) ?? 0) + 1);
}

/** Keeps every `waitStride`-th wait; halves the sample and doubles the stride when full. */
function addWait(b: Bucket, waitedMs: number): void {
  if (b.waitCount % b.waitStride === 0) {
    b.waits.push(waitedMs);
    if (b.waits.length >= WAIT_SAMPLE_CAP) {
      b.waits = b.waits.filter((_, i) => i % 2 === 0);
      b.waitStride *= 2;
    }
  }
  b.waitCount++;
}

/** Plain code-unit order: stable across locales, and '*' (the total) sorts before groups. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareBuckets(a: HourBucket, b: HourBucket): number {
  return a.hour - b.hour || compare(a.feature, b.feature) || compare(a.group, b.group);
}

function snapshot(b: Bucket): HourBucket {
  return {
    hour: b.hour,
    feature: b.feature,
    group: b.group,
    seats: b.seats,
    peak: b.peak,
    seatMs: b.seatMs,
    users: [...b.users].sort(compare),
    grants: b.grants,
    denials: Object.fromEntries([...b.denials].sort(([x], [y]) => compare(x, y))),
    queueEntries: b.queueEntries,
    waitCount: b.waitCount,
    waits: [...b.waits],
    waitStride: b.waitStride,
    longestQueue: b.longestQueue,
    ...(b.demand ? { demand: Object.fromEntries([...b.demand].sort(([x], [y]) => x - y)) } : {}),
  };
}

/**
 * A percentile of merged wait samples (nearest rank, each value weighted by its sample's stride):
 * the smallest wait w such that at least `p` (0..1) of the waits are ≤ w; null without waits.
 */
export function waitPercentile(
  samples: readonly { readonly waits: readonly number[]; readonly waitStride: number }[],
  p: number,
): number | null {
  const weighted = new Map<number, number>();
  for (const s of samples) for (const w of s.waits) weighted.set(w, (weighted.get(w) ?? 0) + s.waitStride);
  return weightedRank(weighted, p);
}

/**
 * The smallest key k such that the weights of the keys ≤ k make up at least `p` (0..1) of the
 * total; null when the total is 0. Used for wait percentiles and for the demand levels of rightsize
 * (`p` as a fraction: the comparison is done as `sum·den ≥ num·total` with integers when it can).
 */
export function weightedRank(weights: ReadonlyMap<number, number>, p: number): number | null {
  const entries = [...weights].filter(([, w]) => w > 0).sort(([a], [b]) => a - b);
  const total = entries.reduce((s, [, w]) => s + w, 0);
  if (total === 0) return null;
  // p as a ratio of integers (p has at most 4 decimals in practice: 0.5, 0.95, 0.99, 1).
  const den = 10_000;
  const num = Math.round(p * den);
  let sum = 0;
  for (const [key, w] of entries) {
    sum += w;
    if (sum * den >= num * total) return key;
  }
  return entries[entries.length - 1]![0];
}
