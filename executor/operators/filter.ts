/** Filter: keeps the rows whose predicate is TRUE, through a selection vector. */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../../planner/physical.ts';
import { batchVectors, makeBatch } from '../arrow.ts';
import { compileExpr } from '../expr/compile.ts';
import { filterVectors, selectionFromMask } from '../kernels/selection.ts';
import { DELETE } from '../message.ts';
import type { Operator, Output } from '../operator.ts';

export function createFilter(op: Extract<PhysicalOp, { kind: 'filter' }>): Operator {
  const pred = compileExpr(op.predicate);
  const schema = op.schema;
  return {
    name: 'filter',
    schema,
    processBatch(batch: RecordBatch, ops: Int8Array | null, out: Output) {
      const n = batch.numRows;
      if (n === 0) return;
      const cols = batchVectors(batch, schema);
      const sel = selectionFromMask(pred(cols, n), n);
      if (sel.length === n) { out.batch(batch, ops); return; }
      if (ops !== null) {
        // On an upsert stream (HAVING over an aggregate) a row that stops passing must retract its key.
        const o = new Int8Array(n);
        for (let i = 0; i < n; i++) o[i] = DELETE;
        for (let i = 0; i < sel.length; i++) o[sel[i]!] = ops[sel[i]!]!;
        out.batch(batch, o);
        return;
      }
      if (sel.length === 0) return;
      out.batch(makeBatch(schema, filterVectors(cols, sel), sel.length), null);
    },
  };
}
