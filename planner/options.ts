/**
 * WITH (…) options of sources, views and sinks: Flink's names where one exists, checked by name so a
 * typo is an error with a suggestion rather than a silently ignored setting.
 */
import type { OptionDecl } from './ast.ts';
import type { KafkaSourceOptions, OnError, QueryOptions, SchemaRegistryOptions, SinkOptions, StartupMode } from './catalog.ts';
import { SqlError, didYouMean, type PosMap } from './errors.ts';
import { parseIntervalText } from './interval.ts';
import { MAX_DURATION_OPTION_MS } from './limits.ts';

const SOURCE_KEYS = [
  'connector', 'topic', 'topic-pattern', 'properties.bootstrap.servers', 'properties.group.id', 'format', 'value.format', 'csv.delimiter',
  'scan.startup.mode', 'scan.startup.timestamp-millis', 'scan.startup.specific-offsets', 'source.idle-timeout',
  'scan.max-rate', 'format.on-error', 'format.dead-letter.topic', 'failondataloss', 'json.ignore-parse-errors', 'json.fail-on-missing-field',
  'json.timestamp-format.standard', 'key.format', 'key.fields', 'key.fields-prefix', 'value.fields-include',
  'debezium-json.schema-include', 'debezium-json.ignore-parse-errors', 'key.json.ignore-parse-errors', 'key.json.fail-on-missing-field',
  'source.client', 'source.workers', 'scan.topic-partition-discovery.interval',
  'avro-confluent.url', 'avro-confluent.subject', 'avro-confluent.basic-auth.credentials-source', 'avro-confluent.basic-auth.user-info',
  'avro-confluent.bearer-auth.credentials-source', 'avro-confluent.bearer-auth.token', 'avro-confluent.ssl.truststore.location',
] as const;

const QUERY_KEYS = ['checkpoint.interval', 'late.topic', 'retention.rows', 'state.ttl'] as const;
const SINK_KEYS = [
  'connector', 'topic', 'properties.bootstrap.servers', 'format', 'value.format', 'key.format', 'key.fields', 'key.fields-prefix',
  'value.fields-include', 'json.timestamp-format.standard', 'sink.delivery-guarantee', 'sink.transactional-id-prefix', 'sink.partitioner',
  'avro-confluent.url', 'avro-confluent.subject', 'avro-confluent.basic-auth.credentials-source', 'avro-confluent.basic-auth.user-info',
  'avro-confluent.bearer-auth.credentials-source', 'avro-confluent.bearer-auth.token', 'avro-confluent.ssl.truststore.location',
  ...QUERY_KEYS,
] as const;

/**
 * Kafka client properties (Flink's `properties.*`) that mean something here: security on every
 * connection, plus the client id. Values may reference environment variables (`${KAFKA_PASSWORD}`);
 * they are resolved when a client connects (connectors/kafka/security.ts), never stored resolved.
 */
export const KAFKA_CLIENT_PROPERTIES = [
  'security.protocol', 'sasl.mechanism', 'sasl.jaas.config', 'sasl.username', 'sasl.password',
  'sasl.oauthbearer.token.endpoint.url', 'sasl.login.callback.handler.class', 'sasl.login.refresh.window.factor',
  'sasl.oauthbearer.client.id', 'sasl.oauthbearer.client.secret', 'sasl.oauthbearer.scope',
  'ssl.truststore.location', 'ssl.truststore.type', 'ssl.truststore.password', 'ssl.truststore.certificates',
  'ssl.keystore.location', 'ssl.keystore.type', 'ssl.keystore.password', 'ssl.keystore.certificate.chain', 'ssl.keystore.key',
  'ssl.key.password', 'ssl.endpoint.identification.algorithm',
  'ssl.ca.location', 'ssl.certificate.location', 'ssl.key.location', 'client.id',
] as const;

/** Properties whose values are secrets: never shown (see redactSql). */
export const SECRET_PROPERTIES = ['sasl.jaas.config', 'sasl.password', 'sasl.oauthbearer.client.secret', 'ssl.truststore.password', 'ssl.keystore.password', 'ssl.keystore.key', 'ssl.key.password'] as const;

