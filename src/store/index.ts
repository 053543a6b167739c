/**
 * The storage layer's public surface (STYLE.md §12: named exports, types in their own block).
 * Primitives that persist opaque records and know nothing of the engine (DESIGN §3.6). The intended
 * use, in the daemon:
 *
 *   const r = await recover(dir, { forceRecover });      // rebuild state from r.snapshot + r.records
 *   const journal = await JournalWriter.open(dir, { lastSeq: r.lastSeq, durability, onFatal });
 *   // per state change: append, wait until durable, only then reply (DESIGN §3.6)
 *   await journal.whenDurable(journal.append(change));
 *   // snapshot: capture at a seq, make the file visible only once the journal reaches that seq
 *   const seq = journal.lastSeq;
 *   await writeSnapshot(dir, seq, state, { waitFor: journal.whenDurable(seq) });
 *   await journal.rotate();
 *   const kept = await listSnapshots(dir);                // newest first, two kept
 *   await journal.compact(kept.at(-1)!.seq);             // keep the journal the older one needs
 */

export { crc32 } from './crc32.js';
export type { RecoveryErrorInfo } from './errors.js';
export {
  JournalConflictError,
  RecordCorruptError,
  RecordTornError,
  RecoveryError,
  SnapshotCorruptError,
  StoreClosedError,
  StoreError,
  StoreErrorCode,
  StoreFailedError,
} from './errors.js';
export type { Durability, JournalFaults, JournalOptions, JournalStats } from './journal.js';
export { JournalWriter } from './journal.js';
export type { DecodedRecord } from './record-codec.js';
export {
  decodeRecord,
  encodeRecord,
  MAX_RECORD_PAYLOAD_BYTES,
  RECORD_HEADER_BYTES,
  zeroTailStart,
} from './record-codec.js';
export type {
  RecoveredSnapshot,
  RecoverOptions,
  RecoveryResult,
} from './recovery.js';
export { recover } from './recovery.js';
export type { LoadedSnapshot, SnapshotInfo, WriteSnapshotOptions } from './snapshot.js';
export {
  listSnapshots,
  readNewestSnapshot,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_HEADER_BYTES,
  SNAPSHOT_MAGIC,
  writeSnapshot,
} from './snapshot.js';
