/**
 * Every statement form of the SQL surface over POST /v1/sql against the real broker: sources (both
 * spellings), views, materialized views, sinks (FROM and AS), INSERT INTO, SHOW, DESCRIBE, EXPLAIN,
 * DROP refused while something depends on it, then allowed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce, readTopic } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';

describe('statement forms over POST /v1/sql', () => {
  let ts: TestService;
  const input = uniqueTopic('forms-in');
  const out = uniqueTopic('forms-out');
  const copy = uniqueTopic('forms-copy');
  beforeAll(async () => {
    ts = await startTestService();
    await createTopic(brokerList(), input, 2);
    await produce(brokerList(), input, [1, 2, 3, 4].map((i) => ({ partition: i % 2, value: JSON.stringify({ id: i, kind: i % 2 ? 'odd' : 'even', ts: 1_700_000_000_000 + i * 1000 }) })));
  });
  afterAll(async () => { await ts?.close(); });

  const ok = async (sql: string) => {
    const r = await ts.sql(sql);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.results as any[];
  };

  it('creates, reads, explains, describes, lists and drops', async () => {
    await ok(`CREATE TABLE events (id BIGINT, kind STRING, ts TIMESTAMP(3), part INT METADATA FROM 'partition',
        WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
      WITH ('connector' = 'kafka', 'topic' = '${input}', 'format' = 'json', 'scan.startup.mode' = 'earliest')`);
    await ok(`CREATE SOURCE copies (id BIGINT, kind VARCHAR) WITH (connector = 'kafka', topic = '${copy}', format = 'json', 'scan.startup.mode' = 'earliest')`);
    await ok(`CREATE VIEW odd_events AS SELECT id, kind, ts FROM events WHERE kind = 'odd'`);
    const mv = await ok(`CREATE MATERIALIZED VIEW per_kind WITH ('checkpoint.interval' = '200 ms') AS
      SELECT kind, COUNT(*) AS n, MAX(id) AS top FROM events GROUP BY kind`);
    expect(mv[0].queryId).toBeTruthy();
    const sinkAs = await ok(`CREATE SINK odd_sink AS SELECT id, kind FROM odd_events WITH (connector = 'kafka', topic = '${out}', format = 'json', 'checkpoint.interval' = '200 ms')`);
    expect(sinkAs[0].queryId).toBeTruthy();
    await ok(`CREATE SINK per_kind_sink FROM events WITH (connector = 'kafka', topic = '${out}-all', format = 'json')`);
    const ins = await ok(`INSERT INTO copies SELECT id, kind FROM events`);
    expect(ins[0].queryId).toBeTruthy();

    const rows = await waitFor(async () => {
      const r = await ts.sql('SELECT kind, n, top FROM per_kind ORDER BY kind');
      const x = r.body.results?.[0]?.rows;
      return x?.length === 2 && x[0].n === 2 && x[1].n === 2 ? x : null;
    }, 30_000, 'per_kind rows');
    expect(rows).toEqual([{ kind: 'even', n: 2, top: 4 }, { kind: 'odd', n: 2, top: 3 }]);

    const sunk = await waitFor(async () => { const r = await readTopic(brokerList(), out, { idleMs: 500 }); return r.length >= 2 ? r : null; }, 30_000, 'sink records');
    expect(sunk!.map((r) => JSON.parse(r.value!)).sort((a, b) => a.id - b.id)).toEqual([{ id: 1, kind: 'odd' }, { id: 3, kind: 'odd' }]);
    const copied = await waitFor(async () => { const r = await readTopic(brokerList(), copy, { idleMs: 500 }); return r.length >= 4 ? r : null; }, 30_000, 'INSERT INTO records');
    expect(copied!.map((r) => JSON.parse(r.value!).id).sort()).toEqual([1, 2, 3, 4]);

    const show = async (what: string) => (await ok(`SHOW ${what}`))[0].rows.map((r: { name: string }) => r.name).sort();
    expect(await show('SOURCES')).toEqual(['copies', 'events']);
    expect(await show('VIEWS')).toEqual(expect.arrayContaining(['odd_events', 'per_kind']));
    expect(await show('SINKS')).toEqual(expect.arrayContaining(['odd_sink', 'per_kind_sink']));
    expect((await ok('SHOW QUERIES'))[0].rows.length).toBeGreaterThanOrEqual(4);
    const desc = (await ok('DESCRIBE events'))[0].rows;
    expect(desc.map((r: { column: string; type: string }) => `${r.column} ${r.type}`)).toEqual(['id BIGINT', 'kind VARCHAR', 'ts TIMESTAMP(3)', 'part INT']);
    const plan = (await ok(`EXPLAIN CREATE MATERIALIZED VIEW x AS SELECT window_start, window_end, kind, COUNT(*) AS n FROM TUMBLE(events, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, kind`))[0].plan;
    expect(plan.physical).toMatch(/^QueryTableSink: x key=\[window_start, window_end, kind\]/);
    expect(plan.physical).toMatch(/TumbleAggregate: size=1min, time=ts/);
    expect(plan.logical).toMatch(/Aggregate: window=tumble\(size=1min\)/);

    const refused = await ts.sql('DROP SOURCE events');
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/depend/);
    expect(refused.body.error).toMatchObject({ line: 1, column: 13 });
    await ok('DROP SINK odd_sink; DROP SINK per_kind_sink; DROP MATERIALIZED VIEW per_kind; DROP VIEW odd_events');
    const insertQuery = (await ok('SHOW SINKS'))[0].rows.map((r: { name: string }) => r.name);
    for (const name of insertQuery) await ok(`DROP SINK ${name}`);
    await ok('DROP SOURCE events; DROP SOURCE IF EXISTS events; DROP SOURCE copies');
    expect(await show('SOURCES')).toEqual([]);
    expect((await ts.get('/v1/queries')).body.queries).toEqual([]);
  });
});
