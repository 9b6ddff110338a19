/**
 * Binds node-sql-parser expression ASTs to typed `Expr`s against a scope, with the type checks users
 * expect from Flink or Postgres. Every error points at the offending token.
 */
import { SqlError, didYouMean, type PosMap, type SqlErrorKind } from './errors.ts';
import { compileSafeRegex } from './regex-safety.ts';
import { intervalRangeError, parseIntervalText } from './interval.ts';
import { parseTimestampText } from './timestamp-text.ts';
export { parseTimestampText };
import type { Token } from './lexer.ts';
import { SPARK_WINDOW_ALIAS } from './parse.ts';
import { T, isNumeric, typeToString, type Expr, type ScalarFn, type SqlType } from './types.ts';

/* node-sql-parser's AST is untyped JSON for our purposes. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Ast = any;

export interface ScopeColumn {
  readonly name: string;
  /** Table name or alias the column can be qualified with. */
  readonly qualifier: string | null;
  readonly index: number;
  readonly type: SqlType;
  /** Not expanded by `*` (hidden keys). */
  readonly hidden?: boolean;
}

export interface Scope {
  readonly columns: readonly ScopeColumn[];
}

/** Finds where a name or node sits in the user's text, for error positions. */
export interface Locator {
  readonly pm: PosMap;
  /** Absolute offset of the query text in the request. */
  readonly base: number;
  readonly tokens: readonly Token[];
}

export function locateIdent(loc: Locator, name: string, within?: { start: number; end: number }): number {
  const lower = name.toLowerCase();
  for (const t of loc.tokens) {
    if ((t.kind === 'ident' || t.kind === 'qident') && t.value.toLowerCase() === lower) {
      const abs = loc.base + t.start;
      if (!within || (abs >= within.start && abs <= within.end)) return abs;
    }
  }
  return within ? within.start : loc.base;
}

export function nodeOffset(loc: Locator, ast: Ast): number | null {
  const o = ast?.loc?.start?.offset ?? ast?.[POS];
  return typeof o === 'number' ? loc.base + o : null;
}

/** Property holding the offset (in the query text) of a node node-sql-parser gives no location. */
const POS = '__pos';

function setPos(node: Ast, off: number): void {
  Object.defineProperty(node, POS, { value: off, enumerable: false, configurable: true, writable: true });
}

/**
 * node-sql-parser records locations only on some nodes (functions, binary expressions), not on
 * column references, literals or FROM items. This walks the parsed SELECT in source order and gives
 * each such leaf the offset of its own token, so an error about the second `price` of a query points
 * at that `price` and not at the first one. Tokens are claimed once each; a node that carries a
 * location re-anchors the walk, so the rare out-of-order AST still lands inside its parent.
 */
export function annotatePositions(select: Ast, tokens: readonly Token[]): void {
  const claimed = new Set<number>();
  let cursor = 0;
  const indexAt = (off: number): number => {
    // The first token starting at or after `off` (tokens are in text order), else the last.
    let lo = 0; let hi = tokens.length - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (tokens[mid]!.start >= off) hi = mid; else lo = mid + 1; }
    return lo;
  };
  const claim = (match: (t: Token) => boolean, from: number): number | null => {
    for (let k = from; k < tokens.length; k++) if (!claimed.has(k) && match(tokens[k]!)) { claimed.add(k); return k; }
    return null;
  };
  const leaf = (node: Ast, match: (t: Token) => boolean): void => {
    const k = claim(match, cursor) ?? claim(match, 0);
    if (k !== null) { setPos(node, tokens[k]!.start); cursor = k + 1; }
  };
  const isName = (name: string) => (t: Token) => (t.kind === 'ident' || t.kind === 'qident') && t.value.toLowerCase() === name.toLowerCase();
  const walkSelect = (s: Ast): void => {
    if (s.loc?.start?.offset != null) cursor = indexAt(s.loc.start.offset);
    for (const w of (Array.isArray(s.with) ? s.with : []) as Ast[]) { const b = w?.stmt?.ast ?? w?.stmt; if (b) walkSelect(b); }
    for (const c of (Array.isArray(s.columns) ? s.columns : []) as Ast[]) walk(c?.expr ?? c);
    for (const f of (s.from ?? []) as Ast[]) {
      if (f?.expr?.ast) { walkSelect(f.expr.ast); continue; }
      if (f?.expr) { walk(f.expr); continue; }
      if (typeof f?.table === 'string') leaf(f, isName(f.table));
      if (f?.on) walk(f.on);
    }
    walk(s.where);
    walk(s.groupby?.columns ?? s.groupby);
    walk(s.having);
    for (const o of (s.orderby ?? []) as Ast[]) walk(o?.expr);
    walk(s.limit?.value);
  };
  const walk = (node: Ast): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) { node.forEach(walk); return; }
    if (node.type === 'select') { walkSelect(node); return; }
    if (node.ast && typeof node.ast === 'object') { walkSelect(node.ast); return; }
    const own = node.loc?.start?.offset;
    if (typeof own === 'number') cursor = indexAt(own);
    switch (node.type) {
      case 'column_ref': {
        const tbl = node.table == null ? null : typeof node.table === 'string' ? node.table : node.table.value;
        if (node.column === '*' && !tbl) leaf(node, (t) => t.kind === 'op' && t.value === '*');
        else leaf(node, isName(refParts(node)[0] ?? ''));
        return;
      }
      case 'single_quote_string': case 'string': case 'natural_string': case 'regex_string': {
        const v = String(node.value);
        leaf(node, (t) => t.kind === 'string' && t.value === v);
        return;
      }
      case 'double_quote_string': { const v = String(node.value); leaf(node, (t) => t.kind === 'qident' && t.value === v); return; }
      case 'number': { const v = Number(node.value); leaf(node, (t) => t.kind === 'number' && Number(t.value) === v); return; }
      case 'bool': case 'boolean': leaf(node, (t) => t.kind === 'ident' && t.upper === (node.value ? 'TRUE' : 'FALSE')); return;
      case 'null': leaf(node, (t) => t.kind === 'ident' && t.upper === 'NULL'); return;
      case 'interval': if (typeof own !== 'number') leaf(node, (t) => t.kind === 'ident' && t.upper === 'INTERVAL'); break;
      case 'case': if (typeof own !== 'number') leaf(node, (t) => t.kind === 'ident' && t.upper === 'CASE'); break;
      case 'cast': if (typeof own !== 'number' && node.keyword === 'cast') leaf(node, (t) => t.kind === 'ident' && t.upper === 'CAST'); break;
      case 'star': leaf(node, (t) => t.kind === 'op' && t.value === '*'); return;
      default: break;
    }
    for (const k of Object.keys(node)) {
      if (k === 'loc' || k === 'name' || k === 'type') continue;
      walk(node[k]);
    }
  };
  walkSelect(select);
}

