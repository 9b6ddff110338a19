/**
 * Grouped aggregate state, partitioned by window end: one group table and accumulator set per open
 * window, so that closing a window frees its whole state at once. The tumble, hop, cumulate and
 * updating (non-windowed) aggregate operators share it; they differ only in how rows map to windows.
 */
import type { RecordBatch } from 'apache-arrow';
import type { AggCall, Field, Schema, SqlType } from '../../planner/types.ts';
import { T } from '../../planner/types.ts';
import { batchVectors, makeBatch } from '../arrow.ts';
import { asBool, asF64, concatVectors, take as takeRows, type Vector } from '../vector.ts';
import { createAccumulator, type Accumulator } from './accumulators.ts';
import { GroupTable } from './group-table.ts';

/** The per-row inputs of an aggregation, as vectors of the input batch. */
export interface AggInputs {
  readonly keys: readonly Vector[];
  readonly args: readonly (Vector | null)[];
  readonly filters: readonly (Vector | null)[];
}

export function aggInputs(cols: readonly Vector[], groupBy: readonly number[], aggs: readonly AggCall[]): AggInputs {
  return {
    keys: groupBy.map((i) => cols[i]!),
    args: aggs.map((a) => (a.arg >= 0 ? cols[a.arg]! : null)),
    filters: aggs.map((a) => (a.filter >= 0 ? cols[a.filter]! : null)),
  };
}

/** One window's (or pane's) groups: key table, accumulators, groups changed since the last emit. */
export class WindowGroups {
  readonly table: GroupTable;
  readonly accs: Accumulator[];
  dirty = new Uint8Array(64);
  dirtyList = new Int32Array(64);
  nDirty = 0;
  constructor(keyTypes: readonly SqlType[], aggs: readonly AggCall[]) {
    this.table = new GroupTable(keyTypes);
    this.accs = aggs.map(createAccumulator);
  }
  markDirty(gids: Int32Array, n: number): void {
    const size = this.table.size;
    if (this.dirty.length < size) { const d = new Uint8Array(Math.max(size, this.dirty.length * 2)); d.set(this.dirty); this.dirty = d; }
    for (let i = 0; i < n; i++) {
      const g = gids[i]!;
      if (this.dirty[g] === 0) {
        this.dirty[g] = 1;
        if (this.nDirty === this.dirtyList.length) { const l = new Int32Array(this.dirtyList.length * 2); l.set(this.dirtyList); this.dirtyList = l; }
        this.dirtyList[this.nDirty++] = g;
      }
    }
  }
  clearDirty(): void {
    for (let i = 0; i < this.nDirty; i++) this.dirty[this.dirtyList[i]!] = 0;
    this.nDirty = 0;
  }
}

export interface WindowedAggregationOptions {
  readonly keyTypes: readonly SqlType[];
  readonly aggs: readonly AggCall[];
  /** Output columns window_start, window_end first (false for a non-windowed GROUP BY). */
  readonly windowed: boolean;
  /** Window start of the window ending at `end`. */
  readonly startOf: (end: number) => number;
  /** The aggregate's output schema: [window_start, window_end]? keys… aggs… */
  readonly schema: Schema;
}

export class WindowedAggregation {
  /** Open windows by end time. A non-windowed aggregation keeps everything under one key. */
  readonly windows = new Map<number, WindowGroups>();
  private gids = new Int32Array(1024);
  private sub = new Int32Array(1024);
  private bucket = new Int32Array(1024);
  private readonly endIndex = new Map<number, number>();
  private distinctEnds = new Float64Array(16);
  private endCounts = new Int32Array(16);
  private endStarts = new Int32Array(17);

  constructor(private readonly o: WindowedAggregationOptions) {}

  private windowAt(end: number): WindowGroups {
    let w = this.windows.get(end);
    if (!w) { w = new WindowGroups(this.o.keyTypes, this.o.aggs); this.windows.set(end, w); }
    return w;
  }

