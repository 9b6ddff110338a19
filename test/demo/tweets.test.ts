import { describe, expect, it } from 'vitest';
import { createTweetGenerator, NEGATIVE_WORDS, POSITIVE_WORDS, serializeTweet } from '../../connectors/demo/tweets.ts';

describe('tweet generator', () => {
  const g = createTweetGenerator({ seed: 2, baseTime: Date.UTC(2030, 0, 1), eventsPerSecond: 10 });
  const tweets = Array.from({ length: 2000 }, () => g.next());

  it('produces tweets with a nested user and ISO created_at advancing with the rate', () => {
    tweets.forEach((t, i) => {
      expect(t.id).toBe(1 + i);
      expect(t.user).toEqual({ id: expect.any(Number), name: expect.any(String), followers: expect.any(Number) });
      expect(t.user.followers).toBeGreaterThanOrEqual(0);
      expect(t.created_at).toBe(new Date(Date.UTC(2030, 0, 1) + i * 100).toISOString());
      expect(JSON.parse(serializeTweet(t))).toEqual(t);
    });
  });

  it('mixes positive, negative and neutral English text, mostly lang en', () => {
    const english = tweets.filter((t) => t.lang === 'en');
    expect(english.length / tweets.length).toBeGreaterThan(0.8);
    const has = (t: { text: string }, words: readonly string[]) => t.text.split(' ').some((w) => words.includes(w));
    const pos = english.filter((t) => has(t, POSITIVE_WORDS) && !has(t, NEGATIVE_WORDS)).length;
    const neg = english.filter((t) => has(t, NEGATIVE_WORDS) && !has(t, POSITIVE_WORDS)).length;
    expect(pos / english.length).toBeGreaterThan(0.25);
    expect(neg / english.length).toBeGreaterThan(0.15);
    expect(english.some((t) => !has(t, POSITIVE_WORDS) && !has(t, NEGATIVE_WORDS))).toBe(true);
  });

  it('is deterministic under a seed', () => {
    const again = createTweetGenerator({ seed: 2, baseTime: Date.UTC(2030, 0, 1), eventsPerSecond: 10 });
    expect(Array.from({ length: 2000 }, () => again.next())).toEqual(tweets);
  });
});
