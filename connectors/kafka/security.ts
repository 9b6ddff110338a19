/**
 * Security of every Kafka connection the service makes (kafkajs clients and the native reader):
 * `security.protocol` PLAINTEXT / SSL / SASL_PLAINTEXT / SASL_SSL, SASL PLAIN, SCRAM and OAUTHBEARER
 * (OIDC client credentials: connectors/kafka/oauth.ts), TLS with a CA bundle, client certificate and
 * key, hostname verification on by default.
 *
 * Settings are Kafka client properties, as Kafka's own tools take them: once for the service (a
 * client properties file, `KAFKA_CONFIG`, and `KAFKA_*` environment variables) and per source or sink
 * with Flink's `properties.*` keys, which override the service's. Values may reference environment
 * variables (`${KAFKA_PASSWORD}`), resolved here, when a client is made: a resolved secret is never
 * stored in the catalog, and no error built here quotes a secret.
 *
 * The resolved {@link KafkaSecurity} is plain data (PEM text, not file names), so it crosses to read
 * worker threads as it is.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from 'node:tls';

export type SecurityProtocol = 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
export type SaslMechanism = 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'OAUTHBEARER';
export const SASL_MECHANISMS: readonly SaslMechanism[] = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'];

/** PLAIN and SCRAM: a username and password. */
export interface PasswordSasl { readonly mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; readonly username: string; readonly password: string }

/**
 * OAUTHBEARER with the OIDC client-credentials grant (KIP-768): a token from `tokenEndpoint` for the
 * client id and secret, refreshed when `refreshWindowFactor` of its lifetime has passed.
 */
export interface OAuthSasl {
  readonly mechanism: 'OAUTHBEARER';
  readonly tokenEndpoint: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scope?: string;
  /** 'sasl.login.refresh.window.factor' (Kafka's default 0.8). */
  readonly refreshWindowFactor: number;
}

export interface KafkaSecurity {
  readonly protocol: SecurityProtocol;
  readonly sasl: PasswordSasl | OAuthSasl | null;
  /** Present for SSL and SASL_SSL. */
  readonly tls: {
    /** PEM CA bundle; absent: the system's trust store. */
    readonly ca?: string;
    /** PEM client certificate chain and key (mutual TLS). */
    readonly cert?: string;
    readonly key?: string;
    /** PKCS#12 keystore (base64) for the client certificate, instead of cert + key. */
    readonly pfx?: string;
    readonly passphrase?: string;
    readonly verifyHostname: boolean;
  } | null;
  /** 'client.id' when given. */
  readonly clientId?: string;
}

export const PLAINTEXT: KafkaSecurity = { protocol: 'PLAINTEXT', sasl: null, tls: null };

/** A security setting that cannot be used; the message names the property, never its secret value. */
export class KafkaSecurityError extends Error { override name = 'KafkaSecurityError'; }

/** Client properties whose values are secrets. */
export const SECRET_KEYS = new Set(['sasl.jaas.config', 'sasl.password', 'sasl.oauthbearer.client.secret', 'ssl.truststore.password', 'ssl.keystore.password', 'ssl.keystore.key', 'ssl.key.password']);

// ---- properties files and environment --------------------------------------------------------

/** Parses Java .properties text (as `kafka-console-consumer --consumer.config` reads it). */
export function parseProperties(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    // A line ending in an odd number of backslashes continues on the next.
    while (/(^|[^\\])(\\\\)*\\$/.test(line) && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i]!.replace(/^\s+/, '');
    const m = /^((?:\\.|[^=:\s\\])+)\s*[=:\s]\s*(.*)$/.exec(line);
    const key = unescapeProp(m ? m[1]! : line);
    out[key] = m ? unescapeProp(m[2]!) : '';
  }
  return out;
}

function unescapeProp(s: string): string {
  return s.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, c: string) => (c.length === 5 ? String.fromCharCode(parseInt(c.slice(1), 16)) : c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : c));
}

/**
 * The service's Kafka client properties: the file named by `KAFKA_CONFIG` (Kafka's client
 * properties format), then environment variables on top: `KAFKA_SECURITY_PROTOCOL`,
 * `KAFKA_SASL_MECHANISM`, `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`, `KAFKA_SSL_CA_LOCATION`,
 * `KAFKA_SSL_CERTIFICATE_LOCATION`, `KAFKA_SSL_KEY_LOCATION`, `KAFKA_SSL_KEY_PASSWORD`,
 * `KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM` (the property name in upper case, dots as '_').
 */
