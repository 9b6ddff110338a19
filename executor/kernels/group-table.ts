/**
 * Hash table from multi-column group keys to dense group ids.
 *
 * Every key column becomes one Float64 "lane" per row: numbers as themselves, booleans as 0/1, strings
 * as ids interned in this table, NULL as NaN. Lanes live in one flat Float64Array and the table is open
 * addressing over Int32 slots, so a lookup touches typed arrays only and allocates nothing.
 */
import type { SqlType } from '../../planner/types.ts';
import { vectorKindOf, type Vector, type VectorKind } from '../vector.ts';

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

function laneHash(h: number, v: number): number {
  if (v !== v) { h = Math.imul(h ^ 0x7ff80000, 0x9e3779b1); return (h ^ (h >>> 15)) | 0; }
  f64[0] = v + 0; // -0 and 0 are one key
  h = Math.imul(h ^ u32[0]!, 0x9e3779b1);
  h = Math.imul(h ^ u32[1]!, 0x85ebca77);
  return (h ^ (h >>> 13)) | 0;
}

const SEED = 0x811c9dc5 | 0;

function sameLane(a: number, b: number): boolean {
  return a === b || (a !== a && b !== b);
}

export class GroupTable {
  readonly width: number;
  private readonly kinds: readonly VectorKind[];
  private cap = 0;
  private mask = 0;
  private slots = new Int32Array(0);
  private hashes = new Int32Array(16);
  /** Key lanes of group g at [g*width, (g+1)*width). */
  keys = new Float64Array(16);
  size = 0;
  private readonly interned: (Map<string, number> | null)[];
  private readonly strings: string[][];
  private lanes: Float64Array = new Float64Array(0);
  private readonly one = new Float64Array(1);

  constructor(readonly types: readonly SqlType[]) {
    this.width = types.length;
    this.kinds = types.map(vectorKindOf);
    this.interned = this.kinds.map((k) => (k === 'str' ? new Map() : null));
    this.strings = this.kinds.map(() => []);
    this.resize(64);
    this.keys = new Float64Array(64 * Math.max(1, this.width));
  }

  private resize(cap: number): void {
    this.cap = cap; this.mask = cap - 1;
    this.slots = new Int32Array(cap);
    for (let g = 0; g < this.size; g++) {
      let s = this.hashes[g]! & this.mask;
      while (this.slots[s] !== 0) s = (s + 1) & this.mask;
      this.slots[s] = g + 1;
    }
  }

  /** Writes the key lanes of rows[0..n) into this.lanes (row-major). */
  private fillLanes(cols: readonly Vector[], rows: Int32Array | null, n: number): Float64Array {
    const w = this.width;
    if (this.lanes.length < n * w) this.lanes = new Float64Array(Math.max(n * w, 1024));
    const lanes = this.lanes;
    for (let c = 0; c < w; c++) {
      const v = cols[c]!;
      const valid = v.valid;
      switch (v.kind) {
        case 'f64': case 'i32': {
          const vals = v.values;
          for (let i = 0; i < n; i++) { const r = rows === null ? i : rows[i]!; lanes[i * w + c] = valid !== null && valid[r] === 0 ? NaN : vals[r]!; }
          break;
        }
        case 'bool': {
          const vals = v.values;
          for (let i = 0; i < n; i++) { const r = rows === null ? i : rows[i]!; lanes[i * w + c] = valid !== null && valid[r] === 0 ? NaN : vals[r]!; }
          break;
        }
        case 'str': {
          const vals = v.values; const m = this.interned[c]!; const strs = this.strings[c]!;
          for (let i = 0; i < n; i++) {
            const r = rows === null ? i : rows[i]!;
            if (valid !== null && valid[r] === 0) { lanes[i * w + c] = NaN; continue; }
            const s = vals[r]!;
            let id = m.get(s);
            if (id === undefined) { id = strs.length; strs.push(s); m.set(s, id); }
            lanes[i * w + c] = id;
          }
          break;
        }
        case 'struct': throw new Error('cannot group by a ROW value');
      }
    }
    return lanes;
  }

