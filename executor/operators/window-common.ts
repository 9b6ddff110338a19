/**
 * What the tumble, hop and cumulate aggregate operators share: window arithmetic, lateness, and the
 * operator shell around WindowedAggregation. Each window family only says which windows a row is in.
 */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../../planner/physical.ts';
import type { AggCall } from '../../planner/types.ts';
import { columnVector, usedVectors } from '../arrow.ts';
import { aggInputs, WindowedAggregation, type AggInputs } from '../kernels/window-state.ts';
import type { Operator, OperatorContext, OperatorState, Output } from '../operator.ts';
import { asF64, type Vector } from '../vector.ts';
import { lateOrigin } from './expand.ts';

export type WindowAggregateOp = Extract<PhysicalOp, { kind: 'window_aggregate' }>;

/** Floor modulo: the offset of t within a period starting at `offset`, always in [0, period). */
export function floorMod(t: number, period: number, offset: number): number {
  const m = (t - offset) % period;
  return m < 0 ? m + period : m;
}

/**
 * Windows a row falls in, as passes: pass k gives each row's k-th window end, or NaN when the row has
 * no k-th window. Tumble has one pass; hop ceil(size/slide); cumulate size/step.
 */
export interface WindowAssigner {
  readonly passes: number;
  /** Writes the end of row i's k-th window (NaN for none) for each time t[i]. */
  ends(t: Float64Array, n: number, k: number, out: Float64Array): void;
  /** The latest window end of a row at time t: the row is late when this is ≤ the watermark. */
  lastEnd(t: number): number;
  startOf(end: number): number;
}

export interface WindowAggregateShell extends Operator {
  readonly state: WindowedAggregation;
}

/** Builds a window aggregate operator over an assigner. */
export function windowAggregate(op: WindowAggregateOp, assign: WindowAssigner, ctx: OperatorContext, name: string): WindowAggregateShell {
  const keyTypes = op.groupBy.map((i) => op.inputSchema.fields[i]!.type);
  const state = new WindowedAggregation({ keyTypes, aggs: op.aggs, windowed: true, startOf: (e) => assign.startOf(e), schema: op.schema });
  const emitOnClose = op.emit === 'window_close';
  let watermark = -Infinity;
  let late = 0;
  let ends = new Float64Array(1024);
  let keep = new Int32Array(1024);
  let keepEnds = new Float64Array(1024);
  let keptAny = new Uint8Array(1024);
  // Only the columns the aggregate reads are turned into vectors.
  const used = new Set<number>([op.timeColumn, ...op.groupBy, ...op.aggs.flatMap((a) => [a.arg, a.filter])].filter((i) => i >= 0));

  return {
    name,
    schema: op.schema,
    state,
    processBatch(batch: RecordBatch, _ops: Int8Array | null, _out: Output) {
      const n = batch.numRows;
      if (n === 0) return;
      // aggInputs reads only the used columns, so the holes are never touched.
      const cols = usedVectors(batch, op.inputSchema, used) as Vector[];
      const tv = cols[op.timeColumn]!;
      const t = asF64(tv); const tValid = tv.valid;
      const inputs: AggInputs = aggInputs(cols, op.groupBy, op.aggs);
      if (ends.length < n) { ends = new Float64Array(n); keep = new Int32Array(n); keepEnds = new Float64Array(n); keptAny = new Uint8Array(n); }
      const multi = assign.passes > 1;
      if (multi) keptAny.fill(0, 0, n);
      let keptRows = 0;
      for (let k = 0; k < assign.passes; k++) {
        assign.ends(t, n, k, ends);
        let m = 0;
        // Skip windows that have closed (a hop row may be late for some of its windows only), the
        // rows' missing k-th windows (NaN) and NULL event times.
        if (tValid === null) {
          for (let i = 0; i < n; i++) { const e = ends[i]!; if (e > watermark) { keep[m] = i; keepEnds[m] = e; m++; } }
        } else {
          for (let i = 0; i < n; i++) { const e = ends[i]!; if (e > watermark && tValid[i] === 1) { keep[m] = i; keepEnds[m] = e; m++; } }
        }
        if (m === n) state.accumulate(ends, null, n, inputs);
        else if (m > 0) state.accumulate(keepEnds.subarray(0, m), keep.subarray(0, m), m, inputs);
        if (multi) for (let i = 0; i < m; i++) keptAny[keep[i]!] = 1;
        else keptRows = m;
      }
      if (multi) { keptRows = 0; for (let i = 0; i < n; i++) keptRows += keptAny[i]!; }
      if (keptRows < n) {
        // Rows none of whose windows is open any more (or with a NULL event time) are late.
        const lateRows = new Int32Array(n - keptRows);
        let j = 0;
        if (multi) { for (let i = 0; i < n; i++) if (keptAny[i] === 0) lateRows[j++] = i; }
        else {
          let p = 0;
          for (let i = 0; i < n; i++) { if (p < keptRows && keep[p] === i) { p++; continue; } lateRows[j++] = i; }
        }
        // Behind an expand (GROUPING SETS) a row arrives once per set: counted and reported once, as it came in.
        const origin = lateOrigin(batch);
        if (origin !== null) {
          late += lateRows.length;
          ctx.onLate?.({ batch: origin?.batch ?? batch, schema: origin?.schema ?? op.inputSchema, rows: lateRows, watermark, reason: tValid !== null ? 'window closed or NULL event time' : 'window closed' });
        }
      }
    },
    processWatermark(wm: number, out: Output) {
      if (wm <= watermark) return;
      watermark = wm;
      if (!emitOnClose) {
        // Changes of closing windows go out before their state is freed; the other windows' changes wait
        // for the barrier, so that an epoch yields at most one change per group.
        const changes = state.takeChanges(wm);
        if (changes) out.batch(changes, upserts(changes.numRows));
      }
      const closed = state.close(wm, emitOnClose);
      if (closed) out.batch(closed, null);
    },
    flush(out: Output) {
      if (emitOnClose) return;
      const changes = state.takeChanges();
      if (changes) out.batch(changes, upserts(changes.numRows));
    },
    end(out: Output) {
      this.flush!(out);
      const closed = state.close(Infinity, emitOnClose);
      if (closed) out.batch(closed, null);
    },
    snapshot(): OperatorState {
      return { batch: state.snapshot(), meta: { watermark: Number.isFinite(watermark) ? watermark : null, late } };
    },
    restore(s: OperatorState) {
      state.restore(s.batch);
      watermark = typeof s.meta.watermark === 'number' ? s.meta.watermark : -Infinity;
      late = Number(s.meta.late ?? 0);
    },
    metrics() {
      return { stateRows: state.stateRows(), stateBytes: state.stateBytes(), lateRowsDropped: late };
    },
  };
}

export function upserts(n: number): Int8Array {
  return new Int8Array(n).fill(1);
}

export function aggNames(aggs: readonly AggCall[]): string[] {
  return aggs.map((a) => a.name);
}

export { columnVector };
