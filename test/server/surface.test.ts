/**
 * The service's edges, against the real broker: /metrics parsed with a Prometheus text-format
 * parser, the OpenAPI document and /docs page, bearer-token auth, the running-query cap, the body
 * size limit, and the one error shape.
 */
import parsePrometheusTextFormat, { type PromFamily } from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { waitFor } from '../helpers/service.ts';
import { sse, startServer, type Server } from './helpers.ts';

const TOKEN = 's3cret-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const T0 = Date.parse('2024-05-01T00:00:00.000Z');
const ev = (auction: number, s: number, partition: number) => ({ partition, value: JSON.stringify({ auction, price: 10, ts: T0 + s * 1000 }) });

describe('service surface: metrics, docs, auth, limits', () => {
  let srv: Server;
  const topic = uniqueTopic('surface');

  beforeAll(async () => {
    srv = await startServer({ apiToken: TOKEN, maxQueries: 2 });
    await createTopic(brokerList(), topic, 2);
    await produce(brokerList(), topic, [ev(1, 1, 0), ev(2, 2, 1), ev(1, 70, 0), ev(2, 71, 1)]);
    const r = await srv.call('POST', '/v1/sql', { sql: `
      CREATE SOURCE s (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
      WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE MATERIALIZED VIEW m WITH ('checkpoint.interval' = '200 ms') AS
        SELECT window_start, auction, COUNT(*) AS n FROM TUMBLE(s, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, auction;` }, auth);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await waitFor(async () => (await srv.call('GET', '/v1/views/m', undefined, auth)).body.rows?.length === 4, 30_000, 'view rows');
    // The watermark is past the first window now: this one is late and dropped.
    await produce(brokerList(), topic, [ev(3, 3, 0)]);
    const id = (await srv.call('GET', '/v1/queries', undefined, auth)).body.queries[0].id;
    await waitFor(async () => (await srv.call('GET', `/v1/queries/${id}`, undefined, auth)).body.progress?.lateRowsDropped === 1, 20_000, 'the late row');
  });
  afterAll(async () => { await srv?.close(); });

  it('bearer auth guards /v1 and /metrics; /healthz and /docs stay open', async () => {
    const none = await srv.call('GET', '/v1/info');
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ error: { message: expect.stringMatching(/Bearer/) } });
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await srv.call('GET', '/v1/info', undefined, { authorization: 'Bearer nope' })).status).toBe(401);
    expect((await srv.call('POST', '/v1/sql', { sql: 'SHOW SOURCES' })).status).toBe(401);
    expect((await srv.call('GET', '/metrics')).status).toBe(401);
    expect((await srv.call('GET', '/v1/info', undefined, auth)).status).toBe(200);
    expect((await srv.call('GET', '/healthz')).status).toBe(200);
    expect((await srv.call('GET', '/docs/json')).status).toBe(200);
    // The dashboard (web/) is served at / without a token.
    const home = await fetch(`${srv.url}/`);
    expect(home.status).toBe(200);
    expect(home.headers.get('content-type')).toMatch(/^text\/html/);
    // EventSource cannot send headers: the token may come as ?access_token=.
    const denied = await sse(`${srv.url}/v1/views/m/changes`);
    expect(denied.status).toBe(401);
    const c = await sse(`${srv.url}/v1/views/m/changes?access_token=${TOKEN}`);
    expect(c.status).toBe(200);
    const [snap] = await c.until((e) => e.length >= 1);
    expect(snap!.event).toBe('snapshot');
    c.close();
  });

  it('GET /metrics is Prometheus text: per-query counters, rates, state, checkpoints, per-partition lag, process metrics', async () => {
    const r = await fetch(`${srv.url}/metrics`, { headers: auth });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    const families = parsePrometheusTextFormat(await r.text());
    const fam = (name: string): PromFamily => { const f = families.find((x) => x.name === name); expect(f, name).toBeDefined(); return f!; };
    const forQuery = (name: string) => fam(name).metrics.filter((m) => m.labels?.query === 'm');
    const value = (name: string) => { const ms = forQuery(name); expect(ms, name).toHaveLength(1); return Number(ms[0]!.value); };

    expect(fam('streamsql_query_input_rows_total').type).toBe('COUNTER');
    expect(value('streamsql_query_input_rows_total')).toBe(5);
    expect(value('streamsql_query_late_rows_total')).toBe(1);
    expect(value('streamsql_query_malformed_rows_total')).toBe(0);
    expect(value('streamsql_query_checkpoint_failures_total')).toBe(0);
    expect(value('streamsql_query_checkpoint_duration_seconds')).toBeGreaterThan(0);
    expect(value('streamsql_query_epoch')).toBeGreaterThan(0);
    expect(value('streamsql_query_input_rows_per_second')).toBeGreaterThanOrEqual(0);
    expect(value('streamsql_query_processed_rows_per_second')).toBeGreaterThanOrEqual(0);
    // Event time is in 2024: the watermark is far behind the wall clock.
    expect(value('streamsql_query_watermark_delay_seconds')).toBeGreaterThan(3600);
    expect(forQuery('streamsql_query_running')[0]!.labels).toMatchObject({ status: 'running' });
    const state = forQuery('streamsql_query_state_rows');
    expect(state.length).toBeGreaterThan(0);
    expect(state.every((m) => typeof m.labels?.operator === 'string')).toBe(true);
    // Window [0, 60) is closed and freed; the open one holds auctions 1 and 2.
    expect(state.reduce((a, m) => a + Number(m.value), 0)).toBe(2);
    expect(forQuery('streamsql_query_state_bytes').reduce((a, m) => a + Number(m.value), 0)).toBeGreaterThan(0);
    const lag = forQuery('streamsql_query_partition_lag');
    expect(lag.map((m) => [m.labels!.topic, m.labels!.partition, Number(m.value)]).sort()).toEqual([[topic, '0', 0], [topic, '1', 0]]);
    const offsets = forQuery('streamsql_query_partition_offset').map((m) => Number(m.value)).sort();
    expect(offsets).toEqual([2, 3]);
    expect(Number(fam('streamsql_process_cpu_user_seconds_total').metrics[0]!.value)).toBeGreaterThan(0);
    expect(fam('streamsql_nodejs_heap_size_used_bytes').metrics.length).toBe(1);
  });

  it('serves the OpenAPI document with a schema on every route, and the /docs page', async () => {
    const doc = (await srv.call('GET', '/docs/json')).body;
    expect(doc.openapi).toMatch(/^3\./);
    const paths = Object.keys(doc.paths);
    for (const p of ['/healthz', '/v1/info', '/v1/sql', '/v1/queries', '/v1/queries/{id}', '/v1/catalog', '/v1/views/{name}', '/v1/views/{name}/changes', '/v1/query-stream', '/metrics']) {
      expect(paths, p).toContain(p);
    }
    const sql = doc.paths['/v1/sql'].post;
    expect(sql.requestBody.content['application/json'].schema.required).toEqual(['sql']);
    expect(Object.keys(sql.responses)).toEqual(expect.arrayContaining(['200', '4XX']));
    expect(doc.paths['/v1/views/{name}'].get.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(['name', 'limit']));
    expect(doc.paths['/v1/query-stream'].post.requestBody.content['application/json'].schema.properties.startFrom.enum).toEqual(['latest', 'earliest']);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const page = await fetch(`${srv.url}/docs`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/swagger/i);
  });

  it('caps running queries (MAX_QUERIES) with 429, push queries included', async () => {
    const ok = await srv.call('POST', '/v1/sql', { sql: 'CREATE MATERIALIZED VIEW m2 AS SELECT auction, COUNT(*) AS n FROM s GROUP BY auction' }, auth);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    const over = await srv.call('POST', '/v1/sql', { sql: 'CREATE MATERIALIZED VIEW m3 AS SELECT auction, COUNT(*) AS n FROM s GROUP BY auction' }, auth);
    expect(over.status).toBe(429);
    expect(over.body.error.message).toMatch(/MAX_QUERIES = 2/);
    const push = await srv.call('POST', '/v1/query-stream', { sql: 'SELECT auction FROM s EMIT CHANGES' }, auth);
    expect(push.status).toBe(429);
    expect(srv.service.engine.pushQueries()).toHaveLength(0);
    const id = (await srv.call('GET', '/v1/queries', undefined, auth)).body.queries.find((q: any) => q.name === 'm2').id;
    expect((await srv.call('DELETE', `/v1/queries/${id}`, undefined, auth)).status).toBe(200);
  });

  it('answers every refusal with the one error shape: body limit, validation, media type, unknown route', async () => {
    const big = await srv.call('POST', '/v1/sql', { sql: `SELECT 1 -- ${'x'.repeat(1024 * 1024)}` }, auth);
    expect(big.status).toBe(413);
    expect(big.body).toEqual({ error: { message: expect.any(String) } });
    const invalid = await srv.call('POST', '/v1/sql', { nosql: 1 }, auth);
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.message).toMatch(/sql/);
    const media = await srv.call('POST', '/v1/sql', '<sql>SELECT 1</sql>', { ...auth, 'content-type': 'application/xml' });
    expect(media.status).toBe(415);
    expect(typeof media.body.error.message).toBe('string');
    const missing = await srv.call('GET', '/v1/nothing', undefined, auth);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: { message: 'no route GET /v1/nothing' } });
    const badSql = await srv.call('POST', '/v1/sql', { sql: 'SELECT * FROM\n  nope' }, auth);
    expect(badSql.status).toBe(400);
    expect(badSql.body.error).toMatchObject({ line: 2, column: 3 });
  });
});
