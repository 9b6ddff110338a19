/**
 * Boolean logic with SQL three-valued semantics (AND, OR, NOT) and the NULL tests.
 *
 * AND is FALSE if either side is FALSE (even if the other is NULL), TRUE if both are TRUE, else NULL;
 * OR dually. Computed branch-free per row from "is definitely true" / "is definitely false" bits.
 */
import type { SqlType } from '../../planner/types.ts';
import type { Vector } from '../vector.ts';
import { constant, isConst, node, type Compiled, type FnCompiler } from './compiled.ts';
import { boolValues, boolVector } from './vec.ts';
import { coerce } from './cast.ts';

/** Three-valued AND of two boolean vectors. */
export function and3(a: Vector, b: Vector, type: SqlType, n: number): Vector {
  const av = boolValues(a); const bv = boolValues(b);
  const out = new Uint8Array(n);
  const va = a.valid; const vb = b.valid;
  if (va === null && vb === null) {
    for (let i = 0; i < n; i++) out[i] = av[i]! & bv[i]!;
    return boolVector(type, out, null);
  }
  const valid = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const aValid = va === null ? 1 : va[i]!; const bValid = vb === null ? 1 : vb[i]!;
    const aTrue = aValid & av[i]!; const bTrue = bValid & bv[i]!;
    const aFalse = aValid & (av[i]! ^ 1); const bFalse = bValid & (bv[i]! ^ 1);
    const t = aTrue & bTrue;
    out[i] = t;
    valid[i] = t | aFalse | bFalse;
  }
  return boolVector(type, out, valid);
}

/** Three-valued OR of two boolean vectors. */
export function or3(a: Vector, b: Vector, type: SqlType, n: number): Vector {
  const av = boolValues(a); const bv = boolValues(b);
  const out = new Uint8Array(n);
  const va = a.valid; const vb = b.valid;
  if (va === null && vb === null) {
    for (let i = 0; i < n; i++) out[i] = av[i]! | bv[i]!;
    return boolVector(type, out, null);
  }
  const valid = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const aValid = va === null ? 1 : va[i]!; const bValid = vb === null ? 1 : vb[i]!;
    const aTrue = aValid & av[i]!; const bTrue = bValid & bv[i]!;
    const aFalse = aValid & (av[i]! ^ 1); const bFalse = bValid & (bv[i]! ^ 1);
    const t = aTrue | bTrue;
    out[i] = t;
    valid[i] = t | (aFalse & bFalse);
  }
  return boolVector(type, out, valid);
}

/** NOT: flips values, NULL stays NULL (validity shared). */
export function not3(a: Vector, type: SqlType, n: number): Vector {
  const av = boolValues(a);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = av[i]! ^ 1;
  return boolVector(type, out, a.valid);
}

/** IS NULL (or IS NOT NULL when `negated`): never NULL itself. Works on every vector kind. */
export function isNullKernel(a: Vector, negated: boolean, type: SqlType, n: number): Vector {
  const out = new Uint8Array(n);
  const v = a.valid;
  if (v === null) { if (negated) out.fill(1); }
  else if (negated) for (let i = 0; i < n; i++) out[i] = v[i]!;
  else for (let i = 0; i < n; i++) out[i] = v[i]! ^ 1;
  return boolVector(type, out, null);
}

/**
 * AND/OR over any number of arguments, simplified at compile time: a constant that decides the
 * result (FALSE for AND, TRUE for OR) makes the whole call constant, and the neutral constant
 * (TRUE for AND, FALSE for OR) is dropped. A constant NULL is kept: it still matters.
 */
function junction(which: 'and' | 'or'): FnCompiler {
  const decisive = which === 'or';
  const kernel = which === 'and' ? and3 : or3;
  return (args, type) => {
    if (args.length === 0) throw new Error(`${which} needs arguments`);
    const kept: Compiled[] = [];
    for (const arg of args) {
      const a = coerce(arg, type);
      if (isConst(a) && a.constant.value !== null) {
        if (Boolean(a.constant.value) === decisive) return constant(type, decisive);
        continue;
      }
      kept.push(a);
    }
    if (kept.length === 0) return constant(type, !decisive);
    if (kept.length === 1 && !isConst(kept[0]!)) {
      const only = kept[0]!;
      return node(type, (cols, n) => only.eval(cols, n));
    }
    return node(type, (cols, n) => {
      let acc = kept[0]!.eval(cols, n);
      for (let k = 1; k < kept.length; k++) acc = kernel(acc, kept[k]!.eval(cols, n), type, n);
      return acc;
    });
  };
}

const not: FnCompiler = (args, type) => {
  if (args.length !== 1) throw new Error(`not takes 1 argument, got ${args.length}`);
  const a = coerce(args[0]!, type);
  return node(type, (cols, n) => not3(a.eval(cols, n), type, n));
};

function nullTest(negated: boolean): FnCompiler {
  return (args, type) => {
    if (args.length !== 1) throw new Error(`is_null takes 1 argument, got ${args.length}`);
    const a = args[0]!;
    return node(type, (cols, n) => isNullKernel(a.eval(cols, n), negated, type, n));
  };
}

/** Compilers for the logical functions. */
export const logicFns = {
  and: junction('and'),
  or: junction('or'),
  not,
  is_null: nullTest(false),
  is_not_null: nullTest(true),
} satisfies Record<string, FnCompiler>;
