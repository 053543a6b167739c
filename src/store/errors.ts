/**
 * The errors of the storage layer (STYLE.md §8: one class per failure, each with a `name`, a stable
 * `code` and `cause` chaining). None of them is a wire error: the server decides what a client sees
 * when the store fails (DESIGN §3.6: it stops acknowledging and exits).
 */

export const StoreErrorCode = {
  RecordTorn: 'RECORD_TORN',
  RecordCorrupt: 'RECORD_CORRUPT',
  SnapshotCorrupt: 'SNAPSHOT_CORRUPT',
  StoreFailed: 'STORE_FAILED',
  StoreClosed: 'STORE_CLOSED',
  JournalConflict: 'JOURNAL_CONFLICT',
  RecoveryFailed: 'RECOVERY_FAILED',
} as const;
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

export class StoreError extends Error {
  override name = 'StoreError';
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/**
 * A journal record that the data ends in the middle of: the trace of a write that was interrupted
 * (crash, power loss). `offset` is where the record starts.
 */
export class RecordTornError extends StoreError {
  override name = 'RecordTornError';
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(StoreErrorCode.RecordTorn, `Torn journal record at byte ${offset}: ${reason}.`);
  }
}

/**
 * A journal record that is complete but wrong: checksum mismatch, impossible length, a sequence
 * number that does not follow its predecessor, or a payload that does not decode.
 */
export class RecordCorruptError extends StoreError {
  override name = 'RecordCorruptError';
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(StoreErrorCode.RecordCorrupt, `Corrupt journal record at byte ${offset}: ${reason}.`);
  }
}

/** A snapshot file that cannot be used: bad magic, unknown version, wrong length or checksum. */
export class SnapshotCorruptError extends StoreError {
  override name = 'SnapshotCorruptError';
  constructor(
    readonly file: string,
    readonly reason: string,
    options: { cause?: unknown } = {},
  ) {
    super(StoreErrorCode.SnapshotCorrupt, `Snapshot ${file} is unusable: ${reason}.`, options);
  }
}

/**
 * A journal write or fsync failed. The journal is dead from then on: it never retries (after a
 * failed fsync the kernel may have dropped the dirty pages and a retry can report success for data
 * that is gone — PostgreSQL's "fsyncgate"), rejects every pending and later `whenDurable`, and the
 * daemon must exit and recover from disk. `cause` holds the original error.
 */
export class StoreFailedError extends StoreError {
  override name = 'StoreFailedError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(StoreErrorCode.StoreFailed, message, options);
  }
}

/** The journal was used after `close()`. */
export class StoreClosedError extends StoreError {
  override name = 'StoreClosedError';
  constructor(message = 'The journal is closed.') {
    super(StoreErrorCode.StoreClosed, message);
  }
}

/** The journal directory does not match the sequence number the writer was opened with. */
export class JournalConflictError extends StoreError {
  override name = 'JournalConflictError';
  constructor(message: string) {
    super(StoreErrorCode.JournalConflict, message);
  }
}

export interface RecoveryErrorInfo {
  /** The state directory. */
  dir: string;
  /** The file at fault, when one file is (a path inside `dir`). */
  file?: string;
  /** Byte offset in `file` where the problem starts. */
  offset?: number;
  /** What is wrong, in a few words. */
  problem: string;
  /** The sequence number `--force-recover` would keep everything up to. */
  lastGoodSeq: number;
}

export const RECOVERY_ADVICE =
  'Restore the state directory from a backup, or start with `leasehold serve --force-recover` ' +
  'to keep everything up to the last good record and drop the rest';

/**
 * The state directory cannot be recovered without losing data that may have been acknowledged.
 * The message names the file, the offset, what is wrong and what to do (issue 5 item 3).
 */
export class RecoveryError extends StoreError {
  override name = 'RecoveryError';
  readonly dir: string;
  readonly file: string | undefined;
  readonly offset: number | undefined;
  readonly problem: string;
  readonly lastGoodSeq: number;

  constructor(info: RecoveryErrorInfo, options: { cause?: unknown } = {}) {
    const where =
      info.file === undefined
        ? ''
        : info.offset === undefined
          ? `${info.file}: `
          : `${info.file} at byte ${info.offset}: `;
    super(
      StoreErrorCode.RecoveryFailed,
      `Cannot recover the state in ${info.dir}: ${where}${info.problem}. ` +
        'Refusing to start, because the unreadable part may hold changes that clients were told are durable. ' +
        `${RECOVERY_ADVICE}. The last good point is seq ${info.lastGoodSeq}` +
        `${info.lastGoodSeq === 0 ? ' (the empty state)' : ''}.`,
      options,
    );
    this.dir = info.dir;
    this.file = info.file;
    this.offset = info.offset;
    this.problem = info.problem;
    this.lastGoodSeq = info.lastGoodSeq;
  }
}
