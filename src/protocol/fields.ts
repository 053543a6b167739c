/**
 * The field rules of protocol v1 (PROTOCOL.md §3.3), shared by the message schemas of
 * messages.ts and admin-messages.ts.
 */
import { NAME_PATTERN, NAME_RULE } from './names.js';
import { literal, str, uint } from './schema.js';

export const MAX_SAFE = Number.MAX_SAFE_INTEGER;
export const requestId = uint(1, 0xffffffff);
export const featureName = str({
  min: 1,
  max: 64,
  pattern: NAME_PATTERN,
  patternText: NAME_RULE,
});
export const userName = str({ min: 1, max: 128 });
export const hostName = str({ min: 1, max: 255 });
export const displayName = str({ min: 0, max: 256 });
export const hex32 = str({
  min: 32,
  max: 32,
  pattern: /^[0-9a-f]{32}$/,
  patternText: '32 lowercase hex digits',
});
export const hex64 = str({
  min: 64,
  max: 64,
  pattern: /^[0-9a-f]{64}$/,
  patternText: '64 lowercase hex digits',
});
export const requestKey = str({
  min: 1,
  max: 128,
  pattern: /^[\x21-\x7e]+$/,
  patternText: 'printable ASCII without spaces',
});
export const fencing = uint(1, MAX_SAFE);
export const durationMs = uint(0, MAX_SAFE);
export const seatCount = uint(0, MAX_SAFE);
export const code = str({ min: 1, max: 64, pattern: /^[A-Z][A-Z0-9_]*$/, patternText: 'an upper-case code' });
export const text = str({ min: 0, max: 4096 });
export const shortText = str({ min: 0, max: 64 });
export const groupName = featureName;
export const seatType = literal(['concurrent', 'named']);
/** An e-mail address, or '' (none). Deliberately loose: one '@', no spaces or control characters. */
export const email = str({
  min: 0,
  max: 256,
  pattern: /^(?:|[^\s@]+@[^\s@]+)$/,
  patternText: 'an e-mail address such as alice@example.com',
});
/** Longest block `admin_free.block_ms` may ask for: 366 days. */
export const MAX_BLOCK_MS = 31_622_400_000;
