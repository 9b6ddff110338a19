/**
 * Drives a continuous query's pipeline in memory the way the query runner does, for the executor's
 * property and golden tests: batches arrive from numbered partitions, the source watermark follows
 * each batch (min over partitions of max event time − delay, through WatermarkTracker), barriers
 * commit the sink's output, and a run can be killed at a barrier and resumed in a FRESH pipeline from
 * snapshots that went through Arrow IPC bytes, replaying the input after that barrier.
 */
import type { GraphSnapshot } from '../../executor/graph.ts';
import { fromIpcFiles, toIpcFiles } from '../../executor/graph-state.ts';
import { createCatalog, planRequest, type PhysicalPlan, type SourceDef } from '../../planner/index.ts';
import { createPipeline, type Pipeline } from '../../executor/pipeline.ts';
import { batchRows, jsonValue, rowsBatch, type Row } from '../../executor/rows.ts';
import type { OperatorMetrics } from '../../executor/operator.ts';
import { WatermarkTracker } from '../../executor/watermark.ts';

export type Step =
  | { readonly kind: 'batch'; readonly partition: number; readonly rows: readonly Row[] }
  | { readonly kind: 'barrier' };

export interface PlannedQuery {
  readonly source: SourceDef;
  readonly plan: PhysicalPlan;
  readonly keyColumns: readonly number[] | null;
  readonly visible: number;
  readonly emitOnClose: boolean;
}

export function planQuery(sql: string): PlannedQuery {
  const planned = planRequest(sql, createCatalog());
  const src = planned[0]!.planned;
  if (src.kind !== 'create_source') throw new Error('first statement must create the source');
  const q = planned[planned.length - 1]!.planned;
  if (q.kind !== 'create_materialized_view') throw new Error('last statement must create a materialized view');
  return {
    source: src.def, plan: q.physical, keyColumns: q.def.keyColumns, visible: q.def.visibleCount,
    emitOnClose: q.physical.sink.kind === 'query_table' && q.physical.sink.emit === 'window_close',
  };
}

export interface RunOptions {
  /** Kill the run after this barrier (0-based count of barriers), keep going `crashAfter` steps, then restore. */
  readonly restoreAtBarrier?: number;
  /** Steps the doomed pipeline still processes (their output is uncommitted and lost) before the crash. */
  readonly crashAfter?: number;
}

export interface RunResult {
  /** Final upsert table (EMIT CHANGES) as JSON-like objects. */
  readonly table: Record<string, unknown>[];
  /** Append-only rows (EMIT ON WINDOW CLOSE) in commit order. */
  readonly appended: Record<string, unknown>[];
  /** Every committed change (op +1 upsert, -1 delete). */
  readonly changes: { op: number; row: Record<string, unknown> }[];
  /** The watermark in force when each batch step was processed (by step index). */
  readonly watermarkAt: Map<number, number>;
  readonly lateRows: number;
  readonly metrics: OperatorMetrics[];
  readonly restored: boolean;
}

interface SinkState {
  table: Map<string, Record<string, unknown>>;
  appended: Record<string, unknown>[];
  changes: { op: number; row: Record<string, unknown> }[];
}

/** Serializes the graph's state as a checkpoint would: named tables as Arrow IPC files, plus JSON. */
function toBytes(s: GraphSnapshot): Record<string, Uint8Array> {
  return toIpcFiles(s);
}

function fromBytes(files: Record<string, Uint8Array>): GraphSnapshot {
  return fromIpcFiles(files);
}

