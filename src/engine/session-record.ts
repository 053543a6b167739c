/** The engine's internal record of one client session (DESIGN §2 "session"), and its public view. */
import type { LeaseRecord } from './lease-record.js';
import type { HolderIdentity, SessionView } from './types.js';
import type { WaiterRecord } from './wait-queue.js';

export class SessionRecord {
  readonly id: string;
  /** The raw resume token; compared in constant time, never handed out after openSession. */
  readonly resumeToken: Buffer;
  identity: HolderIdentity;
  readonly openedAt: number;
  lastHeartbeatAt: number;
  /** In grant order. */
  readonly leases = new Set<LeaseRecord>();
  /** Checkouts of this session waiting in a queue, in arrival order. */
  readonly waiters = new Set<WaiterRecord>();
  /** Waiters by request key: a retry while waiting finds its waiter (DESIGN §3.5). */
  readonly waitersByKey = new Map<string, WaiterRecord>();
  /** The deadline of this session's live entry in the expiry heap (older entries are stale). */
  armedAt: number | undefined = undefined;
  ended = false;

  constructor(id: string, resumeToken: Buffer, identity: HolderIdentity, now: number) {
    this.id = id;
    this.resumeToken = resumeToken;
    this.identity = identity;
    this.openedAt = now;
    this.lastHeartbeatAt = now;
  }
}

/** A private copy of an identity, with absent optional fields left out rather than undefined. */
export function copyIdentity(identity: HolderIdentity): HolderIdentity {
  const copy: { -readonly [K in keyof HolderIdentity]: HolderIdentity[K] } = {
    user: identity.user,
    host: identity.host,
    clientName: identity.clientName,
  };
  if (identity.display !== undefined) copy.display = identity.display;
  if (identity.peer !== undefined) copy.peer = identity.peer;
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
    deadline: session.lastHeartbeatAt + leaseTtlMs,
    leaseIds,
  };
}
