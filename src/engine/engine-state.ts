/**
 * The engine's durable state as plain data (DESIGN §3.6, issue 5 "snapshots"): what
 * LeaseEngine.exportState() hands the store and LeaseEngine.restore() takes back.
 *
 * Shaped for a million leases (DESIGN §7: snapshot ≤ 2 s, recovery ≤ 3 s): sessions, leases and
 * seat claims are column arrays (one array per field, indexed by row) instead of one object per
 * row, and every repeated short string (users, hosts, client names, features, groups) is interned
 * in `names` and referenced by index. msgpack then writes a few long arrays of small integers and
 * the ids, which packs and unpacks several times faster than a million maps.
 *
 * What is kept: the fencing counter; sessions (id, token hash, identity without the peer address,
 * age); live leases in grant order (id, session, feature, count, fencing, request key, age, claim);
 * seat claims (type, seats, group, user, host); the run-time directory (users with their display
 * name, email and personal-token hash) and named assignments; active blocks with the wall-clock
 * time of their end (a restore re-derives the monotonic deadline from it: state-loader.ts); the
 * config baseline (config-baseline.ts). Snapshots written before blocks and baselines existed
 * lack those two fields: no blocks, and no baseline (restore then keeps the persisted directory,
 * see LeaseEngine.restore).
 * What is not (decided): the wait queues (a restart disconnects every client, which leaves the
 * queue); heartbeat and activity times (after a restart every session gets the restart grace and
 * every lease counts as active); the peer address (it comes back with the resume); tombstones of
 * ended leases (after a restart a late checkin or heartbeat of a lease that ended before the
 * snapshot answers LEASE_NOT_FOUND instead of the precise LEASE_REVOKED/LEASE_EXPIRED: still a
 * refusal); request keys of ended leases (likewise); feature configuration (the config file's).
 * Times are ages at export (the monotonic clock's origin does not survive a restart).
 */
import { type BlockBook, toBlockView } from './blocks.js';
import type { ConfigBaselineData } from './config-baseline.js';
import type { Directory, UserRecord } from './directory.js';
import type { FeaturePool } from './feature-pool.js';
import type { LeaseBook } from './lease-book.js';
import { SeatClaim } from './seat-claim.js';
import type { SessionRecord } from './session-record.js';
import type { GroupConfig } from './types.js';
import { LeaseType } from './types.js';

export const ENGINE_STATE_VERSION = 1;

export interface EngineState {
  readonly version: typeof ENGINE_STATE_VERSION;
  /** The last fencing token handed out. */
  readonly fencing: number;
  /** Interned strings, referenced by index from the columns below. */
  readonly names: readonly string[];
  readonly sessions: {
    readonly ids: readonly string[];
    /** sha256 of each resume token's raw bytes, lowercase hex. */
    readonly tokenHashes: readonly string[];
    readonly users: readonly number[];
    readonly hosts: readonly number[];
    readonly clientNames: readonly number[];
    /** -1: no display. */
    readonly displays: readonly number[];
    readonly openedAgeMs: readonly number[];
  };
  /** In grant order. */
  readonly leases: {
    readonly ids: readonly string[];
    /** Row in `sessions`. */
    readonly sessions: readonly number[];
    /** Name index of the feature. */
    readonly features: readonly number[];
    readonly counts: readonly number[];
    readonly fencing: readonly number[];
    readonly ageMs: readonly number[];
    /** The request key of the checkout that granted it, or null. */
    readonly keys: readonly (string | null)[];
    /** Row in `claims`. */
    readonly claims: readonly number[];
    /** Rows of leases that joined a claim (LeaseView.shared), ascending. */
    readonly shared: readonly number[];
  };
  /** Seat claims, in the order of their first lease. */
  readonly claims: {
    /** 0 concurrent, 1 named. */
    readonly types: readonly number[];
    readonly seats: readonly number[];
    /** Name index of the group, -1 for none. */
    readonly groups: readonly number[];
    readonly users: readonly number[];
    readonly hosts: readonly number[];
  };
  /** The directory as the engine holds it now (admin changes included), in directory order. */
  readonly directory: {
    readonly users: readonly UserRecord[];
    readonly groups: readonly Required<GroupConfig>[];
  };
  /** Named assignments of every feature (an empty list too), in feature order. */
  readonly named: readonly { readonly feature: string; readonly users: readonly string[] }[];
  /** Active blocks, by end. Absent in older snapshots. */
  readonly blocks?: readonly PersistedBlock[];
  /** The configuration last applied (directory and named assignments). Absent in older snapshots. */
  readonly baseline?: ConfigBaselineData;
}

/** A column of numbers as a restore reads it: indexed only, so a typed array does as well. */
type ReadColumns<T> = { readonly [K in keyof T]: T[K] extends readonly number[] ? ArrayLike<number> : T[K] };

/**
 * What a restore takes: an EngineState whose number columns may also be typed arrays (the store
 * decodes a columnar snapshot into those without copying them into plain arrays).
 */
