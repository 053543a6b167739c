/** Wire replies (snake_case) → the SDK's camelCase views (DESIGN §5 `status --json` shape). */
import type { FeatureStatusWire, LeaseInfo, StatusOk, WaiterInfo } from '../protocol/messages.js';

export interface HolderInfo {
  id: string;
  feature: string;
  user: string;
  host: string;
  /** The X display the client reported (FlexLM's "display"). */
  display?: string;
  /** From the user directory, in admin listings (`listLeases`). */
  displayName?: string;
  email?: string;
  clientName: string;
  peer?: string;
  count: number;
  type: 'concurrent' | 'named';
  group?: string;
  /** Shares a seat with another lease of the same user (named seats, dedupe). */
  shared?: boolean;
  ageMs: number;
  idleMs: number;
  heartbeatAgeMs: number;
}

export interface FeatureInfo {
  name: string;
  model: 'concurrent' | 'named' | 'mixed';
  seats: number;
  inUse: number;
  free: number;
  queued: number;
  overdraft: number;
  idleTimeoutMs?: number;
  namedSeats?: number;
  namedInUse?: number;
  concurrentSeats?: number;
  concurrentInUse?: number;
  groups?: { name: string; inUse: number; reserve?: number; max?: number }[];
  leases: HolderInfo[];
}

export interface QueueEntry {
  ticket: string;
  feature: string;
  user: string;
  host: string;
  count: number;
  position: number;
  priority: number;
  group?: string;
  waitedMs: number;
  waitLeftMs: number;
}

export function toQueueEntry(w: WaiterInfo): QueueEntry {
  const out: QueueEntry = {
    ticket: w.ticket,
    feature: w.feature,
    user: w.user,
    host: w.host,
    count: w.count,
    position: w.position,
    priority: w.priority,
    waitedMs: w.waited_ms,
    waitLeftMs: w.wait_left_ms,
  };
  if (w.group !== undefined) out.group = w.group;
  return out;
}

export interface ServerStatus {
  server: { name: string; version: string; uptimeMs: number };
  features: FeatureInfo[];
}

export function toHolderInfo(l: LeaseInfo): HolderInfo {
  const out: HolderInfo = {
    id: l.lease,
    feature: l.feature,
    user: l.user,
    host: l.host,
    clientName: l.client_name,
    count: l.count,
    type: l.type,
    ageMs: l.age_ms,
    idleMs: l.idle_ms,
    heartbeatAgeMs: l.heartbeat_age_ms,
  };
  if (l.display !== undefined) out.display = l.display;
  if (l.display_name !== undefined) out.displayName = l.display_name;
  if (l.email !== undefined) out.email = l.email;
  if (l.peer !== undefined) out.peer = l.peer;
  if (l.group !== undefined) out.group = l.group;
  if (l.shared) out.shared = true;
  return out;
}

export function toFeatureInfo(f: FeatureStatusWire): FeatureInfo {
  const out: FeatureInfo = {
    name: f.name,
    model: f.model,
    seats: f.seats,
    inUse: f.in_use,
    free: f.free,
    queued: f.queued,
    overdraft: f.overdraft,
    leases: f.leases.map(toHolderInfo),
  };
  if (f.idle_timeout_ms !== undefined) out.idleTimeoutMs = f.idle_timeout_ms;
  if (f.named_seats !== undefined) out.namedSeats = f.named_seats;
  if (f.named_in_use !== undefined) out.namedInUse = f.named_in_use;
  if (f.concurrent_seats !== undefined) out.concurrentSeats = f.concurrent_seats;
  if (f.concurrent_in_use !== undefined) out.concurrentInUse = f.concurrent_in_use;
  if (f.groups !== undefined) {
    out.groups = f.groups.map((g) => ({
      name: g.name,
      inUse: g.in_use,
      ...(g.reserve === undefined ? {} : { reserve: g.reserve }),
      ...(g.max === undefined ? {} : { max: g.max }),
    }));
  }
  return out;
}

export function toServerStatus(reply: StatusOk): ServerStatus {
  return {
    server: { name: reply.server.name, version: reply.server.version, uptimeMs: reply.server.uptime_ms },
    features: reply.features.map(toFeatureInfo),
  };
}
