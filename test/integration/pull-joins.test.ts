/**
 * Pull queries over several materialized views through POST /v1/sql on the real broker (issue 13): a
 * pull LEFT JOIN of two views and a pull UNION ALL with ORDER BY / LIMIT, each equal to DuckDB
 * computing the same SELECT over the same rows; EXPLAIN of such a query prints its graph; what a pull
 * query still cannot run is a 400 with line:column. (test/queries/pull-graph.test.ts covers every join
 * type in memory.)
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';

const BIDS = Array.from({ length: 300 }, (_, i) => ({ auction: (i * 7) % 23, bidder: i % 11 === 0 ? null : (i * 13) % 19, price: (i * 37) % 101 }));
const PEOPLE = Array.from({ length: 14 }, (_, i) => ({ id: i + 3, name: `n${i % 5}`, city: i % 4 === 0 ? null : `c${i % 3}` }));
const VIEWS = {
  a: 'SELECT auction, COUNT(*) AS n, MAX(price) AS top FROM bids GROUP BY auction',
  b: 'SELECT auction, bidder, price FROM bids',
  p: 'SELECT id, name, city FROM people',
};

describe('pull queries over several views, on the real broker', () => {
  let srv: TestService;
  let db: DuckDBInstance;
  let con: DuckDBConnection;

  beforeAll(async () => {
    db = await DuckDBInstance.create(':memory:');
    con = await db.connect();
    await con.run('CREATE TABLE bids (auction BIGINT, bidder BIGINT, price BIGINT)');
    await con.run(`INSERT INTO bids VALUES ${BIDS.map((b) => `(${b.auction}, ${b.bidder ?? 'NULL'}, ${b.price})`).join(', ')}`);
    await con.run('CREATE TABLE people (id BIGINT, name VARCHAR, city VARCHAR)');
    await con.run(`INSERT INTO people VALUES ${PEOPLE.map((p) => `(${p.id}, '${p.name}', ${p.city === null ? 'NULL' : `'${p.city}'`})`).join(', ')}`);
    for (const [name, sql] of Object.entries(VIEWS)) await con.run(`CREATE VIEW ${name} AS ${sql}`);

    srv = await startTestService();
    const bids = uniqueTopic('pull-bids');
    const people = uniqueTopic('pull-people');
    await createTopic(brokerList(), bids, 1);
    await createTopic(brokerList(), people, 1);
    await produce(brokerList(), bids, BIDS.map((b) => ({ value: JSON.stringify(b) })));
    await produce(brokerList(), people, PEOPLE.map((p) => ({ value: JSON.stringify(p) })));
    const with_ = (topic: string) => `WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest')`;
    const r = await srv.sql([
      `CREATE SOURCE bids (auction BIGINT, bidder BIGINT, price BIGINT) ${with_(bids)};`,
      `CREATE SOURCE people (id BIGINT, name VARCHAR, city VARCHAR) ${with_(people)};`,
      ...Object.entries(VIEWS).map(([name, sql]) => `CREATE MATERIALIZED VIEW ${name} WITH ('checkpoint.interval' = '200 ms') AS ${sql};`),
    ].join('\n'));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    // Every row is in every view (a's counts add up to all bids).
    await waitFor(async () => {
      const [b, p, a] = await Promise.all(['SELECT COUNT(*) AS c FROM b', 'SELECT COUNT(*) AS c FROM p', 'SELECT SUM(n) AS c FROM a'].map((q) => srv.sql(q)));
      return [b, p, a].map((x) => x.body.results?.[0]?.rows?.[0]?.c).join() === `${BIDS.length},${PEOPLE.length},${BIDS.length}`;
    }, 60_000, 'the three views to hold every row');
  }, 120_000);

  afterAll(async () => {
    await srv?.close();
    con?.closeSync(); db?.closeSync();
  });

  const oracle = async (sql: string) => {
    const reader = await con.runAndReadAll(sql);
    return reader.getRowObjectsJS().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));
  };
  const canon = (rows: readonly Record<string, unknown>[]) => rows.map((r) => JSON.stringify(r)).sort();
  const pull = async (sql: string) => {
    const r = await srv.sql(sql);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.results[0].rows as Record<string, unknown>[];
  };

  it('a LEFT JOIN of two views equals DuckDB', async () => {
    const sql = 'SELECT b.auction, b.price, p.name, p.city FROM b LEFT JOIN p ON b.bidder = p.id';
    const want = await oracle(sql);
    expect(want.some((r) => r.name === null), 'some bids have no bidder in p').toBe(true);
    expect(canon(await pull(sql))).toEqual(canon(want));
  });

  it('a GROUP BY over a join of a keyed view and an append-only one equals DuckDB', async () => {
    const sql = 'SELECT p.city, COUNT(*) AS bids, SUM(b.price) AS total, MAX(a.top) AS top FROM b JOIN p ON b.bidder = p.id JOIN a ON a.auction = b.auction GROUP BY p.city';
    expect(canon(await pull(sql))).toEqual(canon(await oracle(sql)));
  });

  it('a UNION ALL of two views with ORDER BY and LIMIT equals DuckDB', async () => {
    const sql = 'SELECT auction, price FROM b WHERE price > 90 UNION ALL SELECT auction, top FROM a ORDER BY price DESC, auction LIMIT 15';
    const got = await pull(sql);
    expect(got).toHaveLength(15);
    expect(got).toEqual(await oracle(sql));
  });

  it('EXPLAIN of a pull join prints its graph', async () => {
    const r = await srv.sql('EXPLAIN SELECT b.auction, p.name FROM b LEFT JOIN p ON b.bidder = p.id');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const graph: string = r.body.results[0].plan.graph;
    expect(graph).toContain('ViewScan: b input=#0');
    expect(graph).toContain('ViewScan: p input=#1');
    expect(graph).toMatch(/WindowJoin: left, on=\[bidder = id\].* <- \[n2, n3\]/);
  });

  it('what a pull query cannot run is a 400 with line:column', async () => {
    const union = await srv.sql('SELECT auction FROM b\nUNION SELECT auction FROM a');
    expect(union.status).toBe(400);
    expect([union.body.error.line, union.body.error.column]).toEqual([2, 1]);
    const cross = await srv.sql('SELECT b.auction FROM b JOIN p ON b.price > p.id');
    expect(cross.status).toBe(400);
    expect(cross.body.error.line).toBe(1);
    expect(cross.body.error.message).toMatch(/equality/);
  });
});
