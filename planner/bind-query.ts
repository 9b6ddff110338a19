/**
 * Binds a SELECT (as rewritten by the front end and parsed by node-sql-parser) against the catalog into
 * a logical plan: FROM (sources, views, window table functions, subqueries), WHERE, GROUP BY with the
 * three window families, aggregates with FILTER, HAVING, the SELECT list, ORDER BY and LIMIT.
 *
 * Window columns: every family produces `window_start` and `window_end` (and, for the table-function
 * forms, `window_time` = window_end - 1 ms). Spark's `window.start` / `window.end` are those columns;
 * a bare Spark `window` in the SELECT list (Spark's struct column) expands to two output columns named
 * `window_start` and `window_end` (`<alias>_start` / `<alias>_end` with `AS alias`), since the
 * engine has no struct-typed outputs for windows. Written with the same names, the three families give
 * the same plan.
 *
 * Aggregates without GROUP BY: a continuous query like `SELECT COUNT(*) FROM src` is one updating
 * row (a global aggregate); mixing it with a plain column is the "aggregate without GROUP BY" error.
 */
import type { EmitMode, QueryText, WindowTvf } from './ast.ts';
import {
  annotatePositions, astOffset, bindExpr, partOffset, columnName, containsAggregate, errAt, functionName, isAggregateAst, locateIdent,
  type Ast, type BindContext, type Locator, type Scope, type ScopeColumn,
} from './bind-expr.ts';
import type { Catalog, SourceDef } from './catalog.ts';
import { SqlError, didYouMean, posMap, type PosMap } from './errors.ts';
import { intervalRangeError, parseIntervalText } from './interval.ts';
import { tokenize } from './lexer.ts';
import { groupingId, type LogicalPlan, type SortKey } from './logical.ts';
import type { JoinBound, JoinType } from './physical.ts';
import { analyzeJoin, andAll, columnsOf, joinSchema, shiftColumns, sourcesWithoutWatermark } from './bind-join.ts';
import { GROUPING_SETS_NAME, hasDistinct, parseRequest, SPARK_WINDOW_ALIAS } from './parse.ts';
import { MAX_GROUPING_SETS, MAX_SELECT_ITEMS } from './limits.ts';
import { parseSqlText } from './sql-parse-core.ts';
import type { Preparsed } from './sql-parse.ts';
import { T, formatDuration, isNumeric, typeToString, type AggCall, type AggFn, type Expr, type Field, type Schema, type WindowSpec } from './types.ts';

export type QueryMode = 'continuous' | 'pull' | 'push';

export interface BoundQuery {
  readonly plan: LogicalPlan;
  /** Visible output columns come first; hidden key columns (group keys not selected) after them. */
  readonly visibleCount: number;
  /** Output columns forming the upsert key; null when the result is append-only. */
  readonly keyColumns: readonly number[] | null;
  readonly windowed: boolean;
  readonly window: WindowSpec | null;
  readonly emit: EmitMode;
  /** Catalog objects the query reads. */
  readonly dependsOn: readonly string[];
  readonly sources: readonly SourceDef[];
  /** Offset in the request of each visible output column's SELECT item (for errors about a column). */
  readonly columnAts: readonly number[];
}

let preparsed: Preparsed | null = null;

/**
 * Runs `f` (synchronous planning) with the parse outcomes of a request's queries at hand: the user's
 * SQL is parsed on the parse thread under a deadline (planner/sql-parse.ts), never here.
 */
export function withPreparsed<T>(p: Preparsed | undefined, f: () => T): T {
  if (!p) return f();
  const outer = preparsed; preparsed = p;
  try { return f(); } finally { preparsed = outer; }
}

/** Parses the query text with node-sql-parser, mapping its syntax errors to the user's line:column. */
export function parseSelect(q: QueryText, pm: PosMap): Ast {
  const outcome = preparsed?.get(q.text) ?? parseSqlText(q.text);
  if (!outcome.ok) {
    const off = q.start + (outcome.offset ?? 0);
    const p = pm.pos(off);
    if (outcome.limit) throw new SqlError(outcome.limit, p.line, p.column, 'limit');
    if (outcome.message) throw new SqlError(`syntax error: ${outcome.message}`, p.line, p.column);
    const near = outcome.found ? `near '${q.original.slice(off - q.start).match(/^\S+/)?.[0] ?? outcome.found}'` : 'at the end of the query';
    throw new SqlError(`syntax error ${near}`, p.line, p.column);
  }
  const ast = outcome.ast as Ast;
  const stmts = Array.isArray(ast) ? ast : [ast];
  if (stmts.length !== 1 || stmts[0]?.type !== 'select') {
    const p = pm.pos(q.start);
    throw new SqlError('expected a single SELECT query', p.line, p.column);
  }
  return stmts[0];
}

interface Relation {
  plan: LogicalPlan;
  scope: ScopeColumn[];
  streaming: boolean;
  aggregated: boolean;
  /** Upsert key of a changelog relation (an aggregating subquery or view), as plan column indices; null: append-only. */
  key: readonly number[] | null;
  dependsOn: string[];
  sources: SourceDef[];
  /** Window TVF in FROM: its virtual columns window_start/window_end/window_time sit at `virtualStart`. */
  tvf: { spec: WindowSpec; timeColumn: number; virtualStart: number; tvf: WindowTvf } | null;
  /** The output of a join: its key (if any) is `key`, whatever sources it read. */
  joined?: boolean;
}

/** The upsert key of a relation: its own, or a changelog source's PRIMARY KEY read directly. */
function sideKey(rel: Relation): readonly number[] | null {
  if (rel.key) return rel.key;
  const p = rel.plan;
  if (p.kind !== 'source_scan' || !p.def.options.changelog) return null;
  const key = (p.def.options.primaryKey ?? []).map((n) => p.schema.fields.findIndex((f) => f.name.toLowerCase() === n.toLowerCase()));
  return key.length && key.every((k) => k >= 0) ? key : null;
}

/** The conjuncts of an AND tree (parsed WHERE). */
function splitAnd(a: Ast): Ast[] {
  if (a?.type === 'binary_expr' && String(a.operator).toUpperCase() === 'AND' && !a.parentheses) return [...splitAnd(a.left), ...splitAnd(a.right)];
  return [a];
}

/**
 * Views created by earlier statements of the request being planned, by catalog: their QueryText holds
 * offsets into the request, which binding a reference to them uses for error positions.
 */
const requestViews = new WeakMap<Catalog, Map<string, QueryText>>();

/** Records that `name` is a view created in the request planned against `catalog`. */
export function noteRequestView(catalog: Catalog, name: string, q: QueryText): void {
  let m = requestViews.get(catalog);
  if (!m) { m = new Map(); requestViews.set(catalog, m); }
  m.set(name.toLowerCase(), q);
}

export function bindQuery(q: QueryText, catalog: Catalog, pm: PosMap, mode: QueryMode): BoundQuery {
  const ast = parseSelect(q, pm);
  const loc: Locator = { pm, base: q.start, tokens: tokenize(q.text, posMap(q.text)) };
  annotatePositions(ast, loc.tokens);
  const b = new QueryBinder(catalog, loc, q, mode).bind(ast);
  checkNoRank(b.plan, loc);
  return b;
}

/** A ROW_NUMBER()/RANK() that no enclosing filter turned into a dedup or Top-N would keep every row forever. */
function checkNoRank(p: LogicalPlan, loc: Locator): void {
  for (let n: LogicalPlan | null = p; n; n = 'input' in n ? n.input : null) {
    if (n.kind === 'rank') {
      const rn = n.schema.fields[n.schema.fields.length - 1]!.name;
      errAt(loc, n.at, `${n.fn.toUpperCase()}() OVER must be filtered by an enclosing query: SELECT … FROM (this query) WHERE ${rn} = 1 (deduplication) or WHERE ${rn} <= N (Top-N)`, 'unsupported');
    }
  }
}

/**
 * An upsert key must be among a projection's output columns: returns the output position of each key
 * column of the input (`key`, input column indices), appending the ones not selected to `exprs` and
 * `names` as hidden `_key_<name>` columns.
 */
function keepKey(key: readonly number[], input: Schema, exprs: Expr[], names: string[]): number[] {
  return key.map((k) => {
    const j = exprs.findIndex((e) => e.kind === 'column' && e.index === k);
    if (j >= 0) return j;
    const f = input.fields[k]!;
    exprs.push({ kind: 'column', index: k, name: f.name, type: f.type });
    let n = `_key_${f.name}`;
    while (names.includes(n)) n = `_${n}`;
    names.push(n);
    return exprs.length - 1;
  });
}

function schemaOf(fields: Field[]): Schema {
  return { fields };
}

function exprKey(e: Expr): string {
  return JSON.stringify(e, (k, v) => (k === 'name' ? undefined : v));
}

function exprText(e: Expr): string {
  return e.kind === 'field' ? `${exprText(e.input)}.${e.field}` : e.kind === 'column' ? e.name : 'expression';
}

function fieldName(e: Expr, fallback: string): string {
  if (e.kind === 'column') return e.name;
  if (e.kind === 'field') return e.field;
  return fallback;
}

/** A common table expression in scope: its name and body, bound where it is referenced. */
interface Cte { readonly name: string; readonly ast: Ast; readonly at: number }

class QueryBinder {
  constructor(
    private readonly catalog: Catalog,
    private readonly loc: Locator,
    private readonly q: QueryText,
    private readonly mode: QueryMode,
    /** CTEs visible here, by lower-cased name (an inner WITH shadows an outer one, both shadow the catalog). */
    private readonly ctes: ReadonlyMap<string, Cte> = new Map(),
  ) {}

  /**
   * `WITH a AS (…), b AS (…) SELECT …`: each CTE sees the ones before it; the query sees all. A CTE is
   * inlined where it is referenced, as a subquery (so a CTE read twice is computed twice, as in Flink).
   */
  private withCtes(ast: Ast): QueryBinder {
    const { loc } = this;
    const ctes = new Map(this.ctes);
    for (const w of ast.with as Ast[]) {
      const name = String(w.name?.value ?? w.name ?? '');
      const at = this.identAt(name);
      if (w.columns?.length) errAt(loc, at, `WITH ${name}(…) column lists are not supported: name the columns with AS inside the query`, 'unsupported');
      if (ctes.has(name.toLowerCase()) && !this.ctes.has(name.toLowerCase())) errAt(loc, at, `WITH names '${name}' twice`);
      const body: Ast = w.stmt?.ast ?? w.stmt;
      if (!body || body.type !== 'select') errAt(loc, at, `WITH ${name} needs a SELECT`);
      ctes.set(name.toLowerCase(), { name, ast: body, at });
    }
    return new QueryBinder(this.catalog, loc, this.q, this.mode, ctes);
  }

  /** Offset of the first identifier token spelled `name` (case-insensitive), or the query start. */
  private identAt(name: string): number {
    const lower = name.toLowerCase();
    const t = this.loc.tokens.find((x) => (x.kind === 'ident' || x.kind === 'qident') && x.value.toLowerCase() === lower);
    return t ? this.loc.base + t.start : this.loc.base;
  }

  private keywordAt(kw: string): number {
    const t = this.loc.tokens.find((x) => x.kind === 'ident' && x.upper === kw);
    return t ? this.loc.base + t.start : this.loc.base;
  }

