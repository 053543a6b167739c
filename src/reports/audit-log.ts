/**
 * The audit trail (issue 7): an append-only JSON-lines log, one line per AuditEvent, in
 * `<dir>/audit-YYYY-MM-DD.jsonl` (the daemon passes `<state_dir>/audit`).
 *
 * Line format (fixed: the reader, the verifier and the rollups depend on it). For each event the
 * writer builds `{ seq, ts, ...event, prev }`: `seq` counts 1, 2, 3… across every file, forever
 * (restarts and rotation included); `ts` is the wall-clock time as ISO 8601 UTC; `prev` is the `h`
 * of the line before (64 zeros for the first line of a trail). With `s = JSON.stringify(obj)` and
 * `h = sha256(s)` in hex, the line is `s` with `,"h":"<h>"` inserted before its final `}`, then
 * '\n'. A verifier strips that suffix textually and hashes the rest, so no canonical JSON is
 * needed, and any edited, deleted, inserted or reordered line breaks the chain where it happened.
 *
 * Files. A line goes to the file of its ts's UTC date. The file day never goes backwards: if the
 * wall clock steps back across midnight, lines keep going to the newest file (their ts stays the
 * true clock reading), so files in name order are always in seq order. Files whose day ended more
 * than `retentionMs` ago are deleted at open and at each rotation.
 */
import { type FileHandle, mkdir, open, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditBatch, type AuditRun, writeChunks } from './audit-batch.js';
import type { AuditEvent } from './audit-events.js';
import {
  type AuditFile,
  auditFileName,
  auditLineHash,
  type ChainHead,
  dayEndMs,
  lastValidAuditLine,
  listAuditFiles,
  parseAuditLine,
  readAuditTail,
  ZERO_HASH,
} from './audit-reader.js';

// The format is read in audit-reader.ts; these are part of the log's surface too (server/history.ts).
export { type AuditRecord, recordTime, ZERO_HASH } from './audit-reader.js';

// ---------------------------------------------------------------------------------------------
// Errors (STYLE §8: one class per failure, a stable code, cause chaining). None of them reaches a
// client: they go to `onError`, for the daemon's log.

export const AuditErrorCode = {
  WriteFailed: 'AUDIT_WRITE_FAILED',
  LinesLost: 'AUDIT_LINES_LOST',
  TornLine: 'AUDIT_TORN_LINE',
  DamagedTail: 'AUDIT_DAMAGED_TAIL',
  RetentionFailed: 'AUDIT_RETENTION_FAILED',
  Closed: 'AUDIT_CLOSED',
} as const;
export type AuditErrorCode = (typeof AuditErrorCode)[keyof typeof AuditErrorCode];

export class AuditError extends Error {
  override name = 'AuditError';
  readonly code: AuditErrorCode;

