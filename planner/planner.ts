/**
 * Plans a request: parses every statement, checks each against the catalog as it will be when that
 * statement runs (earlier statements of the same request included), and returns the planned
 * statements. Nothing takes effect here: when any statement is wrong the whole request is refused.
 */
import type { ObjectKind, QueryText, Statement } from './ast.ts';
import { bindQuery, noteRequestView, withPreparsed, type BoundQuery } from './bind-query.ts';
import { createCatalog, kindLabel, type Catalog, type CatalogObject, type MaterializedViewDef, type SinkDef, type SinkOptions, type SourceColumn, type SourceDef, type ViewDef } from './catalog.ts';
import { SqlError, didYouMean, posMap, type PosMap, type SqlErrorKind } from './errors.ts';
import { chainToGraph, GraphPlanError, printGraph } from './physical-graph.ts';
import type { EmitMode } from './ast.ts';
import { tokenize } from './lexer.ts';
import { printLogical, type LogicalPlan } from './logical.ts';
import { queryOptions, sinkOptions, sourceOptions } from './options.ts';
import { parseRequest } from './parse.ts';
import type { Preparsed } from './sql-parse.ts';
import { isChain, printPhysical, type PhysicalPlan, type PhysicalSink } from './physical.ts';
import { lowerPlan, type LowerOptions } from './lower.ts';
import { planExchanges, printExchangePlan } from './exchange.ts';
import { assertNever, isNumeric, sameType, typeToString, type Expr, type Field } from './types.ts';

export type Planned =
  | { readonly kind: 'create_source'; readonly def: SourceDef; readonly ifNotExists: boolean; readonly exists: boolean }
  | { readonly kind: 'create_view'; readonly def: ViewDef; readonly ifNotExists: boolean; readonly exists: boolean }
  | { readonly kind: 'create_materialized_view'; readonly def: MaterializedViewDef; readonly logical: LogicalPlan; readonly physical: PhysicalPlan; readonly ifNotExists: boolean; readonly exists: boolean }
  | { readonly kind: 'create_sink'; readonly def: SinkDef; readonly logical: LogicalPlan; readonly physical: PhysicalPlan; readonly ifNotExists: boolean; readonly exists: boolean }
  | { readonly kind: 'drop'; readonly object: ObjectKind; readonly name: string; readonly exists: boolean }
  | { readonly kind: 'show'; readonly what: 'sources' | 'views' | 'materialized_views' | 'sinks' | 'queries' }
  | { readonly kind: 'describe'; readonly object: CatalogObject }
  | { readonly kind: 'explain'; readonly logical: string; readonly physical: string; readonly graph: string }
  | { readonly kind: 'pull'; readonly logical: LogicalPlan; readonly physical: PhysicalPlan; readonly visibleCount: number }
  | { readonly kind: 'push'; readonly logical: LogicalPlan; readonly physical: PhysicalPlan; readonly visibleCount: number; readonly keyColumns: readonly number[] | null };

export interface PlannedStatement {
  readonly planned: Planned;
  /** The statement's own text, as stored in the catalog. */
  readonly sql: string;
}

function fail(pm: PosMap, at: number, msg: string, kind: SqlErrorKind = 'plan'): never {
  const p = pm.pos(at);
  throw new SqlError(msg, p.line, p.column, kind);
}

/** How the plans will run: `cluster` (issue 17) makes EXPLAIN show the exchanges of planner/exchange.ts. */
export interface PlanOptions {
  readonly cluster?: { readonly id: string; readonly topicPartitions?: Readonly<Record<string, number>> };
}

/** Plans every statement of `sql` against `catalog` without changing it. Throws SqlError on the first error. */
export function planRequest(sql: string, catalog: Catalog, preparsed?: Preparsed, options: PlanOptions = {}): PlannedStatement[] {
  return withPreparsed(preparsed, () => planAll(sql, catalog, options));
}

