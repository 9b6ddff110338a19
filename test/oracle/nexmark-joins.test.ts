/**
 * The Nexmark join queries against a real SQL engine (issue 14's oracle): q3, q4, q7, q8, q9 and q20,
 * written as Flink's Nexmark SQL writes them (only the source declarations adapted), run as
 * materialized views on the real broker over persons, auctions and bids from the demo generator
 * (seeded, some events out of order within the 4 s watermark delay), and computed in batch by DuckDB
 * over the same events. Events are streamed in while the views run, then one event far in the future
 * per partition moves every watermark past the last window, so every window closes. The views must
 * equal DuckDB's answer exactly: once straight, and once with the service stopped midway (its data
 * dir kept), started again, and the rest produced.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNexmarkGenerator, serializeAuction, serializeBid, serializePerson, type Auction, type Bid, type Person } from '../../connectors/demo/nexmark.ts';
import { createTopic, produce, type ProduceMessage } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const T0 = Date.UTC(2024, 0, 1, 12);
/** Event time of the last event of every partition: moves every watermark past all windows. */
const FUTURE = T0 + 24 * 3600_000;
/** Partitions per topic: persons, auctions, bids. */
const PARTITIONS = { person: 1, auction: 2, bid: 3 } as const;
type Kind = keyof typeof PARTITIONS;

interface Events { person: Person[]; auction: Auction[]; bid: Bid[] }

/**
 * `count` Nexmark events at 40 events/s of event time (so 4,000 events span 100 s: ten 10 s windows),
 * a fifth of them shifted back by up to 2.5 s (out of order, but within the 4 s watermark delay).
 */
function generate(seed: number, count: number): { all: Events; order: { kind: Kind; i: number }[] } {
  const g = createNexmarkGenerator({ seed, baseTime: T0, eventsPerSecond: 40, outOfOrderFraction: 0.2, maxDelayMs: 2500 });
  const all: Events = { person: [], auction: [], bid: [] };
  const order: { kind: Kind; i: number }[] = [];
  for (let n = 0; n < count; n++) {
    const e = g.next();
    const list = all[e.kind] as unknown[];
    order.push({ kind: e.kind, i: list.length });
    list.push(e.value);
  }
  return { all, order };
}

const serialize = (kind: Kind, v: Person | Auction | Bid): string =>
  kind === 'person' ? serializePerson(v as Person) : kind === 'auction' ? serializeAuction(v as Auction) : serializeBid(v as Bid);

/** The far-future event of each kind: it matches nothing (person 1 sells nothing, auction 1 is category 99, bid on auction 2). */
const FUTURE_EVENT: { [K in Kind]: Events[K][number] } = {
  person: { id: 1, name: 'Future Person', emailAddress: 'f@example.com', creditCard: '0000 0000 0000 0000', city: 'Nowhere', state: 'ZZ', dateTime: FUTURE, extra: '' },
  auction: { id: 1, itemName: 'future', description: 'future', initialBid: 1, reserve: 2, dateTime: FUTURE, expires: FUTURE + 1, seller: 2, category: 99, extra: '' },
  bid: { auction: 2, bidder: 2, price: 1, channel: 'future', url: 'https://future/', dateTime: FUTURE, extra: '' },
};

interface Topics { person: string; auction: string; bid: string }

/** Produces events `order[from, to)` to the three topics, round-robin over each topic's partitions. */
async function produceRange(topics: Topics, ev: Events, order: readonly { kind: Kind; i: number }[], from: number, to: number): Promise<void> {
  const out: { [K in Kind]: ProduceMessage[] } = { person: [], auction: [], bid: [] };
  for (const { kind, i } of order.slice(from, to)) {
    const v = ev[kind][i]!;
    out[kind].push({ key: kind === 'bid' ? null : String((v as Person).id), value: serialize(kind, v), partition: i % PARTITIONS[kind] });
  }
  await Promise.all((Object.keys(out) as Kind[]).filter((k) => out[k].length > 0).map((k) => produce(brokerList(), topics[k], out[k])));
}

async function produceFuture(topics: Topics): Promise<void> {
  await Promise.all((Object.keys(PARTITIONS) as Kind[]).map((k) => produce(brokerList(), topics[k],
    Array.from({ length: PARTITIONS[k] }, (_, p) => ({ key: k === 'bid' ? null : '1', value: serialize(k, FUTURE_EVENT[k]), partition: p })))));
}

const sourcesSql = (t: Topics) => `
  CREATE SOURCE person (id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, dateTime TIMESTAMP(3), extra VARCHAR,
    WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND) WITH (connector = 'kafka', topic = '${t.person}', format = 'json', 'scan.startup.mode' = 'earliest');
  CREATE SOURCE auction (id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, dateTime TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR,
    WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND) WITH (connector = 'kafka', topic = '${t.auction}', format = 'json', 'scan.startup.mode' = 'earliest');
  CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, dateTime TIMESTAMP(3), extra VARCHAR,
    WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND) WITH (connector = 'kafka', topic = '${t.bid}', format = 'json', 'scan.startup.mode' = 'earliest');`;

