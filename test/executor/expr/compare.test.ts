import { describe, expect, it } from 'vitest';
import type { ScalarFn } from '../../../planner/types.ts';
import { T, bool, call, col, evalVector, evaluate, f64, i32, i64, lit, scalar, str, ts } from './helpers.ts';

const B = T.boolean;
const OPS: ScalarFn[] = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte'];

describe('comparisons', () => {
  it('compare numbers, mixing INT and DOUBLE', () => {
    const a = i32([1, 2, 3, null]); const b = f64([2, 2, 2.5, 1]);
    const results = OPS.map((op) => evaluate(call(op, B, col(0, T.int), col(1, T.double)), [a, b]));
    expect(results).toEqual([
      [false, true, false, null],
      [true, false, true, null],
      [true, false, false, null],
      [true, true, false, null],
      [false, false, true, null],
      [false, true, true, null],
    ]);
  });

  it('compare against constants on either side', () => {
    const a = i64([1, 5, 10, null]);
    expect(evaluate(call('gt', B, col(0, T.bigint), lit(5, T.int)), [a])).toEqual([false, false, true, null]);
    expect(evaluate(call('gt', B, lit(5, T.int), col(0, T.bigint)), [a])).toEqual([true, false, false, null]);
    expect(evaluate(call('lte', B, lit(5, T.int), col(0, T.bigint)), [a])).toEqual([false, true, true, null]);
    expect(evaluate(call('eq', B, col(0, T.bigint), lit(5.0, T.double)), [a])).toEqual([false, true, false, null]);
    expect(evaluate(call('neq', B, lit(5, T.int), col(0, T.bigint)), [a])).toEqual([true, false, true, null]);
  });

  it('compare strings by code units', () => {
    const a = str(['a', 'B', 'abc', 'é', null]); const b = str(['b', 'a', 'abc', 'z', 'x']);
    expect(evaluate(call('lt', B, col(0, T.varchar), col(1, T.varchar)), [a, b])).toEqual([true, true, false, false, null]);
    expect(evaluate(call('eq', B, col(0, T.varchar), col(1, T.varchar)), [a, b])).toEqual([false, false, true, false, null]);
    expect(evaluate(call('gte', B, col(0, T.varchar), lit('abc', T.varchar)), [a])).toEqual([false, false, true, true, null]);
    expect(evaluate(call('gt', B, lit('b', T.varchar), col(0, T.varchar)), [a])).toEqual([true, true, true, false, null]);
  });

  it('compare timestamps, including against a timestamp string literal', () => {
    const t = ts(['2024-01-01T00:00:00Z', '2024-06-01T00:00:00Z', null]);
    expect(evaluate(call('lt', B, col(0, T.timestamp), lit(Date.parse('2024-03-01T00:00:00Z'), T.timestamp)), [t])).toEqual([true, false, null]);
    expect(evaluate(call('lt', B, col(0, T.timestamp), lit('2024-03-01 00:00:00', T.varchar)), [t])).toEqual([true, false, null]);
    expect(evaluate(call('gte', B, col(0, T.timestamp), lit('2024-06-01T00:00:00Z', T.timestamp)), [t])).toEqual([false, true, null]);
  });

  it('compare booleans (FALSE < TRUE)', () => {
    const a = bool([true, false, true, null]); const b = bool([true, true, false, false]);
    expect(evaluate(call('eq', B, col(0, B), col(1, B)), [a, b])).toEqual([true, false, false, null]);
    expect(evaluate(call('lt', B, col(0, B), col(1, B)), [a, b])).toEqual([false, true, false, null]);
    expect(evaluate(call('eq', B, col(0, B), lit(true, B)), [a])).toEqual([true, false, true, null]);
  });

  it('comparison with NULL is NULL', () => {
    expect(evaluate(call('eq', B, col(0, T.int), lit(null, T.null)), [i32([1, 2])])).toEqual([null, null]);
    expect(scalar(call('eq', B, lit(null, T.int), lit(null, T.int)))).toBeNull();
    expect(evalVector(call('eq', B, col(0, T.varchar), lit(null, T.null)), [str(['a'])]).kind).toBe('bool');
  });

  it('rejects comparing unrelated column types at compile time', () => {
    expect(() => evaluate(call('eq', B, col(0, T.varchar), col(1, T.int)), [str(['1']), i32([1])])).toThrow(/cast/);
  });
});

