/**
 * Arithmetic: add, sub, mul, div, mod, neg over INT (Int32Array), BIGINT/DOUBLE/TIMESTAMP/INTERVAL
 * (Float64Array). Inputs may mix i32 and f64 freely (reading an Int32Array element yields a double);
 * the output array is chosen from the bound result type, so INT results wrap like Java ints (the
 * Int32Array store does ToInt32) and f64 results are exact within ±2^53.
 *
 * Each kernel is one tight loop per (operator, shape) with the operator switch outside the loop;
 * constants take scalar variants instead of being materialized as columns.
 */
import type { SqlType } from '../../planner/types.ts';
import { assertNever, typeToString } from '../../planner/types.ts';
import { vectorKindOf, type Vector } from '../vector.ts';
import { andValidity, writableValidity } from '../kernels/validity.ts';
import { constant, isConst, node, operand, resolve, type Compiled, type CompiledExpr, type FnCompiler } from './compiled.ts';
import { newNumArray, numValues, numVector, type NumArray, type NumLike } from './vec.ts';

/**
 * Physical operators. `div` is IEEE division, which also truncates toward zero when stored into an
 * Int32Array; `imul` multiplies modulo 2^32 (a double product of two large ints loses the low bits
 * before ToInt32 could wrap it). The `l…` operators are for BIGINT results held in f64: `ldiv`
 * truncates, and all three add 0 to turn IEEE -0 (0 * -5, -5 % 5) into the integer 0, which
 * otherwise prints, hashes and compares by bytes differently.
 */
export type ArithOp = 'add' | 'sub' | 'mul' | 'imul' | 'lmul' | 'div' | 'ldiv' | 'mod' | 'lmod';

function loopVV(op: ArithOp, a: NumLike, b: NumLike, out: NumArray, n: number): void {
  switch (op) {
    case 'add': for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!; return;
    case 'sub': for (let i = 0; i < n; i++) out[i] = a[i]! - b[i]!; return;
    case 'mul': for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]!; return;
    case 'imul': for (let i = 0; i < n; i++) out[i] = Math.imul(a[i]!, b[i]!); return;
    case 'lmul': for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]! + 0; return;
    case 'div': for (let i = 0; i < n; i++) out[i] = a[i]! / b[i]!; return;
    case 'ldiv': for (let i = 0; i < n; i++) out[i] = Math.trunc(a[i]! / b[i]!) + 0; return;
    case 'mod': for (let i = 0; i < n; i++) out[i] = a[i]! % b[i]!; return;
    case 'lmod': for (let i = 0; i < n; i++) out[i] = (a[i]! % b[i]!) + 0; return;
    default: assertNever(op, 'arithmetic operator');
  }
}

function loopVS(op: ArithOp, a: NumLike, s: number, out: NumArray, n: number): void {
  switch (op) {
    case 'add': for (let i = 0; i < n; i++) out[i] = a[i]! + s; return;
    case 'sub': for (let i = 0; i < n; i++) out[i] = a[i]! - s; return;
    case 'mul': for (let i = 0; i < n; i++) out[i] = a[i]! * s; return;
    case 'imul': for (let i = 0; i < n; i++) out[i] = Math.imul(a[i]!, s); return;
    case 'lmul': for (let i = 0; i < n; i++) out[i] = a[i]! * s + 0; return;
    case 'div': for (let i = 0; i < n; i++) out[i] = a[i]! / s; return;
    case 'ldiv': for (let i = 0; i < n; i++) out[i] = Math.trunc(a[i]! / s) + 0; return;
    case 'mod': for (let i = 0; i < n; i++) out[i] = a[i]! % s; return;
    case 'lmod': for (let i = 0; i < n; i++) out[i] = (a[i]! % s) + 0; return;
    default: assertNever(op, 'arithmetic operator');
  }
}

function loopSV(op: ArithOp, s: number, b: NumLike, out: NumArray, n: number): void {
  switch (op) {
    case 'add': for (let i = 0; i < n; i++) out[i] = s + b[i]!; return;
    case 'sub': for (let i = 0; i < n; i++) out[i] = s - b[i]!; return;
    case 'mul': for (let i = 0; i < n; i++) out[i] = s * b[i]!; return;
    case 'imul': for (let i = 0; i < n; i++) out[i] = Math.imul(s, b[i]!); return;
    case 'lmul': for (let i = 0; i < n; i++) out[i] = s * b[i]! + 0; return;
    case 'div': for (let i = 0; i < n; i++) out[i] = s / b[i]!; return;
    case 'ldiv': for (let i = 0; i < n; i++) out[i] = Math.trunc(s / b[i]!) + 0; return;
    case 'mod': for (let i = 0; i < n; i++) out[i] = s % b[i]!; return;
    case 'lmod': for (let i = 0; i < n; i++) out[i] = (s % b[i]!) + 0; return;
    default: assertNever(op, 'arithmetic operator');
  }
}

