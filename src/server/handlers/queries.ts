/** status and leases (PROTOCOL.md §6.5, §6.6): read-only views of the lease table. */

import type { UserView } from '../../engine/types.js';
import type { Leases, LeasesOk, Status, StatusOk } from '../../protocol/messages.js';
import type { ClientConnection } from '../connection.js';
import { hasRole } from '../permissions.js';
import { toFeatureStatus, toLeaseInfo } from '../wire-views.js';

export function handleStatus(conn: ClientConnection, req: Status): StatusOk {
  const { engine, clock } = conn.ctx;
  const now = clock.now();
  return {
    type: 'status_ok',
    id: req.id,
    server: {
      name: conn.ctx.serverName,
      version: conn.ctx.serverVersion,
      uptime_ms: Math.floor(now - conn.ctx.startedAt),
    },
    features: engine.featureStatus(req.feature).map((f) => toFeatureStatus(f, now)),
  };
}

export function handleLeases(conn: ClientConnection, req: Leases): LeasesOk {
  const now = conn.ctx.clock.now();
  const filter = {
    ...(req.feature === undefined ? {} : { feature: req.feature }),
    ...(req.user === undefined ? {} : { user: req.user }),
    ...(req.host === undefined ? {} : { host: req.host }),
    ...(req.seat_type === undefined ? {} : { type: req.seat_type }),
  };
  // Admins (viewer and up) see who a holder is in the directory's words too (display name, e-mail).
  const known = hasRole(conn.principal, 'viewer')
    ? new Map(conn.ctx.engine.listUsers().map((u) => [u.name, u]))
    : new Map<string, UserView>();
  return {
    type: 'leases_ok',
    id: req.id,
    leases: conn.ctx.engine.listLeases(filter).map((l) => {
      const info = toLeaseInfo(l, now);
      const user = known.get(l.user);
      if (user?.display !== undefined) info.display_name = user.display;
      if (user?.email !== undefined) info.email = user.email;
      return info;
    }),
  };
}
