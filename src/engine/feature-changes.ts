/**
 * Adding, updating and removing features at run time, and applying a reload's plan
 * (reconfigure-plan.ts), for LeaseEngine. Leases are kept across an update; a removed feature's
 * waiters leave and its leases are reclaimed (`feature_removed`).
 */
import { ReclaimReason } from '../protocol/codes.js';
import { InvalidRequestError } from '../protocol/errors.js';
import { applyDirectoryOp } from './directory-changes.js';
import type { EngineContext } from './engine-context.js';
import { validateFeatureConfig } from './feature-config-check.js';
import { FeaturePool } from './feature-pool.js';
import type { LeaseFlow } from './lease-flow.js';
import type { ReconfigurePlan } from './reconfigure-plan.js';
import { type FeatureConfig, QueueLeftReason } from './types.js';

export function addPool(ctx: EngineContext, config: FeatureConfig): void {
  validateFeatureConfig(config, ctx.directory);
  if (ctx.book.pools.has(config.name)) {
    throw new InvalidRequestError(`Feature '${config.name}' already exists; update it instead.`, {
      details: { feature: config.name },
    });
  }
  createPool(ctx, config);
}

/**
 * Files a new feature. Its named assignments are announced (`assigned`), and a removed feature's
 * are announced gone (`unassigned`, see removePool), so a replay that meets a feature removed and
 * created again (a restart's config has it throughout) ends with the same assignments.
 */
function createPool(ctx: EngineContext, config: FeatureConfig): void {
  const pool = new FeaturePool(structuredClone(config));
  ctx.book.pools.set(config.name, pool);
  for (const user of pool.namedUsers) {
    ctx.events.queue('directoryChanged', { kind: 'assigned', detail: { feature: pool.name, user } });
  }
}

/**
 * Applies a validated configuration to an existing feature, keeping its leases. Named assignments
 * that change are announced one by one (`assigned`/`unassigned`), as an admin's would be, so the
 * journal replays them; kept assignments keep their order.
 */
export function updatePool(
  ctx: EngineContext,
  flow: LeaseFlow,
  pool: FeaturePool,
  config: FeatureConfig,
): void {
  const idleBefore = pool.idleTimeoutMs;
  const seatsBefore = pool.seats;
  const target = new Set(config.namedUsers ?? []);
  const named = [...pool.namedUsers].filter((user) => target.has(user));
  const removed = [...pool.namedUsers].filter((user) => !target.has(user));
  const added = [...target].filter((user) => !pool.namedUsers.has(user));
  named.push(...added);
  const { namedUsers: _named, ...rest } = structuredClone(config);
  pool.configure(named.length === 0 ? rest : { ...rest, namedUsers: named });
  for (const user of removed) {
    ctx.events.queue('directoryChanged', { kind: 'unassigned', detail: { feature: pool.name, user } });
  }
  for (const user of added) {
    ctx.events.queue('directoryChanged', { kind: 'assigned', detail: { feature: pool.name, user } });
  }
  pool.seats = seatsBefore;
  // A new or shorter timeout can bring deadlines earlier than the heap entries; a longer or
  // removed one is handled lazily when the old entries pop.
  if (config.idleTimeoutMs !== undefined && config.idleTimeoutMs !== idleBefore) {
    for (const lease of pool.leases) ctx.expiry.armIdle(lease);
  }
  if (pool.reclaimIdleWhenQueuedMs !== undefined) pool.preemptWanted = true;
  flow.queues.markForScan(pool);
  flow.changeSeats(pool, config.seats);
}

/** Removes a feature: its waiters leave the queue, its leases are reclaimed (`feature_removed`). */
export function removePool(ctx: EngineContext, flow: LeaseFlow, pool: FeaturePool): { reclaimed: number } {
  for (const waiter of pool.queue.snapshot()) flow.queues.leave(waiter, QueueLeftReason.FeatureRemoved);
  pool.removed = true;
  ctx.book.pools.delete(pool.name);
  for (const user of pool.namedUsers) {
    ctx.events.queue('directoryChanged', { kind: 'unassigned', detail: { feature: pool.name, user } });
  }
  const leases = Array.from(pool.leases);
  for (const lease of leases) flow.endLease(lease, ReclaimReason.FeatureRemoved);
  return { reclaimed: leases.length };
}

/**
 * Issue 5 reload (and a restart's config merge): applies a plan that planReconfigure validated as a
 * whole, then records the new config baseline (`configBaseline`) when it changed.
 */
export function applyReconfigure(ctx: EngineContext, flow: LeaseFlow, plan: ReconfigurePlan): void {
  for (const op of plan.directoryOps) applyDirectoryOp(ctx, op.kind, op.detail);
  for (const name of plan.removed) removePool(ctx, flow, flow.pool(name));
  for (const config of plan.configs) {
    const pool = ctx.book.pools.get(config.name);
    if (pool === undefined) createPool(ctx, config);
    else updatePool(ctx, flow, pool, config);
  }
  // Features in the configuration's order, as a restart with it would have them.
  const order = plan.configs.map((config) => config.name);
  const current = [...ctx.book.pools.keys()];
  if (order.some((name, i) => name !== current[i])) {
    for (const name of order) {
      const pool = ctx.book.pools.get(name)!;
      ctx.book.pools.delete(name);
      ctx.book.pools.set(name, pool);
    }
  }
  if (plan.baselineChanged) {
    ctx.baseline = plan.baseline;
    ctx.events.queue('configBaseline', plan.baseline);
  }
  flow.queues.scanAll();
}
