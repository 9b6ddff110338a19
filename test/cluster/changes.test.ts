/**
 * A keyed view's changes topic records (connectors/kafka/changes.ts), without a broker: one record per
 * changed key per epoch (the last change wins), keyed and placed as an exchange places the key, values
 * of every column type back intact, deletes carrying their row, watermarks per upstream task.
 */
import { describe, expect, it } from 'vitest';
import { ChangesReader, ChangesWriter } from '../../connectors/kafka/changes.ts';
import { exchangeKeyBytes } from '../../connectors/kafka/exchange.ts';
import { partitionForKey } from '../../connectors/kafka/partitioner.ts';
import { batchVectors } from '../../executor/arrow.ts';
import { batchRows, rowsBatch, type Row } from '../../executor/rows.ts';
import { T, type Schema } from '../../planner/types.ts';

const SCHEMA: Schema = { fields: [
  { name: 'k', type: T.varchar, nullable: false }, { name: 'g', type: T.bigint, nullable: true },
  { name: 'n', type: T.bigint, nullable: true }, { name: 'avg', type: T.double, nullable: true },
  { name: 'ok', type: T.boolean, nullable: true }, { name: 'ts', type: T.timestamp, nullable: true },
] } as Schema;
const KEY = [0, 1];
const P = 4;

/** The records of one epoch as one packed-like fetch per partition, read by a reader of every partition. */
function readBack(w: ChangesWriter, r: ChangesReader): { rows: string[]; ops: number[]; partitions: Map<string, number> } {
  const rows: string[] = []; const ops: number[] = [];
  const partitions = new Map<string, number>();
  for (const req of w.take()) {
    for (let p = 0; p < P; p++) {
      const ms = req.messages.filter((m) => m.partition === p);
      for (const m of ms) if (m.value[0] !== 3) partitions.set(JSON.stringify(JSON.parse(m.value.subarray(1).toString()).slice(0, 2)), p);
      const got = r.acceptValues(p, ms.map((m) => m.value));
      if (got.batch) { rows.push(...batchRows(got.batch, SCHEMA).map((x) => JSON.stringify(x))); ops.push(...got.ops); }
    }
  }
  return { rows, ops, partitions };
}

describe('changes topic records', () => {
  it('one record per key per epoch, last change wins, every type intact, placed by the exchange key', () => {
    const w = new ChangesWriter({ topic: 't', schema: SCHEMA, key: KEY, partitions: P });
    const r = new ChangesReader({ schema: SCHEMA, upstreamTasks: 1, partitions: [0, 1, 2, 3] });
    const rows: Row[] = [
      ['a', 1, 10, 1.5, true, 1_700_000_000_123],
      ['b', null, 2, null, false, null],
      ['a', 1, 11, 2.25, null, 1_700_000_000_999], // replaces the first
      ['c', 7, 1, -0.5, true, 0],
    ];
    const b = rowsBatch(SCHEMA, rows);
    w.append(b, Int8Array.from([1, 1, 1, 1]));
    // c deleted in a later batch of the same epoch: one delete record, carrying the row.
    w.append(rowsBatch(SCHEMA, [rows[3]!]), Int8Array.from([-1]));
    w.watermark('v#0', 1_700_000_000_000);
    const got = readBack(w, r);
    const expected = [rows[2]!, rows[1]!, rows[3]!].map((x) => JSON.stringify(batchRows(rowsBatch(SCHEMA, [x]), SCHEMA)[0]));
    expect(got.rows.sort()).toEqual(expected.sort());
    expect(got.ops.filter((o) => o < 0)).toHaveLength(1);
    // Each key in the partition an exchange keyed by (k, g) would put it in.
    const cols = batchVectors(b, SCHEMA);
    for (const i of [1, 2, 3]) {
      const want = partitionForKey(exchangeKeyBytes(KEY.map((k) => cols[k]!), i), P);
      expect(got.partitions.get(JSON.stringify(rows[i]!.slice(0, 2)))).toBe(want);
    }
    expect(r.watermark()).toBe(1_700_000_000_000);
    // The next epoch starts empty.
    expect(w.take()).toEqual([]);
  });

  it('the reader waits for every upstream task; "no event time yet" does not hold it', () => {
    const w0 = new ChangesWriter({ topic: 't', schema: SCHEMA, key: KEY, partitions: 1 });
    const w1 = new ChangesWriter({ topic: 't', schema: SCHEMA, key: KEY, partitions: 1 });
    const r = new ChangesReader({ schema: SCHEMA, upstreamTasks: 2, partitions: [0] });
    w0.watermark('v#0', 5000);
    r.acceptValues(0, w0.take().flatMap((x) => x.messages.map((m) => m.value)));
    expect(r.watermark()).toBe(-Infinity);
    w1.watermark('v#1', -Infinity);
    r.acceptValues(0, w1.take().flatMap((x) => x.messages.map((m) => m.value)));
    expect(r.watermark()).toBe(5000);
    const st = r.marks.state();
    const r2 = new ChangesReader({ schema: SCHEMA, upstreamTasks: 2, partitions: [0] });
    r2.marks.restore(JSON.parse(JSON.stringify(st)));
    expect(r2.watermark()).toBe(5000);
  });
});
