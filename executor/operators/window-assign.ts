/**
 * Window assignment without aggregation (`SELECT * FROM TUMBLE(…)`): appends window_start, window_end
 * and window_time to each row; hop and cumulate repeat a row once per window it is in.
 */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../../planner/physical.ts';
import { T } from '../../planner/types.ts';
import { batchVectors, makeBatch } from '../arrow.ts';
import type { Operator, Output } from '../operator.ts';
import { asF64, take, type Vector } from '../vector.ts';
import { cumulateAssigner } from './cumulate-aggregate.ts';
import { hopAssigner } from './hop-aggregate.ts';
import { tumbleAssigner } from './tumble-aggregate.ts';
import type { WindowAssigner } from './window-common.ts';

export function createWindowAssign(op: Extract<PhysicalOp, { kind: 'window_assign' }>): Operator {
  const spec = op.spec;
  let assign: WindowAssigner;
  switch (spec.kind) {
    case 'tumble': assign = tumbleAssigner(spec.sizeMs, spec.offsetMs); break;
    case 'hop': assign = hopAssigner(spec.slideMs, spec.sizeMs, spec.offsetMs); break;
    case 'cumulate': assign = cumulateAssigner(spec.stepMs, spec.sizeMs, spec.offsetMs); break;
    case 'session': throw new Error('session windows are assigned by the session aggregate');
  }
  return {
    name: 'window_assign',
    schema: op.schema,
    processBatch(batch: RecordBatch, _ops: Int8Array | null, out: Output) {
      const n = batch.numRows;
      const cols = batchVectors(batch, op.inputSchema);
      const tv = cols[op.timeColumn]!;
      const t = asF64(tv);
      const rows: number[] = []; const ends: number[] = [];
      const e = new Float64Array(n);
      for (let k = 0; k < assign.passes; k++) {
        assign.ends(t, n, k, e);
        for (let i = 0; i < n; i++) if (e[i] === e[i] && (tv.valid === null || tv.valid[i] === 1)) { rows.push(i); ends.push(e[i]!); }
      }
      if (rows.length === 0) return;
      const sel = Int32Array.from(rows);
      const m = sel.length;
      const endV = Float64Array.from(ends);
      const startV = endV.map((x) => assign.startOf(x));
      const timeV = endV.map((x) => x - 1);
      const mk = (values: Float64Array): Vector => ({ kind: 'f64', type: T.timestamp, length: m, values, valid: null });
      const outCols = [...cols.map((c) => take(c, sel, m)), mk(startV), mk(endV), mk(timeV)];
      out.batch(makeBatch(op.schema, outCols, m), null);
    },
  };
}