  bind(ast: Ast): BoundQuery {
    const { loc } = this;
    if (Array.isArray(ast.columns) && ast.columns.length > MAX_SELECT_ITEMS) {
      errAt(loc, this.keywordAt('SELECT'), `a SELECT list may have at most ${MAX_SELECT_ITEMS} items; this one has ${ast.columns.length} (limit MAX_SELECT_ITEMS)`, 'limit');
    }
    if (ast.with?.length) {
      if (/^\s*WITH\s+RECURSIVE\b/i.test(this.q.original)) errAt(loc, this.keywordAt('RECURSIVE'), 'WITH RECURSIVE is not supported', 'unsupported');
      return this.withCtes(ast).bind({ ...ast, with: null });
    }
    if (ast._next || ast.set_op) return this.bindSetOp(ast);
    if (ast.distinct?.type) errAt(loc, this.keywordAt('DISTINCT'), 'SELECT DISTINCT is not supported yet; use GROUP BY');
    if (!ast.from || ast.from.length === 0) errAt(loc, this.keywordAt('SELECT'), 'a query needs a FROM clause');
    let rel: Relation;
    let where: Ast | null = ast.where ?? null;
    if (ast.from.length > 1) ({ rel, where } = this.bindJoins(ast.from, where));
    else rel = this.bindFrom(ast.from[0]);
    if (where) ({ rel, where } = this.bindSemiJoins(rel, where));
    const folded = this.foldRank(rel, where);
    if (folded) { rel = folded.rel; where = folded.where; }
    if (this.mode === 'continuous' || this.mode === 'push') {
      if (ast.orderby) errAt(loc, this.keywordAt('ORDER'), 'ORDER BY is not allowed in a continuous query: its result is a table that keeps changing, with no order to keep. Put ORDER BY in the pull query that reads the view');
      if (ast.limit?.value?.length) errAt(loc, this.keywordAt('LIMIT'), 'LIMIT is not allowed in a continuous query: it would stop counting rows that arrive later. Put LIMIT in the pull query that reads the view');
    }
    const emit: EmitMode = this.q.emit ?? 'changes';

    let plan = rel.plan;
    const ctx: BindContext = { loc, scope: { columns: rel.scope }, noAggregates: 'aggregates are not allowed in WHERE; use HAVING' };
    if (where) {
      const pred = bindExpr(ctx, where);
      this.rejectVirtual(rel, pred, astOffset(loc, where), 'WHERE');
      if (pred.type.kind !== 'boolean') errAt(loc, astOffset(loc, where), `WHERE needs a BOOLEAN condition, got ${typeToString(pred.type)}`);
      plan = { kind: 'filter', input: plan, predicate: pred, schema: plan.schema };
    }

    const groupItems: Ast[] = ast.groupby?.columns ?? (Array.isArray(ast.groupby) ? ast.groupby : []);
    const aggregating = groupItems.length > 0 || (ast.columns as Ast[]).some((c) => c.expr && containsAggregate(c.expr)) || (ast.having != null);
    let out: { plan: LogicalPlan; visibleCount: number; keyColumns: number[] | null; window: WindowSpec | null; ats: number[]; order?: SortKey[] | null };
    const rankItems = (ast.columns as Ast[]).filter((c) => (c?.expr ?? c)?.type === 'window_func');
    if (aggregating) {
      if (rankItems.length) errAt(loc, this.keywordAt(String((rankItems[0].expr ?? rankItems[0]).name).toUpperCase()), `${String((rankItems[0].expr ?? rankItems[0]).name).toUpperCase()}() OVER cannot be computed beside GROUP BY here: aggregate in a subquery, then rank its rows`, 'unsupported');
      out = this.bindAggregate(ast, rel, plan, groupItems);
    } else {
      if (rel.tvf) {
        if (rel.tvf.spec.kind === 'session') errAt(loc, rel.tvf.tvf.start, 'SESSION windows need a GROUP BY: sessions are formed per group key');
        plan = { kind: 'window_assign', input: plan, spec: rel.tvf.spec, timeColumn: rel.tvf.timeColumn, schema: this.windowAssignSchema(plan.schema) };
      }
      if (rankItems.length) {
        const r = this.bindRank(rankItems, rel, plan);
        out = this.bindProjection(ast, { ...rel, scope: r.scope }, r.plan, r.expand);
      } else out = this.bindProjection(ast, rel, plan);
    }
    if (emit === 'window_close' && this.mode !== 'pull') {
      const at = this.q.emitStart;
      if (!out.window) errAt(loc, at, 'EMIT ON WINDOW CLOSE needs a windowed aggregate (TUMBLE, HOP, CUMULATE, SESSION or window() in GROUP BY)');
      const noWm = rel.sources.find((s) => s.watermark === null);
      if (noWm) errAt(loc, at, `EMIT ON WINDOW CLOSE needs a watermark, and source '${noWm.name}' declares none: add WATERMARK FOR <time column> AS <time column> - INTERVAL '5' SECOND`);
    }
    if (this.mode === 'pull') out = { ...out, plan: this.bindOrderLimit(ast, out.plan, out.order ?? null) };
    return {
      plan: out.plan, visibleCount: out.visibleCount, keyColumns: out.keyColumns, windowed: out.window !== null, window: out.window, columnAts: out.ats,
      emit, dependsOn: rel.dependsOn, sources: rel.sources,
    };
  }

  /**
   * `a UNION ALL b UNION ALL …`: node-sql-parser chains the inputs in `_next`. Each input is bound on
   * its own; they must give the same column types (the first names the columns). Inputs that update
   * (aggregates, changelogs) must share their key columns. UNION (distinct), EXCEPT and INTERSECT
   * would keep every row seen forever to remove duplicates: refused.
   */
  private bindSetOp(ast: Ast): BoundQuery {
    const { loc } = this;
    const branches: Ast[] = [];
    for (let n: Ast | null = ast; n; n = n._next ?? null) {
      branches.push(n);
      if (n._next) {
        const op = String(n.set_op ?? 'union').toLowerCase();
        if (op !== 'union all') {
          const kw = op.split(' ')[0]!.toUpperCase();
          errAt(loc, this.keywordAt(kw), kw === 'UNION'
            ? 'UNION (which removes duplicate rows) is not supported over streams: use UNION ALL, and GROUP BY the columns to remove duplicates'
            : `${op.toUpperCase()} is not supported over streams: it would keep every row seen forever`, 'unsupported');
        }
      }
    }
    // A pull query's ORDER BY / LIMIT (parsed onto the last input) applies to the whole UNION ALL.
    const last = branches[branches.length - 1]!;
    const pull = this.mode === 'pull';
    const bound = branches.map((b) => this.bind({ ...b, _next: null, set_op: null, ...(pull ? { orderby: null, limit: null } : {}) }));
    const first = bound[0]!;
    const f0 = first.plan.schema.fields;
    for (const [i, b] of bound.entries()) {
      const at = astOffset(loc, branches[i]!.columns?.[0]?.expr ?? branches[i]);
      if (b.visibleCount !== first.visibleCount) errAt(loc, at, `each input of UNION ALL must give the same number of columns: the first gives ${first.visibleCount}, input ${i + 1} gives ${b.visibleCount}`);
      const fs = b.plan.schema.fields;
      for (let c = 0; c < first.visibleCount; c++) {
        if (fs[c]!.type.kind !== f0[c]!.type.kind && fs[c]!.type.kind !== 'null') {
          errAt(loc, b.columnAts[c] ?? at, `column ${c + 1} of UNION ALL input ${i + 1} is ${typeToString(fs[c]!.type)}, the first input's is ${typeToString(f0[c]!.type)}: CAST one of them`);
        }
      }
      const sameKey = JSON.stringify(b.keyColumns) === JSON.stringify(first.keyColumns) && fs.length === f0.length;
      if (!sameKey) errAt(loc, at, 'UNION ALL of queries that update their rows (aggregates, changelogs) needs the same key columns in every input; inputs that only append can be mixed only with each other', 'unsupported');
    }
    // Append-only inputs are cut to their visible columns (hidden keys are only for changelogs).
    const inputs = bound.map((b) => (b.keyColumns || b.plan.schema.fields.length === b.visibleCount ? b.plan : {
      kind: 'project' as const, input: b.plan,
      exprs: b.plan.schema.fields.slice(0, b.visibleCount).map((f, i) => ({ kind: 'column' as const, index: i, name: f.name, type: f.type })),
      schema: schemaOf(b.plan.schema.fields.slice(0, b.visibleCount)),
    }));
    const fields = inputs[0]!.schema.fields.map((f, c) => ({ ...f, type: f.type.kind === 'null' ? (inputs.find((x) => x.schema.fields[c]!.type.kind !== 'null')?.schema.fields[c]!.type ?? f.type) : f.type, nullable: inputs.some((x) => x.schema.fields[c]!.nullable) }));
    const sameWindow = bound.every((b) => JSON.stringify(b.window) === JSON.stringify(first.window));
    const union: LogicalPlan = { kind: 'union', inputs, schema: schemaOf(fields) };
    return {
      plan: pull ? this.bindOrderLimit(last, union, this.orderKeys(last, [], fields.slice(0, first.visibleCount).map((f) => f.name), first.visibleCount, (e) => errAt(this.loc, astOffset(this.loc, e), 'ORDER BY after UNION ALL takes output column names or positions'))) : union, visibleCount: first.visibleCount, keyColumns: first.keyColumns,
      windowed: sameWindow && first.windowed, window: sameWindow ? first.window : null, emit: first.emit, columnAts: first.columnAts,
      dependsOn: [...new Set(bound.flatMap((b) => b.dependsOn))], sources: [...new Map(bound.flatMap((b) => b.sources).map((x) => [x.name, x])).values()],
    };
  }