export interface RestorableState extends Omit<EngineState, 'sessions' | 'leases' | 'claims'> {
  readonly sessions: ReadColumns<EngineState['sessions']>;
  readonly leases: ReadColumns<EngineState['leases']>;
  readonly claims: ReadColumns<EngineState['claims']>;
}

export interface PersistedBlock {
  readonly id: string;
  readonly user: string;
  readonly host?: string;
  readonly feature?: string;
  readonly by?: string;
  /** Wall-clock epoch milliseconds of the end. */
  readonly untilWall: number;
}

class Names {
  readonly list: string[] = [];
  readonly #index = new Map<string, number>();

  of(name: string): number {
    let index = this.#index.get(name);
    if (index === undefined) {
      index = this.list.length;
      this.list.push(name);
      this.#index.set(name, index);
    }
    return index;
  }
}

export interface ExportSource {
  readonly book: LeaseBook;
  readonly directory: Directory;
  readonly fencing: number;
  readonly blocks: BlockBook;
  readonly baseline: ConfigBaselineData;
  readonly now: number;
}

export function exportEngineState(source: ExportSource): EngineState {
  const { book, directory, fencing, now } = source;
  const names = new Names();
  const sessionRow = new Map<SessionRecord, number>();
  const s = {
    ids: [] as string[],
    tokenHashes: [] as string[],
    users: [] as number[],
    hosts: [] as number[],
    clientNames: [] as number[],
    displays: [] as number[],
    openedAgeMs: [] as number[],
  };
  for (const session of book.sessions.values()) {
    sessionRow.set(session, s.ids.length);
    const { identity } = session;
    s.ids.push(session.id);
    s.tokenHashes.push(session.tokenHash);
    s.users.push(names.of(identity.user));
    s.hosts.push(names.of(identity.host));
    s.clientNames.push(names.of(identity.clientName));
    s.displays.push(identity.display === undefined ? -1 : names.of(identity.display));
    s.openedAgeMs.push(Math.max(0, now - session.openedAt));
  }

  const n = book.leaseCount;
  const l = {
    ids: new Array<string>(n),
    sessions: new Array<number>(n),
    features: new Array<number>(n),
    counts: new Array<number>(n),
    fencing: new Array<number>(n),
    ageMs: new Array<number>(n),
    keys: new Array<string | null>(n),
    claims: new Array<number>(n),
    shared: [] as number[],
  };
  const c = {
    types: [] as number[],
    seats: [] as number[],
    groups: [] as number[],
    users: [] as number[],
    hosts: [] as number[],
  };
  const claimRow = new Map<SeatClaim, number>();
  const featureIndex = new Map<FeaturePool, number>();
  let i = 0;
  for (const lease of book.leases()) {
    let feature = featureIndex.get(lease.pool);
    if (feature === undefined) {
      feature = names.of(lease.pool.name);
      featureIndex.set(lease.pool, feature);
    }
    const session = sessionRow.get(lease.session)!;
    const seat = lease.claim;
    let claim: number | undefined;
    if (seat instanceof SeatClaim) {
      // Leases come in grant order, so a claim is met first at its first lease; only claims with
      // several leases (named seats, dedupe) need remembering, which keeps a map of a million out.
      const first = seat.leases.length === 1 || seat.leases[0] === lease;
      claim = first ? undefined : claimRow.get(seat);
      if (claim === undefined) {
        claim = c.types.length;
        if (seat.leases.length > 1) claimRow.set(seat, claim);
        c.types.push(seat.type === LeaseType.Named ? 1 : 0);
        c.seats.push(seat.seats);
        c.groups.push(seat.group === undefined ? -1 : names.of(seat.group));
        c.users.push(names.of(seat.user));
        c.hosts.push(names.of(seat.host));
      }
    } else {
      // A lone claim (seat-claim.ts LoneClaim): its seats are the count, its holder the session's.
      claim = c.types.length;
      c.types.push(0);
      c.seats.push(lease.count);
      c.groups.push(seat.group === undefined ? -1 : names.of(seat.group));
      c.users.push(s.users[session]!);
      c.hosts.push(s.hosts[session]!);
    }
    l.ids[i] = lease.id;
    l.sessions[i] = session;
    l.features[i] = feature;
    l.counts[i] = lease.count;
    l.fencing[i] = lease.fencing;
    l.ageMs[i] = Math.max(0, now - lease.grantedAt);
    l.keys[i] = lease.key ?? null;
    l.claims[i] = claim;
    if (lease.shared) l.shared.push(i);
    i++;
  }

  const named = Array.from(book.pools.values(), (pool) => ({
    feature: pool.name,
    users: [...pool.namedUsers],
  }));
  return {
    version: ENGINE_STATE_VERSION,
    fencing,
    names: names.list,
    sessions: s,
    leases: l,
    claims: c,
    directory: directory.toConfig(),
    named,
    blocks: source.blocks.active(now).map((block) => {
      const { remainingMs: _remaining, ...persisted } = toBlockView(block, now);
      return persisted;
    }),
    baseline: structuredClone(source.baseline),
  };
}
