/**
 * Binds node-sql-parser expression ASTs to typed `Expr`s against a scope, with the type checks users
 * expect from Flink or Postgres. Every error points at the offending token.
 */
import { SqlError, didYouMean, type PosMap } from './errors.ts';
import { parseIntervalText } from './interval.ts';
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
  const o = ast?.loc?.start?.offset;
  return typeof o === 'number' ? loc.base + o : null;
}

export function errAt(loc: Locator, offset: number, msg: string, status: 400 | 404 = 400): never {
  const p = loc.pm.pos(offset);
  throw new SqlError(msg, p.line, p.column, status);
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
  const col = columnName(ast);
  const table: string | null = ast.table == null ? null : typeof ast.table === 'string' ? ast.table : ast.table.value;
  const schema: string | null = ast.schema ?? null;
  const parts = [schema, table, col].filter((x): x is string => x !== null && x !== '');
  const at = locateIdent(loc, parts[0]!);
  // Spark's window struct: window.start / window.end.
  if (parts.length === 2 && parts[0]!.toLowerCase() === SPARK_WINDOW_ALIAS) {
    const which = parts[1]!.toLowerCase();
    const target = which === 'start' ? 'window_start' : which === 'end' ? 'window_end' : null;
    const c = target && scope.columns.find((x) => x.name === target);
    if (!c) errAt(loc, at, `window has fields 'start' and 'end'${target ? ', and the query has no window() in GROUP BY' : ''}`);
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
    for (const f of a.rest.slice(1)) e = fieldAccess(ctx, e, f, at);
    return e;
  }
  const name = parts[parts.length >= 2 && attempts.length > 1 ? 1 : 0]!;
  const q = attempts.length > 1 ? parts[0]! : null;
  const candidates = scope.columns.filter((c) => !c.hidden && (q === null || (c.qualifier !== null && eq(c.qualifier, q)))).map((c) => c.name);
  if (parts.length >= 2 && attempts.length === 1 && !scope.columns.some((c) => eq(c.name, parts[0]!))) {
    const quals = [...new Set(scope.columns.map((c) => c.qualifier).filter((x): x is string => x !== null))];
    errAt(loc, at, `unknown table or column '${parts[0]}'${didYouMean(parts[0]!, [...quals, ...candidates])}`);
  }
  return errAt(loc, locateIdent(loc, name), `unknown column '${name}'${didYouMean(name, candidates)}`);
}

