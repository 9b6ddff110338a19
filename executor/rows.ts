/**
 * Row views of batches, for the edges only: HTTP responses, sinks' JSON, query tables and tests. Hot
 * paths stay columnar.
 */
import { formatTimestamp } from './expr/calendar.ts';
import type { RecordBatch } from 'apache-arrow';
import type { Schema, SqlType } from '../planner/types.ts';
import { batchVectors, makeBatch } from './arrow.ts';
import { valueAt, type Vector } from './vector.ts';
import { createBuilder } from '../connectors/formats/builders.ts';

export type Row = unknown[];

/** Rows of a batch as arrays of JS values (numbers, strings, booleans, objects, null). */
export function batchRows(batch: RecordBatch, schema: Schema): Row[] {
  const cols = batchVectors(batch, schema);
  const n = batch.numRows;
  const out: Row[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = cols.map((c) => valueAt(c, i));
  return out;
}

/** Builds a batch from rows of JS values (timestamps as epoch ms or ISO strings). */
export function rowsBatch(schema: Schema, rows: readonly Row[]): RecordBatch {
  const n = rows.length;
  const builders = schema.fields.map((f) => createBuilder(f.type, n, f.name));
  rows.forEach((r, i) => builders.forEach((b, c) => b.set(i, r[c])));
  return makeBatch(schema, builders.map((b) => b.finish(n)), n);
}

/** A JSON-friendly value: TIMESTAMP as ISO-8601 UTC with milliseconds, ROW as an object. */
export function jsonValue(type: SqlType, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (type.kind) {
    case 'timestamp': return formatTimestamp(v as number); // null beyond Date's range, never a throw
    case 'struct': {
      const o = v as Record<string, unknown>;
      const r: Record<string, unknown> = {};
      for (const f of type.fields) r[f.name] = jsonValue(f.type, o[f.name]);
      return r;
    }
    default: return v;
  }
}

/** Rows of a batch as JSON objects keyed by column name, for the first `visible` columns. */
export function batchObjects(batch: RecordBatch, schema: Schema, visible = schema.fields.length): Record<string, unknown>[] {
  return batchRows(batch, schema).map((r) => rowObject(schema, r, visible));
}

export function rowObject(schema: Schema, r: Row, visible = schema.fields.length): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let c = 0; c < visible; c++) { const f = schema.fields[c]!; o[f.name] = jsonValue(f.type, r[c]); }
  return o;
}

export type { Vector };