  /**
   * FROM with joins: `a [INNER|LEFT|RIGHT|FULL] JOIN b ON …`, `JOIN … USING (…)` and comma joins
   * (`FROM a, b WHERE …`, as Nexmark writes them), left to right. For inner joins the WHERE conjuncts
   * that relate the two sides join them too (Nexmark q7 bounds its join in WHERE). The condition is
   * sorted into keys, a time bound and a residual by planner/bind-join.ts.
   */
  private bindJoins(from: Ast[], where: Ast | null): { rel: Relation; where: Ast | null } {
    const { loc } = this;
    const allInner = from.slice(1).every((f) => !f.join || /^(INNER )?JOIN$/i.test(String(f.join)));
    let rel = this.joinInput(this.bindFrom(from[0]));
    let rest: Ast | null = where;
    for (let i = 1; i < from.length; i++) {
      const item = from[i]!;
      const right = this.joinInput(this.bindFrom(item));
      const kw = String(item.join ?? 'INNER JOIN').toUpperCase();
      const at = this.keywordAt(kw.includes('JOIN') ? 'JOIN' : 'FROM');
      const joinType: JoinType | null = !item.join || kw === 'INNER JOIN' || kw === 'JOIN' ? 'inner'
        : kw.startsWith('LEFT') ? 'left' : kw.startsWith('RIGHT') ? 'right' : kw.startsWith('FULL') ? 'full' : null;
      if (!joinType) errAt(loc, at, `${kw} is not supported: use [INNER], LEFT, RIGHT or FULL [OUTER] JOIN`, 'unsupported');
      const nl = rel.plan.schema.fields.length;
      const scope: ScopeColumn[] = [...rel.scope, ...right.scope.map((c) => ({ ...c, index: c.index + nl }))];
      const ctx: BindContext = { loc, scope: { columns: scope }, noAggregates: 'aggregates are not allowed in a join condition' };
      const parts: Expr[] = [];
      if (item.on) parts.push(bindExpr(ctx, item.on));
      for (const u of (item.using ?? []) as Ast[]) {
        const name = String(u.value ?? u);
        const l = rel.scope.find((c) => !c.hidden && c.name.toLowerCase() === name.toLowerCase());
        const r = right.scope.find((c) => !c.hidden && c.name.toLowerCase() === name.toLowerCase());
        if (!l || !r) errAt(loc, this.identAt(name), `USING (${name}): both sides need a column '${name}'`);
        parts.push({ kind: 'call', fn: 'eq', args: [{ kind: 'column', index: l.index, name: l.name, type: l.type }, { kind: 'column', index: r.index + nl, name: r.name, type: r.type }], type: T.boolean } as Expr);
      }
      // Inner joins take the WHERE conjuncts over their two sides: those relating both join them (Nexmark
      // q7 bounds its join in WHERE); when every join is inner, those over one side filter it before
      // the join (less state). The rest filter the result.
      if (joinType === 'inner' && rest) {
        const keep: Ast[] = [];
        for (const c of splitAnd(rest)) {
          let e: Expr | null = null;
          try { e = containsAggregate(c) ? null : bindExpr(ctx, c); } catch { e = null; }
          const cols = e ? [...columnsOf(e)] : [];
          const both = cols.some((x) => x < nl) && cols.some((x) => x >= nl);
          if (e && (both || (allInner && cols.length > 0))) parts.push(e);
          else keep.push(c);
        }
        rest = keep.reduce<Ast | null>((acc, c) => (acc ? { type: 'binary_expr', operator: 'AND', left: acc, right: c, loc: c.loc } : c), null);
      }
      const cond = andAll(parts);
      if (cond && cond.type.kind !== 'boolean') errAt(loc, astOffset(loc, item.on), 'a join condition must be BOOLEAN');
      if (!cond && joinType !== 'inner') errAt(loc, at, `${kw} needs ON or USING`);
      const temporal = this.temporalBound(item, rel, right, at);
      const a = analyzeJoin(cond, rel.plan, right.plan, joinType, null, temporal);
      let lp = rel.plan; let rp = right.plan;
      let residual = a.residual;
      if (joinType === 'inner') {
        const lf = andAll(a.leftOnly); const rf = andAll(a.rightOnly);
        if (lf) lp = { kind: 'filter', input: lp, predicate: lf, schema: lp.schema };
        if (rf) rp = { kind: 'filter', input: rp, predicate: rf, schema: rp.schema };
      } else {
        residual = andAll([...(residual ? [residual] : []), ...a.leftOnly, ...a.rightOnly.map((x) => shiftColumns(x, nl))]);
      }
      if (a.bound.kind !== 'regular' && !(a.bound.kind === 'temporal' && a.bound.leftTime === null)) {
        const noWm = [...sourcesWithoutWatermark(lp), ...sourcesWithoutWatermark(rp)];
        if (noWm.length) errAt(loc, at, `a${a.bound.kind === 'window' ? ' window' : a.bound.kind === 'temporal' ? ' temporal' : 'n interval'} join needs a watermark on every input; source '${noWm[0]}' declares none: add WATERMARK FOR <time column> AS <time column> - INTERVAL '5' SECOND`);
      }
      if (a.bound.kind === 'regular' && a.leftKeys.length === 0) errAt(loc, at, 'a join without a time bound needs at least one equality between the two sides (l.col = r.col): a cross join of two streams would grow without end', 'unsupported');
      const schema = joinSchema(lp.schema, rp.schema, joinType);
      const plan: LogicalPlan = { kind: 'join', left: lp, right: rp, joinType, leftKeys: a.leftKeys, rightKeys: a.rightKeys, residual, bound: a.bound, schema };
      const lk = sideKey(rel); const rk = sideKey(right);
      const key = a.bound.kind === 'regular' && lk && rk ? [...lk, ...rk.map((k) => k + nl)] : null;
      const outScope = scope.map((c) => ({ ...c, type: schema.fields[c.index]?.type ?? c.type }));
      rel = {
        plan, scope: outScope, streaming: rel.streaming || right.streaming, aggregated: key !== null, key, joined: true,
        dependsOn: [...rel.dependsOn, ...right.dependsOn], sources: [...rel.sources, ...right.sources], tvf: null,
      };
    }
    return { rel, where: rest };
  }

  /**
   * WHERE conjuncts `x IN (SELECT y FROM r [WHERE …])`, `EXISTS (SELECT … FROM r WHERE …)` and
   * `NOT EXISTS (…)` become SEMI and ANTI joins of the FROM relation with `r`: the subquery's conjuncts
   * that name outer columns (correlation) join, the others filter `r`. As for every join, the condition
   * decides the kind: window (Flink's window SEMI/ANTI joins), interval or regular.
   */
  private bindSemiJoins(rel: Relation, where: Ast): { rel: Relation; where: Ast | null } {
    const { loc } = this;
    const keep: Ast[] = [];
    for (const c of splitAnd(where)) {
      const op = String(c?.operator ?? '').toUpperCase();
      const inSub = c?.type === 'binary_expr' && (op === 'IN' || op === 'NOT IN') && c.right?.type === 'expr_list' && c.right.value?.length === 1 && c.right.value[0]?.ast;
      const exists = (c?.type === 'unary_expr' && op === 'NOT EXISTS' && c.expr?.ast) || (c?.type === 'function' && functionName(c) === 'exists' && c.args?.value?.[0]?.ast);
      if (!inSub && !exists) { keep.push(c); continue; }
      const at = astOffset(loc, c);
      if (op === 'NOT IN') errAt(loc, at, 'NOT IN (SELECT …) is not supported over streams (one NULL in the subquery empties the result): write NOT EXISTS (SELECT … WHERE inner.col = outer.col)', 'unsupported');
      const anti = op === 'NOT EXISTS';
      const sq: Ast = inSub ? c.right.value[0].ast : (c.expr?.ast ?? c.args.value[0].ast);
      if (sq._next || sq.with?.length || sq.groupby || sq.having || !sq.from || sq.from.length !== 1) {
        errAt(loc, at, `${inSub ? 'IN' : anti ? 'NOT EXISTS' : 'EXISTS'} (SELECT …) reads one source, view or window table function here (no GROUP BY, joins or UNION in it): put the rest in a view`, 'unsupported');
      }
      if (rel.tvf) rel = this.joinInput(rel);
      const right = this.joinInput(this.bindFrom(sq.from[0]));
      const nl = rel.plan.schema.fields.length;
      const scope: ScopeColumn[] = [...rel.scope, ...right.scope.map((x) => ({ ...x, index: x.index + nl }))];
      const rightCtx: BindContext = { loc, scope: { columns: right.scope }, noAggregates: 'aggregates are not allowed here' };
      const bothCtx: BindContext = { loc, scope: { columns: scope }, noAggregates: 'aggregates are not allowed here' };
      const local: Expr[] = []; const parts: Expr[] = [];
      for (const w of sq.where ? splitAnd(sq.where) : []) {
        let e: Expr | null = null;
        try { e = bindExpr(rightCtx, w); } catch { e = null; }
        if (e) local.push(e);
        else parts.push(bindExpr(bothCtx, w));
      }
      if (inSub) {
        const items = (sq.columns as Ast[]);
        if (items.length !== 1 || items[0] === '*' || (items[0].expr ?? items[0]).column === '*') errAt(loc, at, 'IN (SELECT …) needs exactly one column in the subquery');
        const outer = bindExpr({ loc, scope: { columns: rel.scope }, noAggregates: 'aggregates are not allowed here' }, c.left);
        const inner = bindExpr(rightCtx, items[0].expr ?? items[0]);
        parts.push({ kind: 'call', fn: 'eq', args: [outer, shiftColumns(inner, nl)], type: T.boolean } as Expr);
      }
      let rp = right.plan;
      const lf = andAll(local);
      if (lf) rp = { kind: 'filter', input: rp, predicate: lf, schema: rp.schema };
      const joinType: JoinType = anti ? 'anti' : 'semi';
      const a = analyzeJoin(andAll(parts), rel.plan, rp, joinType, null);
      if (a.leftOnly.length) errAt(loc, at, 'a condition on the outer query alone belongs outside the subquery');
      const residual = andAll([...(a.residual ? [a.residual] : []), ...a.rightOnly.map((x) => shiftColumns(x, nl))]);
      if (a.bound.kind === 'regular' && a.leftKeys.length === 0) errAt(loc, at, 'a SEMI or ANTI join needs an equality between the query and the subquery (IN, or inner.col = outer.col in the subquery\'s WHERE)', 'unsupported');
      if (a.bound.kind !== 'regular') {
        const noWm = [...sourcesWithoutWatermark(rel.plan), ...sourcesWithoutWatermark(rp)];
        if (noWm.length) errAt(loc, at, `a ${a.bound.kind} join needs a watermark on every input; source '${noWm[0]}' declares none`);
      }
      const plan: LogicalPlan = { kind: 'join', left: rel.plan, right: rp, joinType, leftKeys: a.leftKeys, rightKeys: a.rightKeys, residual, bound: a.bound, schema: rel.plan.schema };
      rel = { ...rel, plan, joined: true, dependsOn: [...rel.dependsOn, ...right.dependsOn], sources: [...rel.sources, ...right.sources] };
    }
    const rest = keep.reduce<Ast | null>((acc, x) => (acc ? { type: 'binary_expr', operator: 'AND', left: acc, right: x, loc: x.loc } : x), null);
    return { rel, where: rest };
  }

  /** Consumed FOR SYSTEM_TIME AS OF clauses of this query (by position in `q.asOf`). */
  private asOfUsed = new Set<number>();

  /**
   * `JOIN t FOR SYSTEM_TIME AS OF l.ts`: the version of `t` valid at the left row's time (versions
   * ordered by `t`'s watermark column — a keyed view's: `viewTimeColumn` —, or by arrival when it has
   * none); `AS OF PROCTIME()`: the version
   * current when the left row arrives.
   */
  private temporalBound(item: Ast, left: Relation, right: Relation, at: number): JoinBound | null {
    const list = this.q.asOf ?? [];
    const i = list.findIndex((c, j) => !this.asOfUsed.has(j) && typeof item.table === 'string' && c.table.toLowerCase() === item.table.toLowerCase());
    if (i < 0) return null;
    this.asOfUsed.add(i);
    const c = list[i]!;
    let leftTime: number | null = null;
    if (c.column) {
      const col = c.column;
      const hit = left.scope.find((s) => s.name.toLowerCase() === col.name.toLowerCase() && (col.qualifier === null || s.qualifier?.toLowerCase() === col.qualifier.toLowerCase()));
      if (!hit) errAt(this.loc, c.start, `FOR SYSTEM_TIME AS OF ${col.qualifier ? `${col.qualifier}.` : ''}${col.name}: no such column on the left side of the join`);
      if (hit.type.kind !== 'timestamp') errAt(this.loc, c.start, `FOR SYSTEM_TIME AS OF needs a TIMESTAMP column, '${hit.name}' is ${typeToString(hit.type)}`);
      leftTime = hit.index;
    }
    const rp = right.plan;
    const rightTime = rp.kind === 'source_scan' && rp.watermark ? rp.watermark.column : rp.kind === 'view_scan' && rp.key ? this.viewTimeColumn(rp.view, rp.schema) : null;
    if (String(item.join ?? '').toUpperCase().startsWith('RIGHT') || String(item.join ?? '').toUpperCase().startsWith('FULL')) errAt(this.loc, at, 'a temporal join (FOR SYSTEM_TIME AS OF) is INNER or LEFT');
    return { kind: 'temporal', leftTime, rightTime };
  }

