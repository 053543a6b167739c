/**
 * Journal records from engine events (DESIGN §3.6, issue 5). Every state change the engine makes is
 * announced by an event; `toJournalRecord` turns the ones that must survive a restart into compact
 * plain-data records (msgpack-friendly: strings, numbers, booleans, arrays, plain objects), which
 * LeaseEngine.restore replays in order on top of the newest snapshot.
 *
 * Record types (`t`):
 *   's+'  session opened   {id, h: sha256(token) hex, u: user, o: host, c: clientName, d?: display}
 *   's-'  session ended    {id, why: 'closed' | 'expired'}
 *   'g'   lease granted    {id, s: session, f: feature, n: count, fe: fencing, k?: request key,
 *                           j?: id of a live lease whose seat claim it joined (named seat, dedupe),
 *                           else ty: 'c' | 'n' (concurrent or named claim) and gr?: group}
 *   'r'   lease released   {id}                (checkin, or its session closed)
 *   'x'   lease reclaimed  {id, why: ReclaimReason}
 *   'd'   directory change {k: kind, a: detail} (directory-ops.ts lists the kinds)
 *   'b+'  block placed     {id, u: user, o?: host, f?: feature, by?: who placed it,
 *                           w: wall-clock epoch ms of its end}
 *   'b-'  block lifted     {id}                (before its end; a block that runs out has no record)
 *   'cb'  config baseline  {d: directory, n: [{f: feature, u: [users]}]} (config-baseline.ts): the
 *                           directory and named assignments of the configuration now applied
 *
 * A replayed 'b+' ends, by the monotonic clock, at restore time + (w − wall clock at restore);
 * one whose `w` has passed is dropped, and a 'b-' of a block that is not there changes nothing.
 *
 * Not journaled (`undefined`), and why:
 * - heartbeats and resumes: no event; after a restart every session is given the restart grace and
 *   every lease counts as active at the restart (the peer address comes back with the resume);
 * - queue events (queued, queuePosition, queueGranted, queueLeft): the queue is not persisted. A
 *   restart disconnects every client, and a disconnect takes its waiters out of the queue anyway;
 *   a queue grant is journaled through its `granted` event;
 * - `denied`: no state changed;
 * - `seatsChanged`: feature configuration (seats included) comes from the config file at start, so
 *   seat changes are re-derived from it, not replayed.
 * - the end of a block by its own time: replay drops it by its `w`.
 */
import type { ReclaimReason } from '../protocol/codes.js';
import {
  type DirectoryConfig,
  type EngineEventName,
  type EngineEvents,
  LeaseType,
  type SessionEndReason,
} from './types.js';

export const JournalRecordType = {
  SessionOpened: 's+',
  SessionEnded: 's-',
  Granted: 'g',
  Released: 'r',
  Reclaimed: 'x',
  Directory: 'd',
  BlockPlaced: 'b+',
  BlockLifted: 'b-',
  ConfigBaseline: 'cb',
} as const;
export type JournalRecordType = (typeof JournalRecordType)[keyof typeof JournalRecordType];

export interface SessionOpenedRecord {
  readonly t: typeof JournalRecordType.SessionOpened;
  readonly id: string;
  /** sha256 of the raw resume token bytes, lowercase hex. */
  readonly h: string;
  readonly u: string;
  readonly o: string;
  readonly c: string;
  readonly d?: string;
}

export interface SessionEndedRecord {
  readonly t: typeof JournalRecordType.SessionEnded;
  readonly id: string;
  readonly why: SessionEndReason;
}

/** A seat claim's type in records and snapshots: 'c' concurrent, 'n' named. */
export type ClaimTypeCode = 'c' | 'n';

export interface GrantedRecord {
  readonly t: typeof JournalRecordType.Granted;
  readonly id: string;
  readonly s: string;
  readonly f: string;
  readonly n: number;
  readonly fe: number;
  readonly k?: string;
  /** The lease whose claim this one joined; absent for a lease that took seats of its own. */
  readonly j?: string;
  /** For a claim of its own: its type. */
  readonly ty?: ClaimTypeCode;
  readonly gr?: string;
}

export interface ReleasedRecord {
  readonly t: typeof JournalRecordType.Released;
  readonly id: string;
}

export interface ReclaimedRecord {
  readonly t: typeof JournalRecordType.Reclaimed;
  readonly id: string;
  readonly why: ReclaimReason;
}

export interface DirectoryRecord {
  readonly t: typeof JournalRecordType.Directory;
  readonly k: string;
  readonly a: Readonly<Record<string, unknown>>;
}

export interface BlockPlacedRecord {
  readonly t: typeof JournalRecordType.BlockPlaced;
  readonly id: string;
  readonly u: string;
  readonly o?: string;
  readonly f?: string;
  readonly by?: string;
  /** Wall-clock epoch milliseconds of the block's end. */
  readonly w: number;
}