function planAll(sql: string, catalog: Catalog, options: PlanOptions): PlannedStatement[] {
  const req = parseRequest(sql);
  const work = createCatalog(catalog.all());
  const out: PlannedStatement[] = [];
  for (const st of req.statements) {
    const text = sql.slice(st.start, st.end);
    const planned = planStatement(st, text, work, req.pm, options);
    // Later statements of the request see the effect of earlier ones.
    switch (planned.kind) {
      case 'create_source': case 'create_materialized_view': case 'create_sink':
        if (!planned.exists) work.put(planned.def);
        break;
      case 'create_view':
        if (!planned.exists) { work.put(planned.def); if (st.kind === 'create_view') noteRequestView(work, planned.def.name, st.query); }
        break;
      case 'drop': if (planned.exists) work.remove(planned.name); break;
      default: break;
    }
    out.push({ planned, sql: text });
  }
  return out;
}

function checkNewName(work: Catalog, pm: PosMap, name: { value: string; start: number }, ifNotExists: boolean): boolean {
  const existing = work.get(name.value);
  if (existing && !ifNotExists) fail(pm, name.start, `${kindLabel(existing)} '${existing.name}' already exists`);
  return existing !== undefined;
}

export function planStatement(st: Statement, text: string, work: Catalog, pm: PosMap, options: PlanOptions = {}): Planned {
  switch (st.kind) {
    case 'create_source': {
      const exists = checkNewName(work, pm, st.name, st.ifNotExists);
      return { kind: 'create_source', def: sourceDef(st, text, pm), ifNotExists: st.ifNotExists, exists };
    }
    case 'create_view': {
      const exists = checkNewName(work, pm, st.name, st.ifNotExists);
      // A view is usually a continuous query's building block; one over a materialized view (or with
      // ORDER BY/LIMIT) can only serve pull queries, and is accepted as such.
      let b: BoundQuery;
      try { b = bindQuery(st.query, work, pm, 'continuous'); } catch (e) {
        try { b = bindQuery(st.query, work, pm, 'pull'); } catch { throw e; }
      }
      const def: ViewDef = { kind: 'view', name: st.name.value, sql: text, query: st.query.original, schema: { fields: b.plan.schema.fields.slice(0, b.visibleCount) } };
      return { kind: 'create_view', def, ifNotExists: st.ifNotExists, exists };
    }
    case 'create_materialized_view': {
      const exists = checkNewName(work, pm, st.name, st.ifNotExists);
      const options = queryOptions(st.options, pm);
      const b = bindQuery(st.query, work, pm, 'continuous');
      const sink: PhysicalSink = { kind: 'query_table', view: st.name.value, keyColumns: b.keyColumns, emit: b.emit, retentionRows: options.retentionRows };
      const physical = checkedPhysical(b.plan, sink, b.emit, pm, st.query.start, { stateTtlMs: options.stateTtlMs });
      const def: MaterializedViewDef = {
        kind: 'materialized_view', name: st.name.value, sql: text, schema: b.plan.schema, visibleCount: b.visibleCount,
        keyColumns: b.keyColumns, emit: b.emit, options, dependsOn: b.dependsOn,
      };
      return { kind: 'create_materialized_view', def, logical: b.plan, physical, ifNotExists: st.ifNotExists, exists };
    }
    case 'create_sink': {
      const exists = checkNewName(work, pm, st.name, st.ifNotExists);
      const { sink, query: options } = sinkOptions(st.options, pm, st.start);
      let b: BoundQuery;
      if (st.from) {
        const from = work.get(st.from.value);
        if (!from) fail(pm, st.from.start, `unknown source or view '${st.from.value}'${didYouMean(st.from.value, work.all().map((o) => o.name))}`);
        b = bindStored(from, work, pm, st.from.start);
        // The sink reads `from`: it must not be dropped under the sink.
        b = { ...b, dependsOn: [from.name, ...b.dependsOn.filter((d) => d.toLowerCase() !== from.name.toLowerCase())] };
      } else b = bindQuery(st.query!, work, pm, 'continuous');
      checkSinkKeys(sink, b, pm, st.start);
      return sinkPlan(st.name.value, text, sink, options, b, work, st.ifNotExists, exists, pm, st.start);
    }
    case 'insert_into': {
      const target = work.get(st.target.value);
      if (!target) fail(pm, st.target.start, `unknown table '${st.target.value}'${didYouMean(st.target.value, work.all().map((o) => o.name))}`);
      if (target.kind !== 'source') fail(pm, st.target.start, `INSERT INTO needs a Kafka table created with CREATE TABLE … WITH (connector = 'kafka', …); '${target.name}' is a ${kindLabel(target)}`);
      const b = insertColumns(bindQuery(st.query, work, pm, 'continuous'), target, pm, st.query);
      const name = uniqueName(work, `insert_into_${target.name}`);
      if (target.options.topics.length !== 1) fail(pm, st.target.start, `INSERT INTO needs a table with exactly one topic`);
      const t = target.options;
      const sink: SinkOptions = {
        connector: 'kafka', topic: t.topics[0]!, bootstrapServers: t.bootstrapServers, format: 'json', deliveryGuarantee: 'exactly-once',
        // The table's client settings, key and changelog kind carry over to what INSERT INTO writes.
        ...(t.properties ? { properties: t.properties } : {}), ...(t.keyFormat ? { keyFormat: t.keyFormat, keyFields: t.keyFields } : {}),
        ...(t.valueFieldsInclude ? { valueFieldsInclude: t.valueFieldsInclude } : {}), ...(t.changelog === 'upsert' ? { upsert: true } : {}),
      };
      checkSinkKeys(sink, b, pm, st.start);
      return sinkPlan(name, text, sink, queryOptions([], pm), b, work, false, false, pm, st.start);
    }
    case 'drop': {
      const o = work.get(st.name.value);
      if (!o) {
        if (st.ifExists) return { kind: 'drop', object: st.object, name: st.name.value, exists: false };
        fail(pm, st.name.start, `unknown ${st.object.replace('_', ' ')} '${st.name.value}'${didYouMean(st.name.value, work.all().map((x) => x.name))}`);
      }
      if (o.kind !== st.object) fail(pm, st.name.start, `'${o.name}' is a ${kindLabel(o)}, not a ${st.object.replace('_', ' ')}: use DROP ${kindLabel(o).toUpperCase()}`);
      const dependents = work.all().filter((x) => (x.kind === 'materialized_view' || x.kind === 'sink') && x.dependsOn.some((d) => d.toLowerCase() === o.name.toLowerCase()))
        .concat(work.all().filter((x) => x.kind === 'view' && mentions(x.query, o.name)));
      if (dependents.length) fail(pm, st.name.start, `cannot drop ${kindLabel(o)} '${o.name}': ${dependents.map((d) => `${kindLabel(d)} '${d.name}'`).join(', ')} depend${dependents.length === 1 ? 's' : ''} on it; drop ${dependents.length === 1 ? 'it' : 'them'} first`);
      return { kind: 'drop', object: st.object, name: o.name, exists: true };
    }
    case 'show': return { kind: 'show', what: st.what };
    case 'describe': {
      const o = work.get(st.name.value);
      if (!o) fail(pm, st.name.start, `unknown source or view '${st.name.value}'${didYouMean(st.name.value, work.all().map((x) => x.name))}`);
      return { kind: 'describe', object: o };
    }
    case 'explain': {
      const inner = planStatement(st.statement, text, work, pm, options);
      switch (inner.kind) {
        case 'create_materialized_view': case 'create_sink': case 'pull': case 'push':
          return { kind: 'explain', logical: printLogical(inner.logical), physical: isChain(inner.physical) ? printPhysical(inner.physical) : printGraph(inner.physical.graph), graph: explainGraph(inner, options) };
        default:
          return fail(pm, st.statement.start, 'EXPLAIN shows the plan of a SELECT, CREATE MATERIALIZED VIEW, CREATE SINK or INSERT INTO');
      }
    }
    case 'select': {
      if (st.query.emit === 'changes') {
        const b = bindQuery(st.query, work, pm, 'push');
        const physical = checkedPhysical(b.plan, { kind: 'collect' }, b.emit, pm, st.query.start);
        // Sources only (one, a UNION ALL of several, joins of them): a view's changes are followed at GET /v1/views/:name/changes.
        if (physical.sources.some((s) => s.kind !== 'kafka_source')) fail(pm, st.query.start, 'a push query (EMIT CHANGES) reads sources; to follow a materialized view\'s changes use GET /v1/views/:name/changes, or create a materialized view over it', 'unsupported');
        return { kind: 'push', logical: b.plan, physical, visibleCount: b.visibleCount, keyColumns: b.keyColumns };
      }
      if (st.query.emit === 'window_close') fail(pm, st.query.emitStart, 'EMIT ON WINDOW CLOSE belongs to CREATE MATERIALIZED VIEW or CREATE SINK; a pull query reads the current state');
      // A pull query runs any graph over materialized views (queries/handlers/pull-select.ts): its
      // inputs are bounded, so outer and anti joins are lowered as batch joins (planner/lower.ts).
      const b = bindQuery(st.query, work, pm, 'pull');
      const past = st.query.asOf?.find((c) => c.column !== null);
      if (past) fail(pm, past.start, 'FOR SYSTEM_TIME AS OF <time column> reads a table\'s versions over time, and a pull query reads each view once, as it is now: use FOR SYSTEM_TIME AS OF PROCTIME(), or a plain join', 'unsupported');
      const physical = checkedPhysical(b.plan, { kind: 'collect' }, 'changes', pm, st.query.start, { bounded: true });
      return { kind: 'pull', logical: b.plan, physical, visibleCount: b.visibleCount };
    }
    default: return assertNever(st, 'statement');
  }
}

