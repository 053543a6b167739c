/** A daemon with a user directory and a viewer admin token, for the admin command tests. */
import { LeaseholdClient } from '../../src/client/client.js';
import type { Lease } from '../../src/client/lease.js';
import { onCleanup } from '../helpers/cleanup.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

export const VIEWER_TOKEN = 'viewer-token-0123456789abcdef';

export const DIRECTORY = `
[features.cad]
seats = 4
model = "mixed"
named_users = ["alice"]

[groups.eng]
users = []

[users.alice]
display_name = "Alice Liddell"
email = "alice@example.com"
groups = ["eng"]

[users.bob]

[admins.ops]
token = "${VIEWER_TOKEN}"
role = "viewer"
`;

export interface AdminFixture extends TestDaemon {
  /** The daemon's local admin socket. */
  socket: string;
}

export async function startAdminDaemon(features = DIRECTORY): Promise<AdminFixture> {
  const t = await startTestDaemon({ features, leaseTtl: '2s', heartbeatInterval: '200ms' });
  return { ...t, socket: t.daemon.config.server.adminSocket };
}

export async function connectAs(address: string, user: string, host = 'ws-1'): Promise<LeaseholdClient> {
  const c = await LeaseholdClient.connect({ servers: [address], user, host, clientName: 'cad-app' });
  onCleanup(() => c.close());
  return c;
}

export async function hold(address: string, user: string, host = 'ws-1'): Promise<Lease> {
  return (await connectAs(address, user, host)).checkout('cad');
}

export function json<T = Record<string, unknown>>(stdout: string): T {
  return JSON.parse(stdout) as T;
}
