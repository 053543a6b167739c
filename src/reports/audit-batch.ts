/**
 * The audit lines waiting to be written (audit-log.ts), kept as the bytes the file will hold.
 *
 * Why bytes and not text: a busy daemon appends two lines per checkout + checkin cycle, and the
 * daemon's main thread is what limits its throughput (issue 8). Joining the lines into one string
 * built a rope of small pieces per line (the line itself, then the join) that `Buffer.from`
 * flattened and encoded again at write time. Here each line is encoded once, straight into a
 * large buffer: the line's text without its final `}`, then `,"h":"<h>"}\n` — no line string, no
 * slice, no join.
 *
 * Lines go into runs: the lines of one file day, in seq order, written with one write call (a new
 * run starts only when the day changes, at midnight). A run holds slices of the chunk buffers; the
 * chunk being filled is shared by the run that is filling it and by later runs, which only ever
 * write after the part already handed out, so a slice taken by the writer never changes.
 */
import type { FileHandle } from 'node:fs/promises';

/** Bytes per chunk buffer: a few hundred lines each, so allocation is rare and memory small. */
const CHUNK_BYTES = 256 * 1024;
/** `,"h":"` + 64 hex digits + `"}\n`. */
const HASH_SUFFIX_BYTES = 6 + 64 + 3;

/** The lines of one file day, in seq order, ready to write. */
export interface AuditRun {
  readonly day: string;
  readonly firstSeq: number;
  lastSeq: number;
  lines: number;
  /** The lines' bytes, in order (slices of chunk buffers). */
  readonly chunks: Buffer[];
}

export class AuditBatch {
  #runs: AuditRun[] = [];
  #bytes = 0;
  /** The chunk being filled; bytes from #from to #used belong to the last run, not yet sliced. */
  #chunk: Buffer = Buffer.allocUnsafe(0);
  #from = 0;
  #used = 0;

  /** Bytes waiting to be written. */
  get bytes(): number {
    return this.#bytes;
  }

  get empty(): boolean {
    return this.#runs.length === 0;
  }

  /**
   * Queues the line of `content` (a line's JSON without `h`, ending in `}`) and its hash `h`
   * (64 hex digits), in the run of `day`: `content` without its `}`, then `,"h":"<h>"}` and '\n'.
   */
  add(day: string, seq: number, content: string, h: string): void {
    let run = this.#runs.at(-1);
    if (run === undefined || run.day !== day) {
      this.#seal();
      run = { day, firstSeq: seq, lastSeq: seq, lines: 0, chunks: [] };
      this.#runs.push(run);
    }
    // UTF-8 takes at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 for 2).
    const room = content.length * 3 + HASH_SUFFIX_BYTES;
    if (this.#chunk.length - this.#used < room) this.#newChunk(room);
    const chunk = this.#chunk;
    const start = this.#used;
    // The last byte written is the content's closing `}` (one byte): the suffix goes over it.
    // (One write of the suffix measured faster than three, and 'utf8' than 'latin1', on Node 20.)
    const at = start + chunk.write(content, start, 'utf8') - 1;
    this.#used = at + chunk.write(`,"h":"${h}"}\n`, at, 'utf8');
    this.#bytes += this.#used - start;
    run.lastSeq = seq;
    run.lines++;
  }

  /** Hands out every queued run (their chunks complete) and starts empty. */
  take(): AuditRun[] {
    this.#seal();
    const runs = this.#runs;
    this.#runs = [];
    this.#bytes = 0;
    return runs;
  }

  /** Moves the bytes not yet sliced into the last run's chunks. */
  #seal(): void {
    const run = this.#runs.at(-1);
    if (run !== undefined && this.#used > this.#from) {
      run.chunks.push(this.#chunk.subarray(this.#from, this.#used));
    }
    this.#from = this.#used;
  }

  /** A new chunk buffer with at least `room` bytes (one large line may need more than a chunk). */
  #newChunk(room: number): void {
    this.#seal();
    this.#chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, room));
    this.#from = 0;
    this.#used = 0;
  }
}

/**
 * Writes a run's chunks in order: one writev when the system takes it all, as a regular file
 * does; a short write (e.g. near a full disk) goes on from where it stopped.
 */
export async function writeChunks(handle: FileHandle, chunks: readonly Buffer[]): Promise<void> {
  let rest = chunks;
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest as Buffer[]);
    if (bytesWritten <= 0) throw new Error(`writev() wrote ${bytesWritten} bytes`);
    let left = bytesWritten;
    let i = 0;
    while (i < rest.length && left >= rest[i]!.length) left -= rest[i++]!.length;
    rest = i < rest.length ? [rest[i]!.subarray(left), ...rest.slice(i + 1)] : [];
  }
}
