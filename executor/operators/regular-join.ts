/**
 * Regular join: no time bound, as Flink's streaming join. Every row is kept (until retracted, or until
 * the state TTL evicts it) and probes the other side's rows of its key on arrival.
 *
 * - Two append-only inputs, INNER or SEMI (what only grows): INNER emits each new pair as soon as its
 *   second row arrives; SEMI emits a left row once, at its first match — when it arrives or when a right
 *   row arrives that matches it — and then forgets it. Output append-only.
 * - Two keyed changelogs (upsert by key): every join type; a changelog keyed by left key ++ right key
 *   (semi / anti: the left key). An input row's change retracts the output rows its previous version
 *   produced and emits the new version's; each row counts its current matches, so an outer row's padded
 *   row is retracted when its first match appears and re-emitted when its last match goes, SEMI emits a
 *   left row while it has matches and ANTI while it has none. Within a batch, only the last change of
 *   each input key counts (the earlier ones would be undone by it anyway).
 *
 * `ttlMs`: at each barrier, rows neither inserted nor matched for ttlMs of processing time (ctx.now) are
 * evicted, silently (Flink's state TTL); the counts of their partners are left as they were. Without a
 * TTL state grows with the inputs' distinct keys; `metrics().stateRows` shows it.
 *
 * State: tables `left` and `right` (rows + match count + last access).
 */
import type { RecordBatch } from 'apache-arrow';
import type { StreamKind } from '../../planner/physical-graph.ts';
import { batchVectors } from '../arrow.ts';
import { GroupTable } from '../kernels/group-table.ts';
import { compileResidual, filterPairs, gatherStore, joinEmits, outBatch } from '../kernels/join-output.ts';
import { compactTable, JoinKeys, JoinSide, PairList, readSideTable } from '../kernels/join-state.ts';
import { DELETE, UPSERT } from '../message.ts';
import type { Operator, OperatorContext, Output, TableState } from '../operator.ts';
import type { Vector } from '../vector.ts';
import type { JoinOp } from './join.ts';

