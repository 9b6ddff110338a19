/**
 * `x IN (v1, v2, …)` and `NOT IN`, with SQL NULL semantics: NULL when x is NULL; TRUE on a match;
 * otherwise NULL if the list holds a NULL, else FALSE. NOT IN negates TRUE/FALSE and keeps NULL (so
 * `x NOT IN (1, NULL)` is never TRUE).
 *
 * Constant list items (the usual case) are put in a Set once, at compile time; non-constant items
 * are compared row by row.
 */
import type { Vector } from '../vector.ts';
import { compactValidity } from '../kernels/validity.ts';
import { isConst, node, physical, type Compiled, type CompiledExpr, type FnCompiler } from './compiled.ts';
import { unifyOperands } from './compare.ts';
import { boolVector, numValues, strValues } from './vec.ts';

/** Row values as the Set holds them: numbers for numeric/boolean vectors, strings for varchar. */
function rowValues(v: Vector): ArrayLike<number | string> {
  return v.kind === 'str' ? strValues(v) : numValues(v);
}

function inList(negated: boolean): FnCompiler {
  return (args, type) => {
    if (args.length < 1) throw new Error('in needs a value');
    const x = args[0]!;
    const set = new Set<number | string>();
    let listHasNull = false;
    const dynamic: CompiledExpr[] = [];
    let xCast: Compiled = x;
    for (const item of args.slice(1)) {
      // Items of another domain (a string literal for a timestamp) are cast to x's type.
      const [ux, ui] = unifyOperands(x, item);
      if (ux !== x) xCast = ux;
      if (isConst(ui)) {
        if (ui.constant.value === null) listHasNull = true;
        else set.add(physical(ui.constant.value));
      } else dynamic.push(ui.eval);
    }
    const value = xCast;
    const hit = negated ? 0 : 1; const miss = negated ? 1 : 0;
    return node(type, (cols, n) => {
      const v = value.eval(cols, n);
      const vals = rowValues(v);
      const out = new Uint8Array(n);
      const valid = v.valid === null ? new Uint8Array(n).fill(1) : v.valid.slice(0, n);
      // found: 1 = matched, 0 = no match so far; unknown: a NULL item was compared with this row.
      const found = new Uint8Array(n);
      for (let i = 0; i < n; i++) if (set.has(vals[i]!)) found[i] = 1;
      const unknown = new Uint8Array(n);
      for (const d of dynamic) {
        const item = d(cols, n);
        const iv = rowValues(item); const ivalid = item.valid;
        for (let i = 0; i < n; i++) {
          if (found[i]) continue;
          if (ivalid !== null && ivalid[i] === 0) unknown[i] = 1;
          else if (iv[i] === vals[i]) found[i] = 1;
        }
      }
      for (let i = 0; i < n; i++) {
        if (found[i]) out[i] = hit;
        else if (listHasNull || unknown[i]) valid[i] = 0;
        else out[i] = miss;
      }
      return boolVector(type, out, compactValidity(valid, n));
    });
  };
}

/** Compilers for IN and NOT IN. */
export const inFns = {
  in: inList(false),
  not_in: inList(true),
} satisfies Record<string, FnCompiler>;

