/**
 * DISTINCT aggregates and GROUPING SETS / ROLLUP / CUBE against DuckDB computing the same SQL in batch.
 * Generated bids (some with a NULL bidder, so a NULL key and a rolled-up key must stay apart) arrive out
 * of order from three partitions. Each case runs in the in-memory graph harness (straight, and killed
 * and restored at a barrier), and a few run as continuous queries through POST /v1/sql on the real
 * broker, read back with pull queries. Every view must equal DuckDB's answer exactly.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
import type { Row } from '../../executor/rows.ts';
import { planQuery, runSteps, sortRows, type Step } from '../executor/harness.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';

const COLUMNS = `(auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)`;
const SOURCE = `CREATE SOURCE bids ${COLUMNS} WITH (connector = 'kafka', topic = 'bids', format = 'json');`;
const T0 = Date.parse('2024-01-01T12:00:00.000Z');

interface Bid { auction: number; bidder: number | null; price: number; ts: number; partition: number }

/** mulberry32, so a failure names its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => { a = (a + 0x6d2b79f5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}

/** Bids with unique event times arriving up to 3 s out of order (under the 5 s watermark delay), in random batches. */
function scenario(seed: number): { bids: Bid[]; arrival: Bid[]; steps: Step[] } {
  const r = rng(seed);
  const n = 300 + Math.floor(r() * 200);
  const bids: Bid[] = Array.from({ length: n }, (_, i) => ({
    auction: 1 + Math.floor(r() * 6), bidder: r() < 0.06 ? null : 1 + Math.floor(r() * 4), price: 1 + Math.floor(r() * 12), ts: T0 + i * 97, partition: Math.floor(r() * 3),
  }));
  const arrival = bids.map((b) => ({ b, at: b.ts + r() * 3000 })).sort((x, y) => x.at - y.at).map((x) => x.b);
  const steps: Step[] = [];
  for (let i = 0; i < arrival.length;) {
    const k = 1 + Math.floor(r() * 40);
    const rows: Row[] = arrival.slice(i, i + k).map((b) => [b.auction, b.bidder, b.price, b.ts]);
    steps.push({ kind: 'batch', partition: Math.floor(r() * 3), rows });
    if (r() < 0.4) steps.push({ kind: 'barrier' });
    i += k;
  }
  steps.push({ kind: 'barrier' });
  return { bids, arrival, steps };
}

interface Case {
  readonly name: string;
  /** The view, over source `bids`. */
  readonly view: string;
  /** The same answer in DuckDB over bids(auction, bidder, price, ts BIGINT epoch ms); timestamps as epoch ms. */
  readonly oracle: string;
  readonly times?: readonly string[];
  /** Also run through POST /v1/sql on the real broker. */
  readonly broker?: boolean;
}

const TUMBLE_5S = `WITH w AS (SELECT *, ts - ts % 5000 AS ws FROM bids)`;
const HOP_2S_6S = `WITH w AS (SELECT *, unnest(range(CAST(ceil((ts - 5999) / 2000.0) AS BIGINT), CAST(floor(ts / 2000.0) AS BIGINT) + 1)) * 2000 AS ws FROM bids)`;
const CUMULATE_2S_10S = `WITH w AS (SELECT *, ts - ts % 10000 AS ws, unnest(range(CAST(floor((ts % 10000) / 2000) AS BIGINT) + 1, 6)) * 2000 AS step FROM bids)`;

