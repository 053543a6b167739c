/**
 * The well-behaved side of the hostile-client test (issue 9 §3): SDK clients that each hold a lease
 * and heartbeat, and run checkout/release cycles on a second feature whose latency is measured.
 * Also the test's own event-loop delay, so a slow figure can be told apart from a busy test process.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LeaseholdClient } from '../../src/client/client.js';
import type { Lease } from '../../src/client/lease.js';
import { onCleanup } from '../helpers/cleanup.js';

export interface Sample {
  phase: string;
  ms: number;
}

export class WellBehaved {
  /** What happened to the held leases and the clients: all of it must stay empty. */
  readonly lost: string[] = [];
  readonly errors: string[] = [];
  readonly disconnects: string[] = [];
  readonly samples: Sample[] = [];
  /** Cycle leases reported lost (LEASE_NOT_FOUND) while their release was in flight. */
  lostWhileReleasing = 0;
  phase = 'warm-up';
  #cycling = false;
  #loops: Promise<void>[] = [];
  readonly #loopDelay = monitorEventLoopDelay({ resolution: 10 });

  private constructor(
    readonly clients: LeaseholdClient[],
    readonly held: Lease[],
  ) {
    this.#loopDelay.enable();
  }

  /** Connects `n` clients, each holding one seat of `feature` (and heartbeating at the daemon's pace). */
  static async start(address: string, n: number, feature: string): Promise<WellBehaved> {
    const clients = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        LeaseholdClient.connect({
          servers: [address],
          user: `good-${i}`,
          host: 'ws',
          clientName: 'well-behaved',
          requestTimeoutMs: 20_000,
        }),
      ),
    );
    const held = await Promise.all(clients.map((c) => c.checkout(feature)));
    const w = new WellBehaved(clients, held);
    onCleanup(() => w.close());
    held.forEach((lease, i) => {
      lease.on('lost', (info) =>
        w.lost.push(`good-${i} ${lease.id}: ${info.code} ${info.reason} (${w.phase})`),
      );
    });
    clients.forEach((c, i) => {
      c.on('disconnected', (err) =>
        w.disconnects.push(`good-${i}: ${err?.message ?? 'closed'} (${w.phase})`),
      );
      c.on('error', (err) => w.errors.push(`good-${i}: ${err.message} (${w.phase})`));
    });
    return w;
  }

  /**
   * Every client loops: pause `pauseMs` (jittered ×0.5–1.5), check out one seat of `feature`
   * (timed), release it. Until stopCycles().
   */
  startCycles(feature: string, pauseMs: number): void {
    this.#cycling = true;
    this.#loops = this.clients.map(async (client, i) => {
      while (this.#cycling) {
        await new Promise((r) => setTimeout(r, pauseMs * (0.5 + Math.random())));
        if (!this.#cycling) break;
        const started = performance.now();
        try {
          const lease = await client.checkout(feature);
          this.samples.push({ phase: this.phase, ms: performance.now() - started });
          let releasing = false;
          lease.on('lost', (info) => {
            // An SDK race, not the daemon's doing: a heartbeat that crossed the checkin reports the
            // lease LEASE_NOT_FOUND, and the SDK marks it lost before it handles the checkin reply.
            if (releasing && info.code === 'LEASE_NOT_FOUND') this.lostWhileReleasing++;
            else this.lost.push(`good-${i} cycle ${lease.id}: ${info.code} (${this.phase})`);
          });
          releasing = true;
          await lease.release();
        } catch (err) {
          this.errors.push(`good-${i} cycle: ${(err as Error).message} (${this.phase})`);
        }
      }
    });
  }

  async stopCycles(): Promise<void> {
    this.#cycling = false;
    await Promise.all(this.#loops);
  }

  /** Leases still valid on the client side (the SDK's deadline, DESIGN §3.3, has not passed). */
  validCount(): number {
    return this.held.filter((l) => l.valid).length;
  }

  /** The test process's own event-loop delay (p99 and max, ms) since the start. */
  loopDelay(): { p99: number; max: number } {
    return { p99: this.#loopDelay.percentile(99) / 1e6, max: this.#loopDelay.max / 1e6 };
  }

  async close(): Promise<void> {
    this.#cycling = false;
    this.#loopDelay.disable();
    await Promise.all(this.clients.map((c) => c.close()));
  }
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