/**
 * Offset of the j-th dotted part of a column reference (`a.b.c`: part 0 is `a`), found by stepping
 * over `.` tokens from the reference's own token.
 */
export function partOffset(loc: Locator, ast: Ast, j: number): number {
  const at = astOffset(loc, ast);
  const k = loc.tokens.findIndex((t) => loc.base + t.start === at);
  const t = k >= 0 ? loc.tokens[k + 2 * j] : undefined;
  return t && (t.kind === 'ident' || t.kind === 'qident') ? loc.base + t.start : at;
}

export function errAt(loc: Locator, offset: number, msg: string, kind: SqlErrorKind = 'plan'): never {
  const p = loc.pm.pos(offset);
  throw new SqlError(msg, p.line, p.column, kind);
}

/** Offset of the first token inside an AST node: its own loc, or the first identifier/literal found in it. */
export function astOffset(loc: Locator, ast: Ast): number {
  const own = nodeOffset(loc, ast);
  if (own !== null) return own;
  if (ast && (ast.type === 'single_quote_string' || ast.type === 'number')) {
    const want = String(ast.value);
    const kind = ast.type === 'number' ? 'number' : 'string';
    const t = loc.tokens.find((x) => x.kind === kind && (kind === 'string' ? x.value === want : Number(x.value) === Number(want)));
    if (t) return loc.base + t.start;
  }
  const name = firstName(ast);
  if (name !== null) return locateIdent(loc, name);
  return loc.base;
}

function firstName(ast: Ast): string | null {
  if (ast === null || typeof ast !== 'object') return null;
  if (ast.type === 'column_ref') {
    if (ast.schema) return String(ast.schema);
    if (ast.table) return typeof ast.table === 'string' ? ast.table : ast.table.value;
    return columnName(ast);
  }
  if (ast.type === 'function') return ast.name?.name?.[0]?.value ?? null;
  if (ast.type === 'aggr_func') return String(ast.name);
  for (const k of ['left', 'expr', 'args', 'value']) {
    const v = ast[k];
    if (Array.isArray(v)) { for (const x of v) { const n = firstName(x); if (n) return n; } }
    else if (v && typeof v === 'object') { const n = firstName(v); if (n) return n; }
  }
  return null;
}

/**
 * The dotted parts of a column reference: `a.b.c` arrives as schema/table/column, and a longer path
 * (`tweets.user.geo.lat`) as a column whose expression is a tree of '.' operators.
 */
export function refParts(ast: Ast): string[] {
  const flat = (x: Ast): string[] => (typeof x === 'string' ? [x]
    : x?.type === 'binary_expr' && x.operator === '.' ? [...flat(x.left), ...flat(x.right)]
      : [String(x?.value ?? '')]);
  const table: string | null = ast.table == null ? null : typeof ast.table === 'string' ? ast.table : ast.table.value;
  const head = [ast.schema ?? null, table].filter((x): x is string => x !== null && x !== '');
  const c = ast.column;
  const tail = c?.expr?.type === 'binary_expr' && c.expr.operator === '.' ? flat(c.expr) : [columnName(ast)];
  return [...head, ...tail].filter((x) => x !== '');
}

export function columnName(ast: Ast): string {
  const c = ast.column;
  if (typeof c === 'string') return c;
  return String(c?.expr?.value ?? c?.value ?? '');
}

export interface BindContext {
  readonly loc: Locator;
  readonly scope: Scope;
  /** Called first on every node: lets the aggregate binder substitute group keys and aggregate calls. */
  readonly intercept?: (ast: Ast) => Expr | undefined;
  /** Where aggregates are not allowed, the message to give. */
  readonly noAggregates?: string;
}

