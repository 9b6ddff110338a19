/**
 * The new operators case by case, on small hand-made graphs: what each emits (append-only or which
 * upserts and deletes), when state is freed, how late rows are counted, and HOP's refusal of a
 * snapshot written before panes.
 */
import { describe, expect, it } from 'vitest';
import { createGraph } from '../../executor/graph.ts';
import { createPipeline } from '../../executor/pipeline.ts';
import type { LateRows } from '../../executor/operator.ts';
import { rowsBatch, type Row } from '../../executor/rows.ts';
import { GraphBuilder, type StreamKind } from '../../planner/physical-graph.ts';
import type { PhysicalOp } from '../../planner/physical.ts';
import { T } from '../../planner/types.ts';
import { agg, EV, evBatch, groupOp, recorder, topNOp, tumbleOp } from './graph-helpers.ts';

const CHANGELOG: StreamKind = { kind: 'changelog', key: [0] };

/** input → op → sink, the input append-only or a changelog keyed by k. */
function single(op: PhysicalOp, input: StreamKind = { kind: 'append' }, onLate?: (l: LateRows) => void) {
  const g = new GraphBuilder();
  g.sink({ kind: 'collect' }, g.op(op, [g.source(null, EV, input)]));
  const plan = g.build();
  const sink = recorder(plan.nodes.at(-1)!.schema);
  return { graph: createGraph(plan, sink, { onLate }), sink, plan };
}

const changes = (sink: ReturnType<typeof recorder>): Record<string, unknown>[] => sink.events.flatMap((e) => (e.kind === 'batch' ? e.rows.map((r, i) => ({ op: e.ops ? e.ops[i] : 1, ...r })) : []));
const log = (rows: [string | null, number | null, number | null][], ops: number[]) => ({ kind: 'batch' as const, batch: evBatch(rows), ops: Int8Array.from(ops) });

