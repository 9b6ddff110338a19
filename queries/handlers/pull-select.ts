/**
 * SELECT without EMIT: a pull query. It reads materialized views as they are now and answers once,
 * as a batch query would over the same rows.
 *
 * The planner lowers it to a dataflow graph like any query (planner/lower.ts): one input per view it
 * reads — several for joins and UNION ALL — and operators up to a `collect` sink. It runs on the one
 * runtime (executor/graph.ts): each view's committed rows are pushed into its input in slices, then end
 * of input. Operators that wait for a watermark (interval and window joins, window aggregates, event-time
 * temporal joins) emit everything at end of input, as over any bounded input: `end()` is a watermark
 * at +infinity for them.
 *
 * Which epoch: every view is read at its own last committed epoch (`QueryTable.epoch`) when the query
 * runs. A query table only ever shows whole epochs (connectors/table/query-table.ts), and the whole run
 * is synchronous, so no commit lands in the middle of it: a view read twice (a self-join) is read at
 * the same epoch both times. Two different views are each at their own latest epoch; their queries
 * commit independently, so a join of two views may pair epochs that were never current together.
 *
 * What the graph emits: append-only rows are the result as they come. A changelog (a GROUP BY, or an
 * outer / anti join of keyed views, which retracts a padded row when its match arrives) is applied by
 * its key, and the result is what is left at the end. ORDER BY and LIMIT at the top of the plan then run
 * over that applied result, not over the changes (sort and limit do not read deletes).
 *
 * The result is bounded (MAX_PULL_RESULT_BYTES, counted as rows are made), and the input is pushed in
 * slices so an append-only result over its budget stops after a slice, not after the whole view.
 */
import type { RecordBatch } from 'apache-arrow';
import type { QueryTable } from '../../connectors/table/query-table.ts';
import { createGraph, type GraphSink } from '../../executor/graph.ts';
import { UPSERT } from '../../executor/message.ts';
import { createPipeline } from '../../executor/pipeline.ts';
import { batchRows, rowObject, rowsBatch, type Row } from '../../executor/rows.ts';
import type { PhysicalGraph, GraphNode, StreamKind } from '../../planner/physical-graph.ts';
import type { PhysicalOp, PhysicalPlan, Schema } from '../../planner/index.ts';
import type { StatementResult } from '../engine-api.ts';
import { columnsOf, resultBudget } from '../results.ts';
import type { Handler } from './context.ts';

/** Rows of a view pushed through a pull query at a time. */
export const PULL_SLICE_ROWS = 1024;

export const pullSelect: Handler<'pull'> = (ctx, p) => runPull(p.physical, p.visibleCount, (view) => ctx.queries.table(view));

/** Runs a pull query's plan over the views' current rows (`tableOf` finds a view's table). */
export function runPull(plan: PhysicalPlan, visibleCount: number, tableOf: (view: string) => QueryTable | undefined): StatementResult {
  const schema = plan.schema;
  const budget = resultBudget('the result');
  const out: Record<string, unknown>[] = [];
  const emit = (r: Row) => { out.push(budget.add(rowObject(schema, r, visibleCount))); };
  const { head, tail, top } = splitTail(plan.graph);

  if (top.stream.kind === 'append' && tail.length === 0) {
    // Rows are final as they come.
    run(head, { batch(b) { for (const r of batchRows(b, schema)) emit(r); } }, tableOf);
  } else {
    const applied = new KeyedRows(top.stream);
    run(head, { batch(b, ops) { applied.apply(b, ops, top.schema); } }, tableOf);
    if (tail.length === 0) {
      for (const r of applied.rows()) emit(r);
    } else {
      const pipeline = createPipeline(tail, { batch(b) { for (const r of batchRows(b, schema)) emit(r); } });
      const rows = applied.rows();
      if (rows.length) pipeline.push({ kind: 'batch', batch: rowsBatch(top.schema, rows), ops: null });
      pipeline.push({ kind: 'end' });
    }
  }
  return { statement: 'SELECT', columns: columnsOf(schema, visibleCount), rows: out };
}

