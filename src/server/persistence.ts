/**
 * The daemon's durable state (DESIGN §3.6, issue 5): recovery at start (newest good snapshot +
 * journal replay, then restart grace for every session), every engine state change appended to
 * the journal (replies wait for it: see ClientConnection), periodic snapshots with journal
 * compaction, a final snapshot at shutdown, and a fatal stop on any write or fsync error.
 */
import type { Config } from '../config/types.js';
import type { Clock } from '../engine/clock.js';
import { LeaseEngine } from '../engine/engine.js';
import { type JournalRecord, toJournalRecord } from '../engine/journal-records.js';
import type { EngineEventName, EngineEvents } from '../engine/types.js';
import {
  type JournalFaults,
  JournalWriter,
  listSnapshots,
  recover,
  type StoreFailedError,
  writeSnapshot,
} from '../store/index.js';
import type { DurabilityGate } from './context.js';
import type { Logger } from './logger.js';

/**
 * The engine events that may carry a state change; toJournalRecord decides which are kept.
 * Exported for bench/engine-cycles.mjs, which attaches the daemon's listeners to a bare engine.
 */
export const JOURNALED_EVENTS: readonly EngineEventName[] = [
  'sessionOpened',
  'sessionEnded',
  'granted',
  'released',
  'reclaimed',
  'directoryChanged',
  'seatsChanged',
  'blocked',
  'unblocked',
  'configBaseline',
];

/** Taken at load, so tests that fake timers do not hold back a snapshot (as in store/journal.ts). */
const startSoon: (callback: () => void) => unknown = globalThis.setImmediate;

export interface PersistenceOptions {
  clock: Clock;
  logger: Logger;
  forceRecover?: boolean;
  /** Test-only: make the journal's writes or fsyncs fail. */
  faults?: JournalFaults;
  /** Wall clock (epoch ms) for the engine's block ends; default Date.now. Tests fake it. */
  wallClock?: () => number;
  onFatal: (err: StoreFailedError) => void;
  /** After each journal fsync: its duration and the records it made durable (metrics). */
  onSync?: (ms: number, records: number) => void;
}

export class Persistence implements DurabilityGate {
  #snapshotTimer: NodeJS.Timeout | undefined;
  #snapshotting: Promise<void> | undefined;
  /** The journal seq the newest snapshot covers (the recovered one, then each one written). */
  #snapshotSeq = 0;
  /** A snapshot for `snapshot_records` is queued for the next turn of the event loop. */
  #snapshotQueued = false;
  #closed = false;

  private constructor(
    readonly engine: LeaseEngine,
    readonly journal: JournalWriter,
    private readonly config: Config,
    private readonly logger: Logger,
  ) {}

  static async open(config: Config, options: PersistenceOptions): Promise<Persistence> {
    const { logger } = options;
    const dir = config.server.stateDir;
    // The records come in one array, without a {seq, record} around each, and the snapshot's number
    // columns stay typed arrays: the restore only indexes them (a million of each after a crash).
    const recovered = await recover(dir, {
      forceRecover: options.forceRecover ?? false,
      typedColumns: true,
    });
    for (const warning of recovered.warnings) logger.warn({ stateDir: dir }, `recovery: ${warning}`);
    for (const dropped of recovered.dropped) logger.error({ stateDir: dir }, `recovery dropped: ${dropped}`);
    const s = config.server;
    const engineOptions = {
      clock: options.clock,
      leaseTtlMs: s.leaseTtlMs,
      features: config.features,
      directory: config.directory,
      maxLeasesPerSession: s.maxLeasesPerSession,
      ...(options.wallClock ? { wallClock: options.wallClock } : {}),
    };
    const journal = await JournalWriter.open(dir, {
      lastSeq: recovered.lastSeq,
      durability: s.durability,
      onFatal: options.onFatal,
      ...(options.onSync ? { onSync: options.onSync } : {}),
      ...(options.faults ? { faults: options.faults } : {}),
    });
    // Set once the Persistence exists; the engine announces nothing while it restores.
    let appended = (): void => undefined;
    const engine = LeaseEngine.restore(
      engineOptions,
      recovered.snapshot?.state as Parameters<typeof LeaseEngine.restore>[1],
      recovered.records as JournalRecord[],
      { graceMs: Math.max(s.restartGraceMs, s.leaseTtlMs), firstSeq: recovered.firstSeq },
      (engine) => subscribe(engine, journal, () => appended()),
    );
    const persistence = new Persistence(engine, journal, config, logger);
    persistence.#snapshotSeq = recovered.snapshot?.seq ?? 0;
    appended = () => persistence.#afterAppend();
    const leases = engine.leaseCount;
    logger.info(
      {
        stateDir: dir,
        snapshotSeq: recovered.snapshot?.seq ?? 0,
        replayed: recovered.records.length,
        lastSeq: recovered.lastSeq,
        leases,
        fencing: engine.fencing,
        durability: s.durability,
      },
      leases > 0
        ? `recovered ${leases} leases; their sessions have ${s.restartGraceMs} ms to resume`
        : 'state recovered',
    );
    // A first snapshot fixes the starting point: replaying a journal alone would start from the
    // config's directory, which may have changed since.
    if (!recovered.snapshot) await persistence.snapshot();
    persistence.#scheduleSnapshot();
    return persistence;
  }