export function createRegularJoin(op: JoinOp, ctx: OperatorContext, inputs: readonly StreamKind[]): Operator {
  const b = op.bound;
  if (b.kind !== 'regular') throw new Error('not a regular join');
  const l0 = inputs[0]; const r0 = inputs[1];
  const changelog = l0?.kind === 'changelog' && r0?.kind === 'changelog';
  if (!changelog && op.joinType !== 'inner' && op.joinType !== 'semi') {
    throw new Error(`a ${op.joinType} regular join needs two keyed changelogs as inputs`);
  }
  const inKey: readonly (readonly number[])[] = changelog ? [l0.key, r0.key] : [[], []];
  const ttl = b.ttlMs;
  const now = () => (ctx.now ? ctx.now() : Date.now());
  const schemas = [op.leftSchema, op.rightSchema] as const;
  const keyCols = [op.leftKeys, op.rightKeys] as const;
  const emits = joinEmits(op.joinType);
  const padSide = [emits.padLeft, emits.padRight] as const;
  const residual = compileResidual(op.residual);
  const keyTypes = op.leftKeys.map((c) => op.leftSchema.fields[c]!.type);
  const inKeyTable = (s: number) => new GroupTable(inKey[s]!.map((c) => schemas[s]!.fields[c]!.type));
  let keys = new JoinKeys(keyTypes);
  let sides = [new JoinSide(op.leftSchema), new JoinSide(op.rightSchema)] as [JoinSide, JoinSide];
  /** Changelog inputs: per side, input key → id, and id → current slot (-1: none). */
  let inKeys = [inKeyTable(0), inKeyTable(1)];
  let slotOf: Int32Array[] = [new Int32Array(256).fill(-1), new Int32Array(256).fill(-1)];
  let kids: Int32Array = new Int32Array(1024);
  let lastOf: Int32Array = new Int32Array(256).fill(-1);
  const pOld = new PairList(); const pNew = new PairList();
  /** Output rows being built: left slot, right slot (-1: NULL side), op. */
  const outP = new PairList(); let outOps = new Int8Array(256);

  const emit = (l: number, r: number, o: number) => {
    if (outP.n === outOps.length) { const x = new Int8Array(outOps.length * 2); x.set(outOps); outOps = x; }
    outOps[outP.n] = o; outP.push(l, r);
  };
  /**
   * A padded (or SEMI / ANTI) row put out and taken back within one batch — an outer row whose last
   * match goes and a new one comes — cancels: the two changes of one row in a batch always alternate.
   */
  const cancelToggles = () => {
    const pending = new Map<number, number>();
    let dropped = 0;
    const keep = new Uint8Array(outP.n).fill(1);
    for (let i = 0; i < outP.n; i++) {
      const l = outP.left[i]!; const r = outP.right[i]!;
      if (l >= 0 && r >= 0) continue;
      const id = l >= 0 ? 2 * l : 2 * r + 1;
      const j = pending.get(id);
      if (j === undefined) { pending.set(id, i); continue; }
      keep[i] = 0; keep[j] = 0; dropped += 2; pending.delete(id);
    }
    if (dropped === 0) return;
    let m = 0;
    for (let i = 0; i < outP.n; i++) if (keep[i] === 1) { outP.left[m] = outP.left[i]!; outP.right[m] = outP.right[i]!; outOps[m] = outOps[i]!; m++; }
    outP.n = m;
  };
  const flushOut = (out: Output, ops: boolean) => {
    if (ops) cancelToggles();
    const n = outP.n;
    if (n === 0) return;
    const l = gatherStore(sides[0].store, outP.left, n);
    const r = emits.leftOnly ? null : gatherStore(sides[1].store, outP.right, n);
    out.batch(outBatch(op.schema, l, r, n), ops ? outOps.slice(0, n) : null);
    outP.clear();
  };
  const grow = (a: Int32Array, n: number): Int32Array => {
    if (a.length >= n) return a;
    const x = new Int32Array(Math.max(n, a.length * 2)).fill(-1); x.set(a); return x;
  };

  /** Candidate pairs of slot `slot` of side s with the other side's rows of key k. */
  const probe = (s: number, slot: number, k: number, into: PairList) => {
    if (k < 0) return;
    const o = sides[1 - s]!;
    for (let x = o.first(k); x >= 0; x = o.next[x]!) if (s === 0) into.push(slot, x); else into.push(x, slot);
  };
  const stores = () => [{ store: sides[0].store }, { store: sides[1].store }] as const;

  /** Two append-only inputs (INNER / SEMI). */
  const appendBatch = (s: number, cols: readonly Vector[], n: number, out: Output) => {
    const side = sides[s]!; const L = sides[0]; const R = sides[1];
    const jid = keys.buffer(n);
    keys.ids(keyCols[s]!.map((c) => cols[c]!), n, jid);
    const t = now();
    pNew.clear();
    for (let i = 0; i < n; i++) {
      const k = jid[i]!;
      if (k < 0) continue; // never matches, never emitted
      const slot = side.add(cols, i, k, 0, t);
      probe(s, slot, k, pNew);
    }
    const [ls, rs] = stores();
    const { l, r } = filterPairs(pNew, ls, rs, residual);
    const m = pNew.n;
    for (let i = 0; i < m; i++) { L.access[pNew.left[i]!] = t; R.access[pNew.right[i]!] = t; }
    if (emits.pairs) { if (m > 0) out.batch(outBatch(op.schema, l, r, m), null); return; }
    // SEMI: each matched left row once, then forgotten.
    for (let i = 0; i < m; i++) { const x = pNew.left[i]!; if (L.flag[x] === 0) { L.flag[x] = 1; emit(x, -1, UPSERT); } }
    const done = outP.left.slice(0, outP.n);
    flushOut(out, false);
    for (const x of done) L.remove(x);
  };

  /** Two keyed changelogs: batch of side s. */
  const changelogBatch = (s: number, cols: readonly Vector[], ops: Int8Array | null, n: number, out: Output) => {
    const side = sides[s]!; const other = sides[1 - s]!;
    if (kids.length < n) kids = new Int32Array(n);
    inKeys[s]!.assign(inKey[s]!.map((c) => cols[c]!), null, n, kids);
    slotOf[s] = grow(slotOf[s]!, inKeys[s]!.size);
    lastOf = grow(lastOf, inKeys[s]!.size);
    const slots = slotOf[s]!;
    for (let i = 0; i < n; i++) lastOf[kids[i]!] = i;
    const jid = keys.buffer(n);
    keys.ids(keyCols[s]!.map((c) => cols[c]!), n, jid);
    const t = now();
    const olds: number[] = []; const news: number[] = [];
    pOld.clear(); pNew.clear();
    for (let i = 0; i < n; i++) {
      const kid = kids[i]!;
      if (lastOf[kid] !== i) continue; // a later change of this key replaces this one
      lastOf[kid] = -1;
      const old = slots[kid]!;
      if (old >= 0) { olds.push(old); probe(s, old, side.key[old]!, pOld); slots[kid] = -1; }
      if (ops !== null && ops[i] === DELETE) continue;
      const slot = side.add(cols, i, jid[i]!, 0, t);
      slots[kid] = slot;
      news.push(slot);
      probe(s, slot, jid[i]!, pNew);
    }
    const [ls, rs] = stores();
    filterPairs(pOld, ls, rs, residual);
    filterPairs(pNew, ls, rs, residual);
    const theirs = s === 0 ? pOld.right : pOld.left;
    // Retract what the old versions produced.
    for (let i = 0; i < pOld.n; i++) {
      const o = theirs[i]!;
      other.matches[o]--;
      if (emits.leftOnly) {
        if (s === 1 && other.matches[o] === 0) emit(o, -1, emits.semi ? DELETE : UPSERT);
        continue;
      }
      emit(pOld.left[i]!, pOld.right[i]!, DELETE);
      if (other.matches[o] === 0 && padSide[1 - s]) emit(s === 0 ? -1 : o, s === 0 ? o : -1, UPSERT);
    }
    for (const old of olds) {
      if (emits.leftOnly) {
        if (s === 0 && (emits.semi ? side.matches[old]! > 0 : side.matches[old] === 0)) emit(old, -1, DELETE);
      } else if (side.matches[old] === 0 && padSide[s]) emit(s === 0 ? old : -1, s === 0 ? -1 : old, DELETE);
    }
    // Emit what the new versions produce.
    const nm = s === 0 ? pNew.left : pNew.right; const nt = s === 0 ? pNew.right : pNew.left;
    for (let i = 0; i < pNew.n; i++) {
      const o = nt[i]!; const me = nm[i]!;
      other.access[o] = t;
      if (emits.leftOnly) {
        if (s === 1 && other.matches[o] === 0) emit(o, -1, emits.semi ? UPSERT : DELETE);
      } else {
        if (other.matches[o] === 0 && padSide[1 - s]) emit(s === 0 ? -1 : o, s === 0 ? o : -1, DELETE);
        emit(pNew.left[i]!, pNew.right[i]!, UPSERT);
      }
      other.matches[o]++;
      side.matches[me]++;
    }
    for (const x of news) {
      if (emits.leftOnly) {
        if (s === 0 && (emits.semi ? side.matches[x]! > 0 : side.matches[x] === 0)) emit(x, -1, UPSERT);
      } else if (side.matches[x] === 0 && padSide[s]) emit(s === 0 ? x : -1, s === 0 ? -1 : x, UPSERT);
    }
    flushOut(out, true);
    for (const old of olds) side.remove(old);
  };

  /** TTL: rows untouched for ttlMs go, silently. */
  const evict = () => {
    if (ttl === null) return;
    const t = now();
    for (let s = 0; s < 2; s++) {
      const side = sides[s]!;
      const gone: number[] = [];
      for (const x of side.store.liveSlots()) if (t - side.access[x]! >= ttl) gone.push(x);
      if (gone.length === 0) continue;
      if (changelog) {
        // Forget the input keys of the evicted rows.
        const g = new Set(gone); const sl = slotOf[s]!;
        for (let k = 0; k < inKeys[s]!.size; k++) if (sl[k]! >= 0 && g.has(sl[k]!)) sl[k] = -1;
      }
      for (const x of gone) side.remove(x);
    }
  };

  let nextCompact = 4096;
  /** At barriers: drop from the key tables the keys no row holds any more (deleted, evicted, semi rows done). */
  const compact = () => {
    const total = keys.size + inKeys[0]!.size + inKeys[1]!.size;
    if (total < nextCompact) return;
    const remap = keys.compact((g) => sides[0].first(g) >= 0 || sides[1].first(g) >= 0);
    for (const side of sides) side.remap(remap, keys.size);
    if (changelog) {
      for (let s = 0; s < 2; s++) {
        const sl = slotOf[s]!;
        const c = compactTable(inKeys[s]!, (g) => sl[g]! >= 0);
        const next = new Int32Array(Math.max(256, c.table.size)).fill(-1);
        for (let g = 0; g < c.remap.length; g++) if (c.remap[g]! >= 0) next[c.remap[g]!] = sl[g]!;
        inKeys[s] = c.table; slotOf[s] = next;
      }
    }
    nextCompact = Math.max(4096, 2 * (keys.size + inKeys[0]!.size + inKeys[1]!.size));
  };

  const reset = () => {
    keys = new JoinKeys(keyTypes);
    sides = [new JoinSide(op.leftSchema), new JoinSide(op.rightSchema)];
    inKeys = [inKeyTable(0), inKeyTable(1)];
    slotOf = [new Int32Array(256).fill(-1), new Int32Array(256).fill(-1)];
    lastOf = new Int32Array(256).fill(-1);
    nextCompact = 4096;
  };

  return {
    name: 'join',
    schema: op.schema,
    stateTables: ['left', 'right'],
    processBatch(batch: RecordBatch, ops: Int8Array | null, out: Output, input = 0) {
      const n = batch.numRows;
      if (n === 0) return;
      const s = input === 1 ? 1 : 0;
      const cols = batchVectors(batch, schemas[s]);
      if (changelog) changelogBatch(s, cols, ops, n, out); else appendBatch(s, cols, n, out);
    },
    flush() { evict(); compact(); },
    snapshotTables(): TableState {
      const table = (side: JoinSide) => side.table(side.store.liveSlots(), [
        { name: '_matches', of: (x) => side.matches[x]! }, { name: '_access', of: (x) => side.access[x]! }, { name: '_flag', of: (x) => side.flag[x]! },
      ]);
      return { tables: { left: table(sides[0]), right: table(sides[1]) }, meta: {} };
    },
    restoreTables(st: TableState) {
      reset();
      (['left', 'right'] as const).forEach((name, s) => {
        const tb = st.tables[name];
        if (!tb) return;
        const { cols, extra, n } = readSideTable(tb, schemas[s]!, 3);
        const jid = new Int32Array(n);
        keys.ids(keyCols[s]!.map((c) => cols[c]!), n, jid);
        const ik = new Int32Array(n);
        if (changelog) { inKeys[s]!.assign(inKey[s]!.map((c) => cols[c]!), null, n, ik); slotOf[s] = grow(slotOf[s]!, inKeys[s]!.size); }
        const side = sides[s]!;
        for (let i = 0; i < n; i++) {
          const slot = side.add(cols, i, jid[i]!, 0, extra[1]![i]!);
          side.matches[slot] = extra[0]![i]!; side.flag[slot] = extra[2]![i]!;
          if (changelog) slotOf[s]![ik[i]!] = slot;
        }
      });
    },
    metrics() {
      return { stateRows: sides[0].size + sides[1].size, stateBytes: sides[0].bytes() + sides[1].bytes() + keys.bytes() + inKeys[0]!.bytes() + inKeys[1]!.bytes(), lateRowsDropped: 0 };
    },
  };
}
