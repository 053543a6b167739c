/**
 * Administrators' blocks: "a removal that sticks" (FlexLM's lmremove frees a seat, and the
 * application takes it straight back; a block keeps the holder out until it ends). A block names a
 * user, optionally a host and a feature; it matches a holder whose user is the block's and, when
 * the block names them, whose host and feature are too.
 *
 * Enforcement uses the monotonic clock only (DESIGN §3.2): a block ends at `deadline`. Expiry is
 * lazy (no timers): a block past its deadline is dropped when a lookup meets it, and is neither
 * listed nor exported. The wall-clock end (`untilWall`) is kept for messages and for persistence:
 * a restart re-derives the monotonic deadline from it (engine-state.ts, state-loader.ts).
 */
import type { BlockView } from './types.js';

/** 366 days: the longest block (a year, leap day included). */
export const MAX_BLOCK_MS = 31_622_400_000;

export interface BlockRecord {
  readonly id: string;
  readonly user: string;
  readonly host: string | undefined;
  readonly feature: string | undefined;
  readonly by: string | undefined;
  /** Monotonic clock time at which the block ends (it is active while now < deadline). */
  readonly deadline: number;
  /** Wall-clock epoch milliseconds of the end, for display and persistence. */
  readonly untilWall: number;
}

export function blockMatches(block: BlockRecord, user: string, host: string, feature: string): boolean {
  return (
    block.user === user &&
    (block.host === undefined || block.host === host) &&
    (block.feature === undefined || block.feature === feature)
  );
}

export function toBlockView(block: BlockRecord, now: number): BlockView {
  const view: { -readonly [K in keyof BlockView]: BlockView[K] } = {
    id: block.id,
    user: block.user,
    remainingMs: Math.max(0, block.deadline - now),
    untilWall: block.untilWall,
  };
  if (block.host !== undefined) view.host = block.host;
  if (block.feature !== undefined) view.feature = block.feature;
  if (block.by !== undefined) view.by = block.by;
  return view;
}

/** Active blocks by id and by user (a checkout looks only at its user's blocks). */
export class BlockBook {
  readonly #byId = new Map<string, BlockRecord>();
  readonly #byUser = new Map<string, Set<BlockRecord>>();

  /** Whether an id is taken (by a block not yet dropped). */
  has(id: string): boolean {
    return this.#byId.has(id);
  }

  get(id: string, now: number): BlockRecord | undefined {
    const block = this.#byId.get(id);
    if (block === undefined || block.deadline > now) return block;
    this.#drop(block);
    return undefined;
  }

  add(block: BlockRecord): void {
    this.#byId.set(block.id, block);
    let set = this.#byUser.get(block.user);
    if (set === undefined) {
      set = new Set();
      this.#byUser.set(block.user, set);
    }
    set.add(block);
  }

  /** Removes a block; returns it, or undefined when there was none with this id. */
  remove(id: string): BlockRecord | undefined {
    const block = this.#byId.get(id);
    if (block !== undefined) this.#drop(block);
    return block;
  }

  /**
   * The active block that keeps this holder from this feature longest, if any (so a denial names
   * the end the holder actually waits for). Expired blocks of the user are dropped on the way.
   */
  find(user: string, host: string, feature: string, now: number): BlockRecord | undefined {
    const set = this.#byUser.get(user);
    if (set === undefined) return undefined;
    let found: BlockRecord | undefined;
    for (const block of Array.from(set)) {
      if (block.deadline <= now) {
        this.#drop(block);
        continue;
      }
      if (!blockMatches(block, user, host, feature)) continue;
      if (found === undefined || block.deadline > found.deadline) found = block;
    }
    return found;
  }

  /** Every active block, by end (then id); expired ones are dropped. */
  active(now: number): BlockRecord[] {
    const out: BlockRecord[] = [];
    for (const block of Array.from(this.#byId.values())) {
      if (block.deadline <= now) this.#drop(block);
      else out.push(block);
    }
    return out.sort((a, b) => a.deadline - b.deadline || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  #drop(block: BlockRecord): void {
    this.#byId.delete(block.id);
    const set = this.#byUser.get(block.user);
    set?.delete(block);
    if (set?.size === 0) this.#byUser.delete(block.user);
  }
}
