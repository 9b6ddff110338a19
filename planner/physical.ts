/**
 * The physical plan: the operator pipeline the executor runs, from a source through operators to a
 * sink. Window aggregates are chosen per window family here (one operator a file in executor/).
 */
import { aggToString, exprToString, groupingSetsText, type LogicalPlan, type SortKey } from './logical.ts';
import type { PhysicalGraph } from './physical-graph.ts';
import type { EmitMode } from './ast.ts';
import type { SinkOptions, SourceDef } from './catalog.ts';
import { assertNever, formatDuration, typeToString, windowToString, type AggCall, type Expr, type Schema, type WindowSpec } from './types.ts';

/** SQL join types; `semi` / `anti` come from `IN` / `EXISTS` (and NOT …): left columns only. */
export type JoinType = 'inner' | 'left' | 'right' | 'full' | 'semi' | 'anti';

/**
 * How a join bounds its state in time (the join kinds of Flink and RisingWave):
 * - `regular`: no time bound; rows stay until retracted, or until `ttlMs` (processing time since a
 *   row was inserted or updated; matching does not refresh it, as Flink's state TTL) evicts them; state size is visible in the operator metrics.
 * - `interval`: rows match when `lowerMs <= l[leftTime] - r[rightTime] <= upperMs`; the watermark frees
 *   rows no future row can match, and emits outer rows that never matched.
 * - `window`: both inputs carry window_start/window_end of the same windowing (their pairs are among the
 *   equality keys); a window's rows join when the watermark passes its end (`leftEnd`/`rightEnd`), then
 *   its state is freed. Outer, semi and anti rows are decided then too.
 * - `temporal`: `FOR SYSTEM_TIME AS OF`: the right input is a keyed changelog (its key = `rightKeys`);
 *   each left row joins the right version valid at `l[leftTime]` (right versions ordered by
 *   `r[rightTime]`), emitted when the watermark passes the left row's time; with `leftTime` null, the
 *   version current when the left row arrives (processing-time lookup), emitted at once.
 */
export type JoinBound =
  | { readonly kind: 'regular'; readonly ttlMs: number | null }
  | { readonly kind: 'interval'; readonly leftTime: number; readonly rightTime: number; readonly lowerMs: number; readonly upperMs: number }
  | { readonly kind: 'window'; readonly leftEnd: number; readonly rightEnd: number }
  | { readonly kind: 'temporal'; readonly leftTime: number | null; readonly rightTime: number | null };