const CASES: Case[] = [
  {
    name: 'SUM/AVG/MIN/MAX/COUNT(DISTINCT) per bidder (updating aggregate)',
    view: `SELECT bidder, SUM(DISTINCT price) AS sp, AVG(DISTINCT price) AS ap, MIN(DISTINCT price) AS mn, MAX(DISTINCT price) AS mx, COUNT(DISTINCT auction) AS ca, SUM(price) AS total
      FROM bids GROUP BY bidder`,
    oracle: `SELECT bidder, SUM(DISTINCT price) AS sp, AVG(DISTINCT price) AS ap, MIN(DISTINCT price) AS mn, MAX(DISTINCT price) AS mx, COUNT(DISTINCT auction) AS ca, SUM(price) AS total
      FROM bids GROUP BY bidder`,
  },
  {
    name: 'SUM(DISTINCT) with FILTER in a tumbling window',
    view: `SELECT window_start, window_end, auction, SUM(DISTINCT price) AS sp, SUM(DISTINCT price) FILTER (WHERE price > 5) AS big
      FROM TUMBLE(bids, ts, INTERVAL '5' SECOND) GROUP BY window_start, window_end, auction`,
    oracle: `${TUMBLE_5S} SELECT ws AS window_start, ws + 5000 AS window_end, auction, SUM(DISTINCT price) AS sp, SUM(DISTINCT price) FILTER (WHERE price > 5) AS big
      FROM w GROUP BY ws, auction`,
    times: ['window_start', 'window_end'],
  },
  {
    name: 'AVG(DISTINCT) in a sliding window (panes combined)',
    view: `SELECT window_start, window_end, bidder, AVG(DISTINCT price) AS ap, SUM(DISTINCT auction) AS sa
      FROM HOP(bids, ts, INTERVAL '2' SECOND, INTERVAL '6' SECOND) GROUP BY window_start, window_end, bidder`,
    oracle: `${HOP_2S_6S} SELECT ws AS window_start, ws + 6000 AS window_end, bidder, AVG(DISTINCT price) AS ap, SUM(DISTINCT auction) AS sa
      FROM w GROUP BY ws, bidder`,
    times: ['window_start', 'window_end'],
  },
  {
    name: 'SUM(DISTINCT) in a cumulating window',
    view: `SELECT window_start, window_end, auction, SUM(DISTINCT price) AS sp
      FROM CUMULATE(bids, ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND) GROUP BY window_start, window_end, auction`,
    oracle: `${CUMULATE_2S_10S} SELECT ws AS window_start, ws + step AS window_end, auction, SUM(DISTINCT price) AS sp FROM w GROUP BY ws, step, auction`,
    times: ['window_start', 'window_end'],
  },
  {
    name: 'SUM(DISTINCT)/AVG(DISTINCT) in session windows (sessions merged)',
    view: `SELECT window_start, window_end, bidder, SUM(DISTINCT price) AS sp, AVG(DISTINCT price) AS ap, COUNT(*) AS n
      FROM SESSION(bids, ts, INTERVAL '600' MILLISECOND) GROUP BY window_start, window_end, bidder`,
    oracle: `WITH p AS (SELECT *, LAG(ts) OVER (PARTITION BY bidder ORDER BY ts) AS prev FROM bids),
      s AS (SELECT *, SUM(CASE WHEN ts - prev >= 600 THEN 1 ELSE 0 END) OVER (PARTITION BY bidder ORDER BY ts) AS sid FROM p)
      SELECT MIN(ts) AS window_start, MAX(ts) + 600 AS window_end, bidder, SUM(DISTINCT price) AS sp, AVG(DISTINCT price) AS ap, COUNT(*) AS n
      FROM s GROUP BY bidder, sid`,
    times: ['window_start', 'window_end'],
  },
  {
    name: 'SUM(DISTINCT)/AVG(DISTINCT) over a changelog (an aggregate over an aggregate: values leave at count 0)',
    view: `SELECT bidder, SUM(DISTINCT num) AS s, AVG(DISTINCT num) AS a, COUNT(*) AS auctions
      FROM (SELECT auction, bidder, COUNT(*) AS num FROM bids GROUP BY auction, bidder) GROUP BY bidder`,
    oracle: `SELECT bidder, SUM(DISTINCT num) AS s, AVG(DISTINCT num) AS a, COUNT(*) AS auctions
      FROM (SELECT auction, bidder, COUNT(*) AS num FROM bids GROUP BY auction, bidder) GROUP BY bidder`,
    broker: true,
  },
  {
    name: 'GROUPING SETS with GROUPING()',
    view: `SELECT auction, bidder, COUNT(*) AS c, SUM(price) AS s, GROUPING(auction) AS ga, GROUPING(bidder) AS gb
      FROM bids GROUP BY GROUPING SETS ((auction), (bidder), ())`,
    oracle: `SELECT auction, bidder, COUNT(*) AS c, SUM(price) AS s, GROUPING(auction) AS ga, GROUPING(bidder) AS gb
      FROM bids GROUP BY GROUPING SETS ((auction), (bidder), ())`,
  },
  {
    name: 'CUBE with GROUPING_ID and SUM(DISTINCT)',
    view: `SELECT auction, bidder, COUNT(*) AS c, SUM(DISTINCT price) AS sp, GROUPING_ID(auction, bidder) AS gid
      FROM bids GROUP BY CUBE (auction, bidder)`,
    oracle: `SELECT auction, bidder, COUNT(*) AS c, SUM(DISTINCT price) AS sp, GROUPING_ID(auction, bidder) AS gid
      FROM bids GROUP BY CUBE (auction, bidder)`,
    broker: true,
  },
  {
    name: "Flink's window GROUPING SETS: TUMBLE, GROUP BY window_start, window_end, GROUPING SETS ((auction), ())",
    view: `SELECT window_start, window_end, auction, SUM(price) AS total, COUNT(*) AS n
      FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '5' SECOND))
      GROUP BY window_start, window_end, GROUPING SETS ((auction), ())`,
    oracle: `${TUMBLE_5S} SELECT ws AS window_start, ws + 5000 AS window_end, auction, SUM(price) AS total, COUNT(*) AS n
      FROM w GROUP BY ws, GROUPING SETS ((auction), ())`,
    times: ['window_start', 'window_end'],
    broker: true,
  },
  {
    name: 'window ROLLUP over HOP',
    view: `SELECT window_start, window_end, auction, bidder, SUM(price) AS total, MAX(price) AS hi
      FROM TABLE(HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '6' SECOND))
      GROUP BY window_start, window_end, ROLLUP (auction, bidder)`,
    oracle: `${HOP_2S_6S} SELECT ws AS window_start, ws + 6000 AS window_end, auction, bidder, SUM(price) AS total, MAX(price) AS hi
      FROM w GROUP BY ws, ROLLUP (auction, bidder)`,
    times: ['window_start', 'window_end'],
  },
  {
    name: 'window CUBE over CUMULATE, EMIT ON WINDOW CLOSE (append-only)',
    view: `SELECT window_start, window_end, auction, bidder, COUNT(*) AS n, GROUPING(auction, bidder) AS g
      FROM TABLE(CUMULATE(TABLE bids, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
      GROUP BY window_start, window_end, CUBE (auction, bidder) EMIT ON WINDOW CLOSE`,
    oracle: `${CUMULATE_2S_10S} SELECT ws AS window_start, ws + step AS window_end, auction, bidder, COUNT(*) AS n, GROUPING(auction, bidder) AS g
      FROM w GROUP BY ws, step, CUBE (auction, bidder)`,
    times: ['window_start', 'window_end'],
  },
  {
    name: 'ROLLUP over a changelog (expand keyed by the input key and the grouping id)',
    view: `SELECT num, bidder, COUNT(*) AS pairs, SUM(DISTINCT auction) AS sa
      FROM (SELECT auction, bidder, COUNT(*) AS num FROM bids GROUP BY auction, bidder) GROUP BY ROLLUP (num, bidder)`,
    oracle: `SELECT num, bidder, COUNT(*) AS pairs, SUM(DISTINCT auction) AS sa
      FROM (SELECT auction, bidder, COUNT(*) AS num FROM bids GROUP BY auction, bidder) GROUP BY ROLLUP (num, bidder)`,
  },
];

