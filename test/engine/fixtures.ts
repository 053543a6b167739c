/** Shared set-up for the engine tests: a manual clock, deterministic ids and an event recorder. */
import { ManualClock } from '../../src/engine/clock.js';
import { type EngineOptions, type EngineState, LeaseEngine } from '../../src/engine/engine.js';
import type { EngineEventName, EngineEvents, FeatureConfig, HolderIdentity } from '../../src/engine/types.js';

export const TTL = 15_000;

/** Random bytes that are a counter: ids are unique, readable and the same on every run. */
export function countingRandom(): (bytes: number) => Buffer {
  let counter = 0;
  return (bytes) => {
    const buffer = Buffer.alloc(bytes, 0xa5);
    buffer.writeUInt32BE(++counter, bytes - 4);
    return buffer;
  };
}

export function identity(user = 'alice', host = 'ws1'): HolderIdentity {
  return { user, host, clientName: 'cad-app/1.0' };
}

export const ALL_EVENTS: readonly EngineEventName[] = [
  'granted',
  'released',
  'reclaimed',
  'denied',
  'sessionOpened',
  'sessionEnded',
  'seatsChanged',
  'queued',
  'queuePosition',
  'queueGranted',
  'queueLeft',
  'directoryChanged',
  'blocked',
  'unblocked',
  'configBaseline',
];

export type RecordedEvent = {
  [E in EngineEventName]: { name: E; payload: EngineEvents[E] };
}[EngineEventName];

export interface Harness {
  clock: ManualClock;
  engine: LeaseEngine;
  events: RecordedEvent[];
  /** The recorded events of one kind, payloads only. */
  eventsOf<E extends EngineEventName>(name: E): EngineEvents[E][];
  /** Opens a session and returns its id. */
  open(user?: string, host?: string): string;
}

export function recordEvents(engine: LeaseEngine): RecordedEvent[] {
  const events: RecordedEvent[] = [];
  for (const name of ALL_EVENTS) {
    engine.on(name, (payload) => events.push({ name, payload } as RecordedEvent));
  }
  return events;
}

export function harness(
  features: readonly FeatureConfig[] = [{ name: 'cad', seats: 3, model: 'concurrent' }],
  options: Partial<EngineOptions> = {},
): Harness {
  const clock = new ManualClock(1_000);
  const engine = new LeaseEngine({ clock, leaseTtlMs: TTL, features, random: countingRandom(), ...options });
  const events = recordEvents(engine);
  return {
    clock,
    engine,
    events,
    eventsOf: <E extends EngineEventName>(name: E) =>
      events.filter((event) => event.name === name).map((event) => event.payload as EngineEvents[E]),
    open: (user, host) => engine.openSession(identity(user, host)).sessionId,
  };
}

/** Runs `fn` and returns what it threw (failing the test if it did not throw). */
export function thrown(fn: () => unknown): Error & { code?: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string; details?: Record<string, unknown> };
  }
  throw new Error('expected the call to throw');
}

/** Engine state with the ages left out: a restore counts them from the restore (engine-state.ts). */
export function normalised(state: EngineState): unknown {
  return {
    ...state,
    sessions: { ...state.sessions, openedAgeMs: [] },
    leases: { ...state.leases, ageMs: [] },
  };
}
