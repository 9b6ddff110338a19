import { describe, expect, it } from 'vitest';
import { T, bool, call, col, evalVector, evaluate, f64, i32, i64, lit, scalar, str, ts } from './helpers.ts';
import { compileLike } from '../../../executor/expr/like.ts';
import { codePointLength, splitPart, sqlSubstring } from '../../../executor/expr/string-fns.ts';

const S = T.varchar;
const B = T.boolean;

describe('LIKE', () => {
  const like = (pattern: string, values: (string | null)[]) =>
    evaluate(call('like', B, col(0, S), lit(pattern, S)), [str(values)]);

  it('supports % and _', () => {
    expect(like('a%', ['abc', 'a', 'ba', null])).toEqual([true, true, false, null]);
    expect(like('%c', ['abc', 'c', 'cb'])).toEqual([true, true, false]);
    expect(like('%b%', ['abc', 'b', 'ac'])).toEqual([true, true, false]);
    expect(like('a_c', ['abc', 'ac', 'abbc', 'aXc'])).toEqual([true, false, false, true]);
    expect(like('abc', ['abc', 'abcd', 'ABC'])).toEqual([true, false, false]);
    expect(like('%', ['', 'x', null])).toEqual([true, true, null]);
    expect(like('', ['', 'x'])).toEqual([true, false]);
    expect(like('a%b%c', ['aXbYc', 'abc', 'acb'])).toEqual([true, true, false]);
    expect(like('%%a%%', ['xax', 'x'])).toEqual([true, false]);
  });

  it('escapes regex metacharacters: a.c% does not match abcd', () => {
    expect(like('a.c%', ['abcd', 'a.cd', 'a.c'])).toEqual([false, true, true]);
    expect(like('(x)+_', ['(x)+1', 'xx1'])).toEqual([true, false]);
    expect(like('[ab]%', ['[ab]c', 'a'])).toEqual([true, false]);
    expect(like('^$|?*{1}_', ['^$|?*{1}z', ''])).toEqual([true, false]);
  });

  it('honours backslash escapes for literal % and _', () => {
    expect(like('100\\%', ['100%', '1000'])).toEqual([true, false]);
    expect(like('a\\_b', ['a_b', 'axb'])).toEqual([true, false]);
    expect(like('%\\\\%', ['a\\b', 'ab'])).toEqual([true, false]);
  });

  it('lets wildcards match newlines and astral characters as one character', () => {
    expect(like('a%b', ['a\nb'])).toEqual([true]);
    expect(like('_', ['😀', 'ab'])).toEqual([true, false]);
  });

  it('NOT LIKE negates, NULL stays NULL', () => {
    expect(evaluate(call('not_like', B, col(0, S), lit('a%', S)), [str(['abc', 'xyz', null])])).toEqual([false, true, null]);
  });

  it('works with a per-row pattern', () => {
    const v = str(['abc', 'abc', 'a.c', 'x', 'y']); const p = str(['a%', 'a.c', 'a.c', null, '_']);
    expect(evaluate(call('like', B, col(0, S), col(1, S)), [v, p])).toEqual([true, false, true, null, true]);
    expect(evaluate(call('not_like', B, col(0, S), col(1, S)), [v, p])).toEqual([false, true, false, null, false]);
  });

  it('classifies common patterns into fast paths', () => {
    expect(compileLike('abc%').kind).toBe('prefix');
    expect(compileLike('%abc').kind).toBe('suffix');
    expect(compileLike('%abc%').kind).toBe('contains');
    expect(compileLike('abc').kind).toBe('exact');
    expect(compileLike('%%').kind).toBe('any');
    expect(compileLike('a_c').kind).toBe('regex');
    expect(compileLike('100\\%')).toEqual({ kind: 'exact', text: '100%' });
  });

  it('is NULL for a NULL pattern', () => {
    expect(evaluate(call('like', B, col(0, S), lit(null, T.null)), [str(['a'])])).toEqual([null]);
  });
});

describe('concat', () => {
  it('concatenates, treating NULL as empty (Postgres concat())', () => {
    const a = str(['a', null, 'c', null]); const b = str(['x', 'y', null, null]);
    const r = evalVector(call('concat', S, col(0, S), col(1, S)), [a, b]);
    expect(r.valid).toBeNull();
    expect(evaluate(call('concat', S, col(0, S), col(1, S)), [a, b])).toEqual(['ax', 'y', 'c', '']);
    expect(evaluate(call('concat', S, col(0, S), lit('-', S), col(1, S), lit(null, T.null)), [a, b])).toEqual(['a-x', '-y', 'c-', '-']);
  });

  it('prints numbers, booleans and timestamps as SQL would', () => {
    const cols = [i32([1, -2]), f64([1, 2.5]), i64([10, 9007199254740991]), bool([true, false]), ts([0, null])];
    expect(evaluate(call('concat', S, col(0, T.int), lit('|', S), col(1, T.double), lit('|', S), col(2, T.bigint), lit('|', S), col(3, B), lit('|', S), col(4, T.timestamp)), cols))
      .toEqual(['1|1|10|true|1970-01-01T00:00:00.000Z', '-2|2.5|9007199254740991|false|']);
    expect(scalar(call('concat', S, lit(1, T.int), lit(2.0, T.double), lit(0.5, T.double)))).toBe('120.5');
  });
});

