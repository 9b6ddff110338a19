/**
 * SQL types, schemas and bound expressions shared by the planner and the executor.
 *
 * Physical layout (what the executor's Arrow batches hold) is decided here too, so both sides agree:
 * BIGINT, DOUBLE, DECIMAL and TIMESTAMP travel as Float64 (TIMESTAMP as epoch milliseconds), INT as
 * Int32, BOOLEAN as Bool, VARCHAR as Utf8, ROW as Struct. Numbers in the engine are IEEE doubles:
 * BIGINT is exact within ±2^53, which covers epoch-ms timestamps, Kafka offsets and ids; the win is
 * that every numeric kernel runs over a Float64Array instead of boxing BigInt values per row.
 */

export type SqlType =
  | { readonly kind: 'boolean' }
  | { readonly kind: 'int' }
  | { readonly kind: 'bigint' }
  | { readonly kind: 'double' }
  | { readonly kind: 'varchar' }
  | { readonly kind: 'timestamp' }
  | { readonly kind: 'interval' }
  | { readonly kind: 'null' }
  | { readonly kind: 'struct'; readonly fields: readonly Field[] };

export type TypeKind = SqlType['kind'];

export interface Field {
  readonly name: string;
  readonly type: SqlType;
  readonly nullable: boolean;
}

export interface Schema {
  readonly fields: readonly Field[];
}

export const T = {
  boolean: { kind: 'boolean' } as const,
  int: { kind: 'int' } as const,
  bigint: { kind: 'bigint' } as const,
  double: { kind: 'double' } as const,
  varchar: { kind: 'varchar' } as const,
  timestamp: { kind: 'timestamp' } as const,
  interval: { kind: 'interval' } as const,
  null: { kind: 'null' } as const,
} satisfies Record<string, SqlType>;

export function isNumeric(t: SqlType): boolean {
  return t.kind === 'int' || t.kind === 'bigint' || t.kind === 'double' || t.kind === 'null';
}

/** True when values of the type are carried in a Float64 column. */
export function isF64(t: SqlType): boolean {
  return t.kind === 'bigint' || t.kind === 'double' || t.kind === 'timestamp' || t.kind === 'interval';
}

export function typeToString(t: SqlType): string {
  switch (t.kind) {
    case 'boolean': return 'BOOLEAN';
    case 'int': return 'INT';
    case 'bigint': return 'BIGINT';
    case 'double': return 'DOUBLE';
    case 'varchar': return 'VARCHAR';
    case 'timestamp': return 'TIMESTAMP(3)';
    case 'interval': return 'INTERVAL';
    case 'null': return 'NULL';
    case 'struct': return `ROW<${t.fields.map((f) => `${f.name} ${typeToString(f.type)}`).join(', ')}>`;
    default: return assertNever(t);
  }
}

export function sameType(a: SqlType, b: SqlType): boolean {
  return typeToString(a) === typeToString(b);
}

export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(x)}`);
}

/** A position in the submitted SQL text, 1-based, as users see it in their editor. */
export interface Pos {
  readonly line: number;
  readonly column: number;
}

/** Scalar functions the executor implements; the binder resolves names to these. */
export type ScalarFn =
  | 'add' | 'sub' | 'mul' | 'div' | 'mod' | 'neg'
  | 'eq' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte'
  | 'and' | 'or' | 'not'
  | 'is_null' | 'is_not_null'
  | 'like' | 'not_like'
  | 'in' | 'not_in'
  | 'between' | 'not_between'
  | 'concat' | 'lower' | 'upper' | 'length' | 'substring' | 'trim' | 'split_part' | 'regexp_like'
  | 'abs' | 'round' | 'floor' | 'ceil'
  | 'coalesce' | 'nullif'
  | 'date_trunc' | 'extract' | 'to_timestamp' | 'epoch_ms'
  | 'sentiment';

/**
 * A bound, typed expression. Column references are resolved to an index into the input schema of the
 * plan node that evaluates them.
 */
export type Expr =
  | { readonly kind: 'column'; readonly index: number; readonly name: string; readonly type: SqlType }
  | { readonly kind: 'literal'; readonly value: number | string | boolean | null; readonly type: SqlType }
  | { readonly kind: 'call'; readonly fn: ScalarFn; readonly args: readonly Expr[]; readonly type: SqlType }
  | { readonly kind: 'field'; readonly input: Expr; readonly field: string; readonly type: SqlType }
  | { readonly kind: 'cast'; readonly input: Expr; readonly type: SqlType }
  | {
      readonly kind: 'case';
      readonly whens: readonly { readonly when: Expr; readonly then: Expr }[];
      readonly otherwise: Expr | null;
      readonly type: SqlType;
    };

/** `sum_distinct` / `avg_distinct`: SUM(DISTINCT x), AVG(DISTINCT x); MIN/MAX(DISTINCT x) bind to min/max (equal). */
export type AggFn = 'count_star' | 'count' | 'count_distinct' | 'sum' | 'min' | 'max' | 'avg' | 'sum_distinct' | 'avg_distinct';

/** One aggregate call in an Aggregate node: its argument and FILTER predicate are input columns. */
export interface AggCall {
  readonly fn: AggFn;
  /** Index of the argument column in the aggregate's input; -1 for COUNT(*). */
  readonly arg: number;
  /** Index of a BOOLEAN input column holding the FILTER (WHERE …) predicate, or -1. */
  readonly filter: number;
  readonly name: string;
  readonly type: SqlType;
}

/** Window specification: all three SQL families (RisingWave, Flink, Spark) bind to one of these. */
export type WindowSpec =
  | { readonly kind: 'tumble'; readonly sizeMs: number; readonly offsetMs: number }
  | { readonly kind: 'hop'; readonly slideMs: number; readonly sizeMs: number; readonly offsetMs: number }
  | { readonly kind: 'cumulate'; readonly stepMs: number; readonly sizeMs: number; readonly offsetMs: number }
  | { readonly kind: 'session'; readonly gapMs: number };

export function formatDuration(ms: number): string {
  const units: [number, string][] = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'min'], [1000, 's']];
  for (const [u, s] of units) if (ms % u === 0 && ms >= u) return `${ms / u}${s}`;
  return `${ms}ms`;
}

export function windowToString(w: WindowSpec): string {
  switch (w.kind) {
    case 'tumble': return `tumble(size=${formatDuration(w.sizeMs)}${w.offsetMs ? `, offset=${formatDuration(w.offsetMs)}` : ''})`;
    case 'hop': return `hop(slide=${formatDuration(w.slideMs)}, size=${formatDuration(w.sizeMs)}${w.offsetMs ? `, offset=${formatDuration(w.offsetMs)}` : ''})`;
    case 'cumulate': return `cumulate(step=${formatDuration(w.stepMs)}, size=${formatDuration(w.sizeMs)}${w.offsetMs ? `, offset=${formatDuration(w.offsetMs)}` : ''})`;
    case 'session': return `session(gap=${formatDuration(w.gapMs)})`;
    default: return assertNever(w);
  }
}
