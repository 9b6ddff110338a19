/**
 * Building a join's output columnar: both sides' rows are gathered by slot lists (-1 = the padded,
 * all-NULL side of an outer row), the residual predicate is evaluated once over the gathered pairs
 * (left columns then right columns), and the output batch is assembled from the gathered vectors.
 */
import type { RecordBatch } from 'apache-arrow';
import type { Expr, Schema } from '../../planner/types.ts';
import { makeBatch } from '../arrow.ts';
import { compileExpr } from '../expr/compile.ts';
import { constantVector, take, type Vector } from '../vector.ts';
import type { RowStore } from './row-store.ts';
import { selectionFromMask } from './selection.ts';
import type { PairList } from './join-state.ts';

/** Sets rows whose slot is -1 to NULL in vectors gathered with those slots replaced by a valid one. */
function pad(vecs: Vector[], slots: Int32Array, n: number): Vector[] {
  let any = false;
  for (let i = 0; i < n; i++) if (slots[i]! < 0) { any = true; break; }
  if (!any) return vecs;
  return vecs.map((v) => {
    const valid = new Uint8Array(n);
    if (v.valid === null) valid.fill(1); else valid.set(v.valid.subarray(0, n));
    for (let i = 0; i < n; i++) if (slots[i]! < 0) valid[i] = 0;
    return { ...v, valid } as Vector;
  });
}

/** Rows `slots[0..n)` of a store as vectors; -1 gives a NULL row. */
export function gatherStore(store: RowStore, slots: Int32Array, n: number): Vector[] {
  let real = -1;
  for (let i = 0; i < n; i++) if (slots[i]! >= 0) { real = slots[i]!; break; }
  if (real < 0) return store.schema.fields.map((f) => constantVector(f.type, null, n));
  let safe = slots;
  for (let i = 0; i < n; i++) {
    if (slots[i]! < 0) {
      safe = slots.slice(0, n);
      for (let j = i; j < n; j++) if (safe[j]! < 0) safe[j] = real;
      break;
    }
  }
  return pad(store.vectors(safe, n), slots, n);
}

/** Rows `rows[0..n)` of batch vectors; -1 gives a NULL row. */
export function gatherCols(schema: Schema, cols: readonly Vector[], rows: Int32Array, n: number): Vector[] {
  let real = -1;
  for (let i = 0; i < n; i++) if (rows[i]! >= 0) { real = rows[i]!; break; }
  if (real < 0) return schema.fields.map((f) => constantVector(f.type, null, n));
  const safe = rows.slice(0, n);
  for (let j = 0; j < n; j++) if (safe[j]! < 0) safe[j] = real;
  return pad(cols.map((c) => take(c, safe, n)), rows, n);
}

/** Where a side's rows come from when building pairs: a store by slot, or the batch being processed by row. */
export type RowSource = { readonly store: RowStore } | { readonly schema: Schema; readonly cols: readonly Vector[] };

export function gather(src: RowSource, ix: Int32Array, n: number): Vector[] {
  return 'store' in src ? gatherStore(src.store, ix, n) : gatherCols(src.schema, src.cols, ix, n);
}

/** The residual predicate compiled over left ++ right columns; null when there is none. */
export type Residual = ((cols: readonly Vector[], n: number) => Int32Array) | null;

export function compileResidual(e: Expr | null): Residual {
  if (e === null) return null;
  const f = compileExpr(e);
  return (cols, n) => selectionFromMask(f(cols, n), n);
}

/**
 * Candidate pairs → the pairs that pass the residual: compacts `pairs` in place and returns the
 * gathered left and right vectors of the survivors (so the caller can emit them without gathering
 * again).
 */
export function filterPairs(pairs: PairList, left: RowSource, right: RowSource, residual: Residual): { l: Vector[]; r: Vector[] } {
  const n = pairs.n;
  const l = gather(left, pairs.left, n);
  const r = gather(right, pairs.right, n);
  if (residual === null || n === 0) return { l, r };
  const sel = residual([...l, ...r], n);
  if (sel.length === n) return { l, r };
  for (let i = 0; i < sel.length; i++) { pairs.left[i] = pairs.left[sel[i]!]!; pairs.right[i] = pairs.right[sel[i]!]!; }
  pairs.n = sel.length;
  return { l: l.map((v) => take(v, sel)), r: r.map((v) => take(v, sel)) };
}

/** An output batch from gathered vectors: left ++ right, or left only (semi / anti). */
export function outBatch(schema: Schema, l: readonly Vector[], r: readonly Vector[] | null, n: number): RecordBatch {
  return makeBatch(schema, r === null ? l : [...l, ...r], n);
}

/** Selects entries `sel` of vectors (e.g. the pairs of an output subset). */
export function takeAll(vecs: readonly Vector[], sel: Int32Array): Vector[] {
  return vecs.map((v) => take(v, sel));
}

/** What a join type emits. */
export interface JoinEmits {
  /** Matched pairs, left ++ right (inner and outer joins). */
  readonly pairs: boolean;
  /** Left rows without a match, right side NULL (LEFT, FULL). */
  readonly padLeft: boolean;
  /** Right rows without a match, left side NULL (RIGHT, FULL). */
  readonly padRight: boolean;
  /** Left rows with a match, once each (SEMI). */
  readonly semi: boolean;
  /** Left rows without a match (ANTI). */
  readonly anti: boolean;
  /** Output is the left columns only. */
  readonly leftOnly: boolean;
}

export function joinEmits(t: 'inner' | 'left' | 'right' | 'full' | 'semi' | 'anti'): JoinEmits {
  return {
    pairs: t === 'inner' || t === 'left' || t === 'right' || t === 'full',
    padLeft: t === 'left' || t === 'full',
    padRight: t === 'right' || t === 'full',
    semi: t === 'semi',
    anti: t === 'anti',
    leftOnly: t === 'semi' || t === 'anti',
  };
}
