/** queue and queue_cancel (PROTOCOL.md §6.8, §6.9): who waits for which feature, and leaving the queue. */
import type { WaiterView } from '../../engine/types.js';
import type { Queue, QueueCancel, QueueCancelOk, QueueOk, WaiterInfo } from '../../protocol/messages.js';
import type { ClientConnection } from '../connection.js';

export function toWaiterInfo(w: WaiterView, now: number): WaiterInfo {
  const info: WaiterInfo = {
    ticket: w.ticket,
    feature: w.feature,
    user: w.user,
    host: w.host,
    count: w.count,
    position: w.position,
    priority: Math.max(0, w.priority),
    waited_ms: Math.max(0, Math.floor(now - w.enqueuedAt)),
    wait_left_ms: Math.max(0, Math.floor(w.deadline - now)),
  };
  if (w.group !== undefined) info.group = w.group;
  return info;
}

export function handleQueue(conn: ClientConnection, req: Queue): QueueOk {
  const now = conn.ctx.clock.now();
  const waiters = conn.ctx.engine.queueStatus(req.feature).map((w) => toWaiterInfo(w, now));
  return { type: 'queue_ok', id: req.id, waiters };
}

export function handleQueueCancel(
  conn: ClientConnection,
  sessionId: string,
  req: QueueCancel,
): QueueCancelOk {
  const { cancelled } = conn.ctx.engine.cancelWait(sessionId, req.ticket);
  return { type: 'queue_cancel_ok', id: req.id, cancelled };
}