export function serviceProperties(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const props: Record<string, string> = {};
  const file = env.KAFKA_CONFIG?.trim();
  if (file) {
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch (e) { throw new KafkaSecurityError(`cannot read KAFKA_CONFIG file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
    Object.assign(props, parseProperties(text));
  }
  for (const k of ['security.protocol', 'sasl.mechanism', 'sasl.username', 'sasl.password', 'sasl.jaas.config', 'sasl.oauthbearer.token.endpoint.url',
    'sasl.oauthbearer.client.id', 'sasl.oauthbearer.client.secret', 'sasl.oauthbearer.scope', 'ssl.ca.location', 'ssl.certificate.location',
    'ssl.key.location', 'ssl.key.password', 'ssl.endpoint.identification.algorithm', 'ssl.truststore.location', 'ssl.keystore.location', 'ssl.keystore.password']) {
    const v = env[`KAFKA_${k.toUpperCase().replace(/[.-]/g, '_')}`];
    if (v !== undefined) props[k] = v;
  }
  // Only the properties that matter here; a file written for Kafka's tools holds others too.
  return props;
}

let serviceProps: Record<string, string> = {};

/** Sets the service-wide properties (queries/service.ts, from {@link serviceProperties}); checked now. */
export function setServiceKafkaProperties(props: Record<string, string>): void {
  resolveSecurity(props);
  serviceProps = { ...props };
}

/** The effective security: the service's properties with `own` (a source's or sink's) on top. */
export function securityFor(own?: Readonly<Record<string, string>> | null): KafkaSecurity {
  return resolveSecurity({ ...serviceProps, ...(own ?? {}) });
}

// ---- resolution --------------------------------------------------------------------------------

/** `${NAME}` → the environment variable; a missing one is an error naming it. */
export function resolveEnv(key: string, value: string, env: NodeJS.ProcessEnv = process.env): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const v = env[name];
    if (v === undefined) throw new KafkaSecurityError(`'${key}' refers to environment variable ${name}, which is not set`);
    return v;
  });
}

/**
 * username and password (PLAIN, SCRAM) or clientId, clientSecret and scope (OAUTHBEARER) out of a JAAS
 * line (`…LoginModule required username="u" password="p";`).
 */
export function parseJaas(text: string): { module: string; username?: string; password?: string; clientId?: string; clientSecret?: string; scope?: string } {
  const t = text.replace(/\\"/g, '"').trim();
  const m = /^([\w.$]+)\s+(required|requisite|sufficient|optional)\b([\s\S]*?);?\s*$/.exec(t);
  if (!m) throw new KafkaSecurityError(`'sasl.jaas.config' is not a JAAS login line (expected '<LoginModule> required username="…" password="…";')`);
  const out: { module: string; username?: string; password?: string; clientId?: string; clientSecret?: string; scope?: string } = { module: m[1]! };
  const re = /([\w.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))/g;
  for (let x: RegExpExecArray | null; (x = re.exec(m[3]!));) {
    const v = x[2] !== undefined ? x[2].replace(/\\(.)/g, '$1') : x[3]!;
    if (x[1] === 'username') out.username = v;
    else if (x[1] === 'password') out.password = v;
    else if (x[1] === 'clientId') out.clientId = v;
    else if (x[1] === 'clientSecret') out.clientSecret = v;
    else if (x[1] === 'scope') out.scope = v;
  }
  return out;
}

function readPem(key: string, file: string): string {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new KafkaSecurityError(`cannot read '${key}' file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
  return text;
}

const isPem = (s: string) => /-----BEGIN [A-Z0-9 ]+-----/.test(s);

/**
 * Kafka client properties → {@link KafkaSecurity}. Reads PEM files (truststore, keystore), PKCS#12
 * keystores; a JKS store is refused with the command that converts it.
 */
export function resolveSecurity(raw: Readonly<Record<string, string>>, env: NodeJS.ProcessEnv = process.env): KafkaSecurity {
  const p: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) p[k] = resolveEnv(k, v, env);
  const protoText = (p['security.protocol'] ?? 'PLAINTEXT').toUpperCase();
  if (!['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'].includes(protoText)) throw new KafkaSecurityError(`'security.protocol' must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, not '${protoText}'`);
  const protocol = protoText as SecurityProtocol;
  let sasl: KafkaSecurity['sasl'] = null;
  if (protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL') {
    const mech = (p['sasl.mechanism'] ?? 'PLAIN').toUpperCase();
    if (!(SASL_MECHANISMS as readonly string[]).includes(mech)) throw new KafkaSecurityError(`'sasl.mechanism' ${mech} is not supported: use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER`);
    const j = p['sasl.jaas.config'] !== undefined ? parseJaas(p['sasl.jaas.config']) : null;
    if (mech === 'OAUTHBEARER') sasl = oauthSasl(p, j);
    else {
      let username: string | undefined = p['sasl.username']; let password: string | undefined = p['sasl.password'];
      if (j) { username ??= j.username; password ??= j.password; }
      if (username === undefined || password === undefined) throw new KafkaSecurityError(`${protocol} needs a username and password: 'sasl.jaas.config' (… username="…" password="…";) or 'sasl.username' and 'sasl.password'`);
      sasl = { mechanism: mech as PasswordSasl['mechanism'], username, password };
    }
  }
  let tls: KafkaSecurity['tls'] = null;
  if (protocol === 'SSL' || protocol === 'SASL_SSL') {
    const t: { ca?: string; cert?: string; key?: string; pfx?: string; passphrase?: string; verifyHostname: boolean } = {
      verifyHostname: (p['ssl.endpoint.identification.algorithm'] ?? 'https') !== '',
    };
    // CA: PEM text, a PEM file (Kafka's truststore of type PEM, librdkafka's ssl.ca.location).
    if (p['ssl.truststore.certificates']) t.ca = p['ssl.truststore.certificates'];
    const caFile = p['ssl.truststore.location'] ?? p['ssl.ca.location'];
    if (caFile) {
      const type = (p['ssl.truststore.type'] ?? 'PEM').toUpperCase();
      const text = type === 'PEM' || caFile.endsWith('.pem') || caFile.endsWith('.crt') ? readPem('ssl.truststore.location', caFile) : '';
      if (!isPem(text)) throw new KafkaSecurityError(`'ssl.truststore.location' ${caFile} is not a PEM file; convert a ${type} truststore with: keytool -exportcert -rfc -keystore ${caFile} -alias <alias> > ca.pem`);
      t.ca = text;
    }
    // Client certificate (mutual TLS): PEM chain + key as text or files, or a PKCS#12 keystore.
    if (p['ssl.keystore.certificate.chain']) t.cert = p['ssl.keystore.certificate.chain'];
    if (p['ssl.keystore.key']) t.key = p['ssl.keystore.key'];
    if (p['ssl.certificate.location']) t.cert = readPem('ssl.certificate.location', p['ssl.certificate.location']);
    if (p['ssl.key.location']) t.key = readPem('ssl.key.location', p['ssl.key.location']);
    const ks = p['ssl.keystore.location'];
    if (ks) {
      const type = (p['ssl.keystore.type'] ?? (/\.(p12|pfx)$/i.test(ks) ? 'PKCS12' : 'PEM')).toUpperCase();
      if (type === 'PKCS12') {
        try { t.pfx = readFileSync(ks).toString('base64'); } catch (e) { throw new KafkaSecurityError(`cannot read 'ssl.keystore.location' file ${ks}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
        if (p['ssl.keystore.password'] !== undefined) t.passphrase = p['ssl.keystore.password'];
      } else if (type === 'PEM') {
        // Kafka's PEM keystore: the private key and the certificate chain in one file.
        const text = readPem('ssl.keystore.location', ks);
        t.key = text.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/)?.[0];
        t.cert = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)?.join('\n');
        if (!t.key || !t.cert) throw new KafkaSecurityError(`'ssl.keystore.location' ${ks} must hold a private key and a certificate (PEM)`);
      } else throw new KafkaSecurityError(`'ssl.keystore.location' ${ks} is a ${type} keystore: convert it to PKCS12 with keytool -importkeystore -srckeystore ${ks} -destkeystore client.p12 -deststoretype PKCS12`);
    }
    if (p['ssl.key.password'] !== undefined) t.passphrase = p['ssl.key.password'];
    if ((t.cert === undefined) !== (t.key === undefined) && !t.pfx) throw new KafkaSecurityError(`a client certificate needs both the certificate and its private key`);
    tls = t;
  }
  return { protocol, sasl, tls, ...(p['client.id'] ? { clientId: p['client.id'] } : {}) };
}

/** Kafka's OIDC login: the token endpoint, the client id and secret (JAAS or librdkafka's names), scope. */
function oauthSasl(p: Readonly<Record<string, string>>, j: ReturnType<typeof parseJaas> | null): OAuthSasl {
  const handler = p['sasl.login.callback.handler.class'];
  if (handler !== undefined && !/\.OAuthBearerLoginCallbackHandler$/.test(handler)) {
    throw new KafkaSecurityError(`'sasl.login.callback.handler.class' ${handler} is not supported: OAUTHBEARER here is the OIDC client-credentials login (org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler)`);
  }
  const tokenEndpoint = p['sasl.oauthbearer.token.endpoint.url'];
  if (!tokenEndpoint) throw new KafkaSecurityError(`OAUTHBEARER needs 'sasl.oauthbearer.token.endpoint.url' (the OIDC provider's token endpoint)`);
  let url: URL;
  try { url = new URL(tokenEndpoint); } catch { throw new KafkaSecurityError(`'sasl.oauthbearer.token.endpoint.url' is not a URL`); }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new KafkaSecurityError(`'sasl.oauthbearer.token.endpoint.url' must be an http(s) URL, not ${url.protocol}`);
  const clientId = p['sasl.oauthbearer.client.id'] ?? j?.clientId;
  const clientSecret = p['sasl.oauthbearer.client.secret'] ?? j?.clientSecret;
  if (clientId === undefined || clientSecret === undefined) {
    throw new KafkaSecurityError(`OAUTHBEARER needs a client id and secret: 'sasl.jaas.config' = 'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId="…" clientSecret="…";'`);
  }
  const scope = p['sasl.oauthbearer.scope'] ?? j?.scope;
  const f = p['sasl.login.refresh.window.factor'] !== undefined ? Number(p['sasl.login.refresh.window.factor']) : 0.8;
  if (!(f >= 0.5 && f <= 1)) throw new KafkaSecurityError(`'sasl.login.refresh.window.factor' must be from 0.5 to 1.0`);
  return { mechanism: 'OAUTHBEARER', tokenEndpoint, clientId, clientSecret, ...(scope ? { scope } : {}), refreshWindowFactor: f };
}

/** Node TLS options for one broker connection. */
export function tlsOptions(sec: KafkaSecurity, host: string): ConnectionOptions {
  const t = sec.tls!;
  return {
    host,
    ...(isIP(host) ? {} : { servername: host }),
    ...(t.ca ? { ca: t.ca } : {}),
    ...(t.cert ? { cert: t.cert } : {}),
    ...(t.key ? { key: t.key } : {}),
    ...(t.pfx ? { pfx: Buffer.from(t.pfx, 'base64') } : {}),
    ...(t.passphrase !== undefined ? { passphrase: t.passphrase } : {}),
    rejectUnauthorized: true,
    // 'ssl.endpoint.identification.algorithm' = '': the chain is still verified, the name is not.
    checkServerIdentity: t.verifyHostname ? explainedIdentityCheck : () => undefined,
  };
}

/** Node's hostname check, its error naming what the certificate is for (Node lists only IP names for an IP address). */
function explainedIdentityCheck(host: string, cert: PeerCertificate): Error | undefined {
  const e = checkServerIdentity(host, cert);
  if (!e) return undefined;
  const names = cert.subjectaltname || (cert.subject?.CN ? `CN=${cert.subject.CN}` : 'no names');
  e.message = `${e.message.replace(/[:\s]+$/, '')} (the broker's certificate is for ${names}, not ${host}; connect by a name it holds, or turn the check off with 'ssl.endpoint.identification.algorithm' = '')`;
  return e;
}

/** What to log about a connection's security: never a secret. */
export function describeSecurity(sec: KafkaSecurity): string {
  const parts: string[] = [sec.protocol];
  if (sec.sasl) parts.push(sec.sasl.mechanism === 'OAUTHBEARER' ? `OAUTHBEARER as client ${sec.sasl.clientId} (token from ${sec.sasl.tokenEndpoint})` : `${sec.sasl.mechanism} as ${sec.sasl.username}`);
  if (sec.tls) parts.push(`${sec.tls.ca ? 'own CA' : 'system CAs'}${sec.tls.cert || sec.tls.pfx ? ', client certificate' : ''}${sec.tls.verifyHostname ? '' : ', no hostname check'}`);
  return parts.join(', ');
}