interface Query {
  readonly name: string;
  /** Which topics its inputs read (an input per source reference: q7 reads bid twice). */
  readonly inputs: readonly Kind[];
  /** The Nexmark SQL as in test/sql/joins.slt, over sources person, auction, bid. */
  readonly sql: string;
  /** The same answer in DuckDB over tables person, auction, bid with times as BIGINT epoch ms. */
  readonly oracle: string;
  readonly columns: readonly string[];
  /** Output columns that are timestamps (compared as epoch ms). */
  readonly times: readonly string[];
}

const QUERIES: Record<string, Query> = {
  q3: {
    name: 'q3', inputs: ['auction', 'person'],
    sql: `SELECT P.name, P.city, P.state, A.id
      FROM auction AS A INNER JOIN person AS P on A.seller = P.id
      WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')`,
    oracle: `SELECT P.name, P.city, P.state, A.id FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
      WHERE A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')`,
    columns: ['name', 'city', 'state', 'id'], times: [],
  },
  q4: {
    name: 'q4', inputs: ['auction', 'bid'],
    sql: `SELECT Q.category, AVG(Q.final) AS avg_final
      FROM (
        SELECT MAX(B.price) AS final, A.category
        FROM auction A, bid B
        WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
        GROUP BY A.id, A.category
      ) Q
      GROUP BY Q.category`,
    oracle: `SELECT Q.category, AVG(Q.final) AS avg_final FROM (
        SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
        WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires GROUP BY A.id, A.category) Q
      GROUP BY Q.category`,
    columns: ['category', 'avg_final'], times: [],
  },
  q7: {
    name: 'q7', inputs: ['bid', 'bid'],
    sql: `SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra
      from bid B
      JOIN (
        SELECT MAX(price) AS maxprice, window_end as dateTime
        FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
        GROUP BY window_start, window_end
      ) B1
      ON B.price = B1.maxprice
      WHERE B.dateTime BETWEEN B1.dateTime  - INTERVAL '10' SECOND and B1.dateTime`,
    oracle: `SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra FROM bid B
      JOIN (SELECT MAX(price) AS maxprice, (dateTime // 10000) * 10000 + 10000 AS dateTime FROM bid GROUP BY dateTime // 10000) B1
      ON B.price = B1.maxprice WHERE B.dateTime BETWEEN B1.dateTime - 10000 AND B1.dateTime`,
    columns: ['auction', 'price', 'bidder', 'dateTime', 'extra'], times: ['dateTime'],
  },
  q8: {
    name: 'q8', inputs: ['person', 'auction'],
    sql: `SELECT P.id, P.name, P.starttime
      FROM (
        SELECT id, name, window_start AS starttime, window_end AS endtime
        FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
        GROUP BY id, name, window_start, window_end
      ) P
      JOIN (
        SELECT seller, window_start AS starttime, window_end AS endtime
        FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
        GROUP BY seller, window_start, window_end
      ) A
      ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime`,
    oracle: `SELECT P.id, P.name, P.starttime FROM
        (SELECT id, name, (dateTime // 10000) * 10000 AS starttime FROM person GROUP BY ALL) P
      JOIN (SELECT seller, (dateTime // 10000) * 10000 AS starttime FROM auction GROUP BY ALL) A
      ON P.id = A.seller AND P.starttime = A.starttime`,
    columns: ['id', 'name', 'starttime'], times: ['starttime'],
  },
  q9: {
    name: 'q9', inputs: ['auction', 'bid'],
    sql: `SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, category, extra, auction, bidder, price, bid_dateTime, bid_extra
      FROM (
        SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime, B.extra AS bid_extra,
          ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime ASC) AS rownum
        FROM auction A, bid B
        WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
      )
      WHERE rownum <= 1`,
    oracle: `SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, category, extra, auction, bidder, price, bid_dateTime, bid_extra
      FROM (SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime, B.extra AS bid_extra,
              ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime ASC, B.bidder, B.extra) AS rownum
            FROM auction A, bid B WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires)
      WHERE rownum <= 1`,
    columns: ['id', 'itemName', 'description', 'initialBid', 'reserve', 'dateTime', 'expires', 'seller', 'category', 'extra', 'auction', 'bidder', 'price', 'bid_dateTime', 'bid_extra'],
    times: ['dateTime', 'expires', 'bid_dateTime'],
  },
  q20: {
    name: 'q20', inputs: ['bid', 'auction'],
    sql: `SELECT
        auction, bidder, price, channel, url, B.dateTime, B.extra,
        itemName, description, initialBid, reserve, A.dateTime, expires, seller, category, A.extra
      FROM
        bid AS B INNER JOIN auction AS A on B.auction = A.id
      WHERE A.category = 10`,
    oracle: `SELECT auction, bidder, price, channel, url, B.dateTime AS dateTime, B.extra AS extra,
        itemName, description, initialBid, reserve, A.dateTime AS dateTime0, expires, seller, category, A.extra AS extra0
      FROM bid AS B INNER JOIN auction AS A ON B.auction = A.id WHERE A.category = 10`,
    columns: ['auction', 'bidder', 'price', 'channel', 'url', 'dateTime', 'extra', 'itemName', 'description', 'initialBid', 'reserve', 'dateTime0', 'expires', 'seller', 'category', 'extra0'],
    times: ['dateTime', 'dateTime0', 'expires'],
  },
};


