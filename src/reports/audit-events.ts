/**
 * The events of the audit trail (issue 7), as plain data: one JSON line each in the audit log
 * (audit-log.ts adds `seq`, `ts`, `prev` and `h`). Usage rollups (rollups.ts), the reports and
 * the compliance check are computed from these events alone, so the audit trail can rebuild them.
 *
 * Every event that changes seats carries enough to replay the seat count per feature and group
 * without the engine: the lease, its feature, group (if it counts toward one) and count.
 */
import type { LeaseEngine } from '../engine/engine.js';
import type { EngineEventName, EngineEvents, LeaseView, WaiterView } from '../engine/types.js';

/** A lease as the audit trail names it. */
export interface AuditLease {
  readonly lease: string;
  readonly feature: string;
  readonly user: string;
  readonly host: string;
  readonly count: number;
  /** The group whose share the lease counts toward, if any. */
  readonly group?: string;
  readonly type: 'concurrent' | 'named';
  /** Whether it shares a seat another lease of the user holds (then it takes no seat of its own). */
  readonly shared?: boolean;
}

export interface AuditWaiter {
  readonly ticket: string;
  readonly feature: string;
  readonly user: string;
  readonly host: string;
  readonly count: number;
  readonly group?: string;
}

export type AuditEvent =
  /**
   * The daemon started: its features, how many leases it holds after recovery, and — up to
   * START_LEASE_LIMIT of them — the leases themselves, so a reader can reset its state. Above the
   * limit (a restart with up to a million leases must not write a 150 MB line) `leases` is absent:
   * the leases held are those the trail granted before and did not end, and readers keep them.
   */
  | {
      readonly t: 'start';
      readonly version: string;
      readonly features: readonly { readonly name: string; readonly seats: number }[];
      /** Leases held after recovery (the daemon always writes it). */
      readonly leaseCount?: number;
      readonly leases?: readonly AuditLease[];
    }
  /** The daemon stopped (gracefully). */
  | { readonly t: 'stop' }
  | (AuditLease & { readonly t: 'grant'; readonly session: string; readonly fencing: number })
  | (AuditLease & { readonly t: 'release' })
  | (AuditLease & { readonly t: 'reclaim'; readonly reason: string })
  | {
      readonly t: 'deny';
      readonly feature: string;
      readonly user: string;
      readonly host: string;
      readonly count: number;
      readonly code: string;
    }
  | (AuditWaiter & { readonly t: 'queue'; readonly position: number })
  /** A waiter left the queue: `reason` granted, timeout, cancelled, disconnected, blocked, ... */
  | (AuditWaiter & { readonly t: 'dequeue'; readonly reason: string; readonly waitedMs: number })
  /** A feature's licensed seats changed (a reload, a feature added: seats; removed: 0). */
  | { readonly t: 'seats'; readonly feature: string; readonly seats: number }
  | {
      readonly t: 'reload';
      readonly added: readonly string[];
      readonly removed: readonly string[];
      readonly changed: readonly string[];
    }
  /** An admin action, with who did it (issue 6). `action` e.g. "free", "user add"; `detail` its arguments. */
  | {
      readonly t: 'admin';
      readonly action: string;
      readonly admin?: string;
      readonly role?: string;
      readonly peer?: string;
      readonly detail: Readonly<Record<string, unknown>>;
    };

export type AuditEventType = AuditEvent['t'];

/** Most leases a `start` line lists (see AuditEvent 'start'). */
export const START_LEASE_LIMIT = 10_000;

export function auditLease(lease: LeaseView): AuditLease {
  return {
    lease: lease.id,
    feature: lease.feature,
    user: lease.user,
    host: lease.host,
    count: lease.count,
    type: lease.type,
    ...(lease.group === undefined ? {} : { group: lease.group }),
    ...(lease.shared ? { shared: true } : {}),
  };
}

type LeaseEvent<T extends 'grant' | 'release' | 'reclaim'> = Extract<AuditEvent, { readonly t: T }>;

