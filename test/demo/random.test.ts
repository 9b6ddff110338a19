import { describe, expect, it } from 'vitest';
import { createRandom } from '../../connectors/demo/random.ts';

describe('createRandom', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const draw = (seed: number) => {
      const r = createRandom(seed);
      return Array.from({ length: 20 }, () => r.nextFloat());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('keeps values in range and roughly uniform', () => {
    const r = createRandom(7);
    const counts = new Array(10).fill(0);
    let outOfRange = 0;
    for (let i = 0; i < 100_000; i++) {
      const f = r.nextFloat();
      if (!(f >= 0 && f < 1)) outOfRange++;
      counts[r.nextInt(10)]++;
    }
    expect(outOfRange).toBe(0);
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(600);
    const items = ['a', 'b', 'c'] as const;
    const seen = new Set(Array.from({ length: 100 }, () => r.pick(items)));
    expect([...seen].sort()).toEqual(['a', 'b', 'c']);
  });
});
