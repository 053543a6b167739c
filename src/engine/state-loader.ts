/**
 * Rebuilds engine state from a snapshot (engine-state.ts) and journal records (journal-records.ts)
 * for LeaseEngine.restore. Records are applied as facts, not re-decided: a grant in the journal was
 * granted, whatever the admission rules of the current config say, so replay is exact and fast.
 * Nothing here emits events, touches the queue or the expiry heap: the engine arms deadlines once
 * everything is loaded.
 *
 * A record or snapshot that cannot apply (a lease of an unknown session, a duplicate id, a claim
 * that does not exist) throws InvalidRequestError naming the record's seq: the store checksums
 * every record, so this means the state files and the engine disagree, and recovery must stop.
 */
import { ReclaimReason } from '../protocol/codes.js';
import { InvalidRequestError } from '../protocol/errors.js';
import type { BlockBook } from './blocks.js';
import { type ConfigBaselineData, checkedBaseline } from './config-baseline.js';
import { Directory } from './directory.js';
import { applyDirectoryOp, DirectoryOpKind, isDirectoryOpKind } from './directory-ops.js';
import { ENGINE_STATE_VERSION, type RestorableState } from './engine-state.js';
import { FeaturePool } from './feature-pool.js';
import { type JournalRecord, JournalRecordType } from './journal-records.js';
import type { LeaseBook } from './lease-book.js';
import { type LeaseClaim, LeaseRecord } from './lease-record.js';
import { CHECKED_IN, type LeaseEnding } from './lease-tombstones.js';
import { SeatClaim } from './seat-claim.js';
import { SessionRecord } from './session-record.js';
import { FeatureModel, type HolderIdentity, LeaseType, SessionEndReason } from './types.js';

const RECLAIM_REASONS: ReadonlySet<string> = new Set(Object.values(ReclaimReason));
const HEX_HASH = /^[0-9a-f]{64}$/;

function fail(where: string, message: string, details: Record<string, unknown> = {}): InvalidRequestError {
  return new InvalidRequestError(`Cannot restore ${where}: ${message}`, { details });
}

/** How an error names a journal record. Made only for an error: a replay applies a million. */
function recordWhere(seq: number | string): string {
  return `journal record seq ${seq}`;
}

function recordFail(seq: number | string, message: string): InvalidRequestError {
  return fail(recordWhere(seq), message, { seq });
}

/** Where blocks are loaded to, and the wall clock that turns their persisted ends into deadlines. */
export interface BlockTarget {
  readonly blocks: BlockBook;
  readonly wallClock: () => number;
}

export class StateLoader {
  readonly #book: LeaseBook;
  readonly #now: number;
  readonly #blocks: BlockBook;
  /** The wall clock, read once: every block's remaining time is measured against the same instant. */
  readonly #wall: number;
  directory: Directory;
  fencing: number;
  /** The persisted config baseline, once a snapshot or a 'cb' record gave one. */
  baseline: ConfigBaselineData | undefined;
  /** Pools made up for features the config no longer has: reclaimed once the restore is done. */
  readonly ghosts = new Set<FeaturePool>();

  constructor(book: LeaseBook, directory: Directory, fencing: number, now: number, target: BlockTarget) {
    this.#book = book;
    this.directory = directory;
    this.fencing = fencing;
    this.#now = now;
    this.#blocks = target.blocks;
    this.#wall = target.wallClock();
  }

  /** The pool of a feature; one that the config lost gets a stand-in holding its leases until reclaimed. */
  pool(name: string): FeaturePool {
    let pool = this.#book.pools.get(name);
    if (pool === undefined) {
      pool = new FeaturePool({ name, seats: 0, model: FeatureModel.Mixed });
      this.#book.pools.set(name, pool);
      this.ghosts.add(pool);
    }
    return pool;
  }

  // ---- snapshot -------------------------------------------------------------------------------

