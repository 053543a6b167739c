/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320 — the one zlib, gzip and PNG use), so a file
 * can be checked with any standard tool. Long inputs (snapshots: tens of MB at a million leases,
 * DESIGN §7) go to `zlib.crc32`, several times faster, where Node has it (22.2, and 20.15 on);
 * short ones (journal records) and older Nodes use the table-driven version below, which processes
 * eight bytes per step ("slicing-by-8"): for a record of a hundred bytes it beats the native call.
 */
import * as zlib from 'node:zlib';

const POLYNOMIAL = 0xedb88320;

function buildTables(): Uint32Array[] {
  const all = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLYNOMIAL ^ (c >>> 1) : c >>> 1;
    all[n] = c;
  }
  // Table k gives the CRC contribution of a byte followed by k zero bytes.
  for (let n = 0; n < 256; n++) {
    let c = all[n]!;
    for (let k = 1; k < 8; k++) {
      c = all[c & 0xff]! ^ (c >>> 8);
      all[k * 256 + n] = c;
    }
  }
  return Array.from({ length: 8 }, (_, k) => all.subarray(k * 256, (k + 1) * 256));
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = buildTables() as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];

type NativeCrc32 = (data: Uint8Array, value?: number) => number;
const nativeCrc32 = (zlib as { crc32?: NativeCrc32 }).crc32;
/** From this many bytes on, the native version is faster (measured on Node 20.20). */
const NATIVE_FROM_BYTES = 4096;

/**
 * The CRC-32 of `data` (of bytes start..end when given, without making a subarray). Pass the CRC of
 * earlier data as `previous` to continue it: `crc32(b, crc32(a))` equals `crc32(a ++ b)`.
 */
export function crc32(data: Uint8Array, previous = 0, start = 0, end = data.length): number {
  if (nativeCrc32 !== undefined && end - start >= NATIVE_FROM_BYTES) {
    return nativeCrc32(start === 0 && end === data.length ? data : data.subarray(start, end), previous >>> 0);
  }
  return crc32Table(data, previous, start, end);
}

/** The table-driven CRC-32, the same function as `crc32`; exported for tests. */
export function crc32Table(data: Uint8Array, previous = 0, start = 0, end = data.length): number {
  let crc = ~previous;
  const length = end;
  let i = start;
  for (; i + 8 <= length; i += 8) {
    const lo = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) ^ crc;
    const hi = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
    crc =
      T7[lo & 0xff]! ^
      T6[(lo >>> 8) & 0xff]! ^
      T5[(lo >>> 16) & 0xff]! ^
      T4[lo >>> 24]! ^
      T3[hi & 0xff]! ^
      T2[(hi >>> 8) & 0xff]! ^
      T1[(hi >>> 16) & 0xff]! ^
      T0[hi >>> 24]!;
  }
  for (; i < length; i++) crc = T0[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
