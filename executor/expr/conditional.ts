/**
 * Conditional expressions: searched CASE, coalesce, nullif.
 *
 * All branches are evaluated over the whole batch (no kernel throws, so evaluating a branch for rows
 * that will not use it is only wasted work, never a wrong answer), then each row picks its branch
 * via a per-row choice index and {@link mergeByChoice}.
 */
import { assertNever, typeToString, type SqlType } from '../../planner/types.ts';
import { vectorKindOf, type Vector } from '../vector.ts';
import { compactValidity } from '../kernels/validity.ts';
import { constant, isConst, node, type Compiled, type FnCompiler } from './compiled.ts';
import { coerce } from './cast.ts';
import { compareKernel, unifyOperands } from './compare.ts';
import { boolValues, retype, withValidity } from './vec.ts';

/**
 * Builds a vector whose row i is row i of `sources[choice[i]]` (every choice must index a source;
 * callers route NULL rows to an all-NULL source). One pass, reading through the choice index
 * instead of branching on it per source: branch outcomes follow the data and mispredict badly.
 * Every source must have the physical kind of `type`.
 */
export function mergeByChoice(type: SqlType, n: number, choice: Int32Array, sources: readonly Vector[]): Vector {
  const kind = vectorKindOf(type);
  for (const s of sources) {
    if (s.kind !== kind) throw new Error(`branch of kind ${s.kind} where ${typeToString(type)} is expected`);
  }
  let valid: Uint8Array | null = null;
  if (sources.some((s) => s.valid !== null)) {
    let ones: Uint8Array | null = null;
    const valids = sources.map((s) => s.valid ?? (ones ??= new Uint8Array(n).fill(1)));
    valid = new Uint8Array(n);
    for (let i = 0; i < n; i++) { const k = choice[i]!; valid[i] = valids[k]![i]!; }
    valid = compactValidity(valid, n);
  }
  switch (kind) {
    case 'f64': {
      const vals = sources.map((s) => (s as { values: Float64Array }).values);
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = vals[choice[i]!]![i]!;
      return { kind, type, length: n, values: out, valid };
    }
    case 'i32': {
      const vals = sources.map((s) => (s as { values: Int32Array }).values);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = vals[choice[i]!]![i]!;
      return { kind, type, length: n, values: out, valid };
    }
    case 'bool': {
      const vals = sources.map((s) => (s as { values: Uint8Array }).values);
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = vals[choice[i]!]![i]!;
      return { kind, type, length: n, values: out, valid };
    }
    case 'str': {
      const vals = sources.map((s) => (s as { values: readonly string[] }).values);
      const out = new Array<string>(n);
      for (let i = 0; i < n; i++) out[i] = vals[choice[i]!]![i]!;
      return { kind, type, length: n, values: out, valid };
    }
    case 'struct': {
      const fields = type.kind === 'struct' ? type.fields : [];
      const children = fields.map((f, j) =>
        mergeByChoice(f.type, n, choice, sources.map((s) => (s as { children: readonly Vector[] }).children[j]!)));
      return { kind, type, length: n, children, valid };
    }
    default: return assertNever(kind, 'vector kind');
  }
}

/**
 * Searched CASE. Constant conditions are resolved at compile time: a FALSE or NULL one drops its
 * branch, a TRUE one ends the CASE with its value. A NULL condition counts as false; without ELSE
 * the result is NULL.
 */
export function compileCase(whens: readonly { when: Compiled; then: Compiled }[], otherwise: Compiled | null, type: SqlType): Compiled {
  const branches: { when: Compiled; then: Compiled }[] = [];
  let elseBranch: Compiled | null = otherwise === null ? null : coerce(otherwise, type);
  for (const { when, then } of whens) {
    if (isConst(when)) {
      if (when.constant.value === true) { elseBranch = coerce(then, type); break; }
      continue;
    }
    branches.push({ when: coerce(when, { kind: 'boolean' }), then: coerce(then, type) });
  }
  if (branches.length === 0) return elseBranch === null ? constant(type, null) : retypeNode(elseBranch, type);
  // Source 0 is the ELSE (or NULL when there is none); branch k is source k + 1.
  const fallback = elseBranch ?? constant(type, null);
  const sources = [fallback, ...branches.map((b) => b.then)];
  return node(type, (cols, n) => {
    const choice = new Int32Array(n);
    let open = n;
    for (let k = 0; k < branches.length && open > 0; k++) {
      const c = branches[k]!.when.eval(cols, n);
      const cv = boolValues(c); const cvalid = c.valid; const id = k + 1;
      // Branch-free: a row takes branch k when still undecided and its condition is TRUE (not NULL).
      if (cvalid === null) {
        for (let i = 0; i < n; i++) { const take = (choice[i] === 0 ? 1 : 0) & cv[i]!; choice[i]! += take * id; open -= take; }
      } else {
        for (let i = 0; i < n; i++) { const take = (choice[i] === 0 ? 1 : 0) & cv[i]! & cvalid[i]!; choice[i]! += take * id; open -= take; }
      }
    }
    return mergeByChoice(type, n, choice, evalUsed(sources, choice, cols, n));
  });
}

