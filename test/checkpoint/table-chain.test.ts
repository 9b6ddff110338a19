/**
 * Incremental state files in the checkpoint log (ChainMeta): a view's table written whole at a base
 * epoch and as changes after it. Reading an epoch gives its base and every delta since, in order; a
 * corrupt or missing link makes that epoch unusable (reported, an earlier one is used), never a table
 * silently missing changes; pruning keeps the base of the oldest kept epoch. The table round trip
 * (commitEpoch's delta → splitChanges → replay) gives the table the changes were taken from.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import { afterEach, describe, expect, it } from 'vitest';
import { createQueryTable } from '../../connectors/table/query-table.ts';
import { splitChanges } from '../../connectors/table/table-changes.ts';
import { batchRows, rowsBatch, type Row } from '../../executor/rows.ts';
import { T, type Schema } from '../../planner/types.ts';
import { createCheckpointLog, type CheckpointLog } from '../../queries/checkpoint-log.ts';

const schema: Schema = { fields: [{ name: 'k', type: T.varchar, nullable: false }, { name: 'n', type: T.bigint, nullable: true }] };
const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

/** Writes epochs 1..changes.length through a table: whole at the epochs in `fullAt`, deltas otherwise. */
async function writeEpochs(log: CheckpointLog, changes: [Row, number][][], fullAt: Set<number>): Promise<Row[][]> {
  const table = createQueryTable('v', schema, [0]);
  const contents: Row[][] = [];
  let base = 0;
  for (let e = 1; e <= changes.length; e++) {
    const c = changes[e - 1]!;
    if (c.length) table.apply(rowsBatch(schema, c.map(([r]) => r)), Int8Array.from(c.map(([, op]) => op)));
    const committed = table.commitEpoch(e);
    if (fullAt.has(e)) base = e;
    const batches: Record<string, RecordBatch | null> = fullAt.has(e) ? { table: table.batch() } : committed.size ? { 'table-delta': committed.delta() } : {};
    await log.writeOffsets({ epoch: e, ranges: [], watermark: null, time: 0 });
    const sums = await log.writeState(e, { batches, meta: { chains: { table: { base } } } });
    await log.commit(e, sums);
    contents.push(table.rows());
  }
  return contents;
}

/** The table an epoch's chain gives back. */
function rebuild(chain: { base: RecordBatch | null; deltas: readonly { epoch: number; batch: RecordBatch }[] }): Row[] {
  const t = createQueryTable('r', schema, [0]);
  t.load(chain.base ? batchRows(chain.base, schema) : [], 0);
  for (const d of chain.deltas) { const { batch, ops } = splitChanges(schema, d.batch); t.replay(batch, ops, d.epoch); }
  return t.rows();
}

const CHANGES: [Row, number][][] = [
  [[['a', 1], 1], [['b', 1], 1]],
  [[['a', 2], 1], [['c', 1], 1]],
  [[['b', null], -1]],
  [],
  [[['b', 5], 1], [['a', 3], 1], [['a', null], -1]],
  [[['d', 1], 1]],
];

describe('checkpoint log: incremental table files', () => {
  it('reads each epoch as its base plus the deltas since, and falls back when a link is corrupt', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'chain-')); dirs.push(dir);
    const log = createCheckpointLog(dir);
    const contents = await writeEpochs(log, CHANGES, new Set([1, 4]));
    const latest = await log.latest();
    expect(latest.restored!.epoch).toBe(6);
    expect(latest.restored!.chains.table!.deltas.map((d) => d.epoch)).toEqual([5, 6]);
    expect(rebuild(latest.restored!.chains.table!)).toEqual(contents[5]);
    expect(contents[5]).toEqual([['c', 1], ['b', 5], ['d', 1]]); // b deleted and inserted again: last

    // Epoch 5's delta corrupt: epoch 6 (which builds on it) and 5 are unusable; 4 (a base) is used.
    writeFileSync(path.join(dir, 'state', '5', 'table-delta.arrow'), 'garbage');
    const after = await log.latest();
    expect(after.skipped.map((s) => s.epoch)).toEqual([6, 5]);
    expect(after.skipped[0]!.reason).toMatch(/epoch 5, which this one builds on: state file table-delta\.arrow is corrupt/);
    expect(after.restored!.epoch).toBe(4);
    expect(rebuild(after.restored!.chains.table!)).toEqual(contents[3]);
  });

  it('pruning keeps the base the oldest kept epoch builds on', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'chain-')); dirs.push(dir);
    const log = createCheckpointLog(dir);
    const contents = await writeEpochs(log, CHANGES, new Set([2]));
    await log.prune(2); // keeps 5 and 6, which build on 2: 2..6 stay
    const latest = await log.latest();
    expect(latest.restored!.chains.table!.deltas.map((d) => d.epoch)).toEqual([3, 5, 6]);
    expect(rebuild(latest.restored!.chains.table!)).toEqual(contents[5]);
    // Epoch 1 went; the base survived.
    await expect(import('node:fs/promises').then((f) => f.stat(path.join(dir, 'commits', '1')))).rejects.toThrow();
    await expect(import('node:fs/promises').then((f) => f.stat(path.join(dir, 'commits', '2')))).resolves.toBeTruthy();
  });
});
