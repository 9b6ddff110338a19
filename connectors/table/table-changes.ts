/**
 * A query table's changes of one epoch as one Arrow batch — the table's columns plus `__op` (1 upsert,
 * -1 delete, 0 insert into an append-only table) — for the checkpoint's incremental table files
 * (`table-delta`, see queries/checkpoint-log.ts), and back.
 */
import type { RecordBatch } from 'apache-arrow';
import { batchFromData, columnVector, makeBatch } from '../../executor/arrow.ts';
import { rowsBatchTrusted } from '../../executor/rows.ts';
import { T, type Schema } from '../../planner/types.ts';
import type { TableChange } from './query-table.ts';

const OP = '__op';

export function changesBatch(schema: Schema, changes: readonly TableChange[]): RecordBatch {
  const n = changes.length;
  const rows = rowsBatchTrusted(schema, changes.map((c) => c.row));
  const ops = new Int32Array(n);
  for (let i = 0; i < n; i++) { const op = changes[i]!.op; ops[i] = op === 'upsert' ? 1 : op === 'delete' ? -1 : 0; }
  const opData = makeBatch({ fields: [OP_FIELD] }, [{ kind: 'i32', type: T.int, length: n, values: ops, valid: null }], n).data.children[0]!;
  return batchFromData(withOp(schema), [...rows.data.children, opData], n);
}

const OP_FIELD = { name: OP, type: T.int, nullable: false };
const withOp = (schema: Schema): Schema => ({ fields: [...schema.fields, OP_FIELD] });

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
