/**
 * Whole rows kept by stateful operators (dedup candidates, Top-N rows, a changelog's current rows),
 * column by column in growable typed arrays, addressed by slot; freed slots are reused. Rows go in from
 * the vectors of an input batch and come out as vectors (or a batch) for any list of slots, so output
 * is built columnar. ROW columns are kept as JS values.
 */
import type { RecordBatch } from 'apache-arrow';
import type { Schema, SqlType } from '../../planner/types.ts';
import { batchVectors, makeBatch } from '../arrow.ts';
import { valueAt, vectorKindOf, type Vector } from '../vector.ts';

type Col =
  | { kind: 'f64'; values: Float64Array }
  | { kind: 'i32'; values: Int32Array }
  | { kind: 'bool'; values: Uint8Array }
  | { kind: 'str'; values: string[] }
  | { kind: 'struct'; values: unknown[] };

export class RowStore {
  private cols: Col[];
  private valid: Uint8Array[];
  private cap = 64;
  /** Slots handed out so far (live or free). */
  private top = 0;
  private readonly free: number[] = [];
  private live: Uint8Array = new Uint8Array(64);
  size = 0;

  constructor(readonly schema: Schema) {
    this.cols = schema.fields.map((f) => this.newCol(f.type, this.cap));
    this.valid = schema.fields.map(() => new Uint8Array(this.cap));
  }

  private newCol(t: SqlType, cap: number): Col {
    switch (vectorKindOf(t)) {
      case 'f64': return { kind: 'f64', values: new Float64Array(cap) };
      case 'i32': return { kind: 'i32', values: new Int32Array(cap) };
      case 'bool': return { kind: 'bool', values: new Uint8Array(cap) };
      case 'str': return { kind: 'str', values: [] };
      case 'struct': return { kind: 'struct', values: [] };
    }
  }

  private grow(): void {
    const cap = this.cap * 2;
    this.cols = this.cols.map((c) => {
      switch (c.kind) {
        case 'f64': { const v = new Float64Array(cap); v.set(c.values); return { kind: 'f64', values: v }; }
        case 'i32': { const v = new Int32Array(cap); v.set(c.values); return { kind: 'i32', values: v }; }
        case 'bool': { const v = new Uint8Array(cap); v.set(c.values); return { kind: 'bool', values: v }; }
        default: return c;
      }
    });
    this.valid = this.valid.map((v) => { const n = new Uint8Array(cap); n.set(v); return n; });
    const l = new Uint8Array(cap); l.set(this.live); this.live = l;
    this.cap = cap;
  }

  /** Copies row `row` of `vecs` (one vector per schema column) into a new slot. */
  add(vecs: readonly Vector[], row: number): number {
    let slot: number;
    if (this.free.length) slot = this.free.pop()!;
    else { if (this.top === this.cap) this.grow(); slot = this.top++; }
    this.live[slot] = 1; this.size++;
    this.set(slot, vecs, row);
    return slot;
  }

  /** Overwrites a live slot with row `row` of `vecs`. */
  set(slot: number, vecs: readonly Vector[], row: number): void {
    for (let c = 0; c < this.cols.length; c++) {
      const v = vecs[c]!; const col = this.cols[c]!;
      const ok = v.valid === null || v.valid[row] === 1;
      this.valid[c]![slot] = ok ? 1 : 0;
      switch (col.kind) {
        case 'f64': case 'i32': case 'bool': col.values[slot] = ok ? (v as { values: ArrayLike<number> }).values[row]! : 0; break;
        case 'str': col.values[slot] = ok ? (v as { values: readonly string[] }).values[row]! : ''; break;
        case 'struct': col.values[slot] = ok ? valueAt(v, row) : null; break;
      }
    }
  }

  release(slot: number): void {
    if (this.live[slot] !== 1) return;
    this.live[slot] = 0; this.size--;
    const col = this.cols;
    for (const c of col) if (c.kind === 'str' || c.kind === 'struct') c.values[slot] = c.kind === 'str' ? '' : null;
    this.free.push(slot);
  }

  isLive(slot: number): boolean { return this.live[slot] === 1; }

  /** A cell as a JS value (number, string, 0/1 for booleans, object for ROW), null for NULL. */
  value(slot: number, c: number): number | string | null | unknown {
    if (this.valid[c]![slot] === 0) return null;
    return this.cols[c]!.values[slot] as number | string;
  }

  /** A numeric cell, NaN for NULL. */
  num(slot: number, c: number): number {
    if (this.valid[c]![slot] === 0) return NaN;
    return (this.cols[c]!.values as ArrayLike<number>)[slot]!;
  }