export type PhysicalOp =
  | { readonly kind: 'filter'; readonly predicate: Expr; readonly schema: Schema }
  | { readonly kind: 'project'; readonly exprs: readonly Expr[]; readonly inputSchema: Schema; readonly schema: Schema }
  | { readonly kind: 'window_assign'; readonly spec: WindowSpec; readonly timeColumn: number; readonly inputSchema: Schema; readonly schema: Schema }
  | {
      readonly kind: 'window_aggregate';
      /** tumble, hop, cumulate or session: each has its own operator file. */
      readonly spec: WindowSpec;
      readonly timeColumn: number;
      readonly groupBy: readonly number[];
      readonly aggs: readonly AggCall[];
      readonly emit: EmitMode;
      readonly inputSchema: Schema;
      readonly schema: Schema;
    }
  | {
      readonly kind: 'updating_aggregate'; readonly groupBy: readonly number[]; readonly aggs: readonly AggCall[]; readonly inputSchema: Schema; readonly schema: Schema;
      /**
       * The input's upsert key when it reads a changelog source (upsert-kafka, debezium-json) through
       * filters and projections: the aggregate retracts by it. (A graph also derives it from its input's
       * stream; a chain's source declares none, so the key travels here.)
       */
      readonly retractKey?: readonly number[];
    }
  | { readonly kind: 'sort'; readonly keys: readonly SortKey[]; readonly schema: Schema }
  | { readonly kind: 'limit'; readonly limit: number | null; readonly offset: number; readonly schema: Schema }
  /** UNION ALL of n inputs with the same columns (graph plans only). */
  | { readonly kind: 'union'; readonly inputs: number; readonly schema: Schema }
  /**
   * A two-input join: input 0 is the left side, input 1 the right. Rows match when every
   * `leftKeys[i]` equals `rightKeys[i]` (NULL never matches) and `residual` (over the left columns
   * followed by the right columns; null = true) holds. Output: the left columns then the right ones
   * (semi/anti: the left ones only); the side an outer join pads is NULL.
   */
  | {
      readonly kind: 'join';
      readonly joinType: JoinType;
      readonly leftKeys: readonly number[];
      readonly rightKeys: readonly number[];
      readonly residual: Expr | null;
      readonly bound: JoinBound;
      readonly leftSchema: Schema;
      readonly rightSchema: Schema;
      readonly schema: Schema;
    }
  /**
   * Deduplication, `ROW_NUMBER() OVER (PARTITION BY keys ORDER BY time [DESC]) = 1`: `first` keeps the
   * earliest row per key by event time (append-only, final once the watermark passes it), `last` the
   * latest (a changelog keyed by `keys`).
   */
  | { readonly kind: 'dedup'; readonly keys: readonly number[]; readonly timeColumn: number; readonly keep: 'first' | 'last'; readonly schema: Schema }
  /**
   * Top-N, `ROW_NUMBER() | RANK() OVER (PARTITION BY … ORDER BY …) <= limit`. With `window` (the
   * window_start / window_end columns, which must be among `partitionBy`) the ranking is final per
   * window when the watermark passes its end; without, it is a changelog updated at every barrier.
   * `rankColumn`: the rank is appended as the last output column.
   */
  | {
      readonly kind: 'top_n';
      readonly partitionBy: readonly number[];
      readonly orderBy: readonly SortKey[];
      readonly limit: number;
      readonly rankFn: 'row_number' | 'rank';
      readonly rankColumn: boolean;
      readonly window: { readonly start: number; readonly end: number } | null;
      readonly inputSchema: Schema;
      readonly schema: Schema;
    }
  /**
   * GROUPING SETS / ROLLUP / CUBE (see logical.ts `ExpandNode`): one output row per input row and
   * grouping set, `keys` outside the set NULL, the grouping id appended; ops (a changelog's) copied.
   */
  | { readonly kind: 'expand'; readonly keys: readonly number[]; readonly sets: readonly (readonly number[])[]; readonly inputSchema: Schema; readonly schema: Schema };

export type PhysicalSource =
  | { readonly kind: 'kafka_source'; readonly source: SourceDef; readonly schema: Schema }
  /** With `key`: the view's committed changes, a changelog keyed by `key` (a continuous query's input). */
  | { readonly kind: 'view_source'; readonly view: string; readonly schema: Schema; readonly key?: readonly number[] };

export type PhysicalSink =
  | { readonly kind: 'query_table'; readonly view: string; readonly keyColumns: readonly number[] | null; readonly emit: EmitMode; readonly retentionRows: number | null }
  | { readonly kind: 'kafka_sink'; readonly name: string; readonly sink: SinkOptions; readonly keyColumns: readonly number[] | null; readonly emit: EmitMode }
  | { readonly kind: 'collect' };

/** A plan that is one chain: a source, single-input operators, a sink. */
export interface PhysicalChain {
  readonly source: PhysicalSource;
  readonly ops: readonly PhysicalOp[];
  readonly sink: PhysicalSink;
  readonly schema: Schema;
}

/**
 * What the planner hands to the runtime: the dataflow graph (planner/lower.ts), which is what runs.
 * `sources` are the graph's inputs in input order. A plan with one input keeps its chain form in
 * `source` + `ops` (pull and push queries and the tools run chains); with several, `ops` is empty
 * and `source` is the first input: only the graph describes it.
 */
export interface PhysicalPlan extends PhysicalChain {
  readonly graph: PhysicalGraph;
  readonly sources: readonly PhysicalSource[];
}

/** True when the plan is one chain (a single input, single-input operators). */
export function isChain(p: PhysicalPlan): boolean {
  // planner/lower.ts fills `ops` only for plans it lowered as a chain.
  return p.sources.length === 1 && p.graph.nodes.filter((n) => n.role === 'op').length === p.ops.length
    && !(p.source.kind === 'view_source' && p.source.key);
}

export type PhysicalKind = PhysicalOp['kind'];

/**
 * The physical operator for a single-input logical node. `emit` is the emit mode window aggregates
 * take here (final per window below a window Top-N or a window join).
 */
