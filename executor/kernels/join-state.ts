/**
 * What every join operator keeps: the rows of one side (a RowStore addressed by slot) with, per slot, its
 * join key id, an event time, a match count, a last-access time and a flag; and the join keys of both
 * sides in ONE hash table (JoinKeys), so a left and a right row with equal keys get the same key id and a
 * probe is a key id lookup followed by a walk of the other side's list of rows with that key.
 *
 * Key ids come from a GroupTable (typed lanes, no per-row allocation). A row with a NULL in any key
 * column gets key id -1: it is never linked, so it never matches. The table only grows, so operators
 * whose keys come and go (interval and window joins with moving time) call `compact` now and then: it
 * rebuilds the table from the keys still in use and renumbers the sides' slots.
 */
import type { RecordBatch } from 'apache-arrow';
import type { Schema, SqlType } from '../../planner/types.ts';
import { batchVectors, makeBatch } from '../arrow.ts';
import { T } from '../../planner/types.ts';
import type { Vector } from '../vector.ts';
import { GroupTable } from './group-table.ts';
import { RowStore } from './row-store.ts';

const growI32 = (a: Int32Array, n: number, fill: number): Int32Array => {
  if (a.length >= n) return a;
  const b = new Int32Array(Math.max(n, a.length * 2));
  if (fill !== 0) b.fill(fill);
  b.set(a);
  return b;
};
const growF64 = (a: Float64Array, n: number): Float64Array => {
  if (a.length >= n) return a;
  const b = new Float64Array(Math.max(n, a.length * 2)); b.set(a); return b;
};
const growU8 = (a: Uint8Array, n: number): Uint8Array => {
  if (a.length >= n) return a;
  const b = new Uint8Array(Math.max(n, a.length * 2)); b.set(a); return b;
};

/** The join keys of both sides in one table: equal typed values (NULL excepted) get one key id. */
export class JoinKeys {
  table: GroupTable;
  private scratch: Int32Array = new Int32Array(1024);

  constructor(readonly types: readonly SqlType[]) { this.table = new GroupTable(types); }

  get size(): number { return this.table.size; }

  /**
   * Key ids of rows[0..n) (or 0..n when rows is null) of the given key columns into out[0..n); -1 for a
   * row with a NULL key column.
   */
  ids(keyCols: readonly Vector[], n: number, out: Int32Array): void {
    this.table.assign(keyCols, null, n, out);
    for (const c of keyCols) {
      const v = c.valid;
      if (v === null) continue;
      for (let i = 0; i < n; i++) if (v[i] === 0) out[i] = -1;
    }
  }

  /** As `ids`, without adding keys the table does not hold (-1 for those). */
  find(keyCols: readonly Vector[], n: number, out: Int32Array): void {
    this.table.find(keyCols, n, out);
    for (const c of keyCols) {
      const v = c.valid;
      if (v === null) continue;
      for (let i = 0; i < n; i++) if (v[i] === 0) out[i] = -1;
    }
  }

  /** Scratch buffer of at least n ids. */
  buffer(n: number): Int32Array {
    if (this.scratch.length < n) this.scratch = new Int32Array(n);
    return this.scratch;
  }

  /**
   * Rebuilds the table from the key ids for which `live(g)` holds; returns old id → new id (-1: gone).
   */
  compact(live: (g: number) => boolean): Int32Array {
    const { table, remap } = compactTable(this.table, live);
    this.table = table;
    return remap;
  }

  bytes(): number { return this.table.bytes(); }
}

/** A GroupTable rebuilt from the groups for which `live(g)` holds, and old id → new id (-1: gone). */
export function compactTable(old: GroupTable, live: (g: number) => boolean): { table: GroupTable; remap: Int32Array } {
  const keep: number[] = [];
  for (let g = 0; g < old.size; g++) if (live(g)) keep.push(g);
  const ids = Int32Array.from(keep);
  const table = new GroupTable(old.types);
  const remap = new Int32Array(old.size).fill(-1);
  if (ids.length > 0) {
    const fresh = new Int32Array(ids.length);
    table.assign(old.keyVectors(ids, ids.length), null, ids.length, fresh);
    for (let i = 0; i < ids.length; i++) remap[ids[i]!] = fresh[i]!;
  }
  return { table, remap };
}

/**
 * One side's rows: the RowStore plus per-slot key id, time, match count, access time and flag, and
 * per key id a doubly linked list of the slots with that key (newest first).
 */
export class JoinSide {
  store: RowStore;
  key: Int32Array = new Int32Array(64).fill(-1);
  next: Int32Array = new Int32Array(64).fill(-1);
  prev: Int32Array = new Int32Array(64).fill(-1);
  time: Float64Array = new Float64Array(64);
  matches: Int32Array = new Int32Array(64);
  access: Float64Array = new Float64Array(64);
  flag: Uint8Array = new Uint8Array(64);
  /** Per key id: first slot of its list (-1: none). */
  head: Int32Array = new Int32Array(64).fill(-1);

  constructor(readonly schema: Schema) { this.store = new RowStore(schema); }

  get size(): number { return this.store.size; }

  private fit(slot: number): void {
    const n = slot + 1;
    if (this.key.length >= n) return;
    this.key = growI32(this.key, n, -1); this.next = growI32(this.next, n, -1); this.prev = growI32(this.prev, n, -1);
    this.time = growF64(this.time, n); this.matches = growI32(this.matches, n, 0); this.access = growF64(this.access, n); this.flag = growU8(this.flag, n);
  }

