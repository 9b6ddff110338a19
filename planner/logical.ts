/**
 * The logical plan: what a query computes, independent of how it runs. Nodes are readonly
 * discriminated unions; `printLogical` renders the indented text EXPLAIN shows and tests pin.
 */
import type { SourceDef } from './catalog.ts';
import type { JoinBound, JoinType } from './physical.ts';
import type { AggCall, Expr, Schema, WindowSpec } from './types.ts';
import { assertNever, formatDuration, typeToString, windowToString } from './types.ts';

export interface SortKey { readonly index: number; readonly desc: boolean; readonly nullsFirst: boolean }

export type LogicalPlan =
  | {
      readonly kind: 'source_scan';
      readonly source: string;
      readonly def: SourceDef;
      readonly schema: Schema;
      readonly watermark: { readonly column: number; readonly delayMs: number } | null;
    }
  /** A materialized view: its current rows (pull queries), or, with `key`, its changes epoch by epoch (continuous queries). */
  | { readonly kind: 'view_scan'; readonly view: string; readonly schema: Schema; readonly key?: readonly number[] }
  | { readonly kind: 'filter'; readonly input: LogicalPlan; readonly predicate: Expr; readonly schema: Schema }
  | { readonly kind: 'project'; readonly input: LogicalPlan; readonly exprs: readonly Expr[]; readonly schema: Schema }
  | {
      readonly kind: 'window_assign';
      readonly input: LogicalPlan;
      readonly spec: WindowSpec;
      readonly timeColumn: number;
      readonly schema: Schema;
    }
  | {
      readonly kind: 'aggregate';
      readonly input: LogicalPlan;
      readonly window: { readonly spec: WindowSpec; readonly timeColumn: number } | null;
      readonly groupBy: readonly number[];
      readonly aggs: readonly AggCall[];
      readonly schema: Schema;
    }
  | { readonly kind: 'sort'; readonly input: LogicalPlan; readonly keys: readonly SortKey[]; readonly schema: Schema }
  | { readonly kind: 'limit'; readonly input: LogicalPlan; readonly limit: number | null; readonly offset: number; readonly schema: Schema }
  /**
   * `ROW_NUMBER() | RANK() OVER (PARTITION BY … ORDER BY …)` as a column appended to the input. Not
   * runnable alone (its state would grow without end): the enclosing query's `WHERE rn = 1` or
   * `rn <= N` turns it into a `dedup` or a `top_n`, and a rank left unfiltered is refused at `at`.
   */
  | {
      readonly kind: 'rank'; readonly input: LogicalPlan; readonly fn: 'row_number' | 'rank';
      readonly partitionBy: readonly number[]; readonly orderBy: readonly SortKey[]; readonly at: number; readonly schema: Schema;
    }
  /** First or last row per key by event time (`ROW_NUMBER() … ORDER BY ts [DESC]` = 1); schema of the input. */
  | { readonly kind: 'dedup'; readonly input: LogicalPlan; readonly keys: readonly number[]; readonly timeColumn: number; readonly keep: 'first' | 'last'; readonly schema: Schema }
  /** The N best rows per partition; with `window`, per window and final when it closes. The rank is the last column. */
  | {
      readonly kind: 'top_n'; readonly input: LogicalPlan; readonly fn: 'row_number' | 'rank'; readonly limit: number;
      readonly partitionBy: readonly number[]; readonly orderBy: readonly SortKey[];
      readonly window: { readonly start: number; readonly end: number } | null; readonly schema: Schema;
    }
  /** UNION ALL of inputs with the same column types; the first input names the columns. */
  | { readonly kind: 'union'; readonly inputs: readonly LogicalPlan[]; readonly schema: Schema }
  /** A join of two inputs: the left columns then the right ones (semi/anti: left only); see PhysicalOp 'join'. */
  | {
      readonly kind: 'join'; readonly left: LogicalPlan; readonly right: LogicalPlan; readonly joinType: JoinType;
      readonly leftKeys: readonly number[]; readonly rightKeys: readonly number[]; readonly residual: Expr | null;
      readonly bound: JoinBound; readonly schema: Schema;
    }
  | ExpandNode;

/**
 * GROUPING SETS / ROLLUP / CUBE: every input row once per grouping set, the `keys` (input columns) not
 * in the set NULL, and a grouping id appended as the last column (BIGINT; bit `keys.length - 1 - j` set
 * when keys[j] is not in the set, as Flink's GROUPING_ID). `sets[i]` lists positions into `keys`.
 */
