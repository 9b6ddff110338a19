/** Kernels under the window aggregates: group table keys, accumulators, per-window state and its snapshots. */
import { Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { T, type AggCall, type Schema } from '../../../planner/types.ts';
import { GroupTable } from '../../../executor/kernels/group-table.ts';
import { createAccumulator } from '../../../executor/kernels/accumulators.ts';
import { WindowedAggregation } from '../../../executor/kernels/window-state.ts';
import { batchRows } from '../../../executor/rows.ts';
import type { Vector } from '../../../executor/vector.ts';

const str = (values: (string | null)[]): Vector => ({ kind: 'str', type: T.varchar, length: values.length, values: values.map((v) => v ?? ''), valid: values.some((v) => v === null) ? Uint8Array.from(values, (v) => (v === null ? 0 : 1)) : null });
const i32 = (values: (number | null)[]): Vector => ({ kind: 'i32', type: T.int, length: values.length, values: Int32Array.from(values, (v) => v ?? 0), valid: values.some((v) => v === null) ? Uint8Array.from(values, (v) => (v === null ? 0 : 1)) : null });
const f64 = (values: (number | null)[], type = T.bigint): Vector => ({ kind: 'f64', type, length: values.length, values: Float64Array.from(values, (v) => v ?? 0), valid: values.some((v) => v === null) ? Uint8Array.from(values, (v) => (v === null ? 0 : 1)) : null });

describe('group table', () => {
  it('keeps string, empty string and NULL apart, in multi-column keys with INT NULLs', () => {
    const t = new GroupTable([T.varchar, T.int]);
    const gids = new Int32Array(8);
    t.assign([str(['a', '', null, 'a', null, '', 'a', null]), i32([1, 1, 1, 1, 1, 1, null, null])], null, 8, gids);
    expect([...gids]).toEqual([0, 1, 2, 0, 2, 1, 3, 4]);
    const [k, n] = t.keyVectors(Int32Array.from([0, 1, 2, 3, 4]), 5);
    expect([...Array(5).keys()].map((i) => [k!.valid?.[i] === 0 ? null : (k as unknown as { values: string[] }).values[i], n!.valid?.[i] === 0 ? null : (n as unknown as { values: Int32Array }).values[i]]))
      .toEqual([['a', 1], ['', 1], [null, 1], ['a', null], [null, null]]);
  });

  it('grows past its initial capacity without losing groups', () => {
    const t = new GroupTable([T.bigint]);
    const n = 10_000; const gids = new Int32Array(n);
    t.assign([f64(Array.from({ length: n }, (_, i) => (i * 7919) % 5000))], null, n, gids);
    expect(t.size).toBe(5000);
    const again = new Int32Array(n);
    t.assign([f64(Array.from({ length: n }, (_, i) => (i * 7919) % 5000))], null, n, again);
    expect([...again]).toEqual([...gids]);
  });
});

describe('accumulators', () => {
  const call = (fn: AggCall['fn'], type = T.int): AggCall => ({ fn, arg: 0, filter: -1, name: fn, type });
  it('MIN / MAX over INT keep INT results, skip NULLs, and give NULL for an all-NULL group', () => {
    for (const [fn, want] of [['min', [-7, null]], ['max', [2147483647, null]]] as const) {
      const a = createAccumulator(call(fn)); a.ensure(2);
      a.update(Int32Array.from([0, 0, 1, 0]), null, 4, i32([5, -7, null, 2147483647]), null);
      const r = a.result(Int32Array.from([0, 1]), 2);
      expect(r.kind).toBe('i32');
      expect([0, 1].map((i) => (r.valid?.[i] === 0 ? null : (r as { values: Int32Array }).values[i]))).toEqual(want);
    }
  });
});

describe('windowed aggregation state', () => {
  const schema: Schema = { fields: [
    { name: 'window_start', type: T.timestamp, nullable: false }, { name: 'window_end', type: T.timestamp, nullable: false },
    { name: 'k', type: T.varchar, nullable: true }, { name: 'n', type: T.bigint, nullable: false },
  ] };
  const make = () => new WindowedAggregation({ keyTypes: [T.varchar], aggs: [{ fn: 'count_star', arg: -1, filter: -1, name: 'n', type: T.bigint }], windowed: true, startOf: (e) => e - 10, schema });
  const rows = (b: ReturnType<WindowedAggregation['takeChanges']>) => (b ? batchRows(b, schema) : []).sort();

  it('restores pending changes (dirty flags) from a snapshot taken between barriers', () => {
    const a = make();
    const keys = str(['x', null, 'y', 'x']);
    a.accumulate(Float64Array.from([10, 10, 20, 20]), null, 4, { keys: [keys], args: [null], filters: [null] });
    a.takeChanges();
    a.accumulate(Float64Array.from([20]), Int32Array.from([0]), 1, { keys: [keys], args: [null], filters: [null] });
    const snap = a.snapshot()!;
    const b = make();
    b.restore(tableFromIPC(tableToIPC(new Table([snap]))).batches[0]!);
    expect(rows(b.takeChanges())).toEqual([[10, 20, 'x', 2]]);
    expect(rows(b.takeChanges())).toEqual([]);
    expect(b.stateRows()).toBe(4);
  });

  it('frees a window when it closes', () => {
    const a = make();
    const keys = str(Array.from({ length: 1000 }, (_, i) => `k${i}`));
    a.accumulate(Float64Array.from({ length: 1000 }, (_, i) => (i < 500 ? 10 : 20)), null, 1000, { keys: [keys], args: [null], filters: [null] });
    expect(a.stateRows()).toBe(1000);
    const bytes = a.stateBytes();
    expect(bytes).toBeGreaterThan(0);
    const closed = a.close(10, true)!;
    expect(closed.numRows).toBe(500);
    expect(a.stateRows()).toBe(500);
    expect(a.stateBytes()).toBeLessThan(bytes);
    a.close(20, false);
    expect(a.stateRows()).toBe(0);
    expect(a.stateBytes()).toBe(0);
  });
});
