/**
 * The one error type the planner throws: a message, the 1-based line:column of the offending token in
 * the text the user submitted, and a kind (as DataFusion's errors have kinds). The planner says what
 * went wrong, not how to answer it: the server maps kinds to HTTP statuses (server/errors.ts).
 */
export type SqlErrorKind =
  /** Bad SQL: syntax, types, names used wrongly. */
  | 'plan'
  /** Valid SQL that this engine does not run (yet). */
  | 'unsupported'
  /** An object the statement names does not exist. */
  | 'not_found'
  /** Conflicts with the catalog: exists already, or others depend on it. */
  | 'conflict'
  /** A request over one of the limits in planner/limits.ts. */
  | 'limit'
  /** The engine has no room: MAX_QUERIES running. */
  | 'busy';

export class SqlError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
    readonly kind: SqlErrorKind = 'plan',
  ) {
    super(message);
    this.name = 'SqlError';
  }
}

/** Maps offsets in a text to 1-based line and column numbers. */
export interface PosMap {
  pos(offset: number): { line: number; column: number };
}

export function posMap(text: string): PosMap {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return {
    pos(offset: number) {
      let lo = 0; let hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid]! <= offset) lo = mid; else hi = mid - 1;
      }
      return { line: lo + 1, column: offset - starts[lo]! + 1 };
    },
  };
}

/** Levenshtein distance, for "did you mean" suggestions on unknown names. */
export function editDistance(a: string, b: string): number {
  const m = a.length; const n = b.length;
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[n]!;
}

/** The closest candidate within a small edit distance, if any: "did you mean …?". */
export function suggest(name: string, candidates: Iterable<string>): string | null {
  let best: string | null = null; let bestD = Infinity;
  const lower = name.toLowerCase();
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestD) { bestD = d; best = c; }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}

export function didYouMean(name: string, candidates: Iterable<string>): string {
  const s = suggest(name, candidates);
  return s ? ` (did you mean '${s}'?)` : '';
}
