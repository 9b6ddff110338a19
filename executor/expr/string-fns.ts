/**
 * String functions: concat, lower, upper, length, substring, trim, split_part, regexp_like.
 *
 * Positions and lengths count characters (Unicode code points), as Postgres does, not UTF-16 code
 * units; strings without surrogate pairs (nearly all) take plain `slice` paths.
 */
import { compileSafeRegex } from '../../planner/regex-safety.ts';
import { T } from '../../planner/types.ts';
import type { Vector } from '../vector.ts';
import { andValidity, compactValidity } from '../kernels/validity.ts';
import { isConst, node, operand, resolve, type Compiled, type CompiledExpr, type FnCompiler, type PhysicalScalar } from './compiled.ts';
import { boolVector, newNumArray, numValues, numVector, strValues, strVector } from './vec.ts';
import { coerce, toStrings } from './cast.ts';

const SURROGATE = /[\uD800-\uDFFF]/;

/** Number of code points in a string. */
export function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A high surrogate followed by a low one is one character.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { n--; i++; }
    }
  }
  return n;
}

/** Code points [from, to) of a string (0-based, clamped). */
function codePointSlice(s: string, from: number, to: number): string {
  if (!SURROGATE.test(s)) return s.slice(from, to);
  return Array.from(s).slice(from, to).join('');
}

/**
 * Postgres substring(s FROM start [FOR len]): 1-based; a start before 1 still counts the positions
 * before the string (substring('hello', 0, 3) = 'he'); a negative length is NULL (Postgres errors).
 */
export function sqlSubstring(s: string, start: number, len: number | null = null): string | null {
  const st = Math.trunc(start);
  if (len === null) return codePointSlice(s, Math.max(st - 1, 0), Infinity);
  const l = Math.trunc(len);
  if (l < 0 || Number.isNaN(l)) return null;
  const end = st + l; // exclusive, 1-based
  if (end <= 1) return '';
  return codePointSlice(s, Math.max(st - 1, 0), end - 1);
}

