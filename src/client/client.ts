/**
 * The Leasehold SDK (DESIGN §5): connect, check out seats, keep them alive with heartbeats at the
 * interval the server advertises, notice loss at the client-side deadline (DESIGN §3.3), reconnect
 * with backoff and jitter to the same or the next server, and resume the session so its leases
 * keep their ids and fencing tokens — never a second seat (DESIGN §3.5).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname, userInfo } from 'node:os';
import type { Duplex } from 'node:stream';
import { ErrorCode, isErrorCode } from '../protocol/codes.js';
import { errorFromCode, LeaseholdError } from '../protocol/errors.js';
import {
  Capability,
  type CheckinOk,
  type CheckoutOk,
  type CheckoutQueued,
  type Draining,
  type HeartbeatOk,
  type Hello,
  type HelloOk,
  type LeasesOk,
  MAX_WAIT_MS,
  PROTOCOL_VERSION,
  type PushMessage,
  type QueueEnded,
  type QueueGranted,
  type QueueOk,
  type ReplyMessage,
  type StatusOk,
} from '../protocol/messages.js';
import { AdminApi } from './admin.js';
import { backoffDelay } from './backoff.js';
import {
  AbortedError,
  ClientClosedError,
  ConnectionLostError,
  RequestTimeoutError,
  ServerUnavailableError,
} from './errors.js';
import { Lease, type LeaseOwner } from './lease.js';
import {
  connectTcp,
  formatServerAddress,
  parseServerAddress,
  type ServerAddress,
  type TlsClientOptions,
  tlsTransport,
} from './transport.js';
import {
  type HolderInfo,
  type QueueEntry,
  type ServerStatus,
  toHolderInfo,
  toQueueEntry,
  toServerStatus,
} from './views.js';
import { type RequestBody, WireConnection } from './wire-connection.js';

export interface ConnectOptions {
  /** `host:port` of each server, tried in order (failover). */
  servers: readonly string[];
  /** The daemon's local admin socket (a unix socket path): used instead of `servers` when given. */
  socket?: string;
  /** Auth token (sent in the handshake). */
  token?: string;
  /** Holder identity; defaults: env LEASEHOLD_USER or the OS user, env LEASEHOLD_HOST or the host name. */
  user?: string;
  host?: string;
  display?: string;
  clientName?: string;
  clientVersion?: string;
  /** Per connection attempt. Default 5000. */
  connectTimeoutMs?: number;
  /** How long a request may wait for a reply, reconnects included. Default 30000. */
  requestTimeoutMs?: number;
  /** Reconnect backoff. Defaults 100 and 5000. */
  reconnectInitialDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /**
   * How long before the server could reclaim the client gives a lease up (DESIGN §3.3).
   * Default: 10% of the lease ttl.
   */
  safetyMarginMs?: number;
  /**
   * Opens the byte stream to a server; default TCP. For other transports (an SSH tunnel, an
   * in-memory pair in tests) pass a function resolving to any Duplex.
   */
  transport?: (address: ServerAddress, timeoutMs: number) => Promise<Duplex>;
  /**
   * Reach every server in `servers` over TLS (not the local `socket`). `{}` trusts the system's CAs;
   * `ca` a private CA (PEM); `cert` and `key` a client certificate for a server with
   * require_client_cert. A certificate that does not verify fails the connect with
   * ServerUnavailableError whose message gives the TLS reason; an unusable `ca`, `cert` or `key`
   * throws a TypeError before connecting. Ignored when `transport` is given.
   */
  tls?: TlsClientOptions;
}

export interface CheckoutOptions {
  /** Seats in this lease. Default 1. */
  count?: number;
  /** Keep trying for this long while the answer is "no seat now" (NO_SEATS and the like). Default 0. */
  wait?: number;
  signal?: AbortSignal;
  /** Idempotency key; default a fresh random one per call (PROTOCOL.md §6.2). */
  key?: string;
  /** Called with the queue position when the checkout waits in the server's queue, and on each change. */
  onQueued?: (position: number) => void;
}

