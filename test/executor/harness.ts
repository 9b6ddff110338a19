/**
 * Drives a continuous query in memory through the driver the query runner uses (queries/driver.ts),
 * for the executor's property and golden tests: batches arrive from numbered partitions, the source
 * watermark follows each batch (the driver's tracker: min over partitions of max event time − delay), barriers
 * commit the sink's output, and a run can be killed at a barrier and resumed in a FRESH pipeline from
 * snapshots that went through Arrow IPC bytes, replaying the input after that barrier.
 */
import type { GraphSnapshot } from '../../executor/graph.ts';
import { fromIpcFiles, toIpcFiles } from '../../executor/graph-state.ts';
import { createCatalog, planRequest, type PhysicalPlan, type SourceDef } from '../../planner/index.ts';
import { createDriver, type Driver } from '../../queries/driver.ts';
import { batchRows, jsonValue, rowsBatch, type Row } from '../../executor/rows.ts';
import type { OperatorMetrics } from '../../executor/operator.ts';

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

  const start = (): Driver => createDriver({
    plan: q.plan,
    sink: {
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
    },
  });

  const partitionsFrom = (i: number) => new Set(steps.slice(i).flatMap((s) => (s.kind === 'batch' ? [String(s.partition)] : [])));
  let cur = start();
  for (const p of partitionsFrom(0)) cur.expect(0, p);
  let barriers = 0;
  let checkpoint: { step: number; bytes: ReturnType<typeof toBytes>; tracker: string } | null = null;
  let crashAt = -1;
  for (let i = 0; i <= steps.length; i++) {
    if (i === crashAt) {
      // Crash: the uncommitted output is lost; a fresh driver resumes from the checkpoint's bytes.
      pending = [];
      cur = start();
      cur.graph.restore(fromBytes(checkpoint!.bytes));
      cur.restoreTrackers(JSON.parse(checkpoint!.tracker));
      for (const p of partitionsFrom(checkpoint!.step + 1)) cur.expect(0, p);
      restored = true;
      crashAt = -1;
      i = checkpoint!.step; // replay from the step after the barrier
      continue;
    }
    if (i === steps.length) break;
    const s = steps[i]!;
    if (s.kind === 'barrier') {
      cur.barrier(++barriers);
      if (!restored && checkpoint === null && opts.restoreAtBarrier === barriers - 1) {
        checkpoint = { step: i, bytes: toBytes(cur.graph.snapshot()), tracker: JSON.stringify(cur.trackerStates()) };
        // The doomed driver goes on, but never through another barrier (that one would have been the checkpoint).
        let next = i + 1;
        while (next < steps.length && steps[next]!.kind !== 'barrier') next++;
        crashAt = Math.min(next, i + 1 + (opts.crashAfter ?? 0));
      }
      continue;
    }
    watermarkAt.set(i, cur.input(0).watermark);
    cur.batch(0, rowsBatch(q.source.schema, s.rows as Row[]), null, String(s.partition));
    cur.advance();
  }
  cur.end();
  const metrics = cur.operators().map((o) => o.metrics);
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
