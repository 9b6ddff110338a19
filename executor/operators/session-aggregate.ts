/**
 * Session-window aggregate: per group key, events closer than `gap` form one session
 * [first event, last event + gap). An event that bridges two sessions merges them (sessions that touch
 * merge, as in Flink). Under EMIT CHANGES a session whose bounds move, or that is merged away, retracts
 * the row it had emitted (its key includes window_start and window_end).
 *
 * Lateness: a row is late when its own session [t, t + gap) would already be closed (t + gap ≤
 * watermark), or when it falls into a session of its key that has closed. A closed session was final
 * (and, under EMIT ON WINDOW CLOSE, emitted), so it is kept as a bound-only tombstone until no non-late
 * row can reach it any more (end + gap ≤ watermark) — without it such a row would open a second,
 * overlapping session and the result would depend on arrival order.
 */
import type { RecordBatch } from 'apache-arrow';
import { T, type Field, type Schema } from '../../planner/types.ts';
import { batchVectors, makeBatch, usedVectors } from '../arrow.ts';
import { createAccumulator, type Accumulator } from '../kernels/accumulators.ts';
import { GroupTable } from '../kernels/group-table.ts';
import { aggInputs } from '../kernels/window-state.ts';
import { DELETE, UPSERT } from '../message.ts';
import type { Operator, OperatorContext, OperatorState, Output } from '../operator.ts';
import { asBool, asF64, constantVector, take, type Vector } from '../vector.ts';
import type { WindowAggregateOp } from './window-common.ts';

/** Slot kinds in a snapshot. */
const LIVE = 0;
const TOMB = 1;
const RETRACT = 2;

