/**
 * Typed access to a parsed TOML document that records a problem instead of throwing, so one run
 * reports every mistake in the file. Paths are dotted keys (`server.lease_ttl`).
 */
import { parseHostPort } from '../protocol/names.js';
import { formatDuration, parseDuration } from './duration.js';
import type { Endpoint } from './types.js';

type Table = Record<string, unknown>;

function isTable(value: unknown): value is Table {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date);
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return 'an array';
  if (isTable(value)) return 'a table';
  return String(value);
}

export class ConfigReader {
  /**
   * @param table the table this reader looks into
   * @param prefix its dotted path, for messages ('' at the top)
   * @param problems shared by a reader and its children, so the top one sees every problem
   */
  constructor(
    private readonly table: Table,
    private readonly prefix = '',
    readonly problems: string[] = [],
  ) {}

  path(key: string): string {
    return this.prefix ? `${this.prefix}.${key}` : key;
  }

  problem(key: string, message: string): void {
    this.problems.push(`${key ? this.path(key) : this.prefix}: ${message}`);
  }

  private get(key: string): unknown {
    return Object.hasOwn(this.table, key) ? this.table[key] : undefined;
  }

  /** A reader for the sub-table at `key`, or undefined when it is absent or not a table (reported). */
  child(key: string): ConfigReader | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    if (!isTable(value)) {
      this.problem(key, `must be a table ([${this.path(key)}]), got ${show(value)}`);
      return undefined;
    }
    return new ConfigReader(value, this.path(key), this.problems);
  }

  keys(): string[] {
    return Object.keys(this.table);
  }

  /** Reports keys of this table that are not in `known`. */
  allowOnly(known: readonly string[]): void {
    for (const key of Object.keys(this.table)) {
      if (!known.includes(key)) this.problem(key, `unknown key (known keys here: ${known.join(', ')})`);
    }
  }

  string(key: string, fallback: string): string {
    const value = this.get(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || value.length === 0) {
      this.problem(key, `must be a non-empty string, got ${show(value)}`);
      return fallback;
    }
    return value;
  }

  oneOf<const T extends string>(key: string, fallback: T, allowed: readonly T[]): T {
    const value = this.get(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.problem(key, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${show(value)}`);
      return fallback;
    }
    return value as T;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.get(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') {
      this.problem(key, `must be true or false, got ${show(value)}`);
      return fallback;
    }
    return value;
  }

  optionalBoolean(key: string): boolean | undefined {
    return this.get(key) === undefined ? undefined : this.boolean(key, false);
  }

  /** A list of strings each passing `valid` (described as `what` in the message); [] when absent. */
  stringList(key: string, valid: (s: string) => boolean, what: string): string[] {
    const value = this.get(key);
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      this.problem(key, `must be a list of ${what}, got ${show(value)}`);
      return [];
    }
    const out: string[] = [];
    for (const item of value) {
      if (typeof item !== 'string' || !valid(item)) {
        this.problem(key, `must be a list of ${what}; ${show(item)} is not one`);
        continue;
      }
      if (out.includes(item)) {
        this.problem(key, `lists ${show(item)} twice`);
        continue;
      }
      out.push(item);
    }
    return out;
  }

  /** A positive number (not necessarily whole), or undefined when absent. */
  optionalPositive(key: string): number | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    const n = typeof value === 'bigint' ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
      this.problem(key, `must be a number > 0, got ${show(value)}`);
      return undefined;
    }
    return n;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  integer(key: string, fallback: number, min: number, max: number): number {
    return this.get(key) === undefined ? fallback : (this.requiredInteger(key, min, max) ?? fallback);
  }

  requiredInteger(key: string, min: number, max: number): number | undefined {
    const value = this.get(key);
    if (value === undefined) {
      this.problem(key, 'is required');
      return undefined;
    }
    const n = typeof value === 'bigint' ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min) {
      this.problem(key, `must be a whole number ≥ ${min}, got ${show(value)}`);
      return undefined;
    }
    if (n > max) {
      this.problem(key, `must be at most ${max}, got ${show(value)}`);
      return undefined;
    }
    return n;
  }

  duration(key: string, fallback: string, minMs: number): number {
    return this.optionalDuration(key, minMs) ?? (parseDuration(fallback) as number);
  }

  optionalDuration(key: string, minMs: number): number | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    const ms = typeof value === 'string' ? parseDuration(value) : undefined;
    if (ms === undefined) {
      this.problem(key, `must be a duration like "500ms", "30s", "15m", "2h" or "400d", got ${show(value)}`);
      return undefined;
    }
    if (ms < minMs) {
      this.problem(key, `must be at least ${formatDuration(minMs)}, got ${show(value)}`);
      return undefined;
    }
    return ms;
  }

  /** One `host:port` or a list of them (`[::1]:27000` for IPv6); `[]` only when `allowEmpty`. */
  endpoints(key: string, fallback: string, allowEmpty = false): Endpoint[] {
    const value = this.get(key) ?? fallback;
    const list = Array.isArray(value) ? value : [value];
    if (list.length === 0 && !allowEmpty) {
      this.problem(key, 'must name at least one host:port');
      return [];
    }
    const out: Endpoint[] = [];
    for (const item of list) {
      const endpoint = typeof item === 'string' ? parseHostPort(item) : undefined;
      if (!endpoint) {
        this.problem(key, `must be "host:port" (port 0..65535) or a list of them, got ${show(item)}`);
        continue;
      }
      out.push(endpoint);
    }
    return out;
  }
}
