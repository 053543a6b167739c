/**
 * `leasehold report verify-audit` (issue 7): checks the audit trail's hash chain and says where it
 * is broken. The format is audit-log.ts's: every line carries its own hash `h` (of the line without
 * it) and the previous line's hash `prev`, and `seq` counts up by one across all files.
 *
 * What a break looks like, and where it is reported:
 * - an edited line: its `h` does not match its content — that line. (If the editor also recomputed
 *   `h`, the NEXT line's `prev` no longer matches — reported there, naming the line before.)
 * - deleted lines: `seq` jumps and `prev` does not match — the first line after the hole; at line 1
 *   of a file when the end of the previous file or whole files (a missing day) are gone.
 * - reordered lines: `seq` goes down — the first line out of place.
 * - a line that is not JSON, lacks a field, or is cut off — that line.
 * - a line dated after its file's day (moved between files) — that line.
 *
 * Breaks do not cascade: after a broken line the check resynchronises on the next valid line's own
 * `h`, and a run of consecutive broken lines (a swap breaks three links) is ONE problem, reported
 * at its first line, its text naming how far it runs.
 *
 * Not errors: when retention deleted the oldest files, the first remaining line's `prev` is not 64
 * zeros (`anchored: false`: the trail is checked from there on); and a last line of the newest file
 * without its '\n' (`torn`) is a write in progress or a crash that the daemon cuts away at its next
 * start. Consequently lines cut from the very end of the trail, or whole oldest files, cannot be
 * told from those two cases by the chain alone.
 */
import { join } from 'node:path';
import {
  type AuditRecord,
  auditFileLines,
  listAuditFiles,
  parseAuditLine,
  ZERO_HASH,
} from './audit-reader.js';

export interface AuditProblem {
  /** File name inside the audit directory. */
  readonly file: string;
  /** 1-based line in that file: the first line of the break. */
  readonly line: number;
  /** That line's seq, if it has a readable one. */
  readonly seq?: number;
  readonly problem: string;
}

export interface AuditVerifyResult {
  /** No problems. */
  ok: boolean;
  /** Audit files read. */
  files: number;
  /** Lines read, valid or not. */
  lines: number;
  /** Seq of the first and last valid lines. */
  firstSeq?: number;
  lastSeq?: number;
  /**
   * The first line's prev is all zeros: the trail is complete from its start. False (not an error)
   * when retention has deleted the oldest files.
   */
  anchored: boolean;
  problems: AuditProblem[];
  /** The newest file's last line has no '\n' yet (a write in progress, or a crash): not a problem. */
  torn?: { file: string; line: number };
}

type IssueKind = 'invalid' | 'edited' | 'order' | 'missing' | 'chain' | 'start' | 'misfiled';

interface Issue {
  readonly kind: IssueKind;
  readonly text: string;
}

/** A run of consecutive broken lines. */
interface Break {
  readonly file: string;
  readonly line: number;
  readonly seq: number | undefined;
  /** The seq of the last valid line before the run. */
  readonly afterSeq: number | undefined;
  endFile: string;
  endLine: number;
  lines: number;
  seqs: number[];
  /** The first MAX_ISSUES issues (a shuffled file would otherwise keep one per line). */
  issues: Issue[];
  counts: Map<IssueKind, number>;
}

const MAX_LISTED = 10;
const MAX_ISSUES = 100;

/** Checks the audit trail in `dir` (which must exist). */
export async function verifyAudit(dir: string): Promise<AuditVerifyResult> {
  const files = await listAuditFiles(dir);
  const result: AuditVerifyResult = {
    ok: true,
    files: files.length,
    lines: 0,
    anchored: false,
    problems: [],
  };
  let last: { seq: number; h: string } | undefined;
  let open: Break | undefined;

  const closeBreak = () => {
    if (open !== undefined) result.problems.push(describe(open));
    open = undefined;
  };

  for (let fi = 0; fi < files.length; fi++) {
    const file = files[fi]!;
    const isNewest = fi === files.length - 1;
    let n = 0;
    for await (const batch of auditFileLines(join(dir, file.name))) {
      for (const line of batch) {
        n++;
        result.lines++;
        if (!line.complete && isNewest) {
          result.torn = { file: file.name, line: n };
          continue; // (always the last line)
        }
        const issues: Issue[] = [];
        let seq: number | undefined;
        const parsed = line.complete
          ? parseAuditLine(line.text, true)
          : ({ ok: false, reason: 'cut off: the file ends inside it (no newline)' } as const);
        if (!parsed.ok) {
          issues.push({ kind: 'invalid', text: `not a valid audit line: ${parsed.reason}` });
          seq = leadingSeq(line.text);
        } else {
          const r = parsed.record;
          seq = r.seq;
          if (!parsed.hashOk)
            issues.push({ kind: 'edited', text: 'edited: its hash does not match its content' });
          issues.push(...linkIssues(r, last, n === 1 && fi > 0 ? files[fi - 1]!.name : undefined));
          const day = new Date(Date.parse(r.ts)).toISOString().slice(0, 10);
          if (day > file.day) {
            issues.push({ kind: 'misfiled', text: `dated ${r.ts}, after its file's day ${file.day}` });
          }
          if (last === undefined) result.anchored = r.prev === ZERO_HASH;
          result.firstSeq ??= r.seq;
          result.lastSeq = r.seq;
        }
        if (issues.length === 0) closeBreak();
        else {
          open ??= {
            file: file.name,
            line: n,
            seq,
            afterSeq: last?.seq,
            endFile: file.name,
            endLine: n,
            lines: 0,
            seqs: [],
            issues: [],
            counts: new Map(),
          };
          open.endFile = file.name;
          open.endLine = n;
          open.lines++;
          if (seq !== undefined && open.seqs.length < MAX_LISTED + 1) open.seqs.push(seq);
          for (const issue of issues) {
            if (open.issues.length < MAX_ISSUES) open.issues.push(issue);
            open.counts.set(issue.kind, (open.counts.get(issue.kind) ?? 0) + 1);
          }
        }
        // Resynchronise on this line's own hash, whatever was wrong with it.
        if (parsed.ok) last = { seq: parsed.record.seq, h: parsed.record.h };
      }
    }
  }
  closeBreak();
  result.ok = result.problems.length === 0;
  return result;
}

