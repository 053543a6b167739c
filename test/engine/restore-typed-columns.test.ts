/**
 * A restore from a columnar snapshot whose number columns are typed arrays (the store's decode
 * with `typedNumbers`, which the server uses: no copy into plain arrays) restores exactly what a
 * restore from the plain-array state does: the same leases, sessions, claims, keys and fencing.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { type EngineOptions, type EngineState, LeaseEngine } from '../../src/engine/engine.js';
import type { FeatureConfig } from '../../src/engine/types.js';
import { decodeColumnar, encodeColumnar, MIN_COLUMN_LENGTH } from '../../src/store/columns.js';
import { countingRandom, identity, normalised, TTL, thrown } from './fixtures.js';

const FEATURES: FeatureConfig[] = [
  { name: 'cad', seats: 400, model: 'concurrent', dedupe: 'user' },
  { name: 'lab', seats: 300, model: 'mixed', namedUsers: ['alice'] },
  { name: 'sim', seats: 500, model: 'concurrent' },
];

function opts(clock: ManualClock): EngineOptions {
  return { clock, leaseTtlMs: TTL, features: FEATURES, random: countingRandom() };
}

/** Enough leases of every kind that each lease and claim field is a column of its own. */
function filledEngine(): LeaseEngine {
  const clock = new ManualClock(1_000);
  const engine = new LeaseEngine(opts(clock));
  const sessions = ['alice', 'bob', 'carol'].map(
    (user, i) => engine.openSession(identity(user, `ws${i}`)).sessionId,
  );
  for (let i = 0; i < 3 * MIN_COLUMN_LENGTH; i++) {
    const session = sessions[i % sessions.length]!;
    clock.advance(7);
    // Lone claims with and without keys, counts above one, deduped joins and named seats.
    engine.checkout(session, {
      feature: 'sim',
      count: 1 + (i % 3),
      ...(i % 2 === 0 ? { key: `k${i}` } : {}),
    });
    if (i % 5 === 0) engine.checkout(session, { feature: 'cad', count: 1 });
    if (i % 40 === 0) engine.checkout(sessions[0]!, { feature: 'lab', count: 1 });
  }
  // Ended leases leave rows out of the middle.
  for (const lease of engine.listLeases({ feature: 'sim' }).filter((_, i) => i % 7 === 3)) {
    engine.checkin(lease.sessionId, lease.id, lease.fencing);
  }
  return engine;
}

function restoreFrom(state: unknown): LeaseEngine {
  return LeaseEngine.restore(opts(new ManualClock(50_000)), state as EngineState, [], { graceMs: 60_000 });
}

describe('restore from typed number columns', () => {
  it('restores the same engine as the plain arrays do', () => {
    const live = filledEngine();
    const payload = encodeColumnar(live.exportState(), 0);
    const plain = decodeColumnar(payload) as EngineState;
    const typed = decodeColumnar(payload, { typedNumbers: true }) as EngineState;
    // The columns really are typed arrays on one side, plain arrays on the other.
    for (const column of [
      typed.leases.sessions,
      typed.leases.counts,
      typed.leases.fencing,
      typed.claims.types,
    ]) {
      expect(ArrayBuffer.isView(column)).toBe(true);
    }
    expect(Array.isArray(plain.leases.counts)).toBe(true);
    expect(typed.leases.ids).toEqual(plain.leases.ids);
    expect(plain.leases.shared.length).toBeGreaterThan(0);

    const fromPlain = restoreFrom(plain);
    const fromTyped = restoreFrom(typed);
    expect(fromTyped.leaseCount).toBe(live.leaseCount);
    expect(fromTyped.listLeases()).toEqual(fromPlain.listLeases());
    expect(fromTyped.listLeases().filter((lease) => lease.shared).length).toBeGreaterThan(0);
    expect(fromTyped.fencing).toBe(fromPlain.fencing);
    expect(normalised(fromTyped.exportState())).toEqual(normalised(fromPlain.exportState()));
    expect(normalised(fromTyped.exportState())).toEqual(normalised(live.exportState()));
    for (const feature of FEATURES) {
      expect(fromTyped.featureStatus(feature.name)).toEqual(fromPlain.featureStatus(feature.name));
    }
  });

  it('answers a retried request key with the restored lease', () => {
    const live = filledEngine();
    const first = live.listLeases({ feature: 'sim' })[0]!;
    const typed = restoreFrom(decodeColumnar(encodeColumnar(live.exportState(), 0), { typedNumbers: true }));
    const retried = typed.checkout(first.sessionId, { feature: 'sim', count: 1, key: 'k0' });
    expect(retried.id).toBe(first.id);
    expect(retried.fencing).toBe(first.fencing);
    expect(thrown(() => typed.checkout(first.sessionId, { feature: 'sim', count: 2, key: 'k0' })).code).toBe(
      'KEY_CONFLICT',
    );
  });

  it('refuses a lease row naming a claim that does not exist, as with plain arrays', () => {
    const live = filledEngine();
    const typed = decodeColumnar(encodeColumnar(live.exportState(), 0), { typedNumbers: true }) as {
      leases: { claims: Uint32Array | Uint16Array | Uint8Array };
    };
    typed.leases.claims[0] = typed.leases.claims.length > 255 ? 65_535 : 255;
    expect(() => restoreFrom(typed)).toThrow(/claim \d+, which does not exist/);
  });
});
