/**
 * The expand operator (GROUPING SETS) and the SUM/AVG(DISTINCT) accumulator, below the SQL: one batch
 * per grouping set with the right columns NULL and grouping ids, ops carried, late-row origins; and
 * the distinct sums through update, merge (sessions), mergeFrom (HOP panes), reset and checkpoints.
 */
import { describe, expect, it } from 'vitest';
import { createAccumulator } from '../../executor/kernels/accumulators.ts';
import { createExpand, lateOrigin } from '../../executor/operators/expand.ts';
import { batchRows, rowsBatch, type Row } from '../../executor/rows.ts';
import type { Vector } from '../../executor/vector.ts';
import { groupingId } from '../../planner/logical.ts';
import type { PhysicalOp } from '../../planner/physical.ts';
import { deriveStream, GraphPlanError } from '../../planner/physical-graph.ts';
import { T, type AggCall, type Schema } from '../../planner/types.ts';
import type { RecordBatch } from 'apache-arrow';

const input: Schema = { fields: [
  { name: 'a', type: T.varchar, nullable: true },
  { name: 'b', type: T.bigint, nullable: true },
  { name: 'x', type: T.double, nullable: true },
] };
const out: Schema = { fields: [...input.fields, { name: '_gid', type: T.bigint, nullable: false }] };
// ROLLUP (a, b) over keys a (column 0) and b (column 1): sets (a, b), (a), ().
const op: Extract<PhysicalOp, { kind: 'expand' }> = { kind: 'expand', keys: [0, 1], sets: [[0, 1], [0], []], inputSchema: input, schema: out };

describe('expand', () => {
  it('emits one batch per grouping set: keys outside the set NULL, the grouping id appended, ops and other columns as they came', () => {
    const e = createExpand(op);
    const got: { batch: RecordBatch; ops: Int8Array | null }[] = [];
    const rows: Row[] = [['p', 1, 0.5], [null, 2, 1.5]];
    const ops = Int8Array.from([1, -1]);
    const src = rowsBatch(input, rows);
    e.processBatch(src, ops, { batch: (batch, o) => got.push({ batch, ops: o }) });
    expect(got.map((g) => batchRows(g.batch, out))).toEqual([
      [['p', 1, 0.5, 0], [null, 2, 1.5, 0]],
      [['p', null, 0.5, 1], [null, null, 1.5, 1]],
      [[null, null, 0.5, 3], [null, null, 1.5, 3]],
    ]);
    expect(got.every((g) => g.ops === ops)).toBe(true);
    // The non-key column's Arrow data passes through untouched.
    expect(got[2]!.batch.data.children[2]).toBe(src.data.children[2]);
    // Late rows: the first copy reports as the input batch, the others not at all; other batches are their own.
    expect(lateOrigin(got[0]!.batch)).toEqual({ batch: src, schema: input });
    expect(lateOrigin(got[1]!.batch)).toBeNull();
    expect(lateOrigin(got[2]!.batch)).toBeNull();
    expect(lateOrigin(src)).toBeUndefined();
  });

  it('numbers grouping sets as GROUPING_ID does (a bit per absent key, the first key highest)', () => {
    expect(op.sets.map((s) => groupingId(s, 2))).toEqual([0, 1, 3]);
    expect(groupingId([1], 3)).toBe(5);
  });

  it('keeps append-only input append-only; over a changelog adds the grouping id to the key, or refuses to NULL a key column', () => {
    expect(deriveStream(op, [{ kind: 'append' }])).toEqual({ kind: 'append' });
    expect(deriveStream(op, [{ kind: 'changelog', key: [2] }])).toEqual({ kind: 'changelog', key: [2, 3] });
    expect(() => deriveStream(op, [{ kind: 'changelog', key: [1] }])).toThrow(GraphPlanError);
  });
});

describe('SUM / AVG (DISTINCT) accumulator', () => {
  const call = (fn: AggCall['fn'], type: AggCall['type'] = T.bigint): AggCall => ({ fn, arg: 0, filter: -1, name: fn, type });
  const f64 = (values: (number | null)[]): Vector => ({ kind: 'f64', type: T.bigint, length: values.length, values: Float64Array.from(values, (v) => v ?? 0), valid: values.some((v) => v === null) ? Uint8Array.from(values, (v) => (v === null ? 0 : 1)) : null });
  const vals = (v: Vector) => Array.from({ length: v.length }, (_, i) => (v.valid?.[i] === 0 ? null : (v as { values: ArrayLike<number> }).values[i]));
  const g = (...ids: number[]) => Int32Array.from(ids);

  it('counts each value once per group, skips NULLs and FILTER rows, NULL for a group without values', () => {
    const s = createAccumulator(call('sum_distinct')); const a = createAccumulator(call('avg_distinct', T.double));
    for (const acc of [s, a]) { acc.ensure(3); acc.update(g(0, 0, 0, 1, 1, 2), null, 6, f64([3, 3, 5, 7, null, null]), null); }
    expect(vals(s.result(g(0, 1, 2), 3))).toEqual([8, 7, null]);
    expect(vals(a.result(g(0, 1, 2), 3))).toEqual([4, 7, null]);
    const filter: Vector = { kind: 'bool', type: T.boolean, length: 2, values: Uint8Array.from([1, 0]), valid: null };
    s.update(g(2, 2), null, 2, f64([4, 9]), filter);
    expect(vals(s.result(g(2), 1))).toEqual([4]);
  });

  it('merges sets without counting shared values twice (sessions, HOP panes), and round-trips a checkpoint', () => {
    const s = createAccumulator(call('sum_distinct')); s.ensure(4);
    s.update(g(0, 0, 1, 1), null, 4, f64([1, 2, 2, 3]), null);
    s.merge(0, 1);
    expect(vals(s.result(g(0), 1))).toEqual([6]);
    const panes = createAccumulator(call('sum_distinct')); panes.ensure(2);
    panes.update(g(0, 1), null, 2, f64([3, 10]), null);
    s.mergeFrom(panes, g(0, 1), g(0, 0), 2);
    expect(vals(s.result(g(0), 1))).toEqual([16]);
    const saved = s.state(g(0, 1), 2);
    const back = createAccumulator(call('sum_distinct')); back.ensure(2);
    back.restore(saved, g(0, 1), 2);
    expect(vals(back.result(g(0, 1), 2))).toEqual([16, 5]);
    back.reset(0);
    expect(vals(back.result(g(0), 1))).toEqual([null]);
    back.update(g(0), null, 1, f64([2]), null);
    expect(vals(back.result(g(0), 1))).toEqual([2]);
  });
});
