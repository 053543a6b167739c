/**
 * Sessions opened, resumed and renewed, for LeaseEngine (DESIGN §2 "session", §3.5). Their end
 * (close or expiry) is the lease flow's (lease-flow.ts endSession), since it ends leases too. The
 * engine calls these inside its `#mutate`.
 */

import type { EngineContext } from './engine-context.js';
import { sessionNotFound } from './engine-errors.js';
import { checkHeartbeatEntries, checkIdentity } from './input-checks.js';
import type { LeaseFlow } from './lease-flow.js';
import { hexSecretHashMatches, randomBuffer, TOKEN_BYTES, uniqueHexId } from './random-ids.js';
import { copyIdentity, hashToken, SessionRecord, toSessionView } from './session-record.js';
import type { HeartbeatRequest, HeartbeatResult, HolderIdentity, LostLease, SessionView } from './types.js';

/** Compared against when the session is unknown, so an unknown id costs what a wrong token costs. */
const NO_TOKEN_HASH = '0'.repeat(64);

export function openSession(
  ctx: EngineContext,
  identity: HolderIdentity,
  now: number,
): { sessionId: string; resumeToken: string } {
  checkIdentity(identity);
  const id = uniqueHexId(ctx.random, (candidate) => ctx.book.sessions.has(candidate));
  // A copy: an injected source may reuse its buffer, and the token must not change under us.
  const token = Buffer.from(randomBuffer(ctx.random, TOKEN_BYTES));
  // Only the hash is kept (and journaled): the token itself is handed out once, here.
  const session = new SessionRecord(id, hashToken(token), copyIdentity(identity), now);
  ctx.book.sessions.set(id, session);
  ctx.expiry.armSession(session);
  if (ctx.events.wants('sessionOpened')) {
    ctx.events.queue('sessionOpened', {
      session: toSessionView(session, ctx.leaseTtlMs),
      tokenHash: session.tokenHash,
    });
  }
  return { sessionId: id, resumeToken: token.toString('hex') };
}

/** Unknown, expired and wrong-token sessions fail alike (SESSION_NOT_FOUND). */
export function resumeSession(
  ctx: EngineContext,
  sessionId: string,
  resumeToken: string,
  peer: string | undefined,
  now: number,
): SessionView {
  const session = typeof sessionId === 'string' ? ctx.book.sessions.get(sessionId) : undefined;
  const hash = Buffer.from(session?.tokenHash ?? NO_TOKEN_HASH, 'hex');
  const matches = hexSecretHashMatches(resumeToken, TOKEN_BYTES, hash);
  if (session === undefined || !matches) throw sessionNotFound();
  session.lastHeartbeatAt = now;
  if (session.graceUntil > now) {
    // Back after a restart: from now on the lease ttl alone keeps it (DESIGN §3.6).
    session.graceUntil = Number.NEGATIVE_INFINITY;
    ctx.expiry.rearmSession(session);
  }
  if (typeof peer === 'string' && peer !== session.identity.peer) {
    session.identity = copyIdentity({ ...session.identity, peer });
  }
  return toSessionView(session, ctx.leaseTtlMs);
}

export function heartbeat(
  ctx: EngineContext,
  flow: LeaseFlow,
  sessionId: string,
  request: HeartbeatRequest | undefined,
  now: number,
): HeartbeatResult {
  const session = flow.liveSession(sessionId);
  const entries = request?.leases ?? [];
  checkHeartbeatEntries(entries);
  // No heap work: the expiry schedule rereads this when the session's entry comes due.
  session.lastHeartbeatAt = now;
  const lost: LostLease[] = [];
  for (const entry of entries) {
    const code = flow.touchLease(session, entry, now);
    if (code !== undefined) lost.push({ lease: entry.lease, code });
  }
  return { ttlMs: ctx.leaseTtlMs, lost };
}
