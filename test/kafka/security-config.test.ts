/** Security settings without a broker: SCRAM against RFC 7677's example, properties files, JAAS, ${ENV}, redaction. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scramClient } from '../../connectors/kafka/wire/sasl.ts';
import { KafkaSecurityError, parseJaas, parseProperties, resolveSecurity, serviceProperties } from '../../connectors/kafka/security.ts';
import { redactSql } from '../../planner/index.ts';

describe('SCRAM', () => {
  it('computes RFC 7677 example proof and checks the server signature (SCRAM-SHA-256)', () => {
    const c = scramClient('sha256', 'user', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
    expect(c.first()).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const fin = c.final('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
    expect(fin).toBe('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    expect(() => c.verify('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).not.toThrow();
    expect(() => c.verify('v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).toThrow(/server signature mismatch/);
  });
  it('refuses a server nonce that does not extend the client nonce', () => {
    const c = scramClient('sha512', 'user', 'pencil', 'abc');
    expect(() => c.final('r=xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')).toThrow(/nonce/);
  });
});

describe('client properties', () => {
  it('reads a Kafka client properties file (comments, continuations, escapes) through KAFKA_CONFIG and KAFKA_* variables', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'props-'));
    try {
      const f = path.join(dir, 'client.properties');
      writeFileSync(f, '# Confluent Cloud\nbootstrap.servers=pkc-1.aws.confluent.cloud:9092\nsecurity.protocol=SASL_SSL\nsasl.mechanism : PLAIN\n'
        + 'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n   username="KEY" password="p,w=1";\n');
      expect(parseProperties('a=1\n! c\nb c\\:d=2\n')).toEqual({ a: '1', b: 'c:d=2' });
      const p = serviceProperties({ KAFKA_CONFIG: f, KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512' });
      expect(p['security.protocol']).toBe('SASL_SSL');
      expect(p['sasl.mechanism']).toBe('SCRAM-SHA-512');
      const s = resolveSecurity(p);
      expect(s.sasl).toEqual({ mechanism: 'SCRAM-SHA-512', username: 'KEY', password: 'p,w=1' });
      expect(s.tls).toEqual({ verifyHostname: true });
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
  it('parses JAAS lines as Flink docs write them (escaped quotes) and resolves ${ENV} references', () => {
    expect(parseJaas('org.apache.kafka.common.security.scram.ScramLoginModule required username=\\"u\\" password=\\"p w\\";')).toMatchObject({ username: 'u', password: 'p w' });
    const s = resolveSecurity({ 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanism': 'PLAIN', 'sasl.jaas.config': 'x.PlainLoginModule required username="u" password="${PW_X}";' }, { PW_X: 'secret' });
    expect(s.sasl).toMatchObject({ password: 'secret' });
  });
  it('names what is wrong without printing a secret', () => {
    const err = (f: () => unknown) => { try { f(); } catch (e) { return e as Error; } throw new Error('no error'); };
    const e1 = err(() => resolveSecurity({ 'security.protocol': 'SASL_SSL', 'sasl.jaas.config': 'x.PlainLoginModule required username="u" password="${NOPE_PW}";' }, {}));
    expect(e1).toBeInstanceOf(KafkaSecurityError);
    expect(e1.message).toContain('NOPE_PW');
    const e2 = err(() => resolveSecurity({ 'security.protocol': 'SASL_SSL', 'sasl.jaas.config': 'hunter2-not-jaas' }));
    expect(e2.message).not.toContain('hunter2');
    const e3 = err(() => resolveSecurity({ 'security.protocol': 'SSL', 'ssl.truststore.location': '/nonexistent/ca.jks', 'ssl.truststore.type': 'JKS' }));
    expect(e3.message).toMatch(/cannot read|not a PEM/);
    const e4 = err(() => resolveSecurity({ 'security.protocol': 'SSL', 'ssl.keystore.location': '/x/client.jks', 'ssl.keystore.type': 'JKS' }));
    expect(e4.message).toContain('keytool -importkeystore');
  });
  it('redacts secret option values in SQL', () => {
    const sql = `CREATE TABLE t (a INT) WITH ('properties.sasl.jaas.config' = '… password="x''y";', 'properties.ssl.key.password' = 'k', 'topic' = 't')`;
    const r = redactSql(sql);
    expect(r).toBe(`CREATE TABLE t (a INT) WITH ('properties.sasl.jaas.config' = '******', 'properties.ssl.key.password' = '******', 'topic' = 't')`);
    const reg = redactSql(`WITH ('value.avro-confluent.basic-auth.user-info' = 'u:pw1', 'avro-confluent.bearer-auth.token' = 'tok', 'properties.sasl.oauthbearer.client.secret' = 's', 'avro-confluent.url' = 'http://r')`);
    expect(reg).toBe(`WITH ('value.avro-confluent.basic-auth.user-info' = '******', 'avro-confluent.bearer-auth.token' = '******', 'properties.sasl.oauthbearer.client.secret' = '******', 'avro-confluent.url' = 'http://r')`);
  });
  it('OAUTHBEARER: the OIDC settings from the JAAS line or librdkafka\'s names; what is missing is named, the secret never', () => {
    const base = { 'security.protocol': 'SASL_SSL', 'sasl.mechanism': 'OAUTHBEARER', 'sasl.oauthbearer.token.endpoint.url': 'https://idp.example/oauth2/token' };
    expect(resolveSecurity({ ...base, 'sasl.jaas.config': 'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId="app" clientSecret="${OIDC_S}" scope="kafka.read";' }, { OIDC_S: 'sss' }).sasl)
      .toEqual({ mechanism: 'OAUTHBEARER', tokenEndpoint: 'https://idp.example/oauth2/token', clientId: 'app', clientSecret: 'sss', scope: 'kafka.read', refreshWindowFactor: 0.8 });
    expect(resolveSecurity({ ...base, 'sasl.oauthbearer.client.id': 'a', 'sasl.oauthbearer.client.secret': 'b', 'sasl.login.refresh.window.factor': '0.5' }).sasl).toMatchObject({ clientId: 'a', refreshWindowFactor: 0.5 });
    const err = (f: () => unknown) => { try { f(); } catch (e) { return e as Error; } throw new Error('no error'); };
    expect(err(() => resolveSecurity({ 'security.protocol': 'SASL_SSL', 'sasl.mechanism': 'OAUTHBEARER', 'sasl.jaas.config': 'x.OAuthBearerLoginModule required clientId="a" clientSecret="zz9";' })).message).toMatch(/token\.endpoint\.url/);
    const e = err(() => resolveSecurity({ ...base, 'sasl.jaas.config': 'x.OAuthBearerLoginModule required clientSecret="zz9";' }));
    expect(e.message).toMatch(/client id and secret/);
    expect(e.message).not.toContain('zz9');
    expect(err(() => resolveSecurity({ ...base, 'sasl.login.callback.handler.class': 'com.acme.Custom', 'sasl.oauthbearer.client.id': 'a', 'sasl.oauthbearer.client.secret': 'b' })).message).toMatch(/not supported/);
  });
});
