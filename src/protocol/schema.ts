/**
 * A small validator for decoded wire maps (PROTOCOL.md §3.3–§3.5). A schema both checks a value and
 * gives its TypeScript type, so the message types in messages.ts cannot drift from their checks.
 * Problems throw InvalidRequestError with `details.field` naming the offending path.
 */
import { InvalidRequestError } from './errors.js';
import { WIRE_MAP_PROTOTYPE, type WireMap, type WireValue } from './msgpack.js';
import { hasControlCharacters } from './names.js';

/** How unknown keys are treated: requests reject them; replies and pushes ignore them (§3.5). */
export type Strictness = 'reject-unknown' | 'ignore-unknown';

export interface Schema<T> {
  readonly describe: string;
  parse(value: WireValue | undefined, path: string, strictness: Strictness): T;
}

export interface OptionalSchema<T> {
  readonly optional: Schema<T>;
}

type Field = Schema<unknown> | OptionalSchema<unknown>;
export type Shape = Readonly<Record<string, Field>>;

type RequiredKeys<S extends Shape> = { [K in keyof S]: S[K] extends Schema<unknown> ? K : never }[keyof S];
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends OptionalSchema<unknown> ? K : never;
}[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] };

export type Infer<F> = F extends Schema<infer T> ? T : F extends OptionalSchema<infer T> ? T : never;
export type InferShape<S extends Shape> = Simplify<
  { [K in RequiredKeys<S>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> }
>;

export function invalid(path: string, problem: string): never {
  throw new InvalidRequestError(`${path}: ${problem}`, { details: { field: path, problem } });
}

function describeValue(value: WireValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'nil';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return `a string of ${Buffer.byteLength(value)} bytes`;
  return `${typeof value} ${String(value)}`;
}

export function optional<T>(schema: Schema<T>): OptionalSchema<T> {
  return { optional: schema };
}

export function uint(min: number, max: number): Schema<number> {
  return {
    describe: `an integer ${min}..${max}`,
    parse(value, path) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        invalid(path, `must be an integer ${min}..${max}, got ${describeValue(value)}`);
      }
      return value;
    },
  };
}

export function bool(): Schema<boolean> {
  return {
    describe: 'a boolean',
    parse(value, path) {
      if (typeof value !== 'boolean') invalid(path, `must be a boolean, got ${describeValue(value)}`);
      return value;
    },
  };
}

export { hasControlCharacters };

// biome-ignore lint/suspicious/noControlCharactersInRegex: escaping control characters is the point.
const CONTROL_ALL = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * A peer-supplied name made safe to quote in an error message: control characters escaped as
 * \uXXXX and cut to `max` characters, so the reply stays valid for the peer's own checks.
 */
export function printable(value: string, max = 64): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return cut.replace(CONTROL_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface StringRule {
  /** Smallest length in bytes of UTF-8. */
  min: number;
  /** Largest length in bytes of UTF-8. */
  max: number;
  /** A whole-string pattern; when given it is the only charset rule. */
  pattern?: RegExp;
  /** What the pattern means, for the error message. */
  patternText?: string;
}

export function str(rule: StringRule): Schema<string> {
  return {
    describe: `a string of ${rule.min}..${rule.max} bytes`,
    parse(value, path) {
      if (typeof value !== 'string') invalid(path, `must be a string, got ${describeValue(value)}`);
      // UTF-8 takes 1 to 3 bytes per UTF-16 unit: a length that far inside the limits needs no
      // counting (most names and keys).
      const units = value.length;
      if (units < rule.min || units * 3 > rule.max) {
        const bytes = Buffer.byteLength(value);
        if (bytes < rule.min || bytes > rule.max) {
          invalid(path, `must be ${rule.min}..${rule.max} bytes long, got ${bytes}`);
        }
      }
      if (rule.pattern) {
        if (!rule.pattern.test(value)) invalid(path, `must be ${rule.patternText ?? rule.pattern.source}`);
      } else if (hasControlCharacters(value)) {
        invalid(path, 'must not contain control characters');
      }
      return value;
    },
  };
}

export function literal<const T extends string>(values: readonly T[]): Schema<T> {
  const allowed: ReadonlySet<string> = new Set(values);
  return {
    describe: values.join(' | '),
    parse(value, path) {
      if (typeof value !== 'string' || !allowed.has(value)) {
        invalid(path, `must be one of ${values.join(', ')}, got ${describeValue(value)}`);
      }
      return value as T;
    },
  };
}

export function list<T>(item: Schema<T>, maxItems: number, minItems = 0): Schema<T[]> {
  return {
    describe: `an array of ${item.describe}`,
    parse(value, path, strictness) {
      if (!Array.isArray(value)) invalid(path, `must be an array, got ${describeValue(value)}`);
      if (value.length < minItems || value.length > maxItems) {
        invalid(path, `must have ${minItems}..${maxItems} items, got ${value.length}`);
      }
      return value.map((v, i) => item.parse(v, `${path}[${i}]`, strictness));
    },
  };
}

/** A free-form map of details: any decoded value, passed through as is. */
export function anyMap(): Schema<Readonly<Record<string, unknown>>> {
  return {
    describe: 'a map',
    parse(value, path) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        invalid(path, `must be a map, got ${describeValue(value)}`);
      }
      return { ...value };
    },
  };
}

