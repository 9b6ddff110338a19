/**
 * The graph runtime's contract, case by case: input ports, watermark = min over inputs (forwarded only
 * when it advances), aligned barriers (batches behind a barrier wait), consistent snapshots while a
 * barrier is half-way, end alignment, fan-out, stream kinds and EXPLAIN text, restore refusals, and
 * state through Arrow IPC files and the checkpoint log.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createGraph, StateMismatchError, type GraphSnapshot } from '../../executor/graph.ts';
import { fromEpochState, fromIpcFiles, toEpochState, toIpcFiles } from '../../executor/graph-state.ts';
import { createCheckpointLog } from '../../queries/checkpoint-log.ts';
import { chainToGraph, GraphBuilder, GraphPlanError, printGraph, type PhysicalGraph } from '../../planner/physical-graph.ts';
import { createCatalog, planRequest } from '../../planner/index.ts';
import { T } from '../../planner/types.ts';
import { agg, call, col, EV, evBatch, filterOp, groupOp, lit, recorder, tumbleOp } from './graph-helpers.ts';

const UNION = { kind: 'union' as const, inputs: 2, schema: EV };

/** input 0 and input 1 → union → sink. */
function unionGraph(): PhysicalGraph {
  const g = new GraphBuilder();
  const a = g.source(null, EV); const b = g.source(null, EV);
  g.sink({ kind: 'collect' }, g.op(UNION, [a, b]));
  return g.build();
}

/** Two inputs each counted per key, the counts unioned: stateful nodes upstream of a two-input node. */
function countsGraph(): PhysicalGraph {
  const g = new GraphBuilder();
  const count = groupOp(EV, [0], [agg('count_star', -1, 'n')]);
  const a = g.op(count, [g.source(null, EV)]);
  const b = g.op(count, [g.source(null, EV)]);
  g.sink({ kind: 'collect' }, g.op({ kind: 'union', inputs: 2, schema: count.schema }, [a, b]));
  return g.build();
}

const rowsOf = (events: ReturnType<typeof recorder>['events']) => events.flatMap((e) => (e.kind === 'batch' ? e.rows.map((r) => r.v) : []));