/**
 * Whether a view's query names `name`: compared token by token, so any legal name (quotes, `$`,
 * parentheses) is matched exactly and never read as a pattern. A query that no longer tokenizes counts
 * as a reference: when unsure, a drop is refused rather than leaving a view broken.
 */
function mentions(query: string, name: string): boolean {
  let tokens;
  try { tokens = tokenize(query, posMap(query)); } catch { return true; }
  const lower = name.toLowerCase();
  return tokens.some((t) => (t.kind === 'ident' || t.kind === 'qident') && t.value.toLowerCase() === lower);
}

/**
 * Lowers a bound query and checks that its dataflow graph can run exactly: each operator must be able
 * to consume what its input emits (planner/physical-graph.ts). A combination that cannot be computed
 * exactly is refused here, at the query, never run wrongly.
 */
function checkedPhysical(plan: LogicalPlan, sink: PhysicalSink, emit: EmitMode, pm: PosMap, at: number, opts: LowerOptions = {}): PhysicalPlan {
  try { return lowerPlan(plan, sink, emit, opts); } catch (e) {
    if (!(e instanceof GraphPlanError)) throw e;
    const what = opts.bounded ? 'this pull query' : 'this query';
    return fail(pm, at, `${what} cannot be computed exactly: ${e.message}`, 'unsupported');
  }
}