let db: DuckDBInstance;
let con: DuckDBConnection;

beforeAll(async () => {
  db = await DuckDBInstance.create(':memory:');
  con = await db.connect();
});
afterAll(() => { con?.closeSync(); db?.closeSync(); });

async function oracle(c: Case, bids: readonly Bid[]): Promise<Record<string, unknown>[]> {
  await con.run('CREATE OR REPLACE TABLE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts BIGINT)');
  for (let i = 0; i < bids.length; i += 500) {
    await con.run(`INSERT INTO bids VALUES ${bids.slice(i, i + 500).map((b) => `(${b.auction}, ${b.bidder ?? 'NULL'}, ${b.price}, ${b.ts})`).join(', ')}`);
  }
  const reader = await con.runAndReadAll(c.oracle);
  return sortRows(reader.getRowObjectsJS().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]))));
}

/** Our rows with timestamps as epoch ms, in a canonical order. */
function ours(rows: readonly Record<string, unknown>[], times: readonly string[] = []): Record<string, unknown>[] {
  return sortRows(rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, times.includes(k) && v !== null ? Date.parse(String(v)) : v]))));
}

describe('DISTINCT aggregates and grouping sets = DuckDB in batch (in-memory graph)', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const q = planQuery(`${SOURCE} CREATE MATERIALIZED VIEW v AS ${c.view};`);
      for (const seed of [1, 2]) {
        const { bids, steps } = scenario(seed * 104729);
        const want = await oracle(c, bids);
        expect(want.length, `seed ${seed}: the oracle has rows`).toBeGreaterThan(0);
        const pick = (r: ReturnType<typeof runSteps>) => (q.emitOnClose ? r.appended : r.table);
        const straight = runSteps(q, steps);
        expect(straight.lateRows, `seed ${seed}`).toBe(0);
        expect(ours(pick(straight), c.times), `seed ${seed}, straight`).toEqual(want);
        const barriers = steps.filter((s) => s.kind === 'barrier').length;
        const at = (seed * 7) % barriers;
        const killed = runSteps(q, steps, { restoreAtBarrier: at, crashAfter: 2 });
        expect(killed.restored).toBe(true);
        expect(ours(pick(killed), c.times), `seed ${seed}, killed after barrier ${at}`).toEqual(want);
      }
    });
  }
});

