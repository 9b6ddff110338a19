/**
 * Push queries over several inputs, end to end on the real broker through POST /v1/query-stream: a
 * UNION ALL of two sources (rows and a count over the union, as upserts), a join of two sources
 * started at the latest offsets (every input positioned first), the consumer groups of every input
 * removed at the end; and the refusal that still holds: a push query reading a materialized view.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, listGroups, produce } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { waitFor } from '../helpers/service.ts';
import { sse, startServer, type Server } from './helpers.ts';

const T0 = Date.parse('2024-03-01T10:00:00.000Z');
const ev = (k: number, v: number, s: number, partition = 0) => ({ partition, value: JSON.stringify({ k, v, ts: T0 + s * 1000 }) });

describe('push queries over several inputs', () => {
  let srv: Server;
  const ta = uniqueTopic('push-a');
  const tb = uniqueTopic('push-b');

  beforeAll(async () => {
    srv = await startServer({ heartbeatMs: 500, pushIntervalMs: 200 });
    await createTopic(brokerList(), ta, 2);
    await createTopic(brokerList(), tb, 1);
    await produce(brokerList(), ta, [ev(1, 10, 1), ev(2, 20, 2, 1), ev(1, 11, 3, 1)]);
    await produce(brokerList(), tb, [ev(1, 100, 1), ev(3, 300, 2)]);
    const r = await srv.call('POST', '/v1/sql', { sql: `
      CREATE SOURCE sa (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
      WITH (connector = 'kafka', topic = '${ta}', format = 'json');
      CREATE SOURCE sb (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
      WITH (connector = 'kafka', topic = '${tb}', format = 'json');
      CREATE MATERIALIZED VIEW per_k WITH ('checkpoint.interval' = '200 ms') AS SELECT k, COUNT(*) AS n FROM sa GROUP BY k;` });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  });
  afterAll(async () => { await srv?.close(); });

  it('UNION ALL of two sources: every row of each input, and a count over the union as upserts', async () => {
    const rows = await sse(`${srv.url}/v1/query-stream`, { method: 'POST', body: { sql: 'SELECT k, v FROM sa UNION ALL SELECT k, v FROM sb EMIT CHANGES', startFrom: 'earliest' } });
    expect(rows.status).toBe(200);
    const got = await rows.until((e) => e.filter((x) => x.event === 'change').length >= 5, 20_000, 'union rows');
    const changes = got.filter((x) => x.event === 'change');
    expect(changes.every((x) => x.data.op === 'insert')).toBe(true);
    expect(changes.map((x) => [x.data.row.k, x.data.row.v]).sort((a, b) => a[1] - b[1])).toEqual([[1, 10], [1, 11], [2, 20], [1, 100], [3, 300]]);
    rows.close();

    const counts = await sse(`${srv.url}/v1/query-stream`, {
      method: 'POST',
      body: { sql: 'SELECT k, COUNT(*) AS n, SUM(v) AS total FROM (SELECT k, v FROM sa UNION ALL SELECT k, v FROM sb) GROUP BY k EMIT CHANGES', startFrom: 'earliest' },
    });
    const last = new Map<number, { n: number; total: number }>();
    await counts.until((e) => {
      for (const x of e) if (x.event === 'change') last.set(x.data.row.k, { n: x.data.row.n, total: x.data.row.total });
      return last.get(1)?.n === 3 && last.get(2)?.n === 1 && last.get(3)?.n === 1;
    }, 20_000, 'counts over the union');
    const ch = counts.events.filter((x) => x.event === 'change');
    expect(ch.every((x) => x.data.op === 'upsert')).toBe(true);
    expect(Object.fromEntries(last)).toEqual({ 1: { n: 3, total: 121 }, 2: { n: 1, total: 20 }, 3: { n: 1, total: 300 } });
    expect(counts.events[0]!.data.keyColumns).toEqual(['k']);
    counts.close();
    await waitFor(() => srv.service.engine.pushQueries().length === 0, 10_000, 'the push queries to stop');
  });

  it('a join of two sources from the latest offsets: only new pairs; every input\'s consumer group removed at the end', async () => {
    const c = await sse(`${srv.url}/v1/query-stream`, { method: 'POST', body: { sql: 'SELECT a.k, a.v AS av, b.v AS bv FROM sa a JOIN sb b ON a.k = b.k EMIT CHANGES' } });
    expect(c.status).toBe(200);
    const [schema] = await c.until((e) => e.length >= 1, 10_000, 'schema');
    const queryId: string = schema!.data.queryId;
    await waitFor(() => srv.service.engine.pushQueries()[0]?.query.positioned() === true, 15_000, 'both inputs to position themselves');
    await produce(brokerList(), ta, [ev(5, 50, 10), ev(6, 60, 11, 1)]);
    await produce(brokerList(), tb, [ev(5, 500, 10), ev(1, 101, 12)]);
    // k = 5 pairs; k = 1 of sb finds no new sa row (the old ones are before the start), k = 6 no partner.
    const ev1 = await c.until((e) => e.some((x) => x.event === 'change'), 20_000, 'join pairs');
    await new Promise((r) => setTimeout(r, 1000)); // nothing else may follow
    const pairs = c.events.filter((x) => x.event === 'change').map((x) => x.data);
    expect(ev1.length).toBeGreaterThan(0);
    expect(pairs).toEqual([{ op: 'insert', row: { k: 5, av: 50, bv: 500 } }]);
    c.close();
    await waitFor(() => srv.service.engine.pushQueries().length === 0, 10_000, 'the push query to stop');
    await waitFor(async () => !(await listGroups(brokerList())).some((g) => g.startsWith(`streamsql-push-${queryId}`)), 10_000, 'the consumer groups to be deleted');
  });

  it('refuses a push query that reads a materialized view, with the position', async () => {
    const r = await srv.call('POST', '/v1/query-stream', { sql: 'SELECT k, n FROM per_k EMIT CHANGES' });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ line: 1, column: 1 });
    expect(r.body.error.message).toMatch(/a push query \(EMIT CHANGES\) reads sources.*\/v1\/views\/:name\/changes/);
    expect(srv.service.engine.pushQueries()).toHaveLength(0);
  });
});
