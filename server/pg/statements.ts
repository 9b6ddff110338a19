/**
 * Statement text as the wire handler needs it: splitting a simple query into statements (quotes,
 * dollar quotes and comments respected), `$n` parameters replaced by literals, and which part of the
 * service answers each statement.
 */

/** Offsets [start, end) of each statement; empty statements are dropped. */
export function splitStatements(sql: string): { text: string; offset: number }[] {
  const out: { text: string; offset: number }[] = [];
  let start = 0;
  scan(sql, (i, ch) => {
    if (ch === ';') { push(start, i); start = i + 1; }
  });
  push(start, sql.length);
  return out;
  function push(a: number, b: number): void {
    const t = sql.slice(a, b);
    if (stripComments(t).trim()) out.push({ text: t, offset: a });
  }
}

/** Calls `f` for every character outside strings, quoted identifiers and comments. */
function scan(sql: string, f: (i: number, ch: string) => void): void {
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (ch === "'" || ch === '"') {
      const q = ch; i++;
      while (i < sql.length) { if (sql[i] === q) { if (sql[i + 1] === q) { i += 2; continue; } break; } i++; }
      i++; continue;
    }
    if (ch === '-' && sql[i + 1] === '-') { while (i < sql.length && sql[i] !== '\n') i++; continue; }
    if (ch === '/' && sql[i + 1] === '*') { const e = sql.indexOf('*/', i + 2); i = e < 0 ? sql.length : e + 2; continue; }
    if (ch === '$') {
      const m = /^\$([A-Za-z_]\w*)?\$/.exec(sql.slice(i));
      if (m && !/\w/.test(sql[i - 1] ?? '')) { const e = sql.indexOf(m[0], i + m[0].length); i = e < 0 ? sql.length : e + m[0].length; continue; }
    }
    f(i, ch);
    i++;
  }
}

