/**
 * Engine views → wire maps (PROTOCOL.md §7). Times in the engine are monotonic clock readings; the
 * wire carries only durations measured from `now` (DESIGN §3.2).
 */
import type { LeaseEngine } from '../engine/engine.js';
import type { FeatureStatus, LeaseView } from '../engine/types.js';
import type { FeatureStatusWire, GroupUsage, LeaseGrant, LeaseInfo } from '../protocol/messages.js';

const since = (now: number, t: number): number => Math.max(0, Math.floor(now - t));

/**
 * The fields that tell a holder it got a lease, shared by checkout_ok (§7.2) and queue_granted
 * (§7.9): id, feature, count, fencing token, ttl, and the feature's idle timeout when it has one.
 */
export function grantFields(
  engine: LeaseEngine,
  lease: LeaseView,
): {
  lease: string;
  feature: string;
  count: number;
  fencing: number;
  ttl_ms: number;
  idle_timeout_ms?: number;
} {
  const idle = engine.featureConfig(lease.feature)?.idleTimeoutMs;
  const fields: ReturnType<typeof grantFields> = {
    lease: lease.id,
    feature: lease.feature,
    count: lease.count,
    fencing: lease.fencing,
    ttl_ms: engine.leaseTtlMs,
  };
  if (idle !== undefined) fields.idle_timeout_ms = idle;
  return fields;
}

/** checkout_ok (§7.2): `grantFields` behind the type and id, built in one object (every checkout). */
export function checkoutOkFields(
  engine: LeaseEngine,
  id: number,
  lease: LeaseView,
): { type: 'checkout_ok'; id: number } & ReturnType<typeof grantFields> {
  const idle = engine.featureConfig(lease.feature)?.idleTimeoutMs;
  const reply: { type: 'checkout_ok'; id: number } & ReturnType<typeof grantFields> = {
    type: 'checkout_ok',
    id,
    lease: lease.id,
    feature: lease.feature,
    count: lease.count,
    fencing: lease.fencing,
    ttl_ms: engine.leaseTtlMs,
  };
  if (idle !== undefined) reply.idle_timeout_ms = idle;
  return reply;
}

export function toLeaseGrant(lease: LeaseView): LeaseGrant {
  return { lease: lease.id, feature: lease.feature, count: lease.count, fencing: lease.fencing };
}

export function toLeaseInfo(lease: LeaseView, now: number): LeaseInfo {
  const info: LeaseInfo = {
    lease: lease.id,
    feature: lease.feature,
    user: lease.user,
    host: lease.host,
    client_name: lease.clientName,
    count: lease.count,
    type: lease.type,
    age_ms: since(now, lease.grantedAt),
    idle_ms: since(now, lease.lastActivityAt),
    heartbeat_age_ms: since(now, lease.lastHeartbeatAt),
  };
  if (lease.display !== undefined) info.display = lease.display;
  if (lease.peer !== undefined) info.peer = lease.peer;
  if (lease.group !== undefined) info.group = lease.group;
  if (lease.shared) info.shared = true;
  return info;
}

export function toFeatureStatus(status: FeatureStatus, now: number): FeatureStatusWire {
  const out: FeatureStatusWire = {
    name: status.name,
    model: status.model,
    seats: status.seats,
    in_use: status.inUse,
    free: status.free,
    queued: status.queued,
    overdraft: status.overdraft,
    named_seats: status.namedSeats,
    named_in_use: status.namedInUse,
    concurrent_seats: status.concurrentSeats,
    concurrent_in_use: status.concurrentInUse,
    groups: status.groups.map((g) => {
      const usage: GroupUsage = { name: g.name, in_use: g.inUse };
      if (g.reserve !== undefined) usage.reserve = g.reserve;
      if (g.max !== undefined) usage.max = g.max;
      return usage;
    }),
    leases: status.leases.map((l) => toLeaseInfo(l, now)),
  };
  if (status.idleTimeoutMs !== undefined) out.idle_timeout_ms = status.idleTimeoutMs;
  return out;
}