export function runSteps(q: PlannedQuery, steps: readonly Step[], opts: RunOptions = {}): RunResult {
  const schema = q.plan.schema;
  const wmCol = q.source.watermark;
  const toObj = (r: Row) => {
    const o: Record<string, unknown> = {};
    for (let c = 0; c < q.visible; c++) o[schema.fields[c]!.name] = jsonValue(schema.fields[c]!.type, r[c]);
    return o;
  };
  const committed: SinkState = { table: new Map(), appended: [], changes: [] };
  let pending: { op: number; key: string | null; obj: Record<string, unknown> }[] = [];
  const commit = () => {
    for (const p of pending) {
      committed.changes.push({ op: p.op, row: p.obj });
      if (p.key === null) { committed.appended.push(p.obj); continue; }
      if (p.op > 0) committed.table.set(p.key, p.obj); else committed.table.delete(p.key);
    }
    pending = [];
  };
  const watermarkAt = new Map<number, number>();
  let restored = false;

  const start = (): { pipeline: Pipeline; tracker: WatermarkTracker; wm: { v: number } } => {
    const pipeline = createPipeline(q.plan.ops, {
      batch(b, ops) {
        batchRows(b, schema).forEach((r, i) => {
          const op = ops ? ops[i]! : 1;
          // An append-only output (EMIT ON WINDOW CLOSE) is a list; an upsert output a table by key.
          const key = ops === null && q.emitOnClose ? null : q.keyColumns ? JSON.stringify(q.keyColumns.map((c) => r[c])) : null;
          pending.push({ op, key, obj: toObj(r) });
        });
      },
      barrier: () => commit(),
      end: () => commit(),
    });
    return { pipeline, tracker: new WatermarkTracker(wmCol?.delayMs ?? 0, null), wm: { v: -Infinity } };
  };

  const partitionsFrom = (i: number) => new Set(steps.slice(i).flatMap((s) => (s.kind === 'batch' ? [String(s.partition)] : [])));
  let cur = start();
  for (const p of partitionsFrom(0)) cur.tracker.expect(p);
  let barriers = 0;
  let checkpoint: { step: number; bytes: ReturnType<typeof toBytes>; tracker: string; wm: number } | null = null;
  let crashAt = -1;
  for (let i = 0; i <= steps.length; i++) {
    if (i === crashAt) {
      // Crash: the uncommitted output is lost; a fresh pipeline resumes from the checkpoint's bytes.
      pending = [];
      cur = start();
      cur.pipeline.graph.restore(fromBytes(checkpoint!.bytes));
      cur.tracker.restore(JSON.parse(checkpoint!.tracker), i);
      for (const p of partitionsFrom(checkpoint!.step + 1)) cur.tracker.expect(p);
      cur.wm.v = checkpoint!.wm;
      restored = true;
      crashAt = -1;
      i = checkpoint!.step; // replay from the step after the barrier
      continue;
    }
    if (i === steps.length) break;
    const s = steps[i]!;
    if (s.kind === 'barrier') {
      cur.pipeline.push({ kind: 'barrier', epoch: ++barriers });
      if (!restored && checkpoint === null && opts.restoreAtBarrier === barriers - 1) {
        checkpoint = { step: i, bytes: toBytes(cur.pipeline.graph.snapshot()), tracker: JSON.stringify(cur.tracker.snapshot()), wm: cur.wm.v };
        // The doomed pipeline goes on, but never through another barrier (that one would have been the checkpoint).
        let next = i + 1;
        while (next < steps.length && steps[next]!.kind !== 'barrier') next++;
        crashAt = Math.min(next, i + 1 + (opts.crashAfter ?? 0));
      }
      continue;
    }
    watermarkAt.set(i, cur.wm.v);
    cur.pipeline.push({ kind: 'batch', batch: rowsBatch(q.source.schema, s.rows as Row[]), ops: null });
    if (wmCol) {
      let max = -Infinity;
      for (const r of s.rows) { const v = r[wmCol.index]; if (v !== null && v !== undefined) { const t = typeof v === 'string' ? Date.parse(v) : Number(v); if (t > max) max = t; } }
      cur.tracker.observe(String(s.partition), max, i);
      const w = cur.tracker.current(i);
      if (w > cur.wm.v) { cur.wm.v = w; cur.pipeline.push({ kind: 'watermark', time: w }); }
    }
  }
  cur.pipeline.push({ kind: 'end' });
  const metrics = cur.pipeline.metrics();
  return {
    table: [...committed.table.values()],
    appended: committed.appended,
    changes: committed.changes,
    watermarkAt,
    lateRows: metrics.reduce((s, m) => s + m.lateRowsDropped, 0),
    metrics,
    restored,
  };
}

/** Canonical order for comparing row sets. */
export function sortRows<T>(rows: readonly T[]): T[] {
  return [...rows].map((r) => [JSON.stringify(r), r] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((x) => x[1]);
}