export interface ClientEvents {
  disconnected: [err: Error | undefined];
  reconnected: [info: { resumed: boolean; server: string }];
  draining: [push: Draining];
  queued: [info: { feature: string; ticket: string; position: number }];
  error: [err: Error];
}

type State = 'connecting' | 'connected' | 'reconnecting' | 'closed';

const RETRY_WAIT_MAX_MS = 1000;

export class LeaseholdClient extends EventEmitter<ClientEvents> implements LeaseOwner {
  readonly #options: Required<Omit<ConnectOptions, 'token' | 'display' | 'safetyMarginMs' | 'tls'>> &
    Pick<ConnectOptions, 'token' | 'display' | 'safetyMarginMs'>;
  readonly #servers: ServerAddress[];
  #serverIndex = 0;
  #state: State = 'connecting';
  #conn: WireConnection | undefined;
  #session: { id: string; token: string } | undefined;
  #heartbeatIntervalMs = 0;
  #leaseTtlMs = 0;
  #validUntil = Number.NEGATIVE_INFINITY;
  readonly #leases = new Map<string, Lease>();
  /** Leases given up on this side that the server may still hold: checked in on the next chance. */
  readonly #orphans = new Map<string, number>();
  /** Orphans whose checkin is on the wire: not sent again until it is answered or times out. */
  readonly #orphansInFlight = new Set<string>();
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #reconnectAttempt = 0;
  #waiters: Array<{ resolve: (c: WireConnection) => void; reject: (e: Error) => void }> = [];
  #capabilities: ReadonlySet<string> = new Set();
  #role: HelloOk['role'];
  #identity: string | undefined;
  #admin: AdminApi | undefined;
  /** Leases whose checkin is in flight (releaseLease). */
  readonly #releasing = new Set<string>();
  /**
   * The last push about a ticket no checkout waits for yet. A checkout_queued reply and the push
   * that grants its ticket can come in one read (the daemon sends both in one write when the grant
   * follows within one durable batch), and the reply reaches #awaitQueueGrant only after every frame
   * of that read was handled: the push waits here for it. One still unclaimed once the reply has had
   * its turn belongs to a checkout that gave up (a granted lease is then given back).
   */
  readonly #earlyPushes = new Map<string, QueueGranted | QueueEnded>();
  /** Checkouts waiting in a server queue, by ticket. */
  readonly #queueWaits = new Map<
    string,
    {
      granted: (push: QueueGranted) => void;
      ended: (err: Error) => void;
      position: (position: number) => void;
    }
  >();

