/**
 * Issue 9 §1: what every client saw, and a checker of DESIGN §3 on it (in the spirit of etcd's
 * robustness tests and Jepsen: inject the fault, record the history, check the history).
 *
 * Every event carries `t`, milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC through
 * process.hrtime), which every process on the host shares: a child client's events and the test's
 * own land on one time line, and SIGSTOP does not stop it. The SDK's deadlines are on its
 * performance.now() clock; `toMonotonic` moves them to that time line (same source, fixed offset).
 *
 * Child processes (test/robustness/client-host.mjs) write the same events as JSON lines. The
 * checker is check-history.ts.
 */
import type { CheckoutOptions, LeaseholdClient } from '../../src/client/client.js';
import type { Lease, LeaseLostInfo } from '../../src/client/lease.js';

/** Milliseconds on the host's monotonic clock, comparable across processes. */
export function monoNow(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** performance.now() and process.hrtime read the same clock (uv_hrtime), a fixed offset apart. */
const PERF_OFFSET = monoNow() - performance.now();

/** A time on this process's performance.now() clock (the SDK's) on the shared monotonic time line. */
export function toMonotonic(perfMs: number): number {
  return perfMs + PERF_OFFSET;
}

interface EventBase {
  /** Monotonic ms (monoNow). */
  readonly t: number;
  /** Who saw it: one name per client (per SDK session owner). */
  readonly client: string;
}

/** The SDK's client-side deadline (client.validUntil, DESIGN §3.3) at that moment, monotonic ms. */
type WithDeadline = { readonly deadline: number };

export type HistoryEvent = EventBase &
  (
    | {
        readonly type: 'checkout:invoke';
        readonly op: number;
        readonly feature: string;
        readonly count: number;
        /** The checkout's `wait` (ms), when it had one. */
        readonly wait?: number;
      }
    | ({
        readonly type: 'checkout:ok';
        readonly op: number;
        readonly lease: string;
        readonly feature: string;
        readonly count: number;
        readonly fencing: number;
      } & WithDeadline)
    | { readonly type: 'checkout:fail'; readonly op: number; readonly code: string }
    | ({ readonly type: 'release:invoke'; readonly op: number; readonly lease: string } & WithDeadline)
    | { readonly type: 'release:ok'; readonly op: number; readonly lease: string }
    | { readonly type: 'release:fail'; readonly op: number; readonly lease: string; readonly code: string }
    /** The SDK's 'lost' event. */
    | ({
        readonly type: 'lost';
        readonly lease: string;
        readonly code: string;
        readonly reason: string;
      } & WithDeadline)
    /** The client-side deadline moved (a heartbeat or a checkout was acknowledged). */
    | ({ readonly type: 'deadline' } & WithDeadline)
    /** The application used what the lease protects (it checked `lease.valid` first). */
    | { readonly type: 'use'; readonly lease: string }
    /** The run ended with the lease still held by this client. */
    | ({ readonly type: 'held'; readonly lease: string } & WithDeadline)
  );

export type EventOf<T extends HistoryEvent['type']> = Extract<HistoryEvent, { type: T }>;

/** The events of one type, typed. */
export function eventsOf<T extends HistoryEvent['type']>(
  events: readonly HistoryEvent[],
  type: T,
): EventOf<T>[] {
  return events.filter((e): e is EventOf<T> => e.type === type);
}

/** The error code a failed call is recorded with. */
export function codeOf(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown } | undefined;
  if (e && typeof e.code === 'string') return e.code;
  if (e && typeof e.name === 'string') return e.name;
  return 'UNKNOWN';
}

/** The whole history of a run: in-process clients record into it, child clients' lines are added. */
export class HistoryRecorder {
  readonly events: HistoryEvent[] = [];
  #ops = 0;

  record(event: HistoryEvent): void {
    this.events.push(event);
  }

  nextOp(): number {
    return ++this.#ops;
  }

