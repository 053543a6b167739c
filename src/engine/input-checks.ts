/**
 * Shape checks on what callers hand the engine. The protocol layer validates wire messages first;
 * these checks keep the engine's own invariants safe from any caller (DESIGN §3.7: bad input never
 * changes state), so each runs before the call changes anything.
 */
import { ReclaimReason } from '../protocol/codes.js';
import { InvalidRequestError } from '../protocol/errors.js';
import { MAX_BLOCK_MS } from './blocks.js';
import type { ResolvedEngineOptions } from './engine-options.js';
import type { BlockSpec, FreeFilter, HeartbeatLeaseEntry, HolderIdentity } from './types.js';

const RECLAIM_REASONS: ReadonlySet<string> = new Set(Object.values(ReclaimReason));

/** Request keys are client-chosen; the cap bounds the memory one key may take. */
export const MAX_KEY_LENGTH = 1024;

function invalid(message: string, field: string): InvalidRequestError {
  return new InvalidRequestError(message, { details: { field } });
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

export function checkIdentity(identity: HolderIdentity): void {
  for (const field of ['user', 'host', 'clientName'] as const) {
    if (!isNonEmptyString(identity?.[field])) {
      throw invalid(`A session's identity needs a non-empty ${field}.`, field);
    }
  }
  for (const field of ['display', 'peer'] as const) {
    const value = identity[field];
    if (value !== undefined && typeof value !== 'string') {
      throw invalid(`A session's ${field}, when given, must be a string.`, field);
    }
  }
}

export function isValidCount(count: number): boolean {
  return Number.isSafeInteger(count) && count >= 1;
}

export function isValidKey(key: string | undefined): boolean {
  return key === undefined || (isNonEmptyString(key) && key.length <= MAX_KEY_LENGTH);
}

export function checkHeartbeatEntries(entries: readonly HeartbeatLeaseEntry[]): void {
  if (!Array.isArray(entries)) throw invalid("A heartbeat's leases must be a list.", 'leases');
  for (const entry of entries) {
    if (!isNonEmptyString(entry?.lease)) throw invalid('A heartbeat entry needs a lease id.', 'lease');
    if (typeof entry.fencing !== 'number') {
      throw invalid(`Heartbeat entry for lease '${entry.lease}' needs a fencing token.`, 'fencing');
    }
    // NaN would poison lastActivityAt (max() with NaN is NaN); negative values are clamped to "now".
    if (entry.idleMs !== undefined && (typeof entry.idleMs !== 'number' || Number.isNaN(entry.idleMs))) {
      throw invalid(
        `Heartbeat entry for lease '${entry.lease}' has an idleMs that is not a number.`,
        'idleMs',
      );
    }
  }
}

/** Absent and 0 mean "do not wait". */
export function isValidWait(waitMs: number | undefined): boolean {
  return waitMs === undefined || (Number.isSafeInteger(waitMs) && waitMs >= 0);
}

export function checkReclaimReason(reason: ReclaimReason): void {
  if (!RECLAIM_REASONS.has(reason)) {
    throw invalid(`Unknown reclaim reason ${String(reason)}.`, 'reason');
  }
}

function checkOptionalName(value: unknown, what: string, field: string): void {
  if (value !== undefined && !isNonEmptyString(value)) {
    throw invalid(`${what}'s ${field}, when given, must be a non-empty string.`, field);
  }
}

/** A block names a user, optionally a host, a feature and who placed it, and lasts 1 ms to 366 days. */
export function checkBlockSpec(spec: BlockSpec): void {
  if (!isNonEmptyString(spec?.user)) throw invalid('A block needs a non-empty user.', 'user');
  for (const field of ['host', 'feature', 'by'] as const) checkOptionalName(spec[field], 'A block', field);
  const { durationMs } = spec;
  if (!(Number.isSafeInteger(durationMs) && durationMs >= 1 && durationMs <= MAX_BLOCK_MS)) {
    throw invalid(
      `A block's durationMs must be an integer from 1 to ${MAX_BLOCK_MS} (366 days); got ${String(durationMs)}.`,
      'durationMs',
    );
  }
}

export function checkFreeFilter(filter: FreeFilter): void {
  if (!isNonEmptyString(filter?.user)) throw invalid('Freeing leases needs a non-empty user.', 'user');
  for (const field of ['host', 'feature'] as const) checkOptionalName(filter[field], 'A free filter', field);
}

function checkPositive(value: number, field: string, integer: boolean): void {
  const ok = integer ? Number.isSafeInteger(value) && value > 0 : Number.isFinite(value) && value > 0;
  if (!ok)
    throw invalid(`${field} must be a positive ${integer ? 'integer' : 'number'}; got ${value}.`, field);
}

export function checkEngineOptions(opts: ResolvedEngineOptions): void {
  if (typeof opts.clock?.now !== 'function') throw invalid('The engine needs a clock.', 'clock');
  if (typeof opts.wallClock !== 'function') throw invalid('wallClock must be a function.', 'wallClock');
  checkPositive(opts.leaseTtlMs, 'leaseTtlMs', false);
  checkPositive(opts.maxLeasesPerSession, 'maxLeasesPerSession', true);
  checkPositive(opts.requestKeyCacheSize, 'requestKeyCacheSize', true);
  checkPositive(opts.endedLeaseCacheSize, 'endedLeaseCacheSize', true);
  if (!(Number.isSafeInteger(opts.initialFencing) && opts.initialFencing >= 0)) {
    throw invalid(
      `initialFencing must be an integer of at least 0; got ${opts.initialFencing}.`,
      'initialFencing',
    );
  }
}
