/**
 * 'avro-confluent' end to end on the shared broker, against a schema registry (a STAND-IN speaking the
 * Confluent REST subset, test/kafka/schema-registry.ts: no real registry runs on this machine), with
 * values written and read by a maintained Confluent-format serializer (@kafkajs/confluent-schema-registry):
 * - sources decode the wire format with the writer's schema by id, resolved against the declared
 *   columns (another record name, a missing field → NULL, int promoted to long, extra fields skipped),
 *   inline and in a read worker; bytes that are not Confluent Avro and unknown ids are malformed;
 * - a registry outage holds the fetch, shows in the status, and loses nothing when it comes back;
 * - sinks register `<topic>-value` and write the wire format (read back by the serializer), and
 *   'format' = 'avro' sinks write plain Avro (read back by an avro source).
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../connectors/kafka/client.ts';
import { PLAINTEXT } from '../../connectors/kafka/security.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from '../../server/app.ts';
import { startService } from '../../queries/service.ts';
import { brokers } from '../helpers/kafka.ts';
import { waitFor } from '../helpers/service.ts';
import { startStandInRegistry, type StandInRegistry } from './schema-registry.ts';

let reg: StandInRegistry;
let csr: SchemaRegistry;
let svc: Awaited<ReturnType<typeof service>>;
const logs: string[] = [];

async function service(dataDir = mkdtempSync(path.join(os.tmpdir(), 'streamsql-avc-'))) {
  const s = await startService({ kafkaBrokers: brokers(), dataDir, demo: false, log: (l, m) => { logs.push(`${l} ${m}`); } });
  const app = await buildApp(s);
  const call = async (method: 'GET' | 'POST', url: string, payload?: unknown) => {
    const r = await app.inject({ method, url, payload: payload as never });
    let body: any = null;
    try { body = r.json(); } catch { /* text */ }
    return { status: r.statusCode, body };
  };
  return {
    dataDir,
    sql: (sql: string) => call('POST', '/v1/sql', { sql }),
    get: (url: string) => call('GET', url),
    async close(keepData = false) { await app.close(); await s.stop(); if (!keepData) rmSync(dataDir, { recursive: true, force: true }); },
  };
}
const T = uniqueTopic('avc-in');
const OUT = uniqueTopic('avc-out');
const OUT_AVRO = uniqueTopic('avc-avro');
const BASE_TS = Date.UTC(2026, 0, 1);

async function produce(topic: string, values: Buffer[]): Promise<void> {
  const p = createKafka(brokerList(), 'avc-test-producer', undefined, {}, PLAINTEXT).producer();
  await p.connect();
  try { await p.send({ topic, messages: values.map((value) => ({ value })) }); } finally { await p.disconnect(); }
}

async function readRaw(topic: string, want: number): Promise<Buffer[]> {
  const c = createKafka(brokerList(), 'avc-test-reader', undefined, {}, PLAINTEXT).consumer({ groupId: `avc-${Date.now()}-${Math.random()}`, readUncommitted: false });
  const out: Buffer[] = [];
  await c.connect();
  try {
    await c.subscribe({ topics: [topic], fromBeginning: true });
    await c.run({ eachMessage: async ({ message }) => { if (message.value) out.push(message.value); } });
    await waitFor(() => out.length >= want, 60_000, `${want} records in ${topic}`);
  } finally { await c.disconnect(); }
  return out;
}