let db: DuckDBInstance;
let con: DuckDBConnection;

beforeAll(async () => {
  db = await DuckDBInstance.create(':memory:');
  con = await db.connect();
});
afterAll(() => { con?.closeSync(); db?.closeSync(); });

const sqlStr = (s: string) => `'${s.replace(/'/g, "''")}'`;

async function loadOracle(ev: Events): Promise<void> {
  await con.run('CREATE OR REPLACE TABLE person (id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, dateTime BIGINT, extra VARCHAR)');
  await con.run('CREATE OR REPLACE TABLE auction (id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, dateTime BIGINT, expires BIGINT, seller BIGINT, category BIGINT, extra VARCHAR)');
  await con.run('CREATE OR REPLACE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, dateTime BIGINT, extra VARCHAR)');
  const insert = async (table: string, rows: string[]) => {
    for (let i = 0; i < rows.length; i += 500) await con.run(`INSERT INTO ${table} VALUES ${rows.slice(i, i + 500).join(', ')}`);
  };
  await insert('person', ev.person.map((p) => `(${p.id}, ${sqlStr(p.name)}, ${sqlStr(p.emailAddress)}, ${sqlStr(p.creditCard)}, ${sqlStr(p.city)}, ${sqlStr(p.state)}, ${p.dateTime}, ${sqlStr(p.extra)})`));
  await insert('auction', ev.auction.map((a) => `(${a.id}, ${sqlStr(a.itemName)}, ${sqlStr(a.description)}, ${a.initialBid}, ${a.reserve}, ${a.dateTime}, ${a.expires}, ${a.seller}, ${a.category}, ${sqlStr(a.extra)})`));
  await insert('bid', ev.bid.map((b) => `(${b.auction}, ${b.bidder}, ${b.price}, ${sqlStr(b.channel)}, ${sqlStr(b.url)}, ${b.dateTime}, ${sqlStr(b.extra)})`));
}

/** Rows with exactly `columns`, in that order, timestamps as epoch ms, numbers as numbers; sorted. */
function canonical(rows: readonly Record<string, unknown>[], q: Query): string[] {
  return rows.map((r) => JSON.stringify(q.columns.map((c) => {
    const v = r[c];
    if (q.times.includes(c) && typeof v === 'string') return Date.parse(v);
    return typeof v === 'bigint' ? Number(v) : v;
  }))).sort();
}

async function oracle(q: Query): Promise<string[]> {
  const reader = await con.runAndReadAll(q.oracle);
  return canonical(reader.getRowObjectsJS(), q);
}

