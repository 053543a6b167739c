#!/usr/bin/env node
// Regenerates the valid-message vectors (client.json, server.json) from the messages listed here,
// using the built encoder (run `npm run build` first). framing.json and invalid.json are written by
// hand and are not touched. After regenerating, read the diff: a changed byte is a wire change and
// PROTOCOL.md must say so.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeMessage } from '../../dist/protocol/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const L1 = '5f0c1e8a9d2b4c6e8f0a1b2c3d4e5f60';
const L2 = '00112233445566778899aabbccddeeff';
const S1 = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const T1 = '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';
const L3 = '9a8b7c6d5e4f30211203f4e5d6c7b8a9';
// Queue tickets (capability "queue").
const Q1 = 'e3b0c44298fc1c149afbf4c8996fb924';
const Q2 = '7d865e959b2466918c9863afca942d0f';
// Capability "admin": a block id and a personal token.
const B1 = '4f5e6d7c8b9a0b1c2d3e4f5a6b7c8d9e';
const TOKEN = 'lh_Q2FkU2VhdHNGb3JFdmVyeW9uZUhlcmVXZUdv';

const client = [
  [
    'hello: a new session',
    {
      type: 'hello',
      id: 1,
      versions: [1],
      client_name: 'cad-app',
      client_version: '2.4.1',
      user: 'alice',
      host: 'ws-17',
    },
  ],
  [
    'hello: with display and auth token',
    {
      type: 'hello',
      id: 1,
      versions: [1, 2],
      client_name: 'leasehold-cli',
      user: 'bob',
      host: 'build-03',
      display: ':0',
      token: 's3cret-token',
    },
  ],
  [
    'hello: resume a session after a reconnect',
    {
      type: 'hello',
      id: 1,
      versions: [1],
      client_name: 'cad-app',
      user: 'alice',
      host: 'ws-17',
      resume: { session: S1, token: T1 },
    },
  ],
  [
    'hello: user and host in UTF-8',
    { type: 'hello', id: 7, versions: [1], client_name: 'éditeur', user: 'zoë', host: 'poste-é' },
  ],
  ['checkout: one seat, no key', { type: 'checkout', id: 2, feature: 'cad' }],
  [
    'checkout: three seats with a request key',
    { type: 'checkout', id: 3, feature: 'analytics.pro', count: 3, key: 'k-7f3a9c' },
  ],
  [
    'checkout: largest request id',
    { type: 'checkout', id: 4294967295, feature: 'cad', count: 1, key: 'retry-1' },
  ],
  ['heartbeat: renew only', { type: 'heartbeat', id: 4 }],
  [
    'heartbeat: with activity for two leases',
    {
      type: 'heartbeat',
      id: 5,
      leases: [
        { lease: L1, fencing: 42, idle_ms: 1200 },
        { lease: L2, fencing: 43 },
      ],
    },
  ],
  [
    'heartbeat: fencing token beyond 32 bits',
    { type: 'heartbeat', id: 6, leases: [{ lease: L1, fencing: 2 ** 40 + 5, idle_ms: 0 }] },
  ],
  ['checkin', { type: 'checkin', id: 8, lease: L1, fencing: 42 }],
  ['status: every feature', { type: 'status', id: 9 }],
  ['status: one feature', { type: 'status', id: 10, feature: 'cad' }],
  [
    'leases: filtered by user and host',
    { type: 'leases', id: 11, feature: 'cad', user: 'alice', host: 'ws-17' },
  ],
  ['bye', { type: 'bye', id: 12 }],
  // Capability "queue".
  [
    'checkout: wait up to 10 minutes in the queue',
    { type: 'checkout', id: 13, feature: 'cad', count: 1, key: 'k-4b1e07', wait_ms: 600000 },
  ],
  ['queue: every feature', { type: 'queue', id: 15 }],
  ['queue: one feature', { type: 'queue', id: 16, feature: 'cad' }],
  ['queue_cancel', { type: 'queue_cancel', id: 17, ticket: Q1 }],
  // Capability "models".
  ['leases: named seats only', { type: 'leases', id: 14, seat_type: 'named' }],
  ['admin_reload (role admin)', { type: 'admin_reload', id: 30 }],
  ['admin_shutdown (role admin)', { type: 'admin_shutdown', id: 31 }],
  // Capability "admin".
  ['admin_free: two leases by id', { type: 'admin_free', id: 40, leases: [L1, L2] }],
  [
    'admin_free: a user on one host, blocked from the feature for 10 minutes',
    { type: 'admin_free', id: 41, user: 'bob', host: 'ws-1', feature: 'cad', block_ms: 600000 },
  ],
  ['admin_blocks', { type: 'admin_blocks', id: 42 }],
  ['admin_unblock', { type: 'admin_unblock', id: 43, block: B1 }],
  ['admin_users: every user', { type: 'admin_users', id: 44 }],
  [
    'admin_users: named users of a feature',
    { type: 'admin_users', id: 45, feature: 'cad', seat_type: 'named' },
  ],
  [
    'admin_user_add: with a personal token',
    {
      type: 'admin_user_add',
      id: 46,
      user: 'eve',
      display_name: 'Eve Example',
      email: 'eve@example.com',
      groups: ['design'],
      issue_token: true,
    },
  ],
  ['admin_user_set: disable', { type: 'admin_user_set', id: 47, user: 'eve', enabled: false }],
  [
    'admin_user_remove: and free their leases',
    { type: 'admin_user_remove', id: 48, user: 'eve', free: true },
  ],
  ['admin_user_assign', { type: 'admin_user_assign', id: 49, user: 'carol', feature: 'cad' }],
  ['admin_user_unassign', { type: 'admin_user_unassign', id: 50, user: 'carol', feature: 'cad' }],
  ['admin_user_join', { type: 'admin_user_join', id: 51, user: 'dave', group: 'design' }],
  ['admin_user_leave', { type: 'admin_user_leave', id: 52, user: 'dave', group: 'design' }],
];

