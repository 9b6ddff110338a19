/**
 * Temporal join (`JOIN t FOR SYSTEM_TIME AS OF s.ts ON s.k = t.k`): each row of the append-only left
 * input joins the version of the right table (a changelog keyed by the join keys) valid at its time.
 *
 * Event time (`leftTime` set): left rows wait until the watermark reaches their time, then look up the
 * right version valid then — per key the versions are ordered by `r[rightTime]` (equal times: the later
 * arrival wins); a delete makes the key absent from its time on (a delete with a NULL time applies at
 * the key's newest version's time). Without `rightTime` the version is the one current when the
 * watermark passes the left row. Late rows — left rows at or behind the watermark, right versions at
 * or behind it (they would rewrite a past already joined), NULL times — are dropped, counted, handed
 * to onLate. Per key only the newest version at or below the watermark and the newer ones are kept.
 *
 * Processing time (`leftTime` null): the right input is kept as its current rows and each left row
 * joins the current row of its key on arrival, emitted at once.
 *
 * INNER drops left rows without a version (or whose version fails the residual); LEFT pads them.
 * State: tables `left` (waiting left rows) and `versions` (right rows in per-key version order, with
 * their version time and a delete flag).
 */
import type { RecordBatch } from 'apache-arrow';
import { batchVectors } from '../arrow.ts';
import { compileResidual, filterPairs, gatherCols, gatherStore, outBatch, type RowSource } from '../kernels/join-output.ts';
import { JoinKeys, JoinSide, PairList, readSideTable, TimeHeap } from '../kernels/join-state.ts';
import { DELETE } from '../message.ts';
import type { Operator, OperatorContext, Output, TableState } from '../operator.ts';
import type { Vector } from '../vector.ts';
import type { JoinOp } from './join.ts';