describe('graph operators', () => {
  it('retracting MIN / MAX / COUNT give way to the next value when the current extreme is deleted, and empty groups are deleted', () => {
    const { graph, sink } = single(groupOp(EV, [2], [agg('min', 1, 'lo'), agg('max', 1, 'hi'), agg('count_star', -1, 'n')]), CHANGELOG);
    graph.push(0, log([['a', 1, 0], ['b', 5, 0], ['c', 9, 0]], [1, 1, 1]));
    graph.barrier(1);
    graph.push(0, log([['a', null, null], ['c', null, null]], [-1, -1])); // delete the min and the max
    graph.barrier(2);
    graph.push(0, log([['b', 7, 0]], [1])); // upsert: 5 is taken back, 7 added
    graph.barrier(3);
    graph.push(0, log([['b', null, null]], [-1]));
    graph.barrier(4);
    expect(changes(sink)).toEqual([
      { op: 1, ts: '1970-01-01T00:00:00.000Z', lo: 1, hi: 9, n: 3 },
      { op: 1, ts: '1970-01-01T00:00:00.000Z', lo: 5, hi: 5, n: 1 },
      { op: 1, ts: '1970-01-01T00:00:00.000Z', lo: 7, hi: 7, n: 1 },
      { op: -1, ts: '1970-01-01T00:00:00.000Z', lo: null, hi: null, n: null },
    ]);
  });

  it('Top-N by row number upserts changed positions and deletes positions that no longer exist', () => {
    const { graph, sink } = single(topNOp(EV, { partitionBy: [], orderBy: [{ index: 1, desc: true }], limit: 2 }), CHANGELOG);
    graph.push(0, log([['a', 1, 0], ['b', 5, 0], ['c', 3, 0]], [1, 1, 1]));
    graph.barrier(1);
    graph.push(0, log([['b', null, null]], [-1]));
    graph.barrier(2);
    graph.push(0, log([['c', null, null]], [-1]));
    graph.barrier(3);
    const rows = changes(sink).map((r) => [r.op, r.k, r.rn]);
    expect(rows).toEqual([[1, 'b', 1], [1, 'c', 2], [1, 'c', 1], [1, 'a', 2], [1, 'a', 1], [-1, 'a', 2]]);
  });

  it('window Top-N emits each window once when the watermark passes its end, frees it, and counts rows of closed windows as late', () => {
    const w = tumbleOp(EV, 1000, 2, [0], [agg('count_star', -1, 'n')], 'window_close');
    const top = topNOp(w.schema, { partitionBy: [0, 1], orderBy: [{ index: 3, desc: true }], limit: 1, window: { start: 0, end: 1 } });
    const b = new GraphBuilder();
    b.sink({ kind: 'collect' }, b.op(top, [b.op(w, [b.source(null, EV)])]));
    const plan = b.build();
    const sink = recorder(plan.nodes.at(-1)!.schema);
    const graph = createGraph(plan, sink);
    graph.push(0, { kind: 'batch', batch: evBatch([['a', 1, 100], ['b', 1, 200], ['b', 1, 300], ['a', 1, 1500]]), ops: null });
    graph.push(0, { kind: 'watermark', time: 1000 });
    expect(changes(sink).map((r) => [r.k, r.n, r.rn])).toEqual([['b', 2, 1]]);
    const topId = plan.nodes.find((n) => n.role === 'op' && n.op.kind === 'top_n')!.id;
    expect(graph.metrics()[topId]!.stateRows).toBe(0);
    graph.push(0, { kind: 'watermark', time: 2000 });
    graph.end();
    expect(changes(sink).map((r) => [r.k, r.n, r.rn])).toEqual([['b', 2, 1], ['a', 1, 1]]);
    expect(sink.events.filter((e) => e.kind === 'batch').every((e) => e.kind === 'batch' && e.ops === null)).toBe(true);
  });

  it('dedup keeps the first row per key once the watermark reaches it and counts rows at or behind the watermark as late', () => {
    const late: LateRows[] = [];
    const { graph, sink } = single({ kind: 'dedup', keys: [0], timeColumn: 2, keep: 'first', schema: EV }, undefined, (l) => late.push(l));
    graph.push(0, { kind: 'batch', batch: evBatch([['a', 1, 500], ['a', 2, 400], ['b', 3, 900]]), ops: null });
    graph.push(0, { kind: 'watermark', time: 600 });
    expect(changes(sink).map((r) => [r.k, r.v])).toEqual([['a', 2]]);
    graph.push(0, { kind: 'batch', batch: evBatch([['b', 4, 550], ['b', 5, 700]]), ops: null }); // 550 is late; 700 < 900 wins
    graph.end();
    expect(changes(sink).map((r) => [r.k, r.v])).toEqual([['a', 2], ['b', 5]]);
    expect(late.reduce((s, l) => s + l.rows.length, 0)).toBe(1);
  });

  it('dedup last is a changelog keyed by the key: one upsert per changed key per epoch', () => {
    const { graph, sink, plan } = single({ kind: 'dedup', keys: [0], timeColumn: 2, keep: 'last', schema: EV });
    expect(plan.nodes.at(-1)!.stream).toEqual({ kind: 'changelog', key: [0] });
    graph.push(0, { kind: 'batch', batch: evBatch([['a', 1, 500], ['a', 2, 400], ['a', 3, 800]]), ops: null });
    graph.barrier(1);
    graph.push(0, { kind: 'batch', batch: evBatch([['a', 4, 700]]), ops: null }); // older: ignored
    graph.barrier(2);
    expect(changes(sink).map((r) => [r.op, r.k, r.v])).toEqual([[1, 'a', 3]]);
  });

  it('a union of an append-only input and a changelog emits the append-only rows as upserts', () => {
    const b = new GraphBuilder();
    const u = b.op({ kind: 'union', inputs: 2, schema: EV }, [b.source(null, EV), b.source(null, EV, CHANGELOG)]);
    b.sink({ kind: 'collect' }, u);
    const sink = recorder(EV);
    const graph = createGraph(b.build(), sink);
    graph.push(0, { kind: 'batch', batch: evBatch([['a', 1, 0]]), ops: null });
    graph.push(1, log([['b', 2, 0]], [-1]));
    expect(sink.events.map((e) => (e.kind === 'batch' ? e.ops : e.kind))).toEqual([[1], [-1]]);
  });

  it('HOP refuses a snapshot written before panes instead of misreading it', () => {
    const hop: PhysicalOp = { ...tumbleOp(EV, 10_000, 2, [0], [agg('count_star', -1, 'n')], 'changes'), spec: { kind: 'hop', slideMs: 2000, sizeMs: 10_000, offsetMs: 0 } };
    const p = createPipeline([hop], { batch: () => undefined });
    p.push({ kind: 'batch', batch: rowsBatch(EV, [['a', 1, 100]] as Row[]), ops: null });
    const [snap] = p.snapshot();
    const old = { batch: snap!.batch, meta: { watermark: null, late: 0 } }; // no pane width: the per-window form
    const q = createPipeline([hop], { batch: () => undefined });
    expect(() => q.restore([old])).toThrow(/per-window state/);
    q.restore([snap!]);
    expect(q.metrics()[0]!.stateRows).toBe(1);
  });

  it('keeps BOOLEAN, ROW and NULL cells through the row store (Top-N output)', () => {
    const row = { kind: 'struct' as const, fields: [{ name: 'x', type: T.bigint, nullable: true }, { name: 's', type: T.varchar, nullable: true }] };
    const schema = { fields: [...EV.fields, { name: 'f', type: T.boolean, nullable: true }, { name: 'r', type: row, nullable: true }] };
    const op = { ...topNOp(schema, { partitionBy: [0], orderBy: [{ index: 1, desc: false }], limit: 1 }) };
    const b = new GraphBuilder();
    b.sink({ kind: 'collect' }, b.op(op, [b.source(null, schema)]));
    const plan = b.build();
    const sink = recorder(plan.nodes.at(-1)!.schema);
    const g = createGraph(plan, sink);
    g.push(0, { kind: 'batch', batch: rowsBatch(schema, [['a', 2, null, true, { x: 1, s: 'p' }], ['a', 1, null, false, { x: null, s: 'q' }], [null, null, 5, null, null]] as Row[]), ops: null });
    g.end();
    expect(changes(sink).map((r) => [r.k, r.v, r.ts, r.f, r.r])).toEqual([['a', 1, null, false, { x: null, s: 'q' }], [null, null, '1970-01-01T00:00:00.005Z', null, null]]);
  });
});
