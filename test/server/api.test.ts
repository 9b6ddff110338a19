/**
 * The v1 surface for dashboards and push clients, against the real broker: /v1/catalog,
 * /v1/views/:name, the SSE change feed of a view (snapshot, live changes, Last-Event-ID resumption,
 * cleanup on disconnect), ad-hoc push queries on /v1/query-stream, and SSE streams ending when the
 * server closes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, listGroups, produce } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { waitFor } from '../helpers/service.ts';
import { sse, startServer, type Server, type SseEvent } from './helpers.ts';

const T0 = Date.parse('2024-03-01T10:00:00.000Z');
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();
const bid = (auction: number, price: number, s: number, partition = 0) => ({ partition, value: JSON.stringify({ auction, price, ts: T0 + s * 1000 }) });
const byAuction = (rows: any[]) => [...rows].sort((a, b) => a.window_start.localeCompare(b.window_start) || a.auction - b.auction);

describe('HTTP v1: catalog, views, SSE changes and push queries', () => {
  let srv: Server;
  const topic = uniqueTopic('api-bids');
  const sinkTopic = uniqueTopic('api-out');

  beforeAll(async () => {
    srv = await startServer({ heartbeatMs: 500, pushIntervalMs: 200 });
    await createTopic(brokerList(), topic, 2);
    await produce(brokerList(), topic, [bid(7, 100, 1), bid(7, 250, 2, 1), bid(8, 40, 3)]);
    const r = await srv.call('POST', '/v1/sql', { sql: `
      CREATE SOURCE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
      WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE SOURCE live (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
      WITH (connector = 'kafka', topic = '${topic}', format = 'json');
      CREATE MATERIALIZED VIEW per_auction WITH ('checkpoint.interval' = '200 ms') AS
        SELECT window_start, window_end, auction, COUNT(*) AS bids, MAX(price) AS high
        FROM TUMBLE(bids, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, auction;
      CREATE VIEW big_bids AS SELECT auction, price FROM bids WHERE price > 200;
      CREATE SINK big_out AS SELECT auction, price FROM bids WHERE price > 200 WITH (connector = 'kafka', topic = '${sinkTopic}', format = 'json');` });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await waitFor(async () => (await srv.call('GET', '/v1/views/per_auction')).body.rows?.length === 2, 30_000, 'view rows');
  });
  afterAll(async () => { if (process.env.DEBUG_LOGS) console.log(srv.logs.join("\n")); await srv?.close(); });

  it('GET /v1/catalog lists sources, views and sinks with columns, keys and query ids', async () => {
    const { status, body } = await srv.call('GET', '/v1/catalog');
    expect(status).toBe(200);
    const src = body.sources.find((s: any) => s.name === 'bids');
    expect(src).toMatchObject({ topics: [topic], format: 'json', watermark: { column: 'ts', delayMs: 5000 } });
    expect(src.columns).toEqual([{ name: 'auction', type: 'BIGINT' }, { name: 'price', type: 'BIGINT' }, { name: 'ts', type: 'TIMESTAMP(3)' }]);
    const mv = body.views.find((v: any) => v.name === 'per_auction');
    const queries = (await srv.call('GET', '/v1/queries')).body.queries;
    expect(mv).toMatchObject({ kind: 'materialized_view', queryId: queries.find((q: any) => q.name === 'per_auction').id, emit: 'changes' });
    expect(mv.keyColumns).toEqual(expect.arrayContaining(['window_start', 'auction']));
    expect(mv.columns.map((c: any) => c.name)).toEqual(['window_start', 'window_end', 'auction', 'bids', 'high']);
    expect(body.views.find((v: any) => v.name === 'big_bids')).toMatchObject({ kind: 'view', columns: [{ name: 'auction', type: 'BIGINT' }, { name: 'price', type: 'BIGINT' }] });
    expect(body.sinks).toEqual([expect.objectContaining({ name: 'big_out', topic: sinkTopic, queryId: queries.find((q: any) => q.name === 'big_out').id })]);
  });

  it('GET /v1/views/:name returns the committed rows with ISO timestamps, newest `limit`', async () => {
    const { status, body } = await srv.call('GET', '/v1/views/per_auction');
    expect(status).toBe(200);
    expect(body.name).toBe('per_auction');
    expect(body.epoch).toBeGreaterThan(0);
    expect(body.columns[0]).toEqual({ name: 'window_start', type: 'TIMESTAMP(3)' });
    expect(byAuction(body.rows)).toEqual([
      { window_start: iso(0), window_end: iso(60), auction: 7, bids: 2, high: 250 },
      { window_start: iso(0), window_end: iso(60), auction: 8, bids: 1, high: 40 },
    ]);
    const one = await srv.call('GET', '/v1/views/per_auction?limit=1');
    expect(one.body.rows).toHaveLength(1);
    expect(one.body.total).toBe(2);
    const missing = await srv.call('GET', '/v1/views/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: { message: "no materialized view 'nope'" } });
    const bad = await srv.call('GET', '/v1/views/per_auction?limit=-1');
    expect(bad.status).toBe(400);
    expect(typeof bad.body.error.message).toBe('string');
  });

  it('GET /v1/views/:name/changes streams a snapshot, then each change with its epoch; resumes with Last-Event-ID', async () => {
    const feedOf = () => srv.service.engine.viewFeed('per_auction')!.feed;
    const c1 = await sse(`${srv.url}/v1/views/per_auction/changes`);
    expect(c1.status).toBe(200);
    const [snap] = await c1.until((e) => e.length >= 1, 10_000, 'snapshot');
    expect(snap!.event).toBe('snapshot');
    expect(Number(snap!.id)).toBe(snap!.data.epoch);
    expect(snap!.data.columns.map((c: any) => c.name)).toEqual(['window_start', 'window_end', 'auction', 'bids', 'high']);
    expect(byAuction(snap!.data.rows)).toEqual(byAuction((await srv.call('GET', '/v1/views/per_auction')).body.rows));

    // A live change: a third bid on auction 7.
    await produce(brokerList(), topic, [bid(7, 300, 10)]);
    const ev = await c1.until((e) => e.some((x) => x.event === 'change' && x.data.row.auction === 7 && x.data.row.bids === 3), 15_000, 'auction 7 change');
    const ch = ev.find((x) => x.event === 'change')!;
    expect(ch.data).toEqual({ op: 'upsert', row: { window_start: iso(0), window_end: iso(60), auction: 7, bids: 3, high: 300 } });
    expect(Number(ch.id)).toBeGreaterThan(snap!.data.epoch);
    // Heartbeats keep the connection alive (500 ms in this test).
    await c1.until(() => c1.comments.some((c) => c.startsWith('heartbeat')), 5_000, 'heartbeat');
    const lastId = ev[ev.length - 1]!.id!;
    c1.close();
    await waitFor(() => feedOf().subscribers === 0, 5_000, 'the subscription to end on disconnect');

    // Missed while disconnected: auction 8 moves.
    await produce(brokerList(), topic, [bid(8, 90, 12, 1)]);
    await waitFor(async () => (await srv.call('GET', '/v1/views/per_auction')).body.rows.some((r: any) => r.auction === 8 && r.bids === 2), 15_000, 'auction 8 update');
    const c2 = await sse(`${srv.url}/v1/views/per_auction/changes`, { headers: { 'last-event-id': lastId } });
    const resumed = await c2.until((e) => e.some((x) => x.data.row?.auction === 8), 10_000, 'resumed changes');
    expect(resumed.every((x) => x.event === 'change')).toBe(true);
    expect(resumed.every((x) => Number(x.id) > Number(lastId))).toBe(true);
    expect(resumed.find((x) => x.data.row.auction === 8)!.data).toEqual({ op: 'upsert', row: { window_start: iso(0), window_end: iso(60), auction: 8, bids: 2, high: 90 } });
    c2.close();

    // An epoch from before the buffer: a fresh snapshot first.
    const c3 = await sse(`${srv.url}/v1/views/per_auction/changes?lastEventId=0`);
    const [s3] = await c3.until((e) => e.length >= 1, 10_000, 'snapshot');
    expect(s3!.event).toBe('snapshot');
    expect(s3!.data.rows).toHaveLength(2);
    c3.close();
    await waitFor(() => feedOf().subscribers === 0, 5_000, 'subscriptions to end');

    const missing = await srv.call('GET', '/v1/views/nope/changes');
    expect(missing.status).toBe(404);
  });

  it('POST /v1/query-stream runs an ad-hoc push query from the latest offsets and cleans up on disconnect', async () => {
    const c = await sse(`${srv.url}/v1/query-stream`, { method: 'POST', body: { sql: 'SELECT auction, price, ts FROM live WHERE price > 100 EMIT CHANGES' } });
    expect(c.status).toBe(200);
    const [schema] = await c.until((e) => e.length >= 1, 10_000, 'schema');
    expect(schema!.event).toBe('schema');
    expect(schema!.data.columns).toEqual([{ name: 'auction', type: 'BIGINT' }, { name: 'price', type: 'BIGINT' }, { name: 'ts', type: 'TIMESTAMP(3)' }]);
    const queryId: string = schema!.data.queryId;
    expect(srv.service.engine.pushQueries().map((p) => p.id)).toEqual([queryId]);
    // The reader fixes its start (the end of each partition) before new events count.
    await waitFor(() => srv.service.engine.pushQueries()[0]?.query.positioned() === true, 15_000, 'the push query to position itself');
    await produce(brokerList(), topic, [bid(21, 500, 20), bid(22, 50, 21, 1), bid(23, 150, 22, 1)]);
    const ev = await c.until((e) => e.filter((x) => x.event === 'change').length >= 2, 15_000, 'push changes');
    const changes = ev.filter((x) => x.event === 'change');
    // Only the new rows (latest offsets), only those passing the filter.
    expect(changes.map((x) => x.data).sort((a, b) => a.row.auction - b.row.auction)).toEqual([
      { op: 'insert', row: { auction: 21, price: 500, ts: iso(20) } },
      { op: 'insert', row: { auction: 23, price: 150, ts: iso(22) } },
    ]);
    expect(changes.every((x) => Number(x.id) > 0)).toBe(true);
    c.close();
    await waitFor(() => srv.service.engine.pushQueries().length === 0, 10_000, 'the push query to stop');
    await waitFor(async () => !(await listGroups(brokerList())).some((g) => g.startsWith(`streamsql-push-${queryId}`)), 10_000, 'the consumer groups to be deleted');
  });

  it('POST /v1/query-stream streams windowed upserts from the earliest offsets when asked', async () => {
    const c = await sse(`${srv.url}/v1/query-stream`, {
      method: 'POST',
      body: { sql: 'SELECT window_start, auction, COUNT(*) AS n FROM TUMBLE(live, ts, INTERVAL \'1\' MINUTE) GROUP BY window_start, window_end, auction EMIT CHANGES', startFrom: 'earliest' },
    });
    const want = 3; // auction 7: bids at 1, 2 and 10 s
    const ev = await c.until((e) => e.some((x) => x.event === 'change' && x.data.row.auction === 7 && x.data.row.n === want), 15_000, 'windowed upserts');
    const last = new Map<number, number>();
    for (const x of ev) if (x.event === 'change') { expect(x.data.op).toBe('upsert'); last.set(x.data.row.auction, x.data.row.n); }
    expect(last.get(7)).toBe(3);
    expect(last.get(8)).toBe(2);
    expect(ev[0]!.data.keyColumns).toEqual(expect.arrayContaining(['window_start', 'auction']));
    c.close();
    await waitFor(() => srv.service.engine.pushQueries().length === 0, 10_000, 'the push query to stop');
  });

  it('POST /v1/query-stream refuses what is not one push query, with the error shape and position', async () => {
    const bad = await srv.call('POST', '/v1/query-stream', { sql: 'SELECT auction, pricee FROM live EMIT CHANGES' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ line: 1, column: 17 });
    expect(bad.body.error.message).toMatch(/pricee/);
    const pull = await srv.call('POST', '/v1/query-stream', { sql: 'SELECT * FROM per_auction' });
    expect(pull.status).toBe(400);
    expect(pull.body.error.message).toMatch(/EMIT CHANGES/);
    const empty = await srv.call('POST', '/v1/query-stream', { sql: '' });
    expect(empty.status).toBe(400);
    expect(srv.service.engine.pushQueries()).toHaveLength(0);
  });

  it('closing the server ends every SSE stream and stops push queries', async () => {
    const view = await sse(`${srv.url}/v1/views/per_auction/changes`);
    const push = await sse(`${srv.url}/v1/query-stream`, { method: 'POST', body: { sql: 'SELECT auction FROM live EMIT CHANGES' } });
    await view.until((e) => e.length >= 1);
    await push.until((e) => e.length >= 1);
    const queryId = push.events[0]!.data.queryId;
    const t0 = Date.now();
    await srv.close();
    await Promise.all([view.ended, push.ended]);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(srv.service.engine.pushQueries()).toHaveLength(0);
    expect((await listGroups(brokerList())).some((g) => g.startsWith(`streamsql-push-${queryId}`))).toBe(false);
  });
});

export type { SseEvent };
