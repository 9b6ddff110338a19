/**
 * Catalog objects: sources, views (named queries), materialized views and sinks. The catalog is pure
 * data; `queries/` persists it and runs the continuous queries behind materialized views and sinks.
 */
import type { EmitMode, MetadataKey } from './ast.ts';
import type { Schema, SqlType } from './types.ts';

export type StartupMode = 'earliest' | 'latest' | 'timestamp' | 'specific-offsets' | 'group-offsets';
export type OnError = 'fail' | 'skip' | 'dead-letter';

export interface KafkaSourceOptions {
  readonly connector: 'kafka';
  readonly topics: readonly string[];
  readonly topicPattern: string | null;
  /** null: the service's own cluster. */
  readonly bootstrapServers: string | null;
  readonly format: 'json' | 'csv' | 'raw';
  readonly csvDelimiter: string;
  readonly startupMode: StartupMode;
  readonly startupTimestampMs: number | null;
  /** partition → offset, for `specific-offsets` (Flink: 'partition:0,offset:42;partition:1,offset:300'). */
  readonly specificOffsets: Readonly<Record<number, number>>;
  readonly idleTimeoutMs: number | null;
  readonly maxRate: number | null;
  readonly onError: OnError;
  readonly deadLetterTopic: string | null;
  readonly failOnDataLoss: boolean;
  /** JSON: a declared field missing from a message makes it malformed (else it is NULL). */
  readonly failOnMissingField: boolean;
  /** Which Kafka reader fetches: the native one (default) or kafkajs' consumer. */
  readonly client: 'native' | 'kafkajs';
  /** Read workers for the native reader (null: the default, see connectors/kafka/source.ts). */
  readonly workers: number | null;
  /** How often a running source looks for new partitions and pattern topics (null: the default; 0: never). */
  readonly discoveryIntervalMs: number | null;
  // Production Kafka (left out at their defaults, see planner/options.ts optionalFields):
  /** Kafka client properties from Flink's `properties.*` (security, client.id); values may hold `${ENV}` references. */
  readonly properties?: Readonly<Record<string, string>>;
  /** 'key.format': how the record key is read into the 'key.fields' columns. */
  readonly keyFormat?: 'json' | 'raw';
  readonly keyFields?: readonly string[];
  /** 'key.fields-prefix': key columns are named with this prefix (the key's own fields lack it). */
  readonly keyFieldsPrefix?: string;
  /** 'value.fields-include' = 'EXCEPT_KEY': the value holds no key columns. */
  readonly valueFieldsInclude?: 'all' | 'except-key';
  /** A changelog source: 'upsert' (upsert-kafka: null value deletes the key) or 'debezium' (debezium-json). */
  readonly changelog?: 'upsert' | 'debezium';
  /** PRIMARY KEY (…) NOT ENFORCED columns. */
  readonly primaryKey?: readonly string[];
  /** 'json.timestamp-format.standard' (both forms are read either way; this is what sinks write). */
  readonly timestampFormat?: 'sql' | 'iso-8601';
  /**
   * 'avro': values are Avro binary with the schema derived from the columns (format is then 'json'-shaped rows);
   * 'avro-confluent': Confluent's wire format, the writer's schema from the schema registry (`registry`).
   */
  readonly valueFormat?: 'avro' | 'avro-confluent';
  readonly registry?: SchemaRegistryOptions;
}

/** Flink's 'avro-confluent.*' options: the schema registry (values may hold `${ENV}` references). */
export interface SchemaRegistryOptions {
  readonly url: string;
  /** The subject a sink registers its schema under (default `<topic>-value`). */
  readonly subject?: string;
  /** 'basic-auth.user-info' (`user:password`), when 'basic-auth.credentials-source' is USER_INFO. */
  readonly userInfo?: string;
  /** 'bearer-auth.token', when 'bearer-auth.credentials-source' is STATIC_TOKEN. */
  readonly bearerToken?: string;
  /** 'ssl.truststore.location': a PEM CA bundle for an https registry. */
  readonly caLocation?: string;
}

export interface SourceColumn {
  readonly name: string;
  readonly type: SqlType;
  readonly metadata: MetadataKey | null;
}

export interface SourceDef {
  readonly kind: 'source';
  readonly name: string;
  readonly columns: readonly SourceColumn[];
  readonly schema: Schema;
  readonly watermark: { readonly column: string; readonly index: number; readonly delayMs: number } | null;
  readonly options: KafkaSourceOptions;
  readonly sql: string;
}

