/**
 * Small builders for graph tests: schemas, expressions and operator specs written by hand (the SQL
 * binder does not produce unions, dedup or Top-N yet), and a recording sink.
 */
import type { RecordBatch } from 'apache-arrow';
import type { GraphSink } from '../../executor/graph.ts';
import { batchRows, jsonValue, rowsBatch, type Row } from '../../executor/rows.ts';
import type { PhysicalOp } from '../../planner/physical.ts';
import { T, type AggCall, type Expr, type Schema, type SqlType } from '../../planner/types.ts';

export const EV: Schema = { fields: [
  { name: 'k', type: T.varchar, nullable: true },
  { name: 'v', type: T.bigint, nullable: true },
  { name: 'ts', type: T.timestamp, nullable: true },
] };

export const col = (schema: Schema, name: string): Expr => {
  const index = schema.fields.findIndex((f) => f.name === name);
  if (index < 0) throw new Error(`no column ${name}`);
  return { kind: 'column', index, name, type: schema.fields[index]!.type };
};
export const lit = (value: number | string, type: SqlType = T.bigint): Expr => ({ kind: 'literal', value, type });
export const call = (fn: Extract<Expr, { kind: 'call' }>['fn'], type: SqlType, ...args: Expr[]): Expr => ({ kind: 'call', fn, args, type });

export function filterOp(schema: Schema, predicate: Expr): PhysicalOp {
  return { kind: 'filter', predicate, schema };
}

export function projectOp(input: Schema, exprs: { e: Expr; name: string }[]): PhysicalOp {
  return { kind: 'project', exprs: exprs.map((x) => x.e), inputSchema: input, schema: { fields: exprs.map((x) => ({ name: x.name, type: x.e.type, nullable: true })) } };
}

export function agg(fn: AggCall['fn'], arg: number, name: string, type: SqlType = T.bigint): AggCall {
  return { fn, arg, filter: -1, name, type };
}

/** GROUP BY without a window: [keys…, aggs…]. */
export function groupOp(input: Schema, groupBy: number[], aggs: AggCall[]): Extract<PhysicalOp, { kind: 'updating_aggregate' }> {
  return {
    kind: 'updating_aggregate', groupBy, aggs, inputSchema: input,
    schema: { fields: [...groupBy.map((i) => input.fields[i]!), ...aggs.map((a) => ({ name: a.name, type: a.type, nullable: true }))] },
  };
}

export function tumbleOp(input: Schema, sizeMs: number, time: number, groupBy: number[], aggs: AggCall[], emit: 'changes' | 'window_close'): Extract<PhysicalOp, { kind: 'window_aggregate' }> {
  return {
    kind: 'window_aggregate', spec: { kind: 'tumble', sizeMs, offsetMs: 0 }, timeColumn: time, groupBy, aggs, emit, inputSchema: input,
    schema: { fields: [
      { name: 'window_start', type: T.timestamp, nullable: false }, { name: 'window_end', type: T.timestamp, nullable: false },
      ...groupBy.map((i) => input.fields[i]!), ...aggs.map((a) => ({ name: a.name, type: a.type, nullable: true })),
    ] },
  };
}

export function topNOp(input: Schema, o: { partitionBy: number[]; orderBy: { index: number; desc: boolean }[]; limit: number; rankFn?: 'row_number' | 'rank'; rankColumn?: boolean; window?: { start: number; end: number } }): Extract<PhysicalOp, { kind: 'top_n' }> {
  const rankColumn = o.rankColumn ?? true;
  return {
    kind: 'top_n', partitionBy: o.partitionBy, orderBy: o.orderBy.map((k) => ({ ...k, nullsFirst: false })), limit: o.limit, rankFn: o.rankFn ?? 'row_number', rankColumn,
    window: o.window ?? null, inputSchema: input,
    schema: { fields: [...input.fields, ...(rankColumn ? [{ name: 'rn', type: T.bigint, nullable: false }] : [])] },
  };
}

export type Event =
  | { kind: 'batch'; rows: Record<string, unknown>[]; ops: number[] | null }
  | { kind: 'watermark'; time: number }
  | { kind: 'barrier'; epoch: number }
  | { kind: 'end' };

/** A sink that records everything it is handed, rows as JSON-like objects. */
export function recorder(schema: Schema): GraphSink & { events: Event[] } {
  const events: Event[] = [];
  const obj = (r: Row) => Object.fromEntries(schema.fields.map((f, i) => [f.name, jsonValue(f.type, r[i])]));
  return {
    events,
    batch(b: RecordBatch, ops: Int8Array | null) { events.push({ kind: 'batch', rows: batchRows(b, schema).map(obj), ops: ops ? [...ops] : null }); },
    watermark(time: number) { events.push({ kind: 'watermark', time }); },
    barrier(epoch: number) { events.push({ kind: 'barrier', epoch }); },
    end() { events.push({ kind: 'end' }); },
  };
}

export function evBatch(rows: [string | null, number | null, number | null][]): RecordBatch {
  return rowsBatch(EV, rows as Row[]);
}
