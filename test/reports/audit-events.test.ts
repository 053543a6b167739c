/**
 * The lease events the daemon audits (audit-events.ts) are built as single objects with `group`
 * and `shared` always present (undefined when the lease has none): their JSON, the audit line,
 * must be what the earlier `{ t, ...auditLease(lease), … }` gave, member for member.
 */
import { describe, expect, it } from 'vitest';
import type { LeaseEngine } from '../../src/engine/engine.js';
import type { LeaseView } from '../../src/engine/types.js';
import { type AuditEvent, auditEngineEvents, auditLease } from '../../src/reports/audit-events.js';

/** What auditEngineEvents uses of an engine: listeners by event name. */
function stubEngine() {
  const listeners = new Map<string, (payload: unknown) => void>();
  const engine = {
    on: (name: string, listener: (payload: unknown) => void) => listeners.set(name, listener),
    off: (name: string) => listeners.delete(name),
  } as unknown as LeaseEngine;
  const fire = (name: string, payload: unknown) => listeners.get(name)?.(payload);
  return { engine, fire, listeners };
}

function view(extra: Partial<LeaseView> = {}): LeaseView {
  return {
    id: 'L1',
    feature: 'cad',
    count: 2,
    fencing: 42,
    sessionId: 'S1',
    user: 'zoë "z"',
    host: 'ws\n1',
    clientName: 'app',
    peer: '10.0.0.1:5000',
    type: 'concurrent',
    shared: false,
    grantedAt: 1,
    lastHeartbeatAt: 2,
    lastActivityAt: 3,
    ...extra,
  };
}

describe('auditEngineEvents: lease events', () => {
  const leases: [string, LeaseView][] = [
    ['no group', view()],
    ['a group', view({ group: 'eng' })],
    ['a shared named seat', view({ group: 'eng', shared: true, type: 'named' })],
    ['shared, no group', view({ shared: true })],
  ];

  it.each(leases)(
    'grant, release and reclaim of a lease with %s: the JSON of the spread form',
    (_, lease) => {
      const { engine, fire, listeners } = stubEngine();
      const events: AuditEvent[] = [];
      const off = auditEngineEvents(
        engine,
        () => 0,
        (e) => events.push(e),
      );
      fire('granted', { lease });
      fire('released', { lease });
      fire('reclaimed', { lease, reason: 'expired' });
      const spread = [
        { t: 'grant', ...auditLease(lease), session: lease.sessionId, fencing: lease.fencing },
        { t: 'release', ...auditLease(lease) },
        { t: 'reclaim', ...auditLease(lease), reason: 'expired' },
      ];
      expect(events.map((e) => JSON.stringify(e))).toEqual(spread.map((e) => JSON.stringify(e)));
      // The same members with values (toEqual ignores the undefined ones).
      expect(events).toEqual(spread);
      off();
      expect(listeners.size).toBe(0);
    },
  );
});