  /**
   * Looks up (inserting when new) the group of each row in rows[0..n) (or 0..n when rows is null) and
   * writes the group ids to `out[0..n)`.
   */
  assign(cols: readonly Vector[], rows: Int32Array | null, n: number, out: Int32Array): void {
    const w = this.width;
    if (w === 0) { if (this.size === 0) this.insert(new Float64Array(0), 0, 0); out.fill(0, 0, n); return; }
    const c0 = cols[0]!;
    if (w === 1 && (c0.kind === 'f64' || c0.kind === 'i32')) { this.assignOneNumber(c0.values, c0.valid, rows, n, out); return; }
    const lanes = this.fillLanes(cols, rows, n);
    for (let i = 0; i < n; i++) {
      let h = SEED;
      const base = i * w;
      for (let c = 0; c < w; c++) h = laneHash(h, lanes[base + c]!);
      let s = h & this.mask;
      let g = -1;
      for (;;) {
        const e = this.slots[s]!;
        if (e === 0) break;
        const cand = e - 1;
        if (this.hashes[cand] === h) {
          const kb = cand * w;
          let eq = true;
          for (let c = 0; c < w; c++) if (!sameLane(this.keys[kb + c]!, lanes[base + c]!)) { eq = false; break; }
          if (eq) { g = cand; break; }
        }
        s = (s + 1) & this.mask;
      }
      if (g < 0) {
        g = this.insert(lanes, base, h);
        if (this.size * 2 > this.cap) this.resize(this.cap * 2);
        else { this.slots[s] = g + 1; }
      }
      out[i] = g;
    }
  }

  /**
   * assign() for the common single numeric key: reads the column directly instead of copying it into
   * lanes first. Hashes exactly as the general path does, so both can serve one table.
   */
  private assignOneNumber(vals: Float64Array | Int32Array, valid: Uint8Array | null, rows: Int32Array | null, n: number, out: Int32Array): void {
    const one = this.one;
    let slots = this.slots; let hashes = this.hashes; let keys = this.keys; let mask = this.mask;
    for (let i = 0; i < n; i++) {
      const r = rows === null ? i : rows[i]!;
      const x = valid !== null && valid[r] === 0 ? NaN : vals[r]!;
      const h = laneHash(SEED, x);
      let s = h & mask;
      let g = -1;
      for (;;) {
        const e = slots[s]!;
        if (e === 0) break;
        const cand = e - 1;
        if (hashes[cand] === h) { const k = keys[cand]!; if (k === x || (k !== k && x !== x)) { g = cand; break; } }
        s = (s + 1) & mask;
      }
      if (g < 0) {
        one[0] = x;
        g = this.insert(one, 0, h);
        if (this.size * 2 > this.cap) this.resize(this.cap * 2);
        else this.slots[s] = g + 1;
        slots = this.slots; hashes = this.hashes; keys = this.keys; mask = this.mask;
      }
      out[i] = g;
    }
  }

  private insert(lanes: Float64Array, base: number, h: number): number {
    const g = this.size++;
    const w = this.width;
    if (this.hashes.length <= g) { const nh = new Int32Array(this.hashes.length * 2); nh.set(this.hashes); this.hashes = nh; }
    if (this.keys.length < (g + 1) * w) { const nk = new Float64Array(Math.max(this.keys.length * 2, (g + 1) * w)); nk.set(this.keys); this.keys = nk; }
    this.hashes[g] = h;
    for (let c = 0; c < w; c++) this.keys[g * w + c] = lanes[base + c]!;
    if (w > 0) {
      // Slot is placed by the caller, or by resize() when the table grows.
      if (this.size * 2 > this.cap) return g;
    } else if (this.cap > 0) {
      let s = h & this.mask; while (this.slots[s] !== 0) s = (s + 1) & this.mask; this.slots[s] = g + 1;
    }
    return g;
  }