/**
 * Options of Flink's Kafka connectors (and a few Kafka client properties) that have no meaning here:
 * refused by name, with the reason, rather than silently ignored.
 */
const NOT_HERE: Record<string, string> = {
  'scan.bounded.mode': 'sources here are unbounded: a continuous query reads until it is dropped',
  'scan.bounded.timestamp-millis': 'sources here are unbounded: a continuous query reads until it is dropped',
  'scan.bounded.specific-offsets': 'sources here are unbounded: a continuous query reads until it is dropped',
  'scan.parallelism': "a query runs as one task; reading is spread over threads with 'source.workers'",
  'sink.parallelism': 'a query runs as one task with one transactional producer',
  'sink.buffer-flush.max-rows': 'the sink already writes once per checkpoint epoch (checkpoint.interval)',
  'sink.buffer-flush.interval': "the sink already writes once per checkpoint epoch: set 'checkpoint.interval'",
  'json.map-null-key.mode': 'MAP columns are not supported',
  'json.map-null-key.literal': 'MAP columns are not supported',
  'json.encode.decimal-as-plain-number': 'DECIMAL is carried as DOUBLE and written as a JSON number',
  'json.encode.ignore-null-fields': 'NULL fields are written as JSON null',
  'properties.enable.auto.commit': "offsets are committed from checkpoints, never automatically",
  'properties.auto.offset.reset': "use 'scan.startup.mode' ('earliest-offset', 'latest-offset', …)",
  'properties.isolation.level': 'sources read read_committed always (exactly-once sinks upstream stay exact)',
  'properties.key.deserializer': "keys are read with 'key.format'",
  'properties.value.deserializer': "values are read with 'format'",
  'properties.key.serializer': "keys are written with 'key.format'",
  'properties.value.serializer': "values are written with 'format'",
  'properties.transactional.id': "use 'sink.transactional-id-prefix'",
};

function fail(pm: PosMap, at: number, msg: string): never {
  const p = pm.pos(at);
  throw new SqlError(msg, p.line, p.column);
}

/** Flink's value format options may be prefixed with 'value.' ('value.json.fail-on-missing-field'). */
function unprefixValue(o: OptionDecl): OptionDecl {
  return /^value\.(json|csv|debezium-json|avro-confluent)\./.test(o.key) ? { ...o, key: o.key.slice('value.'.length) } : o;
}

function checkKeys(opts: readonly OptionDecl[], allowed: readonly string[], pm: PosMap, what: string): Map<string, OptionDecl> {
  const m = new Map<string, OptionDecl>();
  for (const o0 of opts) {
    const o = what === 'view' ? o0 : unprefixValue(o0);
    const why = NOT_HERE[o.key];
    if (why) fail(pm, o.start, `option '${o.key}' has no meaning here: ${why}`);
    const prop = o.key.startsWith('properties.') && !allowed.includes(o.key) ? o.key.slice('properties.'.length) : null;
    if (prop !== null && what !== 'view') {
      if (!(KAFKA_CLIENT_PROPERTIES as readonly string[]).includes(prop)) {
        fail(pm, o.start, `Kafka client property '${prop}' is not used here (the clients are configured by streamsql); 'properties.' takes bootstrap.servers, group.id, security.protocol, sasl.*, ssl.* and client.id${didYouMean(prop, KAFKA_CLIENT_PROPERTIES)}`);
      }
    } else if (!allowed.includes(o.key)) fail(pm, o.start, `unknown ${what} option '${o.key}'${didYouMean(o.key, allowed)}`);
    if (m.has(o.key)) fail(pm, o.start, `option '${o.key}' is given twice`);
    m.set(o.key, o);
  }
  return m;
}