  /**
   * Folds rows into their windows: position i of the input is row `rows[i]` (or i) and belongs to the
   * window ending at `ends[i]`.
   */
  accumulate(ends: Float64Array, rows: Int32Array | null, n: number, inputs: AggInputs): void {
    if (n === 0) return;
    // Bucket positions by window end (a counting sort). Rows mostly come in time order, so the end of
    // the previous row is the usual answer and the Map is consulted only when the end changes.
    if (this.bucket.length < n) { this.bucket = new Int32Array(Math.max(n, this.bucket.length * 2)); this.sub = new Int32Array(this.bucket.length); }
    const bucket = this.bucket;
    const index = this.endIndex; index.clear();
    let de = this.distinctEnds; let counts = this.endCounts;
    let nd = 0; let lastE = NaN; let last = -1;
    for (let i = 0; i < n; i++) {
      const e = ends[i]!;
      if (e !== lastE) {
        let j = index.get(e);
        if (j === undefined) {
          j = nd++;
          if (j === de.length) {
            const d2 = new Float64Array(de.length * 2); d2.set(de); de = this.distinctEnds = d2;
            const c2 = new Int32Array(counts.length * 2); c2.set(counts); counts = this.endCounts = c2;
          }
          de[j] = e; counts[j] = 0; index.set(e, j);
        }
        lastE = e; last = j;
      }
      bucket[i] = last; counts[last]!++;
    }
    if (nd === 1) { this.accumulateOne(de[0]!, rows, n, inputs); return; }
    const starts = this.endStarts.length >= nd + 1 ? this.endStarts : (this.endStarts = new Int32Array(de.length + 1));
    let acc = 0;
    for (let j = 0; j < nd; j++) { starts[j] = acc; acc += counts[j]!; }
    starts[nd] = acc;
    const sub = this.sub;
    if (rows === null) for (let i = 0; i < n; i++) sub[starts[bucket[i]!]!++] = i;
    else for (let i = 0; i < n; i++) sub[starts[bucket[i]!]!++] = rows[i]!;
    // starts[j] now holds the end of bucket j.
    for (let j = 0; j < nd; j++) {
      const c = counts[j]!; const e = starts[j]!;
      this.accumulateOne(de[j]!, sub.subarray(e - c, e), c, inputs);
    }
  }

  /** Folds rows (all in the window ending at `end`) into that window. */
  accumulateOne(end: number, rows: Int32Array | null, n: number, inputs: AggInputs): void {
    const w = this.windowAt(end);
    if (this.gids.length < n) this.gids = new Int32Array(Math.max(n, this.gids.length * 2));
    const gids = this.gids;
    w.table.assign(inputs.keys, rows, n, gids);
    const size = w.table.size;
    for (let a = 0; a < w.accs.length; a++) {
      const acc = w.accs[a]!;
      acc.ensure(size);
      acc.update(gids, rows, n, inputs.args[a]!, inputs.filters[a]!);
    }
    w.markDirty(gids, n);
  }

  private output(entries: readonly { end: number; w: WindowGroups; gids: Int32Array }[]): RecordBatch | null {
    const total = entries.reduce((s, e) => s + e.gids.length, 0);
    if (total === 0) return null;
    const cols: Vector[][] = [];
    for (const { end, w, gids } of entries) {
      const n = gids.length;
      const part: Vector[] = [];
      if (this.o.windowed) {
        part.push({ kind: 'f64', type: T.timestamp, length: n, values: new Float64Array(n).fill(this.o.startOf(end)), valid: null });
        part.push({ kind: 'f64', type: T.timestamp, length: n, values: new Float64Array(n).fill(end), valid: null });
      }
      part.push(...w.table.keyVectors(gids, n));
      for (const acc of w.accs) part.push(acc.result(gids, n));
      cols.push(part);
    }
    return makeBatch(this.o.schema, concatParts(this.o.schema, cols), total);
  }

  /** Rows of the groups changed since the last call (EMIT CHANGES) in windows ending at or before `upTo`, as upserts. */
  takeChanges(upTo = Infinity): RecordBatch | null {
    const entries: { end: number; w: WindowGroups; gids: Int32Array }[] = [];
    for (const [end, w] of this.windows) {
      if (w.nDirty === 0 || end > upTo) continue;
      entries.push({ end, w, gids: w.dirtyList.slice(0, w.nDirty) });
      w.clearDirty();
    }
    return this.output(entries);
  }