/** SQL TRIM: removes leading and trailing spaces (U+0020 only, per the standard; tabs and newlines stay). */
export function sqlTrim(s: string): string {
  let a = 0; let b = s.length;
  while (a < b && s.charCodeAt(a) === 32) a++;
  while (b > a && s.charCodeAt(b - 1) === 32) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/**
 * Postgres split_part: the n-th (1-based) field of s split on delim; a negative n counts from the
 * end; out of range gives ''. n = 0 gives NULL (Postgres errors). An empty delimiter makes the whole
 * string the only field.
 */
export function splitPart(s: string, delim: string, n: number): string | null {
  const k = Math.trunc(n);
  if (k === 0 || Number.isNaN(k)) return null;
  if (delim === '') return k === 1 || k === -1 ? s : '';
  if (k > 0) {
    let from = 0;
    for (let f = 1; f < k; f++) {
      const at = s.indexOf(delim, from);
      if (at < 0) return '';
      from = at + delim.length;
    }
    const end = s.indexOf(delim, from);
    return end < 0 ? s.slice(from) : s.slice(from, end);
  }
  const parts = s.split(delim);
  const idx = parts.length + k;
  return idx >= 0 ? parts[idx]! : '';
}

type StrOperand = PhysicalScalar | CompiledExpr;

/** Evaluates a string-or-constant operand as either a string array or a single string. */
function strArg(op: StrOperand, cols: readonly Vector[], n: number): { s: string | null; v: Vector | null } {
  const r = resolve(op, cols, n);
  return typeof r === 'object' ? { s: null, v: r } : { s: String(r), v: null };
}

function numArg(op: StrOperand, cols: readonly Vector[], n: number): { x: number; v: Vector | null } {
  const r = resolve(op, cols, n);
  return typeof r === 'object' ? { x: 0, v: r } : { x: Number(r), v: null };
}

/**
 * concat(a, b, …) and `a || b`. NULL arguments count as empty strings, as Postgres's concat() does,
 * so the result is never NULL; `||` shares this rule in this engine (Postgres's `||` would return
 * NULL). Non-string arguments print as CAST(… AS VARCHAR) would.
 */
const concat: FnCompiler = (args, type) => {
  if (args.length === 0) return node(type, (_c, n) => strVector(type, new Array<string>(n).fill(''), null));
  // Constants are printed once, and a NULL constant contributes nothing.
  const parts = args.map((a): string | CompiledExpr => {
    if (!isConst(a)) return a.eval;
    const v = coerce(a, T.varchar);
    return (v.constant?.value as string | null) ?? '';
  });
  return node(type, (cols, n) => {
    const out = new Array<string>(n).fill('');
    for (const p of parts) {
      if (typeof p === 'string') {
        if (p !== '') for (let i = 0; i < n; i++) out[i] += p;
        continue;
      }
      const { values, valid } = toStrings(p(cols, n), n);
      if (valid === null) for (let i = 0; i < n; i++) out[i] += values[i]!;
      else for (let i = 0; i < n; i++) if (valid[i]) out[i] += values[i]!;
    }
    return strVector(type, out, null);
  });
};

function caseMap(upper: boolean): FnCompiler {
  return (args, type) => {
    const a = coerce(one(args, upper ? 'upper' : 'lower'), T.varchar);
    return node(type, (cols, n) => {
      const v = a.eval(cols, n); const src = strValues(v);
      const out = new Array<string>(n);
      if (upper) for (let i = 0; i < n; i++) out[i] = src[i]!.toUpperCase();
      else for (let i = 0; i < n; i++) out[i] = src[i]!.toLowerCase();
      return strVector(type, out, v.valid);
    });
  };
}

const length: FnCompiler = (args, type) => {
  const a = coerce(one(args, 'length'), T.varchar);
  return node(type, (cols, n) => {
    const v = a.eval(cols, n); const src = strValues(v);
    const out = newNumArray(type, n);
    for (let i = 0; i < n; i++) out[i] = codePointLength(src[i]!);
    return numVector(type, out, v.valid);
  });
};

const trim: FnCompiler = (args, type) => {
  const a = coerce(one(args, 'trim'), T.varchar);
  return node(type, (cols, n) => {
    const v = a.eval(cols, n); const src = strValues(v);
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = sqlTrim(src[i]!);
    return strVector(type, out, v.valid);
  });
};

const substring: FnCompiler = (args, type) => {
  if (args.length !== 2 && args.length !== 3) throw new Error(`substring takes 2 or 3 arguments, got ${args.length}`);
  const s = coerce(args[0]!, T.varchar);
  const startOp = operand(args[1]!);
  const lenOp = args.length === 3 ? operand(args[2]!) : null;
  return node(type, (cols, n) => {
    const v = s.eval(cols, n); const src = strValues(v);
    const st = numArg(startOp, cols, n);
    const ln = lenOp === null ? null : numArg(lenOp, cols, n);
    const stv = st.v === null ? null : numValues(st.v);
    const lnv = ln === null || ln.v === null ? null : numValues(ln.v);
    let valid = andValidity(v.valid, st.v?.valid ?? null, n);
    if (ln !== null) valid = andValidity(valid, ln.v?.valid ?? null, n);
    const out = new Array<string>(n);
    let bad: Uint8Array | null = null;
    for (let i = 0; i < n; i++) {
      const r = sqlSubstring(src[i]!, stv === null ? st.x : stv[i]!, ln === null ? null : lnv === null ? ln.x : lnv[i]!);
      if (r === null) { bad ??= new Uint8Array(n).fill(1); bad[i] = 0; out[i] = ''; } else out[i] = r;
    }
    if (bad !== null) valid = andValidity(valid, bad, n);
    return strVector(type, out, valid);
  });
};

const split_part: FnCompiler = (args, type) => {
  if (args.length !== 3) throw new Error(`split_part takes 3 arguments, got ${args.length}`);
  const s = coerce(args[0]!, T.varchar);
  const delimOp = operand(coerce(args[1]!, T.varchar));
  const nOp = operand(args[2]!);
  return node(type, (cols, n) => {
    const v = s.eval(cols, n); const src = strValues(v);
    const d = strArg(delimOp, cols, n); const k = numArg(nOp, cols, n);
    const dv = d.v === null ? null : strValues(d.v);
    const kv = k.v === null ? null : numValues(k.v);
    const valid = new Uint8Array(n);
    const out = new Array<string>(n);
    const v0 = andValidity(andValidity(v.valid, d.v?.valid ?? null, n), k.v?.valid ?? null, n);
    for (let i = 0; i < n; i++) {
      if (v0 !== null && v0[i] === 0) { out[i] = ''; continue; }
      const r = splitPart(src[i]!, dv === null ? d.s! : dv[i]!, kv === null ? k.x : kv[i]!);
      if (r === null) out[i] = ''; else { out[i] = r; valid[i] = 1; }
    }
    return strVector(type, out, compactValidity(valid, n));
  });
};

/**
 * regexp_like(s, pattern[, flags]): whether the JS RegExp finds a match anywhere in s (like
 * Postgres's regexp_like, a search, not a full match). Flags are JS flags ('i', 'm', 's', 'u').
 * A constant pattern compiles once and an invalid one fails at compile time; a per-row pattern that
 * does not compile gives NULL for that row.
 */
const regexp_like: FnCompiler = (args, type) => {
  if (args.length !== 2 && args.length !== 3) throw new Error(`regexp_like takes 2 or 3 arguments, got ${args.length}`);
  const s = coerce(args[0]!, T.varchar);
  const pattern = coerce(args[1]!, T.varchar);
  let flags = '';
  if (args.length === 3) {
    const f = args[2]!;
    if (!isConst(f) || typeof f.constant.value !== 'string') throw new Error('regexp_like flags must be a string literal');
    flags = f.constant.value.replace(/[gy]/g, ''); // 'g'/'y' would make test() stateful across rows
  }
  if (isConst(pattern) && pattern.constant.value !== null) {
    const c = compileSafeRegex(String(pattern.constant.value), flags);
    if ('error' in c) throw new Error(c.error); // the planner refuses these first
    const re = c.re;
    return node(type, (cols, n) => {
      const v = s.eval(cols, n); const src = strValues(v);
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = re.test(src[i]!) ? 1 : 0;
      return boolVector(type, out, v.valid);
    });
  }
  return node(type, (cols, n) => {
    const v = s.eval(cols, n); const p = pattern.eval(cols, n);
    const src = strValues(v); const pats = strValues(p);
    const out = new Uint8Array(n);
    const valid = new Uint8Array(n);
    const v0 = andValidity(v.valid, p.valid, n);
    let last: string | null = null; let re: RegExp | null = null;
    for (let i = 0; i < n; i++) {
      if (v0 !== null && v0[i] === 0) continue;
      const pat = pats[i]!;
      if (pat !== last) {
        last = pat;
        const c = compileSafeRegex(pat, flags);
        re = 're' in c ? c.re : null;
      }
      if (re === null) continue;
      out[i] = re.test(src[i]!) ? 1 : 0;
      valid[i] = 1;
    }
    return boolVector(type, out, compactValidity(valid, n));
  });
};

function one(args: readonly Compiled[], fn: string): Compiled {
  if (args.length !== 1) throw new Error(`${fn} takes 1 argument, got ${args.length}`);
  return args[0]!;
}

/** Compilers for the string functions. */
export const stringFns = {
  concat,
  lower: caseMap(false),
  upper: caseMap(true),
  length,
  trim,
  substring,
  split_part,
  regexp_like,
} satisfies Record<string, FnCompiler>;
