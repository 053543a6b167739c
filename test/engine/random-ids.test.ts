import { describe, expect, it } from 'vitest';
import { createPooledRandom, hexSecretMatches, uniqueHexId } from '../../src/engine/random-ids.js';

describe('random ids', () => {
  it('the pooled source hands out fresh bytes of the asked length, never the same slice twice', () => {
    const random = createPooledRandom();
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const bytes = random(i % 2 === 0 ? 16 : 32);
      expect(bytes.length).toBe(i % 2 === 0 ? 16 : 32);
      const hex = bytes.toString('hex');
      expect(seen.has(hex)).toBe(false);
      seen.add(hex);
    }
    expect(random(10_000).length).toBe(10_000);
  });

  it('hands out copies: changing one does not change the next', () => {
    const random = createPooledRandom();
    const a = random(16);
    a.fill(0);
    expect(random(16).equals(Buffer.alloc(16))).toBe(false);
  });

  it('retries an id that is taken, and gives up on a source that repeats itself', () => {
    let n = 0;
    const counting = (bytes: number) => {
      const buffer = Buffer.alloc(bytes);
      buffer.writeUInt32BE(n++ < 3 ? 0 : n, bytes - 4);
      return buffer;
    };
    const taken = new Set(['0'.repeat(32)]);
    expect(uniqueHexId(counting, (id) => taken.has(id))).toBe(`${'0'.repeat(24)}00000004`);
    expect(() =>
      uniqueHexId(
        () => Buffer.alloc(16),
        () => true,
      ),
    ).toThrow(/repeating/);
  });

  it('matches a secret only in its exact lowercase hex form', () => {
    const secret = Buffer.from('00ff10ab', 'hex');
    expect(hexSecretMatches('00ff10ab', secret)).toBe(true);
    expect(hexSecretMatches('00FF10AB', secret)).toBe(false);
    expect(hexSecretMatches('00ff10ac', secret)).toBe(false);
    expect(hexSecretMatches('00ff10', secret)).toBe(false);
    expect(hexSecretMatches('00ff10abzz', secret)).toBe(false);
  });
});
