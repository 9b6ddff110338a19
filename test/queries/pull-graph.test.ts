/**
 * Pull queries over several inputs (issue 13): joins of every type, IN / EXISTS, UNION ALL, GROUP BY
 * over a join, ORDER BY / LIMIT on top, run by queries/handlers/pull-select.ts over materialized views'
 * tables filled in memory, against DuckDB computing the same SELECT over the same rows. The rows have
 * duplicates, NULL keys and keys on one side only, so padded, anti and duplicate rows all occur.
 * (test/integration/pull-joins.test.ts runs a few of these through POST /v1/sql on the real broker.)
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueryTable, type QueryTable } from '../../connectors/table/query-table.ts';
import { createCatalog, planRequest, SqlError, type CatalogObject } from '../../planner/index.ts';
import { runPull } from '../../queries/handlers/pull-select.ts';

const DDL = `
  CREATE SOURCE bids (auction BIGINT, bidder BIGINT, price BIGINT) WITH (connector = 'kafka', topic = 'bids', format = 'json');
  CREATE SOURCE people (id BIGINT, name VARCHAR, city VARCHAR) WITH (connector = 'kafka', topic = 'people', format = 'json');
  CREATE MATERIALIZED VIEW a AS SELECT auction, COUNT(*) AS n, MAX(price) AS top FROM bids GROUP BY auction;
  CREATE MATERIALIZED VIEW b AS SELECT auction, bidder, price FROM bids;
  CREATE MATERIALIZED VIEW p AS SELECT id, name, city FROM people;`;

type Row = (number | string | null)[];

/** Small random views: duplicates, NULL keys, keys on one side only. */
function data(seed: number): { a: Row[]; b: Row[]; p: Row[] } {
  let s = seed >>> 0;
  const rnd = (n: number) => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s % n; };
  const b: Row[] = Array.from({ length: 1500 + rnd(1000) }, () => [rnd(40), rnd(15) === 0 ? null : rnd(60), rnd(500)]);
  for (let i = 0; i < 50; i++) b.push([...b[rnd(b.length)]!]);
  const p: Row[] = Array.from({ length: 45 }, (_, i) => [i % 17 === 5 ? null : i + 20 * rnd(2), `n${rnd(30)}`, rnd(9) === 0 ? null : `c${rnd(4)}`]);
  p.push([...p[3]!]);
  const a: Row[] = [];
  for (let k = 0; k < 50; k += 1 + rnd(2)) a.push([k, 1 + rnd(20), rnd(500)]);
  return { a, b, p };
}