  /**
   * Looks up the group of each row 0..n without inserting: writes its id, or -1 when the key is not in
   * the table, to `out[0..n)`.
   */
  find(cols: readonly Vector[], n: number, out: Int32Array): void {
    const w = this.width;
    if (w === 0) { out.fill(this.size > 0 ? 0 : -1, 0, n); return; }
    const c0 = cols[0]!;
    if (w === 1 && (c0.kind === 'f64' || c0.kind === 'i32')) {
      // One numeric key: read the column directly, hashing as assign() does.
      const vals = c0.values; const valid = c0.valid; const slots = this.slots; const hashes = this.hashes; const keys = this.keys; const mask = this.mask;
      for (let i = 0; i < n; i++) {
        const x = valid !== null && valid[i] === 0 ? NaN : vals[i]!;
        const h = laneHash(SEED, x);
        let s = h & mask; let g = -1;
        for (;;) {
          const e = slots[s]!;
          if (e === 0) break;
          const cand = e - 1;
          if (hashes[cand] === h) { const k = keys[cand]!; if (k === x || (k !== k && x !== x)) { g = cand; break; } }
          s = (s + 1) & mask;
        }
        out[i] = g;
      }
      return;
    }
    const lane = new Float64Array(w);
    for (let i = 0; i < n; i++) {
      let absent = false;
      for (let c = 0; c < w; c++) {
        const v = cols[c]!;
        if (v.valid !== null && v.valid[i] === 0) { lane[c] = NaN; continue; }
        switch (v.kind) {
          case 'f64': case 'i32': case 'bool': lane[c] = v.values[i]!; break;
          case 'str': { const id = this.interned[c]!.get(v.values[i]!); if (id === undefined) absent = true; else lane[c] = id; break; }
          case 'struct': throw new Error('cannot group by a ROW value');
        }
      }
      if (absent) { out[i] = -1; continue; }
      let h = SEED;
      for (let c = 0; c < w; c++) h = laneHash(h, lane[c]!);
      let s = h & this.mask;
      let g = -1;
      for (;;) {
        const e = this.slots[s]!;
        if (e === 0) break;
        const cand = e - 1;
        if (this.hashes[cand] === h) {
          let eq = true;
          for (let c = 0; c < w; c++) if (!sameLane(this.keys[cand * w + c]!, lane[c]!)) { eq = false; break; }
          if (eq) { g = cand; break; }
        }
        s = (s + 1) & this.mask;
      }
      out[i] = g;
    }
  }

  /** The key columns of groups gids[0..n), as output vectors. */
  keyVectors(gids: Int32Array, n: number): Vector[] {
    const w = this.width;
    return this.types.map((type, c) => {
      let valid: Uint8Array | null = null;
      for (let i = 0; i < n; i++) {
        const v = this.keys[gids[i]! * w + c]!;
        if (v !== v) { if (!valid) valid = new Uint8Array(n).fill(1); valid[i] = 0; }
      }
      switch (this.kinds[c]!) {
        case 'f64': {
          const out = new Float64Array(n);
          for (let i = 0; i < n; i++) { const v = this.keys[gids[i]! * w + c]!; out[i] = v !== v ? 0 : v; }
          return { kind: 'f64', type, length: n, values: out, valid };
        }
        case 'i32': {
          const out = new Int32Array(n);
          for (let i = 0; i < n; i++) { const v = this.keys[gids[i]! * w + c]!; out[i] = v !== v ? 0 : v; }
          return { kind: 'i32', type, length: n, values: out, valid };
        }
        case 'bool': {
          const out = new Uint8Array(n);
          for (let i = 0; i < n; i++) { const v = this.keys[gids[i]! * w + c]!; out[i] = v === 1 ? 1 : 0; }
          return { kind: 'bool', type, length: n, values: out, valid };
        }
        case 'str': {
          const strs = this.strings[c]!;
          const out = new Array<string>(n);
          for (let i = 0; i < n; i++) { const v = this.keys[gids[i]! * w + c]!; out[i] = v !== v ? '' : strs[v]!; }
          return { kind: 'str', type, length: n, values: out, valid };
        }
        case 'struct': throw new Error('cannot group by a ROW value');
      }
    });
  }

  /** Rough bytes held, for progress reporting. */
  bytes(): number {
    let b = this.slots.byteLength + this.hashes.byteLength + this.keys.byteLength;
    for (const s of this.strings) for (const x of s) b += 2 * x.length + 16;
    return b;
  }
}