  /**
   * A keyed materialized view's version time for a temporal join: its TIMESTAMP column named like the
   * watermark column of a source it reads (directly or through views) — the time attribute a versioned
   * view keeps from its input, as Flink's (e.g. a last-row dedup). None found, or several: null (the
   * version current when the left row is released).
   */
  private viewTimeColumn(view: string, schema: Schema): number | null {
    const names = new Set<string>();
    const seen = new Set<string>();
    const walk = (name: string) => {
      if (seen.has(name.toLowerCase())) return;
      seen.add(name.toLowerCase());
      const o = this.catalog.get(name);
      if (o?.kind === 'source') { if (o.watermark) names.add(o.watermark.column.toLowerCase()); return; }
      if (o && 'dependsOn' in o) for (const d of o.dependsOn) walk(d);
    };
    walk(view);
    const hits = schema.fields.flatMap((f, i) => (f.type.kind === 'timestamp' && names.has(f.name.toLowerCase()) ? [i] : []));
    return hits.length === 1 ? hits[0]! : null;
  }

  /** A join input: a window TVF in FROM is applied (its window columns become real columns). */
  private joinInput(rel: Relation): Relation {
    if (!rel.tvf) return rel;
    if (rel.tvf.spec.kind === 'session') errAt(this.loc, rel.tvf.tvf.start, 'SESSION windows need a GROUP BY: sessions are formed per group key');
    const plan: LogicalPlan = { kind: 'window_assign', input: rel.plan, spec: rel.tvf.spec, timeColumn: rel.tvf.timeColumn, schema: this.windowAssignSchema(rel.plan.schema) };
    return { ...rel, plan, tvf: null };
  }

  private windowAssignSchema(input: Schema): Schema {
    return schemaOf([...input.fields, { name: 'window_start', type: T.timestamp, nullable: false }, { name: 'window_end', type: T.timestamp, nullable: false }, { name: 'window_time', type: T.timestamp, nullable: false }]);
  }

  private rejectVirtual(rel: Relation, e: Expr, at: number, where: string): void {
    if (!rel.tvf) return;
    const v = rel.tvf.virtualStart;
    const walk = (x: Expr): void => {
      if (x.kind === 'column' && x.index >= v) errAt(this.loc, at, `${x.name} cannot be used in ${where} of a windowed aggregate: it is assigned by the window`);
      if (x.kind === 'call') x.args.forEach(walk);
      if (x.kind === 'field' || x.kind === 'cast') walk(x.input);
      if (x.kind === 'case') { x.whens.forEach((w) => { walk(w.when); walk(w.then); }); if (x.otherwise) walk(x.otherwise); }
    };
    walk(e);
  }

  // ---- FROM ---------------------------------------------------------------------------------

  private bindFrom(item: Ast): Relation {
    const { loc } = this;
    if (item.expr?.ast) {
      const sub = new QueryBinder(this.catalog, loc, this.q, this.mode === 'pull' ? 'pull' : 'continuous', this.ctes).bindSubquery(item.expr.ast);
      return this.asRelation(sub, item.as ?? null, []);
    }
    if (item.type === 'expr' && item.expr?.type === 'function') {
      const name = functionName(item.expr);
      return errAt(loc, astOffset(loc, item.expr), `'${name}' cannot be used in FROM${['tumble', 'hop', 'cumulate', 'session'].includes(name) ? '' : ': expected a source, a view or TUMBLE/HOP/CUMULATE/SESSION(…)'}`);
    }
    const table: string = item.table;
    const m = /^__w(\d+)$/.exec(table);
    if (m) {
      const tvf = this.q.windows[Number(m[1])]!;
      const base = this.bindNamed(tvf.source.value, item.as ?? tvf.source.value, tvf.source.start);
      return this.applyTvf(base, tvf);
    }
    return this.bindNamed(table, item.as ?? table, astOffset(loc, item));
  }

  /** Binds a nested SELECT as a relation (subqueries and CREATE VIEW bodies). */
  bindSubquery(ast: Ast): BoundQuery {
    return this.bind(ast);
  }

  private asRelation(b: BoundQuery, qualifier: string | null, deps: string[]): Relation {
    const scope = b.plan.schema.fields.map((f, i) => ({ name: f.name, qualifier, index: i, type: f.type, hidden: i >= b.visibleCount }));
    return {
      plan: b.plan, scope, streaming: this.mode !== 'pull', aggregated: b.keyColumns !== null, key: b.keyColumns,
      dependsOn: [...deps, ...b.dependsOn], sources: [...b.sources], tvf: null,
    };
  }

  private bindNamed(name: string, qualifier: string, at: number): Relation {
    const { loc } = this;
    const cte = this.ctes.get(name.toLowerCase());
    if (cte) {
      // Bound with the CTEs defined before it only (no CTE can read itself or a later one).
      const before = new Map([...this.ctes].filter(([k]) => k !== name.toLowerCase() && [...this.ctes.keys()].indexOf(k) < [...this.ctes.keys()].indexOf(name.toLowerCase())));
      const b = new QueryBinder(this.catalog, loc, this.q, this.mode === 'pull' ? 'pull' : 'continuous', before).bindSubquery(cte.ast);
      return this.asRelation(b, qualifier, []);
    }
    const obj = this.catalog.get(name);
    if (!obj) {
      errAt(loc, at, `unknown source or view '${name}'${didYouMean(name, this.catalog.all().map((o) => o.name))}`);
    }
    switch (obj.kind) {
      case 'source': {
        if (this.mode === 'pull') {
          errAt(loc, at, `'${obj.name}' is a streaming source: a pull query reads a materialized view. Create one with CREATE MATERIALIZED VIEW … AS SELECT … FROM ${obj.name}, or add EMIT CHANGES for a push query`);
        }
        const plan: LogicalPlan = {
          kind: 'source_scan', source: obj.name, def: obj, schema: obj.schema,
          watermark: obj.watermark ? { column: obj.watermark.index, delayMs: obj.watermark.delayMs } : null,
        };
        const scope = obj.schema.fields.map((f, i) => ({ name: f.name, qualifier, index: i, type: f.type }));
        return { plan, scope, streaming: true, aggregated: false, key: null, dependsOn: [obj.name], sources: [obj], tvf: null };
      }
      case 'view': {
        // A view created earlier in this request is bound from its text in the request, so an error in
        // its body points at the body the user is looking at. A stored view's text is not in front of
        // the user: its errors are reported at the reference, naming the view.
        const here = requestViews.get(this.catalog)?.get(obj.name.toLowerCase());
        const inMode = this.mode === 'pull' ? 'pull' : 'continuous';
        if (here) {
          const inner = parseSelect(here, loc.pm);
          const innerLoc: Locator = { pm: loc.pm, base: here.start, tokens: tokenize(here.text, posMap(here.text)) };
          annotatePositions(inner, innerLoc.tokens);
          return this.asRelation(new QueryBinder(this.catalog, innerLoc, here, inMode).bind(inner), qualifier, [obj.name]);
        }
        const parsed = parseRequest(obj.query);
        const st = parsed.statements[0]!;
        if (st.kind !== 'select') throw new Error(`view ${obj.name} does not hold a SELECT`);
        try {
          const inner = parseSelect(st.query, parsed.pm);
          const innerLoc: Locator = { pm: parsed.pm, base: st.query.start, tokens: tokenize(st.query.text, posMap(st.query.text)) };
          annotatePositions(inner, innerLoc.tokens);
          const b = new QueryBinder(this.catalog, innerLoc, st.query, inMode).bind(inner);
          return this.asRelation(b, qualifier, [obj.name]);
        } catch (e) {
          if (!(e instanceof SqlError)) throw e;
          return errAt(loc, at, `in view '${obj.name}' (line ${e.line}, column ${e.column} of its definition): ${e.message}`);
        }
      }
      case 'materialized_view': {
        if (this.mode !== 'pull') {
          // A keyed view is read as its changes, epoch by epoch (a changelog keyed like the view). An
          // append-only view keeps only its newest rows, so its changes cannot be caught up after a
          // restart: its query is computed here from its sources instead, with the same result.
          if (obj.keyColumns) {
            const plan: LogicalPlan = { kind: 'view_scan', view: obj.name, schema: obj.schema, key: obj.keyColumns };
            const scope = obj.schema.fields.map((f, i) => ({ name: f.name, qualifier, index: i, type: f.type, hidden: i >= obj.visibleCount }));
            return { plan, scope, streaming: true, aggregated: true, key: obj.keyColumns, dependsOn: [obj.name], sources: [], tvf: null };
          }
          const parsed = parseRequest(obj.sql);
          const st = parsed.statements[0]!;
          if (st.kind !== 'create_materialized_view') throw new Error(`materialized view ${obj.name} does not hold its CREATE statement`);
          try {
            const inner = parseSelect(st.query, parsed.pm);
            const innerLoc: Locator = { pm: parsed.pm, base: st.query.start, tokens: tokenize(st.query.text, posMap(st.query.text)) };
            annotatePositions(inner, innerLoc.tokens);
            return this.asRelation(new QueryBinder(this.catalog, innerLoc, st.query, 'continuous').bind(inner), qualifier, [obj.name]);
          } catch (e) {
            if (!(e instanceof SqlError)) throw e;
            return errAt(loc, at, `in materialized view '${obj.name}' (line ${e.line}, column ${e.column} of its definition): ${e.message}`);
          }
        }
        const plan: LogicalPlan = { kind: 'view_scan', view: obj.name, schema: obj.schema };
        const scope = obj.schema.fields.map((f, i) => ({ name: f.name, qualifier, index: i, type: f.type, hidden: i >= obj.visibleCount }));
        return { plan, scope, streaming: false, aggregated: false, key: null, dependsOn: [obj.name], sources: [], tvf: null };
      }
      case 'sink':
        return errAt(loc, at, `'${obj.name}' is a sink: it writes to Kafka and cannot be read from`);
    }
  }

  private applyTvf(base: Relation, tvf: WindowTvf): Relation {
    const { loc } = this;
    if (base.aggregated) errAt(loc, tvf.start, 'a window over an aggregated view is not supported');
    const tc = base.scope.find((c) => c.name === tvf.timeCol.value) ?? base.scope.find((c) => c.name.toLowerCase() === tvf.timeCol.value.toLowerCase());
    if (!tc) errAt(loc, tvf.timeCol.start, `unknown column '${tvf.timeCol.value}'${didYouMean(tvf.timeCol.value, base.scope.map((c) => c.name))}`);
    if (tc.type.kind !== 'timestamp') errAt(loc, tvf.timeCol.start, `a window needs a TIMESTAMP time column, but '${tc.name}' is ${typeToString(tc.type)}`);
    for (const p of tvf.partitionBy) {
      if (!base.scope.some((c) => c.name.toLowerCase() === p.value.toLowerCase())) errAt(loc, p.start, `unknown column '${p.value}'${didYouMean(p.value, base.scope.map((c) => c.name))}`);
    }
    const a = tvf.args.map((x) => x.ms);
    let spec: WindowSpec;
    switch (tvf.kind) {
      case 'tumble': spec = { kind: 'tumble', sizeMs: a[0]!, offsetMs: a[1] ?? 0 }; break;
      case 'hop': spec = { kind: 'hop', slideMs: a[0]!, sizeMs: a[1]!, offsetMs: a[2] ?? 0 }; break;
      case 'cumulate': spec = { kind: 'cumulate', stepMs: a[0]!, sizeMs: a[1]!, offsetMs: a[2] ?? 0 }; break;
      case 'session': spec = { kind: 'session', gapMs: a[0]! }; break;
    }
    this.checkSpec(spec, tvf.start);
    const v = base.plan.schema.fields.length;
    const q = base.scope[0]?.qualifier ?? null;
    const scope: ScopeColumn[] = [
      ...base.scope,
      { name: 'window_start', qualifier: q, index: v, type: T.timestamp },
      { name: 'window_end', qualifier: q, index: v + 1, type: T.timestamp },
      { name: 'window_time', qualifier: q, index: v + 2, type: T.timestamp },
    ];
    return { ...base, scope, tvf: { spec, timeColumn: tc.index, virtualStart: v, tvf } };
  }

