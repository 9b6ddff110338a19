import { describe, expect, it } from 'vitest';
import { runQuery } from '../helpers/run-query.ts';

const BIDS = `CREATE SOURCE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
WITH (connector = 'kafka', topic = 'bids', format = 'json')`;

const T0 = Date.parse('2024-01-01T12:00:00.000Z');
const at = (s: number) => T0 + s * 1000;
const iso = (s: number) => new Date(at(s)).toISOString();
const sortRows = (rows: Record<string, unknown>[]) => [...rows].sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);

describe('tumbling window aggregate', () => {
  const VIEW = `CREATE MATERIALIZED VIEW bids_per_minute AS
    SELECT window_start, window_end, auction, COUNT(*) AS bids, SUM(price) AS volume, MIN(price) AS low, MAX(price) AS high
    FROM TUMBLE(bids, ts, INTERVAL '1' MINUTE) WHERE price > 0 GROUP BY window_start, window_end, auction`;

  it('counts per window and key, drops a late row', () => {
    const q = runQuery(BIDS, VIEW);
    q.feed([[1, 10, 100, at(1)], [1, 11, 300, at(30)], [2, 12, 50, at(59)], [1, 10, -5, at(10)]]);
    q.feed([[1, 10, 200, at(70)], [2, 12, 70, at(125)]]); // watermark → 120 s: the first minute closes
    q.feed([[1, 13, 999, at(20)]]); // late: its window [0, 60) closed
    q.barrier();
    expect(sortRows(q.table())).toEqual(sortRows([
      { window_start: iso(0), window_end: iso(60), auction: 1, bids: 2, volume: 400, low: 100, high: 300 },
      { window_start: iso(0), window_end: iso(60), auction: 2, bids: 1, volume: 50, low: 50, high: 50 },
      { window_start: iso(60), window_end: iso(120), auction: 1, bids: 1, volume: 200, low: 200, high: 200 },
      { window_start: iso(120), window_end: iso(180), auction: 2, bids: 1, volume: 70, low: 70, high: 70 },
    ]));
    expect(q.late.reduce((s, l) => s + l.rows.length, 0)).toBe(1);
    // The watermark reached 120 s: [60, 120) closed and its state was freed; only [120, 180) is held.
    expect(q.pipeline.metrics().reduce((s, m) => s + m.stateRows, 0)).toBe(1);
  });

  it('EMIT ON WINDOW CLOSE emits each window once, when the watermark passes its end', () => {
    const q = runQuery(BIDS, VIEW + ' EMIT ON WINDOW CLOSE');
    q.feed([[1, 10, 100, at(1)], [1, 11, 300, at(30)]]);
    q.barrier();
    expect(q.appended).toEqual([]);
    q.feed([[1, 10, 200, at(66)]]); // watermark 61 s
    expect(q.appended).toEqual([{ window_start: iso(0), window_end: iso(60), auction: 1, bids: 2, volume: 400, low: 100, high: 300 }]);
    q.end();
    expect(q.appended).toHaveLength(2);
  });
});
