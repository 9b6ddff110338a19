/**
 * Interval join (Flink's `a JOIN b ON a.k = b.k AND a.ts BETWEEN b.ts - X AND b.ts + Y`): rows match
 * when their keys are equal and `lowerMs <= l.time - r.time <= upperMs`. Both inputs are append-only;
 * so is the output.
 *
 * - A row arriving with its time at or behind the watermark (or NULL) is late: dropped, counted, handed
 *   to onLate. Every other row is stored and probes the other side's rows of its key at once: inner
 *   pairs (and a SEMI row at its first match) go out immediately.
 * - A left row at time t can only meet future right rows with r.time <= t - lowerMs; those are late once
 *   the watermark reaches t - lowerMs, so the row is freed then (a right row at r.time + upperMs). Rows
 *   are freed in time order from a heap; a freed row that never matched goes out padded (LEFT / RIGHT /
 *   FULL) or as an ANTI row. Keys whose rows are all gone are dropped from the key table now and then,
 *   so state follows event time whatever the key space.
 *
 * State: tables `left` and `right` (rows + time, match count, emitted flag).
 */
import type { RecordBatch } from 'apache-arrow';
import { batchVectors } from '../arrow.ts';
import { compileResidual, filterPairs, gatherStore, joinEmits, outBatch } from '../kernels/join-output.ts';
import { JoinKeys, JoinSide, PairList, readSideTable, TimeHeap } from '../kernels/join-state.ts';
import type { Operator, OperatorContext, Output, TableState } from '../operator.ts';
import type { Vector } from '../vector.ts';
import type { JoinOp } from './join.ts';

