/**
 * UNION ALL: batches of every input pass through unchanged (the runtime already aligns watermarks,
 * barriers and end over the inputs). When any input is a changelog the output is one too, and rows of
 * append-only inputs go out as upserts.
 */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../../planner/physical.ts';
import { UPSERT } from '../message.ts';
import type { Operator, Output } from '../operator.ts';

export function createUnion(op: Extract<PhysicalOp, { kind: 'union' }>, changelog: boolean): Operator {
  return {
    name: 'union',
    schema: op.schema,
    processBatch(batch: RecordBatch, ops: Int8Array | null, out: Output) {
      if (batch.numRows === 0) return;
      out.batch(batch, ops === null && changelog ? new Int8Array(batch.numRows).fill(UPSERT) : ops);
    },
  };
}