  /** Every window syntax binds to a spec, and every spec passes here: the one place its intervals are checked. */
  private checkSpec(spec: WindowSpec, at: number): void {
    const { loc } = this;
    const lengths: [string, number][] = spec.kind === 'tumble' ? [['size', spec.sizeMs]]
      : spec.kind === 'hop' ? [['slide', spec.slideMs], ['size', spec.sizeMs]]
        : spec.kind === 'cumulate' ? [['step', spec.stepMs], ['size', spec.sizeMs]]
          : [['gap', spec.gapMs]];
    for (const [what, ms] of lengths) {
      if (!(ms > 0)) errAt(loc, at, `a window's ${what} must be positive, not ${formatDuration(ms)}`);
      const range = intervalRangeError(ms);
      if (range) errAt(loc, at, range, 'limit');
    }
    if (spec.kind === 'hop' && spec.slideMs > spec.sizeMs) errAt(loc, at, `a HOP window's slide (${formatDuration(spec.slideMs)}) must not exceed its size (${formatDuration(spec.sizeMs)}): HOP(source, time_col, slide, size), Spark: window(ts, size, slide)`);
    if (spec.kind === 'cumulate' && spec.sizeMs % spec.stepMs !== 0) errAt(loc, at, `a CUMULATE window's size must be a multiple of its step`);
    if ((spec.kind === 'tumble' || spec.kind === 'hop' || spec.kind === 'cumulate') && Math.abs(spec.offsetMs) >= spec.sizeMs) {
      errAt(loc, at, 'a window offset must be smaller than the window size');
    }
  }

  // ---- SELECT list without aggregation --------------------------------------------------------

  private selectItems(
    ast: Ast, scope: readonly ScopeColumn[], bindOne: (expr: Ast) => Expr,
    expand?: (expr: Ast, alias: string | null) => { exprs: Expr[]; names: string[] } | null,
  ): { exprs: Expr[]; names: string[]; ats: number[] } {
    const exprs: Expr[] = []; const names: string[] = []; const ats: number[] = [];
    const { loc } = this;
    (ast.columns as Ast[]).forEach((c, i) => {
      const e = c.expr ?? c;
      if (e.type === 'column_ref' && e.column === '*') {
        const q = e.table == null ? null : typeof e.table === 'string' ? e.table : e.table.value;
        const cols = scope.filter((s) => !s.hidden && (q === null || (s.qualifier !== null && s.qualifier.toLowerCase() === q.toLowerCase())));
        if (q !== null && cols.length === 0) errAt(loc, astOffset(loc, e), `unknown table '${q}' in ${q}.*`);
        for (const s of cols) { exprs.push({ kind: 'column', index: s.index, name: s.name, type: s.type }); names.push(s.name); ats.push(astOffset(loc, e)); }
        return;
      }
      if (e.type === 'star' || c === '*') errAt(loc, loc.base, '* is not allowed here');
      const alias = c.as ? String(typeof c.as === 'string' ? c.as : c.as.value ?? c.as) : null;
      const many = expand?.(e, alias);
      if (many) {
        exprs.push(...many.exprs); names.push(...many.names);
        for (const _ of many.exprs) ats.push(alias ? this.aliasOffset(astOffset(loc, e), alias) : astOffset(loc, e));
        return;
      }
      const bound = bindOne(e);
      exprs.push(bound);
      const nm = c.as ? String(typeof c.as === 'string' ? c.as : c.as.value ?? c.as) : this.defaultName(e, bound, i);
      names.push(nm);
      ats.push(c.as ? this.aliasOffset(astOffset(loc, e), nm) : astOffset(loc, e));
    });
    const seen = new Map<string, number>();
    const qualified = (ast.columns as Ast[]).flatMap((c) => { const e = c.expr ?? c; return e.type === 'column_ref' && e.column !== '*' && e.table && !c.as ? [true] : [false]; });
    names.forEach((n, i) => {
      const k = n.toLowerCase();
      const j = seen.get(k);
      // The same column name from two sides of a join (`B.dateTime, A.dateTime`, Nexmark q20) is renamed
      // as Flink does: dateTime, dateTime0, dateTime1, …
      if (j !== undefined && qualified[i] && qualified[j] && names.length === (ast.columns as Ast[]).length) {
        let m = 0;
        while (seen.has(`${k}${m}`) || names.some((x) => x.toLowerCase() === `${k}${m}`)) m++;
        names[i] = `${n}${m}`;
        seen.set(names[i]!.toLowerCase(), i);
        return;
      }
      if (j !== undefined) errAt(loc, ats[i]!, `duplicate column name '${n}' in the SELECT list: give one of them an alias with AS`);
      seen.set(k, i);
    });
    return { exprs, names, ats };
  }

  /** Offset of the alias `nm` of the select item starting at `from`: the last such name before the item ends. */
  private aliasOffset(from: number, nm: string): number {
    const { loc } = this;
    let depth = 0; let found = from;
    for (const t of loc.tokens) {
      if (loc.base + t.start < from) continue;
      if (t.kind === 'op' && t.value === '(') depth++;
      if (t.kind === 'op' && t.value === ')') { if (depth === 0) break; depth--; }
      if (depth === 0 && ((t.kind === 'op' && t.value === ',') || (t.kind === 'ident' && t.upper === 'FROM'))) break;
      if ((t.kind === 'ident' || t.kind === 'qident') && t.value.toLowerCase() === nm.toLowerCase()) found = loc.base + t.start;
    }
    return found;
  }

  private defaultName(ast: Ast, e: Expr, i: number): string {
    if (ast.type === 'column_ref') {
      const tbl = ast.table == null ? null : typeof ast.table === 'string' ? ast.table : ast.table.value;
      if (tbl === SPARK_WINDOW_ALIAS) return `window_${columnName(ast)}`;
      return fieldName(e, columnName(ast));
    }
    if (ast.type === 'aggr_func' || ast.type === 'function') return (ast.type === 'aggr_func' ? String(ast.name) : functionName(ast)).toLowerCase();
    if (ast.type === 'cast') return this.defaultName(ast.expr, e, i);
    return `expr${i + 1}`;
  }

  /**
   * `ROW_NUMBER() | RANK() OVER (PARTITION BY … ORDER BY …)` in a SELECT list: a rank column appended
   * to the input, selected where the item stands. The enclosing query's filter on it makes it a
   * deduplication or a Top-N (foldRank); on its own it is refused (checkNoRank).
   */
  private bindRank(items: Ast[], rel: Relation, input: LogicalPlan): { plan: LogicalPlan; scope: ScopeColumn[]; expand: (e: Ast, alias: string | null) => { exprs: Expr[]; names: string[] } | null } {
    const { loc } = this;
    const first = items[0].expr ?? items[0];
    const at = this.keywordAt(String(first.name).toUpperCase());
    if (items.length > 1) errAt(loc, at, 'one ROW_NUMBER() or RANK() per query', 'unsupported');
    const name = String(first.name).toLowerCase();
    if (name !== 'row_number' && name !== 'rank') errAt(loc, at, `${String(first.name).toUpperCase()}() OVER is not supported: ROW_NUMBER() and RANK() are (deduplication and Top-N)`, 'unsupported');
    if (this.mode === 'pull') errAt(loc, at, `${name.toUpperCase()}() OVER belongs to continuous queries (deduplication and Top-N); a pull query ranks with ORDER BY … LIMIT`, 'unsupported');
    const spec = first.over?.as_window_specification?.window_specification;
    if (!spec) errAt(loc, at, `${name.toUpperCase()}() needs OVER (PARTITION BY … ORDER BY …)`);
    if (spec.window_frame_clause) errAt(loc, at, 'a window frame is not supported with ROW_NUMBER() and RANK()', 'unsupported');
    const ctx: BindContext = { loc, scope: { columns: rel.scope }, noAggregates: 'aggregates are not allowed in OVER (…)' };
    const column = (a: Ast, what: string): number => {
      const e = bindExpr(ctx, a);
      if (e.kind !== 'column') errAt(loc, astOffset(loc, a), `${what} of ${name.toUpperCase()}() takes columns, not expressions: compute it in a subquery`, 'unsupported');
      return e.index;
    };
    const partitionBy = ((spec.partitionby ?? []) as Ast[]).map((p) => column(p.expr ?? p, 'PARTITION BY'));
    const orderItems = (spec.orderby ?? []) as Ast[];
    if (orderItems.length === 0) errAt(loc, at, `${name.toUpperCase()}() needs ORDER BY inside OVER (…): the order that decides which rows are first`);
    const orderBy: SortKey[] = orderItems.map((o) => {
      const desc = String(o.type ?? 'ASC').toUpperCase() === 'DESC';
      return { index: column(o.expr, 'ORDER BY'), desc, nullsFirst: !desc };
    });
    const alias = items[0].as ? String(typeof items[0].as === 'string' ? items[0].as : items[0].as.value ?? items[0].as) : name;
    const rankIdx = input.schema.fields.length;
    const plan: LogicalPlan = {
      kind: 'rank', input, fn: name as 'row_number' | 'rank', partitionBy, orderBy, at,
      schema: schemaOf([...input.schema.fields, { name: alias, type: T.bigint, nullable: false }]),
    };
    const rankCol: ScopeColumn = { name: `__rank_${alias}`, qualifier: null, index: rankIdx, type: T.bigint, hidden: true };
    return {
      plan, scope: [...rel.scope, rankCol],
      expand: (e) => (e?.type === 'window_func' ? { exprs: [{ kind: 'column', index: rankIdx, name: alias, type: T.bigint }], names: [alias] } : null),
    };
  }

