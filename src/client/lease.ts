/**
 * A lease held by this client: `count` seats of one feature, valid until the client-side deadline
 * (PROTOCOL.md §9, DESIGN §3.3) or until the server says it is gone. Emits `lost` once, with why.
 */
import { EventEmitter } from 'node:events';

export interface LeaseLostInfo {
  /** LEASE_EXPIRED, LEASE_REVOKED, LEASE_NOT_FOUND or SESSION_NOT_FOUND. */
  readonly code: string;
  /** expired, idle, admin, feature_removed, session_lost, checked_in… */
  readonly reason: string;
  readonly message: string;
}

/** What a Lease needs from its client; kept narrow so the two do not reach into each other. */
export interface LeaseOwner {
  now(): number;
  /** The time (owner's clock) until which the session's leases are known to be valid. */
  readonly validUntil: number;
  releaseLease(lease: Lease): Promise<void>;
}

export interface LeaseEvents {
  lost: [info: LeaseLostInfo];
}

export class Lease extends EventEmitter<LeaseEvents> {
  #lastTouch: number;
  #ended: 'held' | 'released' | 'lost' = 'held';
  #releasing: Promise<void> | undefined;

  constructor(
    private readonly owner: LeaseOwner,
    readonly id: string,
    readonly feature: string,
    readonly count: number,
    /** Strictly increasing over the server's life (DESIGN §3.4): hand it to what the lease protects. */
    readonly fencingToken: number,
  ) {
    super();
    this.#lastTouch = owner.now();
  }

  /** True while the lease is held and the client-side deadline has not passed. */
  get valid(): boolean {
    return this.#ended === 'held' && this.owner.now() < this.owner.validUntil;
  }

  get state(): 'held' | 'released' | 'lost' {
    return this.#ended;
  }

  /** Milliseconds since the last user activity reported with touch() (or since checkout). */
  idleMs(now = this.owner.now()): number {
    return Math.max(0, Math.floor(now - this.#lastTouch));
  }

  /** Reports user activity for this lease (DESIGN §2 reclaim b: the idle timeout). */
  touch(): void {
    this.#lastTouch = this.owner.now();
  }

  /** @internal the client's touch() applies to every lease. */
  touchAt(at: number): void {
    if (at > this.#lastTouch) this.#lastTouch = at;
  }

  /** Gives the seats back. Safe to call twice, and after the lease was lost (then it does nothing). */
  release(): Promise<void> {
    if (this.#ended !== 'held') return this.#releasing ?? Promise.resolve();
    this.#releasing = this.owner.releaseLease(this).finally(() => {
      if (this.#ended === 'held') this.#ended = 'released';
    });
    return this.#releasing;
  }

  /** @internal marks the lease lost and tells listeners; only the first call counts. */
  markLost(info: LeaseLostInfo): boolean {
    if (this.#ended !== 'held') return false;
    this.#ended = 'lost';
    try {
      this.emit('lost', info);
    } catch (err) {
      // A listener's exception is the application's, not a protocol error (STYLE.md §9): surface
      // it as an uncaught exception without disturbing the client's state.
      process.nextTick(() => {
        throw err;
      });
    }
    return true;
  }

  /** @internal marks the lease released (after a checkin was acknowledged). */
  markReleased(): void {
    if (this.#ended === 'held') this.#ended = 'released';
  }
}
