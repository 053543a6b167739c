/**
 * What LeaseEngine shares with the modules that do its work (lease-flow.ts, queue-desk.ts,
 * session-desk.ts, block-admin.ts, feature-changes.ts, directory-changes.ts, engine-restore.ts).
 * One object, passed to each by the engine when it builds them, so they all see the same state and
 * the engine's own fields stay private.
 */
import type { BlockBook } from './blocks.js';
import type { ConfigBaselineData } from './config-baseline.js';
import type { Directory } from './directory.js';
import type { EventQueue } from './event-queue.js';
import type { ExpirySchedule } from './expiry-schedule.js';
import type { LeaseBook } from './lease-book.js';
import type { RandomBytes } from './random-ids.js';
import type { EngineEvents } from './types.js';

export interface EngineContext {
  readonly leaseTtlMs: number;
  readonly maxLeasesPerSession: number;
  readonly random: RandomBytes;
  readonly book: LeaseBook;
  readonly expiry: ExpirySchedule;
  /** Events are queued here and delivered once the engine's call is complete (event-queue.ts). */
  readonly events: EventQueue<EngineEvents>;
  /** Replaced as a whole by a directory change (tried on a copy first) and by a restore. */
  directory: Directory;
  /** The last fencing token handed out (DESIGN §3.4). */
  fencing: number;
  draining: boolean;
  /** Leases reclaimed while settling what was due, for `sweep()` to report. */
  reclaimedBySettle: number;
  /** Administrators' blocks (blocks.ts). */
  readonly blocks: BlockBook;
  /** Wall-clock epoch milliseconds: only to persist and print the ends of blocks. */
  readonly wallClock: () => number;
  /** The directory and named assignments of the configuration last applied (config-baseline.ts). */
  baseline: ConfigBaselineData;
}
