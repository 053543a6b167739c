/**
 * The journal writer (DESIGN §3.6, issue 5 item 1): appends opaque records to
 * `journal-<first seq>.log` files in the state directory and tells the caller when each one is
 * durable, so the server can acknowledge a change only after it is on disk.
 *
 * Group commit. `append` encodes the record, gives it the next sequence number and buffers it; it
 * never waits. One write loop runs at a time: it takes everything buffered, writes it with one
 * `write` and makes it durable with one fsync, then resolves the `whenDurable` promises of that
 * batch. Whatever was appended while that write+fsync ran forms the next batch, so one fsync covers
 * every change made while the previous one was in flight, and throughput grows with load instead of
 * being capped at one fsync per change. The first batch after a quiet spell starts on `setImmediate`,
 * which gathers every append made in the current turn of the event loop.
 *
 * Preallocation ('fsync' mode). Appending grows the file, and then every fdatasync must also commit
 * the new size and extents: on ext4 a 1,200-byte write + fdatasync took 184–219 µs appending and
 * 98–115 µs overwriting bytes that were already on disk. So, like PostgreSQL's zero-filled WAL
 * segments and etcd's preallocated WAL files, the writer keeps the current file zero-filled ahead of
 * its records and writes each batch at its offset (pwrite) into that region: the batch's fdatasync
 * then flushes data only. The zeros must be real bytes, written and fdatasync'd before a batch lands
 * on them: `fallocate` leaves unwritten extents whose conversion is again a metadata commit, and a
 * sparse `ftruncate` allocates nothing. The rules:
 * - The region ahead is extended by a chunk (`preallocate`, default 8 MiB) once less than a quarter
 *   of a chunk is left. 8 MiB lasts a few seconds at the highest rates measured (~2 MB/s of records)
 *   and about one `snapshot_records` interval, so most files take one or two chunks; zero-filling it
 *   costs ~7 ms here, paid in 1 MiB steps (one write + one fdatasync each, ~1.5 ms), one step
 *   between two batches or back to back while the loop is idle, so no batch waits behind a whole
 *   chunk. Only a batch that does not fit in what is filled waits for the fill it needs.
 * - Everything runs in the one write loop, so a zero-fill never overlaps a region that holds or will
 *   hold records: it always starts at the end of the filled region, which is at or past the end of
 *   the records, and a batch is written only inside the filled region.
 * - On rotation the old file is cut to the end of its records (truncate + fsync) before the new file
 *   is created, and `close()` cuts the file the same way: only the newest file of a directory ever
 *   has a zero tail, and a clean shutdown leaves none. Recovery treats the zero tail of the last file
 *   as its normal end and cuts it off (recovery.ts).
 * - Durability 'none' does not preallocate: without fdatasync there is nothing to save, and writes
 *   still go to explicit offsets, which end exactly where the records end.
 *
 * Durability modes:
 * - `'fsync'` (default): `whenDurable(seq)` resolves after a write and an `fdatasync` covering seq
 *   completed. A new journal file's directory entry is fsync'd before anything in it is reported.
 * - `'none'` (unsafe; for benchmarks and throwaway setups): `whenDurable(seq)` resolves once the
 *   write reached the operating system, without fsync. A killed daemon loses nothing, but a power
 *   loss or kernel crash can lose acknowledged changes, and recovery may then report corruption
 *   that only `--force-recover` gets past.
 *
 * Failure is final. Any error from a write, fsync, file creation or close puts the writer into a
 * failed state: it never retries (after a failed fsync the kernel may have dropped the dirty pages,
 * so a retry can "succeed" for data that is gone — PostgreSQL's fsync lesson), writes nothing more,
 * rejects every pending and later `whenDurable` with a StoreFailedError whose `cause` is the
 * original error, and calls `onFatal` once so the daemon can log it and exit non-zero; the next
 * start recovers from disk. A record appended after the failure still gets a sequence number, but
 * it is dropped and its `whenDurable` rejects, so callers keep one path: append, await, then reply.
 */