  constructor(code: AuditErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** Writing a batch failed; its lines (seq firstSeq..lastSeq) are dropped. `cause`: the I/O error. */
export class AuditWriteError extends AuditError {
  override name = 'AuditWriteError';
  constructor(
    readonly file: string,
    readonly firstSeq: number,
    readonly lastSeq: number,
    cause: unknown,
  ) {
    super(
      AuditErrorCode.WriteFailed,
      `Could not write audit lines seq ${firstSeq}–${lastSeq} to ${file}; they are dropped, and ` +
        'further failures are counted until a write succeeds.',
      { cause },
    );
  }
}

/**
 * Lines lost while the trail could not be written (reported when writing works again, or at close)
 * or because the backlog outgrew its limit. `verify-audit` shows the gap at the same place.
 */
export class AuditLinesLostError extends AuditError {
  override name = 'AuditLinesLostError';
  constructor(
    readonly lines: number,
    readonly firstSeq: number,
    readonly lastSeq: number,
    why: string,
  ) {
    super(
      AuditErrorCode.LinesLost,
      `${lines} audit line(s) between seq ${firstSeq} and ${lastSeq} were lost: ${why}.`,
    );
  }
}

/** At open: the newest file ended in a partial line (a crash mid-write), which was cut away. */
export class AuditTornLineError extends AuditError {
  override name = 'AuditTornLineError';
  constructor(
    readonly file: string,
    readonly bytes: number,
  ) {
    super(
      AuditErrorCode.TornLine,
      `${file} ended in a partial line of ${bytes} byte(s), left by a crash; it was cut away.`,
    );
  }
}

/**
 * At open: the last complete line of the newest file is not a valid audit line (not a crash: a
 * damaged or edited file). It is left in place; the chain continues from the last valid line.
 */
export class AuditDamagedTailError extends AuditError {
  override name = 'AuditDamagedTailError';
  constructor(
    readonly file: string,
    reason: string,
    continuedAfter: string,
  ) {
    super(
      AuditErrorCode.DamagedTail,
      `The last line of ${file} is not a valid audit line (${reason}); it is left for verify-audit ` +
        `to report, and the trail continues after ${continuedAfter}.`,
    );
  }
}

export class AuditRetentionError extends AuditError {
  override name = 'AuditRetentionError';
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super(AuditErrorCode.RetentionFailed, `Could not delete the expired audit file ${file}.`, { cause });
  }
}

export class AuditClosedError extends AuditError {
  override name = 'AuditClosedError';
  constructor() {
    super(AuditErrorCode.Closed, 'The audit log is closed; the event was not recorded.');
  }
}

// ---------------------------------------------------------------------------------------------
// The writer

export interface AuditLogOptions {
  /** The audit directory; created (mode 0700) if missing. */
  readonly dir: string;
  /** Files whose day ended more than this long ago are deleted (the daemon's default: 400 days). */
  readonly retentionMs: number;
  /** Epoch ms for `ts` and rotation; default Date.now. Tests pass a fake one. */
  readonly wallClock?: () => number;
  /**
   * Told of every failure (write errors, lost lines, a torn or damaged tail at open, failed
   * retention); default `process.emitWarning`. Nothing the log does after open throws into its
   * caller or rejects.
   */
  readonly onError?: (err: Error) => void;
  /**
   * Lines appended while this many bytes already wait to be written are dropped and reported;
   * default 64 MiB.
   */
  readonly maxBacklogBytes?: number;
  /**
   * How long appended lines wait before a write starts, so that a busy daemon writes a batch every
   * few milliseconds instead of once per event-loop turn (each write is a system call on the libuv
   * thread pool and its own promise); the lines appended during a write wait as long again.
   * `flush()` and `close()` do not wait. Default 20 ms.
   */
  readonly batchDelayMs?: number;
}

export interface AuditLogStats {
  /** Lines written to a file. */
  readonly lines: number;
  /** Write calls (one per batch and file). */
  readonly writes: number;
  /** Lines dropped: failed writes, or a backlog over its limit. */
  readonly lost: number;
}

/** A range of lost lines not yet reported. */
interface Loss {
  lines: number;
  firstSeq: number;
  lastSeq: number;
  why: string;
}

/**
 * Writing is driven by I/O, not time: taken at load so tests that fake timers do not stall it
 * (as in store/journal.ts).
 */
const startLater: (callback: () => void, ms: number) => NodeJS.Timeout = globalThis.setTimeout;
const stopTimer: (timer: NodeJS.Timeout) => void = globalThis.clearTimeout;

/**
 * The audit trail writer. `append` is synchronous and cheap (a JSON.stringify and a sha256): it
 * numbers, chains and queues the line; a write loop started `batchDelayMs` later takes everything
 * queued and writes it with one write per file, so nothing here slows a checkout (issue 7).
 *
 * Not fsync'd, on purpose: the lease journal is the durable record of state changes (DESIGN §3.6);
 * the audit trail is its readable history. A crash can lose the lines not yet written (those of
 * the last `batchDelayMs` and of a write in flight) and leave a torn last line, which the next open
 * cuts away (and reports).
 *
 * A failed write never throws into the caller and never stops the daemon: it is reported through
 * `onError`, the batch is DROPPED (not retried: a full or broken disk would otherwise grow the
 * queue without bound), and later batches are tried again. The chain in memory has moved on, so
 * `verify-audit` shows the loss as missing lines at exactly that place; the count and seq range
 * are reported too once writing works again (or at close).
 */
export class AuditLog {
  readonly dir: string;
  readonly #retentionMs: number;
  readonly #wallClock: () => number;
  readonly #onError: (err: Error) => void;
  readonly #maxBacklogBytes: number;

  #seq: number;
  #hash: string;
  /** The day of the file lines go to now; undefined until the first line of a new trail. */
  #day: string | undefined;