/** How `r` fails to follow `last` (the previous valid line), or to start a trail. */
function linkIssues(
  r: AuditRecord,
  last: { seq: number; h: string } | undefined,
  prevFile?: string,
): Issue[] {
  if (last === undefined) {
    // The first line: a trail starts at seq 1 with prev zeros; a later start is retention's doing.
    if (r.prev === ZERO_HASH && r.seq !== 1) {
      return [{ kind: 'start', text: `starts a trail (prev is all zeros) but its seq is ${r.seq}, not 1` }];
    }
    if (r.seq === 1 && r.prev !== ZERO_HASH) {
      return [{ kind: 'start', text: 'seq 1 but prev is not all zeros' }];
    }
    return [];
  }
  const expected = last.seq + 1;
  if (r.seq <= last.seq) {
    return [{ kind: 'order', text: `out of order: seq ${r.seq} after seq ${last.seq}` }];
  }
  if (r.seq > expected) {
    const count = r.seq - expected;
    const which = count === 1 ? `seq ${expected}` : `seq ${expected}–${r.seq - 1}`;
    const where =
      prevFile === undefined
        ? ''
        : ` before this file: the end of ${prevFile}, or whole files after it, were removed`;
    return [{ kind: 'missing', text: `${count} line(s) missing (${which})${where}` }];
  }
  if (r.prev !== last.h) {
    return [
      {
        kind: 'chain',
        text:
          `chain broken: prev is not the hash of the line before (seq ${last.seq}); that line was ` +
          'altered (with its hash recomputed), or this line was replaced',
      },
    ];
  }
  return [];
}

/** The seq at the start of a line that fails to parse, if it still starts like an audit line. */
function leadingSeq(text: string): number | undefined {
  const digits = /^\{"seq":(\d{1,16}),/.exec(text)?.[1];
  return digits === undefined ? undefined : Number(digits);
}

const KIND_ORDER: readonly IssueKind[] = [
  'invalid',
  'edited',
  'order',
  'missing',
  'chain',
  'start',
  'misfiled',
];

function describe(b: Break): AuditProblem {
  const kinds = b.counts;
  const parts: string[] = [];
  for (const kind of KIND_ORDER) {
    if (!kinds.has(kind)) continue;
    // Reordered lines also break the links around them: one message says it all.
    if (kinds.has('order') && (kind === 'missing' || kind === 'chain')) continue;
    const texts = [...new Set(b.issues.filter((i) => i.kind === kind).map((i) => i.text))];
    if (kind === 'order') {
      const listed = b.seqs.slice(0, MAX_LISTED).join(', ') + (b.seqs.length > MAX_LISTED ? ', …' : '');
      const after = b.afterSeq === undefined ? '' : ` after seq ${b.afterSeq}`;
      parts.push(`lines out of order: seq ${listed}${after}`);
    } else if (kind === 'edited' && b.lines > 1) {
      parts.push(`${b.counts.get(kind)} line(s) edited (hash does not match content)`);
    } else {
      parts.push(texts[0]! + (texts.length > 1 ? ` (and ${texts.length - 1} more)` : ''));
    }
  }
  let text = parts.join('; ');
  if (b.lines > 1) {
    text +=
      b.endFile === b.file ? ` (lines ${b.line}–${b.endLine})` : ` (through ${b.endFile} line ${b.endLine})`;
  }
  return { file: b.file, line: b.line, ...(b.seq === undefined ? {} : { seq: b.seq }), problem: text };
}
