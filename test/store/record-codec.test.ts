import { describe, expect, it } from 'vitest';
import { crc32, crc32Table } from '../../src/store/crc32.js';
import { RecordCorruptError, RecordTornError } from '../../src/store/errors.js';
import {
  decodeRecord,
  encodeRecord,
  intactRecordSeq,
  MAX_RECORD_PAYLOAD_BYTES,
  packPayload,
  RECORD_HEADER_BYTES,
} from '../../src/store/record-codec.js';

/** Bit-at-a-time CRC-32, the textbook definition, to check the sliced table version against. */
function referenceCrc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A record with a chosen header, checksummed correctly: for seq and payload cases encode refuses. */
function craft(seq: bigint, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(RECORD_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeBigUInt64BE(seq, 8);
  out.set(payload, RECORD_HEADER_BYTES);
  out.writeUInt32BE(crc32(out.subarray(8)), 4);
  return out;
}

function decodeError(data: Uint8Array, offset = 0, previousSeq?: number): unknown {
  try {
    decodeRecord(data, offset, previousSeq);
  } catch (err) {
    return err;
  }
  throw new Error('decodeRecord did not throw');
}

describe('crc32', () => {
  it('gives the same result through zlib (long inputs) as the table version, slices and continuations included', () => {
    const data = Buffer.alloc(100_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    expect(crc32(data)).toBe(crc32Table(data));
    expect(crc32(data, 0, 3, 90_001)).toBe(crc32Table(data.subarray(3, 90_001)));
    expect(crc32(data, 0, 3, 90_001)).toBe(referenceCrc32(data.subarray(3, 90_001)));
    const first = crc32(data.subarray(0, 50_000));
    expect(crc32(data.subarray(50_000), first)).toBe(crc32(data));
    expect(crc32(data.subarray(50_000), first)).toBe(crc32Table(data.subarray(50_000), first));
  });

  it.each([
    ['', 0],
    ['a', 0xe8b7be43],
    ['123456789', 0xcbf43926],
    ['The quick brown fox jumps over the lazy dog', 0x414fa339],
  ])('matches the standard check value for %j', (text, expected) => {
    expect(crc32(Buffer.from(text, 'ascii'))).toBe(expected);
  });

  it('matches the bitwise definition at every length and alignment, and continues across chunks', () => {
    const data = Buffer.alloc(300);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
    for (let length = 0; length <= 40; length++) {
      for (const start of [0, 1, 3, 7]) {
        const slice = data.subarray(start, start + length);
        expect(crc32(slice)).toBe(referenceCrc32(slice));
      }
    }
    for (const cut of [0, 1, 5, 8, 150, 299, 300]) {
      expect(crc32(data.subarray(cut), crc32(data.subarray(0, cut)))).toBe(referenceCrc32(data));
    }
  });
});

describe('record codec', () => {
  const cases: [string, number, object][] = [
    ['a small grant', 1, { op: 'grant', lease: 'L1', count: 2 }],
    [
      'nested values and unicode',
      42,
      { user: 'zoë', tags: ['a', 'ß'], at: { ms: 1.5, ok: true, none: null } },
    ],
    ['a seq past 32 bits', 2 ** 32 + 5, { op: 'checkin' }],
    ['the largest seq', Number.MAX_SAFE_INTEGER, { big: 2 ** 40, neg: -3 }],
    ['an array record', 7, [1, 'two', { three: 3 }]],
  ];

  it.each(cases)('round-trips %s', (_name, seq, record) => {
    const bytes = encodeRecord(seq, record);
    expect(decodeRecord(bytes, 0)).toEqual({ seq, record, end: bytes.length });
    expect(decodeRecord(bytes, bytes.length)).toBeUndefined();
  });

  it('lays out length, checksum and seq as documented', () => {
    const bytes = encodeRecord(2 ** 32 + 9, { a: 1 });
    const payload = packPayload({ a: 1 });
    expect(bytes.readUInt32BE(0)).toBe(payload.length);
    expect(bytes.readUInt32BE(4)).toBe(crc32(bytes.subarray(8)));
    expect(bytes.readBigUInt64BE(8)).toBe(2n ** 32n + 9n);
    expect(bytes.subarray(RECORD_HEADER_BYTES)).toEqual(payload);
  });

  it('decodes records one after another and checks that seqs increase', () => {
    const data = Buffer.concat([
      encodeRecord(1, { n: 1 }),
      encodeRecord(2, { n: 2 }),
      encodeRecord(4, { n: 4 }),
    ]);
    const seqs: number[] = [];
    let offset = 0;
    let previous: number | undefined;
    for (
      let r = decodeRecord(data, offset, previous);
      r !== undefined;
      r = decodeRecord(data, offset, previous)
    ) {
      seqs.push(r.seq);
      previous = r.seq;
      offset = r.end;
    }
    expect(seqs).toEqual([1, 2, 4]);
  });

  it('reports a torn record at every cut inside a record, and a clean end between records', () => {
    const first = encodeRecord(1, { op: 'grant', lease: 'L1' });
    const second = encodeRecord(2, { op: 'checkin', lease: 'L1' });
    const data = Buffer.concat([first, second]);
    for (let cut = 0; cut <= data.length; cut++) {
      const view = data.subarray(0, cut);
      if (cut === first.length || cut === data.length) {
        expect(decodeRecord(view, 0)?.seq).toBe(1);
        expect(decodeRecord(view, first.length)?.seq).toBe(cut === data.length ? 2 : undefined);
        continue;
      }
      const start = cut < first.length ? 0 : first.length;
      if (cut === 0) {
        expect(decodeRecord(view, 0)).toBeUndefined();
        continue;
      }
      const err = decodeError(view, start);
      expect(err, `cut at ${cut}`).toBeInstanceOf(RecordTornError);
      expect((err as RecordTornError).offset).toBe(start);
      expect((err as RecordTornError).message).toMatch(/the data ends inside the record/);
    }
  });

  it('reports a zero-filled tail as torn, not corrupt', () => {
    const data = Buffer.concat([encodeRecord(1, { n: 1 }), Buffer.alloc(4096)]);
    const err = decodeError(data, data.length - 4096);
    expect(err).toBeInstanceOf(RecordTornError);
    expect((err as RecordTornError).reason).toMatch(/all zero/);
  });

  it('reports a checksum mismatch for a flipped bit anywhere after the length field', () => {
    const bytes = encodeRecord(5, { op: 'grant', lease: 'L5', user: 'ada' });
    for (let bit = 32; bit < bytes.length * 8; bit++) {
      const damaged = Buffer.from(bytes);
      damaged[bit >> 3]! ^= 1 << (bit & 7);
      const err = decodeError(damaged);
      expect(err, `bit ${bit}`).toBeInstanceOf(RecordCorruptError);
      expect((err as RecordCorruptError).reason).toMatch(/checksum mismatch/);
    }
  });

  it('never decodes a record whose length field has a flipped bit', () => {
    const bytes = encodeRecord(5, { op: 'grant', lease: 'L5' });
    for (let bit = 0; bit < 32; bit++) {
      const damaged = Buffer.from(bytes);
      damaged[bit >> 3]! ^= 1 << (bit & 7);
      const err = decodeError(damaged);
      expect(err instanceof RecordCorruptError || err instanceof RecordTornError, `bit ${bit}`).toBe(true);
    }
  });

  it.each([
    ['a zero length', 0],
    ['a length past the maximum', MAX_RECORD_PAYLOAD_BYTES + 1],
  ])('reports %s as corrupt', (_name, length) => {
    const data = Buffer.concat([encodeRecord(1, { n: 1 }), encodeRecord(2, { n: 2 })]);
    data.writeUInt32BE(length, 0);
    const err = decodeError(data);
    expect(err).toBeInstanceOf(RecordCorruptError);
    expect((err as RecordCorruptError).reason).toMatch(/impossible payload length/);
    expect((err as RecordCorruptError).offset).toBe(0);
  });

  it.each([
    ['seq 0', 0n, /invalid sequence number 0/],
    ['a seq past 2^53', 2n ** 60n, /invalid sequence number ≥ 2\^53/],
  ])('reports %s as corrupt even with a good checksum', (_name, seq, reason) => {
    const err = decodeError(craft(seq, packPayload({ n: 1 })));
    expect(err).toBeInstanceOf(RecordCorruptError);
    expect((err as RecordCorruptError).reason).toMatch(reason);
  });

  it('reports a seq that does not increase as corrupt, at the offset of that record', () => {
    const data = Buffer.concat([encodeRecord(3, { n: 3 }), encodeRecord(3, { n: 3 })]);
    const first = decodeRecord(data, 0)!;
    const err = decodeError(data, first.end, first.seq);
    expect(err).toBeInstanceOf(RecordCorruptError);
    expect((err as RecordCorruptError).offset).toBe(first.end);
    expect((err as RecordCorruptError).message).toBe(
      `Corrupt journal record at byte ${first.end}: sequence number 3 does not follow 3.`,
    );
  });

  it('reports a payload that is not MessagePack as corrupt', () => {
    const err = decodeError(craft(1n, Uint8Array.of(0x92, 0x01)));
    expect(err).toBeInstanceOf(RecordCorruptError);
    expect((err as RecordCorruptError).reason).toMatch(/not valid MessagePack/);
  });

  it('refuses to encode an invalid seq or an oversized record', () => {
    expect(() => encodeRecord(0, {})).toThrow(RangeError);
    expect(() => encodeRecord(1.5, {})).toThrow(RangeError);
    expect(() => encodeRecord(2 ** 53, {})).toThrow(RangeError);
    expect(() => encodeRecord(1, { blob: 'x'.repeat(MAX_RECORD_PAYLOAD_BYTES) })).toThrow(/at most/);
  });

  it('finds intact records by seq without decoding them', () => {
    const bytes = encodeRecord(9, { n: 9 });
    expect(intactRecordSeq(bytes, 0)).toBe(9);
    const damaged = Buffer.from(bytes);
    damaged[damaged.length - 1]! ^= 1;
    expect(intactRecordSeq(damaged, 0)).toBeUndefined();
    expect(intactRecordSeq(bytes.subarray(0, 10), 0)).toBeUndefined();
  });
});
