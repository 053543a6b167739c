/**
 * Seat alerts (issue 7 §4): the vendors' "no concurrent seats are available" and "concurrent seats
 * are running out", with hysteresis. Pure: it reads the engine and hands notifications to an
 * injected `notify`; delivery (log, webhooks, command) is alert-delivery.ts.
 *
 * Every alert is "free ≤ T" over the seats it watches (config/alerts.ts alertThreshold): the
 * feature's concurrent pool, or one group's share of it (capacity = the group's max, else the pool).
 *
 * Hysteresis, per alert: armed → (free ≤ T) → fired: one `exhausted` / `running_out` notification.
 * A fired alert stays quiet however usage moves inside the band, and re-arms only once free ≥
 * T + rearm_margin (at most the capacity); re-arming sends one `recovered` notification, which is
 * not a firing (receivers that want only firings drop kind = "recovered").
 *
 * When: after the engine events that move seats (granted, released, reclaimed, seatsChanged), only
 * the alerts of that feature, and batched: the events of one engine call (an endSession releasing
 * 100 leases) or of one burst of synchronous calls are evaluated once, a microtask later, against
 * the state they left (read with featureStatus(F, { leases: false }), which costs O(groups), not
 * O(leases)). A state that exists only inside such a burst does not fire.
 * At construction and on update() every alert is evaluated: alert state is not persisted, so a
 * pool already exhausted when the daemon starts notifies once.
 */
import { type AlertConfig, alertThreshold, defaultRearmMargin } from '../config/alerts.js';
import type { EngineEventName, EngineEvents, FeatureStatus } from '../engine/types.js';

export const AlertKind = {
  Exhausted: 'exhausted',
  RunningOut: 'running_out',
  Recovered: 'recovered',
} as const;
export type AlertKind = (typeof AlertKind)[keyof typeof AlertKind];

/** The JSON body of a notification (snake_case, like the wire). */
export interface AlertNotification {
  readonly alert: string;
  readonly kind: AlertKind;
  readonly feature: string;
  readonly group?: string;
  /** The seats the alert watches: the concurrent pool, or the group's max. */
  readonly capacity: number;
  /** Seats in use and free of `capacity`; null in a test notification (not read from a daemon). */
  readonly in_use: number | null;
  readonly free: number | null;
  /** The alert fires when free ≤ threshold. */
  readonly threshold: number;
  /** A fired alert re-arms (with a `recovered` notification) when free ≥ rearm_at. */
  readonly rearm_at: number;
  /** One line for people. */
  readonly message: string;
  /** ISO 8601, UTC. */
  readonly time: string;
  readonly test?: true;
}

/** What the evaluator needs of a LeaseEngine. */
export interface AlertEngineView {
  featureStatus(name?: string, options?: { leases?: boolean }): readonly FeatureStatus[];
  on<E extends EngineEventName>(name: E, listener: (payload: EngineEvents[E]) => void): unknown;
  off<E extends EngineEventName>(name: E, listener: (payload: EngineEvents[E]) => void): unknown;
}

export interface AlertEvaluatorOptions {
  readonly engine: AlertEngineView;
  readonly alerts: readonly AlertConfig[];
  /** Called synchronously for each notification; must not throw (errors go to onError). */
  readonly notify: (notification: AlertNotification) => void;
  readonly onError?: (err: unknown) => void;
  /** Wall clock (epoch ms) for `time`; default Date.now. */
  readonly wallClock?: () => number;
  /** How a batched evaluation is run later; default queueMicrotask. */
  readonly schedule?: (run: () => void) => void;
}

export interface AlertState {
  readonly alert: string;
  readonly feature: string;
  readonly group?: string;
  /** True from a firing until the alert re-arms. */
  readonly fired: boolean;
}

interface Watch {
  readonly config: AlertConfig;
  fired: boolean;
}

/** The numbers an alert is judged on. */
interface Reading {
  readonly seats: number;
  readonly capacity: number;
  readonly inUse: number;
  readonly free: number;
  readonly threshold: number;
  readonly rearmAt: number;
}

const SEAT_EVENTS = ['granted', 'released', 'reclaimed'] as const;

