import { afterEach } from 'vitest';

type Cleanup = () => unknown;
const pending: Cleanup[] = [];

/** Registers teardown work that runs after the current test, last registered first. */
export function onCleanup(fn: Cleanup): void {
  pending.push(fn);
}

afterEach(async () => {
  while (pending.length > 0) {
    const fn = pending.pop()!;
    await fn();
  }
});
