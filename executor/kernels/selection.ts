/**
 * Selection kernels: from a boolean filter result to row indices, and from indices to filtered
 * columns. A selection is an ascending Int32Array of distinct row indices.
 */
import { take, type Vector } from '../vector.ts';

/**
 * Indices of the rows where `mask` is TRUE (NULL and FALSE rows are dropped, as WHERE does).
 * The result is exactly as long as the number of selected rows: a counting pass first, so no
 * oversized buffer is allocated and later trimmed. Bool values are 0/1 (as every producer writes
 * them), which lets both passes add and AND bytes instead of branching.
 */
export function selectionFromMask(mask: Vector, length: number): Int32Array {
  if (mask.kind !== 'bool') throw new Error(`a filter mask must be boolean, got ${mask.kind}`);
  const values = mask.values; const valid = mask.valid;
  let count = 0;
  if (valid === null) for (let i = 0; i < length; i++) count += values[i]!;
  else for (let i = 0; i < length; i++) count += values[i]! & valid[i]!;
  const sel = new Int32Array(count);
  if (count === length) {
    for (let i = 0; i < length; i++) sel[i] = i;
    return sel;
  }
  let k = 0;
  if (valid === null) { for (let i = 0; i < length; i++) if (values[i]) sel[k++] = i; }
  else for (let i = 0; i < length; i++) if (values[i]! & valid[i]!) sel[k++] = i;
  return sel;
}

/**
 * True when a selection keeps every one of `length` rows. Selections are ascending and distinct,
 * so a full-length one can only be 0…length-1, and callers can pass the batch through untouched.
 */
export function allSelected(sel: Int32Array, length: number): boolean {
  return sel.length === length;
}

/** The selected rows of each column (columns with every row selected are passed through as is). */
export function filterVectors(cols: readonly Vector[], sel: Int32Array): Vector[] {
  return cols.map((c) => (allSelected(sel, c.length) ? c : take(c, sel)));
}
