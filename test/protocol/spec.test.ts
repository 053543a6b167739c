/** PROTOCOL.md §8 and src/protocol/codes.ts must agree one-to-one (the SDK mirrors both). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONNECTION_FATAL, ErrorCode, RETRYABLE } from '../../src/protocol/codes.js';
import { errorFromCode, LeaseholdError } from '../../src/protocol/errors.js';

const spec = readFileSync(new URL('../../protocol/PROTOCOL.md', import.meta.url), 'utf8');

function codeTable(): Map<string, { retry: boolean; closes: boolean }> {
  const lines = spec.split('\n');
  const start = lines.findIndex((l) => l.trim() === '| code | meaning | retry | closes |');
  expect(start).toBeGreaterThan(0);
  const rows = new Map<string, { retry: boolean; closes: boolean }>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').map((c) => c.trim());
    const code = /^`([A-Z_]+)`$/.exec(cells[1] ?? '')?.[1];
    expect(code, line).toBeDefined();
    expect(['yes', 'no']).toContain(cells[3]);
    expect(['yes', 'no']).toContain(cells[4]);
    rows.set(code!, { retry: cells[3] === 'yes', closes: cells[4] === 'yes' });
  }
  return rows;
}

describe('PROTOCOL.md §8', () => {
  const table = codeTable();

  it('lists exactly the codes of ErrorCode', () => {
    expect([...table.keys()].sort()).toEqual(Object.values(ErrorCode).sort());
  });

  it('marks retry and closes as codes.ts does', () => {
    for (const [code, row] of table) {
      expect(row.retry, code).toBe(RETRYABLE.has(code as ErrorCode));
      expect(row.closes, code).toBe(CONNECTION_FATAL.has(code as ErrorCode));
    }
  });

  it('has one error class per code, whose code and name match', () => {
    const names = new Set<string>();
    for (const code of Object.values(ErrorCode)) {
      const err = errorFromCode(code, 'm');
      expect(err).toBeInstanceOf(LeaseholdError);
      expect(err.code).toBe(code);
      expect(err.name).toMatch(/Error$/);
      names.add(err.name);
    }
    expect(names.size).toBe(Object.values(ErrorCode).length);
  });

  it('documents every message type of messages.ts', async () => {
    const { MessageType } = await import('../../src/protocol/messages.js');
    for (const type of Object.values(MessageType)) expect(spec).toContain(`\`${type}\``);
  });
});
