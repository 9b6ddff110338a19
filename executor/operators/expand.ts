/**
 * Expand (GROUPING SETS, ROLLUP, CUBE), as Spark plans them: each input batch goes out once per
 * grouping set, with the grouping columns outside the set replaced by an all-NULL column and the
 * set's grouping id appended; the aggregate after it groups by every grouping column plus the id.
 * Columnar and zero-copy: the other columns' Arrow data passes through untouched, the NULL columns are
 * made once per batch and shared by the sets that need them. A changelog's ops travel with every copy.
 */
import type { Data, RecordBatch } from 'apache-arrow';
import { groupingId } from '../../planner/logical.ts';
import type { PhysicalOp } from '../../planner/physical.ts';
import { T, type Schema } from '../../planner/types.ts';
import { batchFromData, vectorToData } from '../arrow.ts';
import type { Operator, Output } from '../operator.ts';
import { constantVector } from '../vector.ts';

/**
 * Rows a window aggregate drops as late must be reported once, as the input row: the first copy of a
 * batch maps to the expand's input (all keys, no grouping id), the other copies to null (already told).
 */
const origins = new WeakMap<RecordBatch, { readonly batch: RecordBatch; readonly schema: Schema } | null>();

/**
 * What a late-row report about `batch` should carry: itself (undefined: not from an expand), the
 * expand's input batch and schema (the first copy), or nothing (null: another copy of reported rows).
 */
export function lateOrigin(batch: RecordBatch): { readonly batch: RecordBatch; readonly schema: Schema } | null | undefined {
  return origins.get(batch);
}

export function createExpand(op: Extract<PhysicalOp, { kind: 'expand' }>): Operator {
  const width = op.inputSchema.fields.length;
  const gids = op.sets.map((s) => groupingId(s, op.keys.length));
  // Per set, the input columns it sets to NULL.
  const nulled = op.sets.map((s) => op.keys.filter((_, j) => !s.includes(j)));
  return {
    name: 'expand',
    schema: op.schema,
    processBatch(batch: RecordBatch, ops: Int8Array | null, out: Output) {
      const n = batch.numRows;
      if (n === 0) return;
      const nulls = new Map<number, Data>();
      const nullOf = (c: number) => {
        let d = nulls.get(c);
        if (!d) { d = vectorToData(constantVector(op.inputSchema.fields[c]!.type, null, n)); nulls.set(c, d); }
        return d;
      };
      for (let s = 0; s < op.sets.length; s++) {
        const children: Data[] = new Array(width + 1);
        for (let c = 0; c < width; c++) children[c] = batch.data.children[c]!;
        for (const c of nulled[s]!) children[c] = nullOf(c);
        children[width] = vectorToData(constantVector(T.bigint, gids[s]!, n));
        const copy = batchFromData(op.schema, children, n);
        origins.set(copy, s === 0 ? { batch, schema: op.inputSchema } : null);
        out.batch(copy, ops);
      }
    },
  };
}
