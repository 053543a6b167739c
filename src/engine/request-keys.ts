/**
 * What a request key got (DESIGN §3.5: a retried checkout returns the same lease, never a second
 * seat): the lease and what was asked for, so a retry that asks for something else is told so
 * (KEY_CONFLICT). Held leases are found by key among their session's leases (session-record.ts);
 * the keys of ended leases are remembered with their tombstones (lease-tombstones.ts EndedLeases).
 */
export interface KeyedGrant {
  readonly leaseId: string;
  readonly feature: string;
  readonly count: number;
}
