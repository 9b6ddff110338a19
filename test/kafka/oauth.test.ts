/**
 * SASL/OAUTHBEARER with the OIDC client-credentials flow, end to end on a real broker whose OAUTH
 * listener validates tokens as Kafka does (OAuthBearerValidatorCallbackHandler against the JWKS of a
 * test OIDC provider, test/kafka/oidc.ts): tokens fetched and refreshed before expiry, the service
 * reading (native reader, in a read worker) and writing (kafkajs sink, admin) through the listener, a
 * forged token refused with the broker's reason, and a wrong client secret shown in the query's status
 * until the provider accepts it, after which the query reads everything exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../server/app.ts';
import { startService, type Service } from '../../queries/service.ts';
import { startLocalBroker, type LocalBroker } from '../../connectors/kafka/local-broker.ts';
import { createKafka } from '../../connectors/kafka/client.ts';
import { produceTransaction } from '../../connectors/kafka/admin.ts';
import { oauthToken } from '../../connectors/kafka/oauth.ts';
import { PLAINTEXT, resolveSecurity, type OAuthSasl } from '../../connectors/kafka/security.ts';
import { openConnection } from '../../connectors/kafka/wire/connection.ts';
import { startTestOidc, type TestOidc } from './oidc.ts';
import { waitFor } from '../helpers/service.ts';

let broker: LocalBroker;
let idp: TestOidc;
const SECRET = 'oidc-client-s3cret';

const oauthProps = (tokenUrl: string, clientId: string, secret: string): Record<string, string> => ({
  'security.protocol': 'SASL_PLAINTEXT',
  'sasl.mechanism': 'OAUTHBEARER',
  'sasl.oauthbearer.token.endpoint.url': tokenUrl,
  'sasl.login.callback.handler.class': 'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler',
  'sasl.jaas.config': `org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId="${clientId}" clientSecret="${secret}" scope="kafka";`,
});

async function produce(topic: string, values: string[]): Promise<void> {
  const p = createKafka([broker.bootstrap], 'oauth-test-producer', undefined, {}, PLAINTEXT).producer();
  await p.connect();
  try { await p.send({ topic, messages: values.map((value) => ({ value })) }); } finally { await p.disconnect(); }
}

async function readAll(topic: string, want: number): Promise<string[]> {
  const c = createKafka([broker.bootstrap], 'oauth-test-reader', undefined, {}, PLAINTEXT).consumer({ groupId: `oauth-test-${Date.now()}-${Math.random()}`, readUncommitted: false });
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
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'streamsql-oauth-'));
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
    logs,
    sql: (sql: string) => call('POST', '/v1/sql', { sql }),
    get: (url: string) => call('GET', url),
    async close() { await app.close(); await svc.stop(); rmSync(dataDir, { recursive: true, force: true }); },
  };
}

const events = (n: number, from = 0) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: from + i, page: `/p${(from + i) % 3}` }));

beforeAll(async () => {
  idp = await startTestOidc();
  idp.clients.set('streamsql', { secret: SECRET, lifetimeS: 3600 });
  broker = await startLocalBroker({ secure: { listeners: [], users: [], oauth: { jwksUrl: idp.jwksUrl, issuer: idp.issuer, audience: idp.audience } } });
  await produceTransaction([broker.bootstrap], 'oauth-warm', [{ value: 'x' }], false);
  await readAll('oauth-warm', 1);
}, 180_000);

afterAll(async () => {
  await broker?.stop();
  await idp?.close();
});

describe('SASL/OAUTHBEARER (OIDC)', () => {
  it('fetches a token by client credentials, reuses it, and refreshes it once 80% of its lifetime has passed', async () => {
    idp.clients.set('short', { secret: 'short-pw', lifetimeS: 3 });
    const o = resolveSecurity(oauthProps(idp.tokenUrl, 'short', 'short-pw')).sasl as OAuthSasl;
    expect(o).toMatchObject({ mechanism: 'OAUTHBEARER', clientId: 'short', scope: 'kafka', refreshWindowFactor: 0.8 });
    const t1 = await oauthToken(o);
    expect(await oauthToken(o)).toBe(t1);
    expect(idp.issued.get('short')).toBe(1);
    expect(JSON.parse(Buffer.from(t1.split('.')[1]!, 'base64url').toString())).toMatchObject({ sub: 'short', iss: idp.issuer, aud: 'kafka' });
    await new Promise((r) => setTimeout(r, 2500)); // past 0.8 × 3 s, before expiry
    const t2 = await oauthToken(o);
    expect(t2).not.toBe(t1);
    expect(idp.issued.get('short')).toBe(2);
    // The refreshed token authenticates a new native-reader connection on the OAUTH listener.
    const [host, port] = broker.listeners.OAUTH!.split(':') as [string, string];
    (await openConnection(host, Number(port), 'oauth-test', 5000, resolveSecurity(oauthProps(idp.tokenUrl, 'short', 'short-pw')))).close();
    // A wrong secret: the provider's refusal, never the secret.
    const bad = resolveSecurity(oauthProps(idp.tokenUrl, 'short', 'nope-pw-987')).sasl as OAuthSasl;
    const err = await oauthToken(bad).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/refused client short \(HTTP 401 invalid_client/);
    expect(err?.message).not.toContain('nope-pw-987');
  });

  it('a token the broker cannot verify (signed by a key not in its JWKS) is refused with the broker\'s reason', async () => {
    const [host, port] = broker.listeners.OAUTH!.split(':') as [string, string];
    await expect(openConnection(host, Number(port), 'oauth-test', 5000, resolveSecurity(oauthProps(idp.forgedTokenUrl, 'streamsql', SECRET))))
      .rejects.toThrow(/SASL authentication failed.*invalid_token/);
  });

  it('the whole service over OAUTHBEARER: source read in a read worker, view, exactly-once sink, admin', async () => {
    await produce('oauth-a-in', events(30));
    process.env.OAUTH_TEST_SECRET = SECRET;
    const s = await service(broker.listeners.OAUTH!, oauthProps(idp.tokenUrl, 'streamsql', '${OAUTH_TEST_SECRET}'));
    try {
      const r = await s.sql(`CREATE TABLE a_in (id BIGINT, page STRING) WITH ('connector' = 'kafka', 'topic' = 'oauth-a-in', 'format' = 'json',
          'scan.startup.mode' = 'earliest-offset', 'source.workers' = '1');
        CREATE MATERIALIZED VIEW a_counts AS SELECT page, COUNT(*) AS n FROM a_in GROUP BY page;
        CREATE SINK a_out AS SELECT id, page FROM a_in WITH ('connector' = 'kafka', 'topic' = 'oauth-a-out', 'format' = 'json')`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      await waitFor(async () => {
        const v = await s.get('/v1/views/a_counts');
        return v.body.rows?.length === 3 && v.body.rows.every((x: { n: number }) => x.n === 10);
      }, 40_000, 'a_counts through OAUTHBEARER');
      const out = await readAll('oauth-a-out', 30);
      expect(out.map((x) => JSON.parse(x).id).sort((a, b) => a - b)).toEqual([...Array(30).keys()]);
      expect(s.logs.join('\n')).toContain('OAUTHBEARER as client streamsql');
      expect(s.logs.join('\n')).not.toContain(SECRET);
      expect((await s.get('/v1/catalog')).text).not.toContain(SECRET);
    } finally { await s.close(); delete process.env.OAUTH_TEST_SECRET; }
  }, 90_000);

  it('a wrong client secret shows in the status; once the provider accepts it the query reads everything exactly once', async () => {
    idp.clients.set('rotating', { secret: 'old-secret', lifetimeS: 3600 });
    await produce('oauth-b-in', events(12));
    const s = await service(broker.bootstrap, {});
    try {
      const props = oauthProps(idp.tokenUrl, 'rotating', 'new-secret-42');
      const r = await s.sql(`CREATE TABLE b_in (id BIGINT, page STRING) WITH ('connector' = 'kafka', 'topic' = 'oauth-b-in', 'format' = 'json',
          'scan.startup.mode' = 'earliest-offset', 'properties.bootstrap.servers' = '${broker.listeners.OAUTH}',
          ${Object.entries(props).map(([k, v]) => `'properties.${k}' = '${v}'`).join(', ')});
        CREATE MATERIALIZED VIEW b_counts AS SELECT page, COUNT(*) AS n FROM b_in GROUP BY page`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const id = r.body.results[1].queryId as string;
      const st = await waitFor(async () => {
        const q = (await s.get(`/v1/queries/${id}`)).body;
        return /invalid_client/.test(q.error ?? '') ? q : null;
      }, 30_000, 'the token endpoint\'s refusal in the status');
      expect(st.error).toMatch(/token endpoint .* refused client rotating/);
      expect(st.status).not.toBe('running');
      expect(JSON.stringify(st)).not.toContain('new-secret-42');
      // More data while it cannot connect; then the secret is rotated at the provider.
      await produce('oauth-b-in', events(6, 12));
      const refusedBefore = idp.refused.get('rotating') ?? 0;
      expect(refusedBefore).toBeGreaterThan(0);
      idp.clients.set('rotating', { secret: 'new-secret-42', lifetimeS: 3600 });
      await waitFor(async () => {
        const v = await s.get('/v1/views/b_counts');
        return v.body.rows?.length === 3 && v.body.rows.every((x: { n: number }) => x.n === 6);
      }, 40_000, 'b_counts after the secret is accepted');
      const q = (await s.get(`/v1/queries/${id}`)).body;
      expect(q.status).toBe('running');
      expect(q.error ?? null).toBeNull();
      // Nothing doubled: still 6 each a moment later.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await s.get('/v1/views/b_counts')).body.rows.map((x: { n: number }) => x.n)).toEqual([6, 6, 6]);
    } finally { await s.close(); }
  }, 90_000);
});