/**
 * Evaluates the sources some row chose; the others (a branch no row took) are not evaluated and
 * get an all-NULL stand-in, which no row reads.
 */
function evalUsed(sources: readonly Compiled[], choice: Int32Array, cols: readonly Vector[], n: number): Vector[] {
  const used = new Uint8Array(sources.length);
  for (let i = 0; i < n; i++) used[choice[i]!] = 1;
  let stand: Vector | null = null;
  return sources.map((s, k) => (used[k] ? s.eval(cols, n) : (stand ??= constantNull(s.type, n))));
}

function constantNull(type: SqlType, n: number): Vector {
  return constant(type, null).eval([], n);
}

function retypeNode(c: Compiled, type: SqlType): Compiled {
  if (isConst(c)) return constant(type, c.constant.value);
  return node(type, (cols, n) => retype(c.eval(cols, n), type));
}

/** coalesce(a, b, …): the first non-NULL argument; later arguments are evaluated only while rows remain NULL. */
const coalesce: FnCompiler = (args, type) => {
  if (args.length === 0) throw new Error('coalesce needs arguments');
  const kept: Compiled[] = [];
  for (const a of args) {
    if (isConst(a) && a.constant.value === null) continue;
    kept.push(coerce(a, type));
    if (isConst(a)) break; // a non-NULL constant: later arguments can never be reached
  }
  if (kept.length === 0) return constant(type, null);
  if (kept.length === 1) return retypeNode(kept[0]!, type);
  return node(type, (cols, n) => {
    const first = kept[0]!.eval(cols, n);
    if (first.valid === null) return retype(first, type);
    // Source 0 is all NULL (rows no argument covers); argument k is source k + 1.
    const sources: Vector[] = [constantNull(type, n), first];
    const choice = new Int32Array(n);
    let open = 0;
    const fv = first.valid;
    for (let i = 0; i < n; i++) { choice[i] = fv[i]!; open += fv[i]! ^ 1; }
    for (let k = 1; k < kept.length && open > 0; k++) {
      const v = kept[k]!.eval(cols, n);
      sources.push(v);
      const id = k + 1;
      if (v.valid === null) {
        for (let i = 0; i < n; i++) if (choice[i] === 0) choice[i] = id;
        open = 0;
      } else {
        const vv = v.valid;
        for (let i = 0; i < n; i++) { const take = (choice[i] === 0 ? 1 : 0) & vv[i]!; choice[i]! += take * id; open -= take; }
      }
    }
    return mergeByChoice(type, n, choice, sources);
  });
};

/** nullif(a, b): NULL where a = b, otherwise a (so a NULL b leaves a unchanged). */
const nullif: FnCompiler = (args, type) => {
  if (args.length !== 2) throw new Error(`nullif takes 2 arguments, got ${args.length}`);
  const a = coerce(args[0]!, type);
  const [ua, ub] = unifyOperands(a, args[1]!);
  if (isConst(ub) && ub.constant.value === null) return a;
  return node(type, (cols, n) => {
    const av = a.eval(cols, n);
    const eq = compareKernel('eq', ua === a ? av : ua.eval(cols, n), ub.eval(cols, n), { kind: 'boolean' }, n);
    const ev = boolValues(eq); const evalid = eq.valid;
    let valid: Uint8Array | null = null;
    for (let i = 0; i < n; i++) {
      if (ev[i] === 1 && (evalid === null || evalid[i] === 1)) {
        valid ??= av.valid === null ? new Uint8Array(n).fill(1) : av.valid.slice(0, n);
        valid[i] = 0;
      }
    }
    return valid === null ? retype(av, type) : retype(withValidity(av, valid), type);
  });
};

/** Compilers for coalesce and nullif (CASE is an expression kind of its own, see {@link compileCase}). */
export const conditionalFns = { coalesce, nullif } satisfies Record<string, FnCompiler>;