  /**
   * The filter of a query over a ranked subquery: `rn = 1` over ROW_NUMBER ordered by a time column
   * is a deduplication (first row per key, or the last with DESC); `rn <= N` (`rn < N`, `rn = 1`
   * otherwise) is a Top-N, per window when it partitions by window_start and window_end. The rank
   * condition leaves the WHERE; the rest stays. Returns null when `rel` is not a ranked subquery.
   */
  private foldRank(rel: Relation, where: Ast | null): { rel: Relation; where: Ast | null } | null {
    const { loc } = this;
    const P = rel.plan;
    if (P.kind !== 'project' || P.input.kind !== 'rank') return null;
    const R = P.input;
    const rankIdx = R.input.schema.fields.length;
    const j = P.exprs.findIndex((e) => e.kind === 'column' && e.index === rankIdx);
    const conjuncts: Ast[] = [];
    const split = (a: Ast) => { if (a?.type === 'binary_expr' && String(a.operator).toUpperCase() === 'AND') { split(a.left); split(a.right); } else if (a) conjuncts.push(a); };
    split(where);
    let limit: number | null = null; let byEq = false;
    const isRank = (a: Ast) => a?.type === 'column_ref' && j >= 0 && (() => {
      const c = rel.scope.find((s) => s.name.toLowerCase() === columnName(a).toLowerCase() && !s.hidden);
      return c !== undefined && c.index === j;
    })();
    const rest = conjuncts.filter((c) => {
      if (limit !== null || c?.type !== 'binary_expr') return true;
      let op = String(c.operator); let col = c.left; let num = c.right;
      if (isRank(c.right) && c.left?.type === 'number') { col = c.right; num = c.left; op = ({ '<': '>', '<=': '>=', '>': '<', '>=': '<=', '=': '=' } as Record<string, string>)[op] ?? op; }
      if (!isRank(col) || num?.type !== 'number') return true;
      const n = Number(num.value);
      if (op === '=' && n === 1) { limit = 1; byEq = true; return false; }
      if (op === '<=' && Number.isInteger(n) && n >= 1) { limit = n; return false; }
      if (op === '<' && Number.isInteger(n) && n >= 2) { limit = n - 1; return false; }
      return true;
    });
    if (limit === null) {
      return errAt(loc, R.at, `${R.fn.toUpperCase()}() must be filtered by the enclosing query: WHERE ${R.schema.fields[rankIdx]!.name} = 1 (deduplication) or WHERE ${R.schema.fields[rankIdx]!.name} <= N (Top-N)`, 'unsupported');
    }
    void byEq;
    const inSchema = R.input.schema;
    const named = (n: string) => R.partitionBy.find((i) => inSchema.fields[i]!.name.toLowerCase() === n);
    const ws = named('window_start'); const we = named('window_end');
    const window = ws !== undefined && we !== undefined ? { start: ws, end: we } : null;
    const timeOrder = R.orderBy.length === 1 && inSchema.fields[R.orderBy[0]!.index]!.type.kind === 'timestamp';
    let inner: LogicalPlan; let exprs = [...P.exprs]; let keyIn: number[] | null;
    if (R.fn === 'row_number' && limit === 1 && timeOrder && !window && rel.key === null) {
      const keep = R.orderBy[0]!.desc ? 'last' : 'first';
      inner = { kind: 'dedup', input: R.input, keys: R.partitionBy, timeColumn: R.orderBy[0]!.index, keep, schema: inSchema };
      exprs = exprs.map((e) => (e.kind === 'column' && e.index === rankIdx ? { kind: 'literal', value: 1, type: T.bigint } : e));
      keyIn = keep === 'last' ? [...R.partitionBy] : null;
    } else {
      inner = { kind: 'top_n', input: R.input, fn: R.fn, limit, partitionBy: R.partitionBy, orderBy: R.orderBy, window, schema: R.schema };
      // Per window: final rows, append-only. Otherwise a changelog keyed by (partition, row number),
      // or for RANK (ties share a rank) by the whole row.
      keyIn = window ? null : R.fn === 'row_number' ? [...R.partitionBy, rankIdx] : R.schema.fields.map((_, i) => i);
    }
    // The output key must be among the projection's columns: add the missing ones hidden.
    const names = P.schema.fields.map((f) => f.name);
    const before = exprs.length;
    const key = keyIn ? keepKey(keyIn, inner.schema, exprs, names) : null;
    const scope = [...rel.scope, ...exprs.slice(before).map((e, i) => ({ name: names[before + i]!, qualifier: null, index: before + i, type: e.type, hidden: true }))];
    const plan: LogicalPlan = { kind: 'project', input: inner, exprs, schema: schemaOf(exprs.map((e, i) => ({ name: names[i]!, type: e.type, nullable: true }))) };
    const remaining = rest.reduce<Ast | null>((acc, c) => (acc ? { type: 'binary_expr', operator: 'AND', left: acc, right: c, loc: c.loc } : c), null);
    return { rel: { ...rel, plan, scope, key, aggregated: key !== null }, where: remaining };
  }

  private bindProjection(
    ast: Ast, rel: Relation, plan: LogicalPlan, expand?: (e: Ast, alias: string | null) => { exprs: Expr[]; names: string[] } | null,
  ): { plan: LogicalPlan; visibleCount: number; keyColumns: number[] | null; window: WindowSpec | null; ats: number[]; order: SortKey[] | null } {
    const ctx: BindContext = { loc: this.loc, scope: { columns: rel.scope }, noAggregates: 'aggregates need GROUP BY here' };
    const { exprs, names, ats } = this.selectItems(ast, rel.scope, (e) => bindExpr(ctx, e), expand);
    // A changelog input (an aggregating subquery or view) keeps its upsert key through the projection:
    // key columns not selected ride along as hidden columns, so updates and deletes still find their row.
    const visibleCount = exprs.length;
    // A changelog source (upsert-kafka, debezium-json) is keyed by its PRIMARY KEY, which must be selected.
    const keyColumns = rel.key && this.mode !== 'pull' ? keepKey(rel.key, plan.schema, exprs, names) : this.changelogKey(ast, rel, exprs);
    const order = this.orderKeys(ast, exprs, names, visibleCount, (e) => bindExpr({ ...ctx, noAggregates: 'aggregates in ORDER BY need GROUP BY' }, e));
    const fields = exprs.map((e, i) => ({ name: names[i]!, type: e.type, nullable: true }));
    return { plan: { kind: 'project', input: plan, exprs, schema: schemaOf(fields) }, visibleCount, keyColumns, window: rel.tvf?.spec ?? null, ats, order };
  }

  /**
   * A changelog source (upsert-kafka, debezium-json) read straight through a projection: the result is
   * keyed by the source's PRIMARY KEY, so its upserts and deletes (batch ops) apply per key downstream.
   */
  private changelogKey(ast: Ast, rel: Relation, exprs: readonly Expr[]): number[] | null {
    const src = rel.sources.find((s) => s.options.changelog);
    if (!src || rel.joined) return null;
    const pk = src.options.primaryKey ?? [];
    const at = astOffset(this.loc, ast.columns?.[0]?.expr ?? ast);
    if (rel.tvf || rel.sources.length !== 1 || pk.length === 0) {
      errAt(this.loc, at, `'${src.name}' is a changelog (${src.options.changelog === 'upsert' ? 'upsert-kafka' : 'debezium-json'}): read it directly and declare PRIMARY KEY (…) NOT ENFORCED; windows over it are not supported yet`);
    }
    const out: number[] = [];
    for (const k of pk) {
      const i = exprs.findIndex((e) => e.kind === 'column' && src.columns[e.index]?.name.toLowerCase() === k.toLowerCase());
      if (i < 0) errAt(this.loc, at, `a query over the changelog '${src.name}' must select its primary key column '${k}' (rows are upserted and deleted by it)`);
      out.push(i);
    }
    return out;
  }

  // ---- aggregation ------------------------------------------------------------------------

  private sparkWindow(item: Ast, scope: Scope): { spec: WindowSpec; time: Expr } | null {
    if (item?.type !== 'function') return null;
    const name = functionName(item);
    if (name !== SPARK_WINDOW_ALIAS && name !== 'session_window') return null;
    const { loc } = this;
    const at = astOffset(loc, item);
    const shown = name === SPARK_WINDOW_ALIAS ? 'window' : name;
    const args: Ast[] = item.args?.value ?? [];
    if (args.length < 2) errAt(loc, at, `${shown}() needs a time column and a duration: ${shown}(ts, '10 minutes')`);
    const time = bindExpr({ loc, scope }, args[0]);
    if (time.type.kind !== 'timestamp') errAt(loc, astOffset(loc, args[0]), `a window needs a TIMESTAMP time column, but '${exprText(time)}' is ${typeToString(time.type)}`);
    const durs = args.slice(1).map((a) => {
      const text = a.type === 'interval' ? String(a.expr?.value ?? '') : String(a.value ?? '');
      const ms = parseIntervalText(text, a.type === 'interval' ? a.unit || null : null);
      if (ms === null) errAt(loc, astOffset(loc, a), `cannot read duration '${text}' in ${shown}(): use for example '10 minutes'`);
      const range = intervalRangeError(ms!);
      if (range) errAt(loc, astOffset(loc, a), range, 'limit');
      return ms!;
    });
    let spec: WindowSpec;
    if (name === 'session_window') {
      if (durs.length !== 1) errAt(loc, at, `session_window() takes a time column and a gap: session_window(ts, '5 minutes')`);
      spec = { kind: 'session', gapMs: durs[0]! };
    } else {
      if (durs.length > 3) errAt(loc, at, `window() takes a time column, a size, and optionally a slide and a start offset`);
      const size = durs[0]!; const slide = durs[1] ?? size; const offset = durs[2] ?? 0;
      spec = slide === size ? { kind: 'tumble', sizeMs: size, offsetMs: offset } : { kind: 'hop', slideMs: slide, sizeMs: size, offsetMs: offset };
    }
    this.checkSpec(spec, at);
    return { spec, time };
  }

