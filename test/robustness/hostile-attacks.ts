/**
 * The attacks of the hostile-client test (issue 9 §3), each bounded by count and time and each
 * returning what the attackers saw, for the test to assert on and report. Every peer opened here
 * is closed by the daemon or destroyed by the attack before it returns.
 */
import { randomInt } from 'node:crypto';
import { encodeMessage } from '../../src/protocol/codec.js';
import { ErrorCode } from '../../src/protocol/codes.js';
import type { ClientMessage } from '../../src/protocol/messages.js';
import type { HostileDaemon } from './hostile-daemon.js';
import { allClosed, countOf, type HostilePeer, helloMessage, openPeers } from './hostile-peers.js';
import { percentile } from './hostile-workload.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const header = (length: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(length >>> 0, 0);
  return b;
};

export interface ClosedBy {
  opened: number;
  connectFailed: number;
  /** Closed by the daemon (not by us), each with the expected error frame first. */
  closedWithCode: number;
  stillOpen: number;
  /** Frames the SDK's checks refuse. */
  invalid: number;
  /** How they ended: `first message, who closed` → count (for failure messages). */
  outcomes: Record<string, number>;
}

function outcomes(peers: readonly HostilePeer[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of peers) {
    const by = p.closed ? (p.closedByUs ? 'closed by us' : 'closed by the daemon') : 'open';
    const key = `${p.firstError ?? p.messages[0]?.type ?? 'nothing'} ${by}${p.error ? ` (${p.error})` : ''}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

function closedBy(peers: readonly HostilePeer[], failed: number, code: (p: HostilePeer) => string): ClosedBy {
  return {
    opened: peers.length,
    connectFailed: failed,
    closedWithCode: countOf(peers, (p) => p.closed && !p.closedByUs && p.firstError === code(p)),
    stillOpen: countOf(peers, (p) => !p.closed),
    invalid: peers.reduce((n, p) => n + p.invalid, 0),
    outcomes: outcomes(peers),
  };
}

/**
 * Slowloris: connections that never complete a handshake. `silent` send nothing; `drip` send a
 * hello one byte every 250 ms; `body` send a frame of max_frame_bytes minus its last byte (the
 * most a peer can make the daemon hold before the handshake). All must be closed with
 * HANDSHAKE_TIMEOUT at the deadline.
 */
export async function slowloris(
  d: HostileDaemon,
  n: { silent: number; drip: number; body: number },
  handshakeMs: number,
): Promise<ClosedBy & { lifetimeP50: number; lifetimeMax: number; earliest: number }> {
  const hello = encodeMessage(helloMessage());
  const body = Buffer.concat([header(65_536), Buffer.alloc(65_535, 0x61)]);
  const opened = await Promise.all([
    openPeers(d.address, n.silent, () => {}, 100),
    openPeers(d.address, n.drip, () => {}, 50),
    openPeers(d.address, n.body, (p) => p.write(body), 50),
  ]);
  const drip = opened[1];
  let sent = 0;
  const dripTimer = setInterval(() => {
    const byte = hello.subarray(sent % hello.length, (sent % hello.length) + 1);
    sent++;
    for (const p of drip.peers) if (!p.closed && p.socket.writable) p.write(byte);
  }, 250);
  const peers = opened.flatMap((o) => o.peers);
  try {
    await allClosed(peers, handshakeMs + 15_000);
  } finally {
    clearInterval(dripTimer);
  }
  const lifetimes = peers.filter((p) => p.closed).map((p) => p.closedAt - p.openedAt);
  return {
    ...closedBy(
      peers,
      opened.reduce((s, o) => s + o.failed, 0),
      () => ErrorCode.HandshakeTimeout,
    ),
    lifetimeP50: percentile(lifetimes, 50),
    lifetimeMax: Math.max(...lifetimes),
    earliest: Math.min(...lifetimes),
  };
}

type BadKind = 'oversize-before-hello' | 'oversize-after-hello' | 'empty' | 'malformed';
const EXPECTED: Record<BadKind, string> = {
  'oversize-before-hello': ErrorCode.FrameTooLarge,
  'oversize-after-hello': ErrorCode.FrameTooLarge,
  empty: ErrorCode.FrameEmpty,
  malformed: ErrorCode.MalformedFrame,
};

/**
 * A flood of frames declaring lengths over max_frame_bytes (up to 4 GiB), each followed by 16 KiB
 * of junk the daemon must not keep; 10% empty frames and 10% malformed ones for company. Each
 * connection must be closed with its error; FRAME_TOO_LARGE must report the declared length.
 */
export async function oversizeFlood(
  d: HostileDaemon,
  count: number,
  limit: number,
): Promise<ClosedBy & { byKind: Record<string, number>; detailsRight: number; oversize: number }> {
  const junk = Buffer.alloc(16_384, 0xee);
  const kinds = new Map<HostilePeer, { kind: BadKind; length: number }>();
  const { peers, failed } = await openPeers(d.address, count, (p, i) => {
    const kind: BadKind =
      i % 10 === 8
        ? 'empty'
        : i % 10 === 9
          ? 'malformed'
          : i % 2
            ? 'oversize-after-hello'
            : 'oversize-before-hello';
    const length = i % 7 === 0 ? limit + 1 : i % 7 === 1 ? 0xffffffff : randomInt(limit + 1, 0xffffffff);
    kinds.set(p, { kind, length });
    const bad =
      kind === 'empty'
        ? header(0)
        : kind === 'malformed'
          ? Buffer.from('00000003c1c1c1', 'hex')
          : Buffer.concat([header(length), junk]);
    if (kind === 'oversize-before-hello') {
      p.write(bad);
      return;
    }
    p.send(helloMessage(1, `flood-${i}`));
    void p
      .until(() => p.received > 0 || p.closed, 20_000)
      .then(
        () => p.write(bad),
        () => {},
      );
  });
  await allClosed(peers, 20_000);
  const byKind: Record<string, number> = {};
  let detailsRight = 0;
  let oversize = 0;
  for (const [p, { kind, length }] of kinds) {
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    if (kind.startsWith('oversize')) {
      oversize++;
      const e = p.messages.find((m) => m.type === 'error');
      const details = e?.type === 'error' ? e.details : undefined;
      if (details?.length === length && details.limit === limit) detailsRight++;
    }
  }
  return {
    ...closedBy(peers, failed, (p) => EXPECTED[kinds.get(p)!.kind]),
    byKind,
    detailsRight,
    oversize,
  };
}

/** A valid request of several kinds, none of which changes state (cad is full: checkout is denied). */
function pipelined(i: number): ClientMessage {
  const id = 2 + i;
  switch (i % 6) {
    case 0:
      return { type: 'status', id };
    case 1:
      return { type: 'leases', id };
    case 2:
      return { type: 'heartbeat', id };
    case 3:
      return { type: 'checkout', id, feature: 'cad' };
    case 4:
      return { type: 'queue', id };
    default:
      return { type: 'status', id, feature: 'cycle' };
  }
}

export interface SlowReaders {
  /** Peers the daemon disconnected for not reading (matched by address in its log). */
  disconnected: number;
  closed: number;
  /** The daemon's write buffer when it gave up on each (bytes). */
  bufferedMax: number;
  /** Requests each flood peer wrote in one go. */
  requests: number;
}

/**
 * A pipelining flood (`floods` connections each writing `requests` requests in one go, never
 * reading) and clients that never read their replies (`nonReaders`, a status and a heartbeat every
 * 10 ms). The daemon must drop each at its write-buffer cap; the peers see the close once they read.
 */
export async function slowReaders(
  d: HostileDaemon,
  floods: number,
  requests: number,
  nonReaders: number,
  timeoutMs: number,
): Promise<SlowReaders> {
  const before = d.count('client does not read its replies');
  const { peers } = await openPeers(d.address, floods + nonReaders, (p, i) =>
    p.send(helloMessage(1, `slow-${i}`)),
  );
  await Promise.all(peers.map((p) => p.until(() => p.received > 0 || p.closed, 10_000)));
  const burst = Buffer.concat(Array.from({ length: requests }, (_, i) => encodeMessage(pipelined(i))));
  const flooders = peers.slice(0, floods);
  const idle = peers.slice(floods);
  for (const p of peers) p.socket.pause();
  for (const p of flooders) p.write(burst);
  let id = 1_000_000;
  const ticker = setInterval(() => {
    for (const p of idle) {
      p.send({ type: 'status', id: id++ });
      p.send({ type: 'heartbeat', id: id++ });
    }
  }, 10);
  try {
    await d.waitForCount('client does not read its replies', before + peers.length, timeoutMs);
  } finally {
    clearInterval(ticker);
  }
  // A paused socket does not notice the close: read what was delivered, then the end comes.
  for (const p of peers) p.socket.resume();
  await allClosed(peers, 10_000);
  const ports = new Set(peers.map((p) => p.local));
  const lines = d.kept().filter((l) => l.msg.startsWith('client does not read') && ports.has(String(l.peer)));
  for (const p of peers) p.destroy();
  return {
    disconnected: lines.length,
    closed: countOf(peers, (p) => p.closed && !p.closedByUs),
    bufferedMax: Math.max(...lines.map((l) => Number(l.buffered))),
    requests,
  };
}

export interface Storm {
  /** Connections accepted (hello_ok) while filling up to max_connections. */
  accepted: number;
  refusedWhileFilling: number;
  /** Connections over the limit, and how many of them got LIMIT_EXCEEDED and were closed. */
  over: number;
  overRefused: number;
  /** After some were closed: connections accepted again into the freed slots. */
  freed: number;
  reaccepted: number;
  fillMs: number;
  /** Accepted connections the daemon closed before the test did (none should be). */
  droppedByDaemon: number;
  /** How the connections over the limit ended: `code closed-by` → count (for the failure message). */
  overOutcomes: Record<string, number>;
}

/**
 * A connection storm up to max_connections: `fill` connections that each complete a handshake
 * (and heartbeat, so their sessions live), then `over` more that must each be refused with
 * LIMIT_EXCEEDED, then `freed` of the first closed and as many opened again, which must be served.
 * Peers say hello only if the daemon has not refused them within 150 ms: a refused socket is
 * never read, and unread data would turn its close into a reset that can swallow the error frame.
 */
export async function connectionStorm(
  d: HostileDaemon,
  fill: number,
  over: number,
  freed: number,
): Promise<Storm> {
  let id = 2;
  const all: HostilePeer[] = [];
  const helloLater = (p: HostilePeer, i: number) => {
    all.push(p);
    setTimeout(() => {
      if (p.received === 0 && !p.closed) p.send(helloMessage(1, `storm-${i}`));
    }, 150);
  };
  const answered = (p: HostilePeer) => p.received > 0 || p.closed;
  const accepted = (p: HostilePeer) => p.messages[0]?.type === 'hello_ok';
  const refused = (p: HostilePeer) => p.firstError === ErrorCode.LimitExceeded && p.closed && !p.closedByUs;
  const started = performance.now();
  // Heartbeats from the first hello_ok on (lease_ttl is short): an expired session would close its
  // connection and free a slot the test counts as taken.
  const keepalive = setInterval(() => {
    for (const p of all) if (accepted(p) && !p.closed) p.send({ type: 'heartbeat', id: id++ });
  }, 1000);
  try {
    const first = await openPeers(d.address, fill, helloLater);
    await Promise.all(first.peers.map((p) => p.until(() => answered(p), 20_000).catch(() => {})));
    const fillMs = performance.now() - started;
    const extra = await openPeers(d.address, over, helloLater);
    await allClosed(extra.peers, 10_000);
    const gone = first.peers.filter(accepted).slice(0, freed);
    const target = (await d.metric('leasehold_connections')) - gone.length;
    for (const p of gone) p.destroy();
    for (let i = 0; i < 100 && (await d.metric('leasehold_connections')) > target; i++) await sleep(50);
    const again = await openPeers(d.address, freed, helloLater);
    await Promise.all(again.peers.map((p) => p.until(() => answered(p), 20_000).catch(() => {})));
    return {
      accepted: countOf(first.peers, accepted),
      refusedWhileFilling: countOf(first.peers, (p) => p.firstError === ErrorCode.LimitExceeded),
      over: extra.peers.length,
      overRefused: countOf(extra.peers, refused),
      overOutcomes: outcomes(extra.peers),
      droppedByDaemon: countOf(first.peers, (p) => accepted(p) && p.closed && !p.closedByUs),
      freed: gone.length,
      reaccepted: countOf(again.peers, accepted),
      fillMs,
    };
  } finally {
    clearInterval(keepalive);
    for (const p of all) p.destroy();
    await allClosed(all, 10_000);
  }
}
