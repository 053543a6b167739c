/** The engine's internal record of one client session (DESIGN §2 "session"), and its public view. */
import { createHash } from 'node:crypto';
import { KeyedRecords } from './keyed-records.js';
import type { LeaseRecord } from './lease-record.js';
import type { HolderIdentity, SessionView } from './types.js';
import type { WaiterRecord } from './wait-queue.js';

export class SessionRecord {
  readonly id: string;
  /**
   * sha256 of the raw resume token bytes, lowercase hex. Only the hash is kept, and persisted: a
   * stolen snapshot or journal does not hand out live tokens. Compared in constant time
   * (random-ids.ts). Hex, as persisted, rather than a Buffer: a Buffer of its own costs a million
   * sessions ~200 bytes each (DESIGN §7), and a snapshot writes and reads the hex as it is.
   */
  readonly tokenHash: string;
  identity: HolderIdentity;
  readonly openedAt: number;
  lastHeartbeatAt: number;
  /** Undefined for no grace, rather than −Infinity: see graceUntil. */
  #graceUntil: number | undefined = undefined;
  /**
   * In grant order, by request key: a retried checkout finds the held lease of its key here, so the
   * bounded cache of request keys needs only those of ended leases (lease-book.ts).
   */
  readonly leases = new KeyedRecords<LeaseRecord>();
  /** Checkouts of this session waiting in a queue, in arrival order, by request key (DESIGN §3.5). */
  readonly waiters = new KeyedRecords<WaiterRecord>();
  /** The deadline of this session's live entry in the expiry heap (older entries are stale). */
  armedAt: number | undefined = undefined;
  ended = false;

  constructor(id: string, tokenHash: string, identity: HolderIdentity, now: number) {
    this.id = id;
    this.tokenHash = tokenHash;
    this.identity = identity;
    this.openedAt = now;
    this.lastHeartbeatAt = now;
  }

  /**
   * DESIGN §3.6 restart grace: after a restore the session lives at least until this time, whatever
   * its heartbeats; cleared (−Infinity) when it resumes, from then on the lease ttl alone applies.
   * Kept as undefined while there is none: a field holding −Infinity from the start is a number
   * field, which V8 boxes in a heap number of every session's own (16 bytes, DESIGN §7).
   */
  get graceUntil(): number {
    return this.#graceUntil ?? Number.NEGATIVE_INFINITY;
  }

  set graceUntil(until: number) {
    this.#graceUntil = until === Number.NEGATIVE_INFINITY ? undefined : until;
  }
}

/** sha256 of a resume token's raw bytes, hex: what the engine keeps and persists instead of the token. */
export function hashToken(token: Buffer): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The time from which the sweep reclaims the session: ttl after its last heartbeat, or its grace. */
export function sessionDeadline(session: SessionRecord, leaseTtlMs: number): number {
  return Math.max(session.lastHeartbeatAt + leaseTtlMs, session.graceUntil);
}

/**
 * A private copy of an identity, with absent optional fields left out rather than undefined. One
 * object literal per set of fields, so that every field is stored in the object itself: a field
 * added after the literal goes to a property array of its own, 40 bytes more for each of what may
 * be a million sessions (DESIGN §7).
 */
export function copyIdentity(identity: HolderIdentity): HolderIdentity {
  const { user, host, clientName, display, peer } = identity;
  let copy: HolderIdentity;
  if (display === undefined) {
    copy = peer === undefined ? { user, host, clientName } : { user, host, clientName, peer };
  } else {
    copy =
      peer === undefined ? { user, host, clientName, display } : { user, host, clientName, display, peer };
  }
  return Object.freeze(copy);
}

export function toSessionView(session: SessionRecord, leaseTtlMs: number): SessionView {
  const leaseIds: string[] = [];
  for (const lease of session.leases) leaseIds.push(lease.id);
  return {
    id: session.id,
    identity: session.identity,
    openedAt: session.openedAt,
    lastHeartbeatAt: session.lastHeartbeatAt,
    deadline: sessionDeadline(session, leaseTtlMs),
    leaseIds,
  };
}
