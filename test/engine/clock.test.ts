import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';

describe('ManualClock', () => {
  it('starts where told and moves only when told', () => {
    const clock = new ManualClock(500);
    expect(clock.now()).toBe(500);
    expect(clock.advance(250)).toBe(750);
    clock.set(1_000);
    expect(clock.now()).toBe(1_000);
    expect(new ManualClock().now()).toBe(0);
  });

  it('never goes back', () => {
    const clock = new ManualClock(100);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.set(99)).toThrow(RangeError);
    expect(() => clock.advance(Number.NaN)).toThrow(RangeError);
    expect(clock.now()).toBe(100);
  });
});
