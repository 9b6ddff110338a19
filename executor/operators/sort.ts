/** Sort (pull queries): buffers its bounded input and emits it ordered at end of input. */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../../planner/physical.ts';
import { batchVectors, makeBatch } from '../arrow.ts';
import type { Operator, Output } from '../operator.ts';
import { concatVectors, take, valueAt, type Vector } from '../vector.ts';

export function createSort(op: Extract<PhysicalOp, { kind: 'sort' }>): Operator {
  const parts: Vector[][] = [];
  return {
    name: 'sort',
    schema: op.schema,
    processBatch(batch: RecordBatch) { if (batch.numRows) parts.push(batchVectors(batch, op.schema)); },
    end(out: Output) {
      if (parts.length === 0) return;
      const cols = op.schema.fields.map((f, c) => concatVectors(f.type, parts.map((p) => p[c]!)));
      const n = cols[0]?.length ?? 0;
      const keys = op.keys.map((k) => ({ v: cols[k.index]!, desc: k.desc }));
      const perm = Int32Array.from({ length: n }, (_, i) => i);
      perm.sort((a, b) => {
        for (const k of keys) {
          const x = valueAt(k.v, a) as number | string | null; const y = valueAt(k.v, b) as number | string | null;
          if (x === y) continue;
          // NULLs last ascending, first descending (Postgres).
          const c = x === null ? 1 : y === null ? -1 : x < y ? -1 : 1;
          return k.desc ? -c : c;
        }
        return a - b;
      });
      out.batch(makeBatch(op.schema, cols.map((c) => take(c, perm, n)), n), null);
    },
  };
}