const AGG_NAMES = new Set(['COUNT', 'SUM', 'MIN', 'MAX', 'AVG']);

export function isAggregateAst(ast: Ast): boolean {
  if (!ast || typeof ast !== 'object') return false;
  if (ast.type === 'aggr_func') return true;
  if (ast.type === 'function' && AGG_NAMES.has(String(ast.name?.name?.[0]?.value ?? '').toUpperCase())) return true;
  return false;
}

export function containsAggregate(ast: Ast): boolean {
  if (!ast || typeof ast !== 'object') return false;
  if (isAggregateAst(ast)) return true;
  if (Array.isArray(ast)) return ast.some(containsAggregate);
  for (const k of Object.keys(ast)) {
    if (k === 'loc') continue;
    const v = ast[k];
    if (v && typeof v === 'object' && containsAggregate(v)) return true;
  }
  return false;
}

/** Resolves a column reference (possibly `qualifier.col`, `col.field`, `qualifier.col.field`). */
export function resolveColumnRef(ctx: BindContext, ast: Ast): Expr {
  const { scope, loc } = ctx;
  const parts = refParts(ast);
  const at = astOffset(loc, ast);
  // Spark's window struct: window.start / window.end.
  if (parts.length === 2 && parts[0]!.toLowerCase() === SPARK_WINDOW_ALIAS) {
    const which = parts[1]!.toLowerCase();
    const target = which === 'start' ? 'window_start' : which === 'end' ? 'window_end' : null;
    const c = target && scope.columns.find((x) => x.name === target);
    if (!c) errAt(loc, target ? at : partOffset(loc, ast, 1), target ? `window.${which} needs window(…) or session_window(…) in GROUP BY` : `window has fields 'start' and 'end', not '${parts[1]}'`);
    return { kind: 'column', index: c.index, name: c.name, type: c.type };
  }
  const eq = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  const byName = (name: string, qualifier: string | null) => {
    const cands = scope.columns.filter((c) => (qualifier === null || (c.qualifier !== null && eq(c.qualifier, qualifier))));
    return cands.find((c) => c.name === name) ?? cands.find((c) => eq(c.name, name));
  };
  // Try qualifier.col[.field…] first, then col[.field…].
  const attempts: { qualifier: string | null; rest: string[] }[] = [];
  if (parts.length >= 2 && scope.columns.some((c) => c.qualifier !== null && eq(c.qualifier, parts[0]!))) attempts.push({ qualifier: parts[0]!, rest: parts.slice(1) });
  attempts.push({ qualifier: null, rest: parts });
  for (const a of attempts) {
    const c = byName(a.rest[0]!, a.qualifier);
    if (!c) continue;
    let e: Expr = { kind: 'column', index: c.index, name: c.name, type: c.type };
    const skip = parts.length - a.rest.length;
    a.rest.slice(1).forEach((f, j) => { e = fieldAccess(ctx, e, f, partOffset(loc, ast, skip + 1 + j)); });
    return e;
  }
  const nameIdx = parts.length >= 2 && attempts.length > 1 ? 1 : 0;
  const name = parts[nameIdx]!;
  if (name.toLowerCase() === SPARK_WINDOW_ALIAS) errAt(loc, at, `'window' is not a column here: use window.start or window.end, with window(…) or session_window(…) in GROUP BY`);
  const q = attempts.length > 1 ? parts[0]! : null;
  const candidates = scope.columns.filter((c) => !c.hidden && (q === null || (c.qualifier !== null && eq(c.qualifier, q)))).map((c) => c.name);
  if (parts.length >= 2 && attempts.length === 1 && !scope.columns.some((c) => eq(c.name, parts[0]!))) {
    const quals = [...new Set(scope.columns.map((c) => c.qualifier).filter((x): x is string => x !== null))];
    errAt(loc, at, `unknown table or column '${parts[0]}'${didYouMean(parts[0]!, [...quals, ...candidates])}`);
  }
  return errAt(loc, partOffset(loc, ast, nameIdx), `unknown column '${name}'${didYouMean(name, candidates)}`);
}

function fieldAccess(ctx: BindContext, e: Expr, field: string, at: number): Expr {
  if (e.type.kind !== 'struct') errAt(ctx.loc, at, `'${exprName(e)}' is ${typeToString(e.type)}, not a ROW: it has no field '${field}'`);
  const f = e.type.fields.find((x) => x.name === field) ?? e.type.fields.find((x) => x.name.toLowerCase() === field.toLowerCase());
  if (!f) errAt(ctx.loc, at, `'${exprName(e)}' has no field '${field}'${didYouMean(field, e.type.fields.map((x) => x.name))}`);
  return { kind: 'field', input: e, field: f.name, type: f.type };
}

function exprName(e: Expr): string {
  return e.kind === 'column' ? e.name : e.kind === 'field' ? `${exprName(e.input)}.${e.field}` : 'expression';
}

function lit(value: number | string | boolean | null, type: SqlType): Expr {
  return { kind: 'literal', value, type };
}

