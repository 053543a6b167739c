/**
 * Reconnect delays: exponential from `initialMs` up to `maxMs`, with "equal jitter" (half fixed,
 * half random) so that many clients cut off together do not come back together.
 */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly random?: () => number;
}

export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const base = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  const random = options.random ?? Math.random;
  return Math.round(base / 2 + (random() * base) / 2);
}
