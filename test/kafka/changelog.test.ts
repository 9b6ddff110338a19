/**
 * Keys and changelogs on the real broker: record keys as columns ('key.format' + 'key.fields',
 * EXCEPT_KEY), an upsert-kafka source (null value deletes) read inline and in a read worker, a
 * debezium-json source (c, r, u, d; with and without the schema envelope), and an upsert-kafka sink
 * writing upserts and a tombstone keyed by the primary key.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import avro from 'avsc';
import { produce, produceTransaction, readTopic } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  // The shared broker may be fresh: its transaction and offsets topics load at first use.
  const warm = uniqueTopic('warm');
  await produceTransaction(brokerList(), warm, [{ value: 'x' }], false);
  await readTopic(brokerList(), warm, { idleMs: 200 }); // a consumer group: the offsets topic
  svc = await startTestService();
});
afterAll(async () => { await svc?.close(); });

const rowsOf = async (view: string) => ((await svc.get(`/v1/views/${view}`)).body.rows ?? []) as Record<string, unknown>[];
const sorted = (rows: Record<string, unknown>[]) => [...rows].sort((a, b) => Number(a.id) - Number(b.id));
async function expectRows(view: string, want: Record<string, unknown>[]): Promise<void> {
  await waitFor(async () => JSON.stringify(sorted(await rowsOf(view))) === JSON.stringify(want), 30_000, `${view} = ${JSON.stringify(want)}`)
    .catch(async (e) => { throw new Error(`${(e as Error).message}; rows ${JSON.stringify(await rowsOf(view))}; queries ${JSON.stringify((await svc.get('/v1/queries')).body)}`); });
}

describe('keys and changelogs', () => {
  it('upsert-kafka: a keyed table over a topic, null value deletes; read inline and in a read worker; upsert-kafka sink writes a tombstone', async () => {
    const topic = uniqueTopic('users'); const out = uniqueTopic('users-out');
    await produce(brokerList(), topic, [
      { key: '{"id":1}', value: '{"id":1,"name":"ann","score":3}' },
      { key: '{"id":2}', value: '{"id":2,"name":"bob","score":5}' },
      { key: '{"id":3}', value: '{"name":"cid","score":7}' }, // the key column comes from the key
      { key: '{"id":1}', value: '{"id":1,"name":"ann2","score":4}' },
      { key: '{"id":2}', value: null },
      { key: 'not json', value: '{"id":9}' }, // malformed key: counted, skipped
    ]);
    const ddl = (name: string, workers: number) => `CREATE TABLE ${name} (id BIGINT, name STRING, score INT, PRIMARY KEY (id) NOT ENFORCED)
      WITH ('connector' = 'upsert-kafka', 'topic' = '${topic}', 'key.format' = 'json', 'value.format' = 'json', 'source.workers' = '${workers}')`;
    const r = await svc.sql(`${ddl('users', 0)}; ${ddl('users_w', 1)};
      CREATE MATERIALIZED VIEW users_now AS SELECT id, name, score FROM users WHERE score > 0;
      CREATE MATERIALIZED VIEW users_now_w AS SELECT name, id FROM users_w;
      CREATE SINK users_out AS SELECT id, name FROM users WITH ('connector' = 'upsert-kafka', 'topic' = '${out}', 'key.format' = 'json', 'value.format' = 'json')`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await expectRows('users_now', [{ id: 1, name: 'ann2', score: 4 }, { id: 3, name: 'cid', score: 7 }]);
    await expectRows('users_now_w', [{ name: 'ann2', id: 1 }, { name: 'cid', id: 3 }]);
    const q = (await svc.get(`/v1/queries/${r.body.results[2].queryId}`)).body;
    expect(q.progress.malformedRows).toBe(1);
    const recs = await waitFor(async () => {
      const x = await readTopic(brokerList(), out, { idleMs: 500 });
      return x.some((m) => m.key === '{"id":2}' && m.value === null) ? x : null;
    }, 45_000, 'the tombstone for id 2').catch(async (e) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(await readTopic(brokerList(), out, { idleMs: 500 }))}; ${JSON.stringify((await svc.get(`/v1/queries/${r.body.results[4].queryId}`)).body)}`);
    });
    // Compacted, the topic holds the view: the last record per key.
    const last = new Map(recs!.map((m) => [m.key, m.value]));
    expect(Object.fromEntries(last)).toEqual({ '{"id":1}': '{"id":1,"name":"ann2"}', '{"id":2}': null, '{"id":3}': '{"id":3,"name":"cid"}' });
  });

  it('GROUP BY over an upsert-kafka source retracts: updates move a key between groups, tombstones and filtered versions take it back', async () => {
    const topic = uniqueTopic('accounts');
    // Random upserts, moves between regions, tombstones; the expected view is computed from the final table.
    let seed = 17; const rnd = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
    const regions = ['eu', 'us', 'ap'];
    const final = new Map<number, { region: string; v: number }>();
    const recs: { key: string; value: string | null }[] = [];
    for (let i = 0; i < 400; i++) {
      const id = rnd(40);
      if (rnd(6) === 0) { recs.push({ key: JSON.stringify({ id }), value: null }); final.delete(id); continue; }
      const row = { region: regions[rnd(3)]!, v: rnd(50) - 10 };
      recs.push({ key: JSON.stringify({ id }), value: JSON.stringify({ id, ...row }) });
      final.set(id, row);
    }
    await produce(brokerList(), topic, recs);
    const r = await svc.sql(`CREATE TABLE accounts (id BIGINT, region STRING, v BIGINT, ts TIMESTAMP(3), PRIMARY KEY (id) NOT ENFORCED)
        WITH ('connector' = 'upsert-kafka', 'topic' = '${topic}', 'key.format' = 'json', 'value.format' = 'json');
      CREATE MATERIALIZED VIEW by_region AS SELECT region, COUNT(*) AS n, SUM(v) AS total, MIN(v) AS lo, MAX(v) AS hi
        FROM accounts WHERE v >= 0 GROUP BY region;
      EXPLAIN CREATE MATERIALIZED VIEW x AS SELECT region, COUNT(*) AS n FROM accounts GROUP BY region`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.results[2].plan.physical).toMatch(/UpdatingAggregate: groupBy=\[region\], aggs=\[count\(\*\) AS n\], retract by=\[id\]/);
    const want = regions.map((region) => {
      const vs = [...final.values()].filter((x) => x.region === region && x.v >= 0).map((x) => x.v);
      return vs.length ? { region, n: vs.length, total: vs.reduce((a, b) => a + b, 0), lo: Math.min(...vs), hi: Math.max(...vs) } : null;
    }).filter((x) => x !== null);
    const byRegion = (rows: Record<string, unknown>[]) => [...rows].sort((a, b) => String(a.region).localeCompare(String(b.region)));
    await waitFor(async () => JSON.stringify(byRegion(await rowsOf('by_region'))) === JSON.stringify(byRegion(want)), 30_000, 'by_region')
      .catch(async (e) => { throw new Error(`${(e as Error).message}: ${JSON.stringify(byRegion(await rowsOf('by_region')))} vs ${JSON.stringify(byRegion(want))}`); });
    // A window over the changelog would count deletes as rows: refused, with where.
    const w = await svc.sql(`CREATE MATERIALIZED VIEW w AS SELECT window_start, region, COUNT(*) FROM TUMBLE(accounts, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, region`);
    expect(w.status).toBe(400);
    expect(w.body.error.message).toMatch(/windows over the changelog 'accounts' are not supported/);
  });

  it('a changelog view and its upsert-kafka sink (exactly-once) resume after a restart: nothing lost, nothing twice', async () => {
    const topic = uniqueTopic('acct'); const out = uniqueTopic('acct-out');
    await produce(brokerList(), topic, [{ key: '1', value: '{"bal":10}' }, { key: '2', value: '{"bal":20}' }]);
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'streamsql-cl-'));
    let s = await startTestService({ dataDir });
    try {
      const r = await s.sql(`CREATE TABLE acct (id STRING, bal BIGINT, PRIMARY KEY (id) NOT ENFORCED) WITH ('connector' = 'upsert-kafka', 'topic' = '${topic}', 'key.format' = 'raw', 'value.format' = 'json');
        CREATE MATERIALIZED VIEW acct_now AS SELECT id, bal FROM acct;
        CREATE SINK acct_out AS SELECT id, bal FROM acct WITH ('connector' = 'upsert-kafka', 'topic' = '${out}', 'key.format' = 'raw', 'value.format' = 'json')`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const rows = async () => ((await s.get('/v1/views/acct_now')).body.rows ?? []).map((x: { id: string; bal: number }) => `${x.id}=${x.bal}`).sort().join(',');
      await waitFor(async () => (await rows()) === '1=10,2=20', 30_000, 'acct_now before the restart');
      await s.close({ keepData: true });
      await produce(brokerList(), topic, [{ key: '1', value: null }, { key: '3', value: '{"bal":30}' }, { key: '2', value: '{"bal":21}' }]);
      s = await startTestService({ dataDir });
      await waitFor(async () => (await rows()) === '2=21,3=30', 30_000, 'acct_now after the restart');
      const recs = await waitFor(async () => { const x = await readTopic(brokerList(), out, { idleMs: 500 }); return x.length >= 5 ? x : null; }, 30_000, 'five sink records');
      // Each change exactly once, in order per key, the delete as a tombstone.
      expect(recs!.map((m) => `${m.key}:${m.value}`)).toEqual(['1:{"id":"1","bal":10}', '2:{"id":"2","bal":20}', '1:null', '3:{"id":"3","bal":30}', '2:{"id":"2","bal":21}']);
    } finally { await s.close(); rmSync(dataDir, { recursive: true, force: true }); }
  });

  it('an upsert sink writes the last change per key of an epoch; a debezium sink keeps every change', async () => {
    const topic = uniqueTopic('acct-many'); const out = uniqueTopic('acct-many-out'); const dbz = uniqueTopic('acct-many-dbz');
    // All in the topic before the queries start: read in their first fetch, so within one epoch.
    await produce(brokerList(), topic, [
      { key: '1', value: '{"bal":10}' }, { key: '2', value: '{"bal":20}' }, { key: '1', value: '{"bal":11}' },
      { key: '3', value: '{"bal":30}' }, { key: '1', value: '{"bal":12}' }, { key: '3', value: null },
    ]);
    {
      const r = await svc.sql(`CREATE TABLE acct_many (id STRING, bal BIGINT, PRIMARY KEY (id) NOT ENFORCED) WITH ('connector' = 'upsert-kafka', 'topic' = '${topic}', 'key.format' = 'raw', 'value.format' = 'json');
        CREATE SINK acct_many_out AS SELECT id, bal FROM acct_many WITH ('connector' = 'upsert-kafka', 'topic' = '${out}', 'key.format' = 'raw', 'value.format' = 'json');
        CREATE SINK acct_many_dbz AS SELECT id, bal FROM acct_many WITH ('connector' = 'kafka', 'topic' = '${dbz}', 'format' = 'debezium-json')`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const recs = await waitFor(async () => { const x = await readTopic(brokerList(), out, { idleMs: 500 }); return x.length >= 3 ? x : null; }, 30_000, 'the upsert sink\'s records');
      const events = await waitFor(async () => { const x = await readTopic(brokerList(), dbz, { idleMs: 500 }); return x.length >= 6 ? x : null; }, 30_000, 'the debezium sink\'s records');
      // One record per key, each key's last change (3 was inserted and deleted: its tombstone).
      expect(recs!.map((m) => `${m.key}:${m.value}`).sort()).toEqual(['1:{"id":"1","bal":12}', '2:{"id":"2","bal":20}', '3:null']);
      // Every change: 1 three times, 2, 3 inserted then deleted.
      expect(events!.map((m) => { const e = JSON.parse(m.value!); return `${e.op}:${(e.after ?? e.before).id}`; }).sort()).toEqual(['c:1', 'c:1', 'c:1', 'c:2', 'c:3', 'd:3']);
    }
  });

  it('debezium-json: c, r, u, d with and without the schema envelope', async () => {
    const topic = uniqueTopic('dbz');
    const ev = (op: string, before: object | null, after: object | null) => JSON.stringify({ before, after, op, ts_ms: 1700000000000, source: { table: 'products' } });
    const env = (payload: string) => JSON.stringify({ schema: { type: 'struct', optional: false }, payload: JSON.parse(payload) });
    await produce(brokerList(), topic, [
      { value: ev('r', null, { id: 101, name: 'scooter', weight: 3.14 }) },
      { value: env(ev('c', null, { id: 102, name: 'battery', weight: 0.8 })) },
      { value: ev('c', null, { id: 103, name: 'drill', weight: 2.5 }) },
      { value: env(ev('u', { id: 101, name: 'scooter', weight: 3.14 }, { id: 101, name: 'scooter', weight: 5.1 })) },
      { value: ev('d', { id: 103, name: 'drill', weight: 2.5 }, null) },
      { value: null }, // the tombstone after a delete
      { value: '{"hello":"world"}' }, // not a change event: malformed
    ]);
    const r = await svc.sql(`CREATE TABLE products (id BIGINT, name STRING, weight DOUBLE, PRIMARY KEY (id) NOT ENFORCED)
        WITH ('connector' = 'kafka', 'topic' = '${topic}', 'format' = 'debezium-json', 'scan.startup.mode' = 'earliest-offset');
      CREATE MATERIALIZED VIEW products_now AS SELECT id, name, weight FROM products;
      CREATE SINK products_dbz AS SELECT id, name FROM products WITH ('connector' = 'kafka', 'topic' = '${topic}-out', 'format' = 'debezium-json')`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await expectRows('products_now', [{ id: 101, name: 'scooter', weight: 5.1 }, { id: 102, name: 'battery', weight: 0.8 }]);
    expect((await svc.get(`/v1/queries/${r.body.results[1].queryId}`)).body.progress.malformedRows).toBe(1);
    // As an output format: every change as an event keyed by the primary key ('u' = delete before + insert after).
    const evs = await waitFor(async () => { const x = await readTopic(brokerList(), `${topic}-out`, { idleMs: 500 }); return x.length >= 6 ? x : null; }, 45_000, 'debezium events')
      .catch(async (e) => { throw new Error(`${(e as Error).message}: ${JSON.stringify(await readTopic(brokerList(), `${topic}-out`, { idleMs: 500 }))} ${JSON.stringify((await svc.get(`/v1/queries/${r.body.results[2].queryId}`)).body)}`); });
    expect(evs!.map((m) => { const e = JSON.parse(m.value!); return `${m.key} ${e.op} ${JSON.stringify(e.op === 'd' ? e.before : e.after)}`; })).toEqual([
      '{"id":101} c {"id":101,"name":"scooter"}', '{"id":102} c {"id":102,"name":"battery"}', '{"id":103} c {"id":103,"name":"drill"}',
      '{"id":101} d {"id":101,"name":"scooter"}', '{"id":101} c {"id":101,"name":"scooter"}', '{"id":103} d {"id":103,"name":"drill"}',
    ]);
    // Aggregating the changelog retracts: the update and the delete are taken back (2 products now, 5.9 kg).
    const agg = await svc.sql('CREATE MATERIALIZED VIEW n AS SELECT COUNT(*) AS c, SUM(weight) AS w FROM products');
    expect(agg.status, JSON.stringify(agg.body)).toBe(200);
    await waitFor(async () => { const x = await rowsOf('n'); return x.length === 1 && x[0]!.c === 2 && Math.abs(Number(x[0]!.w) - 5.9) < 1e-9 ? x : null; }, 30_000, 'n = 2 products')
      .catch(async (e) => { throw new Error(`${(e as Error).message}: ${JSON.stringify(await rowsOf('n'))}`); });
  });

  it("record keys as columns: 'key.fields' with 'value.fields-include' = 'EXCEPT_KEY', and a raw key", async () => {
    const topic = uniqueTopic('clicks');
    await produce(brokerList(), topic, [
      { key: '{"user_id":7,"region":"eu"}', value: '{"page":"/a"}' },
      { key: '{"user_id":8,"region":"us"}', value: '{"page":"/b"}' },
    ]);
    const r = await svc.sql(`CREATE TABLE clicks (user_id BIGINT, region STRING, page STRING) WITH ('connector' = 'kafka', 'topic' = '${topic}',
        'key.format' = 'json', 'key.fields' = 'user_id;region', 'value.format' = 'json', 'value.fields-include' = 'EXCEPT_KEY', 'scan.startup.mode' = 'earliest-offset');
      CREATE TABLE clicks_raw (k STRING, page STRING) WITH ('connector' = 'kafka', 'topic' = '${topic}',
        'key.format' = 'raw', 'key.fields' = 'k', 'format' = 'json', 'scan.startup.mode' = 'earliest-offset');
      CREATE MATERIALIZED VIEW clicks_v AS SELECT user_id AS id, region, page FROM clicks;
      CREATE MATERIALIZED VIEW clicks_raw_v AS SELECT k, page FROM clicks_raw;
      CREATE SINK clicks_out AS SELECT user_id, page FROM clicks WITH ('connector' = 'kafka', 'topic' = '${topic}-out', 'format' = 'json',
        'key.format' = 'raw', 'key.fields' = 'user_id', 'value.fields-include' = 'EXCEPT_KEY', 'sink.delivery-guarantee' = 'at-least-once')`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await expectRows('clicks_v', [{ id: 7, region: 'eu', page: '/a' }, { id: 8, region: 'us', page: '/b' }]);
    await waitFor(async () => (await rowsOf('clicks_raw_v')).length === 2, 30_000, 'clicks_raw_v');
    expect((await rowsOf('clicks_raw_v')).map((x) => x.k).sort()).toEqual(['{"user_id":7,"region":"eu"}', '{"user_id":8,"region":"us"}']);
    // A sink writes the record key from 'key.fields' (raw: the column's text), the value without it.
    const recs = await waitFor(async () => { const x = await readTopic(brokerList(), `${topic}-out`, { idleMs: 500 }); return x.length >= 2 ? x : null; }, 30_000, 'keyed sink records');
    expect(recs!.map((m) => [m.key, m.value]).sort()).toEqual([['7', '{"page":"/a"}'], ['8', '{"page":"/b"}']]);
  });

  it("'format' = 'avro': values written by avsc with the schema Flink derives, an upsert-kafka table with Avro values; bad bytes are malformed", async () => {
    const topic = uniqueTopic('avro'); const up = uniqueTopic('avro-up');
    // The writer's schema, written out by hand as a producer would (Flink's derived record schema).
    const writer = avro.Type.forSchema({ type: 'record', name: 'record', fields: [
      { name: 'id', type: ['null', 'long'], default: null },
      { name: 'name', type: ['null', 'string'], default: null },
      { name: 'ts', type: ['null', { type: 'long', logicalType: 'timestamp-millis' }], default: null },
      { name: 'geo', type: ['null', { type: 'record', name: 'geo', fields: [{ name: 'lat', type: ['null', 'double'], default: null }] }], default: null },
    ] } as avro.Schema, { wrapUnions: false });
    const enc = (o: object) => writer.toBuffer(o);
    await produce(brokerList(), topic, [
      { value: enc({ id: 1, name: 'ann', ts: 1700000000000, geo: { lat: 48.1 } }) },
      { value: enc({ id: 2, name: null, ts: null, geo: null }) },
      { value: Buffer.from('not avro at all') },
    ]);
    await produce(brokerList(), up, [{ key: 'a', value: enc({ id: 1, name: 'x', ts: null, geo: null }) }, { key: 'b', value: enc({ id: 2, name: 'y', ts: null, geo: null }) }, { key: 'a', value: null }]);
    const r = await svc.sql(`CREATE TABLE av (id BIGINT, name STRING, ts TIMESTAMP(3), geo ROW<lat DOUBLE>) WITH ('connector' = 'kafka', 'topic' = '${topic}', 'format' = 'avro', 'scan.startup.mode' = 'earliest-offset');
      CREATE TABLE av_up (k STRING, id BIGINT, name STRING, ts TIMESTAMP(3), geo ROW<lat DOUBLE>, PRIMARY KEY (k) NOT ENFORCED) WITH ('connector' = 'upsert-kafka', 'topic' = '${up}',
        'key.format' = 'raw', 'value.format' = 'avro', 'value.fields-include' = 'EXCEPT_KEY');
      CREATE MATERIALIZED VIEW av_v AS SELECT id, name, ts, geo.lat AS lat FROM av;
      CREATE MATERIALIZED VIEW av_up_v AS SELECT k, name FROM av_up`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await expectRows('av_v', [{ id: 1, name: 'ann', ts: '2023-11-14T22:13:20.000Z', lat: 48.1 }, { id: 2, name: null, ts: null, lat: null }]);
    expect((await svc.get(`/v1/queries/${r.body.results[2].queryId}`)).body.progress.malformedRows).toBe(1);
    await waitFor(async () => JSON.stringify(await rowsOf('av_up_v')) === JSON.stringify([{ k: 'b', name: 'y' }]), 30_000, 'av_up_v');
    const bad = await svc.sql(`CREATE TABLE avc (id BIGINT) WITH ('connector' = 'kafka', 'topic' = 't', 'format' = 'avro-confluent')`);
    expect(bad.body.error.message).toMatch(/'avro-confluent' needs 'avro-confluent\.url'/); // the registry (test/kafka/avro-confluent.test.ts)
  });
});