export function unaryOp(p: LogicalPlan, emit: EmitMode): PhysicalOp | null {
  switch (p.kind) {
    case 'filter': return { kind: 'filter', predicate: p.predicate, schema: p.schema };
    case 'project': {
      // A projection that passes every input column through unchanged is dropped.
      const identity = p.exprs.length === p.input.schema.fields.length && p.exprs.every((e, i) => e.kind === 'column' && e.index === i)
        && p.schema.fields.every((f, i) => f.name === p.input.schema.fields[i]!.name);
      return identity ? null : { kind: 'project', exprs: p.exprs, inputSchema: p.input.schema, schema: p.schema };
    }
    case 'window_assign': return { kind: 'window_assign', spec: p.spec, timeColumn: p.timeColumn, inputSchema: p.input.schema, schema: p.schema };
    case 'aggregate':
      return p.window
        ? { kind: 'window_aggregate', spec: p.window.spec, timeColumn: p.window.timeColumn, groupBy: p.groupBy, aggs: p.aggs, emit, inputSchema: p.input.schema, schema: p.schema }
        : { kind: 'updating_aggregate', groupBy: p.groupBy, aggs: p.aggs, inputSchema: p.input.schema, schema: p.schema, ...retractKeyOf(p.input) };
    case 'sort': return { kind: 'sort', keys: p.keys, schema: p.schema };
    case 'limit': return { kind: 'limit', limit: p.limit, offset: p.offset, schema: p.schema };
    case 'dedup': return { kind: 'dedup', keys: p.keys, timeColumn: p.timeColumn, keep: p.keep, schema: p.schema };
    case 'expand': return { kind: 'expand', keys: p.keys, sets: p.sets, inputSchema: p.input.schema, schema: p.schema };
    case 'top_n':
      return {
        kind: 'top_n', partitionBy: p.partitionBy, orderBy: p.orderBy, limit: p.limit, rankFn: p.fn, rankColumn: true,
        window: p.window, inputSchema: p.input.schema, schema: p.schema,
      };
    case 'rank': throw new Error('a rank without its filter reached the physical plan (the binder refuses it)');
    case 'source_scan': case 'view_scan': case 'union': case 'join': throw new Error(`${p.kind} is not a single-input node`);
    default: return assertNever(p, 'plan node');
  }
}

/** The emit mode of the nodes below `p`: window aggregates under a window Top-N emit each window once, final. */
/** The upsert key of a changelog source under filters and projections (columns passed through), as `retractKey`. */
function retractKeyOf(p: LogicalPlan): { retractKey?: number[] } {
  const key = (q: LogicalPlan): number[] | null => {
    switch (q.kind) {
      case 'source_scan': {
        if (!q.def.options.changelog) return null;
        const k = (q.def.options.primaryKey ?? []).map((n) => q.schema.fields.findIndex((f) => f.name.toLowerCase() === n.toLowerCase()));
        return k.length && k.every((i) => i >= 0) ? k : null;
      }
      case 'filter': return key(q.input);
      case 'project': {
        const inner = key(q.input);
        if (!inner) return null;
        const out = inner.map((k) => q.exprs.findIndex((e) => e.kind === 'column' && e.index === k));
        return out.every((i) => i >= 0) ? out : null;
      }
      default: return null;
    }
  };
  const k = key(p);
  return k ? { retractKey: k } : {};
}

export function emitBelow(p: LogicalPlan, emit: EmitMode): EmitMode {
  return p.kind === 'top_n' && p.window ? 'window_close' : emit;
}

/** Lowers a single-input logical plan into a linear operator pipeline (planner/lower.ts picks this or a graph). */
export function toPhysical(plan: LogicalPlan, sink: PhysicalSink, queryEmit: EmitMode): PhysicalChain {
  const ops: PhysicalOp[] = [];
  const walk = (p: LogicalPlan, emit: EmitMode): PhysicalSource => {
    switch (p.kind) {
      case 'source_scan': return { kind: 'kafka_source', source: p.def, schema: p.schema };
      case 'view_scan': return { kind: 'view_source', view: p.view, schema: p.schema };
      case 'union': case 'join': throw new Error(`${p.kind} needs a graph plan (planner/lower.ts)`);
      default: {
        const s = walk(p.input, emitBelow(p, emit));
        const op = unaryOp(p, emit);
        if (op) ops.push(op);
        return s;
      }
    }
  };
  const source = walk(plan, queryEmit);
  return { source, ops, sink, schema: plan.schema };
}

function exprColumns(e: Expr, into: boolean[]): void {
  switch (e.kind) {
    case 'column': into[e.index] = true; return;
    case 'literal': return;
    case 'call': for (const a of e.args) exprColumns(a, into); return;
    case 'field': case 'cast': exprColumns(e.input, into); return;
    case 'case': for (const w of e.whens) { exprColumns(w.when, into); exprColumns(w.then, into); } if (e.otherwise) exprColumns(e.otherwise, into); return;
    default: assertNever(e, 'expression');
  }
}