export function stripComments(sql: string): string {
  return sql.replace(/--[^\n]*/g, ' ').replace(/\/\*[\s\S]*?\*\//g, ' ');
}

/** The highest `$n` in the text (0 when there are none). */
export function paramCount(sql: string): number {
  let n = 0;
  scan(sql, (i, ch) => {
    if (ch !== '$') return;
    const m = /^\$(\d+)/.exec(sql.slice(i));
    if (m) n = Math.max(n, Number(m[1]));
  });
  return n;
}

/** Replaces `$n` outside strings by literals[n-1]. */
export function substituteParams(sql: string, literals: readonly string[]): string {
  const cuts: { at: number; len: number; lit: string }[] = [];
  scan(sql, (i, ch) => {
    if (ch !== '$') return;
    const m = /^\$(\d+)/.exec(sql.slice(i));
    if (!m) return;
    const k = Number(m[1]);
    if (k < 1 || k > literals.length) throw new Error(`there is no parameter $${k}`);
    cuts.push({ at: i, len: m[0].length, lit: literals[k - 1]! });
  });
  let out = ''; let last = 0;
  for (const c of cuts) { out += sql.slice(last, c.at) + c.lit; last = c.at + c.len; }
  return out + sql.slice(last);
}

export type Route =
  | { kind: 'empty' }
  | { kind: 'tx'; tag: string; state: 'begin' | 'end' | 'none' }
  | { kind: 'set'; name: string | null; value: string | null; tag: string }
  | { kind: 'show_setting'; name: string }
  | { kind: 'noop'; tag: string }
  | { kind: 'subscribe'; view: string }
  | { kind: 'copy_push'; select: string }
  | { kind: 'declare'; name: string; query: string; hold: boolean }
  | { kind: 'fetch'; name: string; count: number; move: boolean }
  | { kind: 'close_cursor'; name: string | null }
  | { kind: 'catalog' }
  | { kind: 'engine' };

const ENGINE_SHOW = /^show\s+(sources|views|materialized\s+views|sinks|queries)\b/i;

export function route(sql: string, isCatalogQuery: (s: string) => boolean): Route {
  const s = stripComments(sql).trim().replace(/;\s*$/, '');
  if (!s) return { kind: 'empty' };
  let m: RegExpExecArray | null;
  if (/^(begin|start\s+transaction)\b/i.test(s)) return { kind: 'tx', tag: 'BEGIN', state: 'begin' };
  if (/^(commit|end)\b/i.test(s)) return { kind: 'tx', tag: 'COMMIT', state: 'end' };
  if (/^(rollback|abort)\b/i.test(s)) return { kind: 'tx', tag: 'ROLLBACK', state: 'end' };
  if (/^(savepoint|release)\b/i.test(s)) return { kind: 'tx', tag: s.split(/\s+/)[0]!.toUpperCase(), state: 'none' };
  if ((m = /^set\s+(?:session\s+|local\s+)?(?:characteristics\b.*|time\s+zone\s+(.+)|([\w.]+)\s*(?:=|\bto\b)\s*(.+))$/is.exec(s))) {
    if (m[1] !== undefined) return { kind: 'set', name: 'TimeZone', value: unquote(m[1]), tag: 'SET' };
    return { kind: 'set', name: m[2] ?? null, value: m[3] !== undefined ? unquote(m[3]) : null, tag: 'SET' };
  }
  if (/^set\b/i.test(s)) return { kind: 'set', name: null, value: null, tag: 'SET' };
  if (/^reset\b/i.test(s)) return { kind: 'noop', tag: 'RESET' };
  if (/^discard\b/i.test(s)) return { kind: 'noop', tag: 'DISCARD ALL' };
  if (/^deallocate\b/i.test(s)) return { kind: 'noop', tag: 'DEALLOCATE' };
  if (/^(listen|unlisten)\b/i.test(s)) return { kind: 'noop', tag: s.split(/\s+/)[0]!.toUpperCase() };
  if (!ENGINE_SHOW.test(s) && (m = /^show\s+(all|[\w.]+|time\s+zone|transaction\s+isolation\s+level)$/i.exec(s))) {
    const n = m[1]!.toLowerCase();
    return { kind: 'show_setting', name: n === 'time zone' ? 'TimeZone' : n === 'transaction isolation level' ? 'transaction_isolation' : m[1]! };
  }
  if ((m = /^(?:copy\s*\(\s*)?subscribe\s+(?:to\s+)?("(?:[^"]|"")+"|[\w.]+)\s*(?:\)\s*to\s+stdout(?:\s+.*)?)?$/is.exec(s))) {
    return { kind: 'subscribe', view: m[1]!.startsWith('"') ? m[1]!.slice(1, -1).replace(/""/g, '"') : m[1]! };
  }
  if ((m = /^copy\s*\(([\s\S]+)\)\s*to\s+stdout\b/i.exec(s))) return { kind: 'copy_push', select: m[1]! };
  const cursor = cursorRoute(s);
  if (cursor) return cursor;
  if (isCatalogQuery(s)) return { kind: 'catalog' };
  return { kind: 'engine' };
}

const IDENT = String.raw`("(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
const identName = (t: string): string => (t.startsWith('"') ? t.slice(1, -1).replace(/""/g, '"') : t.toLowerCase());

/**
 * Cursors, as psql's FETCH_COUNT and drivers' fetch sizes use them: `DECLARE name [BINARY]
 * [ASENSITIVE|INSENSITIVE] [NO SCROLL|SCROLL] CURSOR [WITH[OUT] HOLD] FOR query`, `FETCH`/`MOVE`
 * forward (`NEXT`, `FORWARD [n|ALL]`, `n`, `ALL`) `[FROM|IN] name`, `CLOSE name|ALL`. Backward
 * directions are not cursor forms we serve (no SCROLL): they stay with the engine, which refuses them.
 */
function cursorRoute(s: string): Route | null {
  let m: RegExpExecArray | null;
  if ((m = new RegExp(String.raw`^declare\s+${IDENT}\s+(?:binary\s+)?(?:(?:asensitive|insensitive)\s+)?(?:no\s+scroll\s+)?cursor\s+(?:(with|without)\s+hold\s+)?for\s+([\s\S]+)$`, 'i').exec(s))) {
    return { kind: 'declare', name: identName(m[1]!), hold: m[2]?.toLowerCase() === 'with', query: m[3]! };
  }
  if ((m = new RegExp(String.raw`^(fetch|move)\s+(?:(next|forward\s+all|forward\s+\d+|forward|all|\d+)\s+)?(?:(?:from|in)\s+)?${IDENT}$`, 'i').exec(s))) {
    const dir = (m[2] ?? 'next').toLowerCase().replace(/\s+/g, ' ');
    const count = dir === 'next' || dir === 'forward' ? 1 : /all$/.test(dir) ? Infinity : Number(/\d+/.exec(dir)![0]);
    return { kind: 'fetch', name: identName(m[3]!), count, move: m[1]!.toLowerCase() === 'move' };
  }
  if ((m = new RegExp(String.raw`^close\s+(all|${IDENT})$`, 'i').exec(s))) {
    return { kind: 'close_cursor', name: m[1]!.toLowerCase() === 'all' ? null : identName(m[1]!) };
  }
  return null;
}

function unquote(v: string): string {
  const t = v.trim();
  if (/^'.*'$/s.test(t)) return t.slice(1, -1).replace(/''/g, "'");
  if (/^".*"$/s.test(t)) return t.slice(1, -1);
  return t;
}

/**
 * `GROUP BY 1, 2` (what Grafana and most SQL editors write) → the select list's expressions, for
 * the engine, whose planner groups by names and expressions only. Only a plain single SELECT is
 * rewritten; anything else is passed through unchanged.
 */
export function groupByPositions(sql: string): string {
  const lower = maskQuoted(sql).toLowerCase();
  const sel = /^\s*select\s/.exec(lower);
  const from = indexAtDepth0(lower, /\bfrom\b/g);
  const group = indexAtDepth0(lower, /\bgroup\s+by\b/g);
  if (!sel || from < 0 || group < 0 || /\b(union|intersect|except)\b/.test(lower) || (lower.match(/\bselect\b/g)?.length ?? 0) > 1) return sql;
  const items = splitDepth0(sql, sel[0].length, from).map((s) => s.replace(/\s+as\s+("[^"]*"|\w+)\s*$/i, '').trim());
  const gStart = group + /group\s+by/i.exec(sql.slice(group))![0].length;
  const endRe = /\b(having|order\s+by|limit|offset|emit)\b/g;
  endRe.lastIndex = gStart;
  let gEnd = sql.length;
  for (let m = endRe.exec(lower); m; m = endRe.exec(lower)) { if (depthAt(lower, m.index) === 0) { gEnd = m.index; break; } }
  const keys = splitDepth0(sql, gStart, gEnd);
  if (!keys.some((k) => /^\s*\d+\s*$/.test(k))) return sql;
  const mapped = keys.map((k) => {
    const n = /^\s*(\d+)\s*$/.exec(k);
    if (!n) return k.trim();
    const e = items[Number(n[1]) - 1];
    return e && e !== '*' ? e : k.trim();
  });
  return `${sql.slice(0, gStart)} ${mapped.join(', ')} ${sql.slice(gEnd)}`;
}

function maskQuoted(sql: string): string {
  return sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"/g, (m) => m[0] + 'x'.repeat(m.length - 2) + m[0]);
}

function depthAt(s: string, at: number): number {
  let d = 0;
  for (let i = 0; i < at; i++) { if (s[i] === '(') d++; else if (s[i] === ')') d--; }
  return d;
}

function indexAtDepth0(lower: string, re: RegExp): number {
  for (let m = re.exec(lower); m; m = re.exec(lower)) if (depthAt(lower, m.index) === 0) return m.index;
  return -1;
}

function splitDepth0(sql: string, start: number, end: number): string[] {
  const masked = maskQuoted(sql);
  const out: string[] = [];
  let d = 0; let last = start;
  for (let i = start; i < end; i++) {
    const c = masked[i];
    if (c === '(') d++; else if (c === ')') d--; else if (c === ',' && d === 0) { out.push(sql.slice(last, i)); last = i + 1; }
  }
  out.push(sql.slice(last, end));
  return out;
}

/**
 * Types of `$n` parameters from their context, as PostgreSQL infers them: `column op $n` or
 * `$n op column` takes the column's type (looked up by name in `columnType`), `LIMIT`/`OFFSET $n`
 * is int8. Returns OIDs by parameter index (0 = unknown).
 */
export function inferParamTypes(sql: string, count: number, columnType: (name: string) => number | undefined): number[] {
  const out = new Array<number>(count).fill(0);
  const set = (n: string, oid: number | undefined) => { const i = Number(n) - 1; if (oid && i >= 0 && i < count && !out[i]) out[i] = oid; };
  const masked = sql.replace(/'(?:[^']|'')*'/g, (m) => ' '.repeat(m.length));
  const ident = String.raw`(?:"((?:[^"]|"")+)"|([A-Za-z_][\w$]*))`;
  const op = String.raw`\s*(?:=|<>|!=|<=|>=|<|>|\bLIKE\b|\bILIKE\b)\s*`;
  for (const m of masked.matchAll(new RegExp(`${ident}${op}\\$(\\d+)`, 'gi'))) set(m[3]!, columnType(m[1]?.replace(/""/g, '"') ?? m[2]!));
  for (const m of masked.matchAll(new RegExp(`\\$(\\d+)${op}(?:\\w+\\.)?${ident}`, 'gi'))) set(m[1]!, columnType(m[2]?.replace(/""/g, '"') ?? m[3]!));
  for (const m of masked.matchAll(new RegExp(`${ident}\\s+(?:NOT\\s+)?BETWEEN\\s+\\$(\\d+)\\s+AND\\s+\\$(\\d+)`, 'gi'))) {
    const t = columnType(m[1]?.replace(/""/g, '"') ?? m[2]!);
    set(m[3]!, t); set(m[4]!, t);
  }
  for (const m of masked.matchAll(/\b(?:LIMIT|OFFSET)\s+\$(\d+)/gi)) set(m[1]!, 20);
  return out;
}
