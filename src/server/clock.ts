import { performance } from 'node:perf_hooks';
import type { Clock } from '../engine/clock.js';

/**
 * The daemon's clock: monotonic milliseconds since the process started (DESIGN §3.2: deadlines
 * never come from wall time, so a wall-clock step cannot expire a lease).
 */
export const monotonicClock: Clock = {
  now: () => performance.now(),
};