  private bindAggregate(ast: Ast, rel: Relation, input: LogicalPlan, groupItems: Ast[]): { plan: LogicalPlan; visibleCount: number; keyColumns: number[] | null; window: WindowSpec | null; ats: number[]; order: SortKey[] | null } {
    const { loc } = this;
    const star = (ast.columns as Ast[]).find((c) => (c.expr ?? c)?.type === 'column_ref' && (c.expr ?? c).column === '*');
    if (star) {
      errAt(loc, astOffset(loc, star.expr ?? star), 'SELECT * cannot be used with GROUP BY: list the group keys and aggregates');
    }
    const scope: Scope = { columns: rel.scope };
    const changelog = rel.sources.find((s) => s.options.changelog);
    // A changelog source read directly (upsert-kafka, debezium-json) is keyed by its PRIMARY KEY: the
    // aggregate retracts a row's previous version by it. Behind anything else its key is not known here.
    const inKey = rel.key ?? sideKey(rel);
    if (changelog && !inKey) errAt(loc, astOffset(loc, groupItems[0] ?? ast.columns?.[0]?.expr ?? ast), `aggregating the changelog '${changelog.name}' needs its rows keyed by its PRIMARY KEY: aggregate the source directly (FROM ${changelog.name}), or through a view that keeps the key`, 'unsupported');
    const preCtx: BindContext = { loc, scope, noAggregates: 'aggregates are not allowed in GROUP BY' };
    // GROUP BY: window keys (TVF columns or Spark's window()) and ordinary keys.
    let window: { spec: WindowSpec; time: Expr } | null = null;
    let windowKeys = 0;
    const keys: Expr[] = [];
    // GROUPING SETS / ROLLUP / CUBE apart: each is a list of grouping sets (lists of expressions).
    const constructs: { sets: Ast[][]; at: number }[] = [];
    const plainItems: Ast[] = [];
    for (const g of groupItems) { const c = this.groupingConstruct(g); if (c) constructs.push({ sets: c, at: astOffset(loc, g) }); else plainItems.push(g); }
    for (const g of plainItems) {
      const sw = this.sparkWindow(g, scope);
      if (sw) {
        if (window) errAt(loc, astOffset(loc, g), 'only one window per GROUP BY');
        if (rel.tvf) errAt(loc, astOffset(loc, g), 'the FROM clause already has a window table function');
        window = sw; continue;
      }
      if (g.type === 'number') errAt(loc, astOffset(loc, g), 'GROUP BY by position is not supported: name the column');
      const e = bindExpr(preCtx, g);
      if (rel.tvf && e.kind === 'column' && e.index >= rel.tvf.virtualStart) {
        if (e.name === 'window_time') errAt(loc, astOffset(loc, g), 'GROUP BY window_start, window_end (window_time is derived from them)');
        windowKeys++; continue;
      }
      this.rejectVirtual(rel, e, astOffset(loc, g), 'GROUP BY');
      if (e.type.kind === 'struct') errAt(loc, astOffset(loc, g), 'cannot GROUP BY a ROW value; group by its fields');
      if (!keys.some((k) => exprKey(k) === exprKey(e))) keys.push(e);
    }
    // Window aggregates count appends: over a changelog source a delete or a new version would count as one more row.
    if (changelog && (window || rel.tvf)) errAt(loc, astOffset(loc, groupItems[0] ?? ast), `windows over the changelog '${changelog.name}' are not supported (a window aggregate does not take retractions); aggregate it without a window`, 'unsupported');
    // The grouping sets, as positions into `keys`: the plain keys in every set, times each construct's sets.
    let sets: number[][] | null = null;
    if (constructs.length) {
      const plain = keys.map((_, i) => i);
      const keyOf = (g: Ast): number => {
        const at = astOffset(loc, g);
        if (this.sparkWindow(g, scope)) errAt(loc, at, 'window(…) goes outside GROUPING SETS, ROLLUP and CUBE: GROUP BY window(…), ROLLUP (…)');
        if (g.type === 'number') errAt(loc, at, 'GROUP BY by position is not supported: name the column');
        const e = bindExpr(preCtx, g);
        if (rel.tvf && e.kind === 'column' && e.index >= rel.tvf.virtualStart) {
          errAt(loc, at, `${e.name} goes outside GROUPING SETS, ROLLUP and CUBE: GROUP BY window_start, window_end, GROUPING SETS (…)`);
        }
        this.rejectVirtual(rel, e, at, 'GROUP BY');
        if (e.type.kind === 'struct') errAt(loc, at, 'cannot GROUP BY a ROW value; group by its fields');
        let i = keys.findIndex((k) => exprKey(k) === exprKey(e));
        if (i < 0) { keys.push(e); i = keys.length - 1; }
        return i;
      };
      sets = [plain];
      for (const c of constructs) {
        const cs = c.sets.map((st) => st.map(keyOf));
        if (sets.length * cs.length > MAX_GROUPING_SETS) errAt(loc, c.at, `GROUP BY makes ${sets.length * cs.length} grouping sets; at most ${MAX_GROUPING_SETS} are taken (limit MAX_GROUPING_SETS)`, 'limit');
        sets = sets.flatMap((a) => cs.map((b) => [...new Set([...a, ...b])].sort((x, y) => x - y)));
      }
      const seen = new Set<string>();
      for (const st of sets) {
        const k = st.join(',');
        if (seen.has(k)) errAt(loc, constructs[0]!.at, `the grouping set (${st.map((j) => exprText(keys[j]!)).join(', ')}) occurs twice in this GROUP BY; repeated grouping sets (which repeat their rows) are not supported`, 'unsupported');
        seen.add(k);
      }
      if (keys.length > 30) errAt(loc, constructs[0]!.at, `GROUPING SETS, ROLLUP and CUBE take at most 30 grouping columns; this GROUP BY has ${keys.length}`, 'limit');
      if (window?.spec.kind === 'session' || rel.tvf?.spec.kind === 'session') errAt(loc, constructs[0]!.at, 'GROUPING SETS, ROLLUP and CUBE are not supported with SESSION windows (sessions are formed per group key)', 'unsupported');
    }
    if (rel.tvf) {
      if (windowKeys === 0) {
        errAt(loc, groupItems.length ? astOffset(loc, groupItems[0]) : rel.tvf.tvf.start, `a query over ${rel.tvf.tvf.kind.toUpperCase()}(…) must GROUP BY window_start, window_end`);
      }
      const tc = rel.scope.find((c) => c.index === rel.tvf!.timeColumn)!;
      window = { spec: rel.tvf.spec, time: { kind: 'column', index: tc.index, name: tc.name, type: tc.type } };
      if (rel.tvf.spec.kind === 'session') {
        for (const p of rel.tvf.tvf.partitionBy) {
          if (!keys.some((k) => k.kind === 'column' && k.name.toLowerCase() === p.value.toLowerCase())) {
            errAt(loc, p.start, `SESSION … PARTITION BY ${p.value}: ${p.value} must also be in GROUP BY`);
          }
        }
      }
    }
    // Pre-aggregation projection: time column, keys, aggregate arguments and filters.
    const pre: Expr[] = [];
    // With grouping sets the keys get columns of their own (the expand sets them to NULL; an aggregate's argument must not be).
    const keySlots = new Set<number>();
    const preIndex = (e: Expr): number => {
      const k = exprKey(e);
      const i = pre.findIndex((p, j) => !keySlots.has(j) && exprKey(p) === k);
      if (i >= 0) return i;
      pre.push(e);
      return pre.length - 1;
    };
    const timeIdx = window ? preIndex(window.time) : -1;
    // Over a changelog the projection keeps the input's key (before the key slots an expand may set to NULL):
    // the retracting aggregate finds a row's previous version by it.
    if (inKey) for (const k of inKey) { const f = input.schema.fields[k]!; preIndex({ kind: 'column', index: k, name: f.name, type: f.type }); }
    const keyIdx = sets ? keys.map((k) => { pre.push(k); keySlots.add(pre.length - 1); return pre.length - 1; }) : keys.map(preIndex);
    const aggs: { call: AggCall; key: string }[] = [];
    const nW = window ? 2 : 0;
    const nG = sets ? 1 : 0; // the grouping id, after the keys
    const aggOut = (i: number) => nW + keys.length + nG + i;
    const selectAliases = new Map<Ast, string>();
    for (const c of ast.columns as Ast[]) if (c.as && c.expr && isAggregateAst(c.expr)) selectAliases.set(c.expr, String(c.as));

    const bindAgg = (a: Ast): Expr => {
      const at = astOffset(loc, a);
      const fnName = (a.type === 'aggr_func' ? String(a.name) : functionName(a)).toUpperCase();
      const argAst = a.type === 'aggr_func' ? a.args?.expr : a.args?.value?.[0];
      // The front end blanks DISTINCT in SUM/AVG/MIN/MAX (node-sql-parser refuses it there); the original text keeps it.
      const callAt = a.loc?.start?.offset;
      const distinct = a.args?.distinct === 'DISTINCT' || (typeof callAt === 'number' && hasDistinct(this.q.original, callAt));
      const innerCtx: BindContext = { loc, scope, noAggregates: 'aggregate calls cannot be nested' };
      let fn: AggFn; let arg = -1; let type = T.bigint as Expr['type'];
      const isStar = !argAst || argAst.type === 'star' || (argAst.type === 'column_ref' && argAst.column === '*');
      if (fnName === 'COUNT' && isStar) { fn = 'count_star'; }
      else {
        if (isStar) errAt(loc, at, `${fnName}(*) is not allowed; only COUNT(*)`);
        const e = bindExpr(innerCtx, argAst);
        const argAt = astOffset(loc, argAst);
        this.rejectVirtual(rel, e, argAt, 'an aggregate');
        arg = preIndex(e);
        switch (fnName) {
          case 'COUNT': fn = distinct ? 'count_distinct' : 'count'; break;
          case 'SUM': fn = distinct ? 'sum_distinct' : 'sum'; if (!isNumeric(e.type)) errAt(loc, argAt, `SUM needs a number, got ${typeToString(e.type)}`); type = e.type.kind === 'double' ? T.double : T.bigint; break;
          case 'AVG': fn = distinct ? 'avg_distinct' : 'avg'; if (!isNumeric(e.type)) errAt(loc, argAt, `AVG needs a number, got ${typeToString(e.type)}`); type = T.double; break;
          case 'MIN': case 'MAX':
            fn = fnName === 'MIN' ? 'min' : 'max';
            if (!isNumeric(e.type) && e.type.kind !== 'timestamp') errAt(loc, argAt, `${fnName} supports numbers and timestamps, got ${typeToString(e.type)}`);
            type = e.type.kind === 'int' ? T.int : e.type.kind === 'null' ? T.bigint : e.type; break;
          default: return errAt(loc, at, `unknown aggregate ${fnName}`);
        }
      }
      let filter = -1;
      if (a.filter?.where) {
        const f = bindExpr(innerCtx, a.filter.where);
        if (f.type.kind !== 'boolean') errAt(loc, astOffset(loc, a.filter.where), 'FILTER (WHERE …) needs a BOOLEAN condition');
        filter = preIndex(f);
      }
      const key = `${fn}|${arg}|${filter}`;
      let i = aggs.findIndex((x) => x.key === key);
      if (i < 0) {
        const alias = selectAliases.get(a);
        const name = alias && !aggs.some((x) => x.call.name === alias) && !keys.some((k) => k.kind === 'column' && k.name === alias) ? alias : `_a${aggs.length}`;
        aggs.push({ key, call: { fn, arg, filter, name, type } });
        i = aggs.length - 1;
      }
      const c = aggs[i]!.call;
      return { kind: 'column', index: aggOut(i), name: c.name, type: c.type };
    };

    // Output of the aggregate: [window_start, window_end]? keys… aggs… (agg count known only later).
    const keyOutName = (k: Expr, i: number) => fieldName(k, `_k${i}`);
    const postScopeCols = (): ScopeColumn[] => [
      ...(window ? [{ name: 'window_start', qualifier: null, index: 0, type: T.timestamp }, { name: 'window_end', qualifier: null, index: 1, type: T.timestamp }] : []),
      ...keys.map((k, i) => ({ name: keyOutName(k, i), qualifier: null, index: nW + i, type: k.type })),
    ];
    // GROUPING(a, …) / GROUPING_ID(a, …): bit (m - 1 - i) set when the i-th argument is not in the row's grouping set.
    const groupingFn = (a: Ast): Expr => {
      const args: Ast[] = a.args?.value ?? [];
      const shown = functionName(a).toUpperCase();
      if (args.length === 0) errAt(loc, astOffset(loc, a), `${shown}() takes GROUP BY columns`);
      const pos = args.map((x) => {
        const e = bindExpr({ loc, scope, noAggregates: `${shown}() takes GROUP BY columns` }, x);
        if (rel.tvf && e.kind === 'column' && e.index >= rel.tvf.virtualStart) return -1;
        const ki = keys.findIndex((k) => exprKey(k) === exprKey(e));
        if (ki < 0) errAt(loc, astOffset(loc, x), `${shown}() takes GROUP BY columns; '${exprText(e)}' is not one`);
        return ki;
      });
      const bigint = (v: number): Expr => ({ kind: 'literal', value: v, type: T.bigint });
      if (!sets) return bigint(0);
      const gid: Expr = { kind: 'column', index: nW + keys.length, name: '_gid', type: T.bigint };
      const whens = sets.map((st) => ({ st, v: pos.reduce((acc, p, i) => acc + (p >= 0 && !st.includes(p) ? 2 ** (pos.length - 1 - i) : 0), 0) }))
        .filter((x) => x.v !== 0)
        .map((x) => ({ when: { kind: 'call', fn: 'eq', args: [gid, bigint(groupingId(x.st, keys.length))], type: T.boolean } as Expr, then: bigint(x.v) }));
      return whens.length ? { kind: 'case', whens, otherwise: bigint(0), type: T.bigint } : bigint(0);
    };
    const postCtx = (): BindContext => ({
      loc, scope: { columns: postScopeCols() },
      intercept: (a: Ast) => {
        if (a?.type === 'function' && (functionName(a) === 'grouping' || functionName(a) === 'grouping_id')) return groupingFn(a);
        if (isAggregateAst(a)) return bindAgg(a);
        if (a?.type === 'column_ref' && a.table != null && (typeof a.table === 'string' ? a.table : a.table.value) === SPARK_WINDOW_ALIAS) {
          if (!window) errAt(loc, astOffset(loc, a), 'window.start and window.end need window(…) in GROUP BY');
          const which = columnName(a).toLowerCase();
          if (which === 'start') return { kind: 'column', index: 0, name: 'window_start', type: T.timestamp };
          if (which === 'end') return { kind: 'column', index: 1, name: 'window_end', type: T.timestamp };
          errAt(loc, partOffset(loc, a, 1), `window has fields 'start' and 'end', not '${columnName(a)}'`);
        }
        if (containsAggregate(a)) return undefined;
        if (a?.type === 'column_ref' && a.table == null && columnName(a).toLowerCase() === SPARK_WINDOW_ALIAS) {
          errAt(loc, astOffset(loc, a), window
            ? `'window' can be selected on its own (it becomes window_start, window_end) but not used in an expression: use window.start or window.end`
            : `'window' is not a column here: use window.start or window.end, with window(…) or session_window(…) in GROUP BY`);
        }
        const e = bindExpr({ loc, scope, noAggregates: '' }, a);
        if (rel.tvf && e.kind === 'column' && e.index >= rel.tvf.virtualStart) {
          if (e.name === 'window_start') return { kind: 'column', index: 0, name: 'window_start', type: T.timestamp };
          if (e.name === 'window_end') return { kind: 'column', index: 1, name: 'window_end', type: T.timestamp };
          return { kind: 'call', fn: 'sub', args: [{ kind: 'column', index: 1, name: 'window_end', type: T.timestamp }, { kind: 'literal', value: 1, type: T.interval }], type: T.timestamp };
        }
        const ki = keys.findIndex((k) => exprKey(k) === exprKey(e));
        if (ki >= 0) return { kind: 'column', index: nW + ki, name: keyOutName(keys[ki]!, ki), type: keys[ki]!.type };
        if (e.kind === 'column' || e.kind === 'field') {
          const shown = e.kind === 'column' ? e.name : exprText(e);
          if (groupItems.length === 0) errAt(loc, astOffset(loc, a), `column '${shown}' is not aggregated and the query has no GROUP BY: add GROUP BY ${shown}, or use it in an aggregate function`);
          errAt(loc, astOffset(loc, a), `column '${shown}' must appear in GROUP BY or be used in an aggregate function`);
        }
        return e.kind === 'literal' ? e : undefined;
      },
    });

    // Spark's bare `window` column is a struct<start, end> there; here it expands to two columns.
    // So is the window call itself, selected as Spark users write it: SELECT window(ts, '1 minute'), …
    // GROUP BY window(ts, '1 minute'); it must be the GROUP BY's window.
    const expandWindow = (e: Ast, alias: string | null): { exprs: Expr[]; names: string[] } | null => {
      const call = e?.type === 'function' ? this.sparkWindow(e, scope) : null;
      if (call) {
        if (!window || JSON.stringify(call.spec) !== JSON.stringify(window.spec) || exprKey(call.time) !== exprKey(window.time)) {
          errAt(loc, astOffset(loc, e), `${functionName(e) === 'session_window' ? 'session_window' : 'window'}(…) in the SELECT list must be the window of the GROUP BY`);
        }
      } else if (!window || e?.type !== 'column_ref' || e.table != null || columnName(e).toLowerCase() !== SPARK_WINDOW_ALIAS) return null;
      const p = alias ?? 'window';
      return {
        exprs: [{ kind: 'column', index: 0, name: 'window_start', type: T.timestamp }, { kind: 'column', index: 1, name: 'window_end', type: T.timestamp }],
        names: [`${p}_start`, `${p}_end`],
      };
    };
    const sel = this.selectItems(ast, rel.scope, (e) => bindExpr(postCtx(), e), expandWindow);
    let having: Expr | null = null;
    if (ast.having) {
      having = bindExpr(postCtx(), ast.having);
      if (having.type.kind !== 'boolean') errAt(loc, astOffset(loc, ast.having), `HAVING needs a BOOLEAN condition, got ${typeToString(having.type)}`);
    }
    // Output expressions; a pull query's ORDER BY may add hidden ones (and aggregates) before the aggregate is built.
    const exprs = [...sel.exprs];
    const names = [...sel.names];
    const order = this.orderKeys(ast, exprs, names, sel.exprs.length, (e) => bindExpr(postCtx(), e));

    const preFields = pre.map((e, i) => ({ name: fieldName(e, `_p${i}`), type: e.type, nullable: true }));
    const preSchema = schemaOf(preFields);
    const project: LogicalPlan = { kind: 'project', input, exprs: pre, schema: preSchema };
    // GROUPING SETS: an expand makes one row per input row and set; the aggregate groups by the keys and the grouping id.
    const aggInput: LogicalPlan = sets
      ? { kind: 'expand', input: project, keys: keyIdx, sets, schema: schemaOf([...preFields, { name: '_gid', type: T.bigint, nullable: false }]) }
      : project;
    const aggFields: Field[] = [
      ...(window ? [{ name: 'window_start', type: T.timestamp, nullable: false }, { name: 'window_end', type: T.timestamp, nullable: false }] : []),
      ...keys.map((k, i) => ({ name: keyOutName(k, i), type: k.type, nullable: true })),
      ...(sets ? [{ name: '_gid', type: T.bigint, nullable: false }] : []),
      ...aggs.map((a) => ({ name: a.call.name, type: a.call.type, nullable: true })),
    ];
    let plan: LogicalPlan = {
      kind: 'aggregate', input: aggInput,
      window: window ? { spec: window.spec, timeColumn: timeIdx } : null,
      groupBy: sets ? [...keyIdx, pre.length] : keyIdx, aggs: aggs.map((a) => a.call), schema: schemaOf(aggFields),
    };
    if (having) plan = { kind: 'filter', input: plan, predicate: having, schema: plan.schema };
    // Upsert key: every aggregate key column must be in the output; add the missing ones as hidden columns.
    const keyColumns = keepKey(Array.from({ length: nW + keys.length + nG }, (_, k) => k), schemaOf(aggFields), exprs, names);
    const outFields = exprs.map((e, i) => ({ name: names[i]!, type: e.type, nullable: true }));
    plan = { kind: 'project', input: plan, exprs, schema: schemaOf(outFields) };
    return { plan, visibleCount: sel.exprs.length, keyColumns, window: window?.spec ?? null, ats: sel.ats, order };
  }

