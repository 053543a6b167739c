/**
 * Usage history for the running daemon (issue 7): every engine event that belongs in the audit
 * trail, every admin action, reloads, start and stop become audit lines (src/reports/audit-log.ts),
 * and each line also feeds the hourly usage rollups (src/reports/rollups.ts), which are saved to
 * `usage.json` every `[usage] save_interval` and at stop. The rollups are computed from the audit
 * records alone, so at start they catch up with whatever the audit trail holds beyond their last
 * save (a crash loses neither), and `report usage --source audit` can rebuild them.
 *
 * Catching up runs in the background (issue 8: after a crash with a million leases it replays a
 * million lines, seconds the daemon should spend listening). The rollups still take every record
 * in seq order: the catch-up reads the trail up to the seq it had when opened, and the records
 * appended meanwhile wait in memory and are applied once it is done. Until then nothing is saved
 * (a save waits for it), so usage.json never holds rollups that skipped a record. A catch-up that
 * fails (the trail cannot be read; a damaged line is skipped, as ever) is logged and the daemon
 * runs on, but its rollups are neither updated nor saved again: usage.json keeps its last save, and
 * the next start, or a report, catches up from the trail. While catching up, `rollups` are those
 * of a prefix of the trail (everything up to `rollups.lastSeq`), behind the daemon; nothing in the
 * daemon reads them meanwhile (metrics and alerts read the engine; reports read usage.json and the
 * trail).
 *
 * Appending is synchronous and cheap (the audit log writes in batches, asynchronously), so nothing
 * here slows a checkout beyond the journal's own cost.
 */
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import type { LeaseEngine } from '../engine/engine.js';
import {
  type AuditEvent,
  auditEngineEvents,
  auditLease,
  START_LEASE_LIMIT,
} from '../reports/audit-events.js';
import { AuditLog } from '../reports/audit-log.js';
import type { UsageRollups } from '../reports/rollups.js';
import { catchUp, loadUsage, saveUsage } from '../reports/usage-store.js';
import type { Logger } from './logger.js';

export interface HistoryOptions {
  readonly config: Config;
  readonly engine: LeaseEngine;
  /** The engine's monotonic clock. */
  readonly now: () => number;
  /** Wall clock (epoch ms) for the audit lines; default Date.now. */
  readonly wallClock?: () => number;
  readonly logger: Logger;
  readonly version: string;
}

/** Where the rollups stand against the trail (see the header). */
type RollupsState = 'catching-up' | 'current' | 'failed';

/** A record appended while catching up, with its seq and time, waiting its turn. */
interface PendingRecord {
  readonly event: AuditEvent;
  readonly seq: number;
  readonly ms: number;
}

export class History {
  #unsubscribe: (() => void) | undefined;
  #saveTimer: NodeJS.Timeout | undefined;
  #saving: Promise<void> = Promise.resolve();
  #closed = false;
  #state: RollupsState = 'catching-up';
  #pending: PendingRecord[] = [];
  /** Settles (never rejects) once the catch-up is over, caught up or failed. */
  #caughtUp: Promise<void> = Promise.resolve();

  private constructor(
    private readonly audit: AuditLog,
    private readonly wallClock: () => number,
    readonly rollups: UsageRollups,
    private readonly stateDir: string,
    private readonly options: HistoryOptions,
  ) {}