function uniqueName(work: Catalog, base: string): string {
  let n = base; let i = 1;
  while (work.get(n)) n = `${base}_${++i}`;
  return n;
}

/** Re-binds a stored source or materialized view for `CREATE SINK … FROM name`. */
function bindStored(o: CatalogObject, work: Catalog, pm: PosMap, at: number): BoundQuery {
  switch (o.kind) {
    case 'source': {
      const req = parseRequest(`SELECT * FROM "${o.name}"`);
      const st = req.statements[0]!;
      return bindQuery((st as { query: QueryText }).query, work, req.pm, 'continuous');
    }
    case 'materialized_view': case 'view': {
      const req = parseRequest(o.sql);
      const st = req.statements[0]!;
      return bindQuery((st as { query: QueryText }).query, work, req.pm, 'continuous');
    }
    case 'sink': return fail(pm, at, `'${o.name}' is a sink and cannot be read from`);
  }
}

/** 'key.fields' of a sink name output columns; upsert-kafka needs a query with a key to upsert by. */
function checkSinkKeys(sink: SinkOptions, b: BoundQuery, pm: PosMap, at: number): void {
  const names = b.plan.schema.fields.slice(0, b.visibleCount).map((f) => f.name);
  for (const k of sink.keyFields ?? []) {
    if (!names.some((n) => n.toLowerCase() === k.toLowerCase())) fail(pm, at, `'key.fields' names '${k}', which the query does not output${didYouMean(k, names)}`);
  }
  if (sink.upsert && !b.keyColumns) fail(pm, at, `connector 'upsert-kafka' writes an updating query by its key: GROUP BY, or select a changelog's primary key; this query only appends (use connector 'kafka')`);
}

