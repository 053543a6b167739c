import { describe, expect, it } from 'vitest';
import { EventListenerError } from '../../src/engine/event-queue.js';
import { harness, TTL, thrown } from './fixtures.js';

describe('events', () => {
  it('announces every state change exactly once, in order', () => {
    const h = harness([{ name: 'cad', seats: 2, model: 'concurrent' }]);
    const a = h.open('a');
    const b = h.open('b');
    const l1 = h.engine.checkout(a, { feature: 'cad', count: 1, key: 'k' });
    h.engine.checkout(a, { feature: 'cad', count: 1, key: 'k' }); // retry: no event
    const l2 = h.engine.checkout(b, { feature: 'cad', count: 1 });
    thrown(() => h.engine.checkout(b, { feature: 'cad', count: 1 }));
    h.engine.checkin(a, l1.id, l1.fencing);
    h.engine.checkin(a, l1.id, l1.fencing); // double: no event
    h.engine.heartbeat(a); // heartbeats change no seats: no event
    h.engine.setSeats('cad', 1);
    h.clock.advance(TTL);
    h.engine.sweep();
    h.engine.sweep();
    expect(h.events.map((e) => e.name)).toEqual([
      'sessionOpened',
      'sessionOpened',
      'granted',
      'granted',
      'denied',
      'released',
      'seatsChanged',
      'sessionEnded', // a: no leases left
      'reclaimed', // b's lease
      'sessionEnded',
    ]);
    expect(h.eventsOf('granted').map((e) => e.lease.id)).toEqual([l1.id, l2.id]);
    expect(h.eventsOf('sessionEnded').map((e) => e.sessionId)).toEqual([a, b]);
  });

  it('delivers after the whole change: a listener sees the finished state', () => {
    const h = harness();
    const id = h.open();
    for (let i = 0; i < 3; i++) h.engine.checkout(id, { feature: 'cad', count: 1 });
    const seen: number[] = [];
    h.engine.on('released', () => seen.push(h.engine.featureStatus('cad')[0]!.inUse));
    h.engine.endSession(id);
    expect(seen).toEqual([0, 0, 0]);
  });

  it('a throwing listener neither stops the change nor other deliveries; the failure is reported', () => {
    const h = harness();
    const id = h.open();
    for (let i = 0; i < 3; i++) h.engine.checkout(id, { feature: 'cad', count: 1 });
    const boom = new Error('listener bug');
    h.engine.on('released', () => {
      throw boom;
    });
    const error = thrown(() => h.engine.endSession(id));
    expect(error).toBeInstanceOf(EventListenerError);
    expect(error.cause).toBe(boom);
    expect((error as EventListenerError).failures).toHaveLength(3);
    expect(h.eventsOf('released')).toHaveLength(3);
    expect(h.eventsOf('sessionEnded')).toHaveLength(1);
    expect(h.engine.session(id)).toBeUndefined();
    expect(h.engine.featureStatus('cad')[0]?.inUse).toBe(0);
  });

  it('keeps the operation error when a listener of its events throws too', () => {
    const h = harness([{ name: 'cad', seats: 1, model: 'concurrent' }]);
    const id = h.open();
    h.engine.checkout(id, { feature: 'cad', count: 1 });
    h.engine.on('denied', () => {
      throw new Error('bug');
    });
    const error = thrown(() => h.engine.checkout(id, { feature: 'cad', count: 1 })) as EventListenerError;
    expect(error).toBeInstanceOf(EventListenerError);
    expect((error.operationError as { code: string }).code).toBe('NO_SEATS');
  });

  it('lets a listener call the engine; the nested events follow, in order', () => {
    const h = harness([{ name: 'cad', seats: 1, model: 'concurrent' }]);
    const a = h.open('a');
    const b = h.open('b');
    const held = h.engine.checkout(a, { feature: 'cad', count: 1 });
    // A poor man's queue: grab the seat for b the moment a's seat frees.
    h.engine.on('released', () => {
      h.engine.checkout(b, { feature: 'cad', count: 1 });
    });
    h.engine.checkin(a, held.id, held.fencing);
    expect(h.events.slice(-2).map((e) => e.name)).toEqual(['released', 'granted']);
    expect(h.engine.listLeases().map((l) => l.sessionId)).toEqual([b]);
  });

  it('stops delivering to a listener after off()', () => {
    const h = harness();
    const seen: string[] = [];
    const listener = ({ session }: { session: { id: string } }) => seen.push(session.id);
    h.engine.on('sessionOpened', listener);
    const first = h.open();
    h.engine.off('sessionOpened', listener);
    h.open();
    expect(seen).toEqual([first]);
  });
});
