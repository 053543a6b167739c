/**
 * The administration calls that act on holders rather than on the directory: placing and lifting
 * blocks (blocks.ts), taking back one lease, and freeing every lease of a holder at once.
 * LeaseEngine runs each inside its `#mutate`, so the events are delivered once the call is
 * complete.
 */
import { ReclaimReason } from '../protocol/codes.js';
import { InternalError } from '../protocol/errors.js';
import { type BlockRecord, blockMatches, toBlockView } from './blocks.js';
import type { EngineContext } from './engine-context.js';
import { blocked, leaseNotFound } from './engine-errors.js';
import type { FeaturePool } from './feature-pool.js';
import { checkBlockSpec, checkFreeFilter, checkReclaimReason } from './input-checks.js';
import type { LeaseFlow } from './lease-flow.js';
import { toLeaseView } from './lease-record.js';
import { uniqueHexId } from './random-ids.js';
import { type BlockSpec, type BlockView, type FreeFilter, type LeaseView, QueueLeftReason } from './types.js';

function wallNow(ctx: EngineContext): number {
  const wall = ctx.wallClock();
  if (!Number.isFinite(wall)) throw new InternalError(`The wall clock returned ${String(wall)}.`);
  return wall;
}

/**
 * Places a block (`blocked`); the holder's waiters in the queues it covers leave them with code
 * BLOCKED (`queueLeft`, reason `blocked`). Leases already held are kept: `freeLeases` takes them.
 */
export function placeBlock(ctx: EngineContext, flow: LeaseFlow, spec: BlockSpec, now: number): BlockView {
  checkBlockSpec(spec);
  // An unknown feature is refused as a checkout of it is (UNKNOWN_FEATURE).
  const only = spec.feature === undefined ? undefined : flow.pool(spec.feature);
  const block: BlockRecord = {
    id: uniqueHexId(ctx.random, (candidate) => ctx.blocks.has(candidate)),
    user: spec.user,
    host: spec.host,
    feature: spec.feature,
    by: spec.by,
    deadline: now + spec.durationMs,
    untilWall: wallNow(ctx) + spec.durationMs,
  };
  ctx.blocks.add(block);
  const view = toBlockView(block, now);
  ctx.events.queue('blocked', view);
  const pools: FeaturePool[] = only === undefined ? Array.from(ctx.book.pools.values()) : [only];
  for (const pool of pools) {
    for (const waiter of pool.queue.snapshot()) {
      const { user, host } = waiter.session.identity;
      if (!blockMatches(block, user, host, pool.name)) continue;
      // queueLeftNotice reads the denial: the waiter learns which block and until when.
      waiter.denial = blocked(block, pool, user, host, waiter.count, now);
      flow.queues.leave(waiter, QueueLeftReason.Blocked);
    }
  }
  return view;
}

/** Lifts an active block (`unblocked`). An unknown or already ended block: false, and no event. */
export function liftBlock(ctx: EngineContext, id: string, now: number): boolean {
  if (typeof id !== 'string' || ctx.blocks.get(id, now) === undefined) return false;
  ctx.blocks.remove(id);
  ctx.events.queue('unblocked', { id });
  return true;
}

/** Takes a lease back (an admin free, for instance); returns the lease as it was. */
export function revokeLease(
  ctx: EngineContext,
  flow: LeaseFlow,
  leaseId: string,
  reason: ReclaimReason,
): LeaseView {
  checkReclaimReason(reason);
  const lease = ctx.book.lease(leaseId);
  if (lease === undefined) throw leaseNotFound(leaseId, false);
  const view = toLeaseView(lease);
  flow.endLease(lease, reason);
  return view;
}

/**
 * Reclaims every lease of the user (on the host, of the feature, when given) with reason `admin`,
 * as `revoke` does one; returns the leases as they were, sorted by grant time.
 */
export function freeLeases(ctx: EngineContext, flow: LeaseFlow, filter: FreeFilter): LeaseView[] {
  checkFreeFilter(filter);
  if (filter.feature !== undefined) flow.pool(filter.feature);
  const views = ctx.book.list({
    user: filter.user,
    ...(filter.host === undefined ? {} : { host: filter.host }),
    ...(filter.feature === undefined ? {} : { feature: filter.feature }),
  });
  for (const view of views) {
    const lease = ctx.book.lease(view.id);
    if (lease !== undefined) flow.endLease(lease, ReclaimReason.Admin);
  }
  return views;
}