export class AlertEvaluator {
  readonly #engine: AlertEngineView;
  readonly #notify: (notification: AlertNotification) => void;
  readonly #onError: (err: unknown) => void;
  readonly #wallClock: () => number;
  readonly #schedule: (run: () => void) => void;
  /** By feature, so an event looks at its feature's alerts only. */
  #byFeature = new Map<string, Watch[]>();
  readonly #dirty = new Set<string>();
  #scheduled = false;
  #closed = false;

  readonly #onLease = ({ lease }: { readonly lease: { readonly feature: string } }): void =>
    this.#touch(lease.feature);
  readonly #onSeats = ({ feature }: EngineEvents['seatsChanged']): void => this.#touch(feature);

  constructor(options: AlertEvaluatorOptions) {
    this.#engine = options.engine;
    this.#notify = options.notify;
    this.#onError = options.onError ?? (() => {});
    this.#wallClock = options.wallClock ?? Date.now;
    this.#schedule = options.schedule ?? queueMicrotask;
    for (const name of SEAT_EVENTS) this.#engine.on(name, this.#onLease);
    this.#engine.on('seatsChanged', this.#onSeats);
    this.update(options.alerts);
  }

  /**
   * A reload: takes the new alert list. An alert keeps its state when its name, feature, group and
   * condition are unchanged (a new margin or new targets keep it too); a new or redefined alert
   * starts armed. Every alert is then evaluated against the current state.
   */
  update(alerts: readonly AlertConfig[]): void {
    if (this.#closed) return;
    const before = new Map<string, Watch>();
    for (const watches of this.#byFeature.values()) for (const w of watches) before.set(w.config.name, w);
    const next = new Map<string, Watch[]>();
    for (const config of alerts) {
      const old = before.get(config.name);
      const watch: Watch = {
        config,
        fired: old !== undefined && sameDefinition(old.config, config) && old.fired,
      };
      const list = next.get(config.feature);
      if (list) list.push(watch);
      else next.set(config.feature, [watch]);
    }
    this.#byFeature = next;
    this.#dirty.clear();
    for (const feature of next.keys()) this.#evaluate(feature);
  }

  /** Evaluates the features touched since the last evaluation now (tests; the schedule does it). */
  flush(): void {
    this.#scheduled = false;
    if (this.#closed) return;
    const features = [...this.#dirty];
    this.#dirty.clear();
    for (const feature of features) this.#evaluate(feature);
  }

  /** Every alert's state, in configuration order within each feature. */
  states(): AlertState[] {
    const out: AlertState[] = [];
    for (const watches of this.#byFeature.values()) {
      for (const { config, fired } of watches) {
        out.push({
          alert: config.name,
          feature: config.feature,
          ...(config.group === undefined ? {} : { group: config.group }),
          fired,
        });
      }
    }
    return out;
  }

  /** Stops listening to the engine; nothing is evaluated or notified after this. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const name of SEAT_EVENTS) this.#engine.off(name, this.#onLease);
    this.#engine.off('seatsChanged', this.#onSeats);
    this.#dirty.clear();
  }

  #touch(feature: string): void {
    if (this.#closed || !this.#byFeature.has(feature)) return;
    this.#dirty.add(feature);
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#schedule(() => this.flush());
  }

  #evaluate(feature: string): void {
    const watches = this.#byFeature.get(feature);
    if (!watches) return;
    let status: FeatureStatus | undefined;
    try {
      status = this.#engine.featureStatus(feature, { leases: false })[0];
    } catch {
      // The feature was just removed by a reload; update() with the new alert list follows.
      return;
    }
    if (!status) return;
    for (const watch of watches) {
      const reading = read(watch.config, status);
      if (!reading) continue;
      const kind = step(watch, reading);
      if (kind === undefined) continue;
      const notification = buildNotification(watch.config, kind, reading, this.#wallClock());
      try {
        this.#notify(notification);
      } catch (err) {
        this.#onError(err);
      }
    }
  }
}

/** Applies one reading to an alert's state; returns the notification kind to send, if any. */
function step(watch: Watch, r: Reading): AlertKind | undefined {
  if (!watch.fired) {
    if (r.free > r.threshold) return undefined;
    watch.fired = true;
    return watch.config.condition.when === 'exhausted' ? AlertKind.Exhausted : AlertKind.RunningOut;
  }
  // `free > threshold` too: a band squeezed to nothing (capacity ≤ threshold) must not flap.
  if (r.free >= r.rearmAt && r.free > r.threshold) {
    watch.fired = false;
    return AlertKind.Recovered;
  }
  return undefined;
}

function read(config: AlertConfig, status: FeatureStatus): Reading | undefined {
  let capacity = status.concurrentSeats;
  let inUse = status.concurrentInUse;
  if (config.group !== undefined) {
    const group = status.groups.find((g) => g.name === config.group);
    // A reload dropped the group's rule; update() with the new alert list follows.
    if (!group) return undefined;
    capacity = group.max ?? capacity;
    inUse = group.inUse;
  }
  return {
    seats: status.seats,
    ...bands(config, capacity),
    capacity,
    inUse,
    free: Math.max(0, capacity - inUse),
  };
}

/** The threshold and the re-arm point for a capacity. */
export function bands(config: AlertConfig, capacity: number): { threshold: number; rearmAt: number } {
  const threshold = alertThreshold(config.condition, capacity);
  const margin = config.rearmMargin ?? defaultRearmMargin(capacity);
  return { threshold, rearmAt: Math.min(threshold + margin, capacity) };
}

function sameDefinition(a: AlertConfig, b: AlertConfig): boolean {
  return (
    a.feature === b.feature &&
    a.group === b.group &&
    JSON.stringify(a.condition) === JSON.stringify(b.condition)
  );
}

function subject(config: AlertConfig): string {
  return config.group === undefined
    ? `'${config.feature}'`
    : `'${config.feature}' for group '${config.group}'`;
}

function buildNotification(config: AlertConfig, kind: AlertKind, r: Reading, now: number): AlertNotification {
  return {
    alert: config.name,
    kind,
    feature: config.feature,
    ...(config.group === undefined ? {} : { group: config.group }),
    capacity: r.capacity,
    in_use: r.inUse,
    free: r.free,
    threshold: r.threshold,
    rearm_at: r.rearmAt,
    message: alertMessage(config, kind, r),
    time: new Date(now).toISOString(),
  };
}

/** The human line: "No concurrent seats of 'cad' are available (10 of 10 in use)." and friends. */
export function alertMessage(
  config: AlertConfig,
  kind: AlertKind,
  r: Pick<Reading, 'capacity' | 'inUse' | 'free' | 'threshold'>,
): string {
  const of = subject(config);
  switch (kind) {
    case AlertKind.Exhausted:
      return `No concurrent seats of ${of} are available (${r.inUse} of ${r.capacity} in use).`;
    case AlertKind.RunningOut:
      return (
        `Concurrent seats of ${of} are running out: ${r.free} of ${r.capacity} free ` +
        `(alert when ≤ ${r.threshold}).`
      );
    case AlertKind.Recovered:
      return (
        `Concurrent seats of ${of} are available again: ${r.free} of ${r.capacity} free ` +
        `(alert '${config.name}' re-armed).`
      );
  }
}

/**
 * `leasehold alerts test NAME`: a notification of the alert's own kind, marked `test: true`. The
 * capacity is the configured one (`capacity` from alertCapacity); current usage is not known.
 */
export function testNotification(config: AlertConfig, capacity: number, now: number): AlertNotification {
  const kind = config.condition.when === 'exhausted' ? AlertKind.Exhausted : AlertKind.RunningOut;
  const { threshold, rearmAt } = bands(config, capacity);
  const what =
    kind === AlertKind.Exhausted
      ? `no concurrent seats of ${subject(config)} are available`
      : `concurrent seats of ${subject(config)} are running out (alert when ≤ ${threshold} of ${capacity} free)`;
  return {
    alert: config.name,
    kind,
    feature: config.feature,
    ...(config.group === undefined ? {} : { group: config.group }),
    capacity,
    in_use: null,
    free: null,
    threshold,
    rearm_at: rearmAt,
    message: `Test of alert '${config.name}': this is how you will hear that ${what}. Current usage: test, not read.`,
    time: new Date(now).toISOString(),
    test: true,
  };
}