  /**
   * A GROUP BY item that is GROUPING SETS (…) (as the front end renames it), ROLLUP (…) or CUBE (…): its
   * grouping sets as lists of expressions; null for an ordinary item. An element in parentheses is a
   * composite (kept together); `()` (rewritten to '') is the empty set; nested ROLLUP/CUBE/GROUPING SETS
   * inside GROUPING SETS add their sets.
   */
  private groupingConstruct(g: Ast): Ast[][] | null {
    if (g?.type !== 'function') return null;
    const name = functionName(g);
    if (name !== GROUPING_SETS_NAME && name !== 'rollup' && name !== 'cube') return null;
    const args: Ast[] = g.args?.value ?? [];
    const elem = (x: Ast): Ast[] => (x?.type === 'expr_list' ? x.value : [x]);
    if (name === 'rollup') return Array.from({ length: args.length + 1 }, (_, i) => args.slice(0, args.length - i).flatMap(elem));
    if (name === 'cube') {
      if (args.length > 8) errAt(this.loc, astOffset(this.loc, g), `CUBE of ${args.length} elements makes ${2 ** args.length} grouping sets; at most ${MAX_GROUPING_SETS} are taken (limit MAX_GROUPING_SETS)`, 'limit');
      const out: Ast[][] = [];
      for (let m = 0; m < 2 ** args.length; m++) out.push(args.filter((_, i) => (m & (1 << (args.length - 1 - i))) === 0).flatMap(elem));
      return out;
    }
    return args.flatMap((x): Ast[][] => {
      if (x?.type === 'single_quote_string' && String(x.value).trim() === '') return [[]];
      return this.groupingConstruct(x) ?? [elem(x)];
    });
  }

  // ---- ORDER BY / LIMIT (pull queries) ---------------------------------------------------------

  /**
   * A pull query's ORDER BY keys, as positions in its projection (null: no ORDER BY, or not a pull
   * query). An item is a SELECT-list position, an output column name, or, as PostgreSQL allows, any
   * expression over the query's input (a column not selected, an expression, an aggregate of a
   * grouped query): one not already selected is appended to `exprs` as a hidden column, which the
   * sort uses and the result leaves out (only the first `visibleCount` columns are returned).
   */
  private orderKeys(ast: Ast, exprs: Expr[], names: string[], visibleCount: number, bindInput: (e: Ast) => Expr): SortKey[] | null {
    if (this.mode !== 'pull' || !ast.orderby) return null;
    const { loc } = this;
    const visible = names.slice(0, visibleCount);
    return (ast.orderby as Ast[]).map((o) => {
      const e = o.expr;
      let idx = -1;
      if (e.type === 'number') {
        idx = Number(e.value) - 1;
        if (!Number.isInteger(idx) || idx < 0 || idx >= visibleCount) errAt(loc, astOffset(loc, e), `ORDER BY position ${e.value} is not in the SELECT list (1..${visibleCount})`);
      } else {
        // An output column's name first (PostgreSQL's rule), then an expression over the input.
        const n = e.type === 'column_ref' && e.table == null && e.column !== '*' ? columnName(e) : e.type === 'double_quote_string' ? String(e.value) : null;
        if (n !== null) {
          idx = visible.indexOf(n);
          if (idx < 0) idx = visible.findIndex((x) => x.toLowerCase() === n.toLowerCase());
        }
        if (idx < 0) {
          let bound: Expr;
          try { bound = bindInput(e); } catch (err) {
            // A bare name that is neither an output column nor an input one: say so in ORDER BY's words.
            if (n === null || !(err instanceof SqlError) || !/^unknown (table or )?column/.test(err.message)) throw err;
            const hint = didYouMean(n, visible) || (/ \(did you mean [^)]*\)$/.exec(err.message)?.[0] ?? '');
            return errAt(loc, astOffset(loc, e), `ORDER BY '${n}' is not a column of the result or of its input${hint}`);
          }
          if (bound.type.kind === 'struct') errAt(loc, astOffset(loc, e), 'cannot ORDER BY a ROW value; order by its fields');
          const k = exprKey(bound);
          idx = exprs.findIndex((x) => exprKey(x) === k);
          if (idx < 0) {
            exprs.push(bound);
            let nm = `_order${exprs.length - visibleCount}`;
            while (names.includes(nm)) nm = `_${nm}`;
            names.push(nm);
            idx = exprs.length - 1;
          }
        }
      }
      return { index: idx, desc: String(o.type ?? 'ASC').toUpperCase() === 'DESC', nullsFirst: false };
    });
  }

  private bindOrderLimit(ast: Ast, plan: LogicalPlan, keys: SortKey[] | null): LogicalPlan {
    const { loc } = this;
    if (keys?.length) plan = { kind: 'sort', input: plan, keys, schema: plan.schema };
    const lim = ast.limit?.value as Ast[] | undefined;
    if (lim && lim.length) {
      const num = (x: Ast) => {
        if (x.type !== 'number' || !Number.isInteger(Number(x.value)) || Number(x.value) < 0) errAt(loc, this.keywordAt('LIMIT'), 'LIMIT and OFFSET take non-negative integers');
        return Number(x.value);
      };
      let limit: number | null; let offset = 0;
      if (lim.length === 2) {
        if (ast.limit.seperator === ',') { offset = num(lim[0]); limit = num(lim[1]); } else { limit = num(lim[0]); offset = num(lim[1]); }
      } else limit = num(lim[0]);
      plan = { kind: 'limit', input: plan, limit, offset, schema: plan.schema };
    }
    return plan;
  }
}