const CASES: { name: string; sql: string; ordered?: boolean; duck?: string }[] = [
  { name: 'inner join', sql: 'SELECT a.auction, a.n, b.bidder, b.price FROM a JOIN b ON a.auction = b.auction' },
  { name: 'left join', sql: 'SELECT b.auction, b.bidder, p.name, p.city FROM b LEFT JOIN p ON b.bidder = p.id' },
  { name: 'right join', sql: 'SELECT b.auction, b.price, p.id, p.name FROM b RIGHT JOIN p ON b.bidder = p.id' },
  { name: 'full join', sql: 'SELECT a.auction AS x, a.top, b.auction AS y, b.price FROM a FULL JOIN b ON a.auction = b.auction' },
  { name: 'left join with a residual', sql: "SELECT b.auction, b.price, p.id, p.city FROM b LEFT JOIN p ON b.bidder = p.id AND p.city <> 'c1' AND b.price > 100" },
  { name: 'USING, comma join', sql: 'SELECT b.auction, b.price, a.top FROM b, a WHERE b.auction = a.auction AND b.price < a.top' },
  { name: 'semi (IN)', sql: 'SELECT auction, bidder, price FROM b WHERE bidder IN (SELECT id FROM p WHERE city IS NOT NULL)' },
  { name: 'semi (EXISTS)', sql: 'SELECT auction, n FROM a WHERE EXISTS (SELECT * FROM b WHERE b.auction = a.auction AND b.price > 400)' },
  { name: 'anti (NOT EXISTS)', sql: 'SELECT auction, bidder, price FROM b WHERE NOT EXISTS (SELECT * FROM p WHERE p.id = b.bidder)' },
  { name: 'UNION ALL', sql: 'SELECT auction, price FROM b WHERE price > 250 UNION ALL SELECT auction, top FROM a UNION ALL SELECT id, 2 * id FROM p' },
  { name: 'UNION ALL, ORDER BY, LIMIT', sql: 'SELECT auction, price FROM b UNION ALL SELECT auction, top FROM a ORDER BY price DESC, auction LIMIT 9', ordered: true },
  { name: 'GROUP BY over an inner join', sql: 'SELECT p.city, COUNT(*) AS c, SUM(b.price) AS s, MAX(b.price) AS m FROM b JOIN p ON b.bidder = p.id GROUP BY p.city' },
  { name: 'GROUP BY over a left join', sql: 'SELECT p.city, COUNT(*) AS c, COUNT(p.id) AS matched FROM b LEFT JOIN p ON b.bidder = p.id GROUP BY p.city' },
  { name: 'join, ORDER BY, LIMIT', sql: 'SELECT b.price, b.auction, p.name FROM b JOIN p ON b.bidder = p.id ORDER BY b.price DESC, b.auction, p.name LIMIT 12', ordered: true },
  { name: 'three views', sql: 'SELECT b.auction, p.name, a.n FROM b JOIN p ON b.bidder = p.id LEFT JOIN a ON b.auction = a.auction WHERE b.price > 300' },
  { name: 'self join', sql: 'SELECT x.id, y.id AS other FROM p x JOIN p y ON x.city = y.city WHERE x.id < y.id' },
  {
    name: 'temporal join AS OF PROCTIME() (the view as it is now)',
    sql: 'SELECT b.auction, b.price, a.n FROM b LEFT JOIN a FOR SYSTEM_TIME AS OF PROCTIME() ON b.auction = a.auction',
    duck: 'SELECT b.auction, b.price, a.n FROM b LEFT JOIN a ON b.auction = a.auction',
  },
  { name: 'an aggregate joined to a view', sql: 'SELECT x.auction, x.c, a.n FROM (SELECT auction, COUNT(*) AS c FROM b GROUP BY auction) x JOIN a ON x.auction = a.auction' },
  { name: 'LEFT JOIN of two aggregates', sql: 'SELECT x.bidder, x.c, y.m FROM (SELECT bidder, COUNT(*) AS c FROM b GROUP BY bidder) x LEFT JOIN (SELECT id, COUNT(*) AS m FROM p WHERE city IS NOT NULL GROUP BY id) y ON x.bidder = y.id' },
  { name: 'UNION ALL of two aggregates with the same keys', sql: 'SELECT auction, COUNT(*) AS c FROM b GROUP BY auction UNION ALL SELECT auction, SUM(price) FROM b GROUP BY auction' },
  { name: 'aggregate over a UNION ALL of two aggregates', sql: 'SELECT k, SUM(c) AS s, COUNT(*) AS parts FROM (SELECT auction AS k, COUNT(*) AS c FROM b GROUP BY auction UNION ALL SELECT auction, COUNT(*) FROM b WHERE price > 200 GROUP BY auction) GROUP BY k' },
  { name: 'aggregate of an aggregate over a join', sql: 'SELECT c, COUNT(*) AS cities FROM (SELECT p.city, COUNT(*) AS c FROM b JOIN p ON b.bidder = p.id GROUP BY p.city) GROUP BY c' },
  { name: 'aggregate over a UNION ALL', sql: 'SELECT auction, COUNT(*) AS c, SUM(price) AS s FROM (SELECT auction, price FROM b UNION ALL SELECT auction, top AS price FROM a) GROUP BY auction' },
];

let db: DuckDBInstance;
let con: DuckDBConnection;

beforeAll(async () => {
  db = await DuckDBInstance.create(':memory:');
  con = await db.connect();
});
afterAll(() => { con?.closeSync(); db?.closeSync(); });