export type ExpandNode = {
  readonly kind: 'expand'; readonly input: LogicalPlan; readonly keys: readonly number[];
  readonly sets: readonly (readonly number[])[]; readonly schema: Schema;
};

/** The grouping id of a grouping set (positions into `keys`) of `nKeys` keys. */
export function groupingId(set: readonly number[], nKeys: number): number {
  let id = 0;
  for (let j = 0; j < nKeys; j++) if (!set.includes(j)) id += 2 ** (nKeys - 1 - j);
  return id;
}

/** `sets=[(a, b), (a), ()]` over the keys' input columns, as EXPLAIN prints an expand. */
export function groupingSetsText(keys: readonly number[], sets: readonly (readonly number[])[], input: Schema): string {
  return `sets=[${sets.map((st) => `(${st.map((j) => input.fields[keys[j]!]!.name).join(', ')})`).join(', ')}]`;
}

export type LogicalKind = LogicalPlan['kind'];

/** The inputs of a plan node, in order. */
export function planInputs(p: LogicalPlan): readonly LogicalPlan[] {
  switch (p.kind) {
    case 'source_scan': case 'view_scan': return [];
    case 'union': return p.inputs;
    case 'join': return [p.left, p.right];
    default: return [p.input];
  }
}

/** Renders an expression against the schema it is evaluated over. */
export function exprToString(e: Expr, input: Schema): string {
  switch (e.kind) {
    case 'column': return input.fields[e.index]?.name ?? `#${e.index}`;
    case 'literal':
      if (e.value === null) return 'NULL';
      if (e.type.kind === 'varchar') return `'${String(e.value).replace(/'/g, "''")}'`;
      if (e.type.kind === 'timestamp') return `TIMESTAMP '${new Date(Number(e.value)).toISOString()}'`;
      if (e.type.kind === 'interval') return `INTERVAL '${e.value}' MILLISECOND`;
      return String(e.value);
    case 'field': return `${exprToString(e.input, input)}.${e.field}`;
    case 'cast': return `CAST(${exprToString(e.input, input)} AS ${typeToString(e.type)})`;
    case 'case':
      return `CASE ${e.whens.map((w) => `WHEN ${exprToString(w.when, input)} THEN ${exprToString(w.then, input)}`).join(' ')}${e.otherwise ? ` ELSE ${exprToString(e.otherwise, input)}` : ''} END`;
    case 'call': {
      const a = e.args.map((x) => exprToString(x, input));
      const bin: Partial<Record<string, string>> = {
        add: '+', sub: '-', mul: '*', div: '/', mod: '%', eq: '=', neq: '<>', lt: '<', lte: '<=', gt: '>', gte: '>=', and: 'AND', or: 'OR',
      };
      const op = bin[e.fn];
      if (op) return `(${a[0]} ${op} ${a[1]})`;
      switch (e.fn) {
        case 'neg': return `-${a[0]}`;
        case 'not': return `NOT ${a[0]}`;
        case 'is_null': return `${a[0]} IS NULL`;
        case 'is_not_null': return `${a[0]} IS NOT NULL`;
        case 'like': return `${a[0]} LIKE ${a[1]}`;
        case 'not_like': return `${a[0]} NOT LIKE ${a[1]}`;
        case 'in': return `${a[0]} IN (${a.slice(1).join(', ')})`;
        case 'not_in': return `${a[0]} NOT IN (${a.slice(1).join(', ')})`;
        case 'between': return `${a[0]} BETWEEN ${a[1]} AND ${a[2]}`;
        case 'not_between': return `${a[0]} NOT BETWEEN ${a[1]} AND ${a[2]}`;
        default: return `${e.fn}(${a.join(', ')})`;
      }
    }
    default: return assertNever(e, 'expression');
  }
}

export function aggToString(a: AggCall, input: Schema): string {
  const arg = a.arg < 0 ? '*' : input.fields[a.arg]?.name ?? `#${a.arg}`;
  const fn = a.fn === 'count_star' ? 'count(*)' : a.fn.endsWith('_distinct') ? `${a.fn.slice(0, -9)}(DISTINCT ${arg})` : `${a.fn}(${arg})`;
  const filter = a.filter >= 0 ? ` FILTER (WHERE ${input.fields[a.filter]?.name})` : '';
  return `${fn}${filter} AS ${a.name}`;
}