  static async open(options: HistoryOptions): Promise<History> {
    const { config, logger } = options;
    const stateDir = config.server.stateDir;
    const wallClock = options.wallClock ?? Date.now;
    const audit = await AuditLog.open({
      dir: join(stateDir, 'audit'),
      retentionMs: config.history.auditRetentionMs,
      wallClock,
      onError: (err) => logger.error({ err }, 'audit trail: write failed'),
    });
    const rollups = await loadUsage(stateDir);
    const history = new History(audit, wallClock, rollups, stateDir, options);
    // Before the first append: the catch-up reads the trail this far, History.record the rest.
    history.#caughtUp = history.#catchUp(audit.lastSeq);
    history.#unsubscribe = auditEngineEvents(options.engine, options.now, (event) => history.record(event));
    const { engine } = options;
    const leaseCount = engine.leaseCount;
    history.record({
      t: 'start',
      version: options.version,
      features: engine
        .featureStatus(undefined, { leases: false })
        .map((f) => ({ name: f.name, seats: f.seats })),
      leaseCount,
      ...(leaseCount <= START_LEASE_LIMIT ? { leases: engine.listLeases().map(auditLease) } : {}),
    });
    // A tick while catching up is skipped rather than queued behind it.
    history.#saveTimer = setInterval(() => {
      if (history.#state === 'current') void history.save();
    }, config.history.usageSaveIntervalMs);
    history.#saveTimer.unref();
    return history;
  }

  /**
   * Resolves once the rollups have caught up with the audit trail and every record appended since
   * (or once catching up failed: it never rejects).
   */
  caughtUp(): Promise<void> {
    return this.#caughtUp;
  }

  /** Applies the trail up to `toSeq` (the records after it wait in #pending), then those. */
  async #catchUp(toSeq: number): Promise<void> {
    const { logger } = this.options;
    const from = this.rollups.lastSeq;
    try {
      const records = await catchUp(this.rollups, this.stateDir, { toSeq });
      if (records > 0) {
        logger.info({ records, fromSeq: from, toSeq }, 'usage rollups caught up from the audit trail');
      }
    } catch (err) {
      this.#state = 'failed';
      this.#pending = [];
      logger.error(
        { err, fromSeq: from, atSeq: this.rollups.lastSeq },
        'usage rollups: catching up from the audit trail failed; they are not updated or saved until the next start',
      );
      return;
    }
    // Synchronously, so no record is appended between these and the state change.
    for (const { event, seq, ms } of this.#pending) this.rollups.applyEvent(event, seq, ms);
    this.#pending = [];
    this.#state = 'current';
  }

  /**
   * Appends one event to the audit trail and the rollups; returns its seq (undefined once closed).
   * The rollups take the event itself with its seq and time, as the line records them: no record
   * object is built for them (this runs twice per checkout + checkin cycle).
   */
  record(event: AuditEvent): number | undefined {
    if (this.#closed) return undefined;
    const now = this.wallClock();
    const seq = this.audit.append(event, now);
    if (this.#state === 'failed') return seq;
    // The record's time as the trail keeps it (whole ms: its ISO \`ts\` truncates as Date does, and
    // \`+ 0\` turns -0 into 0 as Date.parse would): the rollups must see what a rebuild sees.
    const ms = Math.trunc(now) + 0;
    if (this.#state === 'current') this.rollups.applyEvent(event, seq, ms);
    else this.#pending.push({ event, seq, ms });
    return seq;
  }

  /** A reload: the audit line, and the licensed seats of features added (and 0 for removed ones). */
  reloaded(result: { added: string[]; removed: string[]; changed: string[] }): void {
    this.record({ t: 'reload', added: result.added, removed: result.removed, changed: result.changed });
    for (const name of result.added) {
      const seats = this.options.engine.featureConfig(name)?.seats;
      if (seats !== undefined) this.record({ t: 'seats', feature: name, seats });
    }
    for (const name of result.removed) this.record({ t: 'seats', feature: name, seats: 0 });
  }

  /**
   * Writes usage.json (atomically); one save at a time. It waits for the catch-up, and after a
   * failed one writes nothing.
   */
  save(): Promise<void> {
    this.#saving = this.#saving
      .then(async () => {
        await this.#caughtUp;
        if (this.#state !== 'current') return;
        this.rollups.prune(this.wallClock(), this.options.config.history.usageRetentionMs);
        await saveUsage(this.stateDir, this.rollups);
      })
      .catch((err: unknown) => this.options.logger.error({ err }, 'usage rollups: save failed'));
    return this.#saving;
  }

  /**
   * The stop line, the audit trail flushed and closed, the rollups saved: after the catch-up, which
   * a stop soon after a crash waits for (saving less would leave the next start the same work).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.record({ t: 'stop' });
    this.#closed = true;
    this.#unsubscribe?.();
    if (this.#saveTimer) clearInterval(this.#saveTimer);
    await this.audit.close();
    await this.save();
  }
}
