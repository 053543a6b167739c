import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type {
  GrantedRecord,
  ReclaimedRecord,
  ReleasedRecord,
  SessionEndedRecord,
  SessionOpenedRecord,
} from '../../src/engine/journal-records.js';
import { crc32 } from '../../src/store/crc32.js';
import { RecordCorruptError, RecordTornError, RecoveryError } from '../../src/store/errors.js';
import { JournalWriter } from '../../src/store/journal.js';
import {
  decodeRecord,
  encodeRecord,
  packPayload,
  RECORD_HEADER_BYTES,
} from '../../src/store/record-codec.js';
import { RecordLayoutCode } from '../../src/store/record-layouts.js';
import { recover } from '../../src/store/recovery.js';
import { filesIn, journalName, numbered, tempStateDir } from './fixtures.js';

/** A record framed the way every version frames it, with any payload (checksum correct). */
function frame(seq: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(RECORD_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeBigUInt64BE(BigInt(seq), 8);
  out.set(payload, RECORD_HEADER_BYTES);
  out.writeUInt32BE(crc32(out.subarray(8)), 4);
  return out;
}

/** What the journal wrote before the compact layouts: MessagePack of the record. */
function oldFormat(seq: number, record: object): Buffer {
  return frame(seq, packPayload(record));
}

function payloadOf(bytes: Buffer): Buffer {
  return bytes.subarray(RECORD_HEADER_BYTES);
}

function roundTrip(record: object, seq = 7): unknown {
  const bytes = encodeRecord(seq, record);
  const decoded = decodeRecord(bytes, 0);
  expect(decoded?.seq).toBe(seq);
  expect(decoded?.end).toBe(bytes.length);
  return decoded?.record;
}

/** The same keys, in the same order, with the same values (toStrictEqual ignores key order). */
function expectSame(actual: unknown, expected: object): void {
  expect(actual).toStrictEqual(expected);
  expect(Object.keys(actual as object)).toEqual(Object.keys(expected));
}

const ID = '53869c2ca7290830d5ef880d6c21e764';
const SESSION = '5c7e3644964562b2a9b587c9bca80829';
const LONG = 'x'.repeat(300);

const grant: GrantedRecord = { t: 'g', id: ID, s: SESSION, f: 'big', n: 1, fe: 1, k: 'key-0-0', ty: 'c' };

/** Every grant shape: each subset of the optional fields, in the engine's order. */
function grantShapes(): GrantedRecord[] {
  const shapes: GrantedRecord[] = [];
  for (let bits = 0; bits < 16; bits++) {
    const r: { -readonly [K in keyof GrantedRecord]: GrantedRecord[K] } = {
      t: 'g',
      id: ID,
      s: SESSION,
      f: 'big',
      n: 3,
      fe: 2 ** 40 + 1,
    };
    if (bits & 1) r.k = 'key-7';
    if (bits & 2) r.j = 'a1b2';
    if (bits & 4) r.ty = 'n';
    if (bits & 8) r.gr = 'team-a';
    shapes.push(r);
  }
  return shapes;
}

const compactCases: [string, object][] = [
  ['a grant with a key', grant],
  ...grantShapes().map((r, i): [string, object] => [`grant shape ${i}`, r]),
  ['a grant with empty strings', { t: 'g', id: '', s: '', f: '', n: 0, fe: 0, k: '', ty: '' }],
  [
    'a grant with non-ASCII strings',
    { t: 'g', id: 'ïd', s: 'sé', f: 'CAD — 日本語 🚀', n: 1, fe: 2, k: '\u{1f600}'.repeat(40), gr: 'zoë' },
  ],
  [
    'a grant with the largest numbers',
    { t: 'g', id: ID, s: SESSION, f: 'big', n: 2 ** 32, fe: Number.MAX_SAFE_INTEGER, ty: 'c' },
  ],
  [
    'a grant with strings of 127, 128 and 300 bytes',
    { t: 'g', id: 'i'.repeat(127), s: 's'.repeat(128), f: LONG, n: 1, fe: 1 },
  ],
  ['a release', { t: 'r', id: ID } satisfies ReleasedRecord],
  ['a release with an empty id', { t: 'r', id: '' } satisfies ReleasedRecord],
  [
    'a session opened',
    {
      t: 's+',
      id: SESSION,
      h: 'ab'.repeat(32),
      u: 'ada',
      o: 'host-1',
      c: 'bench',
    } satisfies SessionOpenedRecord,
  ],
  [
    'a session opened with a display name',
    {
      t: 's+',
      id: SESSION,
      h: 'ab'.repeat(32),
      u: 'Zoë',
      o: 'hôte',
      c: 'cli',
      d: 'Zoë Ü',
    } satisfies SessionOpenedRecord,
  ],
  ['a session ended', { t: 's-', id: SESSION, why: 'expired' } satisfies SessionEndedRecord],
  ['a lease reclaimed', { t: 'x', id: ID, why: 'expired' } satisfies ReclaimedRecord],
];

describe('compact record layouts', () => {
  it.each(compactCases)('round-trip %s exactly, in a compact layout', (_name, record) => {
    const bytes = encodeRecord(7, record);
    expect(payloadOf(bytes)[0]).toBeLessThan(0x80);
    expectSame(roundTrip(record), record);
  });

  it('name the layout in the first payload byte', () => {
    expect(payloadOf(encodeRecord(1, grant))[0]).toBe(RecordLayoutCode.Granted);
    expect(payloadOf(encodeRecord(1, { t: 'r', id: 'x' }))[0]).toBe(RecordLayoutCode.Released);
    expect(payloadOf(encodeRecord(1, { t: 's-', id: 'x', why: 'closed' }))[0]).toBe(
      RecordLayoutCode.SessionEnded,
    );
  });

  it('take less room than MessagePack for a grant', () => {
    expect(encodeRecord(1, grant).length).toBeLessThan(oldFormat(1, grant).length);
  });

  it('hand out records that later encodings do not overwrite', () => {
    const records = Array.from({ length: 3000 }, (_, i) => ({ t: 'r', id: `lease-${i}` }));
    const encoded = records.map((r, i) => encodeRecord(i + 1, r));
    expect(encoded.map((bytes) => decodeRecord(bytes, 0)?.record)).toStrictEqual(records);
  });

  const fallbackCases: [string, object][] = [
    ['an unknown record type', { t: 'b+', id: 'b1', u: 'ada', w: 1_700_000_000_000 }],
    ['a record without a type', { id: ID }],
    ['a type that is not first', { id: ID, t: 'r' }],
    ['fields out of order', { t: 'g', s: SESSION, id: ID, f: 'big', n: 1, fe: 1 }],
    ['an extra field', { t: 'r', id: ID, extra: 1 }],
    ['a missing field', { t: 'g', id: ID, s: SESSION, f: 'big', n: 1 }],
    ['a negative number', { t: 'g', id: ID, s: SESSION, f: 'big', n: -1, fe: 1 }],
    ['a fraction', { t: 'g', id: ID, s: SESSION, f: 'big', n: 1.5, fe: 1 }],
    ['a number past 2^53 - 1', { t: 'g', id: ID, s: SESSION, f: 'big', n: 1, fe: 2 ** 53 }],
    ['a number where a string goes', { t: 'r', id: 5 }],
    ['a string where a number goes', { t: 'g', id: ID, s: SESSION, f: 'big', n: '1', fe: 1 }],
    [
      'an optional field set to undefined',
      { t: 'g', id: ID, s: SESSION, f: 'big', n: 1, fe: 1, k: undefined },
    ],
    ['a null field', { t: 'r', id: null }],
    ['strings too long for a compact record', { t: 'r', id: 'y'.repeat(5000) }],
    ['an array', ['r', ID]],
  ];

  it.each(fallbackCases)('fall back to MessagePack for %s, which round-trips too', (_name, record) => {
    const bytes = encodeRecord(9, record);
    expect(payloadOf(bytes)[0]).toBeGreaterThanOrEqual(0x80);
    expect(payloadOf(bytes)).toEqual(packPayload(record));
    expect(roundTrip(record, 9)).toStrictEqual(record);
  });

  it('decode records written before the compact layouts (MessagePack payloads)', () => {
    for (const [, record] of compactCases) {
      const bytes = oldFormat(12, record);
      expectSame(decodeRecord(bytes, 0)?.record, record);
    }
  });

  it('decode a file mixing old and new records', () => {
    const records = [grant, { t: 'r', id: ID }, { t: 'b-', id: 'b1' }, grant];
    const data = Buffer.concat([
      oldFormat(1, records[0]!),
      encodeRecord(2, records[1]!),
      encodeRecord(3, records[2]!),
      encodeRecord(4, records[3]!),
    ]);
    const out: unknown[] = [];
    for (let r = decodeRecord(data, 0); r !== undefined; r = decodeRecord(data, r.end)) out.push(r.record);
    expect(out).toStrictEqual(records);
  });

  // Payloads that pass the checksum but break their layout: a writer bug or tampering.
  const malformed: [string, number[], RegExp][] = [
    ['an unknown layout code', [0x7f, 0x00], /unknown record layout 0x7f/],
    ['layout code 0', [0x00], /unknown record layout 0x00/],
    ['a string running past the end', [RecordLayoutCode.Released, 5, 0x61, 0x62], /runs past the end/],
    ['bytes left over', [RecordLayoutCode.Released, 1, 0x61, 0x00], /1 bytes left over/],
    ['a missing field', [RecordLayoutCode.SessionEnded, 1, 0x61], /ends early/],
    ['unused presence bits', [RecordLayoutCode.Granted, 0x10, 0, 0, 0, 1, 1], /presence bits 0x10/],
    [
      'a varint longer than 8 bytes',
      [RecordLayoutCode.Granted, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0],
      /longer than 8 bytes/,
    ],
    [
      'an integer past 2^53 - 1',
      [RecordLayoutCode.Granted, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
      /past 2\^53/,
    ],
  ];

  it.each(malformed)('report %s as corrupt, at the record', (_name, payload, reason) => {
    const data = Buffer.concat([encodeRecord(1, grant), frame(2, Uint8Array.from(payload))]);
    const first = decodeRecord(data, 0)!;
    let err: unknown;
    try {
      decodeRecord(data, first.end);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RecordCorruptError);
    expect((err as RecordCorruptError).offset).toBe(first.end);
    expect((err as RecordCorruptError).message).toMatch(reason);
  });

  it('report a compact record cut anywhere as torn, and a flipped payload bit as corrupt', () => {
    const first = encodeRecord(1, grant);
    const second = encodeRecord(2, { t: 'r', id: ID });
    const data = Buffer.concat([first, second]);
    for (let cut = first.length + 1; cut < data.length; cut++) {
      expect(() => decodeRecord(data.subarray(0, cut), first.length), `cut at ${cut}`).toThrow(
        RecordTornError,
      );
    }
    for (let at = RECORD_HEADER_BYTES; at < first.length; at++) {
      const bad = Buffer.from(data);
      bad[at]! ^= 0x01;
      expect(() => decodeRecord(bad, 0), `bit flipped at ${at}`).toThrow(/checksum mismatch/);
    }
  });
});

describe('recovery of compact records', () => {
  const records: object[] = [
    { t: 's+', id: SESSION, h: 'ab'.repeat(32), u: 'ada', o: 'host-1', c: 'bench' },
    ...Array.from({ length: 20 }, (_, i) => ({ ...grant, id: `lease-${i}`, fe: i + 1, k: `key-${i}` })),
    { t: 'r', id: 'lease-3' },
    { t: 'x', id: 'lease-4', why: 'idle' },
    { t: 'b+', id: 'b1', u: 'ada', w: 1_700_000_000_000 },
    { t: 's-', id: SESSION, why: 'closed' },
  ];

  async function writeAll(dir: string, list: object[]): Promise<void> {
    const journal = await JournalWriter.open(dir);
    for (const r of list) journal.append(r);
    await journal.close();
  }

  it('replays what the journal wrote, in order', async () => {
    const dir = tempStateDir();
    await writeAll(dir, records);
    const result = await recover(dir);
    expect(result.lastSeq).toBe(records.length);
    expect(numbered(result).map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
    for (const [i, r] of result.records.entries()) expectSame(r, records[i]!);
  });

  it('recovers a directory written by the previous version, and goes on after it in the new format', async () => {
    const dir = tempStateDir();
    const old = records.slice(0, 10);
    writeFileSync(join(dir, journalName(1)), Buffer.concat(old.map((r, i) => oldFormat(i + 1, r))));
    const first = await recover(dir);
    expect(first.records).toStrictEqual(old);
    const journal = await JournalWriter.open(dir, { lastSeq: first.lastSeq });
    for (const r of records.slice(10)) journal.append(r);
    await journal.close();
    const second = await recover(dir);
    expect(second.records).toStrictEqual(records);
    expect(second.warnings).toEqual([]);
  });

  it('truncates a torn compact record at the end of the last file', async () => {
    const dir = tempStateDir();
    await writeAll(dir, records);
    const path = join(dir, journalName(1));
    const size = readFileSync(path).length;
    truncateSync(path, size - 3);
    const result = await recover(dir);
    expect(result.lastSeq).toBe(records.length - 1);
    expect(result.warnings).toEqual([expect.stringMatching(/torn record at byte \d+/)]);
    expect(readFileSync(path).length).toBe(size - encodeRecord(1, records.at(-1)!).length);
  });

  it('refuses a corrupt compact record with its file and offset, and --force-recover keeps what precedes it', async () => {
    const dir = tempStateDir();
    await writeAll(dir, records);
    const path = join(dir, journalName(1));
    const data = readFileSync(path);
    const offset = encodeRecord(1, records[0]!).length;
    data[offset + RECORD_HEADER_BYTES + 5]! ^= 0x40;
    writeFileSync(path, data);
    const err = await recover(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecoveryError);
    expect((err as RecoveryError).message).toContain(path);
    expect((err as RecoveryError).message).toContain(`byte ${offset}`);
    expect((err as RecoveryError).message).toMatch(/checksum mismatch/);
    const forced = await recover(dir, { forceRecover: true });
    expect(forced.lastSeq).toBe(1);
    expect(forced.records).toStrictEqual([records[0]]);
    expect(filesIn(dir).filter((f) => f.includes('.corrupt-'))).toHaveLength(1);
  });
});
