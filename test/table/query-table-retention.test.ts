import { describe, expect, it } from 'vitest';
import { createQueryTable } from '../../connectors/table/query-table.ts';
import { rowsBatch } from '../../executor/rows.ts';
import { T, type Schema } from '../../planner/types.ts';

const schema: Schema = { fields: [{ name: 'window_end', type: T.timestamp, nullable: false }, { name: 'k', type: T.bigint, nullable: true }, { name: 'n', type: T.bigint, nullable: true }] };
const upserts = (rows: unknown[][]) => [rowsBatch(schema, rows), new Int8Array(rows.length).fill(1)] as const;

describe('query table retention', () => {
  it('keeps every row of a keyed view by default', () => {
    const t = createQueryTable('v', schema, [0, 1]);
    for (let w = 1; w <= 50; w++) { t.apply(...upserts([[w * 1000, 1, w], [w * 1000, 2, w]])); t.commit(w); }
    expect(t.size).toBe(100);
  });

  it("with 'retention.rows' drops the rows updated longest ago and tells subscribers", () => {
    const t = createQueryTable('v', schema, [0, 1], 4);
    const deleted: unknown[][] = [];
    t.subscribe((_e, changes) => { for (const c of changes) if (c.op === 'delete') deleted.push(c.row); });
    t.apply(...upserts([[1000, 1, 1], [1000, 2, 1], [2000, 1, 1]])); t.commit(1);
    t.apply(...upserts([[1000, 1, 2]])); t.commit(2); // window 1000, key 1 is now the newest change
    t.apply(...upserts([[3000, 1, 1], [3000, 2, 1]])); t.commit(3);
    expect(t.size).toBe(4);
    expect(deleted).toEqual([[1000, 2, 1]]);
    expect(t.rows().map((r) => `${r[0]}/${r[1]}`).sort()).toEqual(['1000/1', '2000/1', '3000/1', '3000/2']);
  });

  it('keeps the newest 10,000 rows of an append-only view unless told otherwise', () => {
    const t = createQueryTable('v', schema, null);
    t.apply(rowsBatch(schema, Array.from({ length: 10_050 }, (_, i) => [i, i, i])), null); t.commit(1);
    expect(t.size).toBe(10_000);
    expect(t.rows()[0]![1]).toBe(50);
  });
});