export function createTemporalJoin(op: JoinOp, ctx: OperatorContext): Operator {
  const b = op.bound;
  if (b.kind !== 'temporal') throw new Error('not a temporal join');
  const leftTime = b.leftTime; const rightTime = b.rightTime;
  const eventTime = leftTime !== null;
  /** Versions ordered by time: only with both times; otherwise a key keeps its current row only. */
  const versioned = eventTime && rightTime !== null;
  const outer = op.joinType === 'left';
  const residual = compileResidual(op.residual);
  const keyTypes = op.leftKeys.map((c) => op.leftSchema.fields[c]!.type);
  let keys = new JoinKeys(keyTypes);
  let left = new JoinSide(op.leftSchema);
  let right = new JoinSide(op.rightSchema);
  let waiting = new TimeHeap();
  /** Per key id: version times and slots (ascending time; a slot with flag 1 is a delete). */
  let vt: (number[] | undefined)[] = [];
  let vs: (number[] | undefined)[] = [];
  let versionCount = 0;
  /** Keys with at least one version; a sweep of all keys runs when the versions double (amortized O(1) a version). */
  let versionKeys = 0;
  let nextSweep = 0;
  let nextCompact = 4096;
  let watermark = -Infinity;
  let late = 0;
  const pairs = new PairList();

  /** Drops key k's versions no waiting or future left row can need. */
  const prune = (k: number, wm: number) => {
    const t = vt[k]; const s = vs[k];
    if (!t || !s) return;
    let j = -1;
    for (let i = 0; i < t.length && t[i]! <= wm; i++) j = i;
    let drop = j; // entries before j go; j itself stays unless it is a delete
    if (j >= 0 && right.flag[s[j]!] === 1) drop = j + 1;
    if (drop <= 0) return;
    for (let i = 0; i < drop; i++) right.remove(s[i]!);
    t.splice(0, drop); s.splice(0, drop); versionCount -= drop;
    if (t.length === 0) { vt[k] = undefined; vs[k] = undefined; versionKeys--; }
  };

  const addVersion = (k: number, time: number, slot: number) => {
    if (!versioned) {
      // The current row only.
      const s = vs[k];
      if (s) { for (const x of s) right.remove(x); versionCount -= s.length; } else versionKeys++;
      vt[k] = [time]; vs[k] = [slot]; versionCount++;
      return;
    }
    if (!vt[k]) { vt[k] = []; vs[k] = []; versionKeys++; }
    const t = vt[k]!; const s = vs[k]!;
    let at = t.length;
    while (at > 0 && t[at - 1]! > time) at--;
    t.splice(at, 0, time); s.splice(at, 0, slot); versionCount++;
    prune(k, watermark);
  };

  /** The slot of key k's version valid at time `at` (-1: none, or deleted). */
  const versionAt = (k: number, at: number): number => {
    if (k < 0) return -1;
    const t = vt[k]; const s = vs[k];
    if (!t || !s) return -1;
    let j = -1;
    if (!versioned) j = t.length - 1;
    else for (let i = t.length - 1; i >= 0; i--) if (t[i]! <= at) { j = i; break; }
    if (j < 0) return -1;
    const slot = s[j]!;
    return right.flag[slot] === 1 ? -1 : slot;
  };

  /** Joins the pairs (left row, version slot or -1) and emits the result. */
  const emit = (src: RowSource, out: Output) => {
    const n = pairs.n;
    if (n === 0) return;
    // Left rows with a version go through the residual; the others are padded (LEFT) or dropped.
    const keep = new Int32Array(n); const miss: number[] = [];
    let m = 0;
    for (let i = 0; i < n; i++) { if (pairs.right[i]! >= 0) { keep[m] = pairs.left[i]!; pairs.right[m] = pairs.right[i]!; m++; } else miss.push(pairs.left[i]!); }
    pairs.left.set(keep.subarray(0, m)); pairs.n = m;
    const ls = Int32Array.from(pairs.left.subarray(0, m));
    const { l, r } = filterPairs(pairs, src, { store: right.store }, residual);
    if (pairs.n > 0) out.batch(outBatch(op.schema, l, r, pairs.n), null);
    if (!outer) return;
    if (pairs.n < m) {
      const passed = new Set(pairs.left.subarray(0, pairs.n));
      for (const x of ls) if (!passed.has(x)) miss.push(x);
    }
    if (miss.length === 0) return;
    const ix = Int32Array.from(miss);
    const mine = 'store' in src ? gatherStore(src.store, ix, ix.length) : gatherCols(src.schema, src.cols, ix, ix.length);
    out.batch(outBatch(op.schema, mine, gatherStore(right.store, new Int32Array(ix.length).fill(-1), ix.length), ix.length), null);
  };

  const release = (wm: number, out: Output) => {
    if (waiting.due(wm)) {
      pairs.clear();
      const done: number[] = [];
      while (waiting.due(wm)) {
        const s = waiting.pop();
        done.push(s);
        pairs.push(s, versionAt(left.key[s]!, left.time[s]!));
      }
      emit({ store: left.store }, out);
      for (const s of done) left.remove(s);
    }
    if (versioned && versionCount > versionKeys && versionCount >= nextSweep) {
      for (let k = 0; k < vt.length; k++) if (vt[k]) prune(k, wm);
      nextSweep = 2 * versionCount;
    }
    if (keys.size >= nextCompact) {
      // Keys with neither a version nor a waiting row leave the key table.
      const remap = keys.compact((g) => vs[g] !== undefined || left.first(g) >= 0);
      const t2: (number[] | undefined)[] = []; const s2: (number[] | undefined)[] = [];
      for (let g = 0; g < remap.length; g++) if (remap[g]! >= 0) { t2[remap[g]!] = vt[g]; s2[remap[g]!] = vs[g]; }
      vt = t2; vs = s2;
      left.remap(remap, keys.size);
      nextCompact = Math.max(4096, keys.size * 2);
    }
  };

  const addRight = (cols: readonly Vector[], ops: Int8Array | null, n: number, rows: number[] | null): number[] | null => {
    const kid = keys.buffer(n);
    keys.ids(op.rightKeys.map((c) => cols[c]!), n, kid);
    const tv = rightTime !== null ? cols[rightTime]! : null;
    const tvals = tv ? (tv as { values: Float64Array }).values : null;
    let lateRows: number[] | null = null;
    for (let i = 0; i < n; i++) {
      const k = kid[i]!;
      if (k < 0) continue; // a NULL key never matches
      const del = ops !== null && ops[i] === DELETE;
      let time = -Infinity;
      if (versioned) {
        const ok = tv!.valid === null || tv!.valid[i] === 1;
        if (ok) time = tvals![i]!;
        else if (del && vt[k]?.length) time = vt[k]!.at(-1)!;
        else { (lateRows ??= []).push(i); continue; }
        if (rows === null && time <= watermark) { (lateRows ??= []).push(i); continue; }
      } else if (del) {
        const s = vs[k];
        if (s) { for (const x of s) right.remove(x); versionCount -= s.length; vt[k] = undefined; vs[k] = undefined; versionKeys--; }
        continue;
      }
      const slot = right.add(cols, i, -1, time, 0);
      right.flag[slot] = del ? 1 : 0;
      addVersion(k, time, slot);
    }
    return lateRows;
  };

  const reset = () => {
    keys = new JoinKeys(keyTypes); left = new JoinSide(op.leftSchema); right = new JoinSide(op.rightSchema);
    waiting = new TimeHeap(); vt = []; vs = []; versionCount = 0; versionKeys = 0; nextSweep = 0; nextCompact = 4096;
  };

  return {
    name: eventTime ? 'temporal_join' : 'lookup_join',
    schema: op.schema,
    stateTables: ['left', 'versions'],
    processBatch(batch: RecordBatch, ops: Int8Array | null, out: Output, input = 0) {
      const n = batch.numRows;
      if (n === 0) return;
      if (input === 1) {
        const cols = batchVectors(batch, op.rightSchema);
        const lateRows = addRight(cols, ops, n, null);
        if (lateRows !== null) {
          late += lateRows.length;
          ctx.onLate?.({ batch, schema: op.rightSchema, rows: Int32Array.from(lateRows), watermark, reason: 'version time at or behind the watermark, or NULL' });
        }
        return;
      }
      const cols = batchVectors(batch, op.leftSchema);
      const kid = keys.buffer(n);
      // A lookup does not add keys the right side never had; a waiting row keeps its key in the table.
      if (!eventTime) keys.find(op.leftKeys.map((c) => cols[c]!), n, kid);
      else keys.ids(op.leftKeys.map((c) => cols[c]!), n, kid);
      if (!eventTime) {
        pairs.clear();
        for (let i = 0; i < n; i++) pairs.push(i, versionAt(kid[i]!, Infinity));
        emit({ schema: op.leftSchema, cols }, out);
        return;
      }
      const tv = cols[leftTime]!; const t = (tv as { values: Float64Array }).values;
      let lateRows: number[] | null = null;
      for (let i = 0; i < n; i++) {
        if ((tv.valid !== null && tv.valid[i] === 0) || t[i]! <= watermark) { (lateRows ??= []).push(i); continue; }
        waiting.push(t[i]!, left.add(cols, i, kid[i]!, t[i]!, 0));
      }
      if (lateRows !== null) {
        late += lateRows.length;
        ctx.onLate?.({ batch, schema: op.leftSchema, rows: Int32Array.from(lateRows), watermark, reason: 'at or behind the watermark, or NULL event time' });
      }
    },
    processWatermark(wm: number, out: Output) {
      if (wm <= watermark) return;
      watermark = wm;
      if (eventTime) release(wm, out);
    },
    end(out: Output) { if (eventTime) release(Infinity, out); },
    snapshotTables(): TableState {
      const order: number[] = [];
      for (let k = 0; k < vs.length; k++) { const s = vs[k]; if (s) order.push(...s); }
      return {
        tables: {
          left: left.table(left.store.liveSlots(), []),
          versions: right.table(Int32Array.from(order), [{ name: '_vt', of: (x) => right.time[x]! }, { name: '_del', of: (x) => right.flag[x]! }]),
        },
        meta: { watermark: Number.isFinite(watermark) ? watermark : null, late },
      };
    },
    restoreTables(st: TableState) {
      reset();
      watermark = typeof st.meta.watermark === 'number' ? st.meta.watermark : -Infinity;
      late = Number(st.meta.late ?? 0);
      const v = st.tables.versions;
      if (v) {
        const { cols, extra, n } = readSideTable(v, op.rightSchema, 2);
        const kid = new Int32Array(n);
        keys.ids(op.rightKeys.map((c) => cols[c]!), n, kid);
        for (let i = 0; i < n; i++) {
          const k = kid[i]!;
          if (k < 0) continue;
          const slot = right.add(cols, i, -1, extra[0]![i]!, 0);
          right.flag[slot] = extra[1]![i]!;
          if (!vt[k]) { vt[k] = []; vs[k] = []; versionKeys++; }
          vt[k]!.push(extra[0]![i]!); vs[k]!.push(slot); versionCount++;
        }
      }
      const l = st.tables.left;
      if (l && leftTime !== null) {
        const { cols, n } = readSideTable(l, op.leftSchema, 0);
        const kid = new Int32Array(n);
        keys.ids(op.leftKeys.map((c) => cols[c]!), n, kid);
        const t = (cols[leftTime] as { values: Float64Array }).values;
        for (let i = 0; i < n; i++) waiting.push(t[i]!, left.add(cols, i, kid[i]!, t[i]!, 0));
      }
    },
    metrics() {
      return { stateRows: left.size + right.size, stateBytes: left.bytes() + right.bytes() + keys.bytes(), lateRowsDropped: late };
    },
  };
}