/**
 * The source columns a pipeline reads, so decoders can skip the others (they arrive as NULL): the
 * columns referenced by filters up to the first projection and by that projection, plus the
 * watermark column. Null when every column may be read (no projection, or another operator first).
 */
export function sourceColumnsUsed(plan: PhysicalChain): boolean[] | null {
  if (plan.source.kind !== 'kafka_source') return null;
  const used: boolean[] = plan.source.schema.fields.map(() => false);
  for (const op of plan.ops) {
    if (op.kind === 'filter') { exprColumns(op.predicate, used); continue; }
    if (op.kind === 'project') {
      for (const e of op.exprs) exprColumns(e, used);
      const wm = plan.source.source.watermark;
      if (wm) used[wm.index] = true;
      return used;
    }
    return null;
  }
  return null;
}

const AGG_OP_NAME: Record<WindowSpec['kind'], string> = {
  tumble: 'TumbleAggregate', hop: 'HopAggregate', cumulate: 'CumulateAggregate', session: 'SessionAggregate',
};

function windowArgs(w: WindowSpec): string {
  return windowToString(w).replace(/^\w+\((.*)\)$/, '$1');
}

export function opLine(op: PhysicalOp): string {
  switch (op.kind) {
    case 'filter': return `Filter: ${exprToString(op.predicate, op.schema)}`;
    case 'project': return `Project: ${op.exprs.map((e, i) => { const s = exprToString(e, op.inputSchema); const n = op.schema.fields[i]!.name; return s === n ? s : `${s} AS ${n}`; }).join(', ')}`;
    case 'window_assign': return `WindowAssign: ${windowToString(op.spec)} time=${op.inputSchema.fields[op.timeColumn]!.name}`;
    case 'window_aggregate':
      return `${AGG_OP_NAME[op.spec.kind]}: ${windowArgs(op.spec)}, time=${op.inputSchema.fields[op.timeColumn]!.name}, groupBy=[${op.groupBy.map((i) => op.inputSchema.fields[i]!.name).join(', ')}], aggs=[${op.aggs.map((a) => aggToString(a, op.inputSchema)).join(', ')}], emit=${op.emit === 'changes' ? 'changes' : 'on-window-close'}`;
    case 'updating_aggregate':
      return `UpdatingAggregate: groupBy=[${op.groupBy.map((i) => op.inputSchema.fields[i]!.name).join(', ')}], aggs=[${op.aggs.map((a) => aggToString(a, op.inputSchema)).join(', ')}]${op.retractKey ? `, retract by=[${op.retractKey.map((i) => op.inputSchema.fields[i]!.name).join(', ')}]` : ''}`;
    case 'sort': return `Sort: ${op.keys.map((k) => `${op.schema.fields[k.index]!.name} ${k.desc ? 'DESC' : 'ASC'}`).join(', ')}`;
    case 'limit': return `Limit: ${op.limit ?? 'ALL'}${op.offset ? ` OFFSET ${op.offset}` : ''}`;
    case 'union': return `Union: ${op.inputs} inputs`;
    case 'join': return joinLine(op);
    case 'dedup': return `Dedup: keep=${op.keep}, keys=[${op.keys.map((i) => op.schema.fields[i]!.name).join(', ')}], time=${op.schema.fields[op.timeColumn]!.name}`;
    case 'top_n': {
      const names = (ix: readonly number[]) => ix.map((i) => op.inputSchema.fields[i]!.name).join(', ');
      return `${op.window ? 'WindowTopN' : 'TopN'}: ${op.rankFn === 'rank' ? 'RANK' : 'ROW_NUMBER'} <= ${op.limit}, partitionBy=[${names(op.partitionBy)}], orderBy=[${op.orderBy.map((k) => `${op.inputSchema.fields[k.index]!.name} ${k.desc ? 'DESC' : 'ASC'}`).join(', ')}]${op.rankColumn ? `, rank=${op.schema.fields[op.schema.fields.length - 1]!.name}` : ''}`;
    }
    case 'expand': return `Expand: ${groupingSetsText(op.keys, op.sets, op.inputSchema)}, gid=${op.schema.fields[op.schema.fields.length - 1]!.name}`;
    default: return assertNever(op, 'operator');
  }
}