describe('string functions', () => {
  it('lower and upper', () => {
    expect(evaluate(call('lower', S, col(0, S)), [str(['AbC', null, 'ÉÀ'])])).toEqual(['abc', null, 'éà']);
    expect(evaluate(call('upper', S, col(0, S)), [str(['AbC', null, 'straße'])])).toEqual(['ABC', null, 'STRASSE']);
  });

  it('length counts code points', () => {
    const r = evalVector(call('length', T.int, col(0, S)), [str(['abc', '', null, '😀x', 'é'])]);
    expect(r.kind).toBe('i32');
    expect(evaluate(call('length', T.int, col(0, S)), [str(['abc', '', null, '😀x', 'é'])])).toEqual([3, 0, null, 2, 1]);
    expect(evaluate(call('length', T.bigint, col(0, S)), [str(['abcd'])])).toEqual([4]);
    expect(codePointLength('\uD800')).toBe(1);
  });

  it('substring is 1-based like Postgres', () => {
    const s = str(['hello', null, 'héllo😀!']);
    expect(evaluate(call('substring', S, col(0, S), lit(2, T.int)), [s])).toEqual(['ello', null, 'éllo😀!']);
    expect(evaluate(call('substring', S, col(0, S), lit(2, T.int), lit(3, T.int)), [s])).toEqual(['ell', null, 'éll']);
    expect(evaluate(call('substring', S, col(0, S), lit(5, T.int), lit(2, T.int)), [s])).toEqual(['o', null, 'o😀']);
    expect(sqlSubstring('hello', 0, 3)).toBe('he');
    expect(sqlSubstring('hello', -5, 3)).toBe('');
    expect(sqlSubstring('hello', 10, 3)).toBe('');
    expect(sqlSubstring('hello', 1, -1)).toBeNull();
    expect(sqlSubstring('hello', -1)).toBe('hello');
    expect(evaluate(call('substring', S, col(0, S), col(1, T.int), col(2, T.int)), [str(['abcdef', 'abcdef', 'abc']), i32([2, null, 1]), i32([2, 1, -1])]))
      .toEqual(['bc', null, null]);
  });

  it('trim removes spaces at both ends', () => {
    expect(evaluate(call('trim', S, col(0, S)), [str(['  a b  ', 'x', '   ', null, '\tx '])])).toEqual(['a b', 'x', '', null, '\tx']);
  });

  it('split_part is 1-based, empty when out of range', () => {
    const s = str(['a,b,c', 'a,b,c', 'a,b,c', 'abc', null]);
    const n = i32([1, 3, 4, 1, 1]);
    expect(evaluate(call('split_part', S, col(0, S), lit(',', S), col(1, T.int)), [s, n])).toEqual(['a', 'c', '', 'abc', null]);
    expect(evaluate(call('split_part', S, col(0, S), lit(',', S), lit(2, T.int)), [str(['x,y', ',', 'x'])])).toEqual(['y', '', '']);
    expect(splitPart('a::b::c', '::', 2)).toBe('b');
    expect(splitPart('a,b,c', ',', -1)).toBe('c');
    expect(splitPart('a,b,c', ',', -4)).toBe('');
    expect(splitPart('a,b', ',', 0)).toBeNull();
    expect(splitPart('abc', '', 1)).toBe('abc');
    expect(evaluate(call('split_part', S, col(0, S), lit(',', S), lit(0, T.int)), [str(['a,b'])])).toEqual([null]);
  });

  it('regexp_like searches with JS RegExp syntax', () => {
    const s = str(['abc123', 'xyz', null, 'ABC']);
    expect(evaluate(call('regexp_like', B, col(0, S), lit('\\d+', S)), [s])).toEqual([true, false, null, false]);
    expect(evaluate(call('regexp_like', B, col(0, S), lit('^abc', S), lit('i', S)), [s])).toEqual([true, false, null, true]);
    expect(evaluate(call('regexp_like', B, col(0, S), col(1, S)), [s, str(['c1', '(', 'x', null])])).toEqual([true, null, null, null]);
    expect(() => evaluate(call('regexp_like', B, col(0, S), lit('(', S)), [s])).toThrow();
  });

  it('string functions fold on constants', () => {
    expect(scalar(call('upper', S, lit('abc', S)))).toBe('ABC');
    expect(scalar(call('length', T.int, lit(null, T.null)))).toBeNull();
  });
});