function call(fn: ScalarFn, args: Expr[], type: SqlType): Expr {
  return { kind: 'call', fn, args, type };
}

/** The SQL type of `CAST(x AS <type>)` targets as node-sql-parser spells them. */
export function castTarget(loc: Locator, ast: Ast, at: number): SqlType {
  const dt = String(ast?.dataType ?? '').toUpperCase();
  switch (dt) {
    case 'BOOLEAN': case 'BOOL': return T.boolean;
    case 'INT': case 'INTEGER': case 'SMALLINT': case 'TINYINT': return T.int;
    case 'BIGINT': return T.bigint;
    case 'DOUBLE': case 'DOUBLE PRECISION': case 'FLOAT': case 'REAL': case 'DECIMAL': case 'NUMERIC': return T.double;
    case 'VARCHAR': case 'TEXT': case 'STRING': case 'CHAR': case 'CHARACTER VARYING': return T.varchar;
    case 'TIMESTAMP': case 'TIMESTAMPTZ': case 'TIMESTAMP WITH TIME ZONE': case 'TIMESTAMP WITHOUT TIME ZONE': return T.timestamp;
    default: return errAt(loc, at, `cannot CAST to '${ast?.dataType}': expected BOOLEAN, INT, BIGINT, DOUBLE, VARCHAR or TIMESTAMP`);
  }
}

/** Numeric result type of arithmetic on a and b. */
function arithType(a: SqlType, b: SqlType): SqlType {
  if (a.kind === 'double' || b.kind === 'double') return T.double;
  if (a.kind === 'bigint' || b.kind === 'bigint') return T.bigint;
  if (a.kind === 'null') return b.kind === 'null' ? T.bigint : b;
  if (b.kind === 'null') return a;
  return T.int;
}

function comparable(a: SqlType, b: SqlType): boolean {
  if (a.kind === 'null' || b.kind === 'null') return true;
  if (isNumeric(a) && isNumeric(b)) return true;
  return a.kind === b.kind && a.kind !== 'struct';
}

/** Coerces a string literal compared with a timestamp into a timestamp literal, as Postgres does. */
function coerceForCompare(ctx: BindContext, a: Expr, b: Expr, at: number): [Expr, Expr] {
  const fix = (x: Expr, other: Expr): Expr => {
    if (other.type.kind === 'timestamp' && x.kind === 'literal' && x.type.kind === 'varchar') {
      const v = parseTimestampText(String(x.value));
      if (v === null) errAt(ctx.loc, at, `cannot read '${x.value}' as a TIMESTAMP`);
      return lit(v, T.timestamp);
    }
    return x;
  };
  return [fix(a, b), fix(b, a)];
}

function requireType(ctx: BindContext, e: Expr, ok: (t: SqlType) => boolean, want: string, at: number, what: string): void {
  if (!ok(e.type) && e.type.kind !== 'null') errAt(ctx.loc, at, `${what} expects ${want} but got ${typeToString(e.type)}`);
}

const isBool = (t: SqlType) => t.kind === 'boolean';
const isStr = (t: SqlType) => t.kind === 'varchar';
const isTs = (t: SqlType) => t.kind === 'timestamp';