/** The `properties.*` Kafka client settings of a source or sink, checked where the value is not a secret. */
function clientProperties(pm: PosMap, m: Map<string, OptionDecl>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, o] of m) {
    if (!k.startsWith('properties.') || k === 'properties.bootstrap.servers' || k === 'properties.group.id') continue;
    out[k.slice('properties.'.length)] = o.value;
  }
  const env = (v: string | undefined) => v !== undefined && /\$\{[A-Za-z_][A-Za-z0-9_]*\}/.test(v);
  const proto = m.get('properties.security.protocol');
  if (proto && !env(proto.value) && !['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'].includes(proto.value.toUpperCase())) {
    fail(pm, proto.valueStart, `option 'properties.security.protocol' must be one of 'PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL', not '${proto.value}'`);
  }
  const mech = m.get('properties.sasl.mechanism');
  if (mech && !env(mech.value)) {
    const v = mech.value.toUpperCase();
    if (!['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'].includes(v)) {
      fail(pm, mech.valueStart, v === 'GSSAPI' || v === 'AWS_MSK_IAM'
        ? `'properties.sasl.mechanism' = '${mech.value}' is not supported yet: use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER`
        : `option 'properties.sasl.mechanism' must be one of 'PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER', not '${mech.value}'`);
    }
  }
  const jaas = m.get('properties.sasl.jaas.config');
  // The value is a secret: errors about it never quote it.
  if (jaas && !env(jaas.value) && !/\b(username|clientId)\s*=/.test(jaas.value)) fail(pm, jaas.valueStart, `'properties.sasl.jaas.config' needs username="…" and password="…" (for example org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="\${KAFKA_PASSWORD}";)`);
  const eia = m.get('properties.ssl.endpoint.identification.algorithm');
  if (eia && eia.value !== '' && eia.value.toLowerCase() !== 'https') fail(pm, eia.valueStart, `'properties.ssl.endpoint.identification.algorithm' must be 'https' (hostname verification, the default) or '' (off), not '${eia.value}'`);
  for (const k of ['ssl.truststore.type', 'ssl.keystore.type']) {
    const o = m.get(`properties.${k}`);
    if (o && !['PEM', 'JKS', 'PKCS12'].includes(o.value.toUpperCase())) fail(pm, o.valueStart, `option 'properties.${k}' must be one of 'PEM', 'JKS', 'PKCS12', not '${o.value}'`);
  }
  return out;
}

/**
 * Flink's 'key.fields' ('id;name', names of declared columns) and 'key.format'. Key columns are read
 * from the record key (and, with 'value.fields-include' = 'ALL', also expected in the value).
 */
function keyOptions(pm: PosMap, m: Map<string, OptionDecl>, required: boolean): { keyFormat: 'json' | 'raw' | null; keyFields: string[]; keyFieldsPrefix: string; valueFieldsInclude: 'all' | 'except-key' } {
  const kf = m.get('key.format'); const kfs = m.get('key.fields');
  const keyFormat = kf ? oneOf(pm, kf, ['json', 'raw'], 'json') : null;
  const keyFields = kfs ? kfs.value.split(';').map((x) => x.trim()).filter(Boolean) : [];
  if (kfs && keyFields.length === 0) fail(pm, kfs.valueStart, `'key.fields' lists the key columns separated by ';', for example 'user_id;item_id'`);
  if (kfs && !kf) fail(pm, kfs.start, `'key.fields' needs 'key.format' ('json' or 'raw')`);
  if (kf && !kfs && !required) fail(pm, kf.start, `'key.format' needs 'key.fields' (the key columns, separated by ';')`);
  if (keyFormat === 'raw' && keyFields.length > 1) fail(pm, kfs!.valueStart, `'key.format' = 'raw' takes exactly one key field`);
  const vfi = m.get('value.fields-include');
  const valueFieldsInclude = oneOf(pm, vfi && ({ ...vfi, value: vfi.value.toLowerCase().replace('_', '-') } as OptionDecl), ['all', 'except-key'], 'all');
  return { keyFormat, keyFields, keyFieldsPrefix: m.get('key.fields-prefix')?.value ?? '', valueFieldsInclude };
}

