/**
 * STYLE.md §3: codec tables run three ways — the whole buffer at once, byte by byte, and split in two
 * at every boundary. Each way yields the list of chunk lists to feed.
 */
export type Chunking = 'whole' | 'byte-by-byte' | 'every-split';

export const CHUNKINGS: readonly Chunking[] = ['whole', 'byte-by-byte', 'every-split'];

export function chunkings(bytes: Buffer, how: Chunking): Buffer[][] {
  switch (how) {
    case 'whole':
      return [[bytes]];
    case 'byte-by-byte':
      return [Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1))];
    case 'every-split': {
      const out: Buffer[][] = [];
      for (let k = 1; k < bytes.length; k++) out.push([bytes.subarray(0, k), bytes.subarray(k)]);
      return out.length > 0 ? out : [[bytes]];
    }
  }
}
