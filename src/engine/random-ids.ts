/**
 * Ids and secrets from random bytes. The source is injected so tests can be deterministic; the
 * default is the operating system's CSPRNG, because session ids and resume tokens must not be
 * guessable (a guessed resume token would hand someone else's leases to an attacker).
 */
import { createHash, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';
import { InternalError } from '../protocol/errors.js';

export type RandomBytes = (bytes: number) => Buffer;

/**
 * A random source that can also hand out hex directly: uniqueHexId reads the id's hex straight
 * from the pool, without the Buffer copy a RandomBytes call makes (issue 8: one id per checkout).
 */
export interface PooledRandom extends RandomBytes {
  /** `bytes` fresh random bytes as lowercase hex; `bytes` at most POOL_BYTES. */
  hex(bytes: number): string;
}

/** Bytes drawn from the CSPRNG per refill of the pool. */
const POOL_BYTES = 4096;

/**
 * The default source: node:crypto's CSPRNG, drawn 4 KiB at a time. One randomFillSync call per id
 * was most of the cost of a checkout; pooling keeps the same randomness, and no byte is handed out
 * twice, whether as a Buffer (each caller gets a copy of a fresh slice) or as hex.
 */
export function createPooledRandom(): PooledRandom {
  const pool = Buffer.alloc(POOL_BYTES);
  let offset = POOL_BYTES;
  /** The offset of `bytes` fresh bytes in the pool, refilled when too few are left. */
  const take = (bytes: number): number => {
    if (offset + bytes > POOL_BYTES) {
      randomFillSync(pool);
      offset = 0;
    }
    const start = offset;
    offset += bytes;
    return start;
  };
  const random = (bytes: number): Buffer => {
    if (bytes > POOL_BYTES) return randomBytes(bytes);
    const start = take(bytes);
    return Buffer.from(pool.subarray(start, start + bytes));
  };
  const hex = (bytes: number): string => {
    if (bytes > POOL_BYTES) return randomBytes(bytes).toString('hex');
    const start = take(bytes);
    return pool.toString('hex', start, start + bytes);
  };
  return Object.assign(random, { hex });
}

/** Whether `random` is a CSPRNG pool of createPooledRandom's (the engine's default source). */
export function isPooledRandom(random: RandomBytes): random is PooledRandom {
  return typeof (random as Partial<PooledRandom>).hex === 'function';
}

/** 128-bit ids for sessions and leases: 32 lowercase hex characters. */
export const ID_BYTES = 16;
/** 256-bit resume tokens: 64 lowercase hex characters. */
export const TOKEN_BYTES = 32;

const LOWER_HEX = /^[0-9a-f]*$/;

export function randomBuffer(random: RandomBytes, bytes: number): Buffer {
  const buffer = random(bytes);
  if (buffer.length !== bytes) {
    throw new InternalError(`The random source returned ${buffer.length} bytes; ${bytes} were asked for.`);
  }
  return buffer;
}

/**
 * A random hex id that `taken` does not know yet. A collision of 128 random bits never happens with
 * a real source; the retry limit turns a broken injected source into an error instead of a hang.
 */
export function uniqueHexId(random: RandomBytes, taken: (id: string) => boolean): string {
  const hex = isPooledRandom(random) ? random.hex : undefined;
  for (let attempt = 0; attempt < 8; attempt++) {
    const id = hex === undefined ? randomBuffer(random, ID_BYTES).toString('hex') : hex(ID_BYTES);
    if (!taken(id)) return id;
  }
  throw new InternalError('The random source keeps repeating itself: no unused id after 8 attempts.');
}

/**
 * Whether `candidate` is the hex form of `secret`. The comparison of the bytes takes the same time
 * wherever they differ; only the shape check (length, hex alphabet) can fail early, and that reveals
 * nothing about the secret.
 */
export function hexSecretMatches(candidate: string, secret: Buffer): boolean {
  if (typeof candidate !== 'string' || candidate.length !== secret.length * 2) return false;
  if (!LOWER_HEX.test(candidate)) return false;
  return timingSafeEqual(Buffer.from(candidate, 'hex'), secret);
}

/**
 * Whether `candidate` is the hex form of a secret whose sha256 is `hash` (the engine keeps only the
 * hash of a resume token). The shape check may fail early, which reveals nothing; the hashes are
 * compared in constant time.
 */
export function hexSecretHashMatches(candidate: string, secretBytes: number, hash: Buffer): boolean {
  if (typeof candidate !== 'string' || candidate.length !== secretBytes * 2) return false;
  if (!LOWER_HEX.test(candidate)) return false;
  const presented = createHash('sha256').update(Buffer.from(candidate, 'hex')).digest();
  return timingSafeEqual(presented, hash);
}