/** 'format' or Flink's 'value.format' (one of the two). */
function valueFormat(pm: PosMap, m: Map<string, OptionDecl>): OptionDecl | undefined {
  const f = m.get('format'); const vf = m.get('value.format');
  if (f && vf) fail(pm, vf.start, `give either 'format' or 'value.format', not both`);
  return f ?? vf;
}

/** Flink's 'avro-confluent.*' options (with or without 'value.'): the registry URL, subject, credentials. */
function registryOptions(pm: PosMap, m: Map<string, OptionDecl>, used: boolean, topic: string | null): SchemaRegistryOptions | null {
  const o = (k: string) => m.get(`avro-confluent.${k}`);
  if (!used) {
    const any = [...m.keys()].find((k) => k.startsWith('avro-confluent.'));
    if (any) fail(pm, m.get(any)!.start, `option '${any}' needs 'format' = 'avro-confluent'`);
    return null;
  }
  const url = o('url');
  if (!url) fail(pm, (m.get('format') ?? m.get('value.format'))?.valueStart ?? 0, `'format' = 'avro-confluent' needs 'avro-confluent.url' (the schema registry, for example 'http://registry:8081')`);
  if (!/\$\{/.test(url.value)) {
    let u: URL | null = null;
    try { u = new URL(url.value); } catch { /* below */ }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) fail(pm, url.valueStart, `'avro-confluent.url' must be an http(s) URL`);
  }
  const bcs = o('basic-auth.credentials-source');
  if (bcs && bcs.value.toUpperCase() !== 'USER_INFO') fail(pm, bcs.valueStart, `'avro-confluent.basic-auth.credentials-source' must be 'USER_INFO' (the credentials in 'avro-confluent.basic-auth.user-info')`);
  const ui = o('basic-auth.user-info');
  if (ui && !/\$\{/.test(ui.value) && !ui.value.includes(':')) fail(pm, ui.valueStart, `'avro-confluent.basic-auth.user-info' must be 'user:password'`);
  const tcs = o('bearer-auth.credentials-source');
  if (tcs && tcs.value.toUpperCase() !== 'STATIC_TOKEN') fail(pm, tcs.valueStart, `'avro-confluent.bearer-auth.credentials-source' must be 'STATIC_TOKEN' (the token in 'avro-confluent.bearer-auth.token')`);
  const subject = o('subject')?.value ?? (topic ? `${topic}-value` : undefined);
  const r: SchemaRegistryOptions = {
    url: url.value.replace(/\/+$/, ''),
    ...(subject ? { subject } : {}),
    ...(ui ? { userInfo: ui.value } : {}),
    ...(o('bearer-auth.token') ? { bearerToken: o('bearer-auth.token')!.value } : {}),
    ...(o('ssl.truststore.location') ? { caLocation: o('ssl.truststore.location')!.value } : {}),
  };
  return r;
}

/** Flink's 'json.timestamp-format.standard': 'SQL' ('2024-01-01 12:00:00.000') or 'ISO-8601'; both are read either way. */
function timestampFormat(pm: PosMap, m: Map<string, OptionDecl>): 'sql' | 'iso-8601' {
  const o = m.get('json.timestamp-format.standard');
  return oneOf(pm, o && ({ ...o, value: o.value.toLowerCase() } as OptionDecl), ['sql', 'iso-8601'], 'sql');
}

function oneOf<T extends string>(pm: PosMap, o: OptionDecl | undefined, allowed: readonly T[], dflt: T): T {
  if (!o) return dflt;
  const v = o.value.toLowerCase();
  if (!allowed.includes(v as T)) fail(pm, o.valueStart, `option '${o.key}' must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, not '${o.value}'`);
  return v as T;
}

/**
 * A duration option in milliseconds, at most MAX_DURATION_OPTION_MS: durations become timers, and a
 * Node timer asked to wait longer than 2^31 - 1 ms (24.8 days) fires after 1 ms instead.
 */
function duration(pm: PosMap, o: OptionDecl | undefined): number | null {
  if (!o) return null;
  const v = /^\d+$/.test(o.value.trim()) ? Number(o.value) : parseIntervalText(o.value);
  if (v === null || v < 0 || !Number.isFinite(v)) fail(pm, o.valueStart, `option '${o.key}' must be a duration such as '30 s' or '500 ms', not '${o.value}'`);
  if (v > MAX_DURATION_OPTION_MS) {
    const p = pm.pos(o.valueStart);
    throw new SqlError(`option '${o.key}' may be at most ${MAX_DURATION_OPTION_MS / 86_400_000} days, not '${o.value}' (limit MAX_DURATION_OPTION_MS)`, p.line, p.column, 'limit');
  }
  return v;
}

function positive(pm: PosMap, o: OptionDecl | undefined): number | null {
  if (!o) return null;
  const v = Number(o.value);
  if (!Number.isFinite(v) || v <= 0) fail(pm, o.valueStart, `option '${o.key}' must be a positive number, not '${o.value}'`);
  return v;
}

/** Flink's startup mode names ('earliest-offset', …) and ours ('earliest', …). */
const STARTUP_MODES: Record<string, StartupMode> = {
  'earliest-offset': 'earliest', earliest: 'earliest', 'latest-offset': 'latest', latest: 'latest',
  'group-offsets': 'group-offsets', timestamp: 'timestamp', 'specific-offsets': 'specific-offsets',
};

export function sourceOptions(opts: readonly OptionDecl[], pm: PosMap, at: number, primaryKey: readonly string[] = []): KafkaSourceOptions {
  const m = checkKeys(opts, SOURCE_KEYS, pm, 'source');
  const connector = m.get('connector');
  if (!connector) fail(pm, at, `a source needs WITH (connector = 'kafka', topic = '…', format = 'json')`);
  const conn = connector.value.toLowerCase();
  if (conn !== 'kafka' && conn !== 'upsert-kafka') fail(pm, connector.valueStart, `unknown connector '${connector.value}': 'kafka' and 'upsert-kafka' are supported`);
  const upsert = conn === 'upsert-kafka';
  const topic = m.get('topic'); const pattern = m.get('topic-pattern');
  if (!topic && !pattern) fail(pm, at, `a Kafka source needs option 'topic' (or 'topic-pattern')`);
  if (topic && pattern) fail(pm, pattern.start, `give either 'topic' or 'topic-pattern', not both`);
  if (pattern) { try { new RegExp(pattern.value); } catch { fail(pm, pattern.valueStart, `'topic-pattern' is not a valid regular expression`); } }
  const format = valueFormat(pm, m);
  if (!format) fail(pm, at, `a Kafka source needs option 'format' ('json', 'debezium-json', 'avro', 'csv' or 'raw')`);
  const fmt = oneOf(pm, format, ['json', 'csv', 'raw', 'debezium-json', 'avro', 'avro-confluent'], 'json');
  const registry = registryOptions(pm, m, fmt === 'avro-confluent', topic?.value ?? null);
  if (fmt === 'avro-confluent' && m.get('source.client')?.value.toLowerCase() === 'kafkajs') fail(pm, m.get('source.client')!.valueStart, `'avro-confluent' is read by the native reader; leave 'source.client' out`);
  if (upsert && fmt === 'debezium-json') fail(pm, format.valueStart, `'upsert-kafka' reads plain values ('json'); 'debezium-json' is a changelog format of connector 'kafka'`);
  const keys = keyOptions(pm, m, upsert);
  let keyFields = keys.keyFields;
  if (upsert) {
    if (primaryKey.length === 0) fail(pm, at, `connector 'upsert-kafka' needs PRIMARY KEY (…) NOT ENFORCED: the record key identifies the row`);
    if (!keys.keyFormat) fail(pm, at, `connector 'upsert-kafka' needs 'key.format' ('json' or 'raw')`);
    if (keyFields.length && keyFields.join(';').toLowerCase() !== primaryKey.join(';').toLowerCase()) {
      fail(pm, m.get('key.fields')!.valueStart, `for 'upsert-kafka' the key fields are the primary key (${primaryKey.join(', ')}); leave 'key.fields' out`);
    }
    keyFields = [...primaryKey];
    if (keys.keyFormat === 'raw' && keyFields.length > 1) fail(pm, m.get('key.format')!.valueStart, `'key.format' = 'raw' takes a one-column primary key`);
  }
  if (keys.keyFieldsPrefix && keys.valueFieldsInclude !== 'except-key') fail(pm, m.get('key.fields-prefix')!.start, `'key.fields-prefix' needs 'value.fields-include' = 'EXCEPT_KEY' (as in Flink)`);
  const modeOpt = m.get('scan.startup.mode');
  if (modeOpt && !STARTUP_MODES[modeOpt.value.toLowerCase()]) {
    fail(pm, modeOpt.valueStart, `option 'scan.startup.mode' must be one of 'earliest-offset', 'latest-offset', 'group-offsets', 'timestamp', 'specific-offsets', not '${modeOpt.value}'`);
  }
  // Flink's default is group-offsets; with no committed offsets that reads from the earliest (upsert-kafka: always the earliest).
  const startupMode: StartupMode = modeOpt ? STARTUP_MODES[modeOpt.value.toLowerCase()]! : upsert ? 'earliest' : 'group-offsets';
  const tsOpt = m.get('scan.startup.timestamp-millis');
  const startupTimestampMs = tsOpt ? Number(tsOpt.value) : null;
  if (startupMode === 'timestamp' && (startupTimestampMs === null || !Number.isFinite(startupTimestampMs))) {
    fail(pm, (tsOpt ?? m.get('scan.startup.mode')!).valueStart, `'scan.startup.mode' = 'timestamp' needs 'scan.startup.timestamp-millis'`);
  }
  const specificOffsets: Record<number, number> = {};
  const so = m.get('scan.startup.specific-offsets');
  if (startupMode === 'specific-offsets') {
    if (!so) fail(pm, m.get('scan.startup.mode')!.valueStart, `'scan.startup.mode' = 'specific-offsets' needs 'scan.startup.specific-offsets' ('partition:0,offset:42;partition:1,offset:300')`);
    for (const part of so.value.split(';').map((s) => s.trim()).filter(Boolean)) {
      const mm = /^partition:(\d+),offset:(\d+)$/.exec(part.replace(/\s+/g, ''));
      if (!mm) fail(pm, so.valueStart, `cannot read '${part}' in 'scan.startup.specific-offsets': expected 'partition:0,offset:42;partition:1,offset:300'`);
      specificOffsets[Number(mm[1])] = Number(mm[2]);
    }
  }
  const ignoreErrors = m.get('json.ignore-parse-errors') ?? m.get('debezium-json.ignore-parse-errors');
  const onError = oneOf<OnError>(pm, m.get('format.on-error'), ['fail', 'skip', 'dead-letter'], ignoreErrors?.value.toLowerCase() === 'false' ? 'fail' : 'skip');
  const dlt = m.get('format.dead-letter.topic');
  if (onError === 'dead-letter' && !dlt) fail(pm, m.get('format.on-error')!.valueStart, `'format.on-error' = 'dead-letter' needs 'format.dead-letter.topic'`);
  const fodl = m.get('failondataloss');
  const dsi = m.get('debezium-json.schema-include');
  if (dsi && fmt !== 'debezium-json') fail(pm, dsi.start, `'debezium-json.schema-include' needs 'format' = 'debezium-json'`);
  if (dsi) oneOf(pm, dsi, ['true', 'false'], 'false');
  return {
    connector: 'kafka',
    topics: topic ? topic.value.split(/[,;]/).map((s) => s.trim()).filter(Boolean) : [],
    topicPattern: pattern?.value ?? null,
    bootstrapServers: m.get('properties.bootstrap.servers')?.value ?? null,
    format: fmt === 'debezium-json' || fmt === 'avro' || fmt === 'avro-confluent' ? 'json' : fmt,
    csvDelimiter: m.get('csv.delimiter')?.value ?? ',',
    startupMode,
    startupTimestampMs,
    specificOffsets,
    idleTimeoutMs: duration(pm, m.get('source.idle-timeout')),
    maxRate: positive(pm, m.get('scan.max-rate')),
    onError,
    deadLetterTopic: dlt?.value ?? null,
    failOnDataLoss: fodl ? oneOf(pm, fodl, ['true', 'false'], 'true') === 'true' : true,
    // Flink's default: a field missing from a JSON message is NULL; 'true' makes it malformed.
    failOnMissingField: oneOf(pm, m.get('json.fail-on-missing-field'), ['true', 'false'], 'false') === 'true',
    // 'native' reads fetch responses in place (connectors/kafka/wire); 'kafkajs' uses its consumer.
    client: oneOf(pm, m.get('source.client'), ['native', 'kafkajs'], 'native'),
    workers: workerCount(pm, m.get('source.workers')),
    // Flink's name; 0 turns discovery off. Partitions (and pattern topics) found later are read from the earliest.
    discoveryIntervalMs: duration(pm, m.get('scan.topic-partition-discovery.interval')),
    ...optionalFields({
      properties: clientProperties(pm, m),
      keyFormat: keys.keyFormat,
      keyFields,
      keyFieldsPrefix: keys.keyFieldsPrefix,
      valueFieldsInclude: keys.valueFieldsInclude,
      changelog: (upsert ? 'upsert' : fmt === 'debezium-json' ? 'debezium' : null) as 'upsert' | 'debezium' | null,
      primaryKey: upsert || fmt === 'debezium-json' ? [...primaryKey] : [],
      timestampFormat: timestampFormat(pm, m),
      valueFormat: (fmt === 'avro' || fmt === 'avro-confluent' ? fmt : null) as 'avro' | 'avro-confluent' | null,
      registry,
    }),
  };
}

/**
 * The options added for production Kafka, left out while at their defaults: a plain JSON source
 * keeps the shape (and the `query source` test output) it had before they existed.
 */
function optionalFields<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], null> } {
  const out: { [K in keyof T]?: Exclude<T[K], null> } = {};
  for (const [k, v] of Object.entries(o) as [keyof T, T[keyof T]][]) {
    const dflt = v === null || v === false || v === '' || v === 'all' || v === 'sql' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
    if (!dflt) out[k] = v as Exclude<T[keyof T], null>;
  }
  return out;
}

