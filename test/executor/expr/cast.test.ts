import { describe, expect, it } from 'vitest';
import { T, bool, cast, col, evalVector, evaluate, f64, i32, i64, lit, scalar, str, struct, ts } from './helpers.ts';
import type { SqlType } from '../../../planner/types.ts';

const castCol = (t: SqlType, to: SqlType, v: Parameters<typeof evaluate>[1][number]) => evaluate(cast(col(0, t), to), [v]);

describe('CAST', () => {
  it('varchar → numbers, invalid strings are NULL', () => {
    const s = str(['42', ' -7 ', '+3', '4.5', 'abc', '', null, '99999999999', '1e3']);
    expect(castCol(T.varchar, T.int, s)).toEqual([42, -7, 3, null, null, null, null, null, null]);
    expect(castCol(T.varchar, T.bigint, s)).toEqual([42, -7, 3, null, null, null, null, 99999999999, null]);
    expect(castCol(T.varchar, T.double, s)).toEqual([42, -7, 3, 4.5, null, null, null, 99999999999, 1000]);
    expect(castCol(T.varchar, T.double, str(['NaN', '-Infinity', 'inf', '.5', '0x10', '1,5']))).toEqual([Number.NaN, -Infinity, Infinity, 0.5, null, null]);
    expect(evalVector(cast(col(0, T.varchar), T.int), [str(['1', '2'])]).valid).toBeNull();
  });

  it('numbers → varchar print integers without .0', () => {
    expect(castCol(T.int, T.varchar, i32([1, -2, null]))).toEqual(['1', '-2', null]);
    expect(castCol(T.double, T.varchar, f64([1, 2.5, -0.125, 1e21, null]))).toEqual(['1', '2.5', '-0.125', '1e+21', null]);
    expect(castCol(T.bigint, T.varchar, i64([9007199254740991]))).toEqual(['9007199254740991']);
  });

  it('double → int/bigint truncates toward zero; overflow and NaN are NULL', () => {
    expect(castCol(T.double, T.int, f64([1.9, -1.9, 3e9, Number.NaN, null]))).toEqual([1, -1, null, null, null]);
    expect(castCol(T.double, T.bigint, f64([1.9, -1.9, 3e9, Infinity]))).toEqual([1, -1, 3e9, null]);
    expect(evalVector(cast(col(0, T.double), T.int), [f64([1.5])]).kind).toBe('i32');
  });

  it('int ↔ bigint ↔ double', () => {
    const r = evalVector(cast(col(0, T.int), T.bigint), [i32([1, null])]);
    expect(r.kind).toBe('f64');
    expect(r.type).toEqual(T.bigint);
    expect(castCol(T.bigint, T.int, i64([5, 2 ** 40]))).toEqual([5, null]);
    expect(castCol(T.bigint, T.double, i64([5]))).toEqual([5]);
  });

  it('boolean ↔ varchar and numbers', () => {
    expect(castCol(T.boolean, T.varchar, bool([true, false, null]))).toEqual(['true', 'false', null]);
    expect(castCol(T.varchar, T.boolean, str(['true', 'FALSE', ' t ', 'yes', 'off', '1', 'maybe', null]))).toEqual([true, false, true, true, false, true, null, null]);
    expect(castCol(T.int, T.boolean, i32([0, 5, -1, null]))).toEqual([false, true, true, null]);
    expect(castCol(T.double, T.boolean, f64([0, 0.1, Number.NaN]))).toEqual([false, true, null]);
    expect(castCol(T.boolean, T.int, bool([true, false, null]))).toEqual([1, 0, null]);
    expect(castCol(T.boolean, T.double, bool([true]))).toEqual([1]);
  });

  it('varchar ↔ timestamp', () => {
    const s = str(['2024-01-01T12:00:00Z', '2024-01-01 12:00:00.250', 'garbage', null]);
    expect(castCol(T.varchar, T.timestamp, s)).toEqual([Date.parse('2024-01-01T12:00:00Z'), Date.parse('2024-01-01T12:00:00.250Z'), null, null]);
    expect(castCol(T.timestamp, T.varchar, ts(['2024-01-01T12:00:00Z', null, 8.7e15]))).toEqual(['2024-01-01T12:00:00.000Z', null, null]);
  });

  it('numbers ↔ timestamp use epoch milliseconds', () => {
    expect(castCol(T.bigint, T.timestamp, i64([1000]))).toEqual([1000]);
    expect(castCol(T.timestamp, T.bigint, ts([1000.7]))).toEqual([1000]);
    expect(evalVector(cast(col(0, T.timestamp), T.double), [ts([5])]).type).toEqual(T.double);
  });

  it('NULL casts to anything as all-NULL', () => {
    expect(scalar(cast(lit(null, T.null), T.varchar))).toBeNull();
    const r = evalVector(cast(col(0, T.null), T.varchar), [f64([null, null], T.null)]);
    expect(r.kind).toBe('str');
    expect(r.valid).not.toBeNull();
  });

  it('folds constant casts', () => {
    expect(scalar(cast(lit('12', T.varchar), T.int))).toBe(12);
    expect(scalar(cast(lit('x', T.varchar), T.int))).toBeNull();
    expect(scalar(cast(lit(0, T.timestamp), T.varchar))).toBe('1970-01-01T00:00:00.000Z');
    expect(scalar(cast(lit(3.99, T.double), T.int))).toBe(3);
  });

  it('a struct prints as JSON; unrelated casts fail at compile time', () => {
    const fields = [{ name: 'a', type: T.int, nullable: true }, { name: 'b', type: T.varchar, nullable: true }];
    const s = struct(fields, [i32([1, 2]), str(['x', null])], [false, true]);
    expect(castCol({ kind: 'struct', fields }, T.varchar, s)).toEqual(['{"a":1,"b":"x"}', null]);
    expect(() => castCol(T.boolean, T.timestamp, bool([true]))).toThrow(/cannot cast/);
    expect(() => castCol({ kind: 'struct', fields }, T.int, s)).toThrow(/cannot cast/);
  });
});
