/**
 * An in-memory duplex pair (STYLE.md §10): what one end writes, the other reads. Like a TCP socket
 * without half-open: an end that reads EOF ends its own side too. `hold()` stops delivery in one
 * direction (a stalled network) without closing anything.
 */
import { Duplex } from 'node:stream';

class PipeEnd extends Duplex {
  other!: PipeEnd;
  held = false;
  readonly #queued: Buffer[] = [];

  constructor() {
    super();
    this.on('end', () => this.end());
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.held) this.#queued.push(chunk);
    else if (!this.other.destroyed) this.other.push(chunk);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.other.destroyed) this.other.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.other.destroyed) this.other.destroy();
    callback(error);
  }

  /** Holds what this end writes (or, with false, delivers what was held and resumes). */
  hold(on: boolean): void {
    this.held = on;
    if (!on) for (const chunk of this.#queued.splice(0)) this.other.push(chunk);
  }
}

export type { PipeEnd };

export function duplexPair(): [PipeEnd, PipeEnd] {
  const a = new PipeEnd();
  const b = new PipeEnd();
  a.other = b;
  b.other = a;
  return [a, b];
}
