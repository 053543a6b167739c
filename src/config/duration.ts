/**
 * Durations in the config (DESIGN §5): a whole number and a unit, `"500ms"`, `"30s"`, `"15m"`,
 * `"2h"`, `"400d"`; several parts may be joined, largest first: `"1h30m"`.
 */
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
const ORDER: readonly Unit[] = ['d', 'h', 'm', 's', 'ms'];
const PART = /(\d+)(ms|d|h|m|s)/y;

/** Parses a duration to milliseconds, or returns undefined when the text is not one. */
export function parseDuration(text: string): number | undefined {
  if (text.length === 0 || text.length > 32) return undefined;
  let total = 0;
  let lastUnit = -1;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const match = PART.exec(text);
    if (!match) return undefined;
    const unit = match[2] as Unit;
    const rank = ORDER.indexOf(unit);
    if (rank <= lastUnit) return undefined;
    lastUnit = rank;
    total += Number(match[1]) * UNIT_MS[unit];
  }
  return Number.isSafeInteger(total) ? total : undefined;
}

/** Formats milliseconds the way the config writes them (`90000` → `"1m30s"`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const unit of ORDER) {
    const size = UNIT_MS[unit];
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}