export function bindExpr(ctx: BindContext, ast: Ast): Expr {
  const hooked = ctx.intercept?.(ast);
  if (hooked) return hooked;
  const { loc } = ctx;
  const at = astOffset(loc, ast);
  switch (ast?.type) {
    case 'column_ref': {
      if (ast.column === '*') errAt(loc, at, `'*' is only allowed in the SELECT list and in COUNT(*)`);
      return resolveColumnRef(ctx, ast);
    }
    case 'number': {
      const v = Number(ast.value);
      return lit(v, Number.isInteger(v) && !String(ast.value).match(/[.eE]/) ? (Math.abs(v) <= 2147483647 ? T.int : T.bigint) : T.double);
    }
    case 'single_quote_string': case 'string': case 'natural_string': case 'regex_string':
      return lit(String(ast.value), T.varchar);
    case 'double_quote_string':
      // Postgres: "name" is a quoted identifier.
    {
      const ref = { type: 'column_ref', table: null, column: { expr: { type: 'default', value: ast.value } } };
      setPos(ref, at - loc.base);
      return resolveColumnRef(ctx, ref);
    }
    case 'bool': case 'boolean': return lit(Boolean(ast.value), T.boolean);
    case 'null': return lit(null, T.null);
    case 'timestamp': case 'datetime': {
      const v = parseTimestampText(String(ast.value));
      if (v === null) errAt(loc, at, `cannot read '${ast.value}' as a TIMESTAMP`);
      return lit(v, T.timestamp);
    }
    case 'interval': {
      const text = String(ast.expr?.value ?? '');
      const ms = parseIntervalText(text, ast.unit || null);
      if (ms === null) errAt(loc, at, `cannot read interval '${text}${ast.unit ? ' ' + ast.unit : ''}'`);
      const range = intervalRangeError(ms!);
      if (range) errAt(loc, at, range, 'limit');
      return lit(ms, T.interval);
    }
    case 'unary_expr': {
      const e = bindExpr(ctx, ast.expr);
      const op = String(ast.operator).toUpperCase();
      if (op === '-') { requireType(ctx, e, isNumeric, 'a number', astOffset(loc, ast.expr), 'unary minus'); return e.kind === 'literal' && typeof e.value === 'number' ? lit(-e.value, e.type) : call('neg', [e], e.type); }
      if (op === '+') return e;
      if (op === 'NOT' || op === '!') { requireType(ctx, e, isBool, 'BOOLEAN', astOffset(loc, ast.expr), 'NOT'); return call('not', [e], T.boolean); }
      return errAt(loc, at, `unsupported operator ${ast.operator}`);
    }
    case 'binary_expr': return bindBinary(ctx, ast, at);
    case 'cast': {
      const e = bindExpr(ctx, ast.expr);
      const tgt = ast.target?.[0] ?? ast.target;
      const word = String(tgt?.dataType ?? '').split(/\s+/)[0]!.toUpperCase();
      const exprAt = astOffset(loc, ast.expr);
      // The type name is the first such word after the operand (CAST(x AS t) or x::t).
      const typeTok = loc.tokens.find((t) => loc.base + t.start > exprAt && t.kind === 'ident' && t.upper === word);
      const target = castTarget(loc, tgt, typeTok ? loc.base + typeTok.start : at);
      if (e.type.kind === 'struct') errAt(loc, at, `cannot CAST a ROW to ${typeToString(target)}`);
      if (e.kind === 'literal' && e.type.kind === 'varchar' && target.kind === 'timestamp') {
        const v = parseTimestampText(String(e.value));
        if (v === null) errAt(loc, at, `cannot read '${e.value}' as a TIMESTAMP`);
        return lit(v, T.timestamp);
      }
      return { kind: 'cast', input: e, type: target };
    }
    case 'case': {
      const subject = ast.expr ? bindExpr(ctx, ast.expr) : null;
      const whens: { when: Expr; then: Expr }[] = [];
      let otherwise: Expr | null = null;
      for (const arm of ast.args ?? []) {
        if (arm.type === 'when') {
          let cond = bindExpr(ctx, arm.cond);
          if (subject) {
            if (!comparable(subject.type, cond.type)) errAt(loc, astOffset(loc, arm.cond), `CASE compares ${typeToString(subject.type)} with ${typeToString(cond.type)}`);
            cond = call('eq', [subject, cond], T.boolean);
          } else requireType(ctx, cond, isBool, 'BOOLEAN', astOffset(loc, arm.cond), 'CASE WHEN');
          whens.push({ when: cond, then: bindExpr(ctx, arm.result) });
        } else otherwise = bindExpr(ctx, arm.result);
      }
      const results: Ast[] = (ast.args ?? []).map((arm: Ast) => arm.result);
      const type = unifyTypes(ctx, [...whens.map((w) => w.then), ...(otherwise ? [otherwise] : [])], at, 'CASE branches', results.map((r) => astOffset(loc, r)));
      return { kind: 'case', whens, otherwise, type };
    }
    case 'extract': {
      const field = String(ast.args?.field ?? '').toLowerCase();
      const src = bindExpr(ctx, ast.args?.source);
      requireType(ctx, src, isTs, 'a TIMESTAMP', at, 'EXTRACT');
      const fields = ['year', 'month', 'day', 'hour', 'minute', 'second', 'millisecond', 'dow', 'doy', 'epoch', 'week', 'quarter'];
      if (!fields.includes(field)) errAt(loc, at, `EXTRACT field '${field}' is not one of ${fields.join(', ')}`);
      return call('extract', [lit(field, T.varchar), src], field === 'epoch' ? T.double : T.bigint);
    }
    case 'function': return bindFunction(ctx, ast, at);
    case 'aggr_func':
      return errAt(loc, at, ctx.noAggregates ?? `aggregate ${ast.name}() is not allowed here`);
    case 'expr_list':
      return errAt(loc, at, 'a list of values is only allowed after IN');
    default:
      return errAt(loc, at, `unsupported expression${ast?.type ? ` (${ast.type})` : ''}`);
  }
}

/** The common type of `es`; `ats` (offsets of each) lets an error point at the first one that does not fit. */
export function unifyTypes(ctx: BindContext, es: readonly Expr[], at: number, what: string, ats: readonly number[] = []): SqlType {
  let t: SqlType = T.null;
  for (const [i, e] of es.entries()) {
    if (e.type.kind === 'null') continue;
    if (t.kind === 'null') { t = e.type; continue; }
    if (isNumeric(t) && isNumeric(e.type)) { t = arithType(t, e.type); continue; }
    if (t.kind !== e.type.kind) errAt(ctx.loc, ats[i] ?? at, `${what} mix ${typeToString(t)} and ${typeToString(e.type)}`);
  }
  return t;
}