export function createSessionAggregate(op: WindowAggregateOp, ctx: OperatorContext): Operator {
  if (op.spec.kind !== 'session') throw new Error('session aggregate over a non-session window');
  const gap = op.spec.gapMs;
  const keyTypes = op.groupBy.map((i) => op.inputSchema.fields[i]!.type);
  /** Key → dense group id. Compacted when most of its groups hold no session any more. */
  let keys = new GroupTable(keyTypes);
  const accs: Accumulator[] = op.aggs.map(createAccumulator);
  const emitOnClose = op.emit === 'window_close';
  // Session slots: bounds, owning key group, the bounds last emitted for it (NaN: none), flags.
  let start = new Float64Array(256); let end = new Float64Array(256);
  let group = new Int32Array(256); let emStart = new Float64Array(256); let emEnd = new Float64Array(256);
  let dirty = new Uint8Array(256); let tomb = new Uint8Array(256); let used = new Uint8Array(256);
  /** Within a batch: the slot a merged-away slot was folded into (itself otherwise). */
  let fwd = new Int32Array(256);
  let slotCount = 0;
  const free: number[] = [];
  let liveCount = 0;
  let tombCount = 0;
  /**
   * Sessions (live and tombstones) of each key group, as singly linked lists in typed arrays: head[g]
   * is the group's first slot (-1: none), nextSlot[s] the one after s. Lists are short (a key rarely has
   * more than one open session and a tombstone), and typed arrays keep the per-row walk cheap.
   */
  let head = new Int32Array(1024).fill(-1);
  let nextSlot = new Int32Array(256);
  const ensureGroups = (n: number) => {
    if (head.length >= n) return;
    const h = new Int32Array(Math.max(n, head.length * 2)).fill(-1); h.set(head); head = h;
  };
  /** Rows emitted earlier whose key (bounds) changed or vanished: retracted at the next flush. */
  let retractions: { g: number; start: number; end: number }[] = [];
  let watermark = -Infinity;
  let late = 0;

  const growTo = (n: number) => {
    if (start.length >= n) return;
    const cap = Math.max(n, start.length * 2);
    const f = (a: Float64Array) => { const b = new Float64Array(cap); b.set(a); return b; };
    const u = (a: Uint8Array) => { const b = new Uint8Array(cap); b.set(a); return b; };
    const i32 = (a: Int32Array) => { const b = new Int32Array(cap); b.set(a); return b; };
    start = f(start); end = f(end); emStart = f(emStart); emEnd = f(emEnd);
    group = i32(group); fwd = i32(fwd); nextSlot = i32(nextSlot); dirty = u(dirty); tomb = u(tomb); used = u(used);
  };
  const alloc = (g: number, s: number, e: number): number => {
    const slot = free.length ? free.pop()! : slotCount++;
    growTo(slotCount);
    start[slot] = s; end[slot] = e; group[slot] = g; emStart[slot] = NaN; emEnd[slot] = NaN;
    dirty[slot] = 1; tomb[slot] = 0; used[slot] = 1; fwd[slot] = slot;
    for (const a of accs) { a.ensure(slotCount); a.reset(slot); }
    liveCount++;
    ensureGroups(g + 1);
    nextSlot[slot] = head[g]!; head[g] = slot;
    return slot;
  };
  /** Unlinks a slot from its group; the caller frees it (now or after the batch). */
  const unlink = (slot: number) => {
    const g = group[slot]!;
    if (head[g] === slot) { head[g] = nextSlot[slot]!; return; }
    let p = head[g]!;
    while (nextSlot[p] !== slot) p = nextSlot[p]!;
    nextSlot[p] = nextSlot[slot]!;
  };
  const retractEmitted = (slot: number) => {
    if (emStart[slot] === emStart[slot]) retractions.push({ g: group[slot]!, start: emStart[slot]!, end: emEnd[slot]! });
    emStart[slot] = NaN; emEnd[slot] = NaN;
  };

  const outSchema: Schema = op.schema;
  const rowsFor = (slots: Int32Array): RecordBatch | null => {
    const n = slots.length;
    if (n === 0) return null;
    const gids = new Int32Array(n); const st = new Float64Array(n); const en = new Float64Array(n);
    for (let i = 0; i < n; i++) { const s = slots[i]!; gids[i] = group[s]!; st[i] = start[s]!; en[i] = end[s]!; }
    const cols: Vector[] = [
      { kind: 'f64', type: T.timestamp, length: n, values: st, valid: null },
      { kind: 'f64', type: T.timestamp, length: n, values: en, valid: null },
      ...keys.keyVectors(gids, n),
      ...accs.map((a) => a.result(slots, n)),
    ];
    return makeBatch(outSchema, cols, n);
  };

  const flushRetractions = (out: Output) => {
    const n = retractions.length;
    if (n === 0) return;
    const gids = Int32Array.from(retractions, (r) => r.g);
    const cols: Vector[] = [
      { kind: 'f64', type: T.timestamp, length: n, values: Float64Array.from(retractions, (r) => r.start), valid: null },
      { kind: 'f64', type: T.timestamp, length: n, values: Float64Array.from(retractions, (r) => r.end), valid: null },
      ...keys.keyVectors(gids, n),
      ...op.aggs.map((a) => constantVector(a.type, null, n)),
    ];
    retractions = [];
    out.batch(makeBatch(outSchema, cols, n), new Int8Array(n).fill(DELETE));
  };

  /** EMIT CHANGES: retract moved and merged-away rows, then upsert every changed session. */
  const flushChanges = (out: Output) => {
    const changed: number[] = [];
    for (let s = 0; s < slotCount; s++) if (dirty[s] === 1) changed.push(s);
    for (const s of changed) {
      dirty[s] = 0;
      if (emStart[s] === emStart[s] && (emStart[s] !== start[s] || emEnd[s] !== end[s])) retractEmitted(s);
    }
    flushRetractions(out);
    if (changed.length === 0) return;
    const slots = Int32Array.from(changed);
    const b = rowsFor(slots);
    for (const s of changed) { emStart[s] = start[s]!; emEnd[s] = end[s]!; }
    if (b) out.batch(b, new Int8Array(slots.length).fill(UPSERT));
  };

  /** Rebuilds the key table with only the keys that still hold sessions or pending retractions. */
  const compactKeys = () => {
    const alive: number[] = [];
    for (let g = 0; g < keys.size; g++) if (head[g]! >= 0) alive.push(g);
    for (const r of retractions) alive.push(r.g);
    const old = Int32Array.from(new Set(alive));
    const next = new GroupTable(keyTypes);
    const ids = new Int32Array(old.length);
    next.assign(keys.keyVectors(old, old.length), null, old.length, ids);
    const map = new Map<number, number>();
    const nextHead = new Int32Array(Math.max(1024, old.length * 2)).fill(-1);
    for (let i = 0; i < old.length; i++) {
      map.set(old[i]!, ids[i]!);
      const h = head[old[i]!]!;
      nextHead[ids[i]!] = h;
      for (let sl = h; sl >= 0; sl = nextSlot[sl]!) group[sl] = ids[i]!;
    }
    for (const r of retractions) r.g = map.get(r.g)!;
    keys = next; head = nextHead;
  };

  const usedCols = new Set<number>([op.timeColumn, ...op.groupBy, ...op.aggs.flatMap((a) => [a.arg, a.filter])].filter((i) => i >= 0));
  let gidBuf = new Int32Array(1024);
  let rowBuf = new Int32Array(1024);
  let slotBuf = new Int32Array(1024);
  const freedNow: number[] = [];
  return {
    name: 'session_aggregate',
    schema: op.schema,
    processBatch(batch: RecordBatch) {
      const n = batch.numRows;
      if (n === 0) return;
      // aggInputs reads only the used columns, so the holes are never touched.
      const cols = usedVectors(batch, op.inputSchema, usedCols) as Vector[];
      const tv = cols[op.timeColumn]!; const t = asF64(tv); const tValid = tv.valid;
      const inputs = aggInputs(cols, op.groupBy, op.aggs);
      if (gidBuf.length < n) { gidBuf = new Int32Array(n); rowBuf = new Int32Array(n); slotBuf = new Int32Array(n); }
      keys.assign(inputs.keys, null, n, gidBuf);
      let m = 0;
      let lateRows: number[] | null = null;
      for (let i = 0; i < n; i++) {
        const x = t[i]!;
        if ((tValid !== null && tValid[i] === 0) || x + gap <= watermark) { (lateRows ??= []).push(i); continue; }
        const g = gidBuf[i]!;
        let target = -1;
        let isLate = false;
        const first = g < head.length ? head[g]! : -1;
        // A row reaching a closed session is late: check before merging anything.
        for (let sl = first; sl >= 0; sl = nextSlot[sl]!) if (tomb[sl] === 1 && start[sl]! <= x + gap && x <= end[sl]!) { isLate = true; break; }
        if (!isLate) for (let sl = first; sl >= 0;) {
          const nx = nextSlot[sl]!;
          if (start[sl]! <= x + gap && x <= end[sl]!) {
            if (target < 0) target = sl;
            else {
              // A second hit: this row bridges two sessions; fold sl into target.
              if (start[sl]! < start[target]!) start[target] = start[sl]!;
              if (end[sl]! > end[target]!) end[target] = end[sl]!;
              for (const a of accs) a.merge(target, sl);
              fwd[sl] = target;
              retractEmitted(sl);
              dirty[sl] = 0;
              unlink(sl);
              liveCount--;
              freedNow.push(sl); // freed after this batch's rows are folded in
            }
          }
          sl = nx;
        }
        if (isLate) { (lateRows ??= []).push(i); continue; }
        if (target < 0) target = alloc(g, x, x + gap);
        else {
          if (x < start[target]!) start[target] = x;
          if (x + gap > end[target]!) end[target] = x + gap;
          dirty[target] = 1;
        }
        rowBuf[m] = i; slotBuf[m] = target; m++;
      }
      if (m > 0) {
        if (freedNow.length > 0) {
          // Rows assigned earlier in this batch to a session merged away since go to where it went.
          for (let i = 0; i < m; i++) { let s = slotBuf[i]!; while (fwd[s] !== s) s = fwd[s]!; slotBuf[i] = s; }
        }
        const rows = rowBuf.subarray(0, m); const slots = slotBuf.subarray(0, m);
        for (let a = 0; a < accs.length; a++) accs[a]!.update(slots, rows, m, inputs.args[a]!, inputs.filters[a]!);
      }
      for (const s of freedNow) { for (const a of accs) a.reset(s); fwd[s] = s; used[s] = 0; free.push(s); }
      freedNow.length = 0;
      if (lateRows !== null) {
        late += lateRows.length;
        ctx.onLate?.({ batch, schema: op.inputSchema, rows: Int32Array.from(lateRows), watermark, reason: 'session closed' });
      }
    },
    processWatermark(wm: number, out: Output) {
      if (wm <= watermark) return;
      watermark = wm;
      const closing: number[] = [];
      const expiring: number[] = [];
      for (let s = 0; s < slotCount; s++) {
        if (used[s] === 0) continue;
        if (tomb[s] === 1) { if (end[s]! + gap <= wm) expiring.push(s); }
        else if (end[s]! <= wm) closing.push(s);
      }
      for (const s of expiring) { unlink(s); tomb[s] = 0; tombCount--; used[s] = 0; free.push(s); }
      if (closing.length > 0) {
        closing.sort((a, b) => end[a]! - end[b]! || start[a]! - start[b]!);
        if (emitOnClose) {
          const b = rowsFor(Int32Array.from(closing));
          if (b) out.batch(b, null);
        } else flushChanges(out);
        for (const s of closing) {
          // Final: nothing to retract later. Keep the bounds as a tombstone while rows can still reach them.
          emStart[s] = NaN; emEnd[s] = NaN; dirty[s] = 0;
          for (const a of accs) a.reset(s);
          liveCount--;
          if (end[s]! + gap <= wm) { unlink(s); used[s] = 0; free.push(s); }
          else { tomb[s] = 1; tombCount++; }
        }
      }
      if (keys.size > 1024 && keys.size > 4 * (liveCount + tombCount + retractions.length)) compactKeys();
    },
    flush(out: Output) { if (!emitOnClose) flushChanges(out); },
    end(out: Output) { this.flush!(out); this.processWatermark!(Infinity, out); },
    snapshot(): OperatorState {
      const meta = { watermark: Number.isFinite(watermark) ? watermark : null, late };
      const slots: number[] = [];
      for (let g = 0; g < keys.size && g < head.length; g++) for (let sl = head[g]!; sl >= 0; sl = nextSlot[sl]!) slots.push(sl);
      slots.sort((a, b) => a - b);
      const n = slots.length + retractions.length;
      if (n === 0) return { batch: null, meta };
      const ns = slots.length;
      const sl = Int32Array.from(slots);
      const pick = (a: Float64Array, r: (x: typeof retractions[number]) => number) => {
        const v = new Float64Array(n);
        for (let i = 0; i < ns; i++) v[i] = a[slots[i]!]!;
        retractions.forEach((x, i) => { v[ns + i] = r(x); });
        return { kind: 'f64', type: T.double, length: n, values: v, valid: null } as Vector;
      };
      const gids = new Int32Array(n);
      for (let i = 0; i < ns; i++) gids[i] = group[slots[i]!]!;
      retractions.forEach((x, i) => { gids[ns + i] = x.g; });
      const kind = new Float64Array(n);
      for (let i = 0; i < ns; i++) kind[i] = tomb[slots[i]!] === 1 ? TOMB : LIVE;
      kind.fill(RETRACT, ns);
      // Accumulator state of retraction rows is meaningless: repeat slot 0's (or any) and ignore it.
      const accSlots = new Int32Array(n); accSlots.set(sl);
      const cols: Vector[] = [pick(start, (x) => x.start), pick(end, (x) => x.end), pick(emStart, () => NaN), pick(emEnd, () => NaN), ...keys.keyVectors(gids, n)];
      for (const a of accs) cols.push(...a.state(accSlots, n));
      const d = new Uint8Array(n);
      for (let i = 0; i < ns; i++) d[i] = dirty[slots[i]!]!;
      cols.push({ kind: 'bool', type: T.boolean, length: n, values: d, valid: null });
      cols.push({ kind: 'f64', type: T.double, length: n, values: kind, valid: null });
      return { batch: makeBatch(snapshotSchema(), cols, n), meta };
    },
    restore(s: OperatorState) {
      watermark = typeof s.meta.watermark === 'number' ? s.meta.watermark : -Infinity;
      late = Number(s.meta.late ?? 0);
      keys = new GroupTable(keyTypes);
      head.fill(-1); retractions = []; free.length = 0; slotCount = 0; liveCount = 0; tombCount = 0;
      if (!s.batch) return;
      const n = s.batch.numRows;
      const cols = batchVectors(s.batch, snapshotSchema());
      const [st, en, es, ee] = cols.slice(0, 4).map(asF64) as [Float64Array, Float64Array, Float64Array, Float64Array];
      const gids = new Int32Array(n);
      keys.assign(cols.slice(4, 4 + keyTypes.length), null, n, gids);
      let c = 4 + keyTypes.length;
      const stateCols = accs.map((a) => { const k = a.stateTypes.length; const v = cols.slice(c, c + k); c += k; return v; });
      const d = asBool(cols[c]!); const kind = asF64(cols[c + 1]!);
      const liveRows: number[] = []; const liveSlots: number[] = [];
      for (let i = 0; i < n; i++) {
        if (kind[i] === RETRACT) { retractions.push({ g: gids[i]!, start: st[i]!, end: en[i]! }); continue; }
        const slot = alloc(gids[i]!, st[i]!, en[i]!);
        emStart[slot] = es[i]!; emEnd[slot] = ee[i]!; dirty[slot] = d[i]!;
        if (kind[i] === TOMB) { tomb[slot] = 1; liveCount--; tombCount++; }
        else { liveRows.push(i); liveSlots.push(slot); }
      }
      // Accumulator state rows are in snapshot order; restore only the live sessions'.
      const rows = Int32Array.from(liveRows);
      accs.forEach((a, i) => a.restore(stateCols[i]!.map((v) => take(v, rows)), Int32Array.from(liveSlots), liveSlots.length));
    },
    metrics() {
      const perSlot = 8 * 6 + 2 + accs.reduce((b, a) => b + a.bytesPerGroup(), 0);
      return { stateRows: liveCount + tombCount, stateBytes: slotCount * perSlot + keys.bytes() + 8 * retractions.length, lateRowsDropped: late };
    },
  };

  function snapshotSchema(): Schema {
    const fields: Field[] = ['_start', '_end', '_em_start', '_em_end'].map((name) => ({ name, type: T.double, nullable: true }));
    keyTypes.forEach((type, i) => fields.push({ name: `_k${i}`, type, nullable: true }));
    accs.forEach((a, i) => a.stateTypes.forEach((type, j) => fields.push({ name: `_a${i}_${j}`, type, nullable: true })));
    fields.push({ name: '_dirty', type: T.boolean, nullable: false });
    fields.push({ name: '_kind', type: T.double, nullable: false });
    return { fields };
  }
}