function sinkPlan(name: string, text: string, sink: SinkDef['sink'], options: SinkDef['options'], b: BoundQuery, work: Catalog, ifNotExists: boolean, exists: boolean, pm: PosMap, at: number): Planned {
  void work;
  const psink: PhysicalSink = { kind: 'kafka_sink', name, sink, keyColumns: b.keyColumns, emit: b.emit };
  const physical = checkedPhysical(b.plan, psink, b.emit, pm, at, { stateTtlMs: options.stateTtlMs });
  const def: SinkDef = { kind: 'sink', name, sql: text, schema: b.plan.schema, keyColumns: b.keyColumns, emit: b.emit, sink, options, dependsOn: b.dependsOn };
  return { kind: 'create_sink', def, logical: b.plan, physical, ifNotExists, exists };
}

/**
 * INSERT INTO writes by position, as in Flink and Postgres: the query's columns take the table's names
 * (the JSON keys of the records) and are widened to its numeric types; anything else is refused at the
 * SELECT item that does not fit.
 */
function insertColumns(b: BoundQuery, target: SourceDef, pm: PosMap, q: QueryText): BoundQuery {
  const cols = target.columns.filter((c) => c.metadata === null);
  const out = b.plan.schema.fields.slice(0, b.visibleCount);
  if (out.length !== cols.length) fail(pm, q.start, `INSERT INTO ${target.name} needs ${cols.length} columns (${cols.map((c) => c.name).join(', ')}), the query gives ${out.length}`);
  const all = b.plan.schema.fields;
  const exprs: Expr[] = all.map((f, i) => {
    const col: Expr = { kind: 'column', index: i, name: f.name, type: f.type };
    const want = cols[i];
    if (!want || sameType(want.type, f.type) || f.type.kind === 'null') return col;
    const widen = isNumeric(f.type) && isNumeric(want.type);
    if (!widen) fail(pm, b.columnAts[i] ?? q.start, `INSERT INTO ${target.name}: column ${i + 1} (${want.name} ${typeToString(want.type)}) cannot take ${typeToString(f.type)}`);
    return { kind: 'cast', input: col, type: want.type };
  });
  const fields: Field[] = all.map((f, i) => (i < cols.length ? { name: cols[i]!.name, type: cols[i]!.type, nullable: true } : f));
  const unchanged = exprs.every((e, i) => e.kind === 'column' && fields[i]!.name === all[i]!.name);
  if (unchanged) return b;
  // Fold the renaming into the query's own final projection rather than stacking a second one.
  const p = b.plan;
  if (p.kind === 'project') {
    const folded = exprs.map((e, i): Expr => (e.kind === 'cast' ? { kind: 'cast', input: p.exprs[i]!, type: e.type } : p.exprs[i]!));
    return { ...b, plan: { kind: 'project', input: p.input, exprs: folded, schema: { fields } } };
  }
  return { ...b, plan: { kind: 'project', input: p, exprs, schema: { fields } } };
}

/** PRIMARY KEY and 'key.fields' name declared (non-metadata) columns. */
function checkKeyColumns(st: Extract<Statement, { kind: 'create_source' }>, options: SourceDef['options'], columns: readonly SourceColumn[], pm: PosMap): void {
  const data = columns.filter((c) => c.metadata === null).map((c) => c.name);
  const has = (n: string) => data.some((d) => d.toLowerCase() === n.toLowerCase());
  for (const k of st.primaryKey ?? []) if (!has(k.value)) fail(pm, k.start, `unknown column '${k.value}' in PRIMARY KEY${didYouMean(k.value, data)}`);
  for (const k of options.keyFields ?? []) if (!has(k)) fail(pm, st.name.start, `'key.fields' names '${k}', which is not a column of '${st.name.value}'${didYouMean(k, data)}`);
}

