/**
 * Secured Kafka, end to end on a real broker with SASL_SSL (SCRAM), SSL with client certificates
 * (mTLS) and SASL_PLAINTEXT (PLAIN) listeners: a source and view read through each (the native
 * reader inline and in a read worker), a Kafka sink writes through each, the service's own
 * connections (admin, offsets) go through the secured listener, a wrong password shows in the query's
 * status with the broker's reason, and no secret is printed.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../server/app.ts';
import { startService, type Service } from '../../queries/service.ts';
import { ensureKafkaJars, startLocalBroker, type LocalBroker } from '../../connectors/kafka/local-broker.ts';
import { createKafka } from '../../connectors/kafka/client.ts';
import { produceTransaction } from '../../connectors/kafka/admin.ts';
import { PLAINTEXT, resolveSecurity, serviceProperties } from '../../connectors/kafka/security.ts';
import { openConnection } from '../../connectors/kafka/wire/connection.ts';
import { makeTestCerts, type TestCerts } from './certs.ts';
import { waitFor } from '../helpers/service.ts';

let broker: LocalBroker;
let certs: TestCerts;
const PASSWORD = 'alice-s3cret-pw';

/** Produces over the PLAINTEXT listener, independent of the service's settings. */
async function produce(topic: string, values: string[]): Promise<void> {
  const p = createKafka([broker.bootstrap], 'sec-test-producer', undefined, {}, PLAINTEXT).producer();
  await p.connect();
  try { await p.send({ topic, messages: values.map((value) => ({ value })) }); } finally { await p.disconnect(); }
}

/** Reads a topic over PLAINTEXT, read_committed: what an exactly-once sink committed. */
async function readAll(topic: string, want: number): Promise<string[]> {
  const c = createKafka([broker.bootstrap], 'sec-test-reader', undefined, {}, PLAINTEXT).consumer({ groupId: `sec-test-${Date.now()}-${Math.random()}`, readUncommitted: false });
  const out: string[] = [];
  await c.connect();
  try {
    await c.subscribe({ topics: [topic], fromBeginning: true });
    await c.run({ eachMessage: async ({ message }) => { out.push(message.value?.toString() ?? 'null'); } });
    await waitFor(() => out.length >= want, 45_000, `${want} records in ${topic}`);
  } finally { await c.disconnect(); }
  return out;
}

async function service(kafkaBrokers: string, kafkaProperties: Record<string, string>) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'streamsql-sec-'));
  const logs: string[] = [];
  const svc: Service = await startService({ kafkaBrokers, kafkaProperties, dataDir, demo: false, log: (l, m) => { logs.push(`${l} ${m}`); } });
  const app: FastifyInstance = await buildApp(svc);
  const call = async (method: 'GET' | 'POST', url: string, payload?: unknown) => {
    const r = await app.inject({ method, url, payload: payload as never });
    let body: any = null;
    try { body = r.json(); } catch { /* Prometheus text */ }
    return { status: r.statusCode, body, text: r.body };
  };
  return {
    logs, dataDir,
    sql: (sql: string) => call('POST', '/v1/sql', { sql }),
    get: (url: string) => call('GET', url),
    async close() { await app.close(); await svc.stop(); rmSync(dataDir, { recursive: true, force: true }); },
  };
}

const jaas = (mod: 'plain' | 'scram', user: string, pw: string) =>
  `org.apache.kafka.common.security.${mod}.${mod === 'plain' ? 'PlainLoginModule' : 'ScramLoginModule'} required username="${user}" password="${pw}";`;

beforeAll(async () => {
  certs = makeTestCerts();
  broker = await startLocalBroker({
    secure: { listeners: ['SASL_SSL', 'SSL', 'SASL_PLAINTEXT'], users: [{ name: 'alice', password: PASSWORD }, { name: 'carol', password: 'carol-old-pw' }], tls: { keystore: certs.brokerP12, keystorePassword: certs.brokerP12Password, truststorePem: certs.caPem }, otherNameKeystore: certs.otherNameP12 },
  });
  // A fresh broker creates its offsets and transaction topics at first use and answers
  // NOT_COORDINATOR while loading them: warm both up before the timed parts.
  await produceTransaction([broker.bootstrap], 'sec-warm', [{ value: 'x' }], false);
  await readAll('sec-warm', 1);
}, 180_000);

afterAll(async () => {
  await broker?.stop();
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

const events = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: i, page: `/p${i % 3}` }));