export function createIntervalJoin(op: JoinOp, ctx: OperatorContext): Operator {
  const b = op.bound;
  if (b.kind !== 'interval') throw new Error('not an interval join');
  const schemas = [op.leftSchema, op.rightSchema] as const;
  const keyCols = [op.leftKeys, op.rightKeys] as const;
  const timeCol = [b.leftTime, b.rightTime] as const;
  const { lowerMs, upperMs } = b;
  const emits = joinEmits(op.joinType);
  const residual = compileResidual(op.residual);
  const keyTypes = op.leftKeys.map((c) => op.leftSchema.fields[c]!.type);
  let keys = new JoinKeys(keyTypes);
  let sides = [new JoinSide(op.leftSchema), new JoinSide(op.rightSchema)] as [JoinSide, JoinSide];
  let heaps = [new TimeHeap(), new TimeHeap()] as [TimeHeap, TimeHeap];
  let watermark = -Infinity;
  let late = 0;
  let nextCompact = 4096;
  const pairs = new PairList();
  /** When a stored row at time t can be freed: no future non-late row of the other side can match it. */
  const expiry = (s: number, t: number) => (s === 0 ? t - lowerMs : t + upperMs);

  const store = (s: number, cols: readonly Vector[], i: number, k: number, t: number): number => {
    const slot = sides[s]!.add(cols, i, k, t, 0);
    heaps[s]!.push(expiry(s, t), slot);
    return slot;
  };

  const emitPairs = (out: Output) => {
    if (pairs.n === 0) return;
    const L = sides[0]; const R = sides[1];
    const { l, r } = filterPairs(pairs, { store: L.store }, { store: R.store }, residual);
    const n = pairs.n;
    if (n === 0) return;
    for (let i = 0; i < n; i++) { L.matches[pairs.left[i]!]++; R.matches[pairs.right[i]!]++; }
    if (emits.pairs) { out.batch(outBatch(op.schema, l, r, n), null); return; }
    if (emits.semi) {
      const first: number[] = [];
      for (let i = 0; i < n; i++) { const ls = pairs.left[i]!; if (L.flag[ls] === 0) { L.flag[ls] = 1; first.push(ls); } }
      if (first.length) { const ix = Int32Array.from(first); out.batch(outBatch(op.schema, gatherStore(L.store, ix, ix.length), null, ix.length), null); }
    }
  };

  /** Frees the rows no future row can match (all at end); unmatched ones go out padded / as ANTI rows. */
  const expire = (wm: number, out: Output) => {
    for (let s = 0; s < 2; s++) {
      const side = sides[s]!; const heap = heaps[s]!;
      if (!heap.due(wm)) continue;
      const freed: number[] = []; const unmatched: number[] = [];
      while (heap.due(wm)) { const slot = heap.pop(); freed.push(slot); if (side.matches[slot] === 0) unmatched.push(slot); }
      const padded = s === 0 ? emits.padLeft || emits.anti : emits.padRight;
      if (padded && unmatched.length) {
        const ix = Int32Array.from(unmatched); const none = new Int32Array(ix.length).fill(-1);
        const mine = gatherStore(side.store, ix, ix.length);
        if (emits.leftOnly) out.batch(outBatch(op.schema, mine, null, ix.length), null);
        else if (s === 0) out.batch(outBatch(op.schema, mine, gatherStore(sides[1].store, none, ix.length), ix.length), null);
        else out.batch(outBatch(op.schema, gatherStore(sides[0].store, none, ix.length), mine, ix.length), null);
      }
      for (const slot of freed) side.remove(slot);
    }
    if (keys.size >= nextCompact) {
      const remap = keys.compact((g) => sides[0].first(g) >= 0 || sides[1].first(g) >= 0);
      for (const side of sides) side.remap(remap, keys.size);
      nextCompact = Math.max(4096, keys.size * 2);
    }
  };

  const reset = () => {
    keys = new JoinKeys(keyTypes);
    sides = [new JoinSide(op.leftSchema), new JoinSide(op.rightSchema)];
    heaps = [new TimeHeap(), new TimeHeap()];
    nextCompact = 4096;
  };

  return {
    name: 'interval_join',
    schema: op.schema,
    stateTables: ['left', 'right'],
    processBatch(batch: RecordBatch, _ops: Int8Array | null, out: Output, input = 0) {
      const n = batch.numRows;
      if (n === 0) return;
      const s = input === 1 ? 1 : 0; const o = 1 - s;
      const cols = batchVectors(batch, schemas[s]);
      const tv = cols[timeCol[s]]!; const t = (tv as { values: Float64Array }).values; const tValid = tv.valid;
      const kid = keys.buffer(n);
      keys.ids(keyCols[s].map((c) => cols[c]!), n, kid);
      const other = sides[o]!;
      let lateRows: number[] | null = null;
      pairs.clear();
      for (let i = 0; i < n; i++) {
        const x = t[i]!;
        if ((tValid !== null && tValid[i] === 0) || x <= watermark) { (lateRows ??= []).push(i); continue; }
        const k = kid[i]!;
        const slot = store(s, cols, i, k, x);
        if (k < 0) continue;
        for (let os = other.first(k); os >= 0; os = other.next[os]!) {
          const d = s === 0 ? x - other.time[os]! : other.time[os]! - x;
          if (d < lowerMs || d > upperMs) continue;
          if (s === 0) pairs.push(slot, os); else pairs.push(os, slot);
        }
      }
      if (lateRows !== null) {
        late += lateRows.length;
        ctx.onLate?.({ batch, schema: schemas[s], rows: Int32Array.from(lateRows), watermark, reason: 'at or behind the watermark, or NULL event time' });
      }
      emitPairs(out);
    },
    processWatermark(wm: number, out: Output) {
      if (wm <= watermark) return;
      watermark = wm;
      expire(wm, out);
    },
    end(out: Output) { expire(Infinity, out); },
    snapshotTables(): TableState {
      const table = (side: JoinSide) => side.table(side.store.liveSlots(), [
        { name: '_time', of: (x) => side.time[x]! }, { name: '_matches', of: (x) => side.matches[x]! }, { name: '_flag', of: (x) => side.flag[x]! },
      ]);
      return { tables: { left: table(sides[0]), right: table(sides[1]) }, meta: { watermark: Number.isFinite(watermark) ? watermark : null, late } };
    },
    restoreTables(st: TableState) {
      reset();
      watermark = typeof st.meta.watermark === 'number' ? st.meta.watermark : -Infinity;
      late = Number(st.meta.late ?? 0);
      (['left', 'right'] as const).forEach((name, s) => {
        const tb = st.tables[name];
        if (!tb) return;
        const { cols, extra, n } = readSideTable(tb, schemas[s]!, 3);
        const kid = new Int32Array(n);
        keys.ids(keyCols[s]!.map((c) => cols[c]!), n, kid);
        for (let i = 0; i < n; i++) {
          const slot = store(s, cols, i, kid[i]!, extra[0]![i]!);
          sides[s]!.matches[slot] = extra[1]![i]!; sides[s]!.flag[slot] = extra[2]![i]!;
        }
      });
    },
    metrics() {
      return { stateRows: sides[0].size + sides[1].size, stateBytes: sides[0].bytes() + sides[1].bytes() + keys.bytes(), lateRowsDropped: late };
    },
  };
}
