/**
 * Which connection each session is on, so engine events (a reclaimed lease) reach the holder as a
 * push. A session is on at most one connection: when it resumes elsewhere, the old connection is
 * unlinked (and closed by its owner).
 */
export interface PushTarget {
  readonly connectionId: number;
  push(message: import('../protocol/messages.js').PushMessage): void;
}

export class SessionLinks {
  readonly #bySession = new Map<string, PushTarget>();

  /** Links `sessionId` to `target` and returns the target it was linked to before, if any. */
  link(sessionId: string, target: PushTarget): PushTarget | undefined {
    const previous = this.#bySession.get(sessionId);
    this.#bySession.set(sessionId, target);
    return previous === target ? undefined : previous;
  }

  unlink(sessionId: string, target: PushTarget): void {
    if (this.#bySession.get(sessionId) === target) this.#bySession.delete(sessionId);
  }

  get(sessionId: string): PushTarget | undefined {
    return this.#bySession.get(sessionId);
  }

  all(): IterableIterator<PushTarget> {
    return this.#bySession.values();
  }
}
