/**
 * queries/view-input.ts with a real QueryTable: each committed epoch is one batch of changes followed
 * by the upstream's watermark when it advanced (also for an epoch without changes); the catch-up on
 * attaching ends with the table's watermark; a restored mirror gets only the difference.
 */
import { describe, expect, it } from 'vitest';
import { createQueryTable } from '../../connectors/table/query-table.ts';
import { batchRows, rowsBatch, type Row } from '../../executor/rows.ts';
import { T, type Schema } from '../../planner/types.ts';
import { createViewInput } from '../../queries/view-input.ts';

const S: Schema = { fields: [{ name: 'k', type: T.varchar, nullable: false }, { name: 'n', type: T.bigint, nullable: true }] };

function harness() {
  const table = createQueryTable('up', S, [0]);
  const got: (string | number)[] = [];
  const queue: (() => void)[] = [];
  const view = createViewInput(0, 'up', S, [0], table);
  const attach = () => view.attach((t) => queue.push(t), (b, ops) => batchRows(b, S).forEach((r, i) => got.push(`${ops[i]! > 0 ? '+' : '-'}${String(r[0])}=${String(r[1])}`)), (w) => got.push(w));
  const run = () => { for (const t of queue.splice(0)) t(); };
  const write = (rows: Row[], ops: number[], epoch: number, wm?: number) => { if (rows.length) table.apply(rowsBatch(S, rows), Int8Array.from(ops)); table.commit(epoch, wm); };
  return { table, got, view, attach, run, write };
}

describe('view input', () => {
  it('delivers each epoch\'s changes, then the upstream watermark when it advanced', () => {
    const h = harness();
    h.attach();
    h.run();
    h.write([['a', 1]], [1], 1, 1000); h.run();
    h.write([], [], 2, 2000); h.run(); // no change: the watermark alone
    h.write([['a', 1]], [-1], 3, 2000); h.run(); // a change, the watermark unchanged
    h.write([], [], 4); h.run(); // a query without a watermark: nothing
    expect(h.got).toEqual(['+a=1', 1000, 2000, '-a=1']);
    expect(h.view.watermark).toBe(2000);
  });

  it('catches up by the difference and the table\'s watermark, whatever the restored mirror', () => {
    const h = harness();
    h.write([['a', 1], ['b', 2]], [1, 1], 1, 5000);
    h.view.restore(rowsBatch(S, [['a', 1], ['c', 3]]));
    h.attach();
    h.run();
    expect(h.got).toEqual(['-c=3', '+b=2', 5000]);
    // Restored older upstream (its table loaded at an earlier epoch and watermark): no watermark goes back.
    h.table.load([['a', 1]], 1, 3000);
    h.write([['d', 4]], [1], 2, 4000);
    h.run();
    expect(h.got.slice(3)).toEqual(['+d=4']);
    expect(h.view.watermark).toBe(5000);
  });
});