function bindBinary(ctx: BindContext, ast: Ast, at: number): Expr {
  const op = String(ast.operator).toUpperCase();
  const { loc } = ctx;
  if (op === 'IN' || op === 'NOT IN') {
    const x = bindExpr(ctx, ast.left);
    const items = (ast.right?.type === 'expr_list' ? ast.right.value : [ast.right]) as Ast[];
    if (items.some((i) => i?.type === 'select' || i?.ast)) errAt(loc, at, 'IN (SELECT …) subqueries are not supported; list the values');
    const list = items.map((i) => coerceForCompare(ctx, x, bindExpr(ctx, i), at)[1]);
    for (const v of list) if (!comparable(x.type, v.type)) errAt(loc, at, `IN compares ${typeToString(x.type)} with ${typeToString(v.type)}`);
    return call(op === 'IN' ? 'in' : 'not_in', [x, ...list], T.boolean);
  }
  if (op === 'BETWEEN' || op === 'NOT BETWEEN') {
    const x = bindExpr(ctx, ast.left);
    const [lo0, hi0] = ast.right.value as Ast[];
    const lo = coerceForCompare(ctx, x, bindExpr(ctx, lo0), at)[1];
    const hi = coerceForCompare(ctx, x, bindExpr(ctx, hi0), at)[1];
    for (const v of [lo, hi]) if (!comparable(x.type, v.type)) errAt(loc, at, `BETWEEN compares ${typeToString(x.type)} with ${typeToString(v.type)}`);
    return call(op === 'BETWEEN' ? 'between' : 'not_between', [x, lo, hi], T.boolean);
  }
  if (op === 'IS' || op === 'IS NOT') {
    const x = bindExpr(ctx, ast.left);
    const r = ast.right;
    if (r?.type === 'null') return call(op === 'IS' ? 'is_null' : 'is_not_null', [x], T.boolean);
    if (r?.type === 'bool') {
      requireType(ctx, x, isBool, 'BOOLEAN', at, op);
      // x IS TRUE: never NULL.
      const isTrue = call('and', [call('is_not_null', [x], T.boolean), call('eq', [x, lit(Boolean(r.value), T.boolean)], T.boolean)], T.boolean);
      return op === 'IS' ? isTrue : call('not', [isTrue], T.boolean);
    }
    return errAt(loc, at, `expected NULL, TRUE or FALSE after ${op}`);
  }
  let a = bindExpr(ctx, ast.left);
  let b = bindExpr(ctx, ast.right);
  const rightAt = astOffset(loc, ast.right);
  switch (op) {
    case 'AND': case 'OR':
      requireType(ctx, a, isBool, 'BOOLEAN', astOffset(loc, ast.left), op);
      requireType(ctx, b, isBool, 'BOOLEAN', rightAt, op);
      return call(op === 'AND' ? 'and' : 'or', [a, b], T.boolean);
    case '=': case '<>': case '!=': case '<': case '<=': case '>': case '>=': {
      [a, b] = coerceForCompare(ctx, a, b, rightAt);
      if (!comparable(a.type, b.type)) errAt(loc, rightAt, `cannot compare ${typeToString(a.type)} with ${typeToString(b.type)}`);
      const fn: ScalarFn = ({ '=': 'eq', '<>': 'neq', '!=': 'neq', '<': 'lt', '<=': 'lte', '>': 'gt', '>=': 'gte' } as const)[op];
      return call(fn, [a, b], T.boolean);
    }
    case 'LIKE': case 'NOT LIKE': case 'ILIKE': case 'NOT ILIKE': {
      requireType(ctx, a, isStr, 'VARCHAR', astOffset(loc, ast.left), op);
      requireType(ctx, b, isStr, 'a VARCHAR pattern', rightAt, op);
      if (op.includes('ILIKE')) { a = call('lower', [a], T.varchar); b = call('lower', [b], T.varchar); }
      return call(op.startsWith('NOT') ? 'not_like' : 'like', [a, b], T.boolean);
    }
    case '||': {
      // Postgres types `||` by its operands: text || anything is text; two non-strings have no `||`.
      for (const [x, xAt] of [[a, at], [b, rightAt]] as const) {
        if (x.type.kind === 'struct' || x.type.kind === 'interval') errAt(loc, xAt, `operator || cannot concatenate a ${typeToString(x.type)}`);
      }
      if (!isStr(a.type) && !isStr(b.type) && a.type.kind !== 'null' && b.type.kind !== 'null') {
        errAt(loc, at, `operator || joins strings, but got ${typeToString(a.type)} || ${typeToString(b.type)}: CAST one side AS VARCHAR or use concat()`);
      }
      return call('concat', [a, b], T.varchar);
    }
    case '+': case '-': {
      if (isTs(a.type) && b.type.kind === 'interval') return call(op === '+' ? 'add' : 'sub', [a, b], T.timestamp);
      if (op === '+' && a.type.kind === 'interval' && isTs(b.type)) return call('add', [b, a], T.timestamp);
      if (op === '-' && isTs(a.type) && isTs(b.type)) return call('sub', [a, b], T.interval);
      if (a.type.kind === 'interval' && b.type.kind === 'interval') return call(op === '+' ? 'add' : 'sub', [a, b], T.interval);
      return arith(ctx, op, a, b, at, rightAt);
    }
    case '*': case '/': case '%':
      return arith(ctx, op, a, b, at, rightAt);
    default:
      return errAt(loc, at, `unsupported operator ${ast.operator}`);
  }
}