/** Pushes every view's rows into its input, in slices, then ends every input. */
function run(graph: PhysicalGraph, sink: GraphSink, tableOf: (view: string) => QueryTable | undefined): void {
  const g = createGraph(graph, sink);
  for (const n of graph.nodes) {
    if (n.role !== 'source') continue;
    const src = n.source;
    if (!src || src.kind !== 'view_source') throw new Error('a pull query reads materialized views only');
    const table = tableOf(src.view);
    if (!table) throw new Error(`view ${src.view} has no table`);
    if (!table.size) continue;
    const all = table.batch();
    // A keyed view read as its changelog: every row is an upsert of its key (the table holds one row a key).
    const keyed = n.stream.kind === 'changelog';
    for (let at = 0; at < all.numRows; at += PULL_SLICE_ROWS) {
      const slice = all.slice(at, at + PULL_SLICE_ROWS);
      g.push(n.input, { kind: 'batch', batch: slice, ops: keyed ? new Int8Array(slice.numRows).fill(UPSERT) : null });
    }
  }
  g.end();
}

/**
 * Splits ORDER BY / LIMIT (sort and limit nodes right before the sink) off the graph: `head` is the
 * graph up to `top` (the node they read), collecting `top`'s stream; `tail` their operators in order.
 */
function splitTail(graph: PhysicalGraph): { head: PhysicalGraph; tail: PhysicalOp[]; top: GraphNode } {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const sinks = graph.nodes.filter((n) => n.role === 'sink');
  if (sinks.length !== 1) throw new Error('a pull query has one sink');
  const sink = sinks[0]!;
  const tail: PhysicalOp[] = [];
  const cut = new Set<string>([sink.id]);
  let top = byId.get(sink.inputs[0]!)!;
  while (top.role === 'op' && (top.op.kind === 'sort' || top.op.kind === 'limit') && consumers(graph, top.id) === 1) {
    tail.unshift(top.op);
    cut.add(top.id);
    top = byId.get(top.inputs[0]!)!;
  }
  if (tail.length === 0) return { head: graph, tail, top };
  const collect: GraphNode = { id: sink.id, role: 'sink', sink: { kind: 'collect' }, inputs: [top.id], schema: top.schema, stream: top.stream };
  const head: PhysicalGraph = { nodes: [...graph.nodes.filter((n) => !cut.has(n.id)), collect], fingerprint: graph.fingerprint };
  return { head, tail, top };
}

function consumers(graph: PhysicalGraph, id: string): number {
  return graph.nodes.filter((n) => n.inputs.includes(id)).length;
}

/**
 * A stream applied: append-only rows are kept in order; a changelog's upserts replace the row of their
 * key (in place, so a key keeps the position it first had) and its deletes remove it.
 */
class KeyedRows {
  private readonly list: Row[] = [];
  private readonly byKey = new Map<string, Row>();
  constructor(private readonly stream: StreamKind) {}

  apply(b: RecordBatch, ops: Int8Array | null, schema: Schema): void {
    const rows = batchRows(b, schema);
    if (this.stream.kind === 'append' || this.stream.key.length === 0) {
      // A chain's changelog whose key the planner did not derive (planner/physical-graph.ts
      // `chainToGraph`): over a view's rows it only ever upserts each of its rows once.
      rows.forEach((r, i) => {
        if (ops && ops[i]! < 0) throw new Error('a pull query\'s result deletes a row it has no key for');
        this.list.push(r);
      });
      return;
    }
    const key = this.stream.key;
    rows.forEach((r, i) => {
      const k = JSON.stringify(key.map((c) => r[c] ?? null));
      if (ops && ops[i]! < 0) this.byKey.delete(k);
      else this.byKey.set(k, r);
    });
  }

  rows(): Row[] { return this.byKey.size ? [...this.byKey.values()] : this.list; }
}
