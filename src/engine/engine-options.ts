/** What a LeaseEngine is built from, and the defaults of what may be left out. */
import type { Clock } from './clock.js';
import { checkEngineOptions } from './input-checks.js';
import { createPooledRandom, type RandomBytes } from './random-ids.js';
import type { DirectoryConfig, FeatureConfig } from './types.js';

export interface EngineOptions {
  readonly clock: Clock;
  /** A session with no heartbeat for this long is reclaimed, with all its leases (DESIGN §2 reclaim a). */
  readonly leaseTtlMs: number;
  readonly features: readonly FeatureConfig[];
  /** Users and groups (issue 4 §2). Default: none, so every feature is open to anyone. */
  readonly directory?: DirectoryConfig;
  /** Default 1000. */
  readonly maxLeasesPerSession?: number;
  /** Request keys remembered for idempotent checkout. Default 100,000. */
  readonly requestKeyCacheSize?: number;
  /** Ended leases remembered to answer late heartbeats and checkins precisely. Default 100,000. */
  readonly endedLeaseCacheSize?: number;
  /** The last fencing token handed out before this start (persisted by the store); default 0. */
  readonly initialFencing?: number;
  /** Random bytes for ids and resume tokens; default node:crypto's CSPRNG (see createPooledRandom). */
  readonly random?: RandomBytes;
  /**
   * Wall-clock epoch milliseconds; default Date.now. Used only to persist and print the ends of
   * blocks (blocks.ts): every deadline the engine enforces runs on `clock`.
   */
  readonly wallClock?: () => number;
}

export type ResolvedEngineOptions = Required<EngineOptions>;

export const ENGINE_DEFAULTS = {
  maxLeasesPerSession: 1000,
  requestKeyCacheSize: 100_000,
  endedLeaseCacheSize: 100_000,
  initialFencing: 0,
} as const;

export function resolveEngineOptions(opts: EngineOptions): ResolvedEngineOptions {
  const resolved: ResolvedEngineOptions = {
    clock: opts.clock,
    leaseTtlMs: opts.leaseTtlMs,
    features: opts.features ?? [],
    directory: opts.directory ?? { users: [], groups: [] },
    maxLeasesPerSession: opts.maxLeasesPerSession ?? ENGINE_DEFAULTS.maxLeasesPerSession,
    requestKeyCacheSize: opts.requestKeyCacheSize ?? ENGINE_DEFAULTS.requestKeyCacheSize,
    endedLeaseCacheSize: opts.endedLeaseCacheSize ?? ENGINE_DEFAULTS.endedLeaseCacheSize,
    initialFencing: opts.initialFencing ?? ENGINE_DEFAULTS.initialFencing,
    random: opts.random ?? createPooledRandom(),
    wallClock: opts.wallClock ?? Date.now,
  };
  checkEngineOptions(resolved);
  return resolved;
}