/** Waits until the view equals `want`; on timeout, fails with the difference and the query's progress. */
async function expectView(ts: TestService, view: string, q: Query, want: readonly string[], timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  let got: string[] = [];
  for (;;) {
    const v = ts.service.engine.viewRows(view);
    got = canonical(v?.rows ?? [], q);
    if (got.length === want.length && got.every((r, i) => r === want[i])) {
      // Nothing was late: every event was within the watermark delay of its partition.
      const id = ((await ts.get('/v1/queries')).body.queries as { name: string; id: string }[]).find((x) => x.name === view)?.id;
      expect((await ts.service.engine.progress(id!))?.lateRowsDropped, `${view}: late rows`).toBe(0);
      return;
    }
    const failed = ((await ts.get('/v1/queries')).body.queries as { name: string; status: string; error?: string }[]).find((x) => x.name === view && x.status === 'failed');
    if (failed || Date.now() - start > timeoutMs) {
      const id = ((await ts.get('/v1/queries')).body.queries as { name: string; id: string }[]).find((x) => x.name === view)?.id;
      const p = id ? await ts.service.engine.progress(id) : undefined;
      const missing = want.filter((r) => !got.includes(r));
      const extra = got.filter((r) => !want.includes(r));
      const info = `${view}: ${failed ? `failed: ${failed.error}; ` : ''}got ${got.length} rows, want ${want.length}; ` +
        `inputRows ${p?.inputRows} late ${p?.lateRowsDropped} watermark ${p?.watermark}; columns ${q.columns.join(',')}\n` +
        `missing (first 5): ${missing.slice(0, 5).join('\n  ')}\nextra (first 5): ${extra.slice(0, 5).join('\n  ')}`;
      expect(got, info).toEqual(want);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

const newTopics = async (tag: string): Promise<Topics> => {
  const t = { person: uniqueTopic(`nx-person-${tag}`), auction: uniqueTopic(`nx-auction-${tag}`), bid: uniqueTopic(`nx-bid-${tag}`) };
  for (const k of Object.keys(PARTITIONS) as Kind[]) await createTopic(brokerList(), t[k], PARTITIONS[k]);
  return t;
};

const VIEW_OPTS = `WITH ('checkpoint.interval' = '200 ms', 'retention.rows' = '1000000')`;

describe('Nexmark joins = DuckDB in batch, on the real broker', () => {
  let ts: TestService | undefined;
  afterAll(async () => { await ts?.close(); });

  it('q3, q4, q7, q8, q9 and q20 over streamed persons, auctions and bids', async () => {
    const { all, order } = generate(20261130, 4000);
    await loadOracle(all);
    const want: Record<string, string[]> = {};
    for (const [k, q] of Object.entries(QUERIES)) {
      want[k] = await oracle(q);
      expect(want[k]!.length, `${k}: the oracle has rows`).toBeGreaterThan(0);
    }
    const topics = await newTopics('s');
    // The first slice is in the topics before the views start, so every partition has data waiting and
    // holds its source's watermark back until read (a partition still empty at start does not: see the
    // header of executor/watermark.ts); the other slices are streamed in while the views run.
    const slices = 6;
    await produceRange(topics, all, order, 0, Math.floor(order.length / slices));
    ts = await startTestService();
    const created = await ts.sql(`${sourcesSql(topics)}
      ${Object.values(QUERIES).map((q) => `CREATE MATERIALIZED VIEW nexmark_${q.name} ${VIEW_OPTS} AS ${q.sql};`).join('\n')}`);
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    for (let s = 1; s < slices; s++) {
      await produceRange(topics, all, order, Math.floor((s * order.length) / slices), Math.floor(((s + 1) * order.length) / slices));
      await new Promise((r) => setTimeout(r, 150));
    }
    await produceFuture(topics);
    for (const q of Object.values(QUERIES)) await expectView(ts, `nexmark_${q.name}`, q, want[q.name]!);
    await ts.close();
    ts = undefined;
  }, 180_000);

  it('q4, q7, q8 and q9 stopped midway and started again from their checkpoints', async () => {
    const { all, order } = generate(7, 3000);
    await loadOracle(all);
    const names = ['q4', 'q7', 'q8', 'q9'] as const;
    const topics = await newTopics('r');
    const quarter = (k: number) => Math.floor((k * order.length) / 4);
    await produceRange(topics, all, order, 0, quarter(1));
    ts = await startTestService();
    const dataDir = ts.dataDir;
    const created = await ts.sql(`${sourcesSql(topics)}
      ${names.map((n) => `CREATE MATERIALIZED VIEW nexmark_${n}_r ${VIEW_OPTS} AS ${QUERIES[n]!.sql};`).join('\n')}`);
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const half = quarter(2);
    await produceRange(topics, all, order, quarter(1), half);
    // Every view has read the first half (each input its topic's rows) before the stop.
    const firstHalf = { person: 0, auction: 0, bid: 0 };
    for (const { kind } of order.slice(0, half)) firstHalf[kind]++;
    const ids = new Map(((await ts.get('/v1/queries')).body.queries as { name: string; id: string }[]).map((x) => [x.name, x.id]));
    for (const n of names) {
      const expected = QUERIES[n]!.inputs.reduce((s, k) => s + firstHalf[k], 0);
      const deadline = Date.now() + 60_000;
      for (;;) {
        const p = await ts.service.engine.progress(ids.get(`nexmark_${n}_r`)!);
        if ((p?.inputRows ?? 0) >= expected) break;
        if (Date.now() > deadline) throw new Error(`nexmark_${n}_r read ${p?.inputRows} of ${expected} rows before the stop`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await ts.close({ keepData: true });
    ts = await startTestService({ dataDir });
    for (const n of names) {
      const p = await ts.service.engine.progress(ids.get(`nexmark_${n}_r`)!);
      expect(p?.restoredFromEpoch ?? null, `${n} restored from a checkpoint`).not.toBeNull();
    }
    await produceRange(topics, all, order, half, quarter(3));
    await produceRange(topics, all, order, quarter(3), order.length);
    await produceFuture(topics);
    for (const n of names) {
      const q = QUERIES[n]!;
      await expectView(ts, `nexmark_${n}_r`, q, await oracle(q));
    }
  }, 180_000);
});