const info = {
  lease: L1,
  feature: 'cad',
  user: 'alice',
  host: 'ws-17',
  display: ':0',
  client_name: 'cad-app',
  peer: '127.0.0.1:50312',
  count: 1,
  type: 'concurrent',
  age_ms: 61000,
  idle_ms: 1200,
  heartbeat_age_ms: 800,
};
const server = [
  [
    'hello_ok: new session',
    {
      type: 'hello_ok',
      id: 1,
      version: 1,
      server_name: 'leasehold',
      server_version: '0.1.0',
      session: S1,
      resume_token: T1,
      resumed: false,
      heartbeat_interval_ms: 5000,
      lease_ttl_ms: 15000,
      max_frame_bytes: 65536,
      capabilities: [],
      leases: [],
    },
  ],
  [
    'hello_ok: an admin token (capability "admin": user and role)',
    {
      type: 'hello_ok',
      id: 1,
      version: 1,
      server_name: 'leasehold',
      server_version: '0.1.0',
      session: S1,
      resume_token: T1,
      resumed: false,
      heartbeat_interval_ms: 5000,
      lease_ttl_ms: 15000,
      max_frame_bytes: 65536,
      capabilities: ['queue', 'models', 'admin'],
      leases: [],
      user: 'alice',
      role: 'manager',
    },
  ],
  [
    'hello_ok: resumed session with its lease',
    {
      type: 'hello_ok',
      id: 1,
      version: 1,
      server_name: 'leasehold',
      server_version: '0.1.0',
      session: S1,
      resume_token: T1,
      resumed: true,
      heartbeat_interval_ms: 5000,
      lease_ttl_ms: 15000,
      max_frame_bytes: 65536,
      capabilities: [],
      leases: [{ lease: L1, feature: 'cad', count: 1, fencing: 42 }],
    },
  ],
  [
    'checkout_ok',
    { type: 'checkout_ok', id: 3, lease: L1, feature: 'cad', count: 1, fencing: 42, ttl_ms: 15000 },
  ],
  [
    'checkout_ok: feature with an idle timeout',
    {
      type: 'checkout_ok',
      id: 3,
      lease: L2,
      feature: 'analytics',
      count: 2,
      fencing: 43,
      ttl_ms: 15000,
      idle_timeout_ms: 1800000,
    },
  ],
  ['heartbeat_ok: nothing lost', { type: 'heartbeat_ok', id: 5, ttl_ms: 15000, lost: [] }],
  [
    'heartbeat_ok: one lease lost',
    { type: 'heartbeat_ok', id: 5, ttl_ms: 15000, lost: [{ lease: L2, code: 'LEASE_REVOKED' }] },
  ],
  ['checkin_ok', { type: 'checkin_ok', id: 8, released: true }],
  ['checkin_ok: already checked in', { type: 'checkin_ok', id: 8, released: false }],
  [
    'status_ok',
    {
      type: 'status_ok',
      id: 9,
      server: { name: 'leasehold', version: '0.1.0', uptime_ms: 3600000 },
      features: [
        {
          name: 'cad',
          model: 'concurrent',
          seats: 10,
          in_use: 1,
          free: 9,
          queued: 0,
          overdraft: 0,
          idle_timeout_ms: 1800000,
          leases: [info],
        },
      ],
    },
  ],
  ['leases_ok', { type: 'leases_ok', id: 11, leases: [info] }],
  ['bye_ok', { type: 'bye_ok', id: 12, released: 2 }],
  [
    'error: a denial',
    {
      type: 'error',
      id: 3,
      code: 'NO_SEATS',
      message: "All 10 seats of feature 'cad' are in use. Wait for a free seat or ask an admin to free one.",
      details: { feature: 'cad', seats: 10, in_use: 10, requested: 1 },
    },
  ],
  [
    'error: connection-level, no id',
    { type: 'error', code: 'HANDSHAKE_TIMEOUT', message: 'No handshake within 5000 ms.' },
  ],
  [
    'revoked: missed heartbeats',
    {
      type: 'revoked',
      lease: L1,
      feature: 'cad',
      code: 'LEASE_EXPIRED',
      reason: 'expired',
      message: 'No heartbeat for 15000 ms.',
    },
  ],
  [
    'revoked: idle',
    {
      type: 'revoked',
      lease: L1,
      feature: 'cad',
      code: 'LEASE_REVOKED',
      reason: 'idle',
      message: 'No user activity for 30m.',
    },
  ],
  ['draining', { type: 'draining', message: 'The server is shutting down.', grace_ms: 10000 }],
  // Capabilities "queue" and "models".
  [
    'hello_ok: a server with the queue and models capabilities',
    {
      type: 'hello_ok',
      id: 1,
      version: 1,
      server_name: 'leasehold',
      server_version: '0.2.0',
      session: S1,
      resume_token: T1,
      resumed: false,
      heartbeat_interval_ms: 5000,
      lease_ttl_ms: 15000,
      max_frame_bytes: 65536,
      capabilities: ['queue', 'models'],
      leases: [],
    },
  ],
  [
    'checkout_queued',
    {
      type: 'checkout_queued',
      id: 13,
      ticket: Q1,
      feature: 'cad',
      count: 1,
      position: 3,
      wait_ms: 600000,
      message:
        "No seat of feature 'cad' is free for you now: you are number 3 in its queue and get the seat the " +
        'moment one frees (waiting up to 600000 ms).',
    },
  ],
  ['queue_position', { type: 'queue_position', ticket: Q1, feature: 'cad', position: 1 }],
  [
    'queue_granted',
    {
      type: 'queue_granted',
      ticket: Q1,
      lease: L2,
      feature: 'cad',
      count: 1,
      fencing: 44,
      ttl_ms: 15000,
      idle_timeout_ms: 1800000,
    },
  ],
  [
    'queue_ended: the wait timed out',
    {
      type: 'queue_ended',
      ticket: Q1,
      feature: 'cad',
      reason: 'timeout',
      code: 'NO_SEATS',
      message: "No seat of 'cad' freed within 600000 ms (position 1 of 2).",
    },
  ],
  [
    'queue_ok: two waiters, one of a group with priority',
    {
      type: 'queue_ok',
      id: 15,
      waiters: [
        {
          ticket: Q2,
          feature: 'cad',
          user: 'bob',
          host: 'ws-21',
          count: 1,
          position: 1,
          priority: 10,
          group: 'design',
          waited_ms: 12000,
          wait_left_ms: 288000,
        },
        {
          ticket: Q1,
          feature: 'cad',
          user: 'alice',
          host: 'ws-17',
          count: 1,
          position: 2,
          priority: 0,
          waited_ms: 95000,
          wait_left_ms: 505000,
        },
      ],
    },
  ],
  ['queue_cancel_ok', { type: 'queue_cancel_ok', id: 17, cancelled: true }],
  ['queue_cancel_ok: no longer waiting', { type: 'queue_cancel_ok', id: 17, cancelled: false }],
  [
    'revoked: idle-preempted',
    {
      type: 'revoked',
      lease: L1,
      feature: 'cad',
      code: 'LEASE_REVOKED',
      reason: 'idle-preempted',
      message:
        "Someone is waiting for 'cad' and this lease was the one idle longest: it was reclaimed for them.",
    },
  ],
  [
    'status_ok: named and concurrent seats, groups, a shared seat',
    {
      type: 'status_ok',
      id: 9,
      server: { name: 'leasehold', version: '0.2.0', uptime_ms: 3600000 },
      features: [
        {
          name: 'cad',
          model: 'mixed',
          seats: 10,
          in_use: 2,
          free: 8,
          queued: 0,
          overdraft: 0,
          named_seats: 2,
          named_in_use: 1,
          concurrent_seats: 8,
          concurrent_in_use: 1,
          groups: [
            { name: 'design', in_use: 1, reserve: 2, max: 6 },
            { name: 'ops', in_use: 0, reserve: 1 },
          ],
          leases: [
            {
              lease: L3,
              feature: 'cad',
              user: 'carol',
              host: 'ws-30',
              client_name: 'cad-app',
              count: 1,
              type: 'named',
              age_ms: 7200000,
              idle_ms: 30000,
              heartbeat_age_ms: 2100,
            },
            {
              lease: L1,
              feature: 'cad',
              user: 'alice',
              host: 'ws-17',
              display: ':0',
              client_name: 'cad-app',
              peer: '127.0.0.1:50312',
              count: 1,
              type: 'concurrent',
              group: 'design',
              age_ms: 61000,
              idle_ms: 1200,
              heartbeat_age_ms: 800,
            },
            {
              lease: L2,
              feature: 'cad',
              user: 'alice',
              host: 'ws-17',
              display: ':1',
              client_name: 'cad-app',
              peer: '127.0.0.1:50377',
              count: 1,
              type: 'concurrent',
              group: 'design',
              shared: true,
              age_ms: 4000,
              idle_ms: 4000,
              heartbeat_age_ms: 1500,
            },
          ],
        },
      ],
    },
  ],
  [
    'error: a group at its max',
    {
      type: 'error',
      id: 13,
      code: 'GROUP_MAX',
      message: "Group 'design' may use at most 6 seats of 'cad' and uses 6. Wait, or ask an admin.",
      details: {
        feature: 'cad',
        seats: 10,
        in_use: 8,
        requested: 1,
        group: 'design',
        max: 6,
        group_in_use: 6,
      },
    },
  ],
  ['admin_reload_ok', { type: 'admin_reload_ok', id: 30, added: ['cam'], removed: [], changed: ['cad'] }],
  ['admin_shutdown_ok', { type: 'admin_shutdown_ok', id: 31 }],
  // Capability "admin".
  [
    'admin_free_ok: one lease freed, one block placed',
    {
      type: 'admin_free_ok',
      id: 41,
      freed: [{ lease: L1, feature: 'cad', user: 'bob', host: 'ws-1', count: 1 }],
      blocks: [
        {
          block: B1,
          user: 'bob',
          host: 'ws-1',
          feature: 'cad',
          by: 'alice',
          until: '2026-11-24T18:40:00.000Z',
          remaining_ms: 600000,
        },
      ],
    },
  ],
  ['admin_blocks_ok: none', { type: 'admin_blocks_ok', id: 42, blocks: [] }],
  ['admin_unblock_ok', { type: 'admin_unblock_ok', id: 43, removed: true }],
  [
    'admin_users_ok: seat types on a feature',
    {
      type: 'admin_users_ok',
      id: 45,
      users: [
        {
          name: 'carol',
          display_name: 'Carol',
          email: 'carol@example.com',
          enabled: true,
          groups: [],
          named: ['cad'],
          token: false,
          seat: 'named',
        },
      ],
    },
  ],
  ['admin_user_add_ok: with the token, shown once', { type: 'admin_user_add_ok', id: 46, token: TOKEN }],
  ['admin_user_set_ok', { type: 'admin_user_set_ok', id: 47 }],
  ['admin_user_remove_ok', { type: 'admin_user_remove_ok', id: 48, freed: 1 }],
  ['admin_ok', { type: 'admin_ok', id: 49 }],
  [
    'error: a role that does not allow the request (FORBIDDEN)',
    {
      type: 'error',
      id: 40,
      code: 'FORBIDDEN',
      message: "'admin_free' needs role manager or admin; this connection has role viewer (ops).",
      details: { needs: 'manager', role: 'viewer' },
    },
  ],
  [
    'error: a checkout refused by a block (BLOCKED)',
    {
      type: 'error',
      id: 3,
      code: 'BLOCKED',
      message:
        "User 'bob' on host 'ws-1' is blocked from feature 'cad' by an administrator (alice) until 2026-11-24T18:40:00.000Z (9m 58s from now).",
      details: { block: B1, until: '2026-11-24T18:40:00.000Z', remaining_ms: 598000 },
    },
  ],
  [
    'error: authentication failed (closes)',
    { type: 'error', id: 1, code: 'AUTH_FAILED', message: 'Authentication failed.' },
  ],
  [
    'error: a reload refused (CONFIG_INVALID)',
    {
      type: 'error',
      id: 30,
      code: 'CONFIG_INVALID',
      message: 'The config is invalid; the old one stays in force.',
      details: {
        problems: ['/etc/leasehold/leasehold.toml: features.cad.seats: must be a whole number ≥ 1, got -1'],
      },
    },
  ],
];

function write(file, description, list) {
  const vectors = list.map(([name, message]) => ({
    name,
    hex: encodeMessage(message).toString('hex'),
    message,
  }));
  writeFileSync(
    join(here, file),
    `${JSON.stringify({ description, direction: file.replace('.json', ''), vectors }, null, 2)}\n`,
  );
}

write(
  'client.json',
  'Valid requests, client to server. hex is the whole frame (length prefix + MessagePack map); message is its meaning.',
  client,
);
write(
  'server.json',
  'Valid replies and pushes, server to client. hex is the whole frame; message is its meaning.',
  server,
);