  /** The lines appended and not yet handed to the write loop. */
  #queue = new AuditBatch();
  /** The seq of the last line put in the queue (lines dropped at append never are). */
  #lastQueued: number;
  /** Every queued line up to this seq is written or dropped. */
  #settled: number;
  #waiters: { seq: number; resolve: () => void }[] = [];
  #scheduled: NodeJS.Timeout | undefined;
  /** The delay of the pending start: 0 once someone waits in flush(). */
  #scheduledDelay = 0;
  readonly #batchDelayMs: number;
  #writing = false;

  #handle: FileHandle | undefined;
  #handleDay: string | undefined;
  /** The newest day the write loop has opened a file for (or found at open). */
  #rotatedDay: string | undefined;
  #failing = false;
  #loss: Loss | undefined;
  #retention: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;
  #stats = { lines: 0, writes: 0, lost: 0 };
  /**
   * The cache of #timestamp: the last ms and its text, the last second and its text up to ".",
   * and the UTC day (YYYY-MM-DD) of that text.
   */
  #tsMs = Number.NaN;
  #tsText = '';
  #tsSecond = Number.NaN;
  #tsPrefix = '';
  #tsDay = '';

  private constructor(options: AuditLogOptions, head: ChainHead, day: string | undefined) {
    this.dir = options.dir;
    this.#retentionMs = options.retentionMs;
    this.#wallClock = options.wallClock ?? Date.now;
    this.#onError = options.onError ?? ((err) => process.emitWarning(err));
    this.#maxBacklogBytes = options.maxBacklogBytes ?? 64 * 1024 * 1024;
    this.#batchDelayMs = options.batchDelayMs ?? 20;
    this.#seq = head.seq;
    this.#hash = head.h;
    this.#settled = head.seq;
    this.#lastQueued = head.seq;
    this.#day = day;
    this.#rotatedDay = day;
  }

  /**
   * Opens the trail in `options.dir`: continues `seq` and the chain from the last complete line of
   * the newest file (cutting away a torn final line left by a crash, and reporting it), then
   * deletes expired files. Throws if the directory cannot be created or read.
   */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    if (!(options.retentionMs >= 0)) {
      throw new RangeError(`retentionMs must be ≥ 0, got ${options.retentionMs}.`);
    }
    const report = options.onError ?? ((err: Error) => process.emitWarning(err));
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    const files = await listAuditFiles(options.dir);
    let head: ChainHead = { seq: 0, h: ZERO_HASH };
    for (let i = files.length - 1; i >= 0; i--) {
      const name = files[i]!.name;
      const path = join(options.dir, name);
      const tail = await readAuditTail(path);
      // Only the newest file can end in a write cut short: lines go to one file at a time.
      if (i === files.length - 1 && tail.end < tail.size) {
        await truncate(path, tail.end);
        report(new AuditTornLineError(path, tail.size - tail.end));
      }
      if (tail.last === undefined) continue;
      const parsed = parseAuditLine(tail.last, false);
      if (parsed.ok) {
        head = { seq: parsed.record.seq, h: parsed.record.h };
        break;
      }
      const found = await lastValidAuditLine(path);
      report(
        new AuditDamagedTailError(
          path,
          parsed.reason,
          found
            ? `line ${found.line} (seq ${found.head.seq})`
            : 'the last valid line of an earlier file, if any',
        ),
      );
      if (found) {
        head = found.head;
        break;
      }
    }
    const log = new AuditLog(options, head, files.at(-1)?.day);
    await log.#applyRetention();
    return log;
  }

  /** The seq of the last line appended (0 for an empty trail). */
  get lastSeq(): number {
    return this.#seq;
  }

  /** The `h` of the last line appended (64 zeros for an empty trail). */
  get lastHash(): string {
    return this.#hash;
  }

