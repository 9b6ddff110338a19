/**
 * The keyed query table (connectors/table/keyed-rows.ts via createQueryTable) against the Map it
 * replaced: random upserts and deletes over keys of mixed types (NULLs, strings with separators and
 * control characters, -0), staged and committed or aborted, with and without a retention bound, and
 * enough dead keys to make it compact. Content and order of rows(), size, and the retention deletes
 * must be what a Map<JSON key, row> in insertion order (re-insert on change under retention) gives.
 */
import { describe, expect, it } from 'vitest';
import { createQueryTable } from '../../connectors/table/query-table.ts';
import { rowsBatch, type Row } from '../../executor/rows.ts';
import { T, type Schema } from '../../planner/types.ts';

const schema: Schema = { fields: [
  { name: 'k1', type: T.bigint, nullable: true }, { name: 'k2', type: T.varchar, nullable: true },
  { name: 'v', type: T.double, nullable: true }, { name: 'b', type: T.boolean, nullable: true },
] };
const STRS = ['a', 'b', 'a\u0001b', '"', '', '~', 'null', 'é'];

function rng(seed: number) {
  return () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296; };
}

class Reference {
  map = new Map<string, Row>();
  constructor(readonly retention: number | null) {}
  apply(row: Row, upsert: boolean): void {
    const k = JSON.stringify([row[0], row[1]]);
    if (!upsert || this.retention !== null) this.map.delete(k);
    if (upsert) this.map.set(k, row);
  }
  evict(): Row[] {
    const out: Row[] = [];
    if (this.retention === null) return out;
    for (const [k, r] of this.map) { if (this.map.size <= this.retention) break; this.map.delete(k); out.push(r); }
    return out;
  }
}

describe('keyed query table = Map reference', () => {
  for (const retention of [null, 50, 3000]) {
    it(`random changes, retention ${String(retention)}`, () => {
      for (let run = 0; run < 4; run++) {
        const rnd = rng(run * 7 + (retention ?? 1));
        const t = createQueryTable('t', schema, [0, 1], retention);
        const ref = new Reference(retention);
        // Many distinct keys in early epochs, later mostly deletes: dead ids outnumber live ones (compaction).
        for (let e = 1; e <= 40; e++) {
          const keySpace = e < 20 ? 6000 : 300;
          const n = 1 + Math.floor(rnd() * (e >= 20 ? 1200 : 400));
          const rows: Row[] = []; const ops = new Int8Array(n);
          const live = e >= 20 ? [...ref.map.values()] : [];
          for (let i = 0; i < n; i++) {
            const k1 = rnd() < 0.05 ? null : Math.floor(rnd() * keySpace);
            const k2 = rnd() < 0.05 ? null : STRS[Math.floor(rnd() * STRS.length)]!;
            // Late epochs mostly delete live keys: dead ids come to outnumber live ones.
            if (live.length && rnd() < 0.8) { const r = live[Math.floor(rnd() * live.length)]!; rows.push([r[0], r[1], null, null]); ops[i] = -1; continue; }
            rows.push([k1 === 0 && rnd() < 0.5 ? -0 : k1, k2, rnd() < 0.1 ? null : rnd(), rnd() < 0.5]);
            ops[i] = rnd() < 0.15 ? -1 : 1;
          }
          // Two batches per epoch, so staged changes of one key meet across batches.
          const cut = Math.floor(n / 2);
          t.apply(rowsBatch(schema, rows.slice(0, cut)), ops.slice(0, cut));
          t.apply(rowsBatch(schema, rows.slice(cut)), ops.slice(cut));
          if (rnd() < 0.15) { t.abort(); continue; }
          rows.forEach((r, i) => ref.apply(r, ops[i]! > 0));
          const changes = t.commit(e);
          const evicted = ref.evict();
          expect(changes.slice(n).map((c) => [c.op, c.row]), `epoch ${e}: retention deletes`).toEqual(evicted.map((r) => ['delete', r]));
          expect(t.size, `epoch ${e}: size`).toBe(ref.map.size);
          expect(t.rows(), `epoch ${e}: rows in order`).toEqual([...ref.map.values()]);
        }
        // load() keeps the order given.
        const snapshot = t.rows();
        const u = createQueryTable('u', schema, [0, 1], retention);
        u.load(snapshot, 40);
        expect(u.rows()).toEqual(snapshot);
      }
    });
  }
});