/** 'source.workers': read-and-decode worker threads for the native reader; 0 reads on the query's thread. */
function workerCount(pm: PosMap, o: OptionDecl | undefined): number | null {
  if (!o) return null;
  const v = Number(o.value);
  if (!Number.isInteger(v) || v < 0 || v > 64) fail(pm, o.valueStart, `option '${o.key}' must be a whole number from 0 to 64, not '${o.value}'`);
  return v;
}

function positiveDuration(pm: PosMap, o: OptionDecl): number {
  const ms = duration(pm, o);
  if (ms === null || !(ms > 0)) fail(pm, o.valueStart, `option '${o.key}' must be a positive duration, such as '1 hour'`);
  return ms!;
}

export function queryOptions(opts: readonly OptionDecl[], pm: PosMap, allowed: readonly string[] = QUERY_KEYS): QueryOptions {
  const m = checkKeys(opts, allowed, pm, 'view');
  const ci = duration(pm, m.get('checkpoint.interval'));
  if (ci !== null && ci < 100) fail(pm, m.get('checkpoint.interval')!.valueStart, `'checkpoint.interval' must be at least 100 ms`);
  return {
    checkpointIntervalMs: ci ?? 1000,
    lateTopic: m.get('late.topic')?.value ?? null,
    retentionRows: positive(pm, m.get('retention.rows')),
    // Flink's table.exec.state.ttl: regular joins evict rows idle this long (processing time); absent: kept.
    ...(m.get('state.ttl') ? { stateTtlMs: positiveDuration(pm, m.get('state.ttl')!) } : {}),
  };
}

