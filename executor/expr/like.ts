/**
 * SQL LIKE. Patterns use `%` (any run of characters) and `_` (exactly one character); a backslash
 * escapes the next character (`\%`, `\_`, `\\`), as Postgres's default ESCAPE does. Matching is
 * case-sensitive over the whole string.
 *
 * A pattern is classified once: the shapes real queries use ('abc', 'abc%', '%abc', '%abc%', '%')
 * become startsWith/endsWith/includes/equality loops; anything else becomes an anchored RegExp with
 * every literal character escaped, so 'a.c%' matches only a literal dot.
 */
import { assertNever, T, type SqlType } from '../../planner/types.ts';
import type { Vector } from '../vector.ts';
import { andValidity } from '../kernels/validity.ts';
import { isConst, node, type FnCompiler } from './compiled.ts';
import { boolVector, strValues } from './vec.ts';
import { coerce } from './cast.ts';

/** A compiled LIKE pattern. */
export type LikeMatcher =
  | { readonly kind: 'exact'; readonly text: string }
  | { readonly kind: 'prefix'; readonly text: string }
  | { readonly kind: 'suffix'; readonly text: string }
  | { readonly kind: 'contains'; readonly text: string }
  | { readonly kind: 'any' }
  | { readonly kind: 'regex'; readonly re: RegExp };

type Token = { readonly lit: string } | '%' | '_';

function tokenize(pattern: string): Token[] {
  const out: Token[] = [];
  let lit = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) { lit += pattern[++i]; continue; }
    if (c === '%' || c === '_') {
      if (lit) { out.push({ lit }); lit = ''; }
      // Consecutive '%' mean the same as one.
      if (!(c === '%' && out[out.length - 1] === '%')) out.push(c);
      continue;
    }
    lit += c;
  }
  if (lit) out.push({ lit });
  return out;
}

const REGEX_META = /[.*+?^${}()|[\]\\/]/g;

/** Escapes every RegExp metacharacter so the text matches literally. */
export function escapeRegExp(text: string): string {
  return text.replace(REGEX_META, '\\$&');
}

/** Compiles a LIKE pattern to its matcher. */
export function compileLike(pattern: string): LikeMatcher {
  const t = tokenize(pattern);
  const lit = (k: Token | undefined): string | null => (k !== undefined && typeof k === 'object' ? k.lit : null);
  if (t.length === 0) return { kind: 'exact', text: '' };
  if (t.length === 1) {
    if (t[0] === '%') return { kind: 'any' };
    const l = lit(t[0]); if (l !== null) return { kind: 'exact', text: l };
  }
  if (t.length === 2) {
    const l0 = lit(t[0]); const l1 = lit(t[1]);
    if (l0 !== null && t[1] === '%') return { kind: 'prefix', text: l0 };
    if (t[0] === '%' && l1 !== null) return { kind: 'suffix', text: l1 };
  }
  if (t.length === 3 && t[0] === '%' && t[2] === '%') {
    const l = lit(t[1]); if (l !== null) return { kind: 'contains', text: l };
  }
  // 'u' makes '_' match one code point (as length() counts them); 's' lets both wildcards cross newlines.
  let src = '^';
  for (const k of t) src += k === '%' ? '.*' : k === '_' ? '.' : escapeRegExp(k.lit);
  return { kind: 'regex', re: new RegExp(`${src}$`, 'su') };
}

/** Whether one string matches (for per-row patterns; constant patterns use {@link likeLoop}). */
export function likeMatches(m: LikeMatcher, s: string): boolean {
  switch (m.kind) {
    case 'exact': return s === m.text;
    case 'prefix': return s.startsWith(m.text);
    case 'suffix': return s.endsWith(m.text);
    case 'contains': return s.includes(m.text);
    case 'any': return true;
    case 'regex': return m.re.test(s);
    default: return assertNever(m, 'LIKE matcher');
  }
}

/** Matches every row of `src` against one pattern, writing 1/0 (or 0/1 when `negated`) into `out`. */
export function likeLoop(m: LikeMatcher, src: readonly string[], out: Uint8Array, n: number, negated: boolean): void {
  const hit = negated ? 0 : 1; const miss = negated ? 1 : 0;
  switch (m.kind) {
    case 'exact': { const t = m.text; for (let i = 0; i < n; i++) out[i] = src[i] === t ? hit : miss; return; }
    case 'prefix': { const t = m.text; for (let i = 0; i < n; i++) out[i] = src[i]!.startsWith(t) ? hit : miss; return; }
    case 'suffix': { const t = m.text; for (let i = 0; i < n; i++) out[i] = src[i]!.endsWith(t) ? hit : miss; return; }
    case 'contains': { const t = m.text; for (let i = 0; i < n; i++) out[i] = src[i]!.includes(t) ? hit : miss; return; }
    case 'any': out.fill(hit, 0, n); return;
    case 'regex': { const re = m.re; for (let i = 0; i < n; i++) out[i] = re.test(src[i]!) ? hit : miss; return; }
    default: assertNever(m, 'LIKE matcher');
  }
}

/** LIKE against a per-row pattern column; the last pattern's matcher is reused, as patterns repeat. */
function likeColumn(v: Vector, p: Vector, type: SqlType, n: number, negated: boolean): Vector {
  const src = strValues(v); const pats = strValues(p);
  const out = new Uint8Array(n);
  let lastPattern: string | null = null;
  let m: LikeMatcher = { kind: 'any' };
  for (let i = 0; i < n; i++) {
    const pat = pats[i]!;
    if (pat !== lastPattern) { m = compileLike(pat); lastPattern = pat; }
    out[i] = likeMatches(m, src[i]!) !== negated ? 1 : 0;
  }
  return boolVector(type, out, andValidity(v.valid, p.valid, n));
}

function like(negated: boolean): FnCompiler {
  return (args, type) => {
    if (args.length !== 2) throw new Error(`like takes 2 arguments, got ${args.length}`);
    const value = coerce(args[0]!, T.varchar);
    const pattern = coerce(args[1]!, T.varchar);
    if (isConst(pattern) && pattern.constant.value !== null) {
      const m = compileLike(String(pattern.constant.value));
      return node(type, (cols, n) => {
        const v = value.eval(cols, n);
        const out = new Uint8Array(n);
        likeLoop(m, strValues(v), out, n, negated);
        return boolVector(type, out, v.valid);
      });
    }
    return node(type, (cols, n) => likeColumn(value.eval(cols, n), pattern.eval(cols, n), type, n, negated));
  };
}

/** Compilers for LIKE and NOT LIKE. */
export const likeFns = {
  like: like(false),
  not_like: like(true),
} satisfies Record<string, FnCompiler>;