  /** Stores row `row` of `cols` under key id `k` (-1: unlinked); returns its slot. */
  add(cols: readonly Vector[], row: number, k: number, time: number, access: number): number {
    const s = this.store.add(cols, row);
    this.fit(s);
    this.key[s] = -1; this.time[s] = time; this.matches[s] = 0; this.access[s] = access; this.flag[s] = 0;
    this.link(s, k);
    return s;
  }

  link(s: number, k: number): void {
    this.key[s] = k; this.prev[s] = -1; this.next[s] = -1;
    if (k < 0) return;
    if (this.head.length <= k) this.head = growI32(this.head, k + 1, -1);
    const h = this.head[k]!;
    this.next[s] = h;
    if (h >= 0) this.prev[h] = s;
    this.head[k] = s;
  }

  unlink(s: number): void {
    const k = this.key[s]!;
    if (k < 0) return;
    const p = this.prev[s]!; const n = this.next[s]!;
    if (p >= 0) this.next[p] = n; else this.head[k] = n;
    if (n >= 0) this.prev[n] = p;
    this.key[s] = -1;
  }

  /** Unlinks and frees a slot (its values stay readable until the slot is reused). */
  remove(s: number): void {
    this.unlink(s);
    this.store.release(s);
  }

  /** First slot with key id k, -1 when none. */
  first(k: number): number { return k >= 0 && k < this.head.length ? this.head[k]! : -1; }

  /** Renumbers key ids after JoinKeys.compact. */
  remap(remap: Int32Array, size: number): void {
    const live = this.store.liveSlots();
    const head = new Int32Array(Math.max(64, size)).fill(-1);
    this.head = head;
    for (const s of live) {
      const k = this.key[s]!;
      this.link(s, k >= 0 ? remap[k]! : -1);
    }
  }

  bytes(): number { return this.store.bytes() + this.key.length * 37 + this.head.byteLength; }

  /**
   * The given slots as a state table: the side's columns followed by double columns named `extra`
   * (per slot values from the given arrays).
   */
  table(slots: Int32Array, extra: readonly { name: string; of: (s: number) => number }[]): RecordBatch | null {
    if (slots.length === 0) return null;
    const schema: Schema = { fields: [...this.schema.fields, ...extra.map((e) => ({ name: e.name, type: T.double, nullable: true }))] };
    const vecs = this.store.vectors(slots);
    for (const e of extra) {
      const v = new Float64Array(slots.length);
      for (let i = 0; i < slots.length; i++) v[i] = e.of(slots[i]!);
      vecs.push({ kind: 'f64', type: T.double, length: slots.length, values: v, valid: null });
    }
    return makeBatch(schema, vecs, slots.length);
  }
}

/** Reads a state table written by JoinSide.table: the side's vectors and the extra columns' values. */
export function readSideTable(b: RecordBatch, schema: Schema, extra: number): { cols: Vector[]; extra: Float64Array[]; n: number } {
  const full: Schema = { fields: [...schema.fields, ...Array.from({ length: extra }, (_, i) => ({ name: `_x${i}`, type: T.double, nullable: true }))] };
  const vecs = batchVectors(b, full);
  const cols = vecs.slice(0, schema.fields.length);
  const ex = vecs.slice(schema.fields.length).map((v) => (v as { values: Float64Array }).values);
  return { cols, extra: ex, n: b.numRows };
}

/** A growable list of (left slot, right slot) pairs; -1 for a padded side. */
export class PairList {
  left: Int32Array = new Int32Array(256);
  right: Int32Array = new Int32Array(256);
  n = 0;

  push(l: number, r: number): void {
    if (this.n === this.left.length) {
      const a = new Int32Array(this.n * 2); a.set(this.left); this.left = a;
      const b = new Int32Array(this.n * 2); b.set(this.right); this.right = b;
    }
    this.left[this.n] = l; this.right[this.n] = r; this.n++;
  }

  clear(): void { this.n = 0; }
}

/** A binary min-heap of (time, slot): the rows to free or emit in time order. */
export class TimeHeap {
  private t: Float64Array = new Float64Array(64);
  private s: Int32Array = new Int32Array(64);
  size = 0;

  push(time: number, slot: number): void {
    if (this.size === this.t.length) { this.t = growF64(this.t, this.size * 2); this.s = growI32(this.s, this.size * 2, 0); }
    let i = this.size++;
    const t = this.t; const s = this.s;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (t[p]! <= time) break;
      t[i] = t[p]!; s[i] = s[p]!; i = p;
    }
    t[i] = time; s[i] = slot;
  }

  /** Smallest time, +Infinity when empty. */
  peekTime(): number { return this.size > 0 ? this.t[0]! : Infinity; }

  /** True when the heap holds an entry with time <= t. */
  due(t: number): boolean { return this.size > 0 && this.t[0]! <= t; }

  /** Removes the smallest entry and returns its slot. */
  pop(): number {
    const t = this.t; const s = this.s;
    const top = s[0]!;
    const n = --this.size;
    if (n > 0) {
      const lt = t[n]!; const ls = s[n]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && t[r]! < t[l]! ? r : l;
        if (t[c]! >= lt) break;
        t[i] = t[c]!; s[i] = s[c]!; i = c;
      }
      t[i] = lt; s[i] = ls;
    }
    return top;
  }

  clear(): void { this.size = 0; }
}