const JOIN_NAME: Record<JoinBound['kind'], string> = { regular: 'Join', interval: 'IntervalJoin', window: 'WindowJoin', temporal: 'TemporalJoin' };

function joinLine(op: Extract<PhysicalOp, { kind: 'join' }>): string {
  const l = (i: number) => op.leftSchema.fields[i]!.name;
  const r = (i: number) => op.rightSchema.fields[i]!.name;
  const on = op.leftKeys.map((k, i) => `${l(k)} = ${r(op.rightKeys[i]!)}`).join(', ');
  const both: Schema = { fields: [...op.leftSchema.fields, ...op.rightSchema.fields] };
  const b = op.bound;
  const bound = b.kind === 'regular' ? (b.ttlMs !== null ? `, ttl=${formatDuration(b.ttlMs)}` : '')
    : b.kind === 'interval' ? `, ${l(b.leftTime)} - ${r(b.rightTime)} in [${b.lowerMs} ms, ${b.upperMs} ms]`
      : b.kind === 'window' ? `, window_end=${l(b.leftEnd)}/${r(b.rightEnd)}`
        : b.leftTime === null ? ', as of=proctime' : `, as of=${l(b.leftTime)}${b.rightTime !== null ? ` version=${r(b.rightTime)}` : ''}`;
  return `${JOIN_NAME[b.kind]}: ${op.joinType}, on=[${on}]${op.residual ? `, filter=${exprToString(op.residual, both)}` : ''}${bound}`;
}

export function sourceLine(s: PhysicalSource, used: readonly boolean[] | null): string {
  switch (s.kind) {
    case 'kafka_source': {
      const o = s.source.options;
      const wm = s.source.watermark;
      // Options that change what or how fast it reads are shown when they differ from the defaults.
      const extra = [
        o.bootstrapServers ? `bootstrap=${o.bootstrapServers}` : '',
        o.startupMode !== 'group-offsets' ? `startup=${o.startupMode}${o.startupMode === 'timestamp' ? `@${o.startupTimestampMs}` : ''}` : '',
        o.maxRate !== null ? `max-rate=${o.maxRate}/s` : '',
        o.idleTimeoutMs !== null ? `idle-timeout=${formatDuration(o.idleTimeoutMs)}` : '',
        o.client !== 'native' ? `client=${o.client}` : '',
        o.workers !== null ? `workers=${o.workers}` : '',
      ].filter(Boolean).map((x) => ` ${x}`).join('');
      const cols = s.source.columns.map((c) => `${c.name}:${typeToString(c.type)}${c.metadata ? `@${c.metadata}` : ''}`);
      // Columns the query reads, when not all: the others are not decoded.
      const decoded = used && used.some((u) => !u) ? ` decode=[${s.source.columns.filter((_, i) => used[i]).map((c) => c.name).join(', ')}]` : '';
      return `KafkaSource: ${s.source.name} ${o.topicPattern ? `topic-pattern=${o.topicPattern}` : `topics=[${o.topics.join(', ')}]`} format=${o.format}${extra} columns=[${cols.join(', ')}]${decoded}${wm ? ` watermark=${wm.column} - ${formatDuration(wm.delayMs)}` : ''}`;
    }
    case 'view_source': return s.key ? `ViewChanges: ${s.view}` : `ViewScan: ${s.view}`;
    default: return assertNever(s, 'source');
  }
}

export function sinkLine(s: PhysicalSink, schema: Schema): string {
  const key = (k: readonly number[] | null) => (k ? `key=[${k.map((i) => schema.fields[i]!.name).join(', ')}]` : 'append-only');
  switch (s.kind) {
    case 'query_table': return `QueryTableSink: ${s.view} ${key(s.keyColumns)} emit=${s.emit === 'changes' ? 'changes' : 'on-window-close'}`;
    case 'kafka_sink': return `KafkaSink: ${s.name} topic=${s.sink.topic} format=${s.sink.format} ${key(s.keyColumns)} delivery=${s.sink.deliveryGuarantee}`;
    case 'collect': return 'Collect';
    default: return assertNever(s, 'sink');
  }
}

/** Renders the pipeline top-down, sink first, as DataFusion prints physical plans. */
export function printPhysical(p: PhysicalChain): string {
  const lines = [sinkLine(p.sink, p.schema), ...[...p.ops].reverse().map(opLine), sourceLine(p.source, sourceColumnsUsed(p))];
  return lines.map((l, i) => '  '.repeat(i) + l).join('\n');
}
