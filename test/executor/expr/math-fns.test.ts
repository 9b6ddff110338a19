import { describe, expect, it } from 'vitest';
import { T, call, col, evalVector, evaluate, f64, i32, lit, scalar, valuesOf } from './helpers.ts';
import { roundDigits, roundHalfAway } from '../../../executor/expr/math-fns.ts';

const D = T.double;

describe('math functions', () => {
  it('abs', () => {
    expect(evaluate(call('abs', T.int, col(0, T.int)), [i32([-3, 0, 4, null])])).toEqual([3, 0, 4, null]);
    expect(evaluate(call('abs', D, col(0, D)), [f64([-1.5, 2.25, null])])).toEqual([1.5, 2.25, null]);
  });

  it('round rounds half away from zero', () => {
    expect(evaluate(call('round', D, col(0, D)), [f64([2.5, -2.5, 0.5, -0.5, 1.4, -1.6, null])])).toEqual([3, -3, 1, -1, 1, -2, null]);
    expect(roundHalfAway(0.49999999999999994)).toBe(0);
  });

  it('round with digits, including decimal ties that binary doubles miss and negative digits', () => {
    const x = f64([1.005, 2.675, -1.005, 1234.5678, 1.2345, null]);
    expect(evaluate(call('round', D, col(0, D), lit(2, T.int)), [x])).toEqual([1.01, 2.68, -1.01, 1234.57, 1.23, null]);
    expect(evaluate(call('round', D, col(0, D), lit(-2, T.int)), [f64([1234.5, 1250, -1250])])).toEqual([1200, 1300, -1300]);
    expect(evaluate(call('round', D, col(0, D), col(1, T.int)), [f64([1.25, 1.25, 1.25]), i32([0, 1, null])])).toEqual([1, 1.3, null]);
    expect(roundDigits(0.1 + 0.2, 1)).toBe(0.3);
    expect(roundDigits(1e300, 5)).toBe(1e300);
    expect(roundDigits(Number.NaN, 2)).toBeNaN();
  });

  it('round of an INT stays INT', () => {
    const r = evalVector(call('round', T.int, col(0, T.int)), [i32([1, -2, null])]);
    expect(r.kind).toBe('i32');
    expect(evaluate(call('round', T.int, col(0, T.int), lit(-1, T.int)), [i32([15, -15, 14])])).toEqual([20, -20, 10]);
  });

  it('floor and ceil', () => {
    expect(evaluate(call('floor', D, col(0, D)), [f64([1.5, -1.5, 2, null])])).toEqual([1, -2, 2, null]);
    expect(evaluate(call('ceil', D, col(0, D)), [f64([1.5, -1.5, 2, null])])).toEqual([2, -1, 2, null]);
    expect(evaluate(call('floor', T.int, col(0, T.int)), [i32([3, null])])).toEqual([3, null]);
    // a DOUBLE argument bound to a BIGINT result
    const r = evalVector(call('ceil', T.bigint, col(0, D)), [f64([0.1])]);
    expect(r.type).toEqual(T.bigint);
    expect(valuesOf(r)[0]).toBe(1);
  });

  it('folds on constants', () => {
    expect(scalar(call('abs', T.int, lit(-7, T.int)))).toBe(7);
    expect(scalar(call('round', D, lit(null, T.null)))).toBeNull();
  });
});
