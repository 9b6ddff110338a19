/**
 * Hopping (sliding) window aggregate: windows of `size` starting every `slide`; a row is in
 * ceil(size / slide) of them. The size need not be a multiple of the slide.
 *
 * Rows are aggregated once, into panes of gcd(size, slide) (a window is a run of whole panes), and
 * panes are combined into windows when a window's rows are emitted: for the keys changed in the epoch
 * at a barrier (EMIT CHANGES), for every key when the watermark closes the window (EMIT ON WINDOW CLOSE).
 * A pane is freed when the last window it belongs to has closed. A row is late when every window it
 * belongs to has closed; a row some of whose windows closed still goes into its pane, but closed
 * windows are never emitted again, so it counts only in the open ones — as if it had been dropped
 * for the closed windows.
 *
 * State: the panes (a WindowedAggregation keyed by pane end) as one table, and the pane width in meta,
 * so a snapshot of the former per-window form is refused rather than misread.
 */
import type { RecordBatch } from 'apache-arrow';
import { T } from '../../planner/types.ts';
import { makeBatch, usedVectors } from '../arrow.ts';
import { createAccumulator } from '../kernels/accumulators.ts';
import { GroupTable } from '../kernels/group-table.ts';
import { aggInputs, WindowedAggregation, type WindowGroups } from '../kernels/window-state.ts';
import type { Operator, OperatorContext, OperatorState, Output } from '../operator.ts';
import { asF64, concatVectors, type Vector } from '../vector.ts';
import { floorMod, upserts, type WindowAggregateOp, type WindowAssigner } from './window-common.ts';
import { lateOrigin } from './expand.ts';

export function hopAssigner(slideMs: number, sizeMs: number, offsetMs: number): WindowAssigner {
  return {
    passes: Math.ceil(sizeMs / slideMs),
    ends(t, n, k, out) {
      for (let i = 0; i < n; i++) {
        const x = t[i]!;
        const end = x - floorMod(x, slideMs, offsetMs) - k * slideMs + sizeMs;
        out[i] = end > x ? end : NaN;
      }
    },
    lastEnd: (t) => t - floorMod(t, slideMs, offsetMs) + sizeMs,
    startOf: (end) => end - sizeMs,
  };
}

function gcd(a: number, b: number): number { while (b) [a, b] = [b, a % b]; return a; }