  private constructor(options: ConnectOptions) {
    super();
    if (options.servers.length === 0 && options.socket === undefined) {
      throw new TypeError('ConnectOptions.servers must name at least one server (or give socket).');
    }
    this.#servers =
      options.socket !== undefined
        ? [{ host: 'localhost', port: 0, path: options.socket }]
        : options.servers.map(parseServerAddress);
    this.#options = {
      servers: options.servers,
      socket: options.socket ?? '',
      user: options.user ?? process.env.LEASEHOLD_USER ?? userInfo().username,
      host: options.host ?? process.env.LEASEHOLD_HOST ?? hostname(),
      clientName: options.clientName ?? 'leasehold-sdk',
      clientVersion: options.clientVersion ?? '',
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      reconnectInitialDelayMs: options.reconnectInitialDelayMs ?? 100,
      reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? 5000,
      token: options.token,
      display: options.display,
      safetyMarginMs: options.safetyMarginMs,
      transport: options.transport ?? (options.tls ? tlsTransport(options.tls) : connectTcp),
    };
  }

  /** Connects to the first reachable server and opens a session. Throws ServerUnavailableError. */
  static async connect(options: ConnectOptions): Promise<LeaseholdClient> {
    const client = new LeaseholdClient(options);
    const causes: string[] = [];
    for (let i = 0; i < client.#servers.length; i++) {
      client.#serverIndex = i;
      try {
        await client.#open();
        return client;
      } catch (err) {
        if (err instanceof LeaseholdError) {
          client.#shutdown();
          throw err;
        }
        causes.push(`${formatServerAddress(client.#servers[i]!)}: ${(err as Error).message}`);
      }
    }
    client.#shutdown();
    throw new ServerUnavailableError(`No Leasehold server could be reached (${causes.join('; ')}).`);
  }

  /** Monotonic milliseconds (the global performance clock, read at each call so tests can fake it). */
  now(): number {
    return performance.now();
  }

  /** Until when (on this process's monotonic clock) the session's leases are known valid. */
  get validUntil(): number {
    return this.#validUntil;
  }

  get sessionId(): string | undefined {
    return this.#session?.id;
  }

  get connected(): boolean {
    return this.#state === 'connected';
  }

  /** The leases this client holds now. */
  get leases(): Lease[] {
    return [...this.#leases.values()];
  }

  /** Checks out `count` seats of `feature`. Throws the typed denial (NoSeatsError, …) when refused. */
  async checkout(feature: string, options: CheckoutOptions = {}): Promise<Lease> {
    const count = options.count ?? 1;
    const key = options.key ?? randomBytes(12).toString('hex');
    const deadline = this.now() + (options.wait ?? 0);
    const { signal } = options;
    let lastCall = false;
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new AbortedError(undefined, { cause: signal.reason });
      const remaining = Math.floor(deadline - this.now());
      // PROTOCOL.md §6.2: a server with the queue keeps our place in line; others are polled.
      const queue = remaining > 0 && this.#capabilities.has(Capability.Queue);
      try {
        const sentAt = this.now();
        const body: RequestBody = {
          type: 'checkout',
          feature,
          count,
          key,
          ...(queue ? { wait_ms: Math.min(remaining, MAX_WAIT_MS) } : {}),
        };
        const pending = this.#call<CheckoutOk | CheckoutQueued>(body);
        const reply = await abortable(pending, signal, (late) => {
          // Granted (or queued) after the caller gave up: give it back (the key makes this exact).
          late
            .then((r) => {
              if (r.type === 'checkout_ok') this.#checkinQuietly(r.lease, r.fencing);
              else this.#cancelQuietly(r.ticket);
            })
            .catch(() => {});
        });
        if (reply.type === 'checkout_ok') {
          this.#extendValidity(sentAt);
          return this.#adopt(reply);
        }
        return await this.#awaitQueueGrant(reply, options, deadline);
      } catch (err) {
        const left = deadline - this.now();
        // The connection dropped while we waited in the queue: the server let our place go; ask again.
        if (err instanceof ConnectionLostError && left > 0) continue;
        // Dropped after the wait ran out: the server may have granted us a seat from the queue
        // whose push was lost with the connection. One last call with the same key and no wait
        // claims that lease (PROTOCOL.md §7.9), or is refused NO_SEATS if there was none.
        if (err instanceof ConnectionLostError && options.wait !== undefined && !lastCall) {
          lastCall = true;
          continue;
        }
        if (err instanceof LeaseholdError && err.retryable && err.code !== ErrorCode.Internal && left > 0) {
          await sleep(Math.min(left, RETRY_WAIT_MAX_MS, 100 * 2 ** Math.min(attempt, 4)), signal);
          continue;
        }
        throw err;
      }
    }
  }

  /** Waits in the server's queue for the grant push (PROTOCOL.md §7.9). */
  #awaitQueueGrant(queued: CheckoutQueued, options: CheckoutOptions, deadline: number): Promise<Lease> {
    const { signal } = options;
    options.onQueued?.(queued.position);
    this.emit('queued', { feature: queued.feature, ticket: queued.ticket, position: queued.position });
    return new Promise<Lease>((resolve, reject) => {
      const finish = () => {
        this.#queueWaits.delete(queued.ticket);
        signal?.removeEventListener('abort', onAbort);
        clearTimeout(guard);
      };
      const onAbort = () => {
        finish();
        this.#cancelQuietly(queued.ticket);
        reject(new AbortedError(undefined, { cause: signal?.reason }));
      };
      // The server ends the wait at its deadline; this guard only covers a queue_ended that never comes.
      const guard = setTimeout(
        () => {
          finish();
          this.#cancelQuietly(queued.ticket);
          reject(
            new LeaseholdError(ErrorCode.NoSeats, `No seat of '${queued.feature}' was granted in time.`),
          );
        },
        Math.max(0, deadline - this.now()) + 5000,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queueWaits.set(queued.ticket, {
        granted: (push) => {
          finish();
          resolve(
            this.#adopt({
              type: 'checkout_ok',
              id: 0,
              lease: push.lease,
              feature: push.feature,
              count: push.count,
              fencing: push.fencing,
              ttl_ms: push.ttl_ms,
            }),
          );
        },
        ended: (err) => {
          finish();
          reject(err);
        },
        position: (position) => options.onQueued?.(position),
      });
      // The push may have come in the same read as the reply (#earlyPushes).
      const early = this.#earlyPushes.get(queued.ticket);
      if (early !== undefined) {
        this.#earlyPushes.delete(queued.ticket);
        this.#onPush(early);
      }
    });
  }

  /** Keeps a push about a ticket nobody waits for until the replies read with it had their turn. */
  #keepEarly(push: QueueGranted | QueueEnded): void {
    this.#earlyPushes.set(push.ticket, push);
    afterPromises(() => {
      if (this.#earlyPushes.get(push.ticket) !== push) return;
      this.#earlyPushes.delete(push.ticket);
      // Nobody waits for it (the checkout gave up meanwhile): give the seat back.
      if (push.type === 'queue_granted') this.#checkinQuietly(push.lease, push.fencing);
    });
  }

  #cancelQuietly(ticket: string): void {
    const conn = this.#conn;
    if (!conn || this.#state !== 'connected') return;
    conn.request({ type: 'queue_cancel', ticket }, this.#options.requestTimeoutMs).catch(() => {});
  }

  /** Reports user activity for every lease of this client. */
  touch(): void {
    const now = this.now();
    for (const lease of this.#leases.values()) lease.touchAt(now);
  }

  async status(feature?: string): Promise<ServerStatus> {
    const reply = await this.#call<StatusOk>(
      feature === undefined ? { type: 'status' } : { type: 'status', feature },
    );
    return toServerStatus(reply);
  }

  async listLeases(
    filter: { feature?: string; user?: string; host?: string; type?: 'named' | 'concurrent' } = {},
  ): Promise<HolderInfo[]> {
    const { type, ...rest } = filter;
    const serverFilters = type !== undefined && this.#capabilities.has(Capability.Models);
    const reply = await this.#call<LeasesOk>({
      type: 'leases',
      ...rest,
      ...(serverFilters ? { seat_type: type } : {}),
    });
    const leases = reply.leases.map(toHolderInfo);
    return type === undefined || serverFilters ? leases : leases.filter((l) => l.type === type);
  }

  /**
   * The admin requests (admin.ts): free seats, blocks, users, reload, shutdown. The server checks
   * the connection's role (`role`); a request the role does not allow fails with ForbiddenError.
   */
  get admin(): AdminApi {
    this.#admin ??= new AdminApi(
      (body) => this.#call(body),
      (body) => this.#callOnce(body),
    );
    return this.#admin;
  }

  /** The admin role the server gave this connection (admin socket or admin token), if any. */
  get role(): 'admin' | 'manager' | 'viewer' | undefined {
    return this.#role;
  }

  /** The user the server holds this session's leases for (a personal token's user, or the one claimed). */
  get identity(): string | undefined {
    return this.#identity;
  }

  /** Same as `admin.reload()`. Throws ConfigInvalidError when the file is bad. */
  reloadConfig(): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
    return this.admin.reload();
  }

  /** Same as `admin.shutdown()`. */
  shutdownServer(): Promise<void> {
    return this.admin.shutdown();
  }

  /** Who waits for seats, in queue order (all features, or one). */
  async queue(feature?: string): Promise<QueueEntry[]> {
    if (this.#state === 'connected' && !this.#capabilities.has(Capability.Queue)) {
      throw new LeaseholdError(ErrorCode.UnknownType, 'This server has no wait queue (capability "queue").');
    }
    const reply = await this.#call<QueueOk>(
      feature === undefined ? { type: 'queue' } : { type: 'queue', feature },
    );
    return reply.waiters.map(toQueueEntry);
  }

  /** Ends the session: with `release` (the default) every lease is checked in first. */
  async close(options: { release?: boolean } = {}): Promise<void> {
    if (this.#state === 'closed') return;
    const release = options.release ?? true;
    if (release && this.#state === 'connected' && this.#conn) {
      try {
        await this.#conn.request({ type: 'bye' }, Math.min(this.#options.requestTimeoutMs, 5000));
      } catch {
        // The server reclaims at ttl whatever bye could not release.
      }
      for (const lease of this.#leases.values()) lease.markReleased();
    }
    this.#shutdown();
  }

  /** @internal LeaseOwner: checkin for Lease.release(). */
  async releaseLease(lease: Lease): Promise<void> {
    // A heartbeat that crosses the checkin is answered "not found" for this lease: not a loss.
    this.#releasing.add(lease.id);
    try {
      await this.#call<CheckinOk>({ type: 'checkin', lease: lease.id, fencing: lease.fencingToken });
    } catch (err) {
      // Already gone on the server: released all the same.
      if (!(err instanceof LeaseholdError) || !LEASE_GONE.has(err.code)) throw err;
    } finally {
      this.#releasing.delete(lease.id);
    }
    lease.markReleased();
    this.#leases.delete(lease.id);
  }

  // ---- connection lifecycle ----

  async #open(): Promise<void> {
    const address = this.#servers[this.#serverIndex]!;
    const socket = await this.#options.transport(address, this.#options.connectTimeoutMs);
    const conn = new WireConnection(socket, {
      onPush: (push) => this.#onPush(push),
      onServerError: (err) => this.#emitError(err),
      onClose: () => this.#onClose(conn),
    });
    try {
      let sentAt = this.now();
      let reply: HelloOk;
      try {
        reply = await conn.request<HelloOk>(this.#hello(), this.#options.connectTimeoutMs);
      } catch (err) {
        if (!(err instanceof LeaseholdError) || err.code !== ErrorCode.SessionNotFound || !this.#session)
          throw err;
        // PROTOCOL.md §4: the session is gone; its leases with it. Start a new one on this connection.
        this.#loseAll(
          'SESSION_NOT_FOUND',
          'session_lost',
          'The session expired on the server while disconnected.',
        );
        this.#session = undefined;
        sentAt = this.now();
        reply = await conn.request<HelloOk>(this.#hello(), this.#options.connectTimeoutMs);
      }
      this.#establish(conn, reply, sentAt, address);
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  #hello(): Omit<Hello, 'id'> {
    const o = this.#options;
    const hello: Omit<Hello, 'id'> = {
      type: 'hello',
      versions: [PROTOCOL_VERSION],
      client_name: o.clientName,
      user: o.user,
      host: o.host,
    };
    if (o.clientVersion) hello.client_version = o.clientVersion;
    if (o.display !== undefined) hello.display = o.display;
    if (o.token !== undefined) hello.token = o.token;
    if (this.#session) hello.resume = { session: this.#session.id, token: this.#session.token };
    return hello;
  }

  #establish(conn: WireConnection, reply: HelloOk, sentAt: number, address: ServerAddress): void {
    const wasReconnect = this.#state === 'reconnecting';
    this.#conn = conn;
    this.#state = 'connected';
    this.#reconnectAttempt = 0;
    this.#session = { id: reply.session, token: reply.resume_token };
    this.#heartbeatIntervalMs = reply.heartbeat_interval_ms;
    this.#leaseTtlMs = reply.lease_ttl_ms;
    this.#capabilities = new Set(reply.capabilities);
    this.#role = reply.role;
    this.#identity = reply.user;
    this.#extendValidity(sentAt);
    // Leases this side gave up but the server still holds: give them back. (A lease the server
    // lists that this side never heard of is the grant of a checkout whose reply was lost; its
    // retry, with the same key, claims it — PROTOCOL.md §6.2.)
    const stillHeld = new Set(reply.leases.map((l) => l.lease));
    for (const id of this.#orphans.keys()) if (!stillHeld.has(id)) this.#orphans.delete(id);
    this.#flushOrphans();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.resolve(conn);
    if (wasReconnect) {
      // The heartbeat right away tells which leases survived the gap, with the precise reason for the others.
      this.#sendHeartbeat();
      this.emit('reconnected', { resumed: reply.resumed, server: formatServerAddress(address) });
    }
    this.#scheduleHeartbeat();
  }

  #onClose(conn: WireConnection): void {
    if (conn !== this.#conn || this.#state === 'closed') return;
    this.#conn = undefined;
    this.#state = 'reconnecting';
    // The server drops a disconnected session's queue entries: each waiting checkout asks again.
    for (const wait of [...this.#queueWaits.values()])
      wait.ended(new ConnectionLostError('Connection lost while queued.'));
    if (this.#heartbeatTimer) clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
    this.emit('disconnected', undefined);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#state !== 'reconnecting' || this.#reconnectTimer) return;
    const delay = backoffDelay(this.#reconnectAttempt++, {
      initialMs: this.#options.reconnectInitialDelayMs,
      maxMs: this.#options.reconnectMaxDelayMs,
    });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#open().catch((err: unknown) => {
        if (this.#state !== 'reconnecting') return;
        if (err instanceof LeaseholdError && err.code === ErrorCode.AuthFailed) this.#emitError(err);
        // Try the next server in the list next time.
        this.#serverIndex = (this.#serverIndex + 1) % this.#servers.length;
        this.#scheduleReconnect();
      });
    }, delay);
  }

  #shutdown(): void {
    this.#state = 'closed';
    for (const t of [this.#heartbeatTimer, this.#expiryTimer, this.#reconnectTimer]) if (t) clearTimeout(t);
    this.#heartbeatTimer = this.#expiryTimer = this.#reconnectTimer = undefined;
    this.#conn?.close();
    this.#conn = undefined;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(new ClientClosedError());
    for (const wait of [...this.#queueWaits.values()]) wait.ended(new ClientClosedError());
  }

  // ---- requests ----

  /** Sends a request, waiting out a reconnect and re-sending it if the connection drops (all v1 requests are idempotent). */
  async #call<R extends ReplyMessage>(body: RequestBody): Promise<R> {
    const deadline = this.now() + this.#options.requestTimeoutMs;
    for (;;) {
      const conn = await this.#whenConnected(deadline);
      try {
        return await conn.request<R>(body, Math.max(1, deadline - this.now()));
      } catch (err) {
        if (isSessionGone(err) && conn === this.#conn) this.#sessionGone(conn);
        if ((err instanceof ConnectionLostError || isSessionGone(err)) && this.now() < deadline) continue;
        throw err;
      }
    }
  }

  /** A request that must not be repeated: a lost connection fails it instead of a retry. */
  async #callOnce<R extends ReplyMessage>(body: RequestBody): Promise<R> {
    const deadline = this.now() + this.#options.requestTimeoutMs;
    const conn = await this.#whenConnected(deadline);
    return conn.request<R>(body, Math.max(1, deadline - this.now()));
  }

  #whenConnected(deadline: number): Promise<WireConnection> {
    if (this.#state === 'closed') return Promise.reject(new ClientClosedError());
    if (this.#state === 'connected' && this.#conn && !this.#conn.closed) return Promise.resolve(this.#conn);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (c: WireConnection) => {
          clearTimeout(timer);
          resolve(c);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(
        () => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(new RequestTimeoutError('The server could not be reached in time.'));
        },
        Math.max(1, deadline - this.now()),
      );
      this.#waiters.push(waiter);
    });
  }

  #adopt(reply: CheckoutOk): Lease {
    const existing = this.#leases.get(reply.lease);
    if (existing) return existing;
    const lease = new Lease(this, reply.lease, reply.feature, reply.count, reply.fencing);
    this.#leases.set(lease.id, lease);
    this.#orphans.delete(lease.id);
    return lease;
  }

  #checkinQuietly(leaseId: string, fencing: number): void {
    this.#orphans.set(leaseId, fencing);
    this.#flushOrphans();
  }

  /**
   * Checks in every orphan not already on the wire. Called when a connection is established, when
   * a lease is given up while connected (a daemon that stalled past the ttl still holds it, and the
   * live connection's heartbeats would keep it held), and after each acknowledged heartbeat (a
   * checkin that timed out is tried again once the server answers again).
   */
  #flushOrphans(): void {
    const conn = this.#conn;
    if (!conn || this.#state !== 'connected') return;
    for (const [lease, fencing] of this.#orphans) {
      if (this.#orphansInFlight.has(lease)) continue;
      this.#orphansInFlight.add(lease);
      conn.request({ type: 'checkin', lease, fencing }, this.#options.requestTimeoutMs).then(
        () => {
          this.#orphansInFlight.delete(lease);
          this.#orphans.delete(lease);
        },
        (err: unknown) => {
          this.#orphansInFlight.delete(lease);
          // A typed answer (LEASE_NOT_FOUND, …) settles it; a timeout or a lost connection does not.
          if (err instanceof LeaseholdError) this.#orphans.delete(lease);
        },
      );
    }
  }

  // ---- heartbeats and the client-side deadline (DESIGN §3.3) ----

  #scheduleHeartbeat(): void {
    if (this.#heartbeatTimer) clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = setTimeout(() => {
      this.#heartbeatTimer = undefined;
      if (this.#state !== 'connected') return;
      this.#sendHeartbeat();
      this.#scheduleHeartbeat();
    }, this.#heartbeatIntervalMs);
  }

  #sendHeartbeat(): void {
    const conn = this.#conn;
    if (!conn) return;
    const sentAt = this.now();
    const leases = [...this.#leases.values()].map((l) => ({
      lease: l.id,
      fencing: l.fencingToken,
      idle_ms: l.idleMs(sentAt),
    }));
    conn.request<HeartbeatOk>({ type: 'heartbeat', leases }, this.#leaseTtlMs).then(
      (reply) => {
        if (this.#state === 'closed') return;
        this.#extendValidity(sentAt);
        for (const lost of reply.lost) {
          const lease = this.#leases.get(lost.lease);
          if (lease && !(lost.code === ErrorCode.LeaseNotFound && this.#releasing.has(lost.lease)))
            this.#lose(lease, lost.code, reasonForCode(lost.code), `The server reports ${lost.code}.`);
        }
        if (this.#orphans.size > 0) this.#flushOrphans();
      },
      (err: unknown) => {
        if (isSessionGone(err) && conn === this.#conn) this.#sessionGone(conn);
        // Otherwise a lost connection or a timeout: the deadline timer and the reconnect loop take it from here.
      },
    );
  }

  #extendValidity(sentAt: number): void {
    const margin = this.#options.safetyMarginMs ?? Math.ceil(this.#leaseTtlMs / 10);
    const until = sentAt + this.#leaseTtlMs - margin;
    if (until <= this.#validUntil) return;
    this.#validUntil = until;
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = setTimeout(() => this.#onDeadline(), Math.max(0, until - this.now()));
  }

  #onDeadline(): void {
    this.#expiryTimer = undefined;
    if (this.now() < this.#validUntil) {
      this.#expiryTimer = setTimeout(() => this.#onDeadline(), this.#validUntil - this.now());
      return;
    }
    this.#loseAll(
      ErrorCode.LeaseExpired,
      'expired',
      'No heartbeat was acknowledged within the lease ttl: the seat may be given to someone else.',
    );
  }

  /** The server no longer knows the session (it expired): its leases are gone; start over on a new connection. */
  #sessionGone(conn: WireConnection): void {
    this.#loseAll(ErrorCode.SessionNotFound, 'session_lost', 'The session expired on the server.');
    this.#session = undefined;
    conn.destroy();
  }

  #loseAll(code: string, reason: string, message: string): void {
    for (const lease of [...this.#leases.values()]) this.#lose(lease, code, reason, message);
  }

  #lose(lease: Lease, code: string, reason: string, message: string): void {
    this.#leases.delete(lease.id);
    // The server may still hold it (we gave up first, on purpose): check it in now if the
    // connection is up (a stalled daemon that comes back would otherwise keep the seat for as long
    // as this session lives), else on the next connection.
    if (code === ErrorCode.LeaseExpired && reason === 'expired') {
      this.#orphans.set(lease.id, lease.fencingToken);
      this.#flushOrphans();
    }
    lease.markLost({ code, reason, message });
  }

  #onPush(push: PushMessage): void {
    switch (push.type) {
      case 'revoked': {
        const lease = this.#leases.get(push.lease);
        if (lease) {
          this.#leases.delete(lease.id);
          lease.markLost({ code: push.code, reason: push.reason, message: push.message });
        }
        return;
      }
      case 'draining':
        this.emit('draining', push);
        return;
      case 'queue_position':
        this.#queueWaits.get(push.ticket)?.position(push.position);
        return;
      case 'queue_granted': {
        const wait = this.#queueWaits.get(push.ticket);
        if (wait) wait.granted(push);
        else this.#keepEarly(push);
        return;
      }
      case 'queue_ended': {
        const wait = this.#queueWaits.get(push.ticket);
        if (wait) wait.ended(errorForCode(push.code, push.message));
        else this.#keepEarly(push);
        return;
      }
    }
  }

  #emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

/**
 * Runs `callback` once the promise reactions queued now have run (setImmediate), taken at load so
 * that tests faking timers do not hold back a seat given back.
 */
const afterPromises: (callback: () => void) => unknown = globalThis.setImmediate;

const LEASE_GONE: ReadonlySet<string> = new Set([
  ErrorCode.LeaseExpired,
  ErrorCode.LeaseRevoked,
  ErrorCode.LeaseNotFound,
]);

function errorForCode(code: string, message: string): Error {
  return isErrorCode(code)
    ? errorFromCode(code, message)
    : new LeaseholdError(ErrorCode.Internal, `${message} (${code})`);
}

function isSessionGone(err: unknown): boolean {
  return err instanceof LeaseholdError && err.code === ErrorCode.SessionNotFound;
}

function reasonForCode(code: string): string {
  if (code === ErrorCode.LeaseExpired) return 'expired';
  if (code === ErrorCode.LeaseRevoked) return 'revoked';
  return 'not_found';
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError(undefined, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Races `promise` with `signal`; when the signal wins, `onLate` gets the promise to clean up after. */
function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  onLate: (p: Promise<T>) => void,
): Promise<T> {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      onLate(promise);
      reject(new AbortedError(undefined, { cause: signal.reason }));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
