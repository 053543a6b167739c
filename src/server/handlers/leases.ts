/** checkout, heartbeat and checkin (PROTOCOL.md §6.2–§6.4). Grants and releases are logged by the daemon's engine listeners. */
import type {
  Checkin,
  CheckinOk,
  Checkout,
  CheckoutOk,
  Heartbeat,
  HeartbeatOk,
} from '../../protocol/messages.js';
import type { ClientConnection } from '../connection.js';

export function handleCheckout(conn: ClientConnection, sessionId: string, req: Checkout): CheckoutOk {
  const { engine } = conn.ctx;
  const lease = engine.checkout(sessionId, {
    feature: req.feature,
    count: req.count ?? 1,
    ...(req.key === undefined ? {} : { key: req.key }),
  });
  const reply: CheckoutOk = {
    type: 'checkout_ok',
    id: req.id,
    lease: lease.id,
    feature: lease.feature,
    count: lease.count,
    fencing: lease.fencing,
    ttl_ms: engine.leaseTtlMs,
  };
  const idle = engine.featureConfig(lease.feature)?.idleTimeoutMs;
  if (idle !== undefined) reply.idle_timeout_ms = idle;
  return reply;
}

export function handleHeartbeat(conn: ClientConnection, sessionId: string, req: Heartbeat): HeartbeatOk {
  const result = conn.ctx.engine.heartbeat(sessionId, {
    leases: (req.leases ?? []).map((l) => ({
      lease: l.lease,
      fencing: l.fencing,
      ...(l.idle_ms === undefined ? {} : { idleMs: l.idle_ms }),
    })),
  });
  return {
    type: 'heartbeat_ok',
    id: req.id,
    ttl_ms: result.ttlMs,
    lost: result.lost.map((l) => ({ lease: l.lease, code: l.code })),
  };
}

export function handleCheckin(conn: ClientConnection, sessionId: string, req: Checkin): CheckinOk {
  const { released } = conn.ctx.engine.checkin(sessionId, req.lease, req.fencing);
  return { type: 'checkin_ok', id: req.id, released };
}