describe('graph runtime', () => {
  it('buffers batches behind a barrier until it arrived on every input, then replays them after it', () => {
    const sink = recorder(EV);
    const g = createGraph(unionGraph(), sink);
    g.push(0, { kind: 'batch', batch: evBatch([['a', 1, 0]]), ops: null });
    g.push(0, { kind: 'barrier', epoch: 1 });
    g.push(0, { kind: 'batch', batch: evBatch([['a', 2, 0]]), ops: null }); // behind the barrier: waits
    g.push(1, { kind: 'batch', batch: evBatch([['b', 3, 0]]), ops: null }); // before input 1's barrier: passes
    expect(sink.events.map((e) => e.kind)).toEqual(['batch', 'batch']);
    expect(rowsOf(sink.events)).toEqual([1, 3]);
    expect(() => g.snapshot()).toThrow(/has not reached every node/);
    g.push(1, { kind: 'barrier', epoch: 1 });
    expect(sink.events.map((e) => (e.kind === 'batch' ? e.rows[0]!.v : e.kind))).toEqual([1, 3, 'barrier', 2]);
  });

  it('snapshots the state at the barrier even when a node changes before the barrier reached every node', () => {
    const plan = countsGraph();
    const g = createGraph(plan, recorder(plan.nodes.at(-1)!.schema));
    g.push(0, { kind: 'batch', batch: evBatch([['a', 1, 0]]), ops: null });
    g.push(0, { kind: 'barrier', epoch: 1 });
    // Input 0's counter aligned epoch 1 with a=1; this batch belongs to epoch 2.
    g.push(0, { kind: 'batch', batch: evBatch([['a', 1, 0], ['a', 1, 0]]), ops: null });
    g.push(1, { kind: 'batch', batch: evBatch([['b', 1, 0]]), ops: null });
    g.push(1, { kind: 'barrier', epoch: 1 });
    const snap = g.snapshot();
    const sink = recorder(plan.nodes.at(-1)!.schema);
    const fresh = createGraph(plan, sink);
    fresh.restore(fromIpcFiles(toIpcFiles(snap)));
    fresh.end();
    // Nothing changed since the barrier in the restored graph: the counts as of epoch 1 are not re-sent.
    expect(sink.events.filter((e) => e.kind === 'batch')).toEqual([]);
    fresh.push(0, { kind: 'batch', batch: evBatch([['a', 1, 0]]), ops: null });
    const again = createGraph(plan, sink);
    again.restore(snap);
    again.push(0, { kind: 'batch', batch: evBatch([['a', 1, 0]]), ops: null });
    again.end();
    const last = sink.events.filter((e) => e.kind === 'batch').at(-1)!;
    expect(last.kind === 'batch' && last.rows).toEqual([{ k: 'a', n: 2 }]); // 1 at the barrier + 1, not 3 + 1
  });

  it('a node\'s watermark is the minimum over its inputs, forwarded only when it advances; an ended input stops holding it', () => {
    const sink = recorder(EV);
    const g = createGraph(unionGraph(), sink);
    const wms = () => sink.events.filter((e) => e.kind === 'watermark').map((e) => (e as { time: number }).time);
    g.push(0, { kind: 'watermark', time: 10 });
    expect(wms()).toEqual([]);
    g.push(1, { kind: 'watermark', time: 5 });
    expect(wms()).toEqual([5]);
    g.push(1, { kind: 'watermark', time: 20 });
    expect(wms()).toEqual([5, 10]);
    g.push(0, { kind: 'watermark', time: 8 }); // regresses: ignored
    g.push(0, { kind: 'watermark', time: 10 }); // same: nothing new
    expect(wms()).toEqual([5, 10]);
    g.push(0, { kind: 'end' });
    expect(wms()).toEqual([5, 10, 20]);
    expect(sink.events.some((e) => e.kind === 'end')).toBe(false);
    g.push(1, { kind: 'end' });
    expect(sink.events.at(-1)!.kind).toBe('end');
  });

  it('an ended input counts as aligned for barriers', () => {
    const sink = recorder(EV);
    const g = createGraph(unionGraph(), sink);
    g.push(0, { kind: 'barrier', epoch: 1 });
    g.push(0, { kind: 'batch', batch: evBatch([['a', 7, 0]]), ops: null });
    expect(sink.events).toEqual([]);
    g.push(1, { kind: 'end' });
    expect(sink.events.map((e) => e.kind)).toEqual(['barrier', 'batch']);
  });

  it('fans out: one node feeding two branches that meet again delivers every row to both', () => {
    const b = new GraphBuilder();
    const src = b.source(null, EV);
    const big = b.op(filterOp(EV, call('gt', T.boolean, col(EV, 'v'), lit(2))), [src]);
    const all = b.op(filterOp(EV, call('is_not_null', T.boolean, col(EV, 'k'))), [src]);
    b.sink({ kind: 'collect' }, b.op(UNION, [big, all]));
    const sink = recorder(EV);
    const g = createGraph(b.build(), sink);
    g.push(0, { kind: 'batch', batch: evBatch([['a', 1, 0], ['b', 3, 0]]), ops: null });
    g.push(0, { kind: 'watermark', time: 100 });
    g.push(0, { kind: 'barrier', epoch: 1 });
    g.push(0, { kind: 'end' });
    expect(rowsOf(sink.events).sort()).toEqual([1, 3, 3]);
    // One watermark, one barrier and one end reach the sink, though two paths lead there.
    expect(sink.events.filter((e) => e.kind !== 'batch').map((e) => e.kind)).toEqual(['watermark', 'barrier', 'end']);
  });

  it('refuses to restore a snapshot of another plan, unknown nodes or tables, and changes nothing then', () => {
    const plan = countsGraph();
    const g = createGraph(plan, recorder(plan.nodes.at(-1)!.schema));
    g.push(0, { kind: 'batch', batch: evBatch([['a', 1, 0]]), ops: null });
    g.barrier(1);
    const snap = g.snapshot();
    const other = createGraph(unionGraph(), recorder(EV));
    expect(() => other.restore(snap)).toThrow(StateMismatchError);
    expect(() => other.restore(snap)).toThrow(/another plan/);
    const [id] = Object.keys(snap.nodes);
    const badTable: GraphSnapshot = { ...snap, nodes: { ...snap.nodes, [id!]: { tables: { bogus: snap.nodes[id!]!.tables.state! }, meta: {} } } };
    const target = createGraph(plan, recorder(plan.nodes.at(-1)!.schema));
    expect(() => target.restore(badTable)).toThrow(/table bogus/);
    const badNode: GraphSnapshot = { ...snap, nodes: { ...snap.nodes, n9: snap.nodes[id!]! } };
    expect(() => target.restore(badNode)).toThrow(/node n9/);
    const missing: GraphSnapshot = { ...snap, nodes: {} };
    expect(() => target.restore(missing)).toThrow(/no state for node/);
    // Nothing was applied: the target's counters are empty.
    expect(Object.values(target.metrics()).reduce((s, m) => s + m.stateRows, 0)).toBe(0);
  });

  it('state goes through the checkpoint log (Arrow IPC files with checksums) and comes back equal', async () => {
    const plan = countsGraph();
    const g = createGraph(plan, recorder(plan.nodes.at(-1)!.schema));
    g.push(0, { kind: 'batch', batch: evBatch([['a', 1, 0], ['b', 1, 0]]), ops: null });
    g.push(1, { kind: 'batch', batch: evBatch([['a', 1, 0]]), ops: null });
    g.barrier(1);
    const snap = g.snapshot();
    const dir = await mkdtemp(path.join(tmpdir(), 'graph-state-'));
    try {
      const log = createCheckpointLog(dir);
      await log.writeOffsets({ epoch: 1, ranges: [], watermark: null, time: 0 });
      const sums = await log.writeState(1, toEpochState(snap, { counters: { x: 1 } }));
      await log.commit(1, sums);
      const back = (await log.latest()).restored!;
      const restored = fromEpochState(back.state);
      expect(restored.planFingerprint).toBe(plan.fingerprint);
      expect(Object.keys(restored.nodes).sort()).toEqual(Object.keys(snap.nodes).sort());
      const g2 = createGraph(plan, recorder(plan.nodes.at(-1)!.schema));
      g2.restore(restored);
      expect(g2.metrics()).toEqual(g.metrics());
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  it('derives stream kinds, refuses what it cannot compute, and prints every node for EXPLAIN', () => {
    const b = new GraphBuilder();
    const s = b.source(null, EV);
    const counts = b.op(groupOp(EV, [0], [agg('count_star', -1, 'n')]), [s]);
    expect(() => b.op(tumbleOp(groupOp(EV, [0], [agg('count_star', -1, 'n')]).schema, 1000, 1, [0], [agg('count_star', -1, 'c')], 'window_close'), [counts]))
      .toThrow(GraphPlanError);
    const perN = b.op(groupOp(groupOp(EV, [0], [agg('count_star', -1, 'n')]).schema, [1], [agg('count_star', -1, 'keys')]), [counts]);
    b.sink({ kind: 'collect' }, perN);
    const text = printGraph(b.build());
    expect(text).toBe([
      'n3 Collect <- [n2] | changelog key=[n]',
      'n2 UpdatingAggregate: groupBy=[n], aggs=[count(*) AS keys] <- [n1] | changelog key=[n]',
      'n1 UpdatingAggregate: groupBy=[k], aggs=[count(*) AS n] <- [n0] | changelog key=[k]',
      'n0 Input #0 | append-only',
    ].join('\n'));
  });

  it('runs the planner\'s chain plans as graphs with stable ids', () => {
    const planned = planRequest(`CREATE SOURCE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
      WITH (connector = 'kafka', topic = 'bids', format = 'json');
      CREATE MATERIALIZED VIEW hot AS SELECT window_start, window_end, auction, COUNT(*) AS n FROM HOP(bids, ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND)
      WHERE price > 10 GROUP BY window_start, window_end, auction`, createCatalog());
    const q = planned[1]!.planned;
    if (q.kind !== 'create_materialized_view') throw new Error('expected a view');
    const a = chainToGraph(q.physical); const b = chainToGraph(q.physical);
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(printGraph(a).split('\n').map((l) => l.replace(/:.*\|/, ' |'))).toEqual([
      'n4 QueryTableSink | changelog key=[window_start, window_end, auction]',
      'n3 HopAggregate | changelog key=[window_start, window_end, auction]',
      'n2 Project | append-only',
      'n1 Filter | append-only',
      'n0 KafkaSource | append-only',
    ]);
  });
});