export function sinkOptions(opts: readonly OptionDecl[], pm: PosMap, at: number): { sink: SinkOptions; query: QueryOptions } {
  const m = checkKeys(opts, SINK_KEYS, pm, 'sink');
  const connector = m.get('connector');
  if (!connector) fail(pm, at, `a sink needs WITH (connector = 'kafka', topic = '…', format = 'json')`);
  const conn = connector.value.toLowerCase();
  if (conn !== 'kafka' && conn !== 'upsert-kafka') fail(pm, connector.valueStart, `unknown connector '${connector.value}': 'kafka' and 'upsert-kafka' are supported`);
  const topic = m.get('topic');
  if (!topic) fail(pm, at, `a Kafka sink needs option 'topic'`);
  const keys = keyOptions(pm, m, conn === 'upsert-kafka');
  if (conn === 'upsert-kafka' && m.get('key.fields')) fail(pm, m.get('key.fields')!.start, `for 'upsert-kafka' the key is the query's key (its GROUP BY columns); leave 'key.fields' out`);
  // Flink: 'none' gives no guarantee; at-least-once is the weakest this sink offers.
  const dg = oneOf(pm, m.get('sink.delivery-guarantee'), ['exactly-once', 'at-least-once', 'none'], 'exactly-once');
  const tip = m.get('sink.transactional-id-prefix');
  if (tip && !/^[A-Za-z0-9._-]{1,200}$/.test(tip.value)) fail(pm, tip.valueStart, `'sink.transactional-id-prefix' may hold letters, digits, '.', '_' and '-'`);
  const part = m.get('sink.partitioner');
  const partitioner = oneOf(pm, part, ['default', 'fixed', 'round-robin'], 'default');
  const vfmt = oneOf(pm, valueFormat(pm, m), ['json', 'debezium-json', 'avro', 'avro-confluent'], 'json');
  return {
    sink: {
      connector: 'kafka',
      topic: topic.value,
      bootstrapServers: m.get('properties.bootstrap.servers')?.value ?? null,
      format: vfmt === 'debezium-json' ? 'debezium-json' : 'json',
      deliveryGuarantee: dg === 'none' ? 'at-least-once' : dg,
      ...optionalFields({
        upsert: conn === 'upsert-kafka',
        properties: clientProperties(pm, m),
        keyFormat: keys.keyFormat,
        keyFields: keys.keyFields,
        valueFieldsInclude: keys.valueFieldsInclude,
        transactionalIdPrefix: tip?.value ?? null,
        partitioner: partitioner === 'default' ? null : partitioner,
        timestampFormat: timestampFormat(pm, m),
        valueFormat: (vfmt === 'avro' || vfmt === 'avro-confluent' ? vfmt : null) as 'avro' | 'avro-confluent' | null,
        registry: registryOptions(pm, m, vfmt === 'avro-confluent', topic.value),
      }),
    },
    query: queryOptions(opts.filter((o) => (QUERY_KEYS as readonly string[]).includes(o.key)), pm),
  };
}

/**
 * SQL text with the values of secret options (`'properties.sasl.jaas.config' = '…'`, passwords, keys)
 * replaced by '******': what status, logs and the dashboard show. The catalog file keeps the text as
 * written (owner-only), so a restart re-plans it; `${ENV}` references keep secrets out of it altogether.
 */
export function redactSql(sql: string): string {
  const keys = SECRET_PROPERTIES.map((k) => k.replace(/\./g, '\\.')).join('|');
  return sql.replace(new RegExp(`('(?:properties\\.)?(?:${keys})'\\s*=\\s*)'(?:[^']|'')*'`, 'gi'), "$1'******'")
    .replace(/('(?:value\.)?avro-confluent\.(?:basic-auth\.user-info|bearer-auth\.token)'\s*=\s*)'(?:[^']|'')*'/gi, "$1'******'");
}