/*
 * The lease events, each built as one object literal: two per checkout + checkin cycle, so the
 * spread of an auditLease into the event (two objects, one copied) showed in the daemon's profile
 * (issue 8). Their members keep auditLease's order after `t`, since the audit line is the event's
 * JSON. `group` and `shared` are always members, undefined when the lease has none, which
 * JSON.stringify leaves out: the line is the same as for an event without them, and every lease
 * event has one shape, which keeps the property reads of the audit log and the rollups fast.
 * (Writing their JSON by hand beside them was tried: no faster than JSON.stringify of this one
 * shape, measured with bench/audit-path.mjs.)
 */

function grantEvent(lease: LeaseView): LeaseEvent<'grant'> {
  return {
    t: 'grant',
    lease: lease.id,
    feature: lease.feature,
    user: lease.user,
    host: lease.host,
    count: lease.count,
    type: lease.type,
    group: lease.group,
    shared: lease.shared ? true : undefined,
    session: lease.sessionId,
    fencing: lease.fencing,
  };
}

function releaseEvent(lease: LeaseView): LeaseEvent<'release'> {
  return {
    t: 'release',
    lease: lease.id,
    feature: lease.feature,
    user: lease.user,
    host: lease.host,
    count: lease.count,
    type: lease.type,
    group: lease.group,
    shared: lease.shared ? true : undefined,
  };
}

function reclaimEvent(lease: LeaseView, reason: string): LeaseEvent<'reclaim'> {
  return {
    t: 'reclaim',
    lease: lease.id,
    feature: lease.feature,
    user: lease.user,
    host: lease.host,
    count: lease.count,
    type: lease.type,
    group: lease.group,
    shared: lease.shared ? true : undefined,
    reason,
  };
}

function auditWaiter(waiter: WaiterView): AuditWaiter {
  return {
    ticket: waiter.ticket,
    feature: waiter.feature,
    user: waiter.user,
    host: waiter.host,
    count: waiter.count,
    ...(waiter.group === undefined ? {} : { group: waiter.group }),
  };
}

/**
 * Subscribes to the engine's events and turns each that belongs in the audit trail into an
 * AuditEvent for `emit`. `now` is the engine's (monotonic) clock, to measure queue waits.
 * Returns a function that unsubscribes.
 */
export function auditEngineEvents(
  engine: LeaseEngine,
  now: () => number,
  emit: (event: AuditEvent) => void,
): () => void {
  const off: Array<() => void> = [];
  const on = <E extends EngineEventName>(name: E, listener: (payload: EngineEvents[E]) => void) => {
    engine.on(name, listener);
    off.push(() => engine.off(name, listener));
  };
  const waitedMs = (waiter: WaiterView) => Math.max(0, Math.round(now() - waiter.enqueuedAt));
  on('granted', ({ lease }) => emit(grantEvent(lease)));
  on('released', ({ lease }) => emit(releaseEvent(lease)));
  on('reclaimed', ({ lease, reason }) => emit(reclaimEvent(lease, reason)));
  on('denied', (d) =>
    emit({ t: 'deny', feature: d.feature, user: d.user, host: d.host, count: d.count, code: d.code }),
  );
  on('queued', ({ waiter }) => emit({ t: 'queue', ...auditWaiter(waiter), position: waiter.position }));
  // The `granted` event of a queue grant comes just before this one.
  on('queueGranted', ({ waiter }) =>
    emit({ t: 'dequeue', ...auditWaiter(waiter), reason: 'granted', waitedMs: waitedMs(waiter) }),
  );
  on('queueLeft', ({ waiter, reason }) =>
    emit({ t: 'dequeue', ...auditWaiter(waiter), reason, waitedMs: waitedMs(waiter) }),
  );
  on('seatsChanged', (s) => emit({ t: 'seats', feature: s.feature, seats: s.seats }));
  return () => {
    for (const f of off) f();
  };
}