describe('BETWEEN', () => {
  it('is inclusive on both ends', () => {
    const x = i32([0, 1, 5, 10, 11, null]);
    expect(evaluate(call('between', B, col(0, T.int), lit(1, T.int), lit(10, T.int)), [x])).toEqual([false, true, true, true, false, null]);
    expect(evaluate(call('not_between', B, col(0, T.int), lit(1, T.int), lit(10, T.int)), [x])).toEqual([true, false, false, false, true, null]);
  });

  it('uses three-valued logic for NULL bounds', () => {
    const x = i32([0, 5, 20]);
    // x >= NULL AND x <= 10: FALSE when x > 10, else NULL
    expect(evaluate(call('between', B, col(0, T.int), lit(null, T.null), lit(10, T.int)), [x])).toEqual([null, null, false]);
    expect(evaluate(call('not_between', B, col(0, T.int), lit(null, T.null), lit(10, T.int)), [x])).toEqual([null, null, true]);
  });

  it('works on column bounds and strings', () => {
    const x = f64([1.5, 3, 7]); const lo = i32([1, 4, 7]); const hi = i32([2, 5, 7]);
    expect(evaluate(call('between', B, col(0, T.double), col(1, T.int), col(2, T.int)), [x, lo, hi])).toEqual([true, false, true]);
    const s = str(['apple', 'banana', 'cherry']);
    expect(evaluate(call('between', B, col(0, T.varchar), lit('b', T.varchar), lit('c', T.varchar)), [s])).toEqual([false, true, false]);
    expect(scalar(call('between', B, lit(5, T.int), lit(1, T.int), lit(10, T.int)))).toBe(true);
  });
});

describe('IN', () => {
  it('matches literal lists of numbers and strings', () => {
    expect(evaluate(call('in', B, col(0, T.int), lit(1, T.int), lit(3, T.int)), [i32([1, 2, 3, null])])).toEqual([true, false, true, null]);
    expect(evaluate(call('in', B, col(0, T.bigint), lit(1, T.int), lit(2.0, T.double)), [i64([2, 4])])).toEqual([true, false]);
    expect(evaluate(call('in', B, col(0, T.varchar), lit('a', T.varchar), lit('c', T.varchar)), [str(['a', 'b', null])])).toEqual([true, false, null]);
    expect(evaluate(call('not_in', B, col(0, T.varchar), lit('a', T.varchar), lit('c', T.varchar)), [str(['a', 'b', null])])).toEqual([false, true, null]);
    expect(evaluate(call('in', B, col(0, B), lit(true, B)), [bool([true, false])])).toEqual([true, false]);
  });

  it('is NULL when nothing matches and the list holds a NULL', () => {
    const x = i32([1, 2, null]);
    expect(evaluate(call('in', B, col(0, T.int), lit(1, T.int), lit(null, T.null)), [x])).toEqual([true, null, null]);
    expect(evaluate(call('not_in', B, col(0, T.int), lit(1, T.int), lit(null, T.null)), [x])).toEqual([false, null, null]);
  });

  it('compares against non-constant list items row by row', () => {
    const x = i32([1, 2, 3, 4]); const y = i32([1, 0, null, 0]);
    expect(evaluate(call('in', B, col(0, T.int), col(1, T.int), lit(4, T.int)), [x, y])).toEqual([true, false, null, true]);
    expect(evaluate(call('not_in', B, col(0, T.int), col(1, T.int)), [x, y])).toEqual([false, true, null, true]);
  });

  it('casts string literals to a timestamp value', () => {
    const t = ts(['2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z']);
    expect(evaluate(call('in', B, col(0, T.timestamp), lit('2024-01-02 00:00:00', T.varchar)), [t])).toEqual([false, true]);
  });
});
