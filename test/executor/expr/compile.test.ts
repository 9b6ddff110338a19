import { describe, expect, it } from 'vitest';
import type { Expr, Field, SqlType } from '../../../planner/types.ts';
import { compileExpr, constantValue } from '../../../executor/expr/compile.ts';
import { T, call, cast, col, evalVector, evaluate, f64, i32, lit, rows, str, struct } from './helpers.ts';

describe('compileExpr basics', () => {
  it('returns input columns and literals of the batch length', () => {
    const a = i32([1, 2, 3]);
    expect(evalVector(col(0, T.int), [a])).toBe(a);
    const l = evalVector(lit(5, T.bigint), [a], 3);
    expect(l.kind).toBe('f64');
    expect(rows(l)).toEqual([5, 5, 5]);
    expect(rows(evalVector(lit('x', T.varchar), [], 2))).toEqual(['x', 'x']);
    expect(rows(evalVector(lit(true, T.boolean), [], 2))).toEqual([true, true]);
    expect(rows(evalVector(lit(null, T.int), [], 2))).toEqual([null, null]);
    expect(rows(evalVector(lit('2024-01-01 00:00:00', T.timestamp), [], 1))).toEqual([Date.parse('2024-01-01T00:00:00Z')]);
  });

  it('result kind follows the bound type', () => {
    const cases: [Expr, string][] = [
      [call('add', T.int, col(0, T.int), lit(1, T.int)), 'i32'],
      [call('add', T.bigint, col(0, T.int), lit(1, T.bigint)), 'f64'],
      [call('gt', T.boolean, col(0, T.int), lit(1, T.int)), 'bool'],
      [call('concat', T.varchar, col(0, T.int)), 'str'],
      [cast(col(0, T.int), T.double), 'f64'],
    ];
    for (const [e, kind] of cases) expect(evalVector(e, [i32([1])]).kind).toBe(kind);
  });

  it('a compiled expression is reusable across batches of different lengths', () => {
    const f = compileExpr(call('mul', T.int, col(0, T.int), lit(2, T.int)));
    expect(rows(f([i32([1, 2])], 2))).toEqual([2, 4]);
    expect(rows(f([i32([3, 4, 5])], 3))).toEqual([6, 8, 10]);
    expect(rows(f([i32([])], 0))).toEqual([]);
  });

  it('reports a missing column clearly', () => {
    expect(() => evalVector(col(2, T.int, 'price'), [i32([1])])).toThrow(/column 2 \(price\)/);
  });
});

describe('constant folding', () => {
  it('folds literal-only subtrees to constants', () => {
    expect(constantValue(call('add', T.int, lit(1, T.int), call('mul', T.int, lit(2, T.int), lit(3, T.int))))).toBe(7);
    expect(constantValue(call('concat', T.varchar, lit('a', T.varchar), lit(1, T.int)))).toBe('a1');
    expect(constantValue(call('div', T.int, lit(1, T.int), lit(0, T.int)))).toBeNull();
    expect(constantValue(cast(lit('2024-01-01', T.varchar), T.timestamp))).toBe(Date.parse('2024-01-01T00:00:00Z'));
    expect(constantValue(col(0, T.int))).toBeUndefined();
    expect(constantValue(call('add', T.int, col(0, T.int), lit(1, T.int)))).toBeUndefined();
  });

  it('a folded subtree is computed once, not per batch: mixed trees still evaluate right', () => {
    // (x + (2 * 3)) > (10 - 1)
    const e = call('gt', T.boolean, call('add', T.int, col(0, T.int), call('mul', T.int, lit(2, T.int), lit(3, T.int))), call('sub', T.int, lit(10, T.int), lit(1, T.int)));
    expect(evaluate(e, [i32([1, 3, 4, null])])).toEqual([false, false, true, null]);
  });

  it('AND with a constant FALSE is FALSE without looking at the column', () => {
    const e = call('and', T.boolean, col(0, T.boolean), lit(false, T.boolean));
    expect(constantValue(e)).toBe(false);
    expect(constantValue(call('or', T.boolean, col(0, T.boolean), lit(true, T.boolean)))).toBe(true);
    expect(constantValue(call('coalesce', T.int, lit(null, T.null), lit(4, T.int), col(0, T.int)))).toBe(4);
  });

  it('NULL literal arguments make strict functions NULL constants', () => {
    expect(constantValue(call('upper', T.varchar, col(0, T.varchar)))).toBeUndefined();
    expect(constantValue(call('add', T.int, col(0, T.int), lit(null, T.null)))).toBeNull();
    expect(constantValue(call('like', T.boolean, col(0, T.varchar), lit(null, T.null)))).toBeNull();
  });
});

describe('struct field access', () => {
  const inner: Field[] = [{ name: 'x', type: T.double, nullable: true }];
  const fields: Field[] = [
    { name: 'id', type: T.int, nullable: true },
    { name: 'name', type: T.varchar, nullable: true },
    { name: 'pos', type: { kind: 'struct', fields: inner }, nullable: true },
  ];
  const st: SqlType = { kind: 'struct', fields };
  const s = struct(fields, [i32([1, 2, null]), str(['a', 'b', 'c']), struct(inner, [f64([1.5, 2.5, 3.5])])], [false, true, false]);

  it('reads a child by name, NULL where the struct is NULL', () => {
    expect(evaluate({ kind: 'field', input: col(0, st), field: 'id', type: T.int }, [s])).toEqual([1, null, null]);
    expect(evaluate({ kind: 'field', input: col(0, st), field: 'name', type: T.varchar }, [s])).toEqual(['a', null, 'c']);
    expect(evaluate({ kind: 'field', input: col(0, st), field: 'NAME', type: T.varchar }, [s])).toEqual(['a', null, 'c']);
  });

  it('reads nested fields and composes with other functions', () => {
    const pos: Expr = { kind: 'field', input: col(0, st), field: 'pos', type: { kind: 'struct', fields: inner } };
    const x: Expr = { kind: 'field', input: pos, field: 'x', type: T.double };
    expect(evaluate(x, [s])).toEqual([1.5, null, 3.5]);
    expect(evaluate(call('mul', T.double, x, lit(2, T.int)), [s])).toEqual([3, null, 7]);
  });

  it('passes the child vector through when the struct has no nulls', () => {
    const child = i32([7, 8]);
    const s2 = struct(fields.slice(0, 1), [child]);
    expect(evalVector({ kind: 'field', input: col(0, { kind: 'struct', fields: fields.slice(0, 1) }), field: 'id', type: T.int }, [s2])).toBe(child);
  });

  it('rejects unknown fields at compile time', () => {
    expect(() => compileExpr({ kind: 'field', input: col(0, st), field: 'nope', type: T.int })).toThrow(/no field nope/);
  });
});

describe('compile errors', () => {
  it('wrong arity and unknown units are compile-time errors', () => {
    expect(() => compileExpr(call('add', T.int, col(0, T.int)))).toThrow(/2 arguments/);
    expect(() => compileExpr(call('extract', T.int, lit('century', T.varchar), col(0, T.timestamp)))).toThrow(/unknown field/);
  });
});