import { type FileHandle, mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { JournalConflictError, StoreClosedError, StoreFailedError } from './errors.js';
import { encodeRecord } from './record-codec.js';
import { journalFileName, listStateDir, syncDir, writeFully } from './state-files.js';

export type Durability = 'fsync' | 'none';

/** Fault injection for tests only: a hook that throws or rejects acts as a failed write or fsync. */
export interface JournalFaults {
  /** Runs before each batch is written, with the exact bytes about to be written. */
  beforeWrite?(bytes: Buffer): void | Promise<void>;
  /** Runs before each fsync of a batch (durability 'fsync' only). */
  beforeSync?(): void | Promise<void>;
  /** Runs before each zero-fill step (its write and fdatasync), with the range it is about to fill. */
  beforePreallocate?(from: number, to: number): void | Promise<void>;
}

/** Default for JournalOptions.preallocate: see "Preallocation" above for the choice. */
export const PREALLOCATE_BYTES = 8 * 1024 * 1024;
/** The most one zero-fill step writes (one write + one fdatasync), unless a batch needs more now. */
const FILL_STEP_BYTES = 1024 * 1024;
/** The bytes a zero-fill step writes, shared: nothing ever writes into it. */
const ZEROS = Buffer.alloc(FILL_STEP_BYTES);

export interface JournalOptions {
  /**
   * The last sequence number already in the directory: `recover()`'s `lastSeq` (default 0, a fresh
   * directory). The first record appended gets lastSeq + 1.
   */
  lastSeq?: number;
  /** Default 'fsync'. */
  durability?: Durability;
  /** Called once when the writer fails; the daemon should log the error and exit non-zero. */
  onFatal?: (error: StoreFailedError) => void;
  /** After each completed fsync: how long the fdatasync took and how many records it made durable. */
  onSync?: (ms: number, records: number) => void;
  /**
   * How far ahead of its records the current file is zero-filled, in bytes, and the size of each
   * extension (durability 'fsync' only; default PREALLOCATE_BYTES; 0 turns preallocation off).
   */
  preallocate?: number;
  faults?: JournalFaults;
}

export interface JournalStats {
  /** Records written to a file. */
  records: number;
  /** Batches written (one `write` each). */
  writes: number;
  /** fsyncs completed. */
  syncs: number;
  /** Bytes of records written. */
  bytes: number;
  /** Zero bytes written ahead of the records (preallocation). */
  preallocated: number;
}

interface Waiter {
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * A promise with its settle functions. Rejections are marked handled: a failure reaches the daemon
 * through `onFatal`, and a caller that dropped its `whenDurable` promise must not crash it a second
 * way (awaiting the promise still throws).
 */
function waiter(): Waiter {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

function rejected(error: unknown): Promise<void> {
  const w = waiter();
  w.reject(error);
  return w.promise;
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * The write loop is driven by I/O, not by time: taken at load so that tests which fake timers for
 * the engine's sake do not stall the journal.
 */
const startSoon: (callback: () => void) => unknown = globalThis.setImmediate;

interface Batch {
  lastSeq: number;
  waiter: Waiter | undefined;
}

export class JournalWriter {
  readonly dir: string;
  readonly durability: Durability;
  private readonly onFatal: ((error: StoreFailedError) => void) | undefined;
  private readonly onSync: ((ms: number, records: number) => void) | undefined;
  private readonly faults: JournalFaults;
  /** Preallocation chunk in bytes; 0 when the file is not preallocated. */
  private readonly chunk: number;
  /** The most one zero-fill step writes: FILL_STEP_BYTES, or the chunk if that is smaller. */
  private readonly step: number;

  private handle: FileHandle;
  private fileName: string;
  /** Records written into the current file. */
  private fileRecords = 0;
  /** Where the next batch goes in the current file: the end of its records. */
  private position = 0;
  /** The current file is zero-filled, and that is durable, up to here (≥ position when chunk > 0). */
  private filled = 0;
  /** The zero-fill in progress extends the file up to here; filled ≥ fillTarget when none is. */
  private fillTarget = 0;
  /** Last seq handed out by `append`. */
  private assigned: number;
  /** Last seq written to a file (durable once its fsync completes). */
  private written: number;
  private durable: number;

  /** Encoded records not yet taken by the write loop, and the waiter for their seqs. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private nextWaiter: Waiter | undefined;
  /** The batch the write loop is writing or fsyncing. */
  private inFlight: Batch | undefined;
  /** Rotation requests, each with the last seq appended before it: those go to the old file. */
  private rotations: { waiter: Waiter; after: number }[] = [];
  private idleWaiters: Waiter[] = [];
  private running = false;

  private closing: Promise<void> | undefined;
  private failure: StoreFailedError | undefined;
  private released: Promise<void> = RESOLVED;
  private readonly counters: JournalStats = { records: 0, writes: 0, syncs: 0, bytes: 0, preallocated: 0 };

  private constructor(
    dir: string,
    handle: FileHandle,
    fileName: string,
    lastSeq: number,
    options: JournalOptions,
  ) {
    this.dir = dir;
    this.durability = options.durability ?? 'fsync';
    this.onFatal = options.onFatal;
    this.onSync = options.onSync;
    this.faults = options.faults ?? {};
    this.chunk = this.durability === 'fsync' ? (options.preallocate ?? PREALLOCATE_BYTES) : 0;
    this.step = Math.min(this.chunk, FILL_STEP_BYTES);
    this.handle = handle;
    this.fileName = fileName;
    this.assigned = lastSeq;
    this.written = lastSeq;
    this.durable = lastSeq;
    // Fill the first chunk now, while nothing is waiting on the journal (a daemon still recovering).
    this.fillTarget = this.chunk;
    if (this.chunk > 0) this.kick();
  }

  /**
   * Opens a new journal file `journal-<lastSeq + 1>.log` in `dir` (created if missing). Earlier
   * files are never appended to: after a crash their tails are recovery's business. An empty file
   * of that name, left by a crash right after it was created, is reused; anything else that starts
   * at or after lastSeq + 1 means the caller does not know the directory's real state, and is a
   * JournalConflictError.
   */
  static async open(dir: string, options: JournalOptions = {}): Promise<JournalWriter> {
    const lastSeq = options.lastSeq ?? 0;
    if (!Number.isSafeInteger(lastSeq) || lastSeq < 0) {
      throw new RangeError(`lastSeq must be a safe integer ≥ 0, got ${lastSeq}.`);
    }
    const preallocate = options.preallocate ?? PREALLOCATE_BYTES;
    if (!Number.isSafeInteger(preallocate) || preallocate < 0) {
      throw new RangeError(`preallocate must be a safe integer ≥ 0, got ${preallocate}.`);
    }
    await mkdir(dir, { recursive: true });
    const firstSeq = lastSeq + 1;
    const name = journalFileName(firstSeq);
    const newest = (await listStateDir(dir)).journals.at(-1);
    if (newest !== undefined && newest.seq > firstSeq) {
      throw new JournalConflictError(
        `${join(dir, newest.name)} starts at seq ${newest.seq}, past seq ${firstSeq} that this journal would ` +
          'write next. Open the journal with the lastSeq that recover() returned for this directory.',
      );
    }
    const path = join(dir, name);
    // Not append mode: on Linux, O_APPEND makes pwrite ignore its offset, and batches go to offsets.
    const handle = await open(path, newest?.seq === firstSeq ? 'r+' : 'wx');
    try {
      const { size } = await handle.stat();
      if (size > 0) {
        throw new JournalConflictError(
          `${path} already holds ${size} bytes of records from seq ${firstSeq} on. Open the journal with ` +
            'the lastSeq that recover() returned for this directory.',
        );
      }
      await syncDir(dir);
    } catch (err) {
      await handle.close();
      throw err;
    }
    return new JournalWriter(dir, handle, name, lastSeq, options);
  }

  /** The last sequence number handed out by `append`. */
  get lastSeq(): number {
    return this.assigned;
  }

  /** Every record up to this sequence number is durable (in the sense of `durability`). */
  get durableSeq(): number {
    return this.durable;
  }

  /** The journal file being written. */
  get file(): string {
    return join(this.dir, this.fileName);
  }

  /** Bytes appended but not yet taken by the write loop. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** The error the writer failed with, if it has. */
  get failed(): StoreFailedError | undefined {
    return this.failure;
  }

  get stats(): JournalStats {
    return { ...this.counters };
  }

  /**
   * Buffers `record` (encoded now, so the caller may change the object afterwards) under the next
   * sequence number and returns that number. Never waits. Throws StoreClosedError after `close()`,
   * and RangeError (taking no number) if the record encodes to more than MAX_RECORD_PAYLOAD_BYTES.
   */
  append(record: object): number {
    if (this.closing !== undefined)
      throw new StoreClosedError('The journal is closed; the change was not recorded.');
    if (this.failure !== undefined) return ++this.assigned;
    const seq = this.assigned + 1;
    const bytes = encodeRecord(seq, record);
    this.assigned = seq;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    this.kick();
    return seq;
  }

  /**
   * Resolves once a write (+ fsync, in 'fsync' mode) covering `seq` has completed; rejects with the
   * StoreFailedError if the writer failed before that. `seq` must have been returned by `append`.
   */
  whenDurable(seq: number): Promise<void> {
    if (seq <= this.durable) return RESOLVED;
    if (this.failure !== undefined) return rejected(this.failure);
    if (!Number.isSafeInteger(seq) || seq > this.assigned) {
      return Promise.reject(
        new RangeError(`Sequence number ${seq} was never appended (the last is ${this.assigned}).`),
      );
    }
    if (this.inFlight !== undefined && seq <= this.inFlight.lastSeq) {
      this.inFlight.waiter ??= waiter();
      return this.inFlight.waiter.promise;
    }
    this.nextWaiter ??= waiter();
    return this.nextWaiter.promise;
  }

  /**
   * Starts a new journal file once every record appended so far is written; the new file is named
   * after the next record to be written. Used after a snapshot so that `compact` can delete whole
   * files. Does nothing if the current file would be left without a record. A failure to create the
   * file is fatal, like a write error.
   */
  rotate(): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(new StoreClosedError());
    if (this.failure !== undefined) return rejected(this.failure);
    const w = waiter();
    this.rotations.push({ waiter: w, after: this.assigned });
    this.kick();
    return w.promise;
  }

  /**
   * Deletes the oldest journal files whose records are all ≤ `upToSeq` (a file's last record is the
   * one before the next file's first), never the file being written and never leaving a hole.
   * Returns the names deleted. Call it with the seq of the OLDER of the two snapshots kept (see
   * `listSnapshots`): falling back to that snapshot when the newest is corrupt needs the journal
   * from its seq on. Unlike a write error, a failed delete is not fatal; it just rejects.
   */
  async compact(upToSeq: number): Promise<string[]> {
    if (this.failure !== undefined) throw this.failure;
    const { journals } = await listStateDir(this.dir);
    const removed: string[] = [];
    for (let i = 0; i + 1 < journals.length; i++) {
      const file = journals[i]!;
      const next = journals[i + 1]!;
      if (file.name === this.fileName || next.seq - 1 > upToSeq) break;
      await unlink(join(this.dir, file.name));
      removed.push(file.name);
    }
    if (removed.length > 0) await syncDir(this.dir);
    return removed;
  }

  /**
   * Writes and fsyncs everything buffered, cuts the file to the end of its records (no zero tail),
   * then closes it. Later appends throw StoreClosedError. Rejects with the StoreFailedError if the
   * writer failed (the file then keeps its zero tail, which recovery handles).
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    await this.idle();
    if (this.failure !== undefined) {
      await this.released;
      throw this.failure;
    }
    try {
      await this.cutToRecords();
    } catch (err) {
      this.fail('truncation', err);
      await this.released;
      throw this.failure;
    }
    try {
      await this.handle.close();
    } catch (err) {
      this.fail('close', err, false);
      throw this.failure;
    }
  }

  /** Resolves when the write loop has nothing left to do (or has stopped on a failure). */
  private idle(): Promise<void> {
    const nothingToDo = this.pending.length === 0 && this.rotations.length === 0;
    if (!this.running && (nothingToDo || this.failure !== undefined)) return RESOLVED;
    const w = waiter();
    this.idleWaiters.push(w);
    this.kick();
    return w.promise;
  }

  private kick(): void {
    if (this.running || this.failure !== undefined) return;
    this.running = true;
    startSoon(() => void this.run());
  }

  /**
   * The write loop: one batch, one rotation or one zero-fill step at a time, until there is nothing
   * left. A zero-fill in progress takes one step after each batch, so batches and steps alternate
   * under load, and steps run back to back while nothing is buffered (not once closing: close cuts
   * the file anyway).
   */
  private async run(): Promise<void> {
    let afterBatch = false;
    while (this.failure === undefined) {
      // A rotation waits for the records appended before it, not for the buffer to drain: under
      // steady load the buffer is never empty, and the rotation would wait forever.
      const rotation = this.rotations[0];
      if (rotation !== undefined && (this.written >= rotation.after || this.pending.length === 0)) {
        await this.switchFile();
      } else if (this.fillDue(afterBatch)) {
        afterBatch = false;
        await this.zeroFill(Math.min(this.fillTarget, this.filled + this.step));
      } else if (this.pending.length > 0) {
        await this.writeBatch();
        afterBatch = true;
      } else break;
    }
    this.running = false;
    for (const w of this.idleWaiters.splice(0)) w.resolve();
  }

  private async writeBatch(): Promise<void> {
    // The buffer holds seqs written+1..assigned. A pending rotation cuts the batch at its seq, so
    // the old file ends exactly with the records appended before rotate() was called.
    const cut = this.rotations[0]?.after;
    let records = this.pending;
    let batch: Batch;
    if (cut !== undefined && cut > this.written && cut < this.assigned) {
      records = this.pending.splice(0, cut - this.written);
      // Callers waiting on the shared promise may hold seqs on either side of the cut: it settles
      // after the later part, and a fresh one serves this part.
      batch = { lastSeq: cut, waiter: undefined };
    } else {
      this.pending = [];
      batch = { lastSeq: this.assigned, waiter: this.nextWaiter };
      this.nextWaiter = undefined;
    }
    let size = 0;
    for (const r of records) size += r.length;
    this.pendingBytes -= size;
    this.inFlight = batch;
    const bytes = records.length === 1 ? records[0]! : Buffer.concat(records, size);
    // Only a batch bigger than what is left waits for a fill; a failed one has failed the writer.
    if (!(await this.makeRoom(bytes.length))) return;
    try {
      await this.faults.beforeWrite?.(bytes);
      await writeFully(this.handle, bytes, this.position);
    } catch (err) {
      this.fail('write', err);
      return;
    }
    this.position += bytes.length;
    this.planFill();
    this.written = batch.lastSeq;
    this.fileRecords += records.length;
    this.counters.records += records.length;
    this.counters.writes++;
    this.counters.bytes += bytes.length;
    if (this.durability === 'fsync') {
      let started = 0;
      try {
        await this.faults.beforeSync?.();
        started = performance.now();
        await this.handle.datasync();
      } catch (err) {
        this.fail('fsync', err);
        return;
      }
      this.counters.syncs++;
      this.reportSync(performance.now() - started, records.length);
    }
    this.durable = batch.lastSeq;
    this.inFlight = undefined;
    batch.waiter?.resolve();
  }

  private async switchFile(): Promise<void> {
    const due = this.rotations.findIndex((r) => r.after > this.written);
    const requests = this.rotations.splice(0, due === -1 ? this.rotations.length : Math.max(due, 1));
    if (this.fileRecords > 0) {
      const name = journalFileName(this.written + 1);
      let previous: FileHandle | undefined;
      try {
        // Durable before the new file exists: recovery accepts a zero tail only in the last file.
        await this.cutToRecords();
        const next = await open(join(this.dir, name), 'wx');
        previous = this.handle;
        this.handle = next;
        this.fileName = name;
        this.fileRecords = 0;
        this.position = 0;
        this.filled = 0;
        this.fillTarget = this.chunk;
        // The new file's entry must be durable before records in it are reported durable.
        await syncDir(this.dir);
        const done = previous;
        previous = undefined;
        await done.close();
      } catch (err) {
        // Only releasing the descriptor; the error that matters is `err`.
        previous?.close().catch(() => undefined);
        this.fail('rotation', err);
        for (const r of requests) r.waiter.reject(this.failure);
        return;
      }
    }
    for (const r of requests) r.waiter.resolve();
  }

  /** Whether the loop should take a zero-fill step now rather than write the next batch. */
  private fillDue(afterBatch: boolean): boolean {
    if (this.filled >= this.fillTarget || this.closing !== undefined) return false;
    return afterBatch || this.pending.length === 0;
  }

  /** After a batch: once less than a quarter of a chunk is left ahead, extend by a chunk. */
  private planFill(): void {
    if (this.chunk === 0 || this.fillTarget > this.filled) return;
    if (this.filled - this.position < this.chunk / 4) this.fillTarget = this.filled + this.chunk;
  }

  /**
   * Zero-fills what a batch of `size` bytes needs beyond the filled region, in one go: it cannot be
   * written before. False when that failed (the writer has failed and rejected the batch).
   */
  private async makeRoom(size: number): Promise<boolean> {
    const end = this.position + size;
    if (this.chunk === 0 || end <= this.filled) return true;
    // Whole steps, so that the region ahead does not end a few bytes past this batch.
    const to = this.filled + Math.ceil((end - this.filled) / this.step) * this.step;
    this.fillTarget = Math.max(this.fillTarget, to);
    return this.zeroFill(to);
  }

  /**
   * Writes zeros from the end of the filled region up to `to` and fdatasyncs them, so that batches
   * written there later need no metadata commit. False when that failed: it is fatal, like a write.
   */
  private async zeroFill(to: number): Promise<boolean> {
    const from = this.filled;
    try {
      await this.faults.beforePreallocate?.(from, to);
      for (let at = from; at < to; at += ZEROS.length) {
        await writeFully(this.handle, ZEROS.subarray(0, Math.min(ZEROS.length, to - at)), at);
      }
      await this.handle.datasync();
    } catch (err) {
      this.fail('preallocation', err);
      return false;
    }
    this.filled = to;
    this.counters.preallocated += to - from;
    return true;
  }

  /**
   * Cuts the current file to the end of its records and makes that durable (a size change, so a
   * full fsync): what rotation and close leave behind has no zero tail.
   */
  private async cutToRecords(): Promise<void> {
    if (this.filled <= this.position) return;
    await this.handle.truncate(this.position);
    await this.handle.sync();
    this.filled = this.position;
    this.fillTarget = this.position;
  }

  /** A throwing onSync is the caller's bug: surface it as uncaught, never stall the write loop. */
  private reportSync(ms: number, records: number): void {
    try {
      this.onSync?.(ms, records);
    } catch (callbackError) {
      queueMicrotask(() => {
        throw callbackError;
      });
    }
  }

  /** Enters the failed state (once): reject everything waiting, release the file, tell the daemon. */
  private fail(operation: string, cause: unknown, release = true): void {
    if (this.failure !== undefined) return;
    const reason = cause instanceof Error ? cause.message : String(cause);
    const failure = new StoreFailedError(
      `Journal ${operation} failed on ${this.file}: ${reason}. The journal accepts no more changes and ` +
        'never retries; restart the daemon to recover the state from disk.',
      { cause },
    );
    this.failure = failure;
    this.pending = [];
    this.pendingBytes = 0;
    this.inFlight?.waiter?.reject(failure);
    this.inFlight = undefined;
    this.nextWaiter?.reject(failure);
    this.nextWaiter = undefined;
    for (const r of this.rotations.splice(0)) r.waiter.reject(failure);
    // Closing is only to release the descriptor; its own error adds nothing to the failure above.
    if (release) this.released = this.handle.close().catch(() => undefined);
    try {
      this.onFatal?.(failure);
    } catch (callbackError) {
      // The daemon's callback failing is its bug, not a journal error: surface it as uncaught.
      queueMicrotask(() => {
        throw callbackError;
      });
    }
  }
}
