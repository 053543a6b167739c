import { describe, expect, it } from 'vitest';
import {
  ColumnarFormatError,
  decodeColumnar,
  encodeColumnar,
  MIN_COLUMN_LENGTH,
} from '../../src/store/columns.js';
import { packPayload, unpackPayload } from '../../src/store/record-codec.js';

const N = MIN_COLUMN_LENGTH;

/** An array of N elements: `edge` values first, then `fill`. */
function column<T>(edge: T[], fill: T): T[] {
  return [...edge, ...Array.from({ length: N - edge.length }, () => fill)];
}

function roundTrip(value: unknown, reserve = 0): unknown {
  const bytes = encodeColumnar(value, reserve);
  return decodeColumnar(bytes.subarray(reserve));
}

interface Layout {
  tree: unknown;
  columns: Record<string, unknown>[];
  dataStart: number;
}

function layoutOf(payload: Buffer): Layout {
  const skeletonLength = payload.readUInt32BE(0);
  const [tree, columns] = unpackPayload(payload.subarray(8, 8 + skeletonLength)) as [
    unknown,
    Record<string, unknown>[],
  ];
  return { tree, columns, dataStart: payload.readUInt32BE(4) };
}

/** A payload with the skeleton replaced (same data area), to test the decoder's checks. */
function withSkeleton(payload: Buffer, tree: unknown, columns: unknown[]): Buffer {
  const { dataStart } = layoutOf(payload);
  const skeleton = packPayload([tree, columns]);
  const data = payload.subarray(dataStart);
  const start = 8 + skeleton.length;
  const out = Buffer.alloc(start + data.length);
  out.writeUInt32BE(skeleton.length, 0);
  out.writeUInt32BE(start, 4);
  skeleton.copy(out, 8);
  data.copy(out, start);
  return out;
}

function decodeError(payload: Uint8Array): ColumnarFormatError {
  try {
    decodeColumnar(payload);
  } catch (err) {
    if (err instanceof ColumnarFormatError) return err;
    throw err;
  }
  throw new Error('decodeColumnar did not throw');
}

