/**
 * Watermarks through view inputs, on the real broker through POST /v1/sql: a keyed materialized view
 * (the last rate per currency, a dedup) carries its query's watermark with each committed epoch, so a
 * continuous query joining it by event time (`JOIN rates FOR SYSTEM_TIME AS OF o.ts`) releases its
 * waiting orders — before, the view input had no watermark and the join held every order forever —,
 * and a query reading only the view has the upstream's watermark as its own. Both go on across a
 * restart of the service.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';

const T0 = Date.parse('2024-01-01T12:00:00.000Z');
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

describe('watermarks through view inputs', () => {
  let ts: TestService;
  const tRates = uniqueTopic('vw-rates');
  const tOrders = uniqueTopic('vw-orders');
  beforeAll(async () => {
    ts = await startTestService();
    await createTopic(brokerList(), tRates, 1);
    await createTopic(brokerList(), tOrders, 1);
  });
  afterAll(async () => { await ts?.close(); });

  const rate = (cur: string, r: number, s: number) => ({ value: JSON.stringify({ cur, rate: r, ts: iso(s) }) });
  const order = (id: number, cur: string, amount: number, s: number) => ({ value: JSON.stringify({ id, cur, amount, ts: iso(s) }) });
  const priced = async () => ((await ts.get('/v1/views/priced')).body.rows as Record<string, unknown>[])
    .map((r) => [Number(r.id), Number(r.total)]).sort((a, b) => a[0]! - b[0]!);
  const progress = async (name: string) => {
    const id = (await ts.get('/v1/queries')).body.queries.find((q: { name: string }) => q.name === name).id;
    return (await ts.get(`/v1/queries/${id}`)).body.progress as { watermark: string | null };
  };
  const until = async (what: string, f: () => Promise<boolean>) => waitFor(f, 40_000, what).catch(async (e) => {
    throw new Error(`${(e as Error).message}: priced ${JSON.stringify(await priced())}, watermarks ${JSON.stringify([(await progress('rates')).watermark, (await progress('priced')).watermark, (await progress('rate_count')).watermark])}`);
  });

  it('an event-time temporal join against a view progresses with the view\'s watermark, across a restart', async () => {
    // EUR 2 from 0 s; a heartbeat currency moves the rates' watermark to 6 s without a new EUR version.
    await produce(brokerList(), tRates, [rate('EUR', 2, 0), rate('HB', 0, 7)]);
    const res = await ts.sql(`
      CREATE SOURCE rate_ev (cur VARCHAR, rate BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
        WITH (connector = 'kafka', topic = '${tRates}', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE SOURCE orders (id BIGINT, cur VARCHAR, amount BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
        WITH (connector = 'kafka', topic = '${tOrders}', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE MATERIALIZED VIEW rates WITH ('checkpoint.interval' = '200 ms') AS
        SELECT cur, rate, ts FROM (SELECT cur, rate, ts, ROW_NUMBER() OVER (PARTITION BY cur ORDER BY ts DESC) AS rn FROM rate_ev) WHERE rn = 1;
      CREATE MATERIALIZED VIEW priced WITH ('checkpoint.interval' = '200 ms') AS
        SELECT o.id, o.amount * r.rate AS total FROM orders AS o JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.cur = r.cur;
      CREATE MATERIALIZED VIEW rate_count WITH ('checkpoint.interval' = '200 ms') AS
        SELECT cur, COUNT(*) AS n FROM rates GROUP BY cur`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const ex = await ts.sql('EXPLAIN CREATE MATERIALIZED VIEW x AS SELECT o.id FROM orders AS o JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.cur = r.cur');
    expect(JSON.stringify(ex.body)).toMatch(/ViewChanges: rates/);

    // Orders at 3 s and 5 s; an order at 8 s moves the orders' watermark to 7 s. The join's watermark is
    // the least of both inputs': the view's is its query's (6 s), so the orders at 3 s and 5 s go out.
    await produce(brokerList(), tOrders, [order(1, 'EUR', 10, 3), order(2, 'EUR', 20, 5), order(3, 'EUR', 30, 8)]);
    await until('orders 1 and 2 priced', async () => JSON.stringify(await priced()) === JSON.stringify([[1, 20], [2, 40]]));
    // The view-only query has its upstream's watermark.
    await until('rate_count has the upstream watermark', async () => (await progress('rate_count')).watermark === iso(6));
    expect((await progress('priced')).watermark).toBe(iso(6));

    // EUR 3 from 10 s; the rates' watermark to 11 s releases order 3 (8 s: still EUR 2).
    await produce(brokerList(), tRates, [rate('EUR', 3, 10), rate('HB', 0, 12)]);
    await produce(brokerList(), tOrders, [order(4, 'EUR', 1, 20)]);
    await until('order 3 priced', async () => JSON.stringify(await priced()) === JSON.stringify([[1, 20], [2, 40], [3, 60]]));

    // Restart: the upstream restores its table with its watermark; the join its waiting order 4.
    const dataDir = ts.dataDir;
    await ts.close({ keepData: true });
    ts = await startTestService({ dataDir });
    await produce(brokerList(), tOrders, [order(5, 'EUR', 2, 21), order(6, 'EUR', 0, 30)]);
    await produce(brokerList(), tRates, [rate('HB', 0, 25)]);
    // Rates' watermark 24 s, orders' 29 s: orders 4 (20 s) and 5 (21 s) at EUR 3.
    await until('orders 4 and 5 priced after the restart', async () => JSON.stringify(await priced()) === JSON.stringify([[1, 20], [2, 40], [3, 60], [4, 3], [5, 6]]));
    await until('rate_count follows the upstream watermark after the restart', async () => (await progress('rate_count')).watermark === iso(24));
    const counts = ((await ts.get('/v1/views/rate_count')).body.rows as Record<string, unknown>[]).map((r) => [r.cur, Number(r.n)]).sort();
    expect(counts).toEqual([['EUR', 1], ['HB', 1]]);
  }, 180_000);
});
