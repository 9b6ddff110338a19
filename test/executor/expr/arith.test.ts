import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { T, call, col, evalVector, evaluate, f64, i32, i64, lit, rows, scalar, ts, valuesOf } from './helpers.ts';

describe('arithmetic', () => {
  it('adds, subtracts and multiplies ints into an Int32Array', () => {
    const a = i32([1, 2, -3, null]); const b = i32([10, 20, 30, 40]);
    const add = evalVector(call('add', T.int, col(0, T.int), col(1, T.int)), [a, b]);
    expect(add.kind).toBe('i32');
    expect(rows(add)).toEqual([11, 22, 27, null]);
    expect(evaluate(call('sub', T.int, col(0, T.int), col(1, T.int)), [a, b])).toEqual([-9, -18, -33, null]);
    expect(evaluate(call('mul', T.int, col(0, T.int), col(1, T.int)), [a, b])).toEqual([10, 40, -90, null]);
  });

  it('wraps INT overflow like a 32-bit integer, multiplication included', () => {
    const a = i32([2147483647, 65536, -2147483648]);
    expect(evaluate(call('add', T.int, col(0, T.int), lit(1, T.int)), [a])).toEqual([-2147483648, 65537, -2147483647]);
    expect(evaluate(call('mul', T.int, col(0, T.int), lit(65536, T.int)), [a])).toEqual([-65536, 0, 0]);
    expect(evaluate(call('neg', T.int, col(0, T.int)), [a])).toEqual([-2147483647, -65536, -2147483648]);
  });

  it('coerces INT inputs to f64 when the result is BIGINT or DOUBLE', () => {
    const a = i32([1, 2, null]); const b = i64([10, null, 30]);
    const r = evalVector(call('add', T.bigint, col(0, T.int), col(1, T.bigint)), [a, b]);
    expect(r.kind).toBe('f64');
    expect(valuesOf(r)).toBeInstanceOf(Float64Array);
    expect(rows(r)).toEqual([11, null, null]);
    const d = evalVector(call('mul', T.double, col(0, T.int), lit(1.5, T.double)), [a]);
    expect(d.kind).toBe('f64');
    expect(rows(d)).toEqual([1.5, 3, null]);
  });

  it('divides integers with truncation toward zero and doubles IEEE', () => {
    const a = i32([7, -7, 7, -7]); const b = i32([2, 2, -2, -2]);
    expect(evaluate(call('div', T.int, col(0, T.int), col(1, T.int)), [a, b])).toEqual([3, -3, -3, 3]);
    const a64 = i64([7, -7, 9007199254740991]); const b64 = i64([2, 2, 2]);
    expect(evaluate(call('div', T.bigint, col(0, T.bigint), col(1, T.bigint)), [a64, b64])).toEqual([3, -3, 4503599627370495]);
    const x = f64([7, -7, 1]); const y = f64([2, 2, 3]);
    expect(evaluate(call('div', T.double, col(0, T.double), col(1, T.double)), [x, y])).toEqual([3.5, -3.5, 1 / 3]);
    // int / double is a double division
    expect(evaluate(call('div', T.double, col(0, T.int), lit(2, T.double)), [i32([7])])).toEqual([3.5]);
  });

  it('gives NULL (never Infinity or NaN) for division and modulo by zero', () => {
    const a = f64([1, 0, -1, 5]); const b = f64([0, 0, 0, 2]);
    const r = evalVector(call('div', T.double, col(0, T.double), col(1, T.double)), [a, b]);
    expect(rows(r)).toEqual([null, null, null, 2.5]);
    expect(Array.from(valuesOf(r) as Float64Array).every(Number.isFinite)).toBe(true);
    expect(evaluate(call('div', T.int, col(0, T.int), col(1, T.int)), [i32([1, 6]), i32([0, 3])])).toEqual([null, 2]);
    expect(evaluate(call('mod', T.int, col(0, T.int), col(1, T.int)), [i32([1, 7]), i32([0, 3])])).toEqual([null, 1]);
    expect(evaluate(call('mod', T.bigint, col(0, T.bigint), lit(0, T.int)), [i64([1, 2])])).toEqual([null, null]);
    expect(evaluate(call('div', T.double, col(0, T.double), lit(0, T.double)), [f64([1, 2])])).toEqual([null, null]);
    // constant dividend, column divisor
    expect(evaluate(call('div', T.int, lit(10, T.int), col(0, T.int)), [i32([0, 3, null])])).toEqual([null, 3, null]);
  });

  it('keeps the sign of the dividend for mod', () => {
    expect(evaluate(call('mod', T.int, col(0, T.int), lit(3, T.int)), [i32([7, -7, 0])])).toEqual([1, -1, 0]);
    expect(evaluate(call('mod', T.double, col(0, T.double), lit(2, T.double)), [f64([5.5, -5.5])])).toEqual([1.5, -1.5]);
  });

  it('handles scalar operands on either side', () => {
    const a = i32([1, 2, 3]);
    expect(evaluate(call('sub', T.int, lit(10, T.int), col(0, T.int)), [a])).toEqual([9, 8, 7]);
    expect(evaluate(call('sub', T.int, col(0, T.int), lit(10, T.int)), [a])).toEqual([-9, -8, -7]);
    expect(evaluate(call('div', T.double, lit(1, T.double), col(0, T.int)), [a])).toEqual([1, 0.5, 1 / 3]);
    expect(evaluate(call('mod', T.int, lit(10, T.int), col(0, T.int)), [a])).toEqual([0, 0, 1]);
  });

  it('never produces IEEE -0 for BIGINT results', () => {
    const zeroes = [
      evaluate(call('mul', T.bigint, col(0, T.bigint), lit(-5, T.int)), [i64([0])])[0],
      evaluate(call('div', T.bigint, col(0, T.bigint), lit(5, T.int)), [i64([-1])])[0],
      evaluate(call('mod', T.bigint, col(0, T.bigint), lit(5, T.int)), [i64([-5])])[0],
      evaluate(call('neg', T.bigint, col(0, T.bigint)), [i64([0])])[0],
    ];
    for (const z of zeroes) expect(Object.is(z, 0)).toBe(true);
  });

  it('negates', () => {
    expect(evaluate(call('neg', T.double, col(0, T.double)), [f64([1.5, null, -2])])).toEqual([-1.5, null, 2]);
  });

  it('propagates NULL from a NULL literal', () => {
    expect(evaluate(call('add', T.int, col(0, T.int), lit(null, T.null)), [i32([1, 2])])).toEqual([null, null]);
    expect(scalar(call('mul', T.double, lit(null, T.null), lit(2, T.double)))).toBeNull();
  });

  it('adds and subtracts intervals on timestamps, and subtracts timestamps', () => {
    const t = ts(['2024-01-01T00:00:00Z', null]);
    const plus = call('add', T.timestamp, col(0, T.timestamp), lit(90_000, T.interval));
    const r = evalVector(plus, [t]);
    expect(r.type).toEqual(T.timestamp);
    expect(rows(r)).toEqual([Date.parse('2024-01-01T00:01:30Z'), null]);
    expect(evaluate(call('add', T.timestamp, lit(1000, T.interval), col(0, T.timestamp)), [t])).toEqual([Date.parse('2024-01-01T00:00:01Z'), null]);
    expect(evaluate(call('sub', T.timestamp, col(0, T.timestamp), lit(86_400_000, T.interval)), [t])).toEqual([Date.parse('2023-12-31T00:00:00Z'), null]);
    const u = ts(['2024-01-01T00:00:10Z', '2024-01-01T00:00:00Z']);
    expect(evaluate(call('sub', T.interval, col(0, T.timestamp), col(1, T.timestamp)), [u, t])).toEqual([10_000, null]);
    expect(evaluate(call('sub', T.bigint, col(0, T.timestamp), col(1, T.timestamp)), [u, t])).toEqual([10_000, null]);
  });

  it('adds correctly over 1M rows into a Float64Array', () => {
    const n = 1_000_000;
    const a = new Float64Array(n); const b = new Int32Array(n);
    for (let i = 0; i < n; i++) { a[i] = i * 0.5; b[i] = n - i; }
    const r = evalVector(
      call('add', T.double, col(0, T.double), col(1, T.int)),
      [{ kind: 'f64', type: T.double, length: n, values: a, valid: null }, { kind: 'i32', type: T.int, length: n, values: b, valid: null }],
      n,
    );
    expect(r.kind).toBe('f64');
    expect(valuesOf(r)).toBeInstanceOf(Float64Array);
    expect(r.length).toBe(n);
    expect(r.valid).toBeNull();
    const out = valuesOf(r) as Float64Array;
    for (let i = 0; i < n; i += 9973) expect(out[i]).toBe(i * 0.5 + n - i);
    expect(out[n - 1]).toBe((n - 1) * 0.5 + 1);
  });

  it('matches a row-at-a-time reference on random INT and BIGINT inputs', () => {
    const arb = fc.array(fc.tuple(fc.option(fc.integer({ min: -1000, max: 1000 })), fc.option(fc.integer({ min: -50, max: 50 }))), { minLength: 1, maxLength: 50 });
    fc.assert(fc.property(arb, (pairs) => {
      const a = pairs.map((p) => p[0]); const b = pairs.map((p) => p[1]);
      const cols = [i32(a), i64(b)];
      const ref = (f: (x: number, y: number) => number | null) => pairs.map(([x, y]) => (x === null || y === null ? null : f(x, y)));
      expect(evaluate(call('add', T.bigint, col(0, T.int), col(1, T.bigint)), cols)).toEqual(ref((x, y) => x + y));
      expect(evaluate(call('div', T.bigint, col(0, T.int), col(1, T.bigint)), cols)).toEqual(ref((x, y) => (y === 0 ? null : Math.trunc(x / y) + 0)));
      expect(evaluate(call('mod', T.bigint, col(0, T.int), col(1, T.bigint)), cols)).toEqual(ref((x, y) => (y === 0 ? null : (x % y) + 0)));
    }));
  });
});
