/**
 * Runs a continuous query in memory: plans the SQL against a catalog, feeds batches of rows through the
 * pipeline with watermarks derived as the Kafka source derives them, and applies the output to an
 * upsert table, so tests compare final tables with expected rows.
 */
import { createCatalog, planRequest, type PhysicalPlan, type SourceDef } from '../../planner/index.ts';
import { createPipeline, type Pipeline } from '../../executor/pipeline.ts';
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
  const pipeline = createPipeline(plan.ops, {
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
  }, { onLate: (l) => late.push(l) });
  const wmCol = src.def.watermark;
  let maxTs = -Infinity;
  let epoch = 0;
  return {
    plan, source: src.def, pipeline, appended, late, changes,
    feed(rows) {
      pipeline.push({ kind: 'batch', batch: rowsBatch(src.def.schema, rows), ops: null });
      if (wmCol) {
        for (const r of rows) { const v = r[wmCol.index]; const t = typeof v === 'string' ? Date.parse(v) : Number(v); if (t > maxTs) maxTs = t; }
        pipeline.push({ kind: 'watermark', time: maxTs - wmCol.delayMs });
      }
      if (opts.barrierEachBatch) pipeline.push({ kind: 'barrier', epoch: ++epoch });
    },
    barrier() { pipeline.push({ kind: 'barrier', epoch: ++epoch }); },
    end() { pipeline.push({ kind: 'end' }); },
    table: () => (keyCols ? [...table.values()] : appended),
  };
}
