/**
 * One licensed feature: its configuration, the seat claims that occupy its seats, and its wait
 * queue. Running sums (`inUse`, `namedInUse`, per-group usage) keep admission O(groups).
 *
 * Seat arithmetic (issue 4 §1): named assignments carve one seat each out of `seats`; the rest is the
 * concurrent pool. A user whose assignment was removed keeps their named seat until its leases end,
 * so the pool is `seats − |assigned ∪ users still holding a named seat|`.
 */
import type { LeaseRecord } from './lease-record.js';
import { PoolLeases } from './pool-leases.js';
import { LoneClaim, SeatClaim } from './seat-claim.js';
import {
  type AccessList,
  DedupeMode,
  type FeatureConfig,
  type FeatureModel,
  type GroupRule,
  LeaseType,
} from './types.js';
import { WaitQueue } from './wait-queue.js';

/** An include or exclude list as sets, for O(1) lookups. */
export interface AccessSets {
  readonly users: ReadonlySet<string>;
  readonly hosts: ReadonlySet<string>;
  readonly groups: ReadonlySet<string>;
}

function toSets(list: AccessList | undefined): AccessSets | undefined {
  if (list === undefined) return undefined;
  const sets = {
    users: new Set(list.users ?? []),
    hosts: new Set(list.hosts ?? []),
    groups: new Set(list.groups ?? []),
  };
  return sets.users.size + sets.hosts.size + sets.groups.size === 0 ? undefined : sets;
}

export class FeaturePool {
  readonly name: string;
  seats = 0;
  model!: FeatureModel;
  idleTimeoutMs: number | undefined;
  /** Users with a named seat, in assignment order. */
  namedUsers = new Set<string>();
  open: boolean | undefined;
  maxUsers: number | undefined;
  usersPerSeat: number | undefined;
  dedupe: DedupeMode = DedupeMode.None;
  include: AccessSets | undefined;
  exclude: AccessSets | undefined;
  /** By group, in configuration order. */
  groupRules = new Map<string, GroupRule>();
  reclaimIdleWhenQueuedMs: number | undefined;
  /** The configuration as given, for featureConfig() (named users are read from `namedUsers`). */
  config!: FeatureConfig;

  /** Sum of `seats` over every claim. */
  inUse = 0;
  /** Named claims (one seat each). */
  namedInUse = 0;
  /** Every lease, in grant order. */
  readonly leases = new PoolLeases();
  /** Named claims by user. */
  readonly namedClaims = new Map<string, SeatClaim>();
  /** Concurrent SeatClaims by user, for dedupe (lone claims are not: seat-claim.ts LoneClaim). */
  readonly concurrentClaims = new Map<string, Set<SeatClaim>>();
  /** Seats of concurrent claims by group. */
  readonly groupUsage = new Map<string, number>();
  /** Users holding a named claim who are no longer assigned one. */
  unassignedHolders = 0;
  /** Leases that are a lone claim (seat-claim.ts LoneClaim). */
  #lones = 0;
  /** The LoneClaim of each group (undefined: none) that lone leases of this pool share. */
  readonly #loneClaims = new Map<string | undefined, LoneClaim>();

  readonly queue = new WaitQueue();
  /** Check for idle leases to preempt at the next queue scan (a waiter arrived, or an entry came due). */
  preemptWanted = false;
  /** The deadline of this pool's live preemption entry in the expiry heap (older ones are stale). */
  preemptArmedAt: number | undefined = undefined;
  /** Set once the feature is removed; its records may still be referenced by tombstoned leases. */
  removed = false;

  constructor(config: FeatureConfig) {
    this.name = config.name;
    this.configure(config);
  }

