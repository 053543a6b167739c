/** Builders shared by the usage-rollup tests. */
import type { AuditLease } from '../../src/reports/audit-events.js';

/** A lease of feature `cad` on host `ws`: one seat, concurrent, in `group` if given. */
export function auditLease(
  id: string,
  user: string,
  group?: string,
  extra: Partial<AuditLease> = {},
): AuditLease {
  return {
    lease: id,
    feature: 'cad',
    user,
    host: 'ws',
    count: 1,
    type: 'concurrent',
    ...(group === undefined ? {} : { group }),
    ...extra,
  };
}