  /** The rows of `slots[0..n)` as vectors, column by column. */
  vectors(slots: ArrayLike<number>, n = slots.length): Vector[] {
    return this.schema.fields.map((f, c) => {
      const col = this.cols[c]!; const vs = this.valid[c]!;
      let valid: Uint8Array | null = null;
      for (let i = 0; i < n; i++) if (vs[slots[i]!] === 0) { valid ??= new Uint8Array(n).fill(1); valid[i] = 0; }
      switch (col.kind) {
        case 'f64': { const o = new Float64Array(n); for (let i = 0; i < n; i++) o[i] = col.values[slots[i]!]!; return { kind: 'f64', type: f.type, length: n, values: o, valid }; }
        case 'i32': { const o = new Int32Array(n); for (let i = 0; i < n; i++) o[i] = col.values[slots[i]!]!; return { kind: 'i32', type: f.type, length: n, values: o, valid }; }
        case 'bool': { const o = new Uint8Array(n); for (let i = 0; i < n; i++) o[i] = col.values[slots[i]!]!; return { kind: 'bool', type: f.type, length: n, values: o, valid }; }
        case 'str': { const o = new Array<string>(n); for (let i = 0; i < n; i++) o[i] = col.values[slots[i]!]!; return { kind: 'str', type: f.type, length: n, values: o, valid }; }
        case 'struct': {
          const vals = new Array<unknown>(n);
          for (let i = 0; i < n; i++) vals[i] = vs[slots[i]!] === 0 ? null : col.values[slots[i]!];
          return vectorFromValues(f.type, vals);
        }
      }
    });
  }

  batch(slots: ArrayLike<number>, n = slots.length): RecordBatch {
    return makeBatch(this.schema, this.vectors(slots, n), n);
  }

  /** Live slots in slot order. */
  liveSlots(): Int32Array {
    const out = new Int32Array(this.size);
    let j = 0;
    for (let s = 0; s < this.top; s++) if (this.live[s] === 1) out[j++] = s;
    return out;
  }

  bytes(): number {
    return this.top * (9 * this.cols.length);
  }

  /** Adds every row of a batch (of this schema); returns their slots in row order. */
  addBatch(b: RecordBatch): Int32Array {
    const vecs = batchVectors(b, this.schema);
    const out = new Int32Array(b.numRows);
    for (let i = 0; i < b.numRows; i++) out[i] = this.add(vecs, i);
    return out;
  }
}

/**
 * A vector from JS cell values as `valueAt` gives them (numbers, strings, booleans or 0/1, objects for
 * ROW, null for NULL). For operators' outputs built from kept rows, not for decoding input.
 */
export function vectorFromValues(type: SqlType, vals: readonly unknown[]): Vector {
  const n = vals.length;
  let valid: Uint8Array | null = null;
  for (let i = 0; i < n; i++) if (vals[i] === null || vals[i] === undefined) { valid ??= new Uint8Array(n).fill(1); valid[i] = 0; }
  switch (vectorKindOf(type)) {
    case 'f64': return { kind: 'f64', type, length: n, values: Float64Array.from(vals, (v) => (typeof v === 'number' ? v : 0)), valid };
    case 'i32': return { kind: 'i32', type, length: n, values: Int32Array.from(vals, (v) => (typeof v === 'number' ? v : 0)), valid };
    case 'bool': return { kind: 'bool', type, length: n, values: Uint8Array.from(vals, (v) => (v === true || v === 1 ? 1 : 0)), valid };
    case 'str': return { kind: 'str', type, length: n, values: vals.map((v) => (typeof v === 'string' ? v : '')), valid };
    case 'struct': {
      const fields = type.kind === 'struct' ? type.fields : [];
      const children = fields.map((f) => vectorFromValues(f.type, vals.map((v) => (v === null || v === undefined ? null : (v as Record<string, unknown>)[f.name] ?? null))));
      return { kind: 'struct', type, length: n, children, valid };
    }
  }
}

/** A batch from rows of JS cell values (see vectorFromValues). */
export function batchFromValues(schema: Schema, rows: readonly (readonly unknown[])[]): RecordBatch {
  return makeBatch(schema, schema.fields.map((f, c) => vectorFromValues(f.type, rows.map((r) => r[c]))), rows.length);
}

/**
 * Compares two JS cell values for ORDER BY: numbers and strings by value, NULL last ascending and
 * first descending (PostgreSQL), ROW values by their JSON text.
 */
export function compareCells(x: unknown, y: unknown, desc: boolean): number {
  if (x === y) return 0;
  if (x === null) return desc ? -1 : 1;
  if (y === null) return desc ? 1 : -1;
  let c: number;
  if (typeof x === 'object' || typeof y === 'object') { const a = JSON.stringify(x); const b = JSON.stringify(y); c = a < b ? -1 : a > b ? 1 : 0; }
  else c = (x as number) < (y as number) ? -1 : (x as number) > (y as number) ? 1 : 0;
  return desc ? -c : c;
}