describe('DISTINCT aggregates and grouping sets = DuckDB in batch (POST /v1/sql, real broker)', () => {
  let srv: TestService;
  afterAll(async () => { await srv?.close(); });

  it('continuous queries over produced bids equal DuckDB', async () => {
    srv = await startTestService();
    const topic = uniqueTopic('grouping-bids');
    await createTopic(brokerList(), topic, 3);
    const { bids, arrival } = scenario(424242);
    const broker = CASES.filter((c) => c.broker);
    // The bids are in the topic before the queries start: every partition has unread data at start, so
    // each holds the watermark back until its first batch arrives (an empty one would not).
    await produce(brokerList(), topic, arrival.map((b) => ({ partition: b.partition, value: JSON.stringify({ auction: b.auction, bidder: b.bidder, price: b.price, ts: b.ts }) })));
    const ddl = [
      `CREATE SOURCE bids ${COLUMNS} WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest');`,
      ...broker.map((c, i) => `CREATE MATERIALIZED VIEW g${i} WITH ('checkpoint.interval' = '200 ms') AS ${c.view};`),
    ].join('\n');
    const r = await srv.sql(ddl);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    for (const [i, c] of broker.entries()) {
      const want = await oracle(c, bids);
      let got: Record<string, unknown>[] = [];
      await waitFor(async () => {
        const res = await srv.sql(`SELECT * FROM g${i}`);
        got = ours(res.body.results?.[0]?.rows ?? [], c.times);
        return JSON.stringify(got) === JSON.stringify(want);
      }, 30_000, `view g${i} (${c.name}) to equal DuckDB`).catch(() => undefined);
      expect(got, c.name).toEqual(want);
    }
    // A pull query with ROLLUP and SUM(DISTINCT) over the first view (its rows are final by now).
    const first = broker[0]!;
    const pull = await srv.sql(`SELECT bidder, SUM(auctions) AS n, SUM(DISTINCT s) AS ds, GROUPING(bidder) AS g FROM g0 GROUP BY ROLLUP (bidder)`);
    expect(pull.status, JSON.stringify(pull.body)).toBe(200);
    const want = await oracle({ ...first, oracle: `SELECT bidder, SUM(auctions) AS n, SUM(DISTINCT s) AS ds, GROUPING(bidder) AS g FROM (${first.oracle}) GROUP BY ROLLUP (bidder)` }, bids);
    expect(ours(pull.body.results[0].rows)).toEqual(want);
  }, 90_000);
});
