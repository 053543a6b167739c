/**
 * What is held and waited for right now, per feature × group and in total, as the usage rollups
 * (rollups.ts) follow it from audit events: counts, not leases (issue 8). A million leases may be
 * held; the counts grow with features × groups × users, and so do the daemon's memory for them and
 * usage.json.
 *
 * Per feature × group (and '*', the feature's total) they hold the seats in use and, per user, the
 * leases and seats held. A release or reclaim carries its whole lease (feature, group, user, count
 * and `shared` never change while it is held), so it undoes its grant without the grant being kept.
 * What counts cannot tell is whether the lease that ends was ever counted: one granted before the
 * trail starts (older files pruned), or whose grant line a crash lost, was not. So its end takes one
 * lease and at most its seats from its user in its group, nothing when that user holds none there,
 * and all the user's remaining seats there when it was their last lease: no count goes below zero,
 * the total stays the sum of its groups, and the same records give the same counts. The engine
 * never grants a lease id twice, so every grant counts one more lease.
 *
 * Waiters are few (a queue), so they are kept by ticket: a dequeue names the ticket that left.
 */
import type { AuditLease, AuditWaiter } from './audit-events.js';

/** The group key of a feature's total. */
export const ALL_GROUPS = '*';
/** The group key of leases and waiters that count toward no group. */
export const NO_GROUP = '-';

export const groupOf = (x: { readonly group?: string | undefined }) => x.group ?? NO_GROUP;

/** What one user holds in one feature × group: one entry of usage.json's `live.holders`. */
export interface HeldCount {
  readonly feature: string;
  /** The group, '-' for none (never '*': the totals are the sums of the groups). */
  readonly group: string;
  readonly user: string;
  /** Leases counted (at least 1). */
  readonly leases: number;
  /** The seats they take (a shared lease takes none). */
  readonly seats: number;
}

/** What is in use and waiting right now in one feature × group (or the total). */
export interface LiveUse {
  /** The sum of the holders' seats. */
  inUse: number;
  waiters: number;
  waitingSeats: number;
  /** user → what they hold; a user whose last lease ended is removed. */
  holders: Map<string, Holding>;
}

interface Holding {
  leases: number;
  seats: number;
}

/** What `use()` answers for a feature × group with nothing live (never changed). */
const IDLE: Readonly<LiveUse> = { inUse: 0, waiters: 0, waitingSeats: 0, holders: new Map() };
const isIdle = (u: LiveUse) => u.inUse === 0 && u.waiters === 0 && u.holders.size === 0;
/** A shared lease joins a seat another lease of its user holds: it takes none of its own. */
const seatsOf = (lease: AuditLease) => (lease.shared ? 0 : lease.count);

export class LiveCounts {
  /** feature → group (and '*') → live use; idle entries are removed. */
  private readonly byFeature = new Map<string, Map<string, LiveUse>>();
  private readonly waiters = new Map<string, AuditWaiter>();

  /** Whether anything of the feature is held or waited for. */
  has(feature: string): boolean {
    return this.byFeature.has(feature);
  }

  /** The features with anything held or waited for. */
  features(): IterableIterator<string> {
    return this.byFeature.keys();
  }

  /** The feature's groups (and '*') with anything held or waited for; undefined when none. */
  groups(feature: string): ReadonlyMap<string, Readonly<LiveUse>> | undefined {
    return this.byFeature.get(feature);
  }

  use(feature: string, group: string): Readonly<LiveUse> {
    return this.byFeature.get(feature)?.get(group) ?? IDLE;
  }

  /** Counts a lease toward its group and the feature total. */
  addLease(lease: AuditLease): void {
    this.hold(lease.feature, groupOf(lease), lease.user, 1, seatsOf(lease));
  }

  /** Counts `leases` leases of `user` taking `seats` (a grant, or a holding read back). */
  hold(feature: string, group: string, user: string, leases: number, seats: number): void {
    const groups = this.groupsOf(feature);
    hold(useIn(groups, group), user, leases, seats);
    hold(useIn(groups, ALL_GROUPS), user, leases, seats);
  }

