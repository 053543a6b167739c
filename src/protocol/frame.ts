/**
 * Framing (PROTOCOL.md §2): a 4-byte unsigned big-endian length N, then N bytes of payload.
 * The decoder does no I/O: push bytes in, whole payloads come out through the callback. The
 * declared length is checked against the limit as soon as its 4 bytes are in, before any of the
 * payload is buffered, so a hostile length prefix costs nothing.
 */
import { FrameEmptyError, FrameTooLargeError, type LeaseholdError } from './errors.js';

export const HEADER_BYTES = 4;
/** Default `max_frame_bytes`: the largest frame a client may send (PROTOCOL.md §2.2). */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;
/** Smallest `max_frame_bytes` a server may set. */
export const MIN_MAX_FRAME_BYTES = 1024;
/** Largest frame of any kind, and so the largest reply a client must accept (PROTOCOL.md §2.2). */
export const MAX_MAX_FRAME_BYTES = 16 * 1024 * 1024;

export class FrameDecoder {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private expected = -1;
  private failure: LeaseholdError | undefined;

  constructor(
    private readonly onFrame: (payload: Buffer) => void,
    readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES,
  ) {}

  /** Bytes held for a frame not yet complete. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /**
   * Feeds bytes. Calls `onFrame` for each complete frame, in order. Throws the framing error
   * (FrameTooLargeError, FrameEmptyError) when the stream breaks the rules; the decoder then stays
   * failed, because the stream is out of sync and every later byte is meaningless.
   */
  push(chunk: Buffer): void {
    if (this.failure) throw this.failure;
    if (chunk.length === 0) return;
    if (this.buffered === 0 && this.expected < 0) {
      // Nothing held back (not even a header): the frames that lie whole in this chunk are cut out of it directly (the
      // common case: a request per read); only a partial frame at its end is kept.
      const at = this.pushWhole(chunk);
      if (at === chunk.length) return;
      if (at > 0) chunk = chunk.subarray(at);
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered < HEADER_BYTES) return;
        const length = this.peekLength();
        this.checkLength(length);
        this.take(HEADER_BYTES);
        this.expected = length;
      }
      if (this.buffered < this.expected) return;
      const payload = this.take(this.expected);
      this.expected = -1;
      this.onFrame(payload);
    }
  }

  /**
   * Hands out every whole frame at the start of `chunk` (nothing being buffered) and returns where
   * the rest begins. A header is checked as soon as its 4 bytes are in, as in `push`. Should
   * `onFrame` throw, the rest of the chunk is kept, as `push` would have kept it.
   */
  private pushWhole(chunk: Buffer): number {
    let at = 0;
    try {
      while (chunk.length - at >= HEADER_BYTES) {
        const length = chunk.readUInt32BE(at);
        this.checkLength(length);
        const end = at + HEADER_BYTES + length;
        if (end > chunk.length) break;
        const payload = chunk.subarray(at + HEADER_BYTES, end);
        at = end;
        this.onFrame(payload);
      }
    } catch (err) {
      if (!this.failure && at < chunk.length) {
        this.chunks.push(chunk.subarray(at));
        this.buffered = chunk.length - at;
      }
      throw err;
    }
    return at;
  }

  private checkLength(length: number): void {
    if (length === 0) this.fail(new FrameEmptyError('Frame length is 0; a frame holds at least 1 byte.'));
    if (length > this.maxFrameBytes) {
      this.fail(
        new FrameTooLargeError(`Frame of ${length} bytes is over the limit of ${this.maxFrameBytes} bytes.`, {
          details: { length, limit: this.maxFrameBytes },
        }),
      );
    }
  }

  private fail(error: LeaseholdError): never {
    this.failure = error;
    this.chunks.length = 0;
    this.buffered = 0;
    throw error;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= HEADER_BYTES) return first.readUInt32BE(0);
    return this.take(HEADER_BYTES, true).readUInt32BE(0);
  }

  /** Removes (or with `peek`, copies) the next `n` buffered bytes, joining chunks only when needed. */
  private take(n: number, peek = false): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (!peek) this.consume(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (const chunk of this.chunks) {
      const part = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, part);
      filled += part;
      if (filled === n) break;
    }
    if (!peek) this.consume(n);
    return out;
  }

  private consume(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      if (first.length <= n) {
        this.chunks.shift();
        n -= first.length;
      } else {
        this.chunks[0] = first.subarray(n);
        n = 0;
      }
    }
  }
}

/** Prefixes a payload with its length. */
export function frame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, HEADER_BYTES);
  return out;
}
