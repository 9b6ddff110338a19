/** Limit / offset (pull queries): passes through the rows in [offset, offset + limit). */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../../planner/physical.ts';
import type { Operator, Output } from '../operator.ts';

export function createLimit(op: Extract<PhysicalOp, { kind: 'limit' }>): Operator {
  let seen = 0;
  const limit = op.limit ?? Infinity;
  return {
    name: 'limit',
    schema: op.schema,
    processBatch(batch: RecordBatch, ops: Int8Array | null, out: Output) {
      const n = batch.numRows;
      const from = Math.max(0, op.offset - seen);
      const to = Math.min(n, op.offset + limit - seen);
      seen += n;
      if (to <= from) return;
      out.batch(from === 0 && to === n ? batch : batch.slice(from, to), ops ? ops.subarray(from, to) : null);
    },
  };
}
