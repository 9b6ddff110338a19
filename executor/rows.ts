/**
 * Row views of batches, for the edges only: HTTP responses, sinks' JSON, query tables and tests. Hot
 * paths stay columnar.
 */
import { formatTimestamp } from './expr/calendar.ts';
import type { RecordBatch } from 'apache-arrow';
import type { Schema, SqlType } from '../planner/types.ts';
import { batchVectors, makeBatch } from './arrow.ts';
import { valueAt, vectorKindOf, type Vector } from './vector.ts';
import { createBuilder } from '../connectors/formats/builders.ts';

export type Row = unknown[];

/** Rows of a batch as arrays of JS values (numbers, strings, booleans, objects, null). */
export function batchRows(batch: RecordBatch, schema: Schema): Row[] {
  const cols = batchVectors(batch, schema);
  const n = batch.numRows;
  const w = cols.length;
  const out: Row[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = new Array(w);
  // Column by column, one loop per vector kind: a row at a time with valueAt costs a call and a switch
  // per value, and query tables turn every output row of a view into a row here.
  for (let c = 0; c < w; c++) {
    const v = cols[c]!;
    const valid = v.valid;
    switch (v.kind) {
      case 'f64': case 'i32': case 'str': {
        const vals = v.values;
        if (valid === null) for (let i = 0; i < n; i++) out[i]![c] = vals[i];
        else for (let i = 0; i < n; i++) out[i]![c] = valid[i] === 0 ? null : vals[i];
        break;
      }
      case 'bool': {
        const vals = v.values;
        for (let i = 0; i < n; i++) out[i]![c] = valid !== null && valid[i] === 0 ? null : vals[i] === 1;
        break;
      }
      default: for (let i = 0; i < n; i++) out[i]![c] = valueAt(v, i);
    }
  }
  return out;
}

/**
 * Builds a batch from rows that came out of batches (batchRows): numbers where the type is numeric,
 * no text to parse, nothing to validate, so it fills typed columns directly. A value of another JS type
 * (a row written by hand) sends the whole batch through rowsBatch, which parses and checks. Query
 * tables write their whole content this way at every checkpoint.
 */
export function rowsBatchTrusted(schema: Schema, rows: readonly Row[]): RecordBatch {
  const n = rows.length;
  const cols: Vector[] = [];
  for (let c = 0; c < schema.fields.length; c++) {
    const type = schema.fields[c]!.type;
    const kind = vectorKindOf(type);
    if (kind === 'f64' || kind === 'i32') {
      const values = kind === 'f64' ? new Float64Array(n) : new Int32Array(n);
      let valid: Uint8Array | null = null;
      for (let i = 0; i < n; i++) {
        const v = rows[i]![c];
        if (typeof v === 'number') values[i] = v;
        else if (v === null || v === undefined) (valid ??= new Uint8Array(n).fill(1))[i] = 0;
        else return rowsBatch(schema, rows);
      }
      if (kind === 'i32') for (let i = 0; i < n; i++) { const v = rows[i]![c]; if (typeof v === 'number' && values[i] !== v) return rowsBatch(schema, rows); }
      cols.push(kind === 'f64' ? { kind, type, length: n, values: values as Float64Array, valid } : { kind, type, length: n, values: values as Int32Array, valid });
    } else if (kind === 'str') {
      const values = new Array<string>(n);
      let valid: Uint8Array | null = null;
      for (let i = 0; i < n; i++) {
        const v = rows[i]![c];
        if (typeof v === 'string') values[i] = v;
        else if (v === null || v === undefined) { (valid ??= new Uint8Array(n).fill(1))[i] = 0; values[i] = ''; }
        else return rowsBatch(schema, rows);
      }
      cols.push({ kind, type, length: n, values, valid });
    } else if (kind === 'bool') {
      const values = new Uint8Array(n);
      let valid: Uint8Array | null = null;
      for (let i = 0; i < n; i++) {
        const v = rows[i]![c];
        if (typeof v === 'boolean') values[i] = v ? 1 : 0;
        else if (v === null || v === undefined) (valid ??= new Uint8Array(n).fill(1))[i] = 0;
        else return rowsBatch(schema, rows);
      }
      cols.push({ kind, type, length: n, values, valid });
    } else return rowsBatch(schema, rows);
  }
  return makeBatch(schema, cols, n);
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
