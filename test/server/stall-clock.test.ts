/** The stall-compensated clock (issue 9): time the daemon could not run does not count. */
import { describe, expect, it } from 'vitest';
import { StallCompensatedClock } from '../../src/server/clock.js';

function setup() {
  let raw = 1000;
  const stalls: number[] = [];
  const clock = new StallCompensatedClock(() => raw, {
    tickMs: 100,
    thresholdMs: 500,
    onStall: (ms) => stalls.push(ms),
  });
  return { clock, stalls, advance: (ms: number) => (raw += ms) };
}

describe('StallCompensatedClock', () => {
  it('runs like the raw clock while the watchdog keeps ticking', () => {
    const { clock, advance, stalls } = setup();
    for (let i = 0; i < 50; i++) {
      advance(100);
      clock.tick();
    }
    expect(clock.now()).toBe(1000 + 5000);
    expect(stalls).toEqual([]);
  });

  it('does not count a stall beyond the tick interval, from the first read after it', () => {
    const { clock, advance, stalls } = setup();
    advance(100);
    clock.tick();
    advance(10_000); // SIGSTOP for 10 s
    // The first callback to run (say, the sweep timer) already sees the compensated time.
    expect(clock.now()).toBe(1100 + 100);
    clock.tick();
    expect(stalls).toEqual([9900]);
    advance(100);
    clock.tick();
    expect(clock.now()).toBe(1100 + 200);
  });

  it('counts a long task that reads the clock while it blocks the loop once, not twice', () => {
    const { clock, advance, stalls } = setup();
    advance(1000); // blocked for a second
    const a = clock.now();
    advance(1000); // still blocked
    const b = clock.now();
    expect(b - a).toBe(0);
    clock.tick();
    expect(clock.stalledMs).toBe(1900);
    expect(stalls).toEqual([1900]);
  });

  it('ignores gaps up to the threshold (ordinary timer lateness)', () => {
    const { clock, advance } = setup();
    advance(450);
    clock.tick();
    expect(clock.now()).toBe(1450);
    expect(clock.stalledMs).toBe(0);
  });
});