const writerV1 = { type: 'record', name: 'Payment', namespace: 'com.acme', fields: [
  { name: 'id', type: 'long' }, { name: 'amount', type: 'double' }, { name: 'currency', type: 'string' },
  { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } }, { name: 'note', type: 'string' },
] };
// A later version: no currency (→ NULL), id as int (promoted), a new field the columns do not have.
const writerV2 = { type: 'record', name: 'Payment', namespace: 'com.acme', fields: [
  { name: 'id', type: 'int' }, { name: 'amount', type: 'double' }, { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
  { name: 'channel', type: ['null', 'string'], default: null },
] };
const writerV3 = { ...writerV2, fields: [...writerV2.fields, { name: 'currency', type: ['null', 'string'], default: null }] };

const viewRows = async (name: string) => ((await svc.get(`/v1/views/${name}`)).body.rows ?? []) as Record<string, unknown>[];
let ids: { v1: number; v2: number; v3: number };
let queries: Record<string, string>;

beforeAll(async () => {
  reg = await startStandInRegistry();
  csr = new SchemaRegistry({ host: reg.url });
  const subject = `${T}-value`;
  ids = {
    v1: (await csr.register({ type: SchemaType.AVRO, schema: JSON.stringify(writerV1) }, { subject })).id,
    v2: (await csr.register({ type: SchemaType.AVRO, schema: JSON.stringify(writerV2) }, { subject })).id,
    v3: (await csr.register({ type: SchemaType.AVRO, schema: JSON.stringify(writerV3) }, { subject })).id,
  };
  const values: Buffer[] = [];
  for (let i = 0; i < 6; i++) values.push(await csr.encode(ids.v1, { id: i, amount: 10 * (i + 1), currency: i % 2 ? 'USD' : 'EUR', ts: BASE_TS + i * 1000, note: `n${i}` }));
  for (let i = 6; i < 9; i++) values.push(await csr.encode(ids.v2, { id: i, amount: 1.5, ts: BASE_TS + i * 1000, channel: 'web' }));
  values.push(Buffer.from('{"id": 99, "not": "avro"}'));
  values.push(Buffer.from([0, 0, 0, 3, 0xe7, 2, 4])); // schema id 999: not in the registry
  await produce(T, values);
  svc = await service();
  const url = reg.url;
  const r = await svc.sql(`
    CREATE TABLE pay (id BIGINT, amount DOUBLE, currency STRING, ts TIMESTAMP(3)) WITH ('connector' = 'kafka', 'topic' = '${T}',
      'value.format' = 'avro-confluent', 'value.avro-confluent.url' = '${url}', 'scan.startup.mode' = 'earliest-offset', 'source.workers' = '1');
    CREATE TABLE pay_inline (id BIGINT, amount DOUBLE, currency STRING) WITH ('connector' = 'kafka', 'topic' = '${T}',
      'format' = 'avro-confluent', 'avro-confluent.url' = '${url}', 'scan.startup.mode' = 'earliest-offset', 'source.workers' = '0');
    CREATE MATERIALIZED VIEW pay_rows AS SELECT id, amount, currency, ts FROM pay;
    CREATE MATERIALIZED VIEW pay_inline_rows AS SELECT id, currency FROM pay_inline;
    CREATE SINK pay_out AS SELECT id, amount, currency FROM pay WITH ('connector' = 'kafka', 'topic' = '${OUT}',
      'value.format' = 'avro-confluent', 'value.avro-confluent.url' = '${url}');
    CREATE SINK pay_avro AS SELECT id, currency, ts FROM pay WITH ('connector' = 'kafka', 'topic' = '${OUT_AVRO}', 'format' = 'avro')`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  queries = Object.fromEntries((r.body.results as { queryId?: string; name?: string }[]).filter((x) => x.queryId).map((x, i) => [['pay_rows', 'pay_inline_rows', 'pay_out', 'pay_avro'][i]!, x.queryId!]));
}, 120_000);

afterAll(async () => {
  await svc?.close();
  await reg?.stop();
});

describe('avro-confluent', () => {
  it('reads the wire format with the writer schema by id, resolved against the columns (read worker and inline); bad bytes and unknown ids are malformed', async () => {
    await waitFor(async () => (await viewRows('pay_rows')).length === 9 && (await viewRows('pay_inline_rows')).length === 9, 40_000, '9 rows in both views');
    const rows = (await viewRows('pay_rows')).sort((a, b) => Number(a.id) - Number(b.id));
    expect(rows.map((x) => x.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(rows.map((x) => x.currency)).toEqual(['EUR', 'USD', 'EUR', 'USD', 'EUR', 'USD', null, null, null]);
    expect(rows.map((x) => x.amount)).toEqual([10, 20, 30, 40, 50, 60, 1.5, 1.5, 1.5]);
    expect(new Date(String(rows[3]!.ts).replace(' ', 'T') + (String(rows[3]!.ts).endsWith('Z') ? '' : 'Z')).getTime()).toBe(BASE_TS + 3000);
    const q = (await svc.get(`/v1/queries/${queries.pay_rows}`)).body;
    expect(JSON.stringify(q)).toMatch(/"malformedRows":2/);
    // Each writer schema fetched once per decoding thread (4 queries read 'pay'/'pay_inline': inline or in workers), not per message.
    expect(reg.requests.get('GET /schemas/ids')!).toBeLessThanOrEqual(4 * 3); // v1, v2 and id 999
  });

  it('sinks register <topic>-value and write Confluent framing a maintained deserializer reads; format avro writes plain Avro', async () => {
    // A fresh broker's transaction coordinator takes a while to load: wait for the sink's first epoch.
    await waitFor(async () => (await svc.get(`/v1/queries/${queries.pay_out}`)).body.progress?.lastCheckpoint, 60_000, 'the sink\'s first epoch');
    const out = await readRaw(OUT, 9).catch(async (e) => { throw new Error(`${(e as Error).message}: ${JSON.stringify((await svc.get(`/v1/queries/${queries.pay_out}`)).body)}\n${logs.join('\n')}`); });
    expect(reg.subjects.get(`${OUT}-value`)?.length).toBe(1);
    const decoded = await Promise.all(out.map((b) => csr.decode(b)));
    expect(decoded.map((x: { id: number }) => Number(x.id)).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(decoded.find((x: { id: number }) => Number(x.id) === 1)).toMatchObject({ amount: 20, currency: 'USD' });
    expect(out[0]![0]).toBe(0);
    expect(out[0]!.readInt32BE(1)).toBe(reg.subjects.get(`${OUT}-value`)![0]);
    // The plain-Avro sink read back by an avro source of the same columns.
    const r = await svc.sql(`CREATE TABLE back (id BIGINT, currency STRING, ts TIMESTAMP(3)) WITH ('connector' = 'kafka', 'topic' = '${OUT_AVRO}', 'format' = 'avro', 'scan.startup.mode' = 'earliest-offset');
      CREATE MATERIALIZED VIEW back_rows AS SELECT id, currency, ts FROM back`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await waitFor(async () => (await viewRows('back_rows')).length === 9, 30_000, '9 rows read back from the avro sink');
    const back = (await viewRows('back_rows')).sort((a, b) => Number(a.id) - Number(b.id));
    expect(back.map((x) => x.currency)).toEqual(['EUR', 'USD', 'EUR', 'USD', 'EUR', 'USD', null, null, null]);
    expect(back.every((x) => x.ts !== null)).toBe(true);
  }, 150_000);

  it('a registry outage: the fetch is held and the status says why; when it is back, nothing is lost or doubled', async () => {
    await reg.stop();
    const more: Buffer[] = [];
    for (let i = 9; i < 13; i++) more.push(await csr.encode(ids.v3, { id: i, amount: 2, ts: BASE_TS + i * 1000, channel: null, currency: 'GBP' })); // csr's cache: no registry needed
    await produce(T, more);
    const st = await waitFor(async () => {
      const q = (await svc.get(`/v1/queries/${queries.pay_inline_rows}`)).body;
      return /schema registry .* unreachable/.test(q.error ?? '') ? q : null;
    }, 20_000, 'the registry outage in the status');
    expect(st.status).not.toBe('failed');
    expect((await viewRows('pay_inline_rows')).length).toBe(9);
    await reg.start();
    await waitFor(async () => (await viewRows('pay_rows')).length === 13 && (await viewRows('pay_inline_rows')).length === 13, 30_000, '13 rows after the registry is back');
    const rows = (await viewRows('pay_inline_rows')).sort((a, b) => Number(a.id) - Number(b.id));
    expect(rows.map((x) => x.id)).toEqual([...Array(13).keys()]);
    expect(rows.slice(9).map((x) => x.currency)).toEqual(['GBP', 'GBP', 'GBP', 'GBP']);
    const q = (await svc.get(`/v1/queries/${queries.pay_inline_rows}`)).body;
    expect(q.status).toBe('running');
    expect(JSON.stringify(q)).toMatch(/"malformedRows":2/);
  }, 60_000);

  it('a registry with basic auth: user-info from an ${ENV} reference, shown as ******', async () => {
    const authReg = await startStandInRegistry({ userInfo: 'reg-user:reg-pw-77' });
    try {
      const authCsr = new SchemaRegistry({ host: authReg.url, auth: { username: 'reg-user', password: 'reg-pw-77' } });
      const topic = uniqueTopic('avc-auth');
      const { id } = await authCsr.register({ type: SchemaType.AVRO, schema: JSON.stringify(writerV1) }, { subject: `${topic}-value` });
      await produce(topic, [await authCsr.encode(id, { id: 1, amount: 5, currency: 'CHF', ts: BASE_TS, note: '' }), await authCsr.encode(id, { id: 2, amount: 6, currency: 'CHF', ts: BASE_TS, note: '' })]);
      process.env.AVC_TEST_USERINFO = 'reg-user:reg-pw-77';
      const r = await svc.sql(`CREATE TABLE pay_auth (id BIGINT, currency STRING) WITH ('connector' = 'kafka', 'topic' = '${topic}', 'scan.startup.mode' = 'earliest-offset',
          'value.format' = 'avro-confluent', 'value.avro-confluent.url' = '${authReg.url}', 'value.avro-confluent.basic-auth.credentials-source' = 'USER_INFO',
          'value.avro-confluent.basic-auth.user-info' = '\${AVC_TEST_USERINFO}');
        CREATE MATERIALIZED VIEW pay_auth_rows AS SELECT id, currency FROM pay_auth`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      await waitFor(async () => (await viewRows('pay_auth_rows')).length === 2, 30_000, '2 rows through the authenticated registry');
      expect((await viewRows('pay_auth_rows')).map((x) => x.currency)).toEqual(['CHF', 'CHF']);
      const q = (await svc.get(`/v1/queries/${r.body.results[1].queryId}`)).body;
      expect(q.sql).not.toContain('reg-pw-77');
      // A user-info written into the DDL is not shown by the catalog, SHOW or DESCRIBE (redactSql is unit-tested).
      expect((await svc.sql(`CREATE TABLE t_redact (a BIGINT) WITH ('connector' = 'kafka', 'topic' = 'x', 'value.format' = 'avro-confluent', 'value.avro-confluent.url' = 'http://r', 'value.avro-confluent.basic-auth.user-info' = 'u:visible-pw')`)).status).toBe(200);
      const shown = [JSON.stringify((await svc.get('/v1/catalog')).body), JSON.stringify((await svc.sql('SHOW SOURCES; DESCRIBE t_redact')).body)].join('\n');
      expect(shown).toContain('t_redact');
      expect(shown).not.toContain('visible-pw');
    } finally { await authReg.stop(); delete process.env.AVC_TEST_USERINFO; }
  }, 60_000);

  it('after a restart the exactly-once avro-confluent sink goes on from its checkpoint: every record once, the same schema id', async () => {
    await waitFor(async () => (await readRaw(OUT, 13)).length >= 13, 60_000, '13 records in the sink before the restart');
    await svc.close(true);
    await produce(T, await Promise.all([13, 14, 15].map((i) => csr.encode(ids.v1, { id: i, amount: 1, currency: 'JPY', ts: BASE_TS + i * 1000, note: '' }))));
    svc = await service(svc.dataDir);
    const out = await readRaw(OUT, 16);
    await new Promise((r) => setTimeout(r, 1500));
    const all = await readRaw(OUT, 16);
    const got = (await Promise.all(all.map((b) => csr.decode(b)))).map((x: { id: number }) => Number(x.id)).sort((a, b) => a - b);
    expect(got).toEqual([...Array(16).keys()]);
    expect(out.length).toBeGreaterThanOrEqual(16);
    expect(new Set(all.map((b) => b.readInt32BE(1))).size).toBe(1);
    expect(reg.subjects.get(`${OUT}-value`)).toHaveLength(1);
  }, 150_000);
});
