import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeadlineHeap } from '../../src/engine/deadline-heap.js';

function drainAll<T>(heap: DeadlineHeap<T>): { at: number; item: T }[] {
  const out: { at: number; item: T }[] = [];
  for (let entry = heap.pop(); entry !== undefined; entry = heap.pop()) out.push(entry);
  return out;
}

describe('DeadlineHeap', () => {
  it('pops entries earliest deadline first', () => {
    const heap = new DeadlineHeap<string>();
    for (const [at, item] of [
      [50, 'e'],
      [10, 'a'],
      [40, 'd'],
      [20, 'b'],
      [30, 'c'],
    ] as const) {
      heap.push(at, item);
    }
    expect(heap.size).toBe(5);
    expect(heap.peekAt()).toBe(10);
    expect(drainAll(heap).map((entry) => entry.item)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(heap.size).toBe(0);
    expect(heap.pop()).toBeUndefined();
    expect(heap.peekAt()).toBeUndefined();
  });

  it('pops equal deadlines in insertion order', () => {
    const heap = new DeadlineHeap<number>();
    for (let i = 0; i < 20; i++) heap.push(i % 2 === 0 ? 7 : 3, i);
    const items = drainAll(heap).map((entry) => entry.item);
    expect(items).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  });

  it('counts pops', () => {
    const heap = new DeadlineHeap<number>();
    heap.push(1, 1);
    heap.push(2, 2);
    heap.pop();
    expect(heap.popped).toBe(1);
    heap.pop();
    heap.pop(); // empty: not a pop
    expect(heap.popped).toBe(2);
  });

  it('refuses a NaN deadline', () => {
    expect(() => new DeadlineHeap<number>().push(Number.NaN, 1)).toThrow(RangeError);
  });

  describe('drainDue', () => {
    it('pops only what is due, and leaves the rest untouched', () => {
      const heap = new DeadlineHeap<string>();
      heap.push(100, 'late');
      heap.push(10, 'early');
      heap.push(50, 'middle');
      const seen: string[] = [];
      const popped = heap.drainDue(50, (item) => {
        seen.push(item);
        return undefined;
      });
      expect(popped).toBe(2);
      expect(seen).toEqual(['early', 'middle']);
      expect(heap.size).toBe(1);
      expect(heap.peekAt()).toBe(100);
    });

    it('re-inserts an entry whose deadline moved later, and pops it again only when that comes', () => {
      const heap = new DeadlineHeap<{ name: string; deadline: number }>();
      const moved = { name: 'moved', deadline: 10 };
      heap.push(10, moved);
      moved.deadline = 80; // a heartbeat moved the real deadline; the entry stays at 10
      const due: string[] = [];
      const visit = (item: { name: string; deadline: number }, _at: number, now: number) => {
        if (item.deadline > now) return item.deadline;
        due.push(item.name);
        return undefined;
      };
      expect(heap.drainDue(20, (item, at) => visit(item, at, 20))).toBe(1);
      expect(due).toEqual([]);
      expect(heap.peekAt()).toBe(80);
      expect(heap.drainDue(79, (item, at) => visit(item, at, 79))).toBe(0);
      expect(heap.drainDue(80, (item, at) => visit(item, at, 80))).toBe(1);
      expect(due).toEqual(['moved']);
      expect(heap.size).toBe(0);
    });

    it('drops stale entries lazily, when they come due', () => {
      const heap = new DeadlineHeap<{ id: number; ended: boolean }>();
      const records = Array.from({ length: 5 }, (_, id) => ({ id, ended: false }));
      for (const record of records) heap.push(record.id * 10, record);
      records[1]!.ended = true;
      records[3]!.ended = true;
      expect(heap.size).toBe(5); // ending a record does no heap work
      const due: number[] = [];
      heap.drainDue(100, (record) => {
        if (!record.ended) due.push(record.id);
        return undefined;
      });
      expect(due).toEqual([0, 2, 4]);
      expect(heap.size).toBe(0);
    });

    it('lets the visitor push new entries, popping them in the same drain if due', () => {
      const heap = new DeadlineHeap<string>();
      heap.push(5, 'first');
      const seen: string[] = [];
      heap.drainDue(10, (item) => {
        seen.push(item);
        if (item === 'first') {
          heap.push(8, 'due-now');
          heap.push(20, 'later');
        }
        return undefined;
      });
      expect(seen).toEqual(['first', 'due-now']);
      expect(heap.peekAt()).toBe(20);
    });

    it('refuses a re-insert that is not later than now (it would loop forever)', () => {
      const heap = new DeadlineHeap<string>();
      heap.push(5, 'x');
      expect(() => heap.drainDue(10, () => 10)).toThrow(RangeError);
    });
  });

  describe('against a sorted array (property)', () => {
    type Op = { kind: 'push'; at: number } | { kind: 'pop' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 0, max: 50 }).map((at) => ({ kind: 'push' as const, at })) },
      { weight: 2, arbitrary: fc.constant({ kind: 'pop' as const }) },
    );

    it('pops what a stable sort by deadline would', () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
          const heap = new DeadlineHeap<number>();
          const model: { at: number; item: number }[] = [];
          let next = 0;
          for (const step of ops) {
            if (step.kind === 'push') {
              heap.push(step.at, next);
              model.push({ at: step.at, item: next });
              next++;
              // A stable sort keeps insertion order among equal deadlines, like the heap.
              model.sort((a, b) => a.at - b.at);
            } else {
              expect(heap.pop()).toEqual(model.shift());
            }
            expect(heap.size).toBe(model.length);
            expect(heap.peekAt()).toBe(model[0]?.at);
          }
          expect(drainAll(heap)).toEqual(model);
        }),
        { numRuns: 300 },
      );
    });

    it('drainDue hands out exactly the due entries, in order', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 100 }),
          fc.integer({ min: 0, max: 100 }),
          (deadlines, now) => {
            const heap = new DeadlineHeap<number>();
            deadlines.forEach((at, i) => {
              heap.push(at, i);
            });
            const seen: number[] = [];
            const popped = heap.drainDue(now, (item) => {
              seen.push(item);
              return undefined;
            });
            const expected = deadlines
              .map((at, i) => ({ at, i }))
              .filter((entry) => entry.at <= now)
              .sort((a, b) => a.at - b.at || a.i - b.i)
              .map((entry) => entry.i);
            expect(seen).toEqual(expected);
            expect(popped).toBe(expected.length);
            expect(heap.size).toBe(deadlines.length - expected.length);
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
