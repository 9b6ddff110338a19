/** Project: computes the output columns; plain column references pass their Arrow data through untouched. */
import type { Data, RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../../planner/physical.ts';
import { batchFromData, batchVectors, vectorToData } from '../arrow.ts';
import { compileExpr } from '../expr/compile.ts';
import type { Operator, Output } from '../operator.ts';

export function createProject(op: Extract<PhysicalOp, { kind: 'project' }>): Operator {
  const compiled = op.exprs.map((e) => (e.kind === 'column' ? null : compileExpr(e)));
  const needsVectors = compiled.some((c) => c !== null);
  return {
    name: 'project',
    schema: op.schema,
    processBatch(batch: RecordBatch, ops: Int8Array | null, out: Output) {
      const n = batch.numRows;
      const cols = needsVectors ? batchVectors(batch, op.inputSchema) : [];
      const children: Data[] = op.exprs.map((e, i) => {
        const c = compiled[i];
        if (c === null && e.kind === 'column') return batch.data.children[e.index]!;
        return vectorToData(c!(cols, n));
      });
      out.batch(batchFromData(op.schema, children, n), ops);
    },
  };
}
