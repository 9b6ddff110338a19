/**
 * The multi-stage queries against a real SQL engine (issue 13's oracle suite): Nexmark q5 with window
 * Top-N, q18 (deduplication, last row), the first row per key, q19 (Top-N), an aggregate over an
 * aggregate and a CTE chain with a filter over a changelog — each run as a continuous query over
 * generated bids arriving out of order from three partitions in random batches (straight, and killed
 * and restored at a random barrier), and computed in batch by DuckDB over the same bids. The view
 * must equal DuckDB's answer exactly.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Row } from '../../executor/rows.ts';
import { planQuery, runSteps, sortRows, type Step } from '../executor/harness.ts';

const SOURCE = `CREATE SOURCE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH (connector = 'kafka', topic = 'bids', format = 'json');`;
const T0 = Date.parse('2024-01-01T12:00:00.000Z');

interface Bid { auction: number; bidder: number; price: number; ts: number }

/** A small seeded generator (mulberry32), so a failure names its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => { a = (a + 0x6d2b79f5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}

/** Bids with unique event times, arriving up to 3 s out of order (under the 5 s watermark delay: none late). */
function scenario(seed: number): { bids: Bid[]; steps: Step[] } {
  const r = rng(seed);
  const n = 400 + Math.floor(r() * 300);
  const bids: Bid[] = Array.from({ length: n }, (_, i) => ({
    auction: 1 + Math.floor(r() * 8), bidder: 1 + Math.floor(r() * 5), price: 1 + Math.floor(r() * 40), ts: T0 + i * 97,
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
  return { bids, steps };
}

interface Case {
  readonly name: string;
  /** The view, over source `bids`. */
  readonly view: string;
  /** The same answer in DuckDB over table bids(auction, bidder, price, ts BIGINT epoch ms); timestamps as epoch ms. */
  readonly oracle: string;
  /** Output columns that are timestamps (compared as epoch ms). */
  readonly times?: readonly string[];
}

const CASES: Case[] = [
  {
    name: 'Nexmark q5: window Top-N (RANK) over sliding counts',
    view: `SELECT auction, num, window_start, window_end FROM (
      SELECT *, RANK() OVER (PARTITION BY window_start, window_end ORDER BY num DESC) AS rk
      FROM (SELECT auction, COUNT(*) AS num, window_start, window_end FROM HOP(bids, ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND)
            GROUP BY auction, window_start, window_end)) WHERE rk <= 1`,
    oracle: `WITH w AS (SELECT auction, unnest(range(CAST(ceil((ts - 9999) / 2000.0) AS BIGINT), CAST(floor(ts / 2000.0) AS BIGINT) + 1)) * 2000 AS ws FROM bids),
      c AS (SELECT auction, COUNT(*) AS num, ws AS window_start, ws + 10000 AS window_end FROM w GROUP BY auction, ws)
      SELECT auction, num, window_start, window_end FROM (SELECT *, RANK() OVER (PARTITION BY window_start ORDER BY num DESC) AS rk FROM c) WHERE rk <= 1`,
    times: ['window_start', 'window_end'],
  },
  {
    name: 'Nexmark q18: the last bid of each bidder on each auction',
    view: `SELECT auction, bidder, price, ts FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY ts DESC) AS rn FROM bids) WHERE rn = 1`,
    oracle: `SELECT auction, bidder, price, ts FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY ts DESC) AS rn FROM bids) WHERE rn = 1`,
    times: ['ts'],
  },
  {
    name: 'the first bid on each auction',
    view: `SELECT auction, bidder, price, ts FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY ts) AS rn FROM bids) WHERE rn = 1`,
    oracle: `SELECT auction, bidder, price, ts FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY ts) AS rn FROM bids) WHERE rn = 1`,
    times: ['ts'],
  },
  {
    name: 'Nexmark q19: the 3 highest bids of each auction (ties broken by the other columns)',
    view: `SELECT auction, bidder, price, ts, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rn FROM bids) WHERE rn <= 3`,
    oracle: `SELECT auction, bidder, price, ts, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC, auction, bidder, price, ts) AS rn FROM bids) WHERE rn <= 3`,
    times: ['ts'],
  },
  {
    name: 'an aggregate over an aggregate (retracting)',
    view: `SELECT num, COUNT(*) AS auctions, MIN(auction) AS lowest FROM (SELECT auction, COUNT(*) AS num FROM bids GROUP BY auction) GROUP BY num`,
    oracle: `SELECT num, COUNT(*) AS auctions, MIN(auction) AS lowest FROM (SELECT auction, COUNT(*) AS num FROM bids GROUP BY auction) GROUP BY num`,
  },
  {
    name: 'a CTE chain: a filter, an aggregate, a filter over its changelog',
    view: `WITH cheap AS (SELECT * FROM bids WHERE price < 25), per AS (SELECT bidder, COUNT(*) AS n, MAX(price) AS hi FROM cheap GROUP BY bidder)
      SELECT bidder, n, hi FROM per WHERE n > 20`,
    oracle: `WITH cheap AS (SELECT * FROM bids WHERE price < 25), per AS (SELECT bidder, COUNT(*) AS n, MAX(price) AS hi FROM cheap GROUP BY bidder)
      SELECT bidder, n, hi FROM per WHERE n > 20`,
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
    await con.run(`INSERT INTO bids VALUES ${bids.slice(i, i + 500).map((b) => `(${b.auction}, ${b.bidder}, ${b.price}, ${b.ts})`).join(', ')}`);
  }
  const reader = await con.runAndReadAll(c.oracle);
  return reader.getRowObjectsJS().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));
}

/** Our rows with timestamps as epoch ms, in a canonical order. */
function ours(rows: readonly Record<string, unknown>[], times: readonly string[] = []): Record<string, unknown>[] {
  return sortRows(rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, times.includes(k) ? Date.parse(String(v)) : v]))));
}

describe('multi-stage queries = DuckDB in batch', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const q = planQuery(`${SOURCE} CREATE MATERIALIZED VIEW v AS ${c.view};`);
      for (const seed of [1, 2, 3]) {
        const { bids, steps } = scenario(seed * 7919);
        const want = sortRows(await oracle(c, bids));
        expect(want.length, `seed ${seed}: the oracle has rows`).toBeGreaterThan(0);
        const pick = (r: ReturnType<typeof runSteps>) => (q.keyColumns === null ? r.appended : r.table);
        const straight = runSteps(q, steps);
        expect(straight.lateRows, `seed ${seed}`).toBe(0);
        expect(ours(pick(straight), c.times), `seed ${seed}, straight`).toEqual(want);
        const barriers = steps.filter((s) => s.kind === 'barrier').length;
        const at = (seed * 5) % barriers;
        const killed = runSteps(q, steps, { restoreAtBarrier: at, crashAfter: 2 });
        expect(killed.restored).toBe(true);
        expect(ours(pick(killed), c.times), `seed ${seed}, killed after barrier ${at}`).toEqual(want);
      }
    });
  }
});