function sourceDef(st: Extract<Statement, { kind: 'create_source' }>, text: string, pm: PosMap): SourceDef {
  const options = sourceOptions(st.options, pm, st.start, (st.primaryKey ?? []).map((k) => k.value));
  const seen = new Set<string>();
  const columns: SourceColumn[] = [];
  for (const c of st.columns) {
    const k = c.name.value.toLowerCase();
    if (seen.has(k)) fail(pm, c.name.start, `duplicate column '${c.name.value}'`);
    seen.add(k);
    if (c.metadata) {
      const want = { timestamp: 'TIMESTAMP(3)', partition: 'INT', offset: 'BIGINT', key: 'VARCHAR', headers: 'VARCHAR', topic: 'VARCHAR' }[c.metadata];
      const okTypes = c.metadata === 'partition' ? ['INT', 'BIGINT'] : [want];
      if (!okTypes.includes(typeToString(c.type))) fail(pm, c.typeStart, `metadata '${c.metadata}' is ${want}, not ${typeToString(c.type)}`);
    }
    columns.push({ name: c.name.value, type: c.type, metadata: c.metadata });
  }
  if (columns.length === 0 && options.format !== 'raw') fail(pm, st.name.start, `source '${st.name.value}' needs a column list: (name TYPE, …)`);
  if (options.format === 'raw') {
    const data = columns.filter((c) => c.metadata === null);
    if (data.length !== 1 || data[0]!.type.kind !== 'varchar') fail(pm, st.name.start, `format 'raw' needs exactly one VARCHAR column for the message value`);
  }
  checkKeyColumns(st, options, columns, pm);
  const fields: Field[] = columns.map((c) => ({ name: c.name, type: c.type, nullable: true }));
  let watermark: SourceDef['watermark'] = null;
  if (st.watermark) {
    const w = st.watermark;
    const idx = columns.findIndex((c) => c.name === w.column.value) >= 0 ? columns.findIndex((c) => c.name === w.column.value) : columns.findIndex((c) => c.name.toLowerCase() === w.column.value.toLowerCase());
    if (idx < 0) fail(pm, w.column.start, `unknown column '${w.column.value}' in WATERMARK${didYouMean(w.column.value, columns.map((c) => c.name))}`);
    if (columns[idx]!.type.kind !== 'timestamp') fail(pm, w.column.start, `WATERMARK FOR needs a TIMESTAMP column, but '${columns[idx]!.name}' is ${typeToString(columns[idx]!.type)}`);
    watermark = { column: columns[idx]!.name, index: idx, delayMs: w.delayMs };
  }
  return { kind: 'source', name: st.name.value, columns, schema: { fields }, watermark, options, sql: text };
}

/**
 * The dataflow graph EXPLAIN prints: with a cluster id, a continuous query's graph with the exchanges
 * its tasks need (planner/exchange.ts); a pull query runs in one place and has none.
 */
function explainGraph(inner: Extract<Planned, { kind: 'create_materialized_view' | 'create_sink' | 'pull' | 'push' }>, options: PlanOptions): string {
  const c = options.cluster;
  if (!c || inner.kind === 'pull') return printGraph(inner.physical.graph);
  const query = inner.kind === 'push' ? 'push' : inner.def.name;
  // A keyed view read by the query is read from its changes topic (partitions not known here).
  const views = Object.fromEntries(inner.physical.sources.flatMap((s) => (s.kind === 'view_source' && s.key?.length ? [[s.view.toLowerCase(), null]] : [])));
  return printExchangePlan(planExchanges(inner.physical.graph, { clusterId: c.id, query, topicPartitions: c.topicPartitions, views }));
}