/** Marks rows whose divisor is zero as NULL (and zeroes their value, so no Infinity/NaN leaks out). */
function nullOnZeroDivisor(divisor: NumLike, out: NumArray, valid: Uint8Array | null, n: number): Uint8Array | null {
  let i = 0;
  while (i < n && divisor[i] !== 0) i++;
  if (i === n) return valid;
  const v = writableValidity(valid, n);
  for (; i < n; i++) if (divisor[i] === 0) { v[i] = 0; out[i] = 0; }
  return v;
}

const isDivision = (op: ArithOp): boolean => op === 'div' || op === 'ldiv' || op === 'mod' || op === 'lmod';

/**
 * Binary arithmetic kernel over vectors or physical scalars (at least one side a vector), producing
 * a vector of `type`. Division and modulo by zero give NULL.
 */
export function arithKernel(op: ArithOp, a: Vector | number, b: Vector | number, type: SqlType, n: number): Vector {
  const out = newNumArray(type, n);
  if (typeof a === 'number') {
    if (typeof b === 'number') throw new Error('arithKernel needs at least one vector operand');
    const bv = numValues(b);
    loopSV(op, a, bv, out, n);
    const valid = isDivision(op) ? nullOnZeroDivisor(bv, out, b.valid, n) : b.valid;
    return numVector(type, out, valid);
  }
  const av = numValues(a);
  if (typeof b === 'number') {
    // A constant zero divisor is folded to NULL at compile time; here s is never 0 for divisions.
    loopVS(op, av, b, out, n);
    return numVector(type, out, a.valid);
  }
  const bv = numValues(b);
  loopVV(op, av, bv, out, n);
  let valid = andValidity(a.valid, b.valid, n);
  if (isDivision(op)) valid = nullOnZeroDivisor(bv, out, valid, n);
  return numVector(type, out, valid);
}

/** Negation kernel. BIGINT computes 0 - x so that negating 0 is 0, not IEEE -0. */
export function negKernel(a: Vector, type: SqlType, n: number): Vector {
  const av = numValues(a);
  const out = newNumArray(type, n);
  if (type.kind === 'bigint') for (let i = 0; i < n; i++) out[i] = 0 - av[i]!;
  else for (let i = 0; i < n; i++) out[i] = -av[i]!;
  return numVector(type, out, a.valid);
}

/**
 * The physical operator for a SQL operator given the bound result type: INT and BIGINT divide with
 * truncation toward zero, DOUBLE (and TIMESTAMP/INTERVAL) follow IEEE.
 */
export function physicalOp(fn: 'add' | 'sub' | 'mul' | 'div' | 'mod', type: SqlType): ArithOp {
  const kind = vectorKindOf(type);
  if (kind !== 'i32' && kind !== 'f64') throw new Error(`arithmetic result must be numeric, got ${typeToString(type)}`);
  switch (fn) {
    case 'add': case 'sub': return fn;
    case 'mul': return kind === 'i32' ? 'imul' : type.kind === 'bigint' ? 'lmul' : 'mul';
    case 'div': return type.kind === 'bigint' ? 'ldiv' : 'div';
    case 'mod': return type.kind === 'bigint' ? 'lmod' : 'mod';
    default: return assertNever(fn, 'arithmetic function');
  }
}

function binary(fn: 'add' | 'sub' | 'mul' | 'div' | 'mod'): FnCompiler {
  return (args, type) => {
    if (args.length !== 2) throw new Error(`${fn} takes 2 arguments, got ${args.length}`);
    const op = physicalOp(fn, type);
    const [a, b] = args as [Compiled, Compiled];
    // x / 0 and x % 0 are NULL for every row: decide it once.
    if (isDivision(op) && isConst(b) && Number(b.constant.value) === 0) return constant(type, null);
    // When both sides are constant the node is only evaluated once, for folding: keep them vectors.
    const both = isConst(a) && isConst(b);
    const ao = both ? a.eval : numericOperand(a);
    const bo = both ? b.eval : numericOperand(b);
    return node(type, (cols, n) =>
      arithKernel(op, resolve(ao, cols, n) as Vector | number, resolve(bo, cols, n) as Vector | number, type, n));
  };
}

/** A numeric operand: constants as plain numbers, anything else as its evaluator. */
function numericOperand(c: Compiled): number | CompiledExpr {
  const o = operand(c);
  return typeof o === 'string' ? Number(o) : o;
}

const neg: FnCompiler = (args, type) => {
  if (args.length !== 1) throw new Error(`neg takes 1 argument, got ${args.length}`);
  const a = args[0]!;
  return node(type, (cols, n) => negKernel(a.eval(cols, n), type, n));
};

/** Compilers for the arithmetic functions. */
export const arithFns = {
  add: binary('add'),
  sub: binary('sub'),
  mul: binary('mul'),
  div: binary('div'),
  mod: binary('mod'),
  neg,
} satisfies Record<string, FnCompiler>;
