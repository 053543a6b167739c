/**
 * Output of the reports (issue 7): `table` (aligned columns, for people), `csv` (RFC 4180, a
 * header row, for spreadsheets) and `json` (one document, camelCase keys, for scripts). A report
 * builds its rows once as plain values and renders them in the format asked for.
 */

export type ReportFormat = 'table' | 'csv' | 'json';
export const REPORT_FORMATS: readonly ReportFormat[] = ['table', 'csv', 'json'];

export type Cell = string | number | boolean | null | undefined;

export interface Column<R> {
  /** The JSON key and the CSV header. */
  readonly key: string;
  /** The table header (default: `key` in upper case). */
  readonly header?: string;
  readonly value: (row: R) => Cell;
  /** How the cell shows in the table (default: String(value), '-' for null/undefined). */
  readonly show?: (row: R) => string;
}

function text(value: Cell): string {
  return value === null || value === undefined ? '' : String(value);
}

/** RFC 4180: quote a field with a comma, quote, CR or LF; double the quotes inside. */
export function csvField(value: Cell): string {
  const s = text(value);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function toCsv<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const lines = [columns.map((c) => csvField(c.key)).join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvField(c.value(row))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export function toTable<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const header = columns.map((c) => c.header ?? c.key.toUpperCase());
  const cells = rows.map((row) =>
    columns.map((c) => {
      if (c.show) return c.show(row);
      const v = c.value(row);
      return v === null || v === undefined ? '-' : String(v);
    }),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const numeric = columns.map(
    (_, i) => cells.length > 0 && cells.every((r) => /^-?[\d.]+%?$|^-$/.test(r[i]!)),
  );
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...cells.map(line)].join('\n')}\n`;
}

/** A horizontal bar of `width` characters: `value` of `max` filled. */
export function bar(value: number, max: number, width = 20): string {
  if (!(max > 0)) return ''.padEnd(width, '·');
  const filled = Math.max(0, Math.min(width, Math.round((value / max) * width)));
  return '█'.repeat(filled) + '·'.repeat(width - filled);
}

/** Renders rows as the format asks; `json` wraps them as `{ [name]: rows, ...extra }`. */
export function render<R>(
  format: ReportFormat,
  name: string,
  rows: readonly R[],
  columns: readonly Column<R>[],
  extra: Record<string, unknown> = {},
): string {
  if (format === 'csv') return toCsv(rows, columns);
  if (format === 'json') {
    const out = rows.map((row) => Object.fromEntries(columns.map((c) => [c.key, c.value(row) ?? null])));
    return `${JSON.stringify({ ...extra, [name]: out }, null, 2)}\n`;
  }
  return toTable(rows, columns);
}