  loadSnapshot(state: RestorableState): void {
    const where = 'the snapshot';
    if (state === null || typeof state !== 'object' || state.version !== ENGINE_STATE_VERSION) {
      throw fail(
        where,
        `unknown state format (version ${String((state as { version?: unknown })?.version)}).`,
      );
    }
    const { names, sessions: s, leases: l, claims: c } = state;
    const name = (index: number | undefined): string => {
      const value = index === undefined ? undefined : names[index];
      if (value === undefined) throw fail(where, `name index ${String(index)} is out of range.`);
      return value;
    };
    if (!Number.isSafeInteger(state.fencing) || state.fencing < 0) throw fail(where, 'bad fencing counter.');
    if (state.fencing > this.fencing) this.fencing = state.fencing;

    this.directory = this.#guard(where, undefined, () => Directory.from(state.directory));
    for (const { feature, users } of state.named) {
      const pool = this.#book.pools.get(feature);
      // Assignments of a feature the config no longer has go with the feature.
      if (pool !== undefined) pool.namedUsers = new Set(users);
    }
    if (state.blocks !== undefined) {
      if (!Array.isArray(state.blocks)) throw fail(where, 'the blocks are not a list.');
      for (const block of state.blocks) {
        this.#block(block?.id, block?.user, block?.host, block?.feature, block?.by, block?.untilWall, where);
      }
    }
    if (state.baseline !== undefined) {
      this.baseline = this.#guard(where, undefined, () => checkedBaseline(state.baseline));
    }

    const sessionRows: SessionRecord[] = new Array(s.ids.length);
    for (let i = 0; i < s.ids.length; i++) {
      const display = s.displays[i] ?? -1;
      const identity: HolderIdentity = Object.freeze({
        user: name(s.users[i]),
        host: name(s.hosts[i]),
        clientName: name(s.clientNames[i]),
        ...(display >= 0 ? { display: name(display) } : {}),
      });
      const session = this.#session(
        s.ids[i],
        s.tokenHashes[i],
        identity,
        this.#now - (s.openedAgeMs[i] ?? 0),
        where,
      );
      sessionRows[i] = session;
    }

    // A claim row is met first at its first lease (leases are in grant order). Most are a lone
    // claim (seat-claim.ts LoneClaim): the row then holds that lease until another lease of the
    // claim turns up and the pool makes it a SeatClaim (FeaturePool.claimOf).
    const claimRows: (SeatClaim | LeaseRecord | undefined)[] = new Array(c.types.length);
    const pools: (FeaturePool | undefined)[] = new Array(names.length);
    const n = l.ids.length;
    const shared = new Uint8Array(n);
    for (let i = 0; i < l.shared.length; i++) {
      const row = l.shared[i]!;
      if (row >= 0 && row < n) shared[row] = 1;
    }
    for (let i = 0; i < n; i++) {
      const id = l.ids[i];
      const session = sessionRows[l.sessions[i] ?? -1];
      if (typeof id !== 'string' || id.length === 0 || session === undefined) {
        throw fail(where, `lease row ${i} is incomplete.`);
      }
      const featureIndex = l.features[i] ?? -1;
      let pool = pools[featureIndex];
      if (pool === undefined) {
        pool = this.pool(name(featureIndex));
        pools[featureIndex] = pool;
      }
      const joined = shared[i] === 1;
      const count = l.counts[i] ?? 0;
      const claimIndex = l.claims[i] ?? -1;
      const row = claimRows[claimIndex];
      let claim: LeaseClaim;
      if (row instanceof SeatClaim) {
        claim = row;
      } else if (row !== undefined) {
        claim = row.pool.claimOf(row);
        claimRows[claimIndex] = claim;
      } else {
        const type = c.types[claimIndex];
        if (type === undefined)
          throw fail(where, `lease '${id}' names claim ${claimIndex}, which does not exist.`);
        const groupIndex = c.groups[claimIndex] ?? -1;
        const group = groupIndex >= 0 ? name(groupIndex) : undefined;
        const seats = c.seats[claimIndex] ?? 0;
        const user = name(c.users[claimIndex]);
        const host = name(c.hosts[claimIndex]);
        const { identity } = session;
        if (
          type === 0 &&
          !joined &&
          seats === count &&
          pool.lonesAllowed &&
          user === identity.user &&
          host === identity.host
        ) {
          claim = pool.loneClaim(group);
        } else {
          const seat = new SeatClaim(
            pool,
            type === 1 ? LeaseType.Named : LeaseType.Concurrent,
            seats,
            group,
            user,
            host,
          );
          claimRows[claimIndex] = seat;
          claim = seat;
        }
      }
      // The lease's feature is its claim's (LeaseRecord.pool): a claim row spans one feature.
      if (claim.pool !== pool)
        throw fail(where, `lease '${id}' names claim ${claimIndex} of another feature.`);
      const lease = new LeaseRecord(
        id,
        count,
        l.fencing[i] ?? 0,
        session,
        l.keys[i] ?? undefined,
        this.#now - (l.ageMs[i] ?? 0),
        claim,
        joined,
      );
      if (!this.#book.add(lease)) throw fail(where, `lease '${id}' exists twice.`);
      if (!(claim instanceof SeatClaim)) claimRows[claimIndex] = lease;
    }
  }