describe('secured Kafka', () => {
  it('SASL_SSL with SCRAM-SHA-256 for the whole service (a client properties file): source, view and exactly-once sink', async () => {
    const file = path.join(certs.dir, 'client.properties');
    writeFileSync(file, [
      '# as for kafka-console-consumer --consumer.config',
      'security.protocol=SASL_SSL',
      'sasl.mechanism=SCRAM-SHA-256',
      `sasl.jaas.config=${jaas('scram', 'alice', '${SEC_TEST_PASSWORD}')}`,
      `ssl.truststore.type=PEM`,
      `ssl.truststore.location=${certs.caPem}`,
    ].join('\n'));
    process.env.SEC_TEST_PASSWORD = PASSWORD;
    const props = serviceProperties({ KAFKA_CONFIG: file });
    expect(props['security.protocol']).toBe('SASL_SSL');
    await produce('sec-a-in', events(30));
    const s = await service(broker.listeners.SASL_SSL!, props);
    try {
      const r = await s.sql(`CREATE SOURCE a_in (id BIGINT, page VARCHAR) WITH (connector = 'kafka', topic = 'sec-a-in', format = 'json', 'scan.startup.mode' = 'earliest-offset', 'source.workers' = '0');
        CREATE MATERIALIZED VIEW a_counts AS SELECT page, COUNT(*) AS n FROM a_in GROUP BY page;
        CREATE SINK a_out AS SELECT id, page FROM a_in WITH (connector = 'kafka', topic = 'sec-a-out', format = 'json')`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      await waitFor(async () => {
        const v = await s.get('/v1/views/a_counts');
        return v.body.rows?.length === 3 && v.body.rows.every((x: { n: number }) => x.n === 10);
      }, 40_000, 'a_counts through SASL_SSL');
      const out = await readAll('sec-a-out', 30).catch(async (e) => { throw new Error(`${(e as Error).message}; queries: ${JSON.stringify(await Promise.all(((await s.get('/v1/queries')).body.queries as { id: string }[]).map(async (q) => (await s.get(`/v1/queries/${q.id}`)).body)))}; logs: ${s.logs.join('\n')}`); });
      expect(out.map((x) => JSON.parse(x).id).sort((a, b) => a - b)).toEqual([...Array(30).keys()]);
      expect(s.logs.join('\n')).toContain('SASL_SSL, SCRAM-SHA-256 as alice');
      expect(s.logs.join('\n')).not.toContain(PASSWORD);
    } finally { await s.close(); delete process.env.SEC_TEST_PASSWORD; }
  }, 90_000);

  it('per source and sink properties.*: mTLS source read in a read worker, SASL_PLAINTEXT PLAIN sink with an ${ENV} password', async () => {
    await produce('sec-b-in', events(12));
    process.env.SEC_TEST_PASSWORD_B = PASSWORD;
    const s = await service(broker.bootstrap, {});
    try {
      const r = await s.sql(`CREATE TABLE b_in (id BIGINT, page STRING) WITH ('connector' = 'kafka', 'topic' = 'sec-b-in', 'format' = 'json',
          'scan.startup.mode' = 'earliest-offset', 'source.workers' = '1',
          'properties.bootstrap.servers' = '${broker.listeners.SSL}', 'properties.security.protocol' = 'SSL',
          'properties.ssl.truststore.location' = '${certs.caPem}', 'properties.ssl.keystore.certificate.chain' = '${readFileSync(certs.clientCertPem, 'utf8')}',
          'properties.ssl.keystore.key' = '${readFileSync(certs.clientKeyPem, 'utf8')}');
        CREATE MATERIALIZED VIEW b_counts AS SELECT page, COUNT(*) AS n FROM b_in GROUP BY page;
        CREATE SINK b_out AS SELECT page, COUNT(*) AS n FROM b_in GROUP BY page WITH ('connector' = 'upsert-kafka', 'topic' = 'sec-b-out',
          'key.format' = 'json', 'value.format' = 'json',
          'properties.bootstrap.servers' = '${broker.listeners.SASL_PLAINTEXT}', 'properties.security.protocol' = 'SASL_PLAINTEXT',
          'properties.sasl.mechanism' = 'PLAIN', 'properties.sasl.jaas.config' = '${jaas('plain', 'alice', '${SEC_TEST_PASSWORD_B}')}')`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      await waitFor(async () => {
        const v = await s.get('/v1/views/b_counts');
        return v.body.rows?.length === 3 && v.body.rows.every((x: { n: number }) => x.n === 4);
      }, 40_000, 'b_counts through mTLS');
      const out = (await readAll('sec-b-out', 3)).map((x) => JSON.parse(x));
      expect(out.filter((x) => x.n === 4).map((x) => x.page).sort()).toEqual(['/p0', '/p1', '/p2']);
      const q = (await s.get('/v1/queries')).body;
      const list = (Array.isArray(q) ? q : q.queries) as { id: string }[];
      for (const x of list) expect((await s.get(`/v1/queries/${x.id}`)).body.progress?.source?.reader ?? 'native, 1 read worker').toMatch(/native/);
      // The same client certificate from a PKCS#12 keystore, for the native reader's connection and kafkajs;
      // a truststore of another CA fails the TLS handshake with Node's reason.
      const [host, port] = broker.listeners.SSL!.split(':') as [string, string];
      const p12 = { 'security.protocol': 'SSL', 'ssl.truststore.location': certs.caPem, 'ssl.keystore.location': certs.clientP12, 'ssl.keystore.password': certs.clientP12Password };
      (await openConnection(host, Number(port), 'sec-test', 5000, resolveSecurity(p12))).close();
      const admin = createKafka([broker.listeners.SSL!], 'sec-test', undefined, { retry: { retries: 0 } }, resolveSecurity(p12)).admin();
      await admin.connect();
      try { expect(await admin.listTopics()).toContain('sec-b-in'); } finally { await admin.disconnect(); }
      await expect(openConnection(host, Number(port), 'sec-test', 5000, resolveSecurity({ ...p12, 'ssl.truststore.location': certs.otherCaPem })))
        .rejects.toThrow(/TLS.*(self-signed|unable to verify)/);
      // The key (PEM) is a secret: not in the query's SQL as status shows it.
      expect(JSON.stringify(q)).not.toContain('PRIVATE KEY-----\nM');
    } finally { await s.close(); delete process.env.SEC_TEST_PASSWORD_B; }
  }, 90_000);

  it('a wrong password shows in the query status with the broker\'s reason; secrets are never printed', async () => {
    await produce('sec-c-in', events(3));
    const s = await service(broker.bootstrap, {});
    try {
      const bad = 'not-the-pw-123';
      const r = await s.sql(`CREATE TABLE c_in (id BIGINT, page STRING) WITH ('connector' = 'kafka', 'topic' = 'sec-c-in', 'format' = 'json',
          'scan.startup.mode' = 'earliest-offset', 'properties.bootstrap.servers' = '${broker.listeners.SASL_PLAINTEXT}',
          'properties.security.protocol' = 'SASL_PLAINTEXT', 'properties.sasl.mechanism' = 'SCRAM-SHA-512',
          'properties.sasl.jaas.config' = '${jaas('scram', 'alice', bad)}');
        CREATE MATERIALIZED VIEW c_counts AS SELECT page, COUNT(*) AS n FROM c_in GROUP BY page`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const id = r.body.results[1].queryId as string;
      const st = await waitFor(async () => {
        const q = (await s.get(`/v1/queries/${id}`)).body;
        return /Authentication failed/i.test(q.error ?? '') ? q : null;
      }, 30_000, 'the authentication error in the status');
      expect(st.error).toMatch(/invalid credentials with SASL mechanism SCRAM-SHA-512/);
      expect(st.status).not.toBe('running');
      expect(st.progress.source.state).toBe('recovering'); // retried with backoff, not given up
      // Nowhere shown: status, queries, catalog, SHOW, DESCRIBE, metrics, logs.
      const shown = [
        JSON.stringify(st), (await s.get('/v1/queries')).text, (await s.get('/v1/catalog')).text,
        (await s.sql('SHOW SOURCES; SHOW VIEWS; DESCRIBE c_in; EXPLAIN SELECT * FROM c_counts')).text, (await s.get('/metrics')).text, s.logs.join('\n'),
      ].join('\n');
      expect(shown).not.toContain(bad);
      // The durable catalog holds the SQL as written: owner-only.
      expect(statSync(path.join(s.dataDir, 'catalog.json')).mode & 0o777).toBe(0o600);
    } finally { await s.close(); }
  }, 60_000);

  it('a wrong SCRAM password: the error shows until the broker accepts it, then the query reads everything exactly once', async () => {
    await produce('sec-d-in', events(12));
    const s = await service(broker.bootstrap, {});
    try {
      const r = await s.sql(`CREATE TABLE d_in (id BIGINT, page STRING) WITH ('connector' = 'kafka', 'topic' = 'sec-d-in', 'format' = 'json',
          'scan.startup.mode' = 'earliest-offset', 'properties.bootstrap.servers' = '${broker.listeners.SASL_PLAINTEXT}',
          'properties.security.protocol' = 'SASL_PLAINTEXT', 'properties.sasl.mechanism' = 'SCRAM-SHA-512',
          'properties.sasl.jaas.config' = '${jaas('scram', 'carol', 'carol-new-pw')}');
        CREATE MATERIALIZED VIEW d_counts AS SELECT page, COUNT(*) AS n FROM d_in GROUP BY page`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const id = r.body.results[1].queryId as string;
      await waitFor(async () => /invalid credentials with SASL mechanism SCRAM-SHA-512/.test((await s.get(`/v1/queries/${id}`)).body.error ?? ''), 30_000, 'the authentication error');
      await produce('sec-d-in', events(6).map((x) => x.replace('"id":', '"id":10')));
      // The password the query uses becomes carol's, the way an operator sets it (kafka-configs, AlterUserScramCredentials).
      const libs = await ensureKafkaJars();
      await promisify(execFile)('java', ['-Xmx128m', '-XX:TieredStopAtLevel=1', '-cp', path.join(libs, '*'), 'kafka.admin.ConfigCommand', '--bootstrap-server', broker.bootstrap,
        '--alter', '--add-config', 'SCRAM-SHA-512=[iterations=4096,password=carol-new-pw]', '--entity-type', 'users', '--entity-name', 'carol'], { timeout: 60_000 });
      await waitFor(async () => {
        const v = await s.get('/v1/views/d_counts');
        return v.body.rows?.length === 3 && v.body.rows.every((x: { n: number }) => x.n === 6);
      }, 40_000, 'd_counts after the password is accepted');
      const q = (await s.get(`/v1/queries/${id}`)).body;
      expect(q.status).toBe('running');
      expect(q.error ?? null).toBeNull();
      await new Promise((res) => setTimeout(res, 1500));
      expect((await s.get('/v1/views/d_counts')).body.rows.map((x: { n: number }) => x.n)).toEqual([6, 6, 6]);
    } finally { await s.close(); }
  }, 90_000);

  it('a broker certificate for another host name: the query shows the hostname mismatch; the name check can be turned off', async () => {
    await produce('sec-e-in', events(3));
    const s = await service(broker.bootstrap, {});
    try {
      const r = await s.sql(`CREATE TABLE e_in (id BIGINT, page STRING) WITH ('connector' = 'kafka', 'topic' = 'sec-e-in', 'format' = 'json',
          'scan.startup.mode' = 'earliest-offset', 'properties.bootstrap.servers' = '${broker.listeners.SSL_OTHER_NAME}',
          'properties.security.protocol' = 'SSL', 'properties.ssl.truststore.location' = '${certs.caPem}');
        CREATE MATERIALIZED VIEW e_counts AS SELECT page, COUNT(*) AS n FROM e_in GROUP BY page`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const id = r.body.results[1].queryId as string;
      const st = await waitFor(async () => {
        const q = (await s.get(`/v1/queries/${id}`)).body;
        return q.error ? q : null;
      }, 30_000, 'the TLS error in the status');
      expect(st.error).toMatch(/Hostname\/IP does not match certificate's altnames: IP: 127\.0\.0\.1 is not in the cert's list \(the broker's certificate is for DNS:kafka\.other\.example, not 127\.0\.0\.1/);
      expect(st.status).not.toBe('running');
      // The chain is valid: with the name check off ('ssl.endpoint.identification.algorithm' = '') the same listener connects.
      const [host, port] = broker.listeners.SSL_OTHER_NAME!.split(':') as [string, string];
      const props = { 'security.protocol': 'SSL', 'ssl.truststore.location': certs.caPem };
      await expect(openConnection(host, Number(port), 'sec-test', 5000, resolveSecurity(props))).rejects.toThrow(/does not match certificate's altnames/);
      (await openConnection(host, Number(port), 'sec-test', 5000, resolveSecurity({ ...props, 'ssl.endpoint.identification.algorithm': '' }))).close();
    } finally { await s.close(); }
  }, 60_000);
});
