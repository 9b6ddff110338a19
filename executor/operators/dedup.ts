/**
 * Deduplication, as Flink and RisingWave write it: `ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts) = 1`.
 *
 * - keep first (ORDER BY ts): per key, the row with the smallest event time (ties: the earlier
 *   arrival). It is final once the watermark reaches its time — any row still to come with a smaller
 *   time would be late — so it is emitted then, append-only, and the key remembered as done. Rows at or
 *   behind the watermark (or with a NULL time) are late: dropped and counted.
 * - keep last (ORDER BY ts DESC): per key, the row with the largest event time (ties: the later
 *   arrival), a changelog keyed by k: the keys that changed in an epoch are upserted at its barrier.
 *   Rows with a NULL time are dropped and counted.
 *
 * State: `rows` (the candidate or current row per key) and, for keep first, `done` (the keys emitted).
 */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../../planner/physical.ts';
import type { Schema } from '../../planner/types.ts';
import { batchVectors, makeBatch } from '../arrow.ts';
import { GroupTable } from '../kernels/group-table.ts';
import { RowStore } from '../kernels/row-store.ts';
import { UPSERT } from '../message.ts';
import type { Operator, OperatorContext, Output, TableState } from '../operator.ts';
import { asF64, type Vector } from '../vector.ts';

type DedupOp = Extract<PhysicalOp, { kind: 'dedup' }>;