export interface BlockLiftedRecord {
  readonly t: typeof JournalRecordType.BlockLifted;
  readonly id: string;
}

export interface ConfigBaselineRecord {
  readonly t: typeof JournalRecordType.ConfigBaseline;
  readonly d: DirectoryConfig;
  readonly n: readonly { readonly f: string; readonly u: readonly string[] }[];
}

export type JournalRecord =
  | SessionOpenedRecord
  | SessionEndedRecord
  | GrantedRecord
  | ReleasedRecord
  | ReclaimedRecord
  | DirectoryRecord
  | BlockPlacedRecord
  | BlockLiftedRecord
  | ConfigBaselineRecord;

/** The journal record for an engine event, or undefined for events that need not survive a restart. */
export function toJournalRecord<E extends EngineEventName>(
  name: E,
  payload: EngineEvents[E],
): JournalRecord | undefined {
  // One switch over the event names; each case casts the payload to its name's (TS cannot correlate
  // a generic key with its payload type). No {name, payload} pair is built to narrow them together:
  // this runs for every journaled event (issue 8).
  const event = name as EngineEventName;
  switch (event) {
    case 'sessionOpened': {
      const { session, tokenHash } = payload as EngineEvents['sessionOpened'];
      const { identity } = session;
      const record: SessionOpenedRecord = {
        t: JournalRecordType.SessionOpened,
        id: session.id,
        h: tokenHash,
        u: identity.user,
        o: identity.host,
        c: identity.clientName,
      };
      return identity.display === undefined ? record : { ...record, d: identity.display };
    }
    case 'sessionEnded': {
      const { sessionId, reason } = payload as EngineEvents['sessionEnded'];
      return { t: JournalRecordType.SessionEnded, id: sessionId, why: reason };
    }
    case 'granted': {
      const { lease, key, claimOf } = payload as EngineEvents['granted'];
      if (claimOf === undefined && lease.group === undefined) {
        // The common grant, built whole: a record that gains fields after it is made needs a
        // second allocation for them (issue 8: one record per checkout). Same fields, same order.
        const { id, sessionId: s, feature: f, count: n, fencing: fe } = lease;
        const ty = lease.type === LeaseType.Named ? 'n' : 'c';
        const t = JournalRecordType.Granted;
        return key === undefined ? { t, id, s, f, n, fe, ty } : { t, id, s, f, n, fe, k: key, ty };
      }
      const record: { -readonly [K in keyof GrantedRecord]: GrantedRecord[K] } = {
        t: JournalRecordType.Granted,
        id: lease.id,
        s: lease.sessionId,
        f: lease.feature,
        n: lease.count,
        fe: lease.fencing,
      };
      if (key !== undefined) record.k = key;
      if (claimOf !== undefined) {
        record.j = claimOf;
      } else {
        record.ty = lease.type === LeaseType.Named ? 'n' : 'c';
        if (lease.group !== undefined) record.gr = lease.group;
      }
      return record;
    }
    case 'released':
      return { t: JournalRecordType.Released, id: (payload as EngineEvents['released']).lease.id };
    case 'reclaimed': {
      const { lease, reason } = payload as EngineEvents['reclaimed'];
      return { t: JournalRecordType.Reclaimed, id: lease.id, why: reason };
    }
    case 'directoryChanged': {
      const { kind, detail } = payload as EngineEvents['directoryChanged'];
      return { t: JournalRecordType.Directory, k: kind, a: { ...detail } };
    }
    case 'blocked': {
      const block = payload as EngineEvents['blocked'];
      const record: { -readonly [K in keyof BlockPlacedRecord]: BlockPlacedRecord[K] } = {
        t: JournalRecordType.BlockPlaced,
        id: block.id,
        u: block.user,
        w: block.untilWall,
      };
      if (block.host !== undefined) record.o = block.host;
      if (block.feature !== undefined) record.f = block.feature;
      if (block.by !== undefined) record.by = block.by;
      return record;
    }
    case 'unblocked':
      return { t: JournalRecordType.BlockLifted, id: (payload as EngineEvents['unblocked']).id };
    case 'configBaseline': {
      const { directory, named } = payload as EngineEvents['configBaseline'];
      return {
        t: JournalRecordType.ConfigBaseline,
        d: structuredClone(directory),
        n: named.map(({ feature, users }) => ({ f: feature, u: [...users] })),
      };
    }
    case 'denied':
    case 'seatsChanged':
    case 'queued':
    case 'queuePosition':
    case 'queueGranted':
    case 'queueLeft':
      return undefined;
    default:
      return event satisfies never;
  }
}
