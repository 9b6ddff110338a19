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
 * Builds a vector whose row i is row i of `sources[choice[i]]`, or NULL where `choice[i]` is -1.
 * Every source must have the physical kind of `type`.
 */
export function mergeByChoice(type: SqlType, n: number, choice: Int32Array, sources: readonly Vector[]): Vector {
  const valid = new Uint8Array(n);
  for (let k = 0; k < sources.length; k++) {
    const sv = sources[k]!.valid;
    if (sv === null) for (let i = 0; i < n; i++) { if (choice[i] === k) valid[i] = 1; }
    else for (let i = 0; i < n; i++) { if (choice[i] === k) valid[i] = sv[i]!; }
  }
  const v = compactValidity(valid, n);
  const kind = vectorKindOf(type);
  for (const s of sources) {
    if (s.kind !== kind) throw new Error(`CASE branch of kind ${s.kind} where ${typeToString(type)} is expected`);
  }
  switch (kind) {
    case 'f64': case 'i32': case 'bool': {
      const out = kind === 'f64' ? new Float64Array(n) : kind === 'i32' ? new Int32Array(n) : new Uint8Array(n);
      for (let k = 0; k < sources.length; k++) {
        const src = (sources[k] as { values: Float64Array | Int32Array | Uint8Array }).values;
        for (let i = 0; i < n; i++) if (choice[i] === k) out[i] = src[i]!;
      }
      return { kind, type, length: n, values: out, valid: v } as Vector;
    }
    case 'str': {
      const out = new Array<string>(n).fill('');
      for (let k = 0; k < sources.length; k++) {
        const src = (sources[k] as { values: readonly string[] }).values;
        for (let i = 0; i < n; i++) if (choice[i] === k) out[i] = src[i]!;
      }
      return { kind, type, length: n, values: out, valid: v };
    }
    case 'struct': {
      const fields = type.kind === 'struct' ? type.fields : [];
      const children = fields.map((f, j) =>
        mergeByChoice(f.type, n, choice, sources.map((s) => (s as { children: readonly Vector[] }).children[j]!)));
      return { kind, type, length: n, children, valid: v };
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
  const sources = elseBranch === null ? branches.map((b) => b.then) : [...branches.map((b) => b.then), elseBranch];
  return node(type, (cols, n) => {
    const choice = new Int32Array(n).fill(-1);
    let open = n;
    for (let k = 0; k < branches.length && open > 0; k++) {
      const c = branches[k]!.when.eval(cols, n);
      const cv = boolValues(c); const valid = c.valid;
      for (let i = 0; i < n; i++) {
        if (choice[i] === -1 && cv[i] === 1 && (valid === null || valid[i] === 1)) { choice[i] = k; open--; }
      }
    }
    if (elseBranch !== null && open > 0) {
      const e = branches.length;
      for (let i = 0; i < n; i++) if (choice[i] === -1) choice[i] = e;
    }
    // Branches no row chose are not evaluated (stand-in: any vector of the right kind).
    const used = new Uint8Array(sources.length);
    for (let i = 0; i < n; i++) if (choice[i] >= 0) used[choice[i]!] = 1;
    const vectors = sources.map((s, k) => (used[k] ? s.eval(cols, n) : null));
    const stand = vectors.find((v) => v !== null);
    if (stand === undefined) return constantNull(type, n);
    return mergeByChoice(type, n, choice, vectors.map((v) => v ?? stand!));
  });
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
    const choice = new Int32Array(n).fill(-1);
    const vectors: Vector[] = [first];
    let open = 0;
    for (let i = 0; i < n; i++) if (first.valid[i] === 1) choice[i] = 0; else open++;
    for (let k = 1; k < kept.length && open > 0; k++) {
      const v = kept[k]!.eval(cols, n);
      vectors.push(v);
      const valid = v.valid;
      for (let i = 0; i < n; i++) {
        if (choice[i] === -1 && (valid === null || valid[i] === 1)) { choice[i] = k; open--; }
      }
    }
    return mergeByChoice(type, n, choice, vectors);
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
