/**
 * The same tumbling, hopping and session aggregation written in the RisingWave, Flink and Spark forms
 * plans to the same physical plan text, and gives the same rows on the same input.
 */
import { describe, expect, it } from 'vitest';
import { createCatalog, planRequest, printPhysical } from '../../planner/index.ts';
import { runQuery } from '../helpers/run-query.ts';

const BIDS = `CREATE SOURCE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
WITH (connector = 'kafka', topic = 'bids', format = 'json')`;

/** Spark has no window_start/window_end columns: it selects the window struct's fields under those names. */
const SPARK_SELECT = 'window.start AS window_start, window.end AS window_end';

const FORMS: Record<string, Record<'risingwave' | 'flink' | 'spark', string>> = {
  tumble: {
    risingwave: `SELECT window_start, window_end, auction, COUNT(*) AS n, SUM(price) AS volume, MAX(price) AS high
      FROM TUMBLE(bids, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, auction`,
    flink: `SELECT window_start, window_end, auction, COUNT(*) AS n, SUM(price) AS volume, MAX(price) AS high
      FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' MINUTES)) GROUP BY window_start, window_end, auction`,
    spark: `SELECT ${SPARK_SELECT}, auction, COUNT(*) AS n, SUM(price) AS volume, MAX(price) AS high
      FROM bids GROUP BY window(ts, '1 minute'), auction`,
  },
  hop: {
    risingwave: `SELECT window_start, window_end, auction, COUNT(*) AS n, SUM(price) AS volume, MAX(price) AS high
      FROM HOP(bids, ts, INTERVAL '30' SECOND, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, auction`,
    flink: `SELECT window_start, window_end, auction, COUNT(*) AS n, SUM(price) AS volume, MAX(price) AS high
      FROM TABLE(HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '30' SECONDS, INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, auction`,
    spark: `SELECT ${SPARK_SELECT}, auction, COUNT(*) AS n, SUM(price) AS volume, MAX(price) AS high
      FROM bids GROUP BY window(ts, '1 minute', '30 seconds'), auction`,
  },
  session: {
    risingwave: `SELECT window_start, window_end, auction, COUNT(*) AS n, SUM(price) AS volume, MAX(price) AS high
      FROM SESSION(bids, ts, INTERVAL '20' SECOND) GROUP BY window_start, window_end, auction`,
    flink: `SELECT window_start, window_end, auction, COUNT(*) AS n, SUM(price) AS volume, MAX(price) AS high
      FROM TABLE(SESSION(TABLE bids PARTITION BY auction, DESCRIPTOR(ts), INTERVAL '20' SECOND)) GROUP BY window_start, window_end, auction`,
    spark: `SELECT ${SPARK_SELECT}, auction, COUNT(*) AS n, SUM(price) AS volume, MAX(price) AS high
      FROM bids GROUP BY session_window(ts, '20 seconds'), auction`,
  },
};

const OPERATOR = { tumble: 'TumbleAggregate', hop: 'HopAggregate', session: 'SessionAggregate' } as const;

function physical(select: string, emit = ''): string {
  const planned = planRequest(`${BIDS};\nCREATE MATERIALIZED VIEW v AS ${select} ${emit}`, createCatalog());
  const p = planned[1]!.planned;
  if (p.kind !== 'create_materialized_view') throw new Error(`planned ${p.kind}`);
  return printPhysical(p.physical);
}

const T0 = Date.parse('2024-01-01T12:00:00.000Z');
const at = (s: number) => T0 + s * 1000;
/** Events over three minutes for three auctions, out of order within the watermark delay, one late. */
const BATCHES: (number | string)[][][] = [
  [[1, 10, 100, at(1)], [2, 11, 40, at(3)], [1, 12, 300, at(14)], [3, 13, 5, at(2)]],
  [[1, 10, 50, at(12)], [2, 14, 70, at(31)], [1, 15, 20, at(45)], [3, 13, 9, at(50)]],
  [[2, 11, 60, at(70)], [1, 10, 80, at(66)], [3, 16, 1, at(95)], [1, 12, 10, at(121)]],
  [[2, 10, 999, at(4)]], // late for every form: the watermark is past the windows it falls in
  [[3, 13, 7, at(150)], [2, 11, 33, at(170)], [1, 17, 12, at(178)]],
];
const sortRows = (rows: Record<string, unknown>[]) => [...rows].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

function rows(select: string, emit: string): { table: Record<string, unknown>[]; appended: Record<string, unknown>[]; late: number } {
  const q = runQuery(BIDS, `CREATE MATERIALIZED VIEW v AS ${select} ${emit}`);
  for (const b of BATCHES) { q.feed(b); q.barrier(); }
  q.end();
  return { table: sortRows(q.table()), appended: sortRows(q.appended), late: q.late.reduce((s, l) => s + l.rows.length, 0) };
}

describe('one window, three SQL families', () => {
  for (const [kind, forms] of Object.entries(FORMS) as [keyof typeof OPERATOR, (typeof FORMS)[string]][]) {
    for (const emit of ['', 'EMIT ON WINDOW CLOSE']) {
      const label = `${kind}${emit ? ' EMIT ON WINDOW CLOSE' : ''}`;
      it(`${label}: RisingWave, Flink and Spark forms give the same physical plan`, () => {
        const rw = physical(forms.risingwave, emit);
        expect(rw).toContain(OPERATOR[kind]);
        expect(physical(forms.flink, emit)).toBe(rw);
        expect(physical(forms.spark, emit)).toBe(rw);
      });
      it(`${label}: the three forms give the same rows on the same input`, () => {
        const rw = rows(forms.risingwave, emit);
        // The input really produces windows and a late row, so equality is not vacuous.
        expect(rw.table.length).toBeGreaterThan(3);
        expect(rw.late).toBeGreaterThan(0);
        expect(rows(forms.flink, emit)).toEqual(rw);
        expect(rows(forms.spark, emit)).toEqual(rw);
      });
    }
  }

  it('a bare Spark `window` column becomes window_start, window_end: same plan as selecting its fields', () => {
    const bare = physical(`SELECT window, auction, COUNT(*) AS n, SUM(price) AS volume, MAX(price) AS high
      FROM bids GROUP BY window(ts, '1 minute'), auction`);
    expect(bare).toBe(physical(FORMS.tumble.spark));
  });

  it('the tumbling forms compute the expected per-minute counts', () => {
    const t = rows(FORMS.tumble.risingwave, '').table;
    const iso = (s: number) => new Date(at(s)).toISOString();
    const counts = Object.fromEntries(t.map((r) => [`${r.window_start}|${r.auction}`, r.n]));
    // Auction 1 in the first minute: t=1, 14, 12, 45 → 4 bids; the late bid of auction 2 at t=4 is dropped.
    expect(counts[`${iso(0)}|1`]).toBe(4);
    expect(counts[`${iso(0)}|2`]).toBe(2);
    expect(counts[`${iso(60)}|1`]).toBe(1);
  });
});
