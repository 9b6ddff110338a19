/**
 * WITH (…) options of sources, views and sinks: Flink's names where one exists, checked by name so a
 * typo is an error with a suggestion rather than a silently ignored setting.
 */
import type { OptionDecl } from './ast.ts';
import type { KafkaSourceOptions, OnError, QueryOptions, SinkOptions, StartupMode } from './catalog.ts';
import { SqlError, didYouMean, type PosMap } from './errors.ts';
import { parseIntervalText } from './interval.ts';
import { MAX_DURATION_OPTION_MS } from './limits.ts';

const SOURCE_KEYS = [
  'connector', 'topic', 'topic-pattern', 'properties.bootstrap.servers', 'properties.group.id', 'format', 'csv.delimiter',
  'scan.startup.mode', 'scan.startup.timestamp-millis', 'scan.startup.specific-offsets', 'source.idle-timeout',
  'scan.max-rate', 'format.on-error', 'format.dead-letter.topic', 'failondataloss', 'json.ignore-parse-errors', 'json.fail-on-missing-field',
  'source.client', 'source.workers', 'scan.topic-partition-discovery.interval',
] as const;

const QUERY_KEYS = ['checkpoint.interval', 'late.topic', 'retention.rows'] as const;
const SINK_KEYS = ['connector', 'topic', 'properties.bootstrap.servers', 'format', 'sink.delivery-guarantee', ...QUERY_KEYS] as const;

function fail(pm: PosMap, at: number, msg: string): never {
  const p = pm.pos(at);
  throw new SqlError(msg, p.line, p.column);
}

function checkKeys(opts: readonly OptionDecl[], allowed: readonly string[], pm: PosMap, what: string): Map<string, OptionDecl> {
  const m = new Map<string, OptionDecl>();
  for (const o of opts) {
    if (!allowed.includes(o.key)) fail(pm, o.start, `unknown ${what} option '${o.key}'${didYouMean(o.key, allowed)}`);
    if (m.has(o.key)) fail(pm, o.start, `option '${o.key}' is given twice`);
    m.set(o.key, o);
  }
  return m;
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

export function sourceOptions(opts: readonly OptionDecl[], pm: PosMap, at: number): KafkaSourceOptions {
  const m = checkKeys(opts, SOURCE_KEYS, pm, 'source');
  const connector = m.get('connector');
  if (!connector) fail(pm, at, `a source needs WITH (connector = 'kafka', topic = '…', format = 'json')`);
  if (connector.value.toLowerCase() !== 'kafka') fail(pm, connector.valueStart, `unknown connector '${connector.value}': only 'kafka' is supported`);
  const topic = m.get('topic'); const pattern = m.get('topic-pattern');
  if (!topic && !pattern) fail(pm, at, `a Kafka source needs option 'topic' (or 'topic-pattern')`);
  if (topic && pattern) fail(pm, pattern.start, `give either 'topic' or 'topic-pattern', not both`);
  if (pattern) { try { new RegExp(pattern.value); } catch { fail(pm, pattern.valueStart, `'topic-pattern' is not a valid regular expression`); } }
  const format = m.get('format');
  if (!format) fail(pm, at, `a Kafka source needs option 'format' ('json', 'csv' or 'raw')`);
  const startupMode = oneOf<StartupMode>(pm, m.get('scan.startup.mode'), ['earliest', 'latest', 'timestamp', 'specific-offsets', 'group-offsets'], 'group-offsets');
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
  const onError = oneOf<OnError>(pm, m.get('format.on-error'), ['fail', 'skip', 'dead-letter'], m.get('json.ignore-parse-errors')?.value === 'false' ? 'fail' : 'skip');
  const dlt = m.get('format.dead-letter.topic');
  if (onError === 'dead-letter' && !dlt) fail(pm, m.get('format.on-error')!.valueStart, `'format.on-error' = 'dead-letter' needs 'format.dead-letter.topic'`);
  const fodl = m.get('failondataloss');
  return {
    connector: 'kafka',
    topics: topic ? topic.value.split(',').map((s) => s.trim()).filter(Boolean) : [],
    topicPattern: pattern?.value ?? null,
    bootstrapServers: m.get('properties.bootstrap.servers')?.value ?? null,
    format: oneOf(pm, format, ['json', 'csv', 'raw'], 'json'),
    csvDelimiter: m.get('csv.delimiter')?.value ?? ',',
    // Flink's default is group-offsets; with no committed offsets that reads from the earliest.
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
  };
}

/** 'source.workers': read-and-decode worker threads for the native reader; 0 reads on the query's thread. */
function workerCount(pm: PosMap, o: OptionDecl | undefined): number | null {
  if (!o) return null;
  const v = Number(o.value);
  if (!Number.isInteger(v) || v < 0 || v > 64) fail(pm, o.valueStart, `option '${o.key}' must be a whole number from 0 to 64, not '${o.value}'`);
  return v;
}

export function queryOptions(opts: readonly OptionDecl[], pm: PosMap, allowed: readonly string[] = QUERY_KEYS): QueryOptions {
  const m = checkKeys(opts, allowed, pm, 'view');
  const ci = duration(pm, m.get('checkpoint.interval'));
  if (ci !== null && ci < 100) fail(pm, m.get('checkpoint.interval')!.valueStart, `'checkpoint.interval' must be at least 100 ms`);
  return {
    checkpointIntervalMs: ci ?? 1000,
    lateTopic: m.get('late.topic')?.value ?? null,
    retentionRows: positive(pm, m.get('retention.rows')),
  };
}

export function sinkOptions(opts: readonly OptionDecl[], pm: PosMap, at: number): { sink: SinkOptions; query: QueryOptions } {
  const m = checkKeys(opts, SINK_KEYS, pm, 'sink');
  const connector = m.get('connector');
  if (!connector) fail(pm, at, `a sink needs WITH (connector = 'kafka', topic = '…', format = 'json')`);
  if (connector.value.toLowerCase() !== 'kafka') fail(pm, connector.valueStart, `unknown connector '${connector.value}': only 'kafka' is supported`);
  const topic = m.get('topic');
  if (!topic) fail(pm, at, `a Kafka sink needs option 'topic'`);
  return {
    sink: {
      connector: 'kafka',
      topic: topic.value,
      bootstrapServers: m.get('properties.bootstrap.servers')?.value ?? null,
      format: oneOf(pm, m.get('format'), ['json'], 'json'),
      deliveryGuarantee: oneOf(pm, m.get('sink.delivery-guarantee'), ['exactly-once', 'at-least-once'], 'exactly-once'),
    },
    query: queryOptions(opts.filter((o) => (QUERY_KEYS as readonly string[]).includes(o.key)), pm),
  };
}
