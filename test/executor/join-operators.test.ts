/**
 * Hand-written cases of the join operators, for what the property tests do not pin down: the exact
 * changelog a keyed outer join emits (padded rows retracted and re-emitted), the event-time temporal
 * join without a version time (the version current when the watermark passes), and the refusals.
 */
import { describe, expect, it } from 'vitest';
import type { RecordBatch } from 'apache-arrow';
import { createGraph } from '../../executor/graph.ts';
import { createJoin } from '../../executor/operators/join.ts';
import { batchRows, rowsBatch, type Row } from '../../executor/rows.ts';
import type { JoinBound, JoinType, PhysicalOp } from '../../planner/physical.ts';
import { GraphBuilder, type StreamKind } from '../../planner/physical-graph.ts';
import { T, type Schema } from '../../planner/types.ts';

const f = (name: string, type: Schema['fields'][number]['type']) => ({ name, type, nullable: true });
const L: Schema = { fields: [f('id', T.int), f('k', T.varchar), f('ts', T.timestamp)] };
const R: Schema = { fields: [f('rid', T.int), f('rk', T.varchar), f('rts', T.timestamp)] };

function op(type: JoinType, bound: JoinBound): Extract<PhysicalOp, { kind: 'join' }> {
  return { kind: 'join', joinType: type, leftKeys: [1], rightKeys: [1], residual: null, bound, leftSchema: L, rightSchema: R, schema: { fields: type === 'semi' || type === 'anti' ? L.fields : [...L.fields, ...R.fields] } };
}

function setup(o: Extract<PhysicalOp, { kind: 'join' }>, s: [StreamKind, StreamKind]) {
  const b = new GraphBuilder();
  const j = b.op(o, [b.source(null, L, s[0]), b.source(null, R, s[1])]);
  b.sink({ kind: 'collect' }, j);
  const events: { op: number; row: Row }[] = [];
  const g = createGraph(b.build(), { batch: (x: RecordBatch, ops: Int8Array | null) => batchRows(x, o.schema).forEach((r, i) => events.push({ op: ops ? ops[i]! : 1, row: r })) });
  const push = (input: number, rows: Row[], ops: number[] | null = null) => g.push(input, { kind: 'batch', batch: rowsBatch(input === 0 ? L : R, rows), ops: ops ? Int8Array.from(ops) : null });
  const take = () => events.splice(0).map((e) => [e.op, ...e.row]);
  return { g, push, take };
}

describe('keyed changelog join', () => {
  it('FULL: a padded row is retracted at the first match and re-emitted when the last match goes', () => {
    const cl: StreamKind = { kind: 'changelog', key: [0] };
    const { push, take } = setup(op('full', { kind: 'regular', ttlMs: null }), [cl, cl]);
    push(0, [[1, 'a', 10]], [1]);
    expect(take()).toEqual([[1, 1, 'a', 10, null, null, null]]);
    push(1, [[7, 'a', 20]], [1]);
    expect(take()).toEqual([[-1, 1, 'a', 10, null, null, null], [1, 1, 'a', 10, 7, 'a', 20]]);
    push(1, [[8, 'a', 21]], [1]);
    expect(take()).toEqual([[1, 1, 'a', 10, 8, 'a', 21]]);
    // The left row moves to key b: both pairs retracted, the right rows padded, the left row padded.
    push(0, [[1, 'b', 11]], [1]);
    expect(take()).toEqual([
      [-1, 1, 'a', 10, 8, 'a', 21], [1, null, null, null, 8, 'a', 21],
      [-1, 1, 'a', 10, 7, 'a', 20], [1, null, null, null, 7, 'a', 20],
      [1, 1, 'b', 11, null, null, null],
    ]);
    // Deleting a right row deletes its padded row (only the key columns of the delete matter).
    push(1, [[7, null, null]], [-1]);
    expect(take()).toEqual([[-1, null, null, null, 7, 'a', 20]]);
    // Right row 8 moves from a to b: its padded row goes, the left row's padded row goes, the pair comes.
    push(1, [[8, 'b', 22]], [1]);
    expect(take()).toEqual([[-1, null, null, null, 8, 'a', 21], [-1, 1, 'b', 11, null, null, null], [1, 1, 'b', 11, 8, 'b', 22]]);
    // Right row 8 changes within key b: the left row's padded row, out and back within the batch, cancels.
    push(1, [[8, 'b', 23]], [1]);
    expect(take()).toEqual([[-1, 1, 'b', 11, 8, 'b', 22], [1, 1, 'b', 11, 8, 'b', 23]]);
  });

  it('ANTI: a left row is out while it has no match', () => {
    const cl: StreamKind = { kind: 'changelog', key: [0] };
    const { push, take } = setup(op('anti', { kind: 'regular', ttlMs: null }), [cl, cl]);
    push(0, [[1, 'a', 10], [2, null, 10]], [1, 1]);
    expect(take()).toEqual([[1, 1, 'a', 10], [1, 2, null, 10]]);
    push(1, [[7, 'a', 20]], [1]);
    expect(take()).toEqual([[-1, 1, 'a', 10]]);
    push(1, [[7, 'a', 20]], [-1]);
    expect(take()).toEqual([[1, 1, 'a', 10]]);
  });
});

describe('temporal join', () => {
  it('event time without a version time: the version current when the watermark passes the left row', () => {
    const { g, push, take } = setup(op('left', { kind: 'temporal', leftTime: 2, rightTime: null }), [{ kind: 'append' }, { kind: 'changelog', key: [1] }]);
    push(1, [[1, 'a', 0]], [1]);
    push(0, [[10, 'a', 100], [11, 'b', 100]]);
    push(1, [[2, 'a', 0]], [1]);
    expect(take()).toEqual([]);
    g.push(0, { kind: 'watermark', time: 100 }); g.push(1, { kind: 'watermark', time: 100 });
    expect(take()).toEqual([[1, 10, 'a', 100, 2, 'a', 0], [1, 11, 'b', 100, null, null, null]]);
    // Late: at the watermark.
    push(0, [[12, 'a', 100]]);
    expect(take()).toEqual([]);
    expect(Object.values(g.metrics())[0]!.lateRowsDropped).toBe(1);
  });

  it('processing time: the current row at arrival, emitted at once', () => {
    const { push, take } = setup(op('inner', { kind: 'temporal', leftTime: null, rightTime: null }), [{ kind: 'append' }, { kind: 'changelog', key: [1] }]);
    push(1, [[1, 'a', 0]], [1]);
    push(0, [[10, 'a', 5], [11, 'b', 5]]);
    expect(take()).toEqual([[1, 10, 'a', 5, 1, 'a', 0]]);
    push(1, [[1, 'a', 0]], [-1]);
    push(0, [[12, 'a', 6]]);
    expect(take()).toEqual([]);
  });
});

describe('refusals', () => {
  it('an outer regular join of append-only streams is refused by the operator too', () => {
    expect(() => createJoin(op('left', { kind: 'regular', ttlMs: null }), {}, [{ kind: 'append' }, { kind: 'append' }])).toThrow(/changelogs/);
  });
});