/** A named query (CREATE VIEW), inlined where it is used. */
export interface ViewDef {
  readonly kind: 'view';
  readonly name: string;
  readonly sql: string;
  /** The SELECT text as the user wrote it. */
  readonly query: string;
  readonly schema: Schema;
}

export interface SinkOptions {
  readonly connector: 'kafka';
  readonly topic: string;
  readonly bootstrapServers: string | null;
  /** 'debezium-json': each change as a Debezium event (upserts as op 'c' with `after`, deletes as op 'd' with `before`). */
  readonly format: 'json' | 'debezium-json';
  readonly deliveryGuarantee: 'exactly-once' | 'at-least-once';
  // Production Kafka (left out at their defaults):
  /** connector 'upsert-kafka': keyed by the query's key, deletes written as tombstones. */
  readonly upsert?: boolean;
  readonly properties?: Readonly<Record<string, string>>;
  /** 'key.format' + 'key.fields': the record key written from these output columns. */
  readonly keyFormat?: 'json' | 'raw';
  readonly keyFields?: readonly string[];
  readonly valueFieldsInclude?: 'all' | 'except-key';
  /** 'sink.transactional-id-prefix' (default 'streamsql'). */
  readonly transactionalIdPrefix?: string;
  /** 'sink.partitioner': 'fixed' writes partition 0, 'round-robin' spreads records; default: by key. */
  readonly partitioner?: 'fixed' | 'round-robin';
  readonly timestampFormat?: 'sql' | 'iso-8601';
  /** 'avro' (schema from the columns) or 'avro-confluent' (registered under `registry.subject`, Confluent wire format). */
  readonly valueFormat?: 'avro' | 'avro-confluent';
  readonly registry?: SchemaRegistryOptions;
}

export interface QueryOptions {
  readonly checkpointIntervalMs: number;
  readonly lateTopic: string | null;
  /**
   * 'retention.rows': rows a view keeps. Append-only views keep the newest (default 10,000); keyed views,
   * when set, drop the rows updated longest ago (old windows first). null: the default.
   */
  readonly retentionRows: number | null;
  /** 'state.ttl': a regular join's rows not inserted or matched for this long are evicted (absent: kept). */
  readonly stateTtlMs?: number;
}

export interface MaterializedViewDef {
  readonly kind: 'materialized_view';
  readonly name: string;
  readonly sql: string;
  /** The output schema: visible columns first, then hidden key columns the user did not select. */
  readonly schema: Schema;
  readonly visibleCount: number;
  /** Columns forming the upsert key; null for an append-only view. */
  readonly keyColumns: readonly number[] | null;
  readonly emit: EmitMode;
  readonly options: QueryOptions;
  readonly dependsOn: readonly string[];
}

export interface SinkDef {
  readonly kind: 'sink';
  readonly name: string;
  readonly sql: string;
  readonly schema: Schema;
  readonly keyColumns: readonly number[] | null;
  readonly emit: EmitMode;
  readonly sink: SinkOptions;
  readonly options: QueryOptions;
  readonly dependsOn: readonly string[];
}

export type CatalogObject = SourceDef | ViewDef | MaterializedViewDef | SinkDef;

/** Name → object, looked up case-insensitively (names keep the spelling they were created with). */
export interface Catalog {
  get(name: string): CatalogObject | undefined;
  all(): CatalogObject[];
}

export function createCatalog(objects: Iterable<CatalogObject> = []): Catalog & {
  put(o: CatalogObject): void;
  remove(name: string): void;
  clone(): Catalog & { put(o: CatalogObject): void; remove(name: string): void };
} {
  const m = new Map<string, CatalogObject>();
  for (const o of objects) m.set(o.name.toLowerCase(), o);
  const self = {
    get: (name: string) => m.get(name.toLowerCase()),
    all: () => [...m.values()],
    put: (o: CatalogObject) => { m.set(o.name.toLowerCase(), o); },
    remove: (name: string) => { m.delete(name.toLowerCase()); },
    clone: () => createCatalog(m.values()),
  };
  return self;
}

export function kindLabel(o: CatalogObject): string {
  switch (o.kind) {
    case 'source': return 'source';
    case 'view': return 'view';
    case 'materialized_view': return 'materialized view';
    case 'sink': return 'sink';
  }
}