const lit = (v: number | string | null) => (v === null ? 'NULL' : typeof v === 'string' ? `'${v}'` : String(v));

async function load(d: ReturnType<typeof data>): Promise<void> {
  await con.run('CREATE OR REPLACE TABLE a (auction BIGINT, n BIGINT, top BIGINT)');
  await con.run('CREATE OR REPLACE TABLE b (auction BIGINT, bidder BIGINT, price BIGINT)');
  await con.run('CREATE OR REPLACE TABLE p (id BIGINT, name VARCHAR, city VARCHAR)');
  for (const [t, rows] of [['a', d.a], ['b', d.b], ['p', d.p]] as const) {
    for (let i = 0; i < rows.length; i += 500) await con.run(`INSERT INTO ${t} VALUES ${rows.slice(i, i + 500).map((r) => `(${r.map(lit).join(', ')})`).join(', ')}`);
  }
}

async function oracle(sql: string): Promise<Record<string, unknown>[]> {
  const reader = await con.runAndReadAll(sql);
  return reader.getRowObjectsJS().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));
}

const canon = (rows: readonly Record<string, unknown>[]) => rows.map((r) => JSON.stringify(r)).sort();

describe('pull queries over several views = DuckDB over the same rows', () => {
  const catalog = createCatalog();
  const tables = new Map<string, QueryTable>();
  for (const ps of planRequest(DDL, catalog)) {
    const p = ps.planned;
    if (p.kind === 'create_source' || p.kind === 'create_materialized_view') catalog.put(p.def as CatalogObject);
    if (p.kind === 'create_materialized_view') tables.set(p.def.name, createQueryTable(p.def.name, p.def.schema, p.def.keyColumns));
  }
  const run = (sql: string) => {
    const [ps] = planRequest(sql, catalog);
    if (ps!.planned.kind !== 'pull') throw new Error('not a pull query');
    return runPull(ps!.planned.physical, ps!.planned.visibleCount, (v) => tables.get(v.toLowerCase())).rows!;
  };

  for (const seed of [7, 1234]) {
    it(`seed ${seed}: every case`, async () => {
      const d = data(seed);
      await load(d);
      tables.get('a')!.load(d.a, 3);
      tables.get('b')!.load(d.b, 5);
      tables.get('p')!.load(d.p, 8);
      for (const c of CASES) {
        const want = await oracle(c.duck ?? c.sql);
        const got = run(c.sql);
        expect(want.length, `${c.name}: the oracle has rows`).toBeGreaterThan(0);
        if (c.ordered) expect(got, c.name).toEqual(want);
        else expect(canon(got), c.name).toEqual(canon(want));
      }
    });
  }

  it('EXPLAIN of a pull join prints its graph: both views, the join, the padding', () => {
    const [ps] = planRequest('EXPLAIN SELECT b.auction, p.name FROM b LEFT JOIN p ON b.bidder = p.id ORDER BY b.auction LIMIT 3', catalog);
    const p = ps!.planned;
    if (p.kind !== 'explain') throw new Error('not an explain');
    expect(p.graph).toMatch(/ViewScan.*b.*input=#0/i);
    expect(p.graph).toMatch(/ViewScan.*p.*input=#1/i);
    expect(p.graph).toMatch(/Join.*LEFT/i);
    expect(p.graph).toMatch(/Limit/);
  });

  it('what a pull query cannot run is refused with line:column', () => {
    const refuse = (sql: string) => {
      try { planRequest(sql, catalog); } catch (e) {
        if (e instanceof SqlError) return e;
        throw e;
      }
      throw new Error(`accepted: ${sql}`);
    };
    const u = refuse('SELECT auction FROM b\nUNION SELECT auction FROM a');
    expect([u.line, u.column, u.kind]).toEqual([2, 1, 'unsupported']);
    const cross = refuse('SELECT b.auction FROM b JOIN p ON b.price > p.id');
    expect(cross.line).toBe(1);
    expect(cross.message).toMatch(/equality/);
  });
});