  /** Applies a validated configuration. Claims are kept; the count of unassigned holders is redone. */
  configure(config: FeatureConfig): void {
    this.config = config;
    this.seats = config.seats;
    this.model = config.model;
    this.idleTimeoutMs = config.idleTimeoutMs;
    this.namedUsers = new Set(config.namedUsers ?? []);
    this.open = config.open;
    this.maxUsers = config.maxUsers;
    this.usersPerSeat = config.usersPerSeat;
    this.dedupe = config.dedupe ?? DedupeMode.None;
    this.include = toSets(config.include);
    this.exclude = toSets(config.exclude);
    this.groupRules = new Map((config.groupRules ?? []).map((rule) => [rule.group, rule]));
    this.reclaimIdleWhenQueuedMs = config.reclaimIdleWhenQueuedMs;
    this.unassignedHolders = 0;
    for (const user of this.namedClaims.keys()) if (!this.namedUsers.has(user)) this.unassignedHolders++;
    // Dedupe joins a claim found by user: lone claims made while it was off get their SeatClaim.
    if (this.dedupe !== DedupeMode.None && this.#lones > 0)
      for (const lease of this.leases) this.claimOf(lease);
  }

  /** The feature's current configuration, named assignments included. */
  currentConfig(): FeatureConfig {
    const { namedUsers: _named, ...rest } = this.config;
    const config: FeatureConfig = { ...rest, seats: this.seats };
    return this.namedUsers.size === 0 ? config : { ...config, namedUsers: [...this.namedUsers] };
  }

  /** Seats in use beyond `seats` after an admin lowered it (DESIGN §3.1). */
  get overdraft(): number {
    return Math.max(0, this.inUse - this.seats);
  }

  get free(): number {
    return Math.max(0, this.seats - this.inUse);
  }

  get concurrentInUse(): number {
    return this.inUse - this.namedInUse;
  }

  /** The concurrent pool: seats minus named assignments and named seats still held after unassign. */
  get concurrentCapacity(): number {
    return Math.max(0, this.seats - this.namedUsers.size - this.unassignedHolders);
  }

  usageOf(group: string | undefined): number {
    return group === undefined ? 0 : (this.groupUsage.get(group) ?? 0);
  }

  /** Seats of the group's reserve it does not use: nobody else may take them. */
  unusedReserve(group: string | undefined): number {
    if (group === undefined) return 0;
    const reserve = this.groupRules.get(group)?.reserve ?? 0;
    return Math.max(0, reserve - this.usageOf(group));
  }

  /** The capped user count: maxUsers, or floor(usersPerSeat × seats); undefined when uncapped. */
  get userCap(): number | undefined {
    if (this.maxUsers !== undefined) return this.maxUsers;
    if (this.usersPerSeat !== undefined) return Math.floor(this.usersPerSeat * this.seats);
    return undefined;
  }

  // ---- claims ---------------------------------------------------------------------------------

  /** Files a lease under its claim; a claim's seats count from its first lease. */
  attach(lease: LeaseRecord): void {
    this.leases.add(lease);
    const claim = lease.claim;
    if (!(claim instanceof SeatClaim)) {
      this.#lones++;
      this.#count(lease, undefined, 1);
    } else if (claim.leases.length === 0) {
      this.#count(lease, claim, 1);
      claim.leases = [lease];
    } else {
      claim.leases.push(lease);
    }
  }

  /** Removes a lease; its claim's seats free with its last lease. */
  detach(lease: LeaseRecord): void {
    this.leases.delete(lease);
    const claim = lease.claim;
    if (!(claim instanceof SeatClaim)) {
      this.#lones--;
      this.#count(lease, undefined, -1);
      return;
    }
    const at = claim.leases.indexOf(lease);
    if (at < 0) return;
    claim.leases.splice(at, 1);
    if (claim.leases.length === 0) this.#count(lease, claim, -1);
  }

  /** The claim a new lease shared with nobody gets (seat-claim.ts LoneClaim). */
  loneClaim(group: string | undefined): LoneClaim {
    let claim = this.#loneClaims.get(group);
    if (claim === undefined) {
      claim = new LoneClaim(this, group);
      this.#loneClaims.set(group, claim);
    }
    return claim;
  }

  /**
   * The SeatClaim of a held lease, for another lease to join: a lone claim gets one now, with the
   * same seats, so the pool's counts stay as they are.
   */
  claimOf(lease: LeaseRecord): SeatClaim {
    const held = lease.claim;
    if (held instanceof SeatClaim) return held;
    const { user, host } = lease.session.identity;
    const claim = new SeatClaim(this, LeaseType.Concurrent, lease.count, held.group, user, host);
    claim.leases = [lease];
    claim.founder = lease;
    lease.claim = claim;
    this.#lones--;
    this.#indexConcurrent(claim, 1);
    return claim;
  }

  /**
   * The concurrent claim a dedupe checkout joins: one the same user (on the same host, for
   * 'user-host') holds with at least `count` seats. While dedupe is on, every concurrent lease has
   * a SeatClaim (see configure), so the index below finds them all.
   */
  joinableClaim(user: string, host: string, count: number): SeatClaim | undefined {
    if (this.dedupe === DedupeMode.None) return undefined;
    const claims = this.concurrentClaims.get(user);
    if (claims === undefined) return undefined;
    for (const claim of claims) {
      if (claim.seats < count) continue;
      if (this.dedupe === DedupeMode.UserHost && claim.host !== host) continue;
      return claim;
    }
    return undefined;
  }

  /** Whether a new concurrent lease may be a lone claim: none can join it while dedupe is off. */
  get lonesAllowed(): boolean {
    return this.dedupe === DedupeMode.None;
  }

  /** Called after `namedUsers` gained or lost `user`: a held named seat moves between the counts. */
  assignmentChanged(user: string, assigned: boolean): void {
    if (!this.namedClaims.has(user)) return;
    this.unassignedHolders += assigned ? -1 : 1;
  }

  /** Counts a claim's seats in or out: `claim` is the lease's SeatClaim, or undefined for a lone one. */
  #count(lease: LeaseRecord, claim: SeatClaim | undefined, sign: 1 | -1): void {
    const seats = claim === undefined ? lease.count : claim.seats;
    this.inUse += sign * seats;
    if (claim !== undefined && claim.type === LeaseType.Named) {
      this.namedInUse += sign;
      if (sign > 0) this.namedClaims.set(claim.user, claim);
      else this.namedClaims.delete(claim.user);
      if (!this.namedUsers.has(claim.user)) this.unassignedHolders += sign;
      return;
    }
    if (claim !== undefined) this.#indexConcurrent(claim, sign);
    const group = lease.claim.group;
    if (group !== undefined) {
      const usage = this.usageOf(group) + sign * seats;
      if (usage === 0) this.groupUsage.delete(group);
      else this.groupUsage.set(group, usage);
    }
  }

  #indexConcurrent(claim: SeatClaim, sign: 1 | -1): void {
    let claims = this.concurrentClaims.get(claim.user);
    if (sign > 0) {
      if (claims === undefined) {
        claims = new Set();
        this.concurrentClaims.set(claim.user, claims);
      }
      claims.add(claim);
    } else if (claims !== undefined) {
      claims.delete(claim);
      if (claims.size === 0) this.concurrentClaims.delete(claim.user);
    }
  }
}
