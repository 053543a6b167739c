/**
 * One licensed feature: its configuration and the leases that occupy its seats. The pool keeps
 * `inUse` as a running sum so the admission decision is O(1).
 */
import { InvalidRequestError } from '../protocol/errors.js';
import type { LeaseRecord } from './lease-record.js';
import { type FeatureConfig, FeatureModel } from './types.js';

export class FeaturePool {
  readonly name: string;
  seats: number;
  model: FeatureModel;
  idleTimeoutMs: number | undefined;
  /** Sum of `count` over `leases`. */
  inUse = 0;
  /** In grant order (a Set keeps insertion order). */
  readonly leases = new Set<LeaseRecord>();
  /** Set once the feature is removed; its records may still be referenced by tombstoned leases. */
  removed = false;

  constructor(config: FeatureConfig) {
    this.name = config.name;
    this.seats = config.seats;
    this.model = config.model;
    this.idleTimeoutMs = config.idleTimeoutMs;
  }

  /** Seats in use beyond `seats` after an admin lowered it (DESIGN §3.1). */
  get overdraft(): number {
    return Math.max(0, this.inUse - this.seats);
  }

  get free(): number {
    return Math.max(0, this.seats - this.inUse);
  }
}

/** Checks a feature's configuration; throws InvalidRequestError naming the feature and the problem. */
export function validateFeatureConfig(config: FeatureConfig): void {
  if (typeof config.name !== 'string' || config.name.length === 0) {
    throw new InvalidRequestError('A feature name must be a non-empty string.');
  }
  validateSeats(config.name, config.seats);
  validateModel(config.name, config.model);
  const idle = config.idleTimeoutMs;
  if (idle !== undefined && !(Number.isSafeInteger(idle) && idle > 0)) {
    throw new InvalidRequestError(
      `Feature '${config.name}': idleTimeoutMs must be a positive integer of milliseconds; got ${String(idle)}.`,
    );
  }
}

export function validateSeats(feature: string, seats: number): void {
  if (!(Number.isSafeInteger(seats) && seats >= 0)) {
    throw new InvalidRequestError(
      `Feature '${feature}': seats must be an integer of at least 0; got ${String(seats)}.`,
    );
  }
}

/**
 * Only the concurrent model works so far. Named and mixed features are refused rather than run as
 * concurrent, because a named seat promises its user a seat nobody else can take (DESIGN §2), and a
 * concurrent pool would silently break that promise.
 */
function validateModel(feature: string, model: FeatureModel): void {
  switch (model) {
    case FeatureModel.Concurrent:
      return;
    case FeatureModel.Named:
    case FeatureModel.Mixed:
      throw new InvalidRequestError(
        `Feature '${feature}' uses model '${model}', which is not supported yet; only 'concurrent' is.`,
      );
    default:
      throw new InvalidRequestError(
        `Feature '${feature}': model must be 'concurrent', 'named' or 'mixed'; got ${String(model satisfies never)}.`,
      );
  }
}
