/**
 * Synthetic tweets for the sentiment demo. Each tweet has a mood (positive, negative or neutral)
 * that biases its words towards the matching lexicon, so a word-counting sentiment query shows a
 * real signal rather than noise. `user` is a nested object on purpose: it exercises nested ROW
 * fields in sources.
 */
import { createRandom, foldSeed } from './random.ts';

/** The tweet's author, as embedded in every tweet. */
export interface TweetUser {
  id: number;
  name: string;
  followers: number;
}

/** One tweet; `created_at` is an ISO-8601 UTC string (event time). */
export interface Tweet {
  id: number;
  user: TweetUser;
  text: string;
  lang: string;
  created_at: string;
}

export interface TweetOptions {
  /** PRNG seed; default 1. */
  seed?: number;
  /** Id of the first tweet; default 1. Tweet k (0-based) has id firstId + k. */
  firstId?: number;
  /** Event-time rate in tweets per second; default 50. */
  eventsPerSecond?: number;
  /** Event time (epoch ms) of the first tweet; default 2025-01-01T00:00:00Z. */
  baseTime?: number;
  /** Size of the author pool; default 200. Authors are picked with a Zipf-like skew. */
  users?: number;
}

export interface TweetGenerator {
  next(): Tweet;
}

/** Words a lexicon-based sentiment query can score +1. */
export const POSITIVE_WORDS = ['good', 'great', 'love', 'happy', 'amazing', 'awesome', 'excellent', 'nice', 'fantastic', 'wonderful', 'best', 'fun'] as const;
/** Words a lexicon-based sentiment query can score -1. */
export const NEGATIVE_WORDS = ['bad', 'terrible', 'hate', 'sad', 'awful', 'horrible', 'worst', 'angry', 'broken', 'slow', 'boring', 'ugly'] as const;
/** Filler words that carry no sentiment. */
export const NEUTRAL_WORDS = [
  'the', 'a', 'this', 'my', 'new', 'today', 'is', 'was', 'just', 'really', 'so', 'and', 'with', 'stream',
  'query', 'window', 'kafka', 'data', 'coffee', 'weather', 'game', 'movie', 'update', 'release', 'team', 'weekend',
] as const;
const HASHTAGS = ['#kafka', '#sql', '#streaming', '#data', '#monday', '#weekend', '#tech'];
// A few non-English tweets so `WHERE lang = 'en'` filters something; ASCII-only on purpose.
const OTHER_LANGS: Record<string, readonly string[]> = {
  es: ['hola', 'que', 'bueno', 'malo', 'dia', 'muy', 'el', 'la', 'gracias', 'datos'],
  fr: ['bonjour', 'tres', 'bon', 'mauvais', 'le', 'la', 'merci', 'jour', 'avec', 'donnees'],
  de: ['hallo', 'sehr', 'gut', 'schlecht', 'der', 'die', 'danke', 'heute', 'mit', 'daten'],
};
const HANDLE_ADJECTIVES = ['happy', 'grumpy', 'quiet', 'loud', 'swift', 'lazy', 'clever', 'sleepy', 'brave', 'curious'];
const HANDLE_ANIMALS = ['otter', 'falcon', 'panda', 'lynx', 'koala', 'heron', 'badger', 'gecko', 'moose', 'whale'];
const DEFAULT_BASE_TIME = Date.UTC(2025, 0, 1);

/** Creates a deterministic tweet generator. */
export function createTweetGenerator(opts: TweetOptions = {}): TweetGenerator {
  const rng = createRandom(foldSeed(opts.seed ?? 1) ^ 0x7eed);
  const firstId = opts.firstId ?? 1;
  const eventsPerSecond = opts.eventsPerSecond ?? 50;
  const baseTime = opts.baseTime ?? DEFAULT_BASE_TIME;
  const userCount = Math.max(1, opts.users ?? 200);
  const users: TweetUser[] = Array.from({ length: userCount }, (_, i) => ({
    id: i + 1,
    name: `${rng.pick(HANDLE_ADJECTIVES)}_${rng.pick(HANDLE_ANIMALS)}${rng.nextInt(100)}`,
    followers: Math.floor(10 ** (rng.nextFloat() * 6)) - 1,
  }));
  let k = 0;

  const englishText = (): string => {
    const mood = rng.nextFloat();
    // 40% positive, 30% negative, 30% neutral tweets; moody tweets still contain filler and the odd
    // word of the opposite sentiment, as real ones do.
    const main = mood < 0.4 ? POSITIVE_WORDS : mood < 0.7 ? NEGATIVE_WORDS : null;
    const opposite = main === POSITIVE_WORDS ? NEGATIVE_WORDS : POSITIVE_WORDS;
    const count = 5 + rng.nextInt(10);
    const words: string[] = [];
    for (let i = 0; i < count; i++) {
      const r = rng.nextFloat();
      if (main && r < 0.3) words.push(rng.pick(main));
      else if (r > 0.97) words.push(rng.pick(opposite));
      else words.push(rng.pick(NEUTRAL_WORDS));
    }
    if (rng.nextFloat() < 0.6) words.push(rng.pick(HASHTAGS));
    return words.join(' ');
  };

  return {
    next(): Tweet {
      const i = k++;
      const user = users[Math.floor(userCount ** rng.nextFloat()) - 1];
      let lang = 'en';
      let text: string;
      if (rng.nextFloat() < 0.85) {
        text = englishText();
      } else {
        lang = rng.pick(Object.keys(OTHER_LANGS));
        const vocab = OTHER_LANGS[lang];
        const count = 4 + rng.nextInt(8);
        const words: string[] = [];
        for (let j = 0; j < count; j++) words.push(rng.pick(vocab));
        text = words.join(' ');
      }
      return {
        id: firstId + i,
        user: { ...user }, // a copy, so consumers mutating one tweet cannot alter later ones
        text,
        lang,
        created_at: new Date(baseTime + Math.floor((i * 1000) / eventsPerSecond)).toISOString(),
      };
    },
  };
}

/** Serializes a tweet to JSON (not a hot path, so plain JSON.stringify). */
export function serializeTweet(t: Tweet): string {
  return JSON.stringify(t);
}
