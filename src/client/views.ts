/** Wire replies (snake_case) → the SDK's camelCase views (DESIGN §5 `status --json` shape). */
import type { FeatureStatusWire, LeaseInfo, StatusOk } from '../protocol/messages.js';

export interface HolderInfo {
  id: string;
  feature: string;
  user: string;
  host: string;
  display?: string;
  clientName: string;
  peer?: string;
  count: number;
  type: 'concurrent' | 'named';
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
  leases: HolderInfo[];
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
  if (l.peer !== undefined) out.peer = l.peer;
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
  return out;
}

export function toServerStatus(reply: StatusOk): ServerStatus {
  return {
    server: { name: reply.server.name, version: reply.server.version, uptimeMs: reply.server.uptime_ms },
    features: reply.features.map(toFeatureInfo),
  };
}
