import { describe, expect, it } from 'vitest';
import { allSelected, filterVectors, selectionFromMask } from '../../../executor/kernels/selection.ts';
import { T, bool, call, col, evalVector, f64, i32, lit, rows, str } from '../expr/helpers.ts';

describe('selectionFromMask', () => {
  it('selects rows that are TRUE and valid, as a trimmed Int32Array', () => {
    const sel = selectionFromMask(bool([true, false, null, true, true]), 5);
    expect(sel).toBeInstanceOf(Int32Array);
    expect(Array.from(sel)).toEqual([0, 3, 4]);
    expect(sel.length).toBe(3);
    expect(sel.buffer.byteLength).toBe(12);
  });

  it('treats a NULL row whose value byte is 1 as not selected', () => {
    const mask = { kind: 'bool' as const, type: T.boolean, length: 3, values: Uint8Array.of(1, 1, 1), valid: Uint8Array.of(1, 0, 1) };
    expect(Array.from(selectionFromMask(mask, 3))).toEqual([0, 2]);
  });

  it('handles all and none', () => {
    expect(Array.from(selectionFromMask(bool([true, true]), 2))).toEqual([0, 1]);
    expect(selectionFromMask(bool([false, null]), 2).length).toBe(0);
    expect(selectionFromMask(bool([]), 0).length).toBe(0);
  });

  it('rejects non-boolean masks', () => {
    expect(() => selectionFromMask(i32([1]), 1)).toThrow(/boolean/);
  });

  it('works on a compiled predicate', () => {
    const x = i32([5, 1, 7, null, 3]);
    const mask = evalVector(call('gt', T.boolean, col(0, T.int), lit(2, T.int)), [x]);
    expect(Array.from(selectionFromMask(mask, 5))).toEqual([0, 2, 4]);
  });
});

describe('filterVectors / allSelected', () => {
  it('gathers the selected rows of every column, nulls included', () => {
    const cols = [i32([1, 2, 3, 4]), str(['a', null, 'c', 'd']), f64([0.5, 1.5, null, 3.5])];
    const sel = Int32Array.of(1, 2);
    const out = filterVectors(cols, sel);
    expect(out.map(rows)).toEqual([[2, 3], [null, 'c'], [1.5, null]]);
    expect(out[0]!.length).toBe(2);
  });

  it('passes columns through when every row is selected', () => {
    const cols = [i32([1, 2]), str(['a', 'b'])];
    const sel = Int32Array.of(0, 1);
    expect(allSelected(sel, 2)).toBe(true);
    expect(allSelected(Int32Array.of(1), 2)).toBe(false);
    const out = filterVectors(cols, sel);
    expect(out[0]).toBe(cols[0]);
    expect(out[1]).toBe(cols[1]);
  });

  it('handles an empty selection', () => {
    const out = filterVectors([i32([1, 2])], new Int32Array(0));
    expect(out[0]!.length).toBe(0);
  });
});