  /**
   * Frees every window with end ≤ watermark, in order of end; returns their final rows when `emit`
   * (EMIT ON WINDOW CLOSE), else null.
   */
  close(watermark: number, emit: boolean): RecordBatch | null {
    const closing = [...this.windows.keys()].filter((e) => e <= watermark).sort((a, b) => a - b);
    if (closing.length === 0) return null;
    const entries: { end: number; w: WindowGroups; gids: Int32Array }[] = [];
    for (const end of closing) {
      const w = this.windows.get(end)!;
      this.windows.delete(end);
      if (emit) entries.push({ end, w, gids: iota(w.table.size) });
    }
    return emit ? this.output(entries) : null;
  }

  stateRows(): number {
    let n = 0;
    for (const w of this.windows.values()) n += w.table.size;
    return n;
  }

  stateBytes(): number {
    let b = 0;
    for (const w of this.windows.values()) {
      b += w.table.bytes();
      for (const a of w.accs) b += a.bytesPerGroup() * w.table.size;
    }
    return b;
  }

  /** State as one batch: [_window_end, keys…, accumulator state…, _dirty]. */
  snapshotSchema(): Schema {
    const fields: Field[] = [{ name: '_window_end', type: T.double, nullable: false }];
    this.o.keyTypes.forEach((t, i) => fields.push({ name: `_k${i}`, type: t, nullable: true }));
    const probe = this.o.aggs.map(createAccumulator);
    probe.forEach((a, i) => a.stateTypes.forEach((t, j) => fields.push({ name: `_a${i}_${j}`, type: t, nullable: true })));
    fields.push({ name: '_dirty', type: T.boolean, nullable: false });
    return { fields };
  }

  snapshot(): RecordBatch | null {
    const schema = this.snapshotSchema();
    const parts: Vector[][] = [];
    let total = 0;
    for (const [end, w] of this.windows) {
      const n = w.table.size;
      if (n === 0) continue;
      const gids = iota(n);
      const part: Vector[] = [{ kind: 'f64', type: T.double, length: n, values: new Float64Array(n).fill(end), valid: null }];
      part.push(...w.table.keyVectors(gids, n));
      for (const a of w.accs) part.push(...a.state(gids, n));
      const dirty = new Uint8Array(n);
      for (let i = 0; i < n; i++) dirty[i] = w.dirty[i] ?? 0;
      part.push({ kind: 'bool', type: T.boolean, length: n, values: dirty, valid: null });
      parts.push(part);
      total += n;
    }
    if (total === 0) return null;
    return makeBatch(schema, concatParts(schema, parts), total);
  }

  restore(batch: RecordBatch | null): void {
    this.windows.clear();
    if (!batch || batch.numRows === 0) return;
    const schema = this.snapshotSchema();
    const cols = batchVectors(batch, schema);
    const ends = asF64(cols[0]!);
    const nk = this.o.keyTypes.length;
    const keyCols = cols.slice(1, 1 + nk);
    const n = batch.numRows;
    // Rows of one window are contiguous in a snapshot.
    let s = 0;
    while (s < n) {
      let e = s;
      while (e < n && ends[e] === ends[s]) e++;
      const rows = Int32Array.from({ length: e - s }, (_, i) => s + i);
      const w = this.windowAt(ends[s]!);
      const gids = new Int32Array(e - s);
      w.table.assign(keyCols, rows, e - s, gids);
      let c = 1 + nk;
      for (const a of w.accs) {
        a.ensure(w.table.size);
        const k = a.stateTypes.length;
        const sub = cols.slice(c, c + k).map((v) => sliceVector(v, s, e));
        a.restore(sub, gids, e - s);
        c += k;
      }
      const dirtyCol = asBool(cols[c]!);
      const dirtyGids = gids.filter((_, i) => dirtyCol[s + i] === 1);
      w.markDirty(dirtyGids, dirtyGids.length);
      s = e;
    }
  }
}

/** 0 … n-1 (a plain loop: Int32Array.from with a callback costs tens of ns an element). */
function iota(n: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

function sliceVector(v: Vector, s: number, e: number): Vector {
  const sel = Int32Array.from({ length: e - s }, (_, i) => s + i);
  return takeRows(v, sel);
}


function concatParts(schema: Schema, parts: readonly Vector[][]): Vector[] {
  if (parts.length === 1) return parts[0]!;
  return schema.fields.map((f, c) => concatVectors(f.type, parts.map((p) => p[c]!)));
}
