/**
 * Runs a continuous query in memory: plans the SQL against a catalog, feeds batches of rows through the
 * driver (queries/driver.ts, the loop continuous queries run in) with watermarks derived by its tracker
 * as for a Kafka source (one partition), and applies the output to an upsert table, so tests compare
 * final tables with expected rows.
 */
import { createCatalog, planRequest, type PhysicalPlan, type SourceDef } from '../../planner/index.ts';
import type { Pipeline } from '../../executor/pipeline.ts';
import { createDriver } from '../../queries/driver.ts';
import { batchRows, rowsBatch, jsonValue, type Row } from '../../executor/rows.ts';
import type { LateRows } from '../../executor/operator.ts';

export interface QueryRun {
  plan: PhysicalPlan;
  source: SourceDef;
  pipeline: Pipeline;
  /** Feeds rows (arrays in source column order); the watermark follows as max(ts) - delay after the batch. */
  feed(rows: Row[]): void;
  barrier(): void;
  end(): void;
  /** Current table: upserted rows by key (or all rows when append-only), as JSON-like objects. */
  table(): Record<string, unknown>[];
  appended: Record<string, unknown>[];
  late: LateRows[];
  changes: { op: number; row: Record<string, unknown> }[];
}

export function runQuery(ddl: string, query: string, opts: { barrierEachBatch?: boolean } = {}): QueryRun {
  const cat = createCatalog();
  const planned = planRequest(`${ddl};\n${query}`, cat);
  const src = planned[0]!.planned;
  if (src.kind !== 'create_source') throw new Error('first statement must create the source');
  const q = planned[planned.length - 1]!.planned;
  if (q.kind !== 'create_materialized_view' && q.kind !== 'create_sink') throw new Error('last statement must be a continuous query');
  const plan = q.physical;
  const schema = plan.schema;
  const keyCols = q.def.keyColumns;
  const visible = q.kind === 'create_materialized_view' ? q.def.visibleCount : schema.fields.length;
  const table = new Map<string, Record<string, unknown>>();
  const appended: Record<string, unknown>[] = [];
  const changes: { op: number; row: Record<string, unknown> }[] = [];
  const late: LateRows[] = [];
  const toObj = (r: Row) => { const o: Record<string, unknown> = {}; for (let c = 0; c < visible; c++) o[schema.fields[c]!.name] = jsonValue(schema.fields[c]!.type, r[c]); return o; };
  const driver = createDriver({
    plan,
    sink: {
      batch(b, ops) {
        const rows = batchRows(b, schema);
        rows.forEach((r, i) => {
          const op = ops ? ops[i]! : 1;
          const obj = toObj(r);
          changes.push({ op, row: obj });
          if (!ops) appended.push(obj);
          if (!keyCols) return;
          const k = JSON.stringify(keyCols.map((c) => r[c]));
          if (op > 0) table.set(k, obj); else table.delete(k);
        });
      },
    },
    onLate: (l) => late.push(l),
  });
  if (!driver.pipeline) throw new Error('runQuery runs single-input queries');
  const pipeline = driver.pipeline;
  let epoch = 0;
  return {
    plan, source: src.def, pipeline, appended, late, changes,
    feed(rows) {
      driver.batch(0, rowsBatch(src.def.schema, rows), null);
      driver.advance();
      if (opts.barrierEachBatch) driver.barrier(++epoch);
    },
    barrier() { driver.barrier(++epoch); },
    end() { driver.end(); },
    table: () => (keyCols ? [...table.values()] : appended),
  };
}