function fieldAccess(ctx: BindContext, e: Expr, field: string, at: number): Expr {
  if (e.type.kind !== 'struct') errAt(ctx.loc, at, `'${exprName(e)}' is ${typeToString(e.type)}, not a ROW: it has no field '${field}'`);
  const f = e.type.fields.find((x) => x.name === field) ?? e.type.fields.find((x) => x.name.toLowerCase() === field.toLowerCase());
  if (!f) errAt(ctx.loc, locateIdent(ctx.loc, field), `'${exprName(e)}' has no field '${field}'${didYouMean(field, e.type.fields.map((x) => x.name))}`);
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

/** Parses an ISO-8601 or 'YYYY-MM-DD HH:MM:SS[.fff]' timestamp as UTC. */
export function parseTimestampText(s: string): number | null {
  const t = s.trim();
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(t);
  if (!m) return null;
  const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4] ?? '00'}:${m[5] ?? '00'}:${m[6] ?? '00'}${m[7] ? m[7].slice(0, 4).padEnd(4, '0') : '.000'}${m[8] ?? 'Z'}`;
  const v = Date.parse(iso);
  return Number.isNaN(v) ? null : v;
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
      return resolveColumnRef(ctx, { type: 'column_ref', table: null, column: { expr: { type: 'default', value: ast.value } } });
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
      return lit(ms, T.interval);
    }
    case 'unary_expr': {
      const e = bindExpr(ctx, ast.expr);
      const op = String(ast.operator).toUpperCase();
      if (op === '-') { requireType(ctx, e, isNumeric, 'a number', at, 'unary minus'); return e.kind === 'literal' && typeof e.value === 'number' ? lit(-e.value, e.type) : call('neg', [e], e.type); }
      if (op === '+') return e;
      if (op === 'NOT' || op === '!') { requireType(ctx, e, isBool, 'BOOLEAN', at, 'NOT'); return call('not', [e], T.boolean); }
      return errAt(loc, at, `unsupported operator ${ast.operator}`);
    }
    case 'binary_expr': return bindBinary(ctx, ast, at);
    case 'cast': {
      const e = bindExpr(ctx, ast.expr);
      const target = castTarget(loc, ast.target?.[0] ?? ast.target, at);
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
      const type = unifyTypes(ctx, [...whens.map((w) => w.then), ...(otherwise ? [otherwise] : [])], at, 'CASE branches');
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

export function unifyTypes(ctx: BindContext, es: readonly Expr[], at: number, what: string): SqlType {
  let t: SqlType = T.null;
  for (const e of es) {
    if (e.type.kind === 'null') continue;
    if (t.kind === 'null') { t = e.type; continue; }
    if (isNumeric(t) && isNumeric(e.type)) { t = arithType(t, e.type); continue; }
    if (t.kind !== e.type.kind) errAt(ctx.loc, at, `${what} mix ${typeToString(t)} and ${typeToString(e.type)}`);
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
      if (!comparable(a.type, b.type)) errAt(loc, at, `cannot compare ${typeToString(a.type)} with ${typeToString(b.type)}`);
      const fn: ScalarFn = ({ '=': 'eq', '<>': 'neq', '!=': 'neq', '<': 'lt', '<=': 'lte', '>': 'gt', '>=': 'gte' } as const)[op];
      return call(fn, [a, b], T.boolean);
    }
    case 'LIKE': case 'NOT LIKE': case 'ILIKE': case 'NOT ILIKE': {
      requireType(ctx, a, isStr, 'VARCHAR', astOffset(loc, ast.left), op);
      requireType(ctx, b, isStr, 'a VARCHAR pattern', rightAt, op);
      if (op.includes('ILIKE')) { a = call('lower', [a], T.varchar); b = call('lower', [b], T.varchar); }
      return call(op.startsWith('NOT') ? 'not_like' : 'like', [a, b], T.boolean);
    }
    case '||': return call('concat', [a, b], T.varchar);
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
  readonly check?: (ctx: BindContext, args: Expr[], at: number) => void;
  readonly type: (args: Expr[]) => SqlType;
}

const strArgs = (n: number) => (ctx: BindContext, args: Expr[], at: number) => {
  args.slice(0, n).forEach((a) => requireType(ctx, a, isStr, 'VARCHAR', at, 'this function'));
};
const numArgs = (ctx: BindContext, args: Expr[], at: number) => {
  args.forEach((a) => requireType(ctx, a, isNumeric, 'a number', at, 'this function'));
};

const FUNCTIONS: Record<string, FnSig> = {
  lower: { fn: 'lower', min: 1, max: 1, check: strArgs(1), type: () => T.varchar },
  upper: { fn: 'upper', min: 1, max: 1, check: strArgs(1), type: () => T.varchar },
  length: { fn: 'length', min: 1, max: 1, check: strArgs(1), type: () => T.int },
  char_length: { fn: 'length', min: 1, max: 1, check: strArgs(1), type: () => T.int },
  substring: { fn: 'substring', min: 2, max: 3, check: strArgs(1), type: () => T.varchar },
  substr: { fn: 'substring', min: 2, max: 3, check: strArgs(1), type: () => T.varchar },
  trim: { fn: 'trim', min: 1, max: 1, check: strArgs(1), type: () => T.varchar },
  concat: { fn: 'concat', min: 1, max: 64, type: () => T.varchar },
  split_part: { fn: 'split_part', min: 3, max: 3, check: strArgs(2), type: () => T.varchar },
  regexp_like: { fn: 'regexp_like', min: 2, max: 2, check: strArgs(2), type: () => T.boolean },
  abs: { fn: 'abs', min: 1, max: 1, check: numArgs, type: (a) => a[0]!.type },
  round: { fn: 'round', min: 1, max: 2, check: numArgs, type: (a) => (a[0]!.type.kind === 'int' || a[0]!.type.kind === 'bigint' ? a[0]!.type : T.double) },
  floor: { fn: 'floor', min: 1, max: 1, check: numArgs, type: (a) => a[0]!.type },
  ceil: { fn: 'ceil', min: 1, max: 1, check: numArgs, type: (a) => a[0]!.type },
  ceiling: { fn: 'ceil', min: 1, max: 1, check: numArgs, type: (a) => a[0]!.type },
  mod: { fn: 'mod', min: 2, max: 2, check: numArgs, type: (a) => arithType(a[0]!.type, a[1]!.type) },
  coalesce: { fn: 'coalesce', min: 1, max: 64, type: () => T.null /* unified below */ },
  nullif: { fn: 'nullif', min: 2, max: 2, type: (a) => a[0]!.type },
  date_trunc: {
    fn: 'date_trunc', min: 2, max: 2, type: () => T.timestamp,
    check: (ctx, a, at) => {
      if (a[0]!.kind !== 'literal' || a[0]!.type.kind !== 'varchar') errAt(ctx.loc, at, `date_trunc's first argument must be a unit such as 'minute'`);
      const units = ['millisecond', 'second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year'];
      if (!units.includes(String(a[0]!.value).toLowerCase())) errAt(ctx.loc, at, `date_trunc unit '${a[0]!.value}' is not one of ${units.join(', ')}`);
      requireType(ctx, a[1]!, isTs, 'a TIMESTAMP', at, 'date_trunc');
    },
  },
  to_timestamp: { fn: 'to_timestamp', min: 1, max: 1, type: () => T.timestamp },
  epoch_ms: { fn: 'epoch_ms', min: 1, max: 1, check: (ctx, a, at) => requireType(ctx, a[0]!, isTs, 'a TIMESTAMP', at, 'epoch_ms'), type: () => T.bigint },
  unix_timestamp_ms: { fn: 'epoch_ms', min: 1, max: 1, check: (ctx, a, at) => requireType(ctx, a[0]!, isTs, 'a TIMESTAMP', at, 'unix_timestamp_ms'), type: () => T.bigint },
  sentiment: { fn: 'sentiment', min: 1, max: 1, check: strArgs(1), type: () => T.int },
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
    return errAt(loc, locateIdent(loc, name === SPARK_WINDOW_ALIAS ? SPARK_WINDOW_ALIAS : name), `${shown}() is only allowed ${shown === 'window' || shown === 'session_window' ? 'in GROUP BY' : 'in FROM'}`);
  }
  const sig = FUNCTIONS[name];
  if (!sig) return errAt(loc, locateIdent(loc, name), `unknown function '${name}'${didYouMean(name, Object.keys(FUNCTIONS))}`);
  const argAsts: Ast[] = ast.args?.value ?? (ast.args ? [ast.args] : []);
  if (argAsts.length < sig.min || argAsts.length > sig.max) {
    errAt(loc, at, `${name}() takes ${sig.min === sig.max ? sig.min : `${sig.min} to ${sig.max}`} argument(s), got ${argAsts.length}`);
  }
  const args = argAsts.map((a) => bindExpr(ctx, a));
  sig.check?.(ctx, args, at);
  let type = sig.type(args);
  if (sig.fn === 'coalesce') type = unifyTypes(ctx, args, at, 'COALESCE arguments');
  if (sig.fn === 'date_trunc' || sig.fn === 'extract') args[0] = lit(String((args[0] as { value: unknown }).value).toLowerCase(), T.varchar);
  return call(sig.fn, args, type);
}