export function record<const S extends Shape>(shape: S): Schema<InferShape<S>> {
  const entries = Object.entries(shape);
  return {
    describe: 'a map',
    parse(value, path, strictness) {
      if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value)) {
        invalid(path, `must be a map, got ${describeValue(value)}`);
      }
      return parseShape(entries, value, path, strictness) as InferShape<S>;
    },
  };
}

/**
 * Checks the fields of `map` against `shape`; `prefix` is the path of the map itself ('' at the top).
 * The fields go into `out` (a new object unless given), in the shape's order.
 */
export function parseShape(
  entries: ReadonlyArray<readonly [string, Field]>,
  map: WireMap,
  prefix: string,
  strictness: Strictness,
  skip?: ReadonlySet<string>,
  out: Record<string, unknown> = {},
): Record<string, unknown> {
  let found = 0;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const key = entry[0];
    const field = entry[1];
    const value = map[key];
    if (value !== undefined && !skip?.has(key)) found++;
    if ('optional' in field) {
      // §3.4: an optional field may be absent or nil; both mean "not given".
      if (value !== undefined && value !== null) {
        out[key] = field.optional.parse(value, prefix ? `${prefix}.${key}` : key, strictness);
      }
    } else {
      if (value === undefined) invalid(prefix ? `${prefix}.${key}` : key, 'is required');
      out[key] = field.parse(value, prefix ? `${prefix}.${key}` : key, strictness);
    }
  }
  if (strictness === 'reject-unknown') {
    // When the map has no more keys (skipped ones aside) than fields of the shape were found in
    // it, it has no unknown key, and the keys need not be looked at one by one. Counted only for
    // a decoded map: it inherits nothing, so for…in sees its own keys, and a field is there
    // exactly when it reads as something.
    let keys = 0;
    if (Object.getPrototypeOf(map) === WIRE_MAP_PROTOTYPE) {
      for (const key in map) if (!skip?.has(key)) keys++;
    } else keys = Number.POSITIVE_INFINITY;
    if (keys > found) rejectUnknown(entries, map, prefix, out, skip);
  }
  return out;
}

/** Throws for the first key of `map` that is not a field of `entries` (nor in `skip`), if any. */
function rejectUnknown(
  entries: ReadonlyArray<readonly [string, Field]>,
  map: WireMap,
  prefix: string,
  out: Record<string, unknown>,
  skip: ReadonlySet<string> | undefined,
): void {
  const index = shapeIndex(entries);
  for (const key of Object.keys(map)) {
    // Own keys only: `key in out` would let through the names Object.prototype gives `out`
    // (`toString`, `constructor`, …), which PROTOCOL.md §3.5 rejects like any unknown key.
    if (!Object.hasOwn(out, key) && !Object.hasOwn(index, key) && !skip?.has(key)) {
      invalid(prefix ? `${prefix}.${printable(key)}` : printable(key), 'is not a field of this message');
    }
  }
}

const indexCache = new WeakMap<object, Readonly<Record<string, true>>>();

function shapeIndex(entries: ReadonlyArray<readonly [string, Field]>): Readonly<Record<string, true>> {
  let index = indexCache.get(entries);
  if (!index) {
    const built: Record<string, true> = Object.create(null);
    for (const [key] of entries) built[key] = true;
    index = built;
    indexCache.set(entries, index);
  }
  return index;
}
