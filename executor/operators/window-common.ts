/**
 * What the tumble, hop and cumulate aggregate operators share: window arithmetic, lateness, and the
 * operator shell around WindowedAggregation. Each window family only says which windows a row is in.
 */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../../planner/physical.ts';
import type { AggCall } from '../../planner/types.ts';
import { batchVectors, columnVector } from '../arrow.ts';
import { aggInputs, WindowedAggregation, type AggInputs } from '../kernels/window-state.ts';
import type { Operator, OperatorContext, OperatorState, Output } from '../operator.ts';
import { asF64 } from '../vector.ts';

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
  const lateRows: number[] = [];

  return {
    name,
    schema: op.schema,
    state,
    processBatch(batch: RecordBatch, _ops: Int8Array | null, _out: Output) {
      const n = batch.numRows;
      if (n === 0) return;
      const cols = batchVectors(batch, op.inputSchema);
      const tv = cols[op.timeColumn]!;
      const t = asF64(tv);
      const inputs: AggInputs = aggInputs(cols, op.groupBy, op.aggs);
      if (ends.length < n) { ends = new Float64Array(n); keep = new Int32Array(n); keepEnds = new Float64Array(n); }
      lateRows.length = 0;
      for (let i = 0; i < n; i++) {
        if ((tv.valid !== null && tv.valid[i] === 0) || assign.lastEnd(t[i]!) <= watermark) lateRows.push(i);
      }
      for (let k = 0; k < assign.passes; k++) {
        assign.ends(t, n, k, ends);
        let m = 0;
        for (let i = 0; i < n; i++) {
          const e = ends[i]!;
          // Skip windows that have closed (a hop row may be late for some of its windows only).
          if (e > watermark && (tv.valid === null || tv.valid[i] === 1)) { keep[m] = i; keepEnds[m] = e; m++; }
        }
        if (m === n) state.accumulate(keepEnds, null, n, inputs);
        else if (m > 0) state.accumulate(keepEnds.subarray(0, m), keep.subarray(0, m), m, inputs);
      }
      if (lateRows.length > 0) {
        late += lateRows.length;
        ctx.onLate?.({ batch, schema: op.inputSchema, rows: Int32Array.from(lateRows), watermark, reason: tv.valid !== null ? 'window closed or NULL event time' : 'window closed' });
      }
    },
    processWatermark(wm: number, out: Output) {
      if (wm <= watermark) return;
      watermark = wm;
      if (!emitOnClose) {
        // Changes of closing windows go out before their state is freed.
        const changes = state.takeChanges();
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
