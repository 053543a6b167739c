/**
 * A denied admission builds its error only when read (issue 8: a queue scan decides every waiter
 * it passes, and building each one's error was most of a contended feature's CPU).
 */
import { describe, expect, it } from 'vitest';
import { Denial } from '../../src/engine/admission.js';
import { ErrorCode } from '../../src/protocol/codes.js';
import { LeaseholdError } from '../../src/protocol/errors.js';

describe('Denial', () => {
  it('builds its error on the first read only, once, and without a stack trace', () => {
    let built = 0;
    const denial = new Denial(
      () => {
        built++;
        return new LeaseholdError(ErrorCode.NoSeats, 'All 2 seats are in use.');
      },
      'seats',
      'eng',
    );
    expect(denial.granted).toBe(false);
    expect(denial.wait).toBe('seats');
    expect(denial.group).toBe('eng');
    expect(built).toBe(0);
    const error = denial.error;
    expect(denial.error).toBe(error);
    expect(built).toBe(1);
    expect(error.code).toBe(ErrorCode.NoSeats);
    expect(error.stack).not.toMatch(/\n\s+at /);
  });

  it('leaves the stack trace limit as it was, even when building throws', () => {
    const limit = Error.stackTraceLimit;
    const denial = new Denial(
      () => {
        throw new TypeError('broken');
      },
      'none',
      undefined,
    );
    expect(() => denial.error).toThrow('broken');
    expect(Error.stackTraceLimit).toBe(limit);
  });
});
