/**
 * Test helpers: build vectors from JS arrays (null = NULL) and bound expressions by hand, and read
 * results back as JS arrays.
 */
import { T, type Expr, type Field, type ScalarFn, type SqlType } from '../../../planner/types.ts';
import { valueAt, type Vector } from '../../../executor/vector.ts';
import { compileExpr } from '../../../executor/expr/compile.ts';

function validity(values: readonly unknown[]): Uint8Array | null {
  if (!values.some((v) => v === null)) return null;
  return Uint8Array.from(values, (v) => (v === null ? 0 : 1));
}

/** A Float64 vector (BIGINT, DOUBLE, TIMESTAMP, INTERVAL). */
export function f64(values: readonly (number | null)[], type: SqlType = T.double): Vector {
  return { kind: 'f64', type, length: values.length, values: Float64Array.from(values, (v) => v ?? 0), valid: validity(values) };
}

/** A BIGINT vector. */
export function i64(values: readonly (number | null)[]): Vector {
  return f64(values, T.bigint);
}

/** An INT vector. */
export function i32(values: readonly (number | null)[]): Vector {
  return { kind: 'i32', type: T.int, length: values.length, values: Int32Array.from(values, (v) => v ?? 0), valid: validity(values) };
}

export function bool(values: readonly (boolean | null)[]): Vector {
  return { kind: 'bool', type: T.boolean, length: values.length, values: Uint8Array.from(values, (v) => (v ? 1 : 0)), valid: validity(values) };
}

export function str(values: readonly (string | null)[]): Vector {
  return { kind: 'str', type: T.varchar, length: values.length, values: values.map((v) => v ?? ''), valid: validity(values) };
}

/** A TIMESTAMP vector from epoch ms or ISO strings. */
export function ts(values: readonly (number | string | null)[]): Vector {
  return f64(values.map((v) => (typeof v === 'string' ? Date.parse(v) : v)), T.timestamp);
}

/** A struct vector from its children (and optional struct-level nulls). */
export function struct(fields: readonly Field[], children: readonly Vector[], nulls?: readonly boolean[]): Vector {
  const type: SqlType = { kind: 'struct', fields };
  const length = children[0]?.length ?? 0;
  const valid = nulls && nulls.some(Boolean) ? Uint8Array.from(nulls, (isNull) => (isNull ? 0 : 1)) : null;
  return { kind: 'struct', type, length, children, valid };
}

export function col(index: number, type: SqlType, name = `c${index}`): Expr {
  return { kind: 'column', index, name, type };
}

export function lit(value: number | string | boolean | null, type: SqlType): Expr {
  return { kind: 'literal', value, type };
}

export function call(fn: ScalarFn, type: SqlType, ...args: Expr[]): Expr {
  return { kind: 'call', fn, args, type };
}

export function cast(input: Expr, type: SqlType): Expr {
  return { kind: 'cast', input, type };
}

/** The raw values array of a non-struct vector (to check its typed-array class). */
export function valuesOf(v: Vector): Float64Array | Int32Array | Uint8Array | readonly string[] {
  if (v.kind === 'struct') throw new Error('a struct vector has children, not values');
  return v.values;
}

/** A vector's rows as JS values (null for NULL). */
export function rows(v: Vector): unknown[] {
  return Array.from({ length: v.length }, (_, i) => valueAt(v, i));
}

/** Compiles and evaluates an expression over columns, returning the result vector. */
export function evalVector(expr: Expr, cols: readonly Vector[], length = cols[0]?.length ?? 1): Vector {
  return compileExpr(expr)(cols, length);
}

/** Compiles and evaluates an expression over columns, returning its rows as JS values. */
export function evaluate(expr: Expr, cols: readonly Vector[], length = cols[0]?.length ?? 1): unknown[] {
  return rows(evalVector(expr, cols, length));
}

/** Evaluates a column-free expression on a one-row batch and returns its single value. */
export function scalar(expr: Expr): unknown {
  return evaluate(expr, [], 1)[0];
}

export { T };