export function createHopAggregate(op: WindowAggregateOp, ctx: OperatorContext): Operator {
  if (op.spec.kind !== 'hop') throw new Error('hop aggregate over a non-hop window');
  const { slideMs: slide, sizeMs: size, offsetMs: offset } = op.spec;
  const pane = gcd(size, slide);
  const keyTypes = op.groupBy.map((i) => op.inputSchema.fields[i]!.type);
  const panes = new WindowedAggregation({ keyTypes, aggs: op.aggs, windowed: true, startOf: (e) => e - pane, schema: op.schema });
  const emitOnClose = op.emit === 'window_close';
  const used = new Set<number>([op.timeColumn, ...op.groupBy, ...op.aggs.flatMap((a) => [a.arg, a.filter])].filter((i) => i >= 0));
  let watermark = -Infinity;
  let late = 0;
  let paneEnds = new Float64Array(1024);
  let keep = new Int32Array(1024);
  let found = new Int32Array(1024); let from = new Int32Array(1024); let into = new Int32Array(1024);

  /** The latest window end of a row at time t (≤ t: the row is in no window). */
  const lastEnd = (t: number) => t - floorMod(t, slide, offset) + size;
  /** Ends of the windows containing the pane that ends at `pe`. */
  const windowsOf = (pe: number, outEnds: Set<number>) => {
    const ps = pe - pane;
    for (let s = ps - floorMod(ps, slide, offset); s + size >= pe; s -= slide) outEnds.add(s + size);
  };
  const panesOf = (end: number): WindowGroups[] => {
    const out: WindowGroups[] = [];
    for (let pe = end - size + pane; pe <= end; pe += pane) { const w = panes.windows.get(pe); if (w && w.table.size) out.push(w); }
    return out;
  };
  const grow = (n: number) => { if (found.length < n) { found = new Int32Array(n); from = new Int32Array(n); into = new Int32Array(n); } };
  /** 0, 1, 2, …: shared, grown on demand (Int32Array.from with a callback costs tens of ns a row). */
  let iotaBuf = new Int32Array(0);
  const iota = (n: number): Int32Array => {
    if (iotaBuf.length < n) { iotaBuf = new Int32Array(Math.max(n, iotaBuf.length * 2)); for (let i = 0; i < iotaBuf.length; i++) iotaBuf[i] = i; }
    return iotaBuf.subarray(0, n);
  };

  /** One window's rows: every key of its panes (`all`), or the keys changed in any of them since the last flush. */
  const combine = (end: number, all: boolean): Vector[] | null => {
    const ps = panesOf(end);
    const res = new GroupTable(keyTypes);
    const accs = op.aggs.map(createAccumulator);
    if (all) {
      for (const p of ps) {
        const n = p.table.size;
        grow(n);
        const ids = iota(n);
        res.assign(p.table.keyVectors(ids, n), null, n, into);
        for (let j = 0; j < accs.length; j++) { accs[j]!.ensure(res.size); accs[j]!.mergeFrom(p.accs[j]!, ids, into, n); }
      }
    } else {
      for (const p of ps) {
        if (p.nDirty === 0) continue;
        grow(p.nDirty);
        res.assign(p.table.keyVectors(p.dirtyList, p.nDirty), null, p.nDirty, found);
      }
      const n = res.size;
      if (n === 0) return null;
      const keys = res.keyVectors(iota(n), n);
      for (const a of accs) a.ensure(n);
      let total = 0;
      for (const p of ps) total += p.table.size;
      if (total <= n * ps.length) {
        // Sparse panes: look each pane key up among the changed keys.
        for (const p of ps) {
          const pn = p.table.size;
          const ids = iota(pn);
          const hit = new Int32Array(pn);
          res.find(p.table.keyVectors(ids, pn), pn, hit);
          grow(pn);
          let m = 0;
          for (let i = 0; i < pn; i++) { const g = hit[i]!; if (g >= 0) { from[m] = i; into[m] = g; m++; } }
          if (m) for (let j = 0; j < accs.length; j++) accs[j]!.mergeFrom(p.accs[j]!, from, into, m);
        }
      } else {
        // Few changed keys: look each one up in every pane.
        const hit = new Int32Array(n);
        for (const p of ps) {
          p.table.find(keys, n, hit);
          let m = 0;
          for (let i = 0; i < n; i++) { const g = hit[i]!; if (g >= 0) { from[m] = g; into[m] = i; m++; } }
          if (m) for (let j = 0; j < accs.length; j++) accs[j]!.mergeFrom(p.accs[j]!, from, into, m);
        }
      }
    }
    const n = res.size;
    if (n === 0) return null;
    const gids = iota(n).slice();
    return [
      { kind: 'f64', type: T.timestamp, length: n, values: new Float64Array(n).fill(end - size), valid: null },
      { kind: 'f64', type: T.timestamp, length: n, values: new Float64Array(n).fill(end), valid: null },
      ...res.keyVectors(gids, n),
      ...accs.map((a) => a.result(gids, n)),
    ];
  };

  const emit = (ends: number[], all: boolean, out: Output, ops: boolean) => {
    const parts: Vector[][] = [];
    for (const e of ends.sort((a, b) => a - b)) { const p = combine(e, all); if (p) parts.push(p); }
    if (parts.length === 0) return;
    const cols = parts.length === 1 ? parts[0]! : op.schema.fields.map((f, c) => concatVectors(f.type, parts.map((p) => p[c]!)));
    const n = cols[0]!.length;
    out.batch(makeBatch(op.schema, cols, n), ops ? upserts(n) : null);
  };

  /** Window ends of the live panes (only those with changed keys when `dirty`) within (lo, hi]. */
  const endsWithin = (lo: number, hi: number, dirty: boolean): number[] => {
    const ends = new Set<number>();
    for (const [pe, w] of panes.windows) if (!dirty || w.nDirty > 0) windowsOf(pe, ends);
    return [...ends].filter((e) => e > lo && e <= hi);
  };

  const freePanes = (wm: number) => {
    for (const pe of [...panes.windows.keys()]) if (lastEnd(pe - pane) <= wm) panes.windows.delete(pe);
  };

  const flush = (out: Output) => {
    if (emitOnClose) return;
    emit(endsWithin(watermark, Infinity, true), false, out, true);
    for (const w of panes.windows.values()) w.clearDirty();
  };

  return {
    name: 'hop_aggregate',
    schema: op.schema,
    processBatch(batch: RecordBatch) {
      const n = batch.numRows;
      if (n === 0) return;
      const cols = usedVectors(batch, op.inputSchema, used) as Vector[];
      const tv = cols[op.timeColumn]!; const t = asF64(tv); const tValid = tv.valid;
      if (paneEnds.length < n) { paneEnds = new Float64Array(n); keep = new Int32Array(n); }
      let m = 0;
      const wm = watermark;
      for (let i = 0; i < n; i++) {
        if (tValid !== null && tValid[i] === 0) continue;
        const x = t[i]!;
        const le = x - floorMod(x, slide, offset) + size;
        if (le <= wm || le <= x) continue;
        keep[m] = i; paneEnds[m] = x - floorMod(x, pane, offset) + pane; m++;
      }
      if (m > 0) panes.accumulate(paneEnds.subarray(0, m), m === n ? null : keep.subarray(0, m), m, aggInputs(cols, op.groupBy, op.aggs));
      if (m < n) {
        const lateRows = new Int32Array(n - m);
        let j = 0; let p = 0;
        for (let i = 0; i < n; i++) { if (p < m && keep[p] === i) { p++; continue; } lateRows[j++] = i; }
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
      const prev = watermark;
      watermark = wm;
      // Closing windows: their final rows (ON WINDOW CLOSE) or their last changes go out before the panes are freed.
      emit(endsWithin(prev, wm, !emitOnClose), emitOnClose, out, !emitOnClose);
      freePanes(wm);
    },
    flush,
    end(out: Output) {
      flush(out);
      if (emitOnClose) emit(endsWithin(watermark, Infinity, false), true, out, false);
      panes.windows.clear();
    },
    snapshot(): OperatorState {
      return { batch: panes.snapshot(), meta: { watermark: Number.isFinite(watermark) ? watermark : null, late, pane } };
    },
    restore(s: OperatorState) {
      if (s.batch && s.batch.numRows > 0 && s.meta.pane !== pane) {
        throw new Error(`hop aggregate: the checkpoint holds per-window state (written before panes) or panes of ${String(s.meta.pane)} ms, not ${pane} ms; it cannot be restored`);
      }
      panes.restore(s.batch);
      watermark = typeof s.meta.watermark === 'number' ? s.meta.watermark : -Infinity;
      late = Number(s.meta.late ?? 0);
    },
    metrics() {
      return { stateRows: panes.stateRows(), stateBytes: panes.stateBytes(), lateRowsDropped: late };
    },
  };
}
