/**
 * SELECT without EMIT: a pull query. It reads materialized views as they are now and answers once,
 * as a batch query would over the same rows.
 *
 * The planner lowers it to a dataflow graph like any query (planner/lower.ts): one input per view it
 * reads — several for joins and UNION ALL — and operators up to a `collect` sink. It runs on the one
 * runtime (executor/graph.ts) through the one driver (queries/driver.ts): each view's committed rows
 * are pushed into its input in slices, then end of input. Operators that wait for a watermark (interval and window joins, window aggregates) emit
 * everything at end of input, as over any bounded input: `end()` is a watermark at +infinity for them.
 *
 * Which epoch: every view is read at its own last committed epoch (`QueryTable.epoch`) when the query
 * runs. A query table only ever shows whole epochs (connectors/table/query-table.ts), and the whole run
 * is synchronous, so no commit lands in the middle of it: a view read twice (a self-join) is read at
 * the same epoch both times. Two different views are each at their own latest epoch; their queries
 * commit independently, so a join of two views may pair epochs that were never current together.
 *
 * What the graph emits is the result, row by row as it comes: the views are read as append-only inputs,
 * no barrier is pushed, so an aggregate emits each group once at end of input, and the outer and anti
 * joins the planner lowers for pull queries emit final rows only (planner/lower.ts `boundedJoin`).
 * Nothing is taken back, so ORDER BY and LIMIT (sort and limit, which read no deletes) are exact.
 *
 * The result is bounded (MAX_PULL_RESULT_BYTES, counted as rows are made), and the input is pushed in
 * slices so an append-only result over its budget stops after a slice, not after the whole view.
 */
import type { QueryTable } from '../../connectors/table/query-table.ts';
import type { GraphSink } from '../../executor/graph.ts';
import { batchRows, rowObject } from '../../executor/rows.ts';
import type { PhysicalPlan } from '../../planner/index.ts';
import { createDriver } from '../driver.ts';
import type { StatementResult } from '../engine-api.ts';
import { columnsOf, resultBudget } from '../results.ts';
import type { Handler } from './context.ts';

/** Rows of a view pushed through a pull query at a time. */
export const PULL_SLICE_ROWS = 1024;

export const pullSelect: Handler<'pull'> = (ctx, p) => runPull(p.physical, p.visibleCount, (view) => ctx.viewTable?.(view) ?? ctx.queries.table(view));

/** Runs a pull query's plan over the views' current rows (`tableOf` finds a view's table). */
export function runPull(plan: PhysicalPlan, visibleCount: number, tableOf: (view: string) => QueryTable | undefined): StatementResult {
  const schema = plan.schema;
  const budget = resultBudget('the result');
  const out: Record<string, unknown>[] = [];
  run(plan, {
    batch(b, ops) {
      // Over bounded append-only inputs with no barrier, every operator emits each row once, final:
      // aggregates at end of input, one upsert per group. A delete would mean a row taken back.
      if (ops?.some((o) => o < 0)) throw new Error('a pull query\'s result took back a row: its plan is not one a pull query runs');
      for (const r of batchRows(b, schema)) out.push(budget.add(rowObject(schema, r, visibleCount)));
    },
  }, tableOf);
  return { statement: 'SELECT', columns: columnsOf(schema, visibleCount), rows: out };
}

/**
 * Pushes every view's rows into its input, in slices, then ends every input: through the driver
 * (queries/driver.ts), the one loop every way of running a query shares; a view's rows are a
 * `changes` input (decoded already, no watermark).
 */
function run(plan: PhysicalPlan, sink: GraphSink, tableOf: (view: string) => QueryTable | undefined): void {
  const driver = createDriver({ plan, sink, inputs: plan.sources.map((_, index) => ({ kind: 'changes' as const, index })) });
  plan.sources.forEach((src, index) => {
    if (src.kind !== 'view_source') throw new Error('a pull query reads materialized views only');
    const table = tableOf(src.view);
    if (!table) throw new Error(`view ${src.view} has no table`);
    if (!table.size) return;
    const all = table.batch();
    for (let at = 0; at < all.numRows; at += PULL_SLICE_ROWS) driver.batch(index, all.slice(at, at + PULL_SLICE_ROWS), null);
  });
  driver.end();
}
