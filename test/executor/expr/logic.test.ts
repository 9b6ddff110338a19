import { describe, expect, it } from 'vitest';
import { T, bool, call, col, evalVector, evaluate, f64, lit, scalar, str, struct } from './helpers.ts';

const B = T.boolean;
const V: (boolean | null)[] = [true, false, null];
// Every pair of (a, b) from {TRUE, FALSE, NULL}: a varies slowest.
const A_COL = V.flatMap((a) => V.map(() => a));
const B_COL = V.flatMap(() => V);

describe('three-valued logic', () => {
  it('AND truth table', () => {
    expect(evaluate(call('and', B, col(0, B), col(1, B)), [bool(A_COL), bool(B_COL)])).toEqual([
      true, false, null,
      false, false, false,
      null, false, null,
    ]);
  });

  it('OR truth table', () => {
    expect(evaluate(call('or', B, col(0, B), col(1, B)), [bool(A_COL), bool(B_COL)])).toEqual([
      true, true, true,
      true, false, null,
      true, null, null,
    ]);
  });

  it('NOT truth table', () => {
    expect(evaluate(call('not', B, col(0, B)), [bool(V)])).toEqual([false, true, null]);
  });

  it('AND/OR without nulls take the no-validity path', () => {
    const a = bool([true, true, false, false]); const b = bool([true, false, true, false]);
    const and = evalVector(call('and', B, col(0, B), col(1, B)), [a, b]);
    expect(and.valid).toBeNull();
    expect(evaluate(call('and', B, col(0, B), col(1, B)), [a, b])).toEqual([true, false, false, false]);
    expect(evaluate(call('or', B, col(0, B), col(1, B)), [a, b])).toEqual([true, true, true, false]);
  });

  it('AND/OR with literals: decisive, neutral and NULL constants', () => {
    const a = bool(V);
    expect(evaluate(call('and', B, col(0, B), lit(false, B)), [a])).toEqual([false, false, false]);
    expect(evaluate(call('and', B, col(0, B), lit(true, B)), [a])).toEqual([true, false, null]);
    expect(evaluate(call('and', B, col(0, B), lit(null, T.null)), [a])).toEqual([null, false, null]);
    expect(evaluate(call('or', B, col(0, B), lit(true, B)), [a])).toEqual([true, true, true]);
    expect(evaluate(call('or', B, col(0, B), lit(false, B)), [a])).toEqual([true, false, null]);
    expect(evaluate(call('or', B, lit(null, B), col(0, B)), [a])).toEqual([true, null, null]);
    expect(scalar(call('and', B, lit(null, B), lit(false, B)))).toBe(false);
    expect(scalar(call('or', B, lit(null, B), lit(true, B)))).toBe(true);
    expect(scalar(call('not', B, lit(null, B)))).toBeNull();
  });

  it('AND/OR take more than two arguments', () => {
    const a = bool([true, true, null]); const b = bool([true, false, true]); const c = bool([true, true, true]);
    expect(evaluate(call('and', B, col(0, B), col(1, B), col(2, B)), [a, b, c])).toEqual([true, false, null]);
    expect(evaluate(call('or', B, col(0, B), col(1, B), col(2, B)), [a, b, c])).toEqual([true, true, true]);
  });

  it('IS NULL / IS NOT NULL are never NULL, on every vector kind', () => {
    const cols = [f64([1, null]), str([null, 'x']), bool([null, null])];
    expect(evaluate(call('is_null', B, col(0, T.double)), cols)).toEqual([false, true]);
    expect(evaluate(call('is_not_null', B, col(0, T.double)), cols)).toEqual([true, false]);
    expect(evaluate(call('is_null', B, col(1, T.varchar)), cols)).toEqual([true, false]);
    expect(evaluate(call('is_null', B, col(2, B)), cols)).toEqual([true, true]);
    expect(evalVector(call('is_null', B, col(2, B)), cols).valid).toBeNull();
    expect(evaluate(call('is_null', B, col(0, T.double)), [f64([1, 2])])).toEqual([false, false]);
    expect(evaluate(call('is_not_null', B, col(0, T.double)), [f64([1, 2])])).toEqual([true, true]);
    expect(scalar(call('is_null', B, lit(null, T.null)))).toBe(true);
    expect(scalar(call('is_not_null', B, lit(null, T.null)))).toBe(false);
    const fields = [{ name: 'a', type: T.double, nullable: true }];
    const s = struct(fields, [f64([1, 2])], [false, true]);
    expect(evaluate(call('is_null', B, col(0, { kind: 'struct', fields })), [s])).toEqual([false, true]);
  });
});
