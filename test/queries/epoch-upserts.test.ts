/**
 * The epoch's last change per key (queries/epoch-upserts.ts) against a reference: applying the
 * drained changes to a table gives the same table as applying every change in order, with one
 * change per key, and values of different types never share a key.
 */
import { describe, expect, it } from 'vitest';
import { createEpochUpserts } from '../../queries/epoch-upserts.ts';
import type { Row } from '../../executor/rows.ts';

const keyOf = (r: Row, cols: readonly number[]) => JSON.stringify(cols.map((c) => r[c] ?? null));

describe('the last change per key within an epoch', () => {
  it('applied to a table, equals every change applied in order (random epochs, one and two key columns)', () => {
    let seed = 7;
    const rnd = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
    for (const cols of [[0], [0, 2]]) {
      const all = new Map<string, Row>(); const compacted = new Map<string, Row>();
      const u = createEpochUpserts(cols);
      for (let epoch = 0; epoch < 50; epoch++) {
        let changes = 0; const keys = new Set<string>();
        for (let b = rnd(5); b >= 0; b--) {
          const rows: Row[] = []; const ops: number[] = [];
          for (let i = rnd(20); i >= 0; i--) {
            const r: Row = [rnd(3) === 0 ? null : rnd(6), rnd(1000), rnd(2) === 0 ? 'x' : 'y'];
            const del = rnd(4) === 0;
            rows.push(r); ops.push(del ? -1 : 1);
            if (del) all.delete(keyOf(r, cols)); else all.set(keyOf(r, cols), r);
            keys.add(keyOf(r, cols)); changes++;
          }
          u.add(rows, rnd(3) === 0 && !ops.includes(-1) ? null : Int8Array.from(ops));
        }
        const out = u.drain();
        expect(out.length).toBe(keys.size);
        expect(out.length).toBeLessThanOrEqual(changes);
        for (const x of out) { if (x.del) compacted.delete(keyOf(x.row, cols)); else compacted.set(keyOf(x.row, cols), x.row); }
        expect(compacted).toEqual(all);
        expect(u.size).toBe(0);
      }
    }
  });

  it('keeps the order of each key\'s last change, and tells 1 from "1" and null from "null"', () => {
    const u = createEpochUpserts([0]);
    u.add([[1, 'a'], ['1', 'b'], [null, 'c'], ['null', 'd'], [1, 'e']], null);
    u.add([['1', 'f']], Int8Array.from([-1]));
    expect(u.drain()).toEqual([
      { row: [null, 'c'], del: false }, { row: ['null', 'd'], del: false }, { row: [1, 'e'], del: false }, { row: ['1', 'f'], del: true },
    ]);
    // Two key columns whose texts would run together without a length: two keys, not one.
    const two = createEpochUpserts([0, 1]);
    two.add([['a\u0001sb', 'c'], ['a', 'b\u0001sc']], null);
    expect(two.drain()).toHaveLength(2);
    u.add([[2, 'x']], null);
    u.clear();
    expect(u.drain()).toEqual([]);
  });
});