describe('columnar payload', () => {
  it.each([
    ['u8', column([0, 255], 7)],
    ['i8', column([-128, 127], -1)],
    ['u16', column([0, 256, 65535], 1)],
    ['i16', column([-32768, 32767, 200], 0)],
    ['u32', column([0, 65536, 0xffff_ffff], 3)],
    ['i32', column([-0x8000_0000, 0x7fff_ffff], 0)],
    ['f64', column([0xffff_ffff + 1, -1], 0)],
    ['f64', column([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 60], 0)],
    ['f64', column([0.5, -1.25, 1e-300, Number.MAX_VALUE, Number.MIN_VALUE], 1)],
    ['f64', column([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], 0)],
    ['f64', column([-0], 0)],
  ])('stores numbers as %s in the narrowest type and gives every value back', (type, values) => {
    const bytes = encodeColumnar({ values }, 0);
    const { columns } = layoutOf(bytes);
    expect(columns).toEqual([{ p: ['values'], t: type, n: N, o: 0, b: expect.any(Number) }]);
    const back = decodeColumnar(bytes) as { values: number[] };
    expect(back.values).toEqual(values);
    expect(Array.isArray(back.values)).toBe(true);
    // toEqual treats -0 as 0 only inside arrays with Object.is semantics; check it explicitly.
    expect(back.values.map((v) => Object.is(v, -0))).toEqual(values.map((v) => Object.is(v, -0)));
  });

  it.each([
    ['fixed-width ASCII', column(['0123456789abcdef'], 'fedcba9876543210'), { e: 'latin1', w: 16 }],
    [
      'ASCII of varying length, with nulls and empty strings',
      column(['', 'a', null, 'key-1-2'], 'k'),
      {
        e: 'latin1',
      },
    ],
    ['all empty', column([], ''), { e: 'latin1', w: 0 }],
    ['UTF-8', column(['é', 'naïve', '日本語', '🙂 ok', '\u0000', null], 'x'), { e: 'utf8' }],
    ['a surrogate pair split over two strings', column(['\ud83d', '\ude42'], 'x'), { e: 'utf8' }],
  ])('stores strings (%s) as one run of bytes and gives them back', (_name, values, expected) => {
    const bytes = encodeColumnar({ values }, 0);
    const [descriptor] = layoutOf(bytes).columns;
    expect(descriptor).toMatchObject({ p: ['values'], t: 's', n: N, ...expected });
    expect(descriptor!.w !== undefined || descriptor!.l !== undefined).toBe(true);
    const back = (decodeColumnar(bytes) as { values: unknown[] }).values;
    if (_name.startsWith('a surrogate')) {
      // Each string is UTF-8 encoded alone, as MessagePack does: a lone surrogate has no UTF-8 form.
      expect(back.slice(0, 2)).toEqual(['\ufffd', '\ufffd']);
      expect(back.slice(2)).toEqual(values.slice(2));
    } else {
      expect(back).toEqual(values);
    }
  });

  it('round-trips a state shaped like the engine’s: columns nested in objects and arrays', () => {
    const rows = 1000;
    const state = {
      version: 1,
      fencing: 123_456,
      names: Array.from({ length: 100 }, (_, i) => `user${i}`),
      leases: {
        ids: Array.from({ length: rows }, (_, i) => i.toString(16).padStart(32, '0')),
        sessions: Array.from({ length: rows }, (_, i) => Math.floor(i / 10)),
        fencing: Array.from({ length: rows }, (_, i) => i + 1),
        ageMs: Array.from({ length: rows }, (_, i) => i * 1.5),
        keys: Array.from({ length: rows }, (_, i) => (i % 3 === 0 ? null : `key-${i}`)),
        shared: [],
      },
      named: [{ feature: 'cad', users: Array.from({ length: 70 }, (_, i) => `u${i}`) }],
      directory: { users: [{ name: 'ada', email: 'ada@example.com' }], groups: [] },
      short: [1, 2, 3],
      mixed: column<unknown>([1, 'two'], 3),
      booleans: column([true], false),
      nested: [[column([1], 2)]],
      nothing: null,
    };
    const before = structuredClone(state);
    const bytes = encodeColumnar(state, 0);
    expect(state).toEqual(before);
    expect(decodeColumnar(bytes)).toEqual(state);
    const paths = layoutOf(bytes).columns.map((c) => c.p);
    expect(paths).toEqual(
      expect.arrayContaining([
        ['names'],
        ['leases', 'ids'],
        ['leases', 'keys'],
        ['named', 0, 'users'],
        ['nested', 0, 0],
      ]),
    );
    expect(paths).not.toContainEqual(['short']);
    expect(paths).not.toContainEqual(['mixed']);
    expect(paths).not.toContainEqual(['booleans']);
  });

  it('lifts an array only from MIN_COLUMN_LENGTH elements on, and a root array too', () => {
    const short = Array.from({ length: N - 1 }, (_, i) => i);
    expect(layoutOf(encodeColumnar({ short }, 0)).columns).toEqual([]);
    expect(roundTrip({ short })).toEqual({ short });
    const root = Array.from({ length: N }, (_, i) => `s${i}`);
    expect(layoutOf(encodeColumnar(root, 0)).columns.map((c) => c.p)).toEqual([[]]);
    expect(roundTrip(root)).toEqual(root);
  });

  it('leaves arrays of nulls only, with holes or with undefined in the skeleton', () => {
    // biome-ignore lint/suspicious/noSparseArray: a hole is the point
    const holes = [, ...column([], 1)];
    const value = { nulls: column([], null), holes, undef: column([undefined], 1) };
    expect(layoutOf(encodeColumnar(value, 0)).columns).toEqual([]);
  });

  it.each([0, 1, 26, 31])(
    'aligns column data to 8 bytes after a %i-byte header, and reads it unaligned',
    (reserve) => {
      const value = { a: column([1], 0x1234_5678), b: column([0.25], 1), c: column(['x'], 'yy') };
      const bytes = encodeColumnar(value, reserve);
      expect(bytes.subarray(0, reserve).every((b) => b === 0)).toBe(true);
      const payload = bytes.subarray(reserve);
      const { columns, dataStart } = layoutOf(payload);
      for (const c of columns) expect((reserve + dataStart + (c.o as number)) % 8).toBe(0);
      expect(decodeColumnar(payload)).toEqual(value);
      // The same payload at an odd address: typed arrays cannot view it, the decoder copies.
      const odd = Buffer.alloc(payload.length + 1);
      payload.copy(odd, 1);
      expect(decodeColumnar(odd.subarray(1))).toEqual(value);
    },
  );

  it('hands numeric columns over as typed arrays of their stored type when asked, strings as before', () => {
    const value = {
      u8: column([0, 255], 7),
      i8: column([-128, 127], 0),
      u16: column([0, 65_535], 1),
      i32: column([-(2 ** 31), 2 ** 31 - 1], 3),
      u32: column([0, 2 ** 32 - 1], 9),
      f64: column([0.5, -0, Number.NaN, -Infinity], 2),
      nested: [{ ids: column(['a', 'bc', null], 'd') }],
    };
    const encoded = encodeColumnar(value, 0);
    // Moved by one byte too: columns whose bytes are not aligned in memory are copied.
    const shifted = Buffer.alloc(encoded.length + 1);
    encoded.copy(shifted, 1);
    for (const payload of [encoded, shifted.subarray(1)]) {
      const typed = decodeColumnar(payload, { typedNumbers: true }) as typeof value;
      expect(typed.u8).toBeInstanceOf(Uint8Array);
      expect(typed.i8).toBeInstanceOf(Int8Array);
      expect(typed.u16).toBeInstanceOf(Uint16Array);
      expect(typed.i32).toBeInstanceOf(Int32Array);
      expect(typed.u32).toBeInstanceOf(Uint32Array);
      expect(typed.f64).toBeInstanceOf(Float64Array);
      for (const key of ['u8', 'i8', 'u16', 'i32', 'u32', 'f64'] as const) {
        expect(Array.from(typed[key])).toEqual(value[key]);
      }
      expect(Object.is(typed.f64[1], -0)).toBe(true);
      expect(typed.nested).toEqual(value.nested);
      expect(Array.isArray(typed.nested[0]!.ids)).toBe(true);
      expect(decodeColumnar(payload)).toEqual(value);
    }
  });

  it('writes the same bytes for the same state', () => {
    const value = { a: column([1], 2), s: column(['é'], 'x') };
    expect(encodeColumnar(value, 3).equals(encodeColumnar(structuredClone(value), 3))).toBe(true);
  });

  describe('refuses a malformed payload', () => {
    const good = encodeColumnar({ a: column([1], 300), s: column(['ab', null], 'c') }, 0);
    const { tree, columns } = layoutOf(good);
    const [numbers, strings] = columns as [Record<string, unknown>, Record<string, unknown>];

    it.each([
      ['shorter than its prefix', good.subarray(0, 5), /shorter than its prefix/],
      [
        'a skeleton running past the data offset',
        (() => {
          const b = Buffer.from(good);
          b.writeUInt32BE(b.readUInt32BE(4), 0);
          return b;
        })(),
        /do not fit/,
      ],
      [
        'a data offset past the end',
        (() => {
          const b = Buffer.from(good);
          b.writeUInt32BE(b.length + 1, 4);
          return b;
        })(),
        /do not fit/,
      ],
      [
        'a skeleton that is not [tree, columns]',
        (() => {
          const skeleton = packPayload({ tree });
          const b = Buffer.alloc(8 + skeleton.length);
          b.writeUInt32BE(skeleton.length, 0);
          b.writeUInt32BE(8 + skeleton.length, 4);
          skeleton.copy(b, 8);
          return b;
        })(),
        /not \[tree, columns\]/,
      ],
      [
        'an unknown column type',
        withSkeleton(good, tree, [{ ...numbers, t: 'u64' }, strings]),
        /unknown type/,
      ],
      ['a column past the end', withSkeleton(good, tree, [{ ...numbers, o: 1 << 20 }, strings]), /runs past/],
      [
        'a byte length that is not n × size',
        withSkeleton(good, tree, [{ ...numbers, n: 3 }, strings]),
        /not 3 × 2/,
      ],
      ['a bad count', withSkeleton(good, tree, [{ ...numbers, n: -1 }, strings]), /bad element count/],
      [
        'a path to no placeholder',
        withSkeleton(good, tree, [{ ...numbers, p: ['fencing'] }, strings]),
        /placeholder/,
      ],
      [
        'a path through a missing key',
        withSkeleton(good, tree, [{ ...numbers, p: ['x', 'y'] }, strings]),
        /does not lead/,
      ],
      ['a column given twice', withSkeleton(good, tree, [numbers, numbers, strings]), /placeholder/],
      [
        'a __proto__ path',
        withSkeleton(good, tree, [{ ...numbers, p: ['__proto__'] }, strings]),
        /bad path step/,
      ],
      [
        'an unknown encoding',
        withSkeleton(good, tree, [numbers, { ...strings, e: 'ucs2' }]),
        /unknown encoding/,
      ],
      [
        'string lengths that do not add up',
        withSkeleton(good, tree, [numbers, { ...strings, b: (strings.b as number) - 1 }]),
        /does not fit|fill/,
      ],
      [
        'strings with neither width nor lengths',
        withSkeleton(good, tree, [numbers, { ...strings, l: undefined }]),
        /neither/,
      ],
    ])('with %s', (_name, payload, reason) => {
      expect(decodeError(payload).message).toMatch(reason);
    });
  });
});
