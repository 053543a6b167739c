/**
 * Admin requests about the daemon and its seats (PROTOCOL.md §6.10, §6.11): reload, shutdown,
 * free (lmremove, with an optional block so the removal sticks), blocks and unblock. The router
 * has already checked the connection's role (permissions.ts); every action is logged with who did
 * it, and every change is journaled by the engine before the reply leaves (DESIGN §3.6).
 */
import type { BlockView } from '../../engine/types.js';
import { ReclaimReason } from '../../protocol/codes.js';
import { InvalidRequestError, LeaseNotFoundError } from '../../protocol/errors.js';
import type {
  AdminBlocks,
  AdminBlocksOk,
  AdminFree,
  AdminFreeOk,
  AdminReload,
  AdminReloadOk,
  AdminShutdown,
  AdminShutdownOk,
  AdminUnblock,
  AdminUnblockOk,
  BlockInfo,
  FreedLease,
} from '../../protocol/messages.js';
import type { ClientConnection } from '../connection.js';

/** One log line and one audit line per admin action, naming who did it (issue 6 §4, issue 7 §1). */
export function logAdminAction(
  conn: ClientConnection,
  action: string,
  fields: Record<string, unknown>,
): void {
  const p = conn.principal;
  conn.ctx.audit.record({
    t: 'admin',
    action,
    ...(p?.name ? { admin: p.name } : {}),
    ...(p?.role ? { role: p.role } : {}),
    peer: conn.peer,
    // Through JSON: fields left undefined are dropped, as they would be on the audit line.
    detail: JSON.parse(JSON.stringify(fields)) as Record<string, unknown>,
  });
  conn.ctx.logger.info(
    {
      action,
      admin: conn.principal?.name,
      role: conn.principal?.role,
      via: conn.principal?.via,
      peer: conn.peer,
      conn: conn.connectionId,
      ...fields,
    },
    'admin action',
  );
}

export function toBlockInfo(block: BlockView): BlockInfo {
  const info: BlockInfo = {
    block: block.id,
    user: block.user,
    until: new Date(block.untilWall).toISOString(),
    remaining_ms: Math.max(0, Math.ceil(block.remainingMs)),
  };
  if (block.host !== undefined) info.host = block.host;
  if (block.feature !== undefined) info.feature = block.feature;
  if (block.by !== undefined) info.by = block.by;
  return info;
}

export function handleAdminReload(conn: ClientConnection, req: AdminReload): AdminReloadOk {
  const result = conn.ctx.admin.reload();
  logAdminAction(conn, 'reload', result);
  return { type: 'admin_reload_ok', id: req.id, ...result };
}

export function handleAdminShutdown(conn: ClientConnection, req: AdminShutdown): AdminShutdownOk {
  logAdminAction(conn, 'shutdown', {});
  // After the reply is on its way.
  setImmediate(() => conn.ctx.admin.requestShutdown());
  return { type: 'admin_shutdown_ok', id: req.id };
}

/**
 * `free LEASE_ID...` or `free --user U [--host H] [--feature F]`, each with an optional block.
 * Lease ids are checked first, so an unknown id frees nothing. With ids, the block covers each
 * freed lease's user, host and feature; with --user, exactly the user, host and feature given.
 */
export function handleAdminFree(conn: ClientConnection, req: AdminFree): AdminFreeOk {
  const { engine } = conn.ctx;
  const byIds = req.leases !== undefined;
  if (byIds === (req.user !== undefined)) {
    throw new InvalidRequestError('admin_free needs either `leases` or `user` (not both).', {
      details: { field: byIds ? 'user' : 'leases' },
    });
  }
  if (byIds && (req.host !== undefined || req.feature !== undefined)) {
    throw new InvalidRequestError('`host` and `feature` go with `user`, not with `leases`.', {
      details: { field: req.host !== undefined ? 'host' : 'feature' },
    });
  }
  const by = conn.principal?.name;
  const freed: FreedLease[] = [];
  const blocks: BlockInfo[] = [];
  const block = (spec: { user: string; host?: string; feature?: string }) => {
    if (req.block_ms === undefined) return;
    const placed = engine.block({ ...spec, durationMs: req.block_ms, ...(by === undefined ? {} : { by }) });
    blocks.push(toBlockInfo(placed));
  };
  if (req.leases !== undefined) {
    const ids = [...new Set(req.leases)];
    const missing = ids.filter((id) => engine.lease(id) === undefined);
    if (missing.length > 0) {
      throw new LeaseNotFoundError(`No lease ${missing.join(', ')} is held; nothing was freed.`, {
        details: { leases: missing },
      });
    }
    const blocked = new Set<string>();
    for (const id of ids) {
      const lease = engine.revoke(id, ReclaimReason.Admin);
      freed.push({
        lease: id,
        feature: lease.feature,
        user: lease.user,
        host: lease.host,
        count: lease.count,
      });
      const key = JSON.stringify([lease.user, lease.host, lease.feature]);
      if (!blocked.has(key)) {
        blocked.add(key);
        block({ user: lease.user, host: lease.host, feature: lease.feature });
      }
    }
  } else {
    const filter = {
      user: req.user as string,
      ...(req.host === undefined ? {} : { host: req.host }),
      ...(req.feature === undefined ? {} : { feature: req.feature }),
    };
    for (const lease of engine.freeLeases(filter)) {
      freed.push({
        lease: lease.id,
        feature: lease.feature,
        user: lease.user,
        host: lease.host,
        count: lease.count,
      });
    }
    block(filter);
  }
  logAdminAction(conn, 'free', {
    leases: freed.map((f) => f.lease),
    ...(req.user === undefined ? {} : { user: req.user, host: req.host, feature: req.feature }),
    ...(req.block_ms === undefined ? {} : { blockMs: req.block_ms, blocks: blocks.map((b) => b.block) }),
  });
  return { type: 'admin_free_ok', id: req.id, freed, blocks };
}

export function handleAdminBlocks(conn: ClientConnection, req: AdminBlocks): AdminBlocksOk {
  return { type: 'admin_blocks_ok', id: req.id, blocks: conn.ctx.engine.listBlocks().map(toBlockInfo) };
}

export function handleAdminUnblock(conn: ClientConnection, req: AdminUnblock): AdminUnblockOk {
  const removed = conn.ctx.engine.unblock(req.block);
  logAdminAction(conn, 'unblock', { block: req.block, removed });
  return { type: 'admin_unblock_ok', id: req.id, removed };
}
