/**
 * A query table's changes of one epoch as one Arrow batch — the table's columns plus `__op` (1 upsert,
 * -1 delete, 0 insert into an append-only table) — for the checkpoint's incremental table files
 * (`table-delta`, see queries/checkpoint-log.ts), and back.
 */
import type { RecordBatch } from 'apache-arrow';
import { batchFromData, batchVectors, columnVector, makeBatch } from '../../executor/arrow.ts';
import { concatVectors, type Vector } from '../../executor/vector.ts';
import { rowsBatchTrusted, type Row } from '../../executor/rows.ts';
import { T, type Schema } from '../../planner/types.ts';

const OP = '__op';

const OP_FIELD = { name: OP, type: T.int, nullable: false };
const withOp = (schema: Schema): Schema => ({ fields: [...schema.fields, OP_FIELD] });

/**
 * An epoch's changes as staged by a query table — its batches with their ops (null: upserts in a keyed
 * table, inserts in an append-only one), then rows dropped by retention — as one changes batch, column by
 * column (no change objects).
 */
export function deltaBatch(schema: Schema, keyed: boolean, staged: readonly { batch: RecordBatch; ops: Int8Array | null }[], evicted: readonly Row[]): RecordBatch {
  const parts: Vector[][] = staged.map((b) => batchVectors(b.batch, schema));
  if (evicted.length) parts.push(batchVectors(rowsBatchTrusted(schema, evicted), schema));
  const n = parts.reduce((s, p) => s + (p[0]?.length ?? 0), 0);
  const ops = new Int32Array(n);
  let at = 0;
  for (const b of staged) {
    const m = b.batch.numRows;
    if (keyed) { if (b.ops === null) ops.fill(1, at, at + m); else for (let i = 0; i < m; i++) ops[at + i] = b.ops[i]! > 0 ? 1 : -1; }
    at += m;
  }
  ops.fill(-1, at, n);
  const cols = schema.fields.map((f, c) => (parts.length === 1 ? parts[0]![c]! : concatVectors(f.type, parts.map((p) => p[c]!))));
  return makeBatch(withOp(schema), [...cols, { kind: 'i32', type: T.int, length: n, values: ops, valid: null }], n);
}

/** The rows of a changes batch and their ops (null when every row is an insert). */
export function splitChanges(schema: Schema, batch: RecordBatch): { batch: RecordBatch; ops: Int8Array | null } {
  const n = batch.numRows;
  const k = schema.fields.length;
  if (batch.schema.fields.length !== k + 1 || batch.schema.fields[k]!.name !== OP) throw new Error(`a table delta without its ${OP} column`);
  const opv = columnVector(batch, withOp(schema), k);
  const ops = new Int8Array(n);
  let inserts = true;
  if (opv.kind === 'i32') for (let i = 0; i < n; i++) { const o = opv.values[i]!; ops[i] = o; if (o !== 0) inserts = false; }
  return { batch: batchFromData(schema, batch.data.children.slice(0, k), n), ops: inserts ? null : ops };
}