  // ---- records --------------------------------------------------------------------------------

  /** Applies one journal record; `seq` names it in errors. */
  apply(record: JournalRecord, seq: number | string): void {
    if (record === null || typeof record !== 'object') throw recordFail(seq, 'not a record.');
    switch (record.t) {
      case JournalRecordType.SessionOpened: {
        const identity: HolderIdentity = Object.freeze({
          user: record.u,
          host: record.o,
          clientName: record.c,
          ...(record.d !== undefined ? { display: record.d } : {}),
        });
        this.#session(record.id, record.h, identity, this.#now, recordWhere(seq), seq);
        return;
      }
      case JournalRecordType.SessionEnded: {
        const session = this.#book.sessions.get(record.id);
        if (session === undefined) throw recordFail(seq, `session '${record.id}' is unknown.`);
        // Its leases were journaled as released or reclaimed before it; any left end the same way.
        const ending: LeaseEnding =
          record.why === SessionEndReason.Expired ? ReclaimReason.Expired : CHECKED_IN;
        session.ended = true;
        for (const lease of Array.from(session.leases)) this.#book.remove(lease, ending);
        this.#book.sessions.delete(session.id);
        return;
      }
      case JournalRecordType.Granted:
        this.#grant(record, seq);
        return;
      case JournalRecordType.Released:
      case JournalRecordType.Reclaimed: {
        const lease = this.#book.lease(record.id);
        if (lease === undefined) throw recordFail(seq, `lease '${record.id}' is not held.`);
        let ending: LeaseEnding = CHECKED_IN;
        if (record.t === JournalRecordType.Reclaimed) {
          if (!RECLAIM_REASONS.has(record.why))
            throw recordFail(seq, `unknown reclaim reason '${String(record.why)}'.`);
          ending = record.why;
        }
        this.#book.remove(lease, ending);
        return;
      }
      case JournalRecordType.Directory:
        this.#directoryChange(record.k, record.a, recordWhere(seq), seq);
        return;
      case JournalRecordType.BlockPlaced:
        this.#block(record.id, record.u, record.o, record.f, record.by, record.w, recordWhere(seq), seq);
        return;
      case JournalRecordType.BlockLifted:
        // Already dropped (its end passed) or never loaded: nothing to lift.
        if (typeof record.id === 'string') this.#blocks.remove(record.id);
        return;
      case JournalRecordType.ConfigBaseline: {
        const named = Array.isArray(record.n)
          ? record.n.map((entry) => ({ feature: entry?.f, users: entry?.u }))
          : record.n;
        this.baseline = this.#guard(recordWhere(seq), seq, () =>
          checkedBaseline({ directory: record.d, named }),
        );
        return;
      }
      default:
        throw recordFail(seq, `unknown record type '${String((record as { t?: unknown }).t)}'.`);
    }
  }

  #grant(record: Extract<JournalRecord, { t: 'g' }>, seq: number | string): void {
    const session = this.#book.sessions.get(record.s);
    if (session === undefined)
      throw recordFail(seq, `lease '${record.id}' names unknown session '${record.s}'.`);
    if (!Number.isSafeInteger(record.n) || record.n < 1 || !Number.isSafeInteger(record.fe)) {
      throw recordFail(seq, `lease '${record.id}' has a bad count or fencing token.`);
    }
    const pool = this.pool(record.f);
    let claim: LeaseClaim;
    if (record.j !== undefined) {
      const joined = this.#book.lease(record.j);
      if (joined === undefined || joined.pool !== pool) {
        throw recordFail(
          seq,
          `lease '${record.id}' joins the claim of lease '${record.j}', which is not held.`,
        );
      }
      claim = pool.claimOf(joined);
    } else if (record.ty !== 'n' && pool.lonesAllowed) {
      claim = pool.loneClaim(record.gr);
    } else {
      const named = record.ty === 'n';
      const { user, host } = session.identity;
      claim = new SeatClaim(
        pool,
        named ? LeaseType.Named : LeaseType.Concurrent,
        named ? 1 : record.n,
        record.gr,
        user,
        host,
      );
    }
    const lease = new LeaseRecord(record.id, record.n, record.fe, session, record.k, this.#now, claim);
    this.#addLease(lease, seq);
    if (record.fe > this.fencing) this.fencing = record.fe;
  }

  #directoryChange(
    kind: string,
    detail: Readonly<Record<string, unknown>>,
    where: string,
    seq: number | string,
  ): void {
    if (!isDirectoryOpKind(kind) || detail === null || typeof detail !== 'object') {
      throw fail(where, `unknown directory change '${String(kind)}'.`, { seq });
    }
    try {
      if (kind === DirectoryOpKind.Assigned || kind === DirectoryOpKind.Unassigned) {
        const { feature, user } = detail;
        const pool = typeof feature === 'string' ? this.#book.pools.get(feature) : undefined;
        // A feature the config no longer has: its assignments went with it.
        if (pool === undefined || this.ghosts.has(pool) || typeof user !== 'string') return;
        const assigned = kind === DirectoryOpKind.Assigned;
        if (pool.namedUsers.has(user) === assigned) return;
        if (assigned) pool.namedUsers.add(user);
        else pool.namedUsers.delete(user);
        pool.assignmentChanged(user, assigned);
        return;
      }
      applyDirectoryOp(this.directory, kind, detail);
      if (kind === DirectoryOpKind.UserRemoved) {
        for (const pool of this.#book.pools.values()) {
          if (pool.namedUsers.delete(detail.user as string))
            pool.assignmentChanged(detail.user as string, false);
        }
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new InvalidRequestError(`Cannot restore ${where}: ${message}`, {
        details: { seq },
        cause: error,
      });
    }
  }

  /**
   * A persisted block: its monotonic deadline is now + (its wall-clock end − the wall clock now);
   * one whose end has passed is dropped.
   */
  #block(
    id: unknown,
    user: unknown,
    host: unknown,
    feature: unknown,
    by: unknown,
    untilWall: unknown,
    where: string,
    seq?: number | string,
  ): void {
    const optional = (value: unknown) => value === undefined || typeof value === 'string';
    if (
      typeof id !== 'string' ||
      id.length === 0 ||
      typeof user !== 'string' ||
      !optional(host) ||
      !optional(feature) ||
      !optional(by) ||
      typeof untilWall !== 'number' ||
      !Number.isFinite(untilWall)
    ) {
      throw fail(where, `block '${String(id)}' is malformed.`, { seq });
    }
    const remaining = untilWall - this.#wall;
    if (remaining <= 0) return;
    if (this.#blocks.has(id)) throw fail(where, `block '${id}' exists twice.`, { seq });
    this.#blocks.add({
      id,
      user,
      host: host as string | undefined,
      feature: feature as string | undefined,
      by: by as string | undefined,
      deadline: this.#now + remaining,
      untilWall,
    });
  }

  /** Runs `load`; an error it throws is rethrown as a restore failure naming `where`. */
  #guard<T>(where: string, seq: number | string | undefined, load: () => T): T {
    try {
      return load();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new InvalidRequestError(`Cannot restore ${where}: ${message}`, {
        details: seq === undefined ? {} : { seq },
        cause: error,
      });
    }
  }

  #session(
    id: unknown,
    hash: unknown,
    identity: HolderIdentity,
    openedAt: number,
    where: string,
    seq?: number | string,
  ): SessionRecord {
    if (typeof id !== 'string' || id.length === 0) throw fail(where, 'a session has no id.', { seq });
    if (this.#book.sessions.has(id)) throw fail(where, `session '${id}' exists twice.`, { seq });
    if (typeof hash !== 'string' || !HEX_HASH.test(hash))
      throw fail(where, `session '${id}' has a bad token hash.`, { seq });
    const session = new SessionRecord(id, hash, identity, openedAt);
    this.#book.sessions.set(id, session);
    return session;
  }

  #addLease(lease: LeaseRecord, seq: number | string): void {
    if (typeof lease.id !== 'string' || lease.id.length === 0) throw recordFail(seq, 'a lease has no id.');
    if (!this.#book.add(lease)) throw recordFail(seq, `lease '${lease.id}' exists twice.`);
  }
}
