/**
 * Numeric functions: abs, round(x[, digits]), floor, ceil. Results go into the array of the bound
 * result type (INT stays Int32Array), reading INT or f64 inputs alike.
 */
import { assertNever } from '../../planner/types.ts';
import type { Vector } from '../vector.ts';
import { andValidity } from '../kernels/validity.ts';
import { node, operand, resolve, type Compiled, type FnCompiler } from './compiled.ts';
import { newNumArray, numValues, numVector, retype } from './vec.ts';

/** Rounds half away from zero (2.5 → 3, -2.5 → -3), unlike Math.round's half-up. */
export function roundHalfAway(x: number): number {
  const r = Math.round(Math.abs(x));
  return x < 0 ? -r : r;
}

/**
 * Rounds to `digits` decimal places (negative digits round to tens, hundreds, …), half away from
 * zero. Scaling by 10^digits can land a decimal tie a few ULPs short of .5 (1.005 * 100 =
 * 100.49999999999999), so values within a few ULPs of a tie count as the tie, which is the answer a
 * user reading the decimal literal expects.
 */
export function roundDigits(x: number, digits: number): number {
  const d = Math.trunc(digits);
  if (d === 0 || !Number.isFinite(x)) return d === 0 ? roundHalfAway(x) : x;
  const scale = 10 ** Math.abs(d);
  const m = d > 0 ? Math.abs(x) * scale : Math.abs(x) / scale;
  // Beyond 2^52 every double is an integer already: nothing to round at this scale.
  if (!Number.isFinite(m) || m >= 4503599627370496) return x;
  const f = Math.floor(m);
  const r = Math.abs(m - f - 0.5) <= 4 * Number.EPSILON * m ? f + 1 : Math.round(m);
  const y = d > 0 ? r / scale : r * scale;
  return x < 0 ? -y : y;
}

type UnaryOp = 'abs' | 'floor' | 'ceil' | 'round';

function unaryLoop(op: UnaryOp, src: Float64Array | Int32Array | Uint8Array, out: Float64Array | Int32Array, n: number): void {
  switch (op) {
    case 'abs': for (let i = 0; i < n; i++) out[i] = Math.abs(src[i]!); return;
    case 'floor': for (let i = 0; i < n; i++) out[i] = Math.floor(src[i]!); return;
    case 'ceil': for (let i = 0; i < n; i++) out[i] = Math.ceil(src[i]!); return;
    case 'round': for (let i = 0; i < n; i++) out[i] = roundHalfAway(src[i]!); return;
    default: assertNever(op, 'numeric function');
  }
}

function unary(op: UnaryOp): FnCompiler {
  return (args, type) => {
    if (args.length !== 1) throw new Error(`${op} takes 1 argument, got ${args.length}`);
    const a = args[0]!;
    return node(type, (cols, n) => {
      const v = a.eval(cols, n);
      // floor/ceil/round of an INT is the INT itself.
      if (op !== 'abs' && v.kind === 'i32' && v.type.kind === type.kind) return retype(v, type);
      const out = newNumArray(type, n);
      unaryLoop(op, numValues(v), out, n);
      // ceil(-0.5) is IEEE -0: fine for a DOUBLE, but a BIGINT result must be the integer 0.
      if (type.kind === 'bigint') for (let i = 0; i < n; i++) out[i]! += 0;
      return numVector(type, out, v.valid);
    });
  };
}

const round: FnCompiler = (args, type) => {
  if (args.length === 1) return unary('round')(args, type);
  if (args.length !== 2) throw new Error(`round takes 1 or 2 arguments, got ${args.length}`);
  const a: Compiled = args[0]!;
  const digitsOp = operand(args[1]!);
  return node(type, (cols, n) => {
    const v = a.eval(cols, n); const src = numValues(v);
    const d = resolve(digitsOp, cols, n);
    const out = newNumArray(type, n);
    if (typeof d !== 'object') {
      const digits = Number(d);
      for (let i = 0; i < n; i++) out[i] = roundDigits(src[i]!, digits);
      return numVector(type, out, v.valid);
    }
    const dv = numValues(d);
    for (let i = 0; i < n; i++) out[i] = roundDigits(src[i]!, dv[i]!);
    return numVector(type, out, andValidity(v.valid, (d as Vector).valid, n));
  });
};

/** Compilers for the numeric functions. */
export const mathFns = {
  abs: unary('abs'),
  round,
  floor: unary('floor'),
  ceil: unary('ceil'),
} satisfies Record<string, FnCompiler>;