  /** Takes an ended lease out of the counts (see the header for one they never held). */
  removeLease(lease: AuditLease): void {
    const groups = this.byFeature.get(lease.feature);
    const group = groupOf(lease);
    const use = groups?.get(group);
    const held = use?.holders.get(lease.user);
    if (groups === undefined || use === undefined || held === undefined) return; // never counted
    // The user's last counted lease here leaves nothing of theirs held.
    const seats = held.leases === 1 ? held.seats : Math.min(seatsOf(lease), held.seats);
    unhold(use, lease.user, held, seats);
    if (isIdle(use)) groups.delete(group);
    // The total holds at least what the group does: the same change keeps it the groups' sum.
    const total = groups.get(ALL_GROUPS);
    const totalHeld = total?.holders.get(lease.user);
    if (total !== undefined && totalHeld !== undefined) {
      unhold(total, lease.user, totalHeld, seats);
      if (isIdle(total)) groups.delete(ALL_GROUPS);
    }
    if (groups.size === 0) this.byFeature.delete(lease.feature);
  }

  addWaiter(waiter: AuditWaiter): void {
    if (this.waiters.has(waiter.ticket)) this.removeWaiter(waiter.ticket);
    this.waiters.set(waiter.ticket, copyWaiter(waiter));
    this.wait(waiter, 1);
  }

  removeWaiter(ticket: string): void {
    const waiter = this.waiters.get(ticket);
    if (!waiter) return;
    this.waiters.delete(ticket);
    this.wait(waiter, -1);
  }

  /** A restart or a stop: the waiters' connections are gone; what is held stays. */
  removeWaiters(): void {
    for (const ticket of this.waiters.keys()) this.removeWaiter(ticket);
  }

  /** Everything held, sorted by feature, group and user (the totals are their sums). */
  heldCounts(): HeldCount[] {
    const out: HeldCount[] = [];
    for (const [feature, groups] of this.byFeature) {
      for (const [group, use] of groups) {
        if (group === ALL_GROUPS) continue;
        for (const [user, h] of use.holders)
          out.push({ feature, group, user, leases: h.leases, seats: h.seats });
      }
    }
    return out.sort(
      (a, b) => compare(a.feature, b.feature) || compare(a.group, b.group) || compare(a.user, b.user),
    );
  }

  /** The waiters, in the order they queued. */
  waiterList(): AuditWaiter[] {
    return [...this.waiters.values()].map(copyWaiter);
  }

  /** A waiter for `count` seats enters (sign 1) or leaves (-1) its group's and the total's queue. */
  private wait(waiter: AuditWaiter, sign: 1 | -1): void {
    const groups = this.groupsOf(waiter.feature);
    queue(groups, groupOf(waiter), waiter.count, sign);
    queue(groups, ALL_GROUPS, waiter.count, sign);
    if (groups.size === 0) this.byFeature.delete(waiter.feature);
  }

  /** The feature's groups, created empty if need be (the caller drops it again if left so). */
  private groupsOf(feature: string): Map<string, LiveUse> {
    let groups = this.byFeature.get(feature);
    if (!groups) {
      groups = new Map();
      this.byFeature.set(feature, groups);
    }
    return groups;
  }
}

function copyWaiter(w: AuditWaiter): AuditWaiter {
  return {
    ticket: w.ticket,
    feature: w.feature,
    user: w.user,
    host: w.host,
    count: w.count,
    ...(w.group === undefined ? {} : { group: w.group }),
  };
}

/** The group's live use, created empty if need be. */
function useIn(groups: Map<string, LiveUse>, group: string): LiveUse {
  let u = groups.get(group);
  if (!u) {
    u = { inUse: 0, waiters: 0, waitingSeats: 0, holders: new Map() };
    groups.set(group, u);
  }
  return u;
}

function hold(u: LiveUse, user: string, leases: number, seats: number): void {
  const h = u.holders.get(user);
  if (h) {
    h.leases += leases;
    h.seats += seats;
  } else {
    u.holders.set(user, { leases, seats });
  }
  u.inUse += seats;
}

/** One lease of `h` (the user's holding in `u`) ends, freeing `seats` (at most h.seats). */
function unhold(u: LiveUse, user: string, h: Holding, seats: number): void {
  u.inUse -= seats;
  h.seats -= seats;
  h.leases--;
  if (h.leases === 0) u.holders.delete(user);
}

function queue(groups: Map<string, LiveUse>, group: string, count: number, sign: 1 | -1): void {
  const u = useIn(groups, group);
  u.waiters += sign;
  u.waitingSeats += sign * count;
  if (isIdle(u)) groups.delete(group);
}

/** Plain code-unit order, as rollups.ts sorts. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
