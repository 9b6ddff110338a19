/**
 * Window join (Flink's window join: both inputs windowed by the same TUMBLE / HOP / CUMULATE, joined
 * ON their window_start / window_end and keys). Rows are buffered per window, keyed by the join keys
 * (which include the window columns); when the watermark reaches a window's end — the rule that closes
 * a window aggregate — the window's rows are joined and emitted at once, final and append-only: INNER
 * pairs, LEFT / RIGHT / FULL rows without a partner padded, SEMI left rows with a partner (once), ANTI
 * left rows without. Then the window's rows are freed. A row whose window has already closed (end at
 * or behind the watermark, or a NULL window_end) is late: dropped, counted, handed to onLate.
 *
 * State: tables `left` and `right` (the rows of the open windows).
 */
import type { RecordBatch } from 'apache-arrow';
import { batchVectors } from '../arrow.ts';
import { compileResidual, filterPairs, gatherStore, joinEmits, outBatch } from '../kernels/join-output.ts';
import { JoinKeys, JoinSide, PairList, readSideTable, TimeHeap } from '../kernels/join-state.ts';
import type { Operator, OperatorContext, Output, TableState } from '../operator.ts';
import type { Vector } from '../vector.ts';
import type { JoinOp } from './join.ts';

export function createWindowJoin(op: JoinOp, ctx: OperatorContext): Operator {
  const b = op.bound;
  if (b.kind !== 'window') throw new Error('not a window join');
  const schemas = [op.leftSchema, op.rightSchema] as const;
  const keyCols = [op.leftKeys, op.rightKeys] as const;
  const endCol = [b.leftEnd, b.rightEnd] as const;
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

  const store = (s: number, cols: readonly Vector[], i: number, k: number, end: number) => {
    const slot = sides[s]!.add(cols, i, k, end, 0);
    heaps[s]!.push(end, slot);
  };

  /** Joins and frees every window whose end is at or behind `wm`. */
  const close = (wm: number, out: Output) => {
    const L = sides[0]; const R = sides[1];
    const closed: [number[], number[]] = [[], []];
    for (let s = 0; s < 2; s++) { const h = heaps[s]!; while (h.due(wm)) closed[s]!.push(h.pop()); }
    if (closed[0].length === 0 && closed[1].length === 0) return;
    pairs.clear();
    for (const ls of closed[0]) {
      const k = L.key[ls]!;
      if (k < 0) continue;
      const end = L.time[ls]!;
      for (let rs = R.first(k); rs >= 0; rs = R.next[rs]!) if (R.time[rs] === end) pairs.push(ls, rs);
    }
    const { l, r } = filterPairs(pairs, { store: L.store }, { store: R.store }, residual);
    const n = pairs.n;
    for (let i = 0; i < n; i++) { L.matches[pairs.left[i]!]++; R.matches[pairs.right[i]!]++; }
    if (emits.pairs && n > 0) out.batch(outBatch(op.schema, l, r, n), null);
    const emitLeft = (want: (m: number) => boolean, padded: boolean) => {
      const ix = Int32Array.from(closed[0].filter((x) => want(L.matches[x]!)));
      if (ix.length === 0) return;
      const mine = gatherStore(L.store, ix, ix.length);
      out.batch(outBatch(op.schema, mine, padded ? gatherStore(R.store, new Int32Array(ix.length).fill(-1), ix.length) : null, ix.length), null);
    };
    if (emits.semi) emitLeft((m) => m > 0, false);
    if (emits.anti) emitLeft((m) => m === 0, false);
    if (emits.padLeft) emitLeft((m) => m === 0, true);
    if (emits.padRight) {
      const ix = Int32Array.from(closed[1].filter((x) => R.matches[x] === 0));
      if (ix.length) out.batch(outBatch(op.schema, gatherStore(L.store, new Int32Array(ix.length).fill(-1), ix.length), gatherStore(R.store, ix, ix.length), ix.length), null);
    }
    for (const x of closed[0]) L.remove(x);
    for (const x of closed[1]) R.remove(x);
    if (keys.size >= nextCompact) {
      const remap = keys.compact((g) => L.first(g) >= 0 || R.first(g) >= 0);
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

  const addRows = (s: number, cols: readonly Vector[], n: number, rejectLate: boolean): number[] | null => {
    const ev = cols[endCol[s]!]!; const e = (ev as { values: Float64Array }).values; const ok = ev.valid;
    const kid = keys.buffer(n);
    keys.ids(keyCols[s]!.map((c) => cols[c]!), n, kid);
    let lateRows: number[] | null = null;
    for (let i = 0; i < n; i++) {
      const x = e[i]!;
      if (rejectLate && ((ok !== null && ok[i] === 0) || x <= watermark)) { (lateRows ??= []).push(i); continue; }
      store(s, cols, i, kid[i]!, x);
    }
    return lateRows;
  };

  return {
    name: 'window_join',
    schema: op.schema,
    stateTables: ['left', 'right'],
    processBatch(batch: RecordBatch, _ops: Int8Array | null, _out: Output, input = 0) {
      const n = batch.numRows;
      if (n === 0) return;
      const s = input === 1 ? 1 : 0;
      const lateRows = addRows(s, batchVectors(batch, schemas[s]), n, true);
      if (lateRows !== null) {
        late += lateRows.length;
        ctx.onLate?.({ batch, schema: schemas[s], rows: Int32Array.from(lateRows), watermark, reason: 'window closed or NULL window_end' });
      }
    },
    processWatermark(wm: number, out: Output) {
      if (wm <= watermark) return;
      watermark = wm;
      close(wm, out);
    },
    end(out: Output) { close(Infinity, out); },
    snapshotTables(): TableState {
      const table = (side: JoinSide) => side.table(side.store.liveSlots(), []);
      return { tables: { left: table(sides[0]), right: table(sides[1]) }, meta: { watermark: Number.isFinite(watermark) ? watermark : null, late } };
    },
    restoreTables(st: TableState) {
      reset();
      watermark = typeof st.meta.watermark === 'number' ? st.meta.watermark : -Infinity;
      late = Number(st.meta.late ?? 0);
      (['left', 'right'] as const).forEach((name, s) => {
        const tb = st.tables[name];
        if (tb) { const { cols, n } = readSideTable(tb, schemas[s]!, 0); addRows(s, cols, n, false); }
      });
    },
    metrics() {
      return { stateRows: sides[0].size + sides[1].size, stateBytes: sides[0].bytes() + sides[1].bytes() + keys.bytes(), lateRowsDropped: late };
    },
  };
}