  get stats(): AuditLogStats {
    return { ...this.#stats };
  }

  /**
   * Numbers, timestamps and chains `event`, queues its line and returns its seq. Never waits for
   * I/O and never throws for I/O (see the class comment); throws AuditClosedError after
   * `close()`, and TypeError, recording nothing, for an event JSON cannot encode (a cycle).
   * A bigint (e.g. from a decoded admin argument) is written as a decimal string. `ms` is the
   * line's wall-clock time (default: the log's clock now), for a caller that needs it as a number.
   *
   * It returns the seq only (`lastHash` has the line's `h`): the daemon calls this twice per
   * checkout + checkin cycle on its busiest thread, and a record object of every line, which only
   * tests looked at, cost a copy of the event each time (issue 8).
   */
  append(event: AuditEvent, ms: number = this.#wallClock()): number {
    if (this.#closing !== undefined) throw new AuditClosedError();
    const seq = this.#seq + 1;
    const ts = this.#timestamp(ms);
    const s = lineContent(seq, ts, event, this.#hash);
    const h = auditLineHash(s);
    this.#seq = seq;
    this.#hash = h;
    const day = this.#tsDay;
    if (this.#day === undefined || day > this.#day) this.#day = day;
    if (this.#queue.bytes >= this.#maxBacklogBytes) {
      // The disk is not keeping up: dropping beats growing without bound; reported after the
      // next write that succeeds (or at close), as one error for the whole run of lost lines.
      this.#lose(seq, seq, `the write backlog exceeded ${this.#maxBacklogBytes} bytes`);
    } else {
      this.#queue.add(this.#day, seq, s, h);
      this.#lastQueued = seq;
      this.#kick();
    }
    return seq;
  }

  /**
   * `new Date(ms).toISOString()`, which is a large share of an append: a busy daemon appends many
   * lines per millisecond, so the text is kept for the last millisecond, and the part up to the
   * seconds for the last second.
   */
  #timestamp(ms: number): string {
    if (ms === this.#tsMs) return this.#tsText;
    let text: string;
    const second = Math.floor(ms / 1000);
    if (second === this.#tsSecond && Number.isInteger(ms)) {
      text = `${this.#tsPrefix}${MILLIS[ms - second * 1000]}Z`;
    } else {
      text = new Date(ms).toISOString();
      this.#tsDay = text.slice(0, 10);
      // Every ISO string ends in ".sssZ" (extended years included); a fraction of a ms (a fake
      // clock) is cut by Date, so only whole ms take the shortcut above.
      if (Number.isInteger(ms)) {
        this.#tsSecond = second;
        this.#tsPrefix = text.slice(0, -4);
      }
    }
    this.#tsMs = ms;
    this.#tsText = text;
    return text;
  }

  /**
   * Resolves once every line appended so far is written (or dropped after a reported failure).
   * Never rejects.
   */
  flush(): Promise<void> {
    const seq = this.#lastQueued;
    if (this.#settled >= seq) return Promise.resolve();
    return new Promise((resolve) => {
      this.#waiters.push({ seq, resolve });
      this.#kick(0);
    });
  }

  /**
   * Flushes, waits for a running retention pass, closes the file and reports any loss not yet
   * reported. Later appends throw AuditClosedError. Never rejects.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.flush();
      await this.#retention;
      await this.#closeHandle();
      this.#reportLoss();
    })();
    return this.#closing;
  }

  #kick(delayMs = this.#batchDelayMs): void {
    if (this.#writing) return;
    if (this.#scheduled !== undefined) {
      if (this.#scheduledDelay <= delayMs) return;
      stopTimer(this.#scheduled);
    }
    this.#scheduledDelay = delayMs;
    this.#scheduled = startLater(() => {
      this.#scheduled = undefined;
      void this.#run();
    }, delayMs);
    this.#scheduled.unref?.();
  }

  /**
   * The write loop: writes the batch queued, then the lines appended meanwhile at once while
   * someone waits for them in flush(), and otherwise `batchDelayMs` later. Under steady load the
   * lines appended during a write used to follow it at once: a write of a few dozen lines each
   * time, and each write costs tens of µs of CPU (the call, its promise, the thread pool), which
   * showed per line (issue 8). Never rejects.
   */
  async #run(): Promise<void> {
    this.#writing = true;
    while (!this.#queue.empty) {
      const batch = this.#queue.take();
      // A batch spans two files (two runs) only across a rotation; each run is one write.
      for (const run of batch) await this.#write(run);
      this.#settle(batch.at(-1)!.lastSeq);
      if (this.#waiters.length === 0) break;
    }
    this.#writing = false;
    if (!this.#queue.empty) this.#kick();
  }

  async #write(run: AuditRun): Promise<void> {
    const { day } = run;
    const path = join(this.dir, auditFileName(day));
    try {
      if (this.#handleDay !== day) {
        await this.#closeHandle();
        this.#handle = await open(path, 'a', 0o600);
        this.#handleDay = day;
        if (this.#rotatedDay === undefined || day > this.#rotatedDay) {
          // A rotation: the previous day's lines are all written, so retention cannot race them.
          // It runs beside the writes, not before them.
          if (this.#rotatedDay !== undefined) {
            this.#retention = this.#retention.then(() => this.#applyRetention());
          }
          this.#rotatedDay = day;
        }
      }
      await writeChunks(this.#handle!, run.chunks);
      this.#stats.writes++;
      this.#stats.lines += run.lines;
      this.#failing = false;
      this.#reportLoss();
    } catch (err) {
      // The next batch reopens the file: the directory may be back by then.
      await this.#closeHandle();
      if (!this.#failing) {
        this.#failing = true;
        this.#stats.lost += run.lines;
        this.#report(new AuditWriteError(path, run.firstSeq, run.lastSeq, err));
      } else {
        this.#lose(run.firstSeq, run.lastSeq, 'the audit file could not be written', run.lines);
      }
    }
  }

  /**
   * Counts lines lost without a report of their own; `#reportLoss` tells of them in one error
   * after the next successful write, or at close.
   */
  #lose(firstSeq: number, lastSeq: number, why: string, lines = lastSeq - firstSeq + 1): void {
    this.#stats.lost += lines;
    if (this.#loss === undefined) this.#loss = { lines, firstSeq, lastSeq, why };
    else {
      this.#loss.lines += lines;
      this.#loss.lastSeq = lastSeq;
    }
  }

  #reportLoss(): void {
    const loss = this.#loss;
    if (loss === undefined) return;
    this.#loss = undefined;
    this.#report(new AuditLinesLostError(loss.lines, loss.firstSeq, loss.lastSeq, loss.why));
  }

  async #closeHandle(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    this.#handleDay = undefined;
    try {
      await handle?.close();
    } catch {
      // Nothing written through it is lost by a failed close (no fsync is promised); the next
      // write, if any, reports a real problem with the file.
    }
  }

  #settle(seq: number): void {
    this.#settled = seq;
    if (this.#waiters.length === 0) return;
    const still: { seq: number; resolve: () => void }[] = [];
    for (const w of this.#waiters) {
      if (w.seq <= seq) w.resolve();
      else still.push(w);
    }
    this.#waiters = still;
  }

  /**
   * Deletes the files whose day ended more than retentionMs ago, except one the write loop has
   * open (possible only if the wall clock jumped forward by more than the retention).
   */
  async #applyRetention(): Promise<void> {
    let files: AuditFile[];
    try {
      files = await listAuditFiles(this.dir);
    } catch (err) {
      this.#report(new AuditRetentionError(this.dir, err));
      return;
    }
    const now = this.#wallClock();
    for (const file of files) {
      if (file.day === this.#handleDay || now - dayEndMs(file) <= this.#retentionMs) continue;
      const path = join(this.dir, file.name);
      try {
        await unlink(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          this.#report(new AuditRetentionError(path, err));
      }
    }
  }

  #report(err: Error): void {
    try {
      this.#onError(err);
    } catch {
      // A throwing handler must not turn an audit problem into a crash of the daemon.
    }
  }
}

/** "000" to "999", the milliseconds of a timestamp. */
const MILLIS: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/**
 * `JSON.stringify({ seq, ts, ...event, prev })`, without building that object: the event's JSON
 * between the other members gives the same text, keys in the same order. No event has a key of its
 * own named seq, ts or prev (it would keep that key's place in the object) or an integer-like key
 * (those come first in any object); one that did goes the long way.
 */
function lineContent(seq: number, ts: string, event: AuditEvent, prev: string): string {
  if (Object.hasOwn(event, 'seq') || Object.hasOwn(event, 'ts') || Object.hasOwn(event, 'prev')) {
    return stringify({ seq, ts, ...event, prev });
  }
  const inner = stringify(event);
  const first = inner.charCodeAt(2);
  if (first >= 0x30 && first <= 0x39) return stringify({ seq, ts, ...event, prev });
  // `ts` and `prev` need no escaping: an ISO time and 64 hex digits.
  const head = `{"seq":${seq},"ts":"${ts}"`;
  return inner.length > 2 ? `${head},${inner.slice(1, -1)},"prev":"${prev}"}` : `${head},"prev":"${prev}"}`;
}

/** JSON.stringify, writing a bigint as its decimal string instead of throwing. */
function stringify(obj: object): string {
  try {
    return JSON.stringify(obj);
  } catch (err) {
    if (!(err instanceof TypeError) || !/bigint/i.test(err.message)) throw err;
    return JSON.stringify(obj, (_key, value: unknown) =>
      typeof value === 'bigint' ? value.toString() : value,
    );
  }
}
