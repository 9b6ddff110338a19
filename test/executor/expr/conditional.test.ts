import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Expr, SqlType } from '../../../planner/types.ts';
import { T, bool, call, col, evalVector, evaluate, f64, i32, i64, lit, scalar, str, valuesOf } from './helpers.ts';

const B = T.boolean;
function caseExpr(whens: [Expr, Expr][], otherwise: Expr | null, type: SqlType): Expr {
  return { kind: 'case', whens: whens.map(([when, then]) => ({ when, then })), otherwise, type };
}

describe('CASE', () => {
  const x = i32([1, 5, 10, null]);
  const gt = (n: number) => call('gt', B, col(0, T.int), lit(n, T.int));

  it('picks the first true branch, else ELSE', () => {
    const e = caseExpr([[gt(8), lit('big', T.varchar)], [gt(3), lit('mid', T.varchar)]], lit('small', T.varchar), T.varchar);
    expect(evaluate(e, [x])).toEqual(['small', 'mid', 'big', 'small']); // NULL condition counts as false
  });

  it('gives NULL without ELSE', () => {
    const e = caseExpr([[gt(3), lit('yes', T.varchar)]], null, T.varchar);
    expect(evaluate(e, [x])).toEqual([null, 'yes', 'yes', null]);
  });

  it('returns column values per branch and coerces INT branches to a BIGINT result', () => {
    const e = caseExpr([[gt(3), col(0, T.int)]], col(1, T.bigint), T.bigint);
    const r = evalVector(e, [x, i64([100, 200, null, 400])]);
    expect(r.kind).toBe('f64');
    expect(evaluate(e, [x, i64([100, 200, null, 400])])).toEqual([100, 5, 10, 400]);
  });

  it('handles simple CASE as eq conditions and boolean results', () => {
    const e = caseExpr([[call('eq', B, col(0, T.varchar), lit('a', T.varchar)), lit(true, B)]], lit(false, B), B);
    expect(evaluate(e, [str(['a', 'b', null])])).toEqual([true, false, false]);
  });

  it('resolves constant conditions at compile time', () => {
    expect(scalar(caseExpr([[lit(false, B), lit(1, T.int)], [lit(true, B), lit(2, T.int)]], lit(3, T.int), T.int))).toBe(2);
    expect(scalar(caseExpr([[lit(null, B), lit(1, T.int)]], null, T.int))).toBeNull();
    const e = caseExpr([[lit(false, B), lit(1, T.int)], [gt(3), lit(2, T.int)]], null, T.int);
    expect(evaluate(e, [x])).toEqual([null, 2, 2, null]);
  });

  it('works with struct results', () => {
    const fields = [{ name: 'a', type: T.int, nullable: true }];
    const st: SqlType = { kind: 'struct', fields };
    const s = { kind: 'struct' as const, type: st, length: 2, children: [i32([1, 2])], valid: null };
    const e = caseExpr([[col(1, B), col(0, st)]], null, st);
    expect(evaluate(e, [s, bool([true, false])])).toEqual([{ a: 1 }, null]);
  });
});

describe('coalesce', () => {
  it('returns the first non-NULL argument', () => {
    const a = i32([1, null, null]); const b = i32([10, 20, null]);
    expect(evaluate(call('coalesce', T.int, col(0, T.int), col(1, T.int)), [a, b])).toEqual([1, 20, null]);
    expect(evaluate(call('coalesce', T.int, col(0, T.int), col(1, T.int), lit(0, T.int)), [a, b])).toEqual([1, 20, 0]);
    expect(evaluate(call('coalesce', T.varchar, col(0, T.varchar), lit('none', T.varchar)), [str([null, 'x'])])).toEqual(['none', 'x']);
    expect(evaluate(call('coalesce', T.double, lit(null, T.null), col(0, T.int), lit(1.5, T.double)), [i32([null, 2])])).toEqual([1.5, 2]);
    expect(scalar(call('coalesce', T.int, lit(null, T.null), lit(null, T.null)))).toBeNull();
    expect(scalar(call('coalesce', T.int, lit(null, T.null), lit(7, T.int)))).toBe(7);
  });

  it('passes a NULL-free first argument through', () => {
    const a = f64([1, 2]);
    expect(valuesOf(evalVector(call('coalesce', T.double, col(0, T.double), lit(0, T.double)), [a]))).toBe(valuesOf(a));
  });
});

describe('nullif', () => {
  it('is NULL where the arguments are equal', () => {
    expect(evaluate(call('nullif', T.int, col(0, T.int), lit(0, T.int)), [i32([0, 1, null])])).toEqual([null, 1, null]);
    expect(evaluate(call('nullif', T.varchar, col(0, T.varchar), col(1, T.varchar)), [str(['a', 'b', 'c']), str(['a', 'x', null])])).toEqual([null, 'b', 'c']);
    expect(evaluate(call('nullif', T.int, col(0, T.int), lit(null, T.null)), [i32([1])])).toEqual([1]);
    expect(scalar(call('nullif', T.int, lit(3, T.int), lit(3, T.int)))).toBeNull();
  });
});

describe('CASE and coalesce against a row-at-a-time reference', () => {
  const row = fc.tuple(fc.option(fc.boolean()), fc.option(fc.boolean()), fc.option(fc.integer()), fc.option(fc.integer()), fc.option(fc.string()));
  it('match on random rows', () => {
    fc.assert(fc.property(fc.array(row, { maxLength: 40 }), (rs) => {
      const cols = [bool(rs.map((r) => r[0])), bool(rs.map((r) => r[1])), i32(rs.map((r) => r[2])), i32(rs.map((r) => r[3])), str(rs.map((r) => r[4]))];
      const n = rs.length;
      // CASE WHEN c0 THEN c2 WHEN c1 THEN c3 END
      const e = caseExpr([[col(0, B), col(2, T.int)], [col(1, B), col(3, T.int)]], null, T.int);
      expect(evaluate(e, cols, n)).toEqual(rs.map((r) => (r[0] === true ? r[2] : r[1] === true ? r[3] : null)));
      // CASE WHEN c0 THEN c4 ELSE 'x' END
      const e2 = caseExpr([[col(0, B), col(4, T.varchar)]], lit('x', T.varchar), T.varchar);
      expect(evaluate(e2, cols, n)).toEqual(rs.map((r) => (r[0] === true ? r[4] : 'x')));
      expect(evaluate(call('coalesce', T.int, col(2, T.int), col(3, T.int)), cols, n)).toEqual(rs.map((r) => r[2] ?? r[3]));
      expect(evaluate(call('coalesce', T.int, col(2, T.int), col(3, T.int), lit(-1, T.int)), cols, n)).toEqual(rs.map((r) => r[2] ?? r[3] ?? -1));
    }));
  });
});