  /** Wraps an SDK client: its calls, losses and deadline moves are recorded under `name`. */
  wrap(name: string, client: LeaseholdClient, options: { sampleMs?: number } = {}): RecordedClient {
    return new RecordedClient(this, name, client, options.sampleMs ?? 50);
  }

  /**
   * Adds one JSON line a child client wrote (client-host.mjs). Lines that are not events (the
   * child's control lines, `{"type":"$..."}`) are returned for the caller, events are recorded.
   */
  ingest(line: string): { type: string; [key: string]: unknown } | undefined {
    const parsed = JSON.parse(line) as { type: string; t?: number };
    if (parsed.type.startsWith('$')) return parsed;
    this.events.push(parsed as HistoryEvent);
    return undefined;
  }

  /** The events sorted by time (children's lines arrive late and interleaved). */
  sorted(): HistoryEvent[] {
    return [...this.events].sort((a, b) => a.t - b.t);
  }

  count(type: HistoryEvent['type']): number {
    return this.events.filter((e) => e.type === type).length;
  }
}

/** An SDK client whose every checkout, release and loss goes into the history. */
export class RecordedClient {
  readonly #sampler: NodeJS.Timeout;
  #lastDeadline = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly recorder: HistoryRecorder,
    readonly name: string,
    readonly client: LeaseholdClient,
    sampleMs: number,
  ) {
    // The SDK announces no heartbeat acknowledgement: sample the deadline to see it move.
    this.#sampler = setInterval(() => this.#sampleDeadline(), sampleMs);
    this.#sampler.unref();
  }

  get deadline(): number {
    return toMonotonic(this.client.validUntil);
  }

  async checkout(feature: string, options: CheckoutOptions = {}): Promise<Lease> {
    const op = this.recorder.nextOp();
    const count = options.count ?? 1;
    this.#record({ type: 'checkout:invoke', op, feature, count, wait: options.wait ?? 0 });
    let lease: Lease;
    try {
      lease = await this.client.checkout(feature, options);
    } catch (err) {
      this.#record({ type: 'checkout:fail', op, code: codeOf(err) });
      throw err;
    }
    this.#record({
      type: 'checkout:ok',
      op,
      lease: lease.id,
      feature: lease.feature,
      count: lease.count,
      fencing: lease.fencingToken,
      deadline: this.deadline,
    });
    const onLost = (info: LeaseLostInfo) =>
      this.#record({
        type: 'lost',
        lease: lease.id,
        code: info.code,
        reason: info.reason,
        deadline: this.deadline,
      });
    if (lease.state === 'lost') onLost({ code: 'UNKNOWN', reason: 'lost before adopted', message: '' });
    else lease.once('lost', onLost);
    return lease;
  }

  async release(lease: Lease): Promise<void> {
    const op = this.recorder.nextOp();
    this.#record({ type: 'release:invoke', op, lease: lease.id, deadline: this.deadline });
    try {
      await lease.release();
    } catch (err) {
      this.#record({ type: 'release:fail', op, lease: lease.id, code: codeOf(err) });
      throw err;
    }
    this.#record({ type: 'release:ok', op, lease: lease.id });
  }

  /** Uses what the lease protects if, and only if, the SDK says it is valid. */
  use(lease: Lease): boolean {
    if (!lease.valid) return false;
    this.#record({ type: 'use', lease: lease.id });
    return true;
  }

  /** The end of the run: the leases this client still holds are recorded as held. */
  finish(): void {
    clearInterval(this.#sampler);
    for (const lease of this.client.leases) {
      if (lease.state === 'held') this.#record({ type: 'held', lease: lease.id, deadline: this.deadline });
    }
  }

  #sampleDeadline(): void {
    const deadline = this.deadline;
    if (deadline === this.#lastDeadline) return;
    this.#lastDeadline = deadline;
    this.#record({ type: 'deadline', deadline });
  }

  #record(event: DistributiveOmit<HistoryEvent, 't' | 'client'>): void {
    this.recorder.record({ ...event, t: monoNow(), client: this.name } as HistoryEvent);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