export function createDedup(op: DedupOp, ctx: OperatorContext): Operator {
  const schema = op.schema;
  const keyTypes = op.keys.map((i) => schema.fields[i]!.type);
  const keySchema: Schema = { fields: op.keys.map((i, j) => ({ name: `_k${j}`, type: schema.fields[i]!.type, nullable: true })) };
  const first = op.keep === 'first';
  let keys = new GroupTable(keyTypes);
  let store = new RowStore(schema);
  /** Per key id: its row's slot (-1: none), time, and flags. */
  let slotOf = new Int32Array(256).fill(-1);
  let timeOf = new Float64Array(256);
  let done = new Uint8Array(256);
  let dirty: number[] = [];
  let isDirty = new Uint8Array(256);
  let doneCount = 0;
  let watermark = -Infinity;
  let late = 0;
  let gids = new Int32Array(1024);

  const ensure = (n: number) => {
    if (slotOf.length >= n) return;
    const cap = Math.max(n, slotOf.length * 2);
    const s = new Int32Array(cap).fill(-1); s.set(slotOf); slotOf = s;
    const t = new Float64Array(cap); t.set(timeOf); timeOf = t;
    const d = new Uint8Array(cap); d.set(done); done = d;
    const x = new Uint8Array(cap); x.set(isDirty); isDirty = x;
  };
  const mark = (g: number) => { if (isDirty[g] === 0) { isDirty[g] = 1; dirty.push(g); } };

  /** Keep first: emits the candidates whose time the watermark has reached (all at end), in time order. */
  const emitFinal = (wm: number, out: Output) => {
    const ready: number[] = [];
    const rest: number[] = [];
    for (const g of dirty) (timeOf[g]! <= wm ? ready : rest).push(g);
    if (ready.length === 0) return;
    dirty = rest;
    ready.sort((a, b) => timeOf[a]! - timeOf[b]! || a - b);
    const slots = Int32Array.from(ready, (g) => slotOf[g]!);
    out.batch(store.batch(slots), null);
    for (const g of ready) { store.release(slotOf[g]!); slotOf[g] = -1; isDirty[g] = 0; done[g] = 1; doneCount++; }
  };

  const reset = () => {
    keys = new GroupTable(keyTypes); store = new RowStore(schema);
    slotOf = new Int32Array(256).fill(-1); timeOf = new Float64Array(256); done = new Uint8Array(256); isDirty = new Uint8Array(256);
    dirty = []; doneCount = 0;
  };

  return {
    name: first ? 'dedup_first' : 'dedup_last',
    schema,
    stateTables: ['rows', 'done'],
    processBatch(batch: RecordBatch) {
      const n = batch.numRows;
      if (n === 0) return;
      const cols = batchVectors(batch, schema);
      if (gids.length < n) gids = new Int32Array(n);
      keys.assign(op.keys.map((i) => cols[i]!), null, n, gids);
      ensure(keys.size);
      const tv = cols[op.timeColumn]!; const t = asF64(tv); const tValid = tv.valid;
      let lateRows: number[] | null = null;
      for (let i = 0; i < n; i++) {
        const x = t[i]!;
        if ((tValid !== null && tValid[i] === 0) || (first && x <= watermark)) { (lateRows ??= []).push(i); continue; }
        const g = gids[i]!;
        if (done[g] === 1) continue;
        const s = slotOf[g]!;
        if (s < 0) { slotOf[g] = store.add(cols, i); timeOf[g] = x; mark(g); continue; }
        if (first ? x < timeOf[g]! : x >= timeOf[g]!) { store.set(s, cols, i); timeOf[g] = x; mark(g); }
      }
      if (lateRows !== null) {
        late += lateRows.length;
        ctx.onLate?.({ batch, schema, rows: Int32Array.from(lateRows), watermark, reason: first ? 'at or behind the watermark, or NULL event time' : 'NULL event time' });
      }
    },
    processWatermark(wm: number, out: Output) {
      if (wm <= watermark) return;
      watermark = wm;
      if (first) emitFinal(wm, out);
    },
    flush(out: Output) {
      if (first || dirty.length === 0) return;
      const slots = Int32Array.from(dirty, (g) => slotOf[g]!);
      for (const g of dirty) isDirty[g] = 0;
      dirty = [];
      out.batch(store.batch(slots), new Int8Array(slots.length).fill(UPSERT));
    },
    end(out: Output) {
      if (first) emitFinal(Infinity, out); else this.flush!(out);
    },
    snapshotTables(): TableState {
      const live: number[] = []; const doneIds: number[] = [];
      for (let g = 0; g < keys.size; g++) { if (slotOf[g]! >= 0) live.push(g); if (done[g] === 1) doneIds.push(g); }
      const ids = Int32Array.from(doneIds);
      return {
        tables: {
          rows: live.length ? store.batch(Int32Array.from(live, (g) => slotOf[g]!)) : null,
          done: ids.length ? makeBatch(keySchema, keys.keyVectors(ids, ids.length) as Vector[], ids.length) : null,
        },
        meta: { watermark: Number.isFinite(watermark) ? watermark : null, late, dirty: live.filter((g) => isDirty[g] === 1).length },
      };
    },
    restoreTables(s: TableState) {
      reset();
      watermark = typeof s.meta.watermark === 'number' ? s.meta.watermark : -Infinity;
      late = Number(s.meta.late ?? 0);
      const rows = s.tables.rows;
      if (rows) {
        const cols = batchVectors(rows, schema);
        const n = rows.numRows;
        const ids = new Int32Array(n);
        keys.assign(op.keys.map((i) => cols[i]!), null, n, ids);
        ensure(keys.size);
        const t = asF64(cols[op.timeColumn]!);
        for (let i = 0; i < n; i++) {
          const g = ids[i]!; slotOf[g] = store.add(cols, i); timeOf[g] = t[i]!;
          // Keep-first candidates wait for the watermark; keep-last rows were flushed at the barrier.
          if (first) mark(g);
        }
      }
      const d = s.tables.done;
      if (d) {
        const n = d.numRows;
        const ids = new Int32Array(n);
        keys.assign(batchVectors(d, keySchema), null, n, ids);
        ensure(keys.size);
        for (let i = 0; i < n; i++) { done[ids[i]!] = 1; doneCount++; }
      }
    },
    metrics() {
      return { stateRows: store.size + doneCount, stateBytes: store.bytes() + keys.bytes() + slotOf.length * 14, lateRowsDropped: late };
    },
  };
}