function inputSchema(p: LogicalPlan): Schema {
  return 'input' in p ? p.input.schema : p.kind === 'join' ? { fields: [...p.left.schema.fields, ...p.right.schema.fields] } : p.schema;
}

const names = (s: Schema, ix: readonly number[]) => ix.map((i) => s.fields[i]!.name).join(', ');
const keysText = (s: Schema, ks: readonly SortKey[]) => ks.map((k) => `${s.fields[k.index]!.name} ${k.desc ? 'DESC' : 'ASC'}`).join(', ');

function nodeLine(p: LogicalPlan): string {
  const ins = inputSchema(p);
  switch (p.kind) {
    case 'source_scan':
      return `SourceScan: ${p.source} [${p.schema.fields.map((f) => `${f.name}:${typeToString(f.type)}`).join(', ')}]${p.watermark ? ` watermark=${p.schema.fields[p.watermark.column]!.name} - ${formatDuration(p.watermark.delayMs)}` : ''}`;
    case 'view_scan': return `ViewScan: ${p.view}${p.key ? ' changes' : ''}`;
    case 'filter': return `Filter: ${exprToString(p.predicate, ins)}`;
    case 'project': return `Project: ${p.exprs.map((e, i) => { const s = exprToString(e, ins); const n = p.schema.fields[i]!.name; return s === n ? s : `${s} AS ${n}`; }).join(', ')}`;
    case 'window_assign': return `WindowAssign: ${windowToString(p.spec)} time=${ins.fields[p.timeColumn]!.name}`;
    case 'aggregate': {
      const w = p.window ? `window=${windowToString(p.window.spec)} time=${ins.fields[p.window.timeColumn]!.name}, ` : '';
      return `Aggregate: ${w}groupBy=[${p.groupBy.map((i) => ins.fields[i]!.name).join(', ')}], aggs=[${p.aggs.map((a) => aggToString(a, ins)).join(', ')}]`;
    }
    case 'sort': return `Sort: ${p.keys.map((k) => `${p.schema.fields[k.index]!.name} ${k.desc ? 'DESC' : 'ASC'}`).join(', ')}`;
    case 'limit': return `Limit: ${p.limit ?? 'ALL'}${p.offset ? ` OFFSET ${p.offset}` : ''}`;
    case 'rank': return `Rank: ${p.fn === 'rank' ? 'RANK' : 'ROW_NUMBER'}() OVER (PARTITION BY ${names(ins, p.partitionBy)} ORDER BY ${keysText(ins, p.orderBy)}) AS ${p.schema.fields[p.schema.fields.length - 1]!.name}`;
    case 'dedup': return `Dedup: keep=${p.keep}, keys=[${names(ins, p.keys)}], time=${ins.fields[p.timeColumn]!.name}`;
    case 'top_n': return `${p.window ? 'WindowTopN' : 'TopN'}: ${p.fn === 'rank' ? 'RANK' : 'ROW_NUMBER'} <= ${p.limit}, partitionBy=[${names(ins, p.partitionBy)}], orderBy=[${keysText(ins, p.orderBy)}]`;
    case 'union': return `Union: ${p.inputs.length} inputs`;
    case 'join': {
      const on = p.leftKeys.map((k, i) => `${p.left.schema.fields[k]!.name} = ${p.right.schema.fields[p.rightKeys[i]!]!.name}`).join(', ');
      const b = p.bound;
      const bound = b.kind === 'regular' ? '' : b.kind === 'interval' ? `, interval=[${b.lowerMs} ms, ${b.upperMs} ms]` : b.kind === 'window' ? ', window' : `, as of=${b.leftTime === null ? 'proctime' : ins.fields[b.leftTime]!.name}`;
      return `Join: ${p.joinType}${bound}, on=[${on}]${p.residual ? `, filter=${exprToString(p.residual, ins)}` : ''}`;
    }
    case 'expand': return `Expand: ${groupingSetsText(p.keys, p.sets, ins)}, gid=${p.schema.fields[p.schema.fields.length - 1]!.name}`;
    default: return assertNever(p, 'plan node');
  }
}

export function printLogical(p: LogicalPlan, indent = 0): string {
  const line = '  '.repeat(indent) + nodeLine(p);
  return [line, ...planInputs(p).map((x) => printLogical(x, indent + 1))].join('\n');
}
