/**
 * Session-window aggregate: per group key, events closer than `gap` form one session
 * [first event, last event + gap). An event that bridges two sessions merges them. Under EMIT
 * CHANGES a session whose bounds move, or that is merged away, retracts the row it had emitted.
 */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../../planner/physical.ts';
import { T, type Field, type Schema } from '../../planner/types.ts';
import { batchVectors, makeBatch } from '../arrow.ts';
import { createAccumulator, type Accumulator } from '../kernels/accumulators.ts';
import { GroupTable } from '../kernels/group-table.ts';
import { aggInputs } from '../kernels/window-state.ts';
import { DELETE, UPSERT } from '../message.ts';
import type { Operator, OperatorContext, OperatorState, Output } from '../operator.ts';
import { asBool, asF64, constantVector, type Vector } from '../vector.ts';
import type { WindowAggregateOp } from './window-common.ts';

export function createSessionAggregate(op: WindowAggregateOp, ctx: OperatorContext): Operator {
  if (op.spec.kind !== 'session') throw new Error('session aggregate over a non-session window');
  const gap = op.spec.gapMs;
  const keyTypes = op.groupBy.map((i) => op.inputSchema.fields[i]!.type);
  const keys = new GroupTable(keyTypes);
  const accs: Accumulator[] = op.aggs.map(createAccumulator);
  const emitOnClose = op.emit === 'window_close';
  // Session slots: bounds, owning key group, what was last emitted for it, dirty flag.
  let start = new Float64Array(256); let end = new Float64Array(256);
  let group = new Int32Array(256); let emStart = new Float64Array(256); let emEnd = new Float64Array(256);
  let dirty = new Uint8Array(256);
  let slotCount = 0;
  const free: number[] = [];
  const live = new Set<number>();
  /** Sessions of each key group, as slot lists. */
  const byGroup: number[][] = [];
  /** Rows emitted earlier whose key changed or vanished: retract at the next flush. */
  const retractions: { slot: number; g: number; start: number; end: number }[] = [];
  let watermark = -Infinity;
  let late = 0;

  const growTo = (n: number) => {
    if (start.length >= n) return;
    const cap = Math.max(n, start.length * 2);
    const f = (a: Float64Array) => { const b = new Float64Array(cap); b.set(a); return b; };
    start = f(start); end = f(end); emStart = f(emStart); emEnd = f(emEnd);
    const g2 = new Int32Array(cap); g2.set(group); group = g2;
    const d2 = new Uint8Array(cap); d2.set(dirty); dirty = d2;
  };
  const alloc = (g: number, s: number, e: number): number => {
    const slot = free.length ? free.pop()! : slotCount++;
    growTo(slotCount);
    start[slot] = s; end[slot] = e; group[slot] = g; emStart[slot] = NaN; emEnd[slot] = NaN; dirty[slot] = 1;
    for (const a of accs) { a.ensure(slotCount); a.reset(slot); }
    live.add(slot);
    (byGroup[g] ??= []).push(slot);
    return slot;
  };
  const release = (slot: number) => {
    if (emStart[slot] === emStart[slot]) retractions.push({ slot: -1, g: group[slot]!, start: emStart[slot]!, end: emEnd[slot]! });
    const list = byGroup[group[slot]!]!;
    list.splice(list.indexOf(slot), 1);
    live.delete(slot);
    dirty[slot] = 0;
    free.push(slot);
  };

  const outSchema: Schema = op.schema;
  const rowsFor = (slots: readonly number[], ops: number[]): { batch: RecordBatch; ops: Int8Array } | null => {
    const n = slots.length;
    if (n === 0) return null;
    const sl = Int32Array.from(slots);
    const gids = Int32Array.from(slots, (s) => group[s]!);
    const cols: Vector[] = [
      { kind: 'f64', type: T.timestamp, length: n, values: Float64Array.from(slots, (s) => start[s]!), valid: null },
      { kind: 'f64', type: T.timestamp, length: n, values: Float64Array.from(slots, (s) => end[s]!), valid: null },
      ...keys.keyVectors(gids, n),
      ...accs.map((a) => a.result(sl, n)),
    ];
    return { batch: makeBatch(outSchema, cols, n), ops: Int8Array.from(ops) };
  };

  const retractionBatch = (): { batch: RecordBatch; ops: Int8Array } | null => {
    const n = retractions.length;
    if (n === 0) return null;
    const gids = Int32Array.from(retractions, (r) => r.g);
    const cols: Vector[] = [
      { kind: 'f64', type: T.timestamp, length: n, values: Float64Array.from(retractions, (r) => r.start), valid: null },
      { kind: 'f64', type: T.timestamp, length: n, values: Float64Array.from(retractions, (r) => r.end), valid: null },
      ...keys.keyVectors(gids, n),
      ...op.aggs.map((a) => constantVector(a.type, null, n)),
    ];
    retractions.length = 0;
    return { batch: makeBatch(outSchema, cols, n), ops: new Int8Array(n).fill(DELETE) };
  };

  const flushChanges = (out: Output) => {
    const r = retractionBatch();
    if (r) out.batch(r.batch, r.ops);
    const slots: number[] = [];
    for (const s of live) if (dirty[s] === 1) slots.push(s);
    for (const s of slots) dirty[s] = 0;
    const moved = slots.filter((s) => emStart[s] === emStart[s] && (emStart[s] !== start[s] || emEnd[s] !== end[s]));
    if (moved.length) {
      for (const s of moved) retractions.push({ slot: s, g: group[s]!, start: emStart[s]!, end: emEnd[s]! });
      const r2 = retractionBatch();
      if (r2) out.batch(r2.batch, r2.ops);
    }
    const b = rowsFor(slots, slots.map(() => UPSERT));
    for (const s of slots) { emStart[s] = start[s]!; emEnd[s] = end[s]!; }
    if (b) out.batch(b.batch, b.ops);
  };

  let gidBuf = new Int32Array(1024);
  return {
    name: 'session_aggregate',
    schema: op.schema,
    processBatch(batch: RecordBatch) {
      const n = batch.numRows;
      if (n === 0) return;
      const cols = batchVectors(batch, op.inputSchema);
      const tv = cols[op.timeColumn]!; const t = asF64(tv);
      const inputs = aggInputs(cols, op.groupBy, op.aggs);
      if (gidBuf.length < n) gidBuf = new Int32Array(n);
      keys.assign(inputs.keys, null, n, gidBuf);
      const slotOf = new Int32Array(n);
      const keep: number[] = []; const lateRows: number[] = [];
      // Slots merged away in this batch point at the slot they merged into.
      const redirect = new Map<number, number>();
      const root = (s: number): number => { let x = s; while (redirect.has(x)) x = redirect.get(x)!; return x; };
      const freedNow: number[] = [];
      for (let i = 0; i < n; i++) {
        const x = t[i]!;
        if ((tv.valid !== null && tv.valid[i] === 0) || x + gap <= watermark) { lateRows.push(i); continue; }
        const g = gidBuf[i]!;
        const list = byGroup[g] ?? [];
        const hits: number[] = [];
        for (const s of list) if (start[s]! <= x + gap && x <= end[s]!) hits.push(s);
        let target: number;
        if (hits.length === 0) target = alloc(g, x, x + gap);
        else {
          target = hits[0]!;
          start[target] = Math.min(start[target]!, x); end[target] = Math.max(end[target]!, x + gap);
          for (const s of hits.slice(1)) {
            start[target] = Math.min(start[target]!, start[s]!); end[target] = Math.max(end[target]!, end[s]!);
            for (const a of accs) a.merge(target, s);
            redirect.set(s, target);
            // Keep the slot out of the free list until this batch's rows are folded in.
            const l = byGroup[g]!; l.splice(l.indexOf(s), 1); live.delete(s);
            if (emStart[s] === emStart[s]) retractions.push({ slot: s, g, start: emStart[s]!, end: emEnd[s]! });
            dirty[s] = 0; freedNow.push(s);
          }
          dirty[target] = 1;
        }
        slotOf[i] = target;
        keep.push(i);
      }
      if (keep.length) {
        const rows = Int32Array.from(keep);
        const slots = Int32Array.from(keep, (i) => root(slotOf[i]!));
        for (let a = 0; a < accs.length; a++) accs[a]!.update(slots, rows, rows.length, inputs.args[a]!, inputs.filters[a]!);
      }
      for (const s of freedNow) { for (const a of accs) a.reset(s); free.push(s); }
      if (lateRows.length) {
        late += lateRows.length;
        ctx.onLate?.({ batch, schema: op.inputSchema, rows: Int32Array.from(lateRows), watermark, reason: 'session closed' });
      }
    },
    processWatermark(wm: number, out: Output) {
      if (wm <= watermark) return;
      watermark = wm;
      const closing = [...live].filter((s) => end[s]! <= wm).sort((a, b) => end[a]! - end[b]! || start[a]! - start[b]!);
      if (closing.length === 0) return;
      if (emitOnClose) {
        const b = rowsFor(closing, closing.map(() => UPSERT));
        if (b) out.batch(b.batch, null);
      } else flushChanges(out);
      for (const s of closing) {
        emStart[s] = NaN; // final: nothing to retract later
        release(s);
        for (const a of accs) a.reset(s);
      }
    },
    flush(out: Output) { if (!emitOnClose) flushChanges(out); },
    end(out: Output) { this.flush!(out); this.processWatermark!(Infinity, out); },
    snapshot(): OperatorState {
      const slots = [...live].sort((a, b) => a - b);
      const n = slots.length;
      if (n === 0) return { batch: null, meta: { watermark: Number.isFinite(watermark) ? watermark : null, late, retractions } };
      const sl = Int32Array.from(slots);
      const fields: Field[] = ['_start', '_end', '_em_start', '_em_end'].map((name) => ({ name, type: T.double, nullable: true }));
      keyTypes.forEach((type, i) => fields.push({ name: `_k${i}`, type, nullable: true }));
      accs.forEach((a, i) => a.stateTypes.forEach((type, j) => fields.push({ name: `_a${i}_${j}`, type, nullable: true })));
      fields.push({ name: '_dirty', type: T.boolean, nullable: false });
      const f = (a: Float64Array): Vector => ({ kind: 'f64', type: T.double, length: n, values: Float64Array.from(slots, (s) => a[s]!), valid: null });
      const cols: Vector[] = [f(start), f(end), f(emStart), f(emEnd), ...keys.keyVectors(Int32Array.from(slots, (s) => group[s]!), n)];
      for (const a of accs) cols.push(...a.state(sl, n));
      cols.push({ kind: 'bool', type: T.boolean, length: n, values: Uint8Array.from(slots, (s) => dirty[s]!), valid: null });
      return { batch: makeBatch({ fields }, cols, n), meta: { watermark: Number.isFinite(watermark) ? watermark : null, late, retractions } };
    },
    restore(s: OperatorState) {
      watermark = typeof s.meta.watermark === 'number' ? s.meta.watermark : -Infinity;
      late = Number(s.meta.late ?? 0);
      retractions.length = 0;
      retractions.push(...((s.meta.retractions as typeof retractions | undefined) ?? []));
      if (!s.batch) return;
      const n = s.batch.numRows;
      const fields: Field[] = ['_start', '_end', '_em_start', '_em_end'].map((name) => ({ name, type: T.double, nullable: true }));
      keyTypes.forEach((type, i) => fields.push({ name: `_k${i}`, type, nullable: true }));
      accs.forEach((a, i) => a.stateTypes.forEach((type, j) => fields.push({ name: `_a${i}_${j}`, type, nullable: true })));
      fields.push({ name: '_dirty', type: T.boolean, nullable: false });
      const cols = batchVectors(s.batch, { fields });
      const [st, en, es, ee] = cols.slice(0, 4).map(asF64) as [Float64Array, Float64Array, Float64Array, Float64Array];
      const gids = new Int32Array(n);
      keys.assign(cols.slice(4, 4 + keyTypes.length), null, n, gids);
      const slots = new Int32Array(n);
      for (let i = 0; i < n; i++) { slots[i] = alloc(gids[i]!, st[i]!, en[i]!); emStart[slots[i]!] = es[i]!; emEnd[slots[i]!] = ee[i]!; }
      let c = 4 + keyTypes.length;
      for (const a of accs) { const k = a.stateTypes.length; a.restore(cols.slice(c, c + k), slots, n); c += k; }
      const d = asBool(cols[c]!);
      for (let i = 0; i < n; i++) dirty[slots[i]!] = d[i]!;
    },
    metrics() {
      return { stateRows: live.size, stateBytes: live.size * (48 + accs.reduce((b, a) => b + a.bytesPerGroup(), 0)) + keys.bytes(), lateRowsDropped: late };
    },
  };
}

