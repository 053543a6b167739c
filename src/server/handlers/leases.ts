/** checkout, heartbeat and checkin (PROTOCOL.md §6.2–§6.4). Grants and releases are logged by the daemon's engine listeners. */
import type { LeaseView } from '../../engine/types.js';
import type {
  Checkin,
  CheckinOk,
  Checkout,
  CheckoutOk,
  CheckoutQueued,
  Heartbeat,
  HeartbeatOk,
} from '../../protocol/messages.js';
import type { ClientConnection } from '../connection.js';
import { checkoutOkFields } from '../wire-views.js';

export function handleCheckout(
  conn: ClientConnection,
  sessionId: string,
  req: Checkout,
): CheckoutOk | CheckoutQueued {
  const { engine } = conn.ctx;
  const result = engine.requestCheckout(sessionId, {
    feature: req.feature,
    count: req.count ?? 1,
    ...(req.key === undefined ? {} : { key: req.key }),
    ...(req.wait_ms ? { waitMs: req.wait_ms } : {}),
  });
  if (result.kind === 'queued') {
    const w = result.waiter;
    const waitMs = Math.max(0, Math.floor(w.deadline - conn.ctx.clock.now()));
    return {
      type: 'checkout_queued',
      id: req.id,
      ticket: w.ticket,
      feature: w.feature,
      count: w.count,
      position: w.position,
      wait_ms: waitMs,
      message:
        `No seat of feature '${w.feature}' is free for you now: you are number ${w.position} in its queue ` +
        `and get the seat the moment one frees (waiting up to ${waitMs} ms).`,
    };
  }
  return checkoutOk(conn, req.id, result.lease);
}

/** The grant, as a checkout reply (PROTOCOL.md §7.2). */
export function checkoutOk(conn: ClientConnection, id: number, lease: LeaseView): CheckoutOk {
  return checkoutOkFields(conn.ctx.engine, id, lease);
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