  get lastSeq(): number {
    return this.journal.lastSeq;
  }

  get durableSeq(): number {
    return this.journal.durableSeq;
  }

  whenDurable(seq: number): Promise<void> {
    return this.journal.whenDurable(seq);
  }

  /** Writes a snapshot of the whole table and compacts the journal behind the older kept one. */
  snapshot(): Promise<void> {
    if (this.#snapshotting) return this.#snapshotting;
    this.#snapshotting = this.#writeSnapshot().finally(() => {
      this.#snapshotting = undefined;
    });
    return this.#snapshotting;
  }

  /** The final snapshot, then the journal closed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#snapshotTimer) clearTimeout(this.#snapshotTimer);
    try {
      if (!this.journal.failed) await this.snapshot();
    } finally {
      await this.journal.close();
    }
  }

  async #writeSnapshot(): Promise<void> {
    const dir = this.config.server.stateDir;
    const seq = this.journal.lastSeq;
    const started = performance.now();
    const state = this.engine.exportState();
    const file = await writeSnapshot(dir, seq, state, { waitFor: this.journal.whenDurable(seq) });
    this.#snapshotSeq = seq;
    await this.journal.rotate();
    const kept = await listSnapshots(dir);
    const oldest = kept.at(-1);
    const compacted = oldest ? await this.journal.compact(oldest.seq) : [];
    this.logger.info(
      {
        file,
        seq,
        leases: this.engine.leaseCount,
        ms: Math.round(performance.now() - started),
        compacted: compacted.length,
      },
      'snapshot written',
    );
  }

  /**
   * After each journal record: once `snapshot_records` have been appended since the newest
   * snapshot, write one (on the next turn of the event loop, never inside the engine's event), so
   * a restart after a crash replays at most about that many records.
   */
  #afterAppend(): void {
    const every = this.config.server.snapshotRecords;
    if (every === 0 || this.#snapshotQueued || this.#snapshotting || this.#closed) return;
    if (this.journal.lastSeq - this.#snapshotSeq < every) return;
    this.#snapshotQueued = true;
    startSoon(() => {
      this.#snapshotQueued = false;
      if (this.#closed || this.journal.failed) return;
      this.snapshot().catch((err: unknown) => this.logger.error({ err }, 'snapshot failed'));
    });
  }

  #scheduleSnapshot(): void {
    if (this.#closed) return;
    this.#snapshotTimer = setTimeout(() => {
      this.snapshot()
        .catch((err: unknown) => this.logger.error({ err }, 'snapshot failed'))
        .finally(() => this.#scheduleSnapshot());
    }, this.config.server.snapshotIntervalMs);
    this.#snapshotTimer.unref();
  }
}

/** Every state change the engine announces goes to the journal as it happens. */
function subscribe(engine: LeaseEngine, journal: JournalWriter, appended: () => void): void {
  for (const name of JOURNALED_EVENTS) {
    engine.on(name, (payload: EngineEvents[typeof name]) => {
      const record = toJournalRecord(name, payload);
      if (record) {
        journal.append(record);
        appended();
      }
    });
  }
}