function arith(ctx: BindContext, op: string, a: Expr, b: Expr, at: number, rightAt: number): Expr {
  {
    {
      requireType(ctx, a, isNumeric, 'numbers', at, `operator ${op}`);
      requireType(ctx, b, isNumeric, 'numbers', rightAt, `operator ${op}`);
      const fn: ScalarFn = ({ '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '%': 'mod' } as const)[op as '+'];
      return call(fn, [a, b], arithType(a.type, b.type));
    }
  }
}

interface FnSig {
  readonly fn: ScalarFn;
  readonly min: number;
  readonly max: number;
  /** Argument checks; `ats` are the offsets of the arguments, so an error points at the wrong one. */
  readonly check?: (ctx: BindContext, args: Expr[], at: number, ats: number[]) => void;
  readonly type: (args: Expr[]) => SqlType;
}

const strArgs = (n: number, fn: string) => (ctx: BindContext, args: Expr[], at: number, ats: number[]) => {
  args.slice(0, n).forEach((a, i) => requireType(ctx, a, isStr, 'VARCHAR', ats[i] ?? at, `${fn}() argument ${i + 1}`));
};
const numArgs = (fn: string) => (ctx: BindContext, args: Expr[], at: number, ats: number[]) => {
  args.forEach((a, i) => requireType(ctx, a, isNumeric, 'a number', ats[i] ?? at, `${fn}() argument ${i + 1}`));
};
const intArgsFrom = (from: number, fn: string) => (ctx: BindContext, args: Expr[], at: number, ats: number[]) => {
  args.slice(from).forEach((a, i) => requireType(ctx, a, (t) => t.kind === 'int' || t.kind === 'bigint', 'an integer', ats[from + i] ?? at, `${fn}() argument ${from + i + 1}`));
};
const both = (...cs: NonNullable<FnSig['check']>[]): NonNullable<FnSig['check']> => (ctx, args, at, ats) => { for (const c of cs) c(ctx, args, at, ats); };
const regexpFlags = (ctx: BindContext, args: Expr[], at: number, ats: number[]) => {
  const f = args[2];
  if (f && (f.kind !== 'literal' || f.type.kind !== 'varchar' || !/^[imsu]*$/.test(String(f.value)))) {
    errAt(ctx.loc, ats[2] ?? at, `regexp_like() flags must be a string literal of 'i', 'm', 's', 'u' (for example 'i')`);
  }
  // A constant pattern is compiled now: an invalid or unsafe one is the user's error, at its position.
  const p = args[1];
  if (p?.kind === 'literal' && typeof p.value === 'string') {
    const r = compileSafeRegex(p.value, f ? String((f as { value: unknown }).value) : '');
    if ('error' in r) errAt(ctx.loc, ats[1] ?? at, `regexp_like(): ${r.error}`);
  }
};

const FUNCTIONS: Record<string, FnSig> = {
  lower: { fn: 'lower', min: 1, max: 1, check: strArgs(1, 'lower'), type: () => T.varchar },
  upper: { fn: 'upper', min: 1, max: 1, check: strArgs(1, 'upper'), type: () => T.varchar },
  length: { fn: 'length', min: 1, max: 1, check: strArgs(1, 'length'), type: () => T.int },
  char_length: { fn: 'length', min: 1, max: 1, check: strArgs(1, 'char_length'), type: () => T.int },
  substring: { fn: 'substring', min: 2, max: 3, check: both(strArgs(1, 'substring'), intArgsFrom(1, 'substring')), type: () => T.varchar },
  substr: { fn: 'substring', min: 2, max: 3, check: both(strArgs(1, 'substr'), intArgsFrom(1, 'substr')), type: () => T.varchar },
  trim: { fn: 'trim', min: 1, max: 1, check: strArgs(1, 'trim'), type: () => T.varchar },
  concat: { fn: 'concat', min: 1, max: 64, type: () => T.varchar },
  split_part: { fn: 'split_part', min: 3, max: 3, check: both(strArgs(2, 'split_part'), intArgsFrom(2, 'split_part')), type: () => T.varchar },
  regexp_like: { fn: 'regexp_like', min: 2, max: 3, check: both(strArgs(2, 'regexp_like'), regexpFlags), type: () => T.boolean },
  abs: { fn: 'abs', min: 1, max: 1, check: numArgs('abs'), type: (a) => a[0]!.type },
  round: { fn: 'round', min: 1, max: 2, check: numArgs('round'), type: (a) => (a[0]!.type.kind === 'int' || a[0]!.type.kind === 'bigint' ? a[0]!.type : T.double) },
  floor: { fn: 'floor', min: 1, max: 1, check: numArgs('floor'), type: (a) => a[0]!.type },
  ceil: { fn: 'ceil', min: 1, max: 1, check: numArgs('ceil'), type: (a) => a[0]!.type },
  ceiling: { fn: 'ceil', min: 1, max: 1, check: numArgs('ceiling'), type: (a) => a[0]!.type },
  mod: { fn: 'mod', min: 2, max: 2, check: numArgs('mod'), type: (a) => arithType(a[0]!.type, a[1]!.type) },
  coalesce: { fn: 'coalesce', min: 1, max: 64, type: () => T.null /* unified below */ },
  nullif: { fn: 'nullif', min: 2, max: 2, type: (a) => a[0]!.type },
  date_trunc: {
    fn: 'date_trunc', min: 2, max: 2, type: () => T.timestamp,
    check: (ctx, a, at, ats) => {
      if (a[0]!.kind !== 'literal' || a[0]!.type.kind !== 'varchar') errAt(ctx.loc, ats[0] ?? at, `date_trunc's first argument must be a unit such as 'minute'`);
      const units = ['millisecond', 'second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year'];
      if (!units.includes(String(a[0]!.value).toLowerCase())) errAt(ctx.loc, ats[0] ?? at, `date_trunc unit '${a[0]!.value}' is not one of ${units.join(', ')}`);
      requireType(ctx, a[1]!, isTs, 'a TIMESTAMP', ats[1] ?? at, 'date_trunc() argument 2');
    },
  },
  to_timestamp: {
    fn: 'to_timestamp', min: 1, max: 1, type: () => T.timestamp,
    check: (ctx, a, at, ats) => requireType(ctx, a[0]!, (t) => isNumeric(t) || isStr(t) || isTs(t), 'epoch seconds or a VARCHAR', ats[0] ?? at, 'to_timestamp()'),
  },
  epoch_ms: { fn: 'epoch_ms', min: 1, max: 1, check: (ctx, a, at, ats) => requireType(ctx, a[0]!, isTs, 'a TIMESTAMP', ats[0] ?? at, 'epoch_ms()'), type: () => T.bigint },
  unix_timestamp_ms: { fn: 'epoch_ms', min: 1, max: 1, check: (ctx, a, at, ats) => requireType(ctx, a[0]!, isTs, 'a TIMESTAMP', ats[0] ?? at, 'unix_timestamp_ms()'), type: () => T.bigint },
  sentiment: { fn: 'sentiment', min: 1, max: 1, check: strArgs(1, 'sentiment'), type: () => T.int },
};

export function functionName(ast: Ast): string {
  return String(ast.name?.name?.[0]?.value ?? ast.name ?? '').toLowerCase();
}

function bindFunction(ctx: BindContext, ast: Ast, at: number): Expr {
  const name = functionName(ast);
  const { loc } = ctx;
  if (AGG_NAMES.has(name.toUpperCase())) return errAt(loc, at, ctx.noAggregates ?? `aggregate ${name}() is not allowed here`);
  if (name === SPARK_WINDOW_ALIAS || name === 'session_window' || name === 'tumble' || name === 'hop' || name === 'cumulate' || name === 'session') {
    const shown = name === SPARK_WINDOW_ALIAS ? 'window' : name;
    return errAt(loc, at, `${shown}() is only allowed ${shown === 'window' || shown === 'session_window' ? 'in GROUP BY' : 'in FROM'}`);
  }
  if (name === 'not') {
    // node-sql-parser reads `NOT (x)` as a call of a function named NOT.
    const inner: Ast[] = ast.args?.value ?? [];
    if (inner.length === 1) return bindExpr(ctx, { type: 'unary_expr', operator: 'NOT', expr: inner[0], loc: ast.loc });
  }
  // now(): the time the statement is bound, a constant as in PostgreSQL (its transaction's start); for pull queries.
  if (name === 'now' && !(ast.args?.value?.length)) return lit(Date.now(), T.timestamp);
  const sig = FUNCTIONS[name];
  if (!sig) return errAt(loc, at, `unknown function '${name}'${didYouMean(name, Object.keys(FUNCTIONS))}`);
  // node-sql-parser gives an argument list as an array, but `f(a, b AND c)` as one binary_expr whose
  // left side is the array [a, b] (found by the fuzzer): take any non-array as one argument; binding
  // refuses the array inside it like any expression it does not know.
  const listed: Ast | Ast[] | undefined = ast.args?.value;
  if (listed && !Array.isArray(listed) && Array.isArray(listed.left)) {
    errAt(loc, at, `${name}(): its arguments cannot be read as written; put parentheses around the argument that uses ${String(listed.operator ?? 'an operator')}`);
  }
  const argAsts: Ast[] = Array.isArray(listed) ? listed : listed != null ? [listed] : ast.args ? [ast.args] : [];
  if (argAsts.length < sig.min || argAsts.length > sig.max) {
    errAt(loc, at, `${name}() takes ${sig.min === sig.max ? sig.min : `${sig.min} to ${sig.max}`} argument(s), got ${argAsts.length}`);
  }
  const args = argAsts.map((a) => bindExpr(ctx, a));
  sig.check?.(ctx, args, at, argAsts.map((a) => astOffset(loc, a)));
  if (sig.fn === 'nullif' && !comparable(args[0]!.type, args[1]!.type)) errAt(loc, astOffset(loc, argAsts[1]), `nullif() compares ${typeToString(args[0]!.type)} with ${typeToString(args[1]!.type)}`);
  let type = sig.type(args);
  if (sig.fn === 'coalesce') type = unifyTypes(ctx, args, at, 'COALESCE arguments', argAsts.map((a) => astOffset(loc, a)));
  if (sig.fn === 'date_trunc' || sig.fn === 'extract') args[0] = lit(String((args[0] as { value: unknown }).value).toLowerCase(), T.varchar);
  return call(sig.fn, args, type);
}
