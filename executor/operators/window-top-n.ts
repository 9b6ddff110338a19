/**
 * Window Top-N: `ROW_NUMBER() | RANK() OVER (PARTITION BY window_start, window_end[, …] ORDER BY x) <= N`
 * over an append-only windowed input (a window aggregate's final rows, or a window TVF). Rows are kept
 * per window and partition, pruned to the N best (with ties for RANK) as they come; when the watermark
 * passes a window's end its ranking is final: emitted append-only, window by window in end order, and
 * the window's state freed. Rows of a window already closed are late: dropped and counted.
 *
 * Ties under ROW_NUMBER are broken by the remaining columns, so the result does not depend on arrival
 * order. State: `rows` (the kept rows of every open window).
 */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../../planner/physical.ts';
import { T } from '../../planner/types.ts';
import { batchVectors, makeBatch } from '../arrow.ts';
import { GroupTable } from '../kernels/group-table.ts';
import { compareCells, RowStore } from '../kernels/row-store.ts';
import type { Operator, OperatorContext, Output, TableState } from '../operator.ts';
import { asF64, type Vector } from '../vector.ts';

type TopNOp = Extract<PhysicalOp, { kind: 'top_n' }>;

/** Ranking helpers shared with the non-windowed Top-N. */
export function rowComparator(store: RowStore, op: TopNOp): (a: number, b: number) => number {
  const order = op.orderBy;
  const nCols = op.inputSchema.fields.length;
  return (a, b) => {
    for (const k of order) { const c = compareCells(store.value(a, k.index), store.value(b, k.index), k.desc); if (c !== 0) return c; }
    for (let c = 0; c < nCols; c++) { const x = compareCells(store.value(a, c), store.value(b, c), false); if (x !== 0) return x; }
    return 0;
  };
}

/** Whether two rows tie on the ORDER BY columns (RANK gives them one rank). */
export function orderTie(store: RowStore, op: TopNOp, a: number, b: number): boolean {
  for (const k of op.orderBy) if (compareCells(store.value(a, k.index), store.value(b, k.index), k.desc) !== 0) return false;
  return true;
}

/** Ranks of `sorted` (1-based) and how many of them make the cut. */
export function rankRows(store: RowStore, op: TopNOp, sorted: readonly number[]): { ranks: number[]; keep: number } {
  const ranks: number[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const r = op.rankFn === 'row_number' ? i + 1 : i > 0 && orderTie(store, op, sorted[i - 1]!, sorted[i]!) ? ranks[i - 1]! : i + 1;
    if (r > op.limit) break;
    ranks.push(r);
  }
  return { ranks, keep: ranks.length };
}

interface WindowState { parts: GroupTable; lists: number[][] }

export function createWindowTopN(op: TopNOp, ctx: OperatorContext): Operator {
  if (!op.window) throw new Error('window Top-N without window columns');
  const schema = op.inputSchema;
  const partCols = op.partitionBy.filter((c) => c !== op.window!.start && c !== op.window!.end);
  const partTypes = partCols.map((c) => schema.fields[c]!.type);
  const endCol = op.window.end;
  let store = new RowStore(schema);
  let windows = new Map<number, WindowState>();
  let watermark = -Infinity;
  let late = 0;
  let cmp = rowComparator(store, op);
  let gids = new Int32Array(1024);

  const prune = (list: number[]): number[] => {
    list.sort(cmp);
    const { keep } = rankRows(store, op, list);
    for (let i = keep; i < list.length; i++) store.release(list[i]!);
    return list.slice(0, keep);
  };

  const insert = (cols: Vector[], rows: number[]) => {
    // Group the batch's rows by window end, then by partition.
    const ends = asF64(cols[endCol]!);
    const byEnd = new Map<number, number[]>();
    for (const i of rows) { const e = ends[i]!; (byEnd.get(e) ?? byEnd.set(e, []).get(e)!).push(i); }
    for (const [e, rs] of byEnd) {
      let w = windows.get(e);
      if (!w) { w = { parts: new GroupTable(partTypes), lists: [] }; windows.set(e, w); }
      const sel = Int32Array.from(rs);
      if (gids.length < sel.length) gids = new Int32Array(sel.length);
      w.parts.assign(partCols.map((c) => cols[c]!), sel, sel.length, gids);
      for (let j = 0; j < sel.length; j++) {
        const g = gids[j]!;
        const list = w.lists[g] ?? (w.lists[g] = []);
        list.push(store.add(cols, sel[j]!));
        // Bounded: re-cut once a partition holds twice what it may keep (RANK ties may keep more).
        if (list.length > 2 * op.limit + 8) w.lists[g] = prune(list);
      }
    }
  };

  const close = (wm: number, out: Output) => {
    const closing = [...windows.keys()].filter((e) => e <= wm).sort((a, b) => a - b);
    if (closing.length === 0) return;
    const slots: number[] = []; const ranks: number[] = [];
    for (const e of closing) {
      const w = windows.get(e)!;
      windows.delete(e);
      for (const list of w.lists) {
        if (!list) continue;
        list.sort(cmp);
        const r = rankRows(store, op, list);
        for (let i = 0; i < r.keep; i++) { slots.push(list[i]!); ranks.push(r.ranks[i]!); }
        for (let i = r.keep; i < list.length; i++) store.release(list[i]!);
      }
    }
    if (slots.length) {
      const n = slots.length;
      const cols = store.vectors(slots, n);
      if (op.rankColumn) cols.push({ kind: 'f64', type: T.bigint, length: n, values: Float64Array.from(ranks), valid: null });
      out.batch(makeBatch(op.schema, cols, n), null);
    }
    for (const s of slots) store.release(s);
  };

  return {
    name: 'window_top_n',
    schema: op.schema,
    stateTables: ['rows'],
    processBatch(batch: RecordBatch) {
      const n = batch.numRows;
      if (n === 0) return;
      const cols = batchVectors(batch, schema);
      const ends = cols[endCol]!; const e = asF64(ends);
      const keep: number[] = []; let lateRows: number[] | null = null;
      for (let i = 0; i < n; i++) {
        if ((ends.valid !== null && ends.valid[i] === 0) || e[i]! <= watermark) (lateRows ??= []).push(i);
        else keep.push(i);
      }
      if (keep.length) insert(cols, keep);
      if (lateRows) {
        late += lateRows.length;
        ctx.onLate?.({ batch, schema, rows: Int32Array.from(lateRows), watermark, reason: 'window closed' });
      }
    },
    processWatermark(wm: number, out: Output) {
      if (wm <= watermark) return;
      watermark = wm;
      close(wm, out);
    },
    end(out: Output) { close(Infinity, out); },
    snapshotTables(): TableState {
      const live = store.liveSlots();
      return { tables: { rows: live.length ? store.batch(live) : null }, meta: { watermark: Number.isFinite(watermark) ? watermark : null, late } };
    },
    restoreTables(s: TableState) {
      store = new RowStore(schema); cmp = rowComparator(store, op); windows = new Map();
      watermark = typeof s.meta.watermark === 'number' ? s.meta.watermark : -Infinity;
      late = Number(s.meta.late ?? 0);
      const b = s.tables.rows;
      if (b && b.numRows) insert(batchVectors(b, schema), Array.from({ length: b.numRows }, (_, i) => i));
    },
    metrics() {
      return { stateRows: store.size, stateBytes: store.bytes(), lateRowsDropped: late };
    },
  };
}
