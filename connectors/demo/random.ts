/**
 * Seeded pseudo-random numbers for the demo generators.
 *
 * Demo and benchmark data must be reproducible (same seed, same events), so nothing here touches
 * `Math.random`. mulberry32 is used because it is tiny, fast in V8 (pure 32-bit integer ops) and
 * statistically good enough for synthetic data; it is not cryptographic.
 */

/** A deterministic random source. */
export interface Random {
  /** Uniform float in [0, 1). */
  nextFloat(): number;
  /** Uniform integer in [0, n); `n` must be a positive integer. */
  nextInt(n: number): number;
  /** Uniform element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
}

/**
 * Creates a mulberry32 generator. Any number is accepted as seed; it is folded to 32 bits so that
 * large or fractional seeds still give distinct streams.
 */
export function createRandom(seed = 1): Random {
  let state = foldSeed(seed);
  const nextFloat = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const nextInt = (n: number): number => Math.floor(nextFloat() * n);
  return {
    nextFloat,
    nextInt,
    pick: <T>(items: readonly T[]): T => items[nextInt(items.length)],
  };
}

/** Mixes an arbitrary number into a 32-bit seed (murmur3 finalizer), so nearby seeds diverge. */
export function foldSeed(seed: number): number {
  let h = (Math.floor(seed) ^ Math.floor(seed / 4294967296)) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
