/**
 * Small admin and producer calls for tools, benchmarks and tests: create a topic, produce messages to
 * chosen partitions, read a consumer group's committed offsets. They keep kafkajs behind this folder.
 */
import type { Admin } from 'kafkajs';
import { createKafka } from './client.ts';
import { securityFor } from './security.ts';

export interface ProduceMessage {
  readonly key?: string | null;
  readonly value: string | Buffer | null;
  readonly partition?: number;
  /** Kafka record timestamp, epoch ms. */
  readonly timestamp?: number;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Creates a topic unless it exists, and waits until every partition has a leader that answers for it:
 * on a freshly started broker, metadata can lag creation ("does not host this topic-partition").
 */
/** Raises a topic's partition count to `total` (Kafka only adds partitions). */
export async function addPartitions(brokers: readonly string[], topic: string, total: number): Promise<void> {
  const admin = createKafka(brokers, 'streamsql-admin').admin();
  await admin.connect();
  try {
    await admin.createPartitions({ topicPartitions: [{ topic, count: total }] });
    // Until the new partitions have leaders, offset lookups fail or list the old ones.
    for (let attempt = 0; ; attempt++) {
      const n = await admin.fetchTopicOffsets(topic).then((o) => o.length, () => 0);
      if (n >= total) return;
      if (attempt > 100) throw new Error(`${topic} did not reach ${total} partitions`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

export async function createTopic(brokers: readonly string[], topic: string, partitions = 1): Promise<void> {
  const admin = createKafka(brokers, 'streamsql-admin').admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true }).catch((e: Error) => {
        // kafkajs' wait for leaders gives up on UNKNOWN_TOPIC_OR_PARTITION while the new topic's metadata
        // spreads (seen while other clients poll metadata); the loop below waits for the leaders instead.
        if (!/already exists|does not host this topic-partition/i.test(e.message)) throw e;
      });
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const offs = await admin.fetchTopicOffsets(topic);
        if (offs.length >= partitions) return;
      } catch (e) {
        if (attempt >= 50) throw e;
      }
      if (attempt >= 50) throw new Error(`topic ${topic} has no leaders after creation`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

export async function produce(brokers: readonly string[], topic: string, messages: readonly ProduceMessage[], opts: { compression?: 'none' | 'gzip' } = {}): Promise<void> {
  const producer = createKafka(brokers, 'streamsql-producer').producer({ allowAutoTopicCreation: true });
  await producer.connect();
  try {
    const { CompressionTypes } = await import('kafkajs');
    for (let i = 0; i < messages.length; i += 10_000) {
      await producer.send({
        topic,
        compression: opts.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        messages: messages.slice(i, i + 10_000).map((m) => ({
          key: m.key ?? null, value: m.value, partition: m.partition,
          timestamp: m.timestamp === undefined ? undefined : String(m.timestamp),
          ...(m.headers ? { headers: { ...m.headers } } : {}),
        })),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Committed offsets of a consumer group: what `kafka-consumer-groups --describe` shows. */
export async function groupOffsets(brokers: readonly string[], groupId: string, topic: string): Promise<{ partition: number; offset: number }[]> {
  const admin = createKafka(brokers, 'streamsql-admin').admin();
  await admin.connect();
  try {
    const res = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (res[0]?.partitions ?? []).map((p) => ({ partition: p.partition, offset: Number(p.offset) }));
  } finally {
    await admin.disconnect();
  }
}

/** Reads every committed record of a topic (read_committed), from the beginning until `idleMs` passes with nothing new. */
export interface TopicRecord { key: string | null; value: string | null; partition: number; offset: number; headers: Record<string, string> }

export async function readTopic(brokers: readonly string[], topic: string, opts: { idleMs?: number; maxMs?: number } = {}): Promise<TopicRecord[]> {
  const kafka = createKafka(brokers, 'streamsql-reader');
  const consumer = kafka.consumer({ groupId: `streamsql-reader-${Date.now()}-${Math.random().toString(36).slice(2)}`, readUncommitted: false, maxWaitTimeInMs: 100 });
  const out: TopicRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let last = Date.now();
    const start = Date.now();
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = Array.isArray(v) ? v.map(String).join(',') : v.toString('utf8');
        out.push({ key: message.key?.toString('utf8') ?? null, value: message.value?.toString('utf8') ?? null, partition, offset: Number(message.offset), headers });
        last = Date.now();
      },
    });
    const idle = opts.idleMs ?? 2000;
    while (Date.now() - last < idle && Date.now() - start < (opts.maxMs ?? 30_000)) await new Promise((r) => setTimeout(r, 100));
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** Deletes a consumer group (transient push queries clean up after themselves); false when it cannot. */
export async function deleteGroup(brokers: readonly string[], groupId: string): Promise<boolean> {
  const admin = createKafka(brokers, 'streamsql-admin').admin();
  await admin.connect();
  try {
    await admin.deleteGroups([groupId]);
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect();
  }
}

/** Consumer groups on the cluster (tools and tests). */
export async function listGroups(brokers: readonly string[]): Promise<string[]> {
  const admin = createKafka(brokers, 'streamsql-admin').admin();
  await admin.connect();
  try {
    return (await admin.listGroups()).groups.map((g) => g.groupId);
  } finally {
    await admin.disconnect();
  }
}

/** Deletes a partition's records below `before` (what retention does), so tests can lose data on purpose. */
export async function deleteRecords(brokers: readonly string[], topic: string, partition: number, before: number): Promise<void> {
  const admin = createKafka(brokers, 'streamsql-admin').admin();
  await admin.connect();
  try {
    await admin.fetchTopicMetadata({ topics: [topic] });
    await admin.deleteTopicRecords({ topic, partitions: [{ partition, offset: String(before) }] });
  } finally {
    await admin.disconnect();
  }
}

/** Sends `messages` in one transaction and commits it, or aborts it when `abort` (the records stay in the log, marked aborted). */
export async function produceTransaction(brokers: readonly string[], topic: string, messages: readonly ProduceMessage[], abort: boolean): Promise<void> {
  const producer = createKafka(brokers, 'streamsql-txn-producer').producer({ transactionalId: `streamsql-test-txn-${topic}`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const txn = await producer.transaction();
    await txn.send({ topic, messages: messages.map((m) => ({ key: m.key ?? null, value: m.value, partition: m.partition })) });
    if (abort) await txn.abort(); else await txn.commit();
  } finally {
    await producer.disconnect();
  }
}

/** Partition leaders and broker addresses, as the native reader wants them, from a connected admin client. */
export async function metadataOf(admin: Admin, topics: readonly string[]): Promise<{ leaders: Map<string, number>; brokers: Map<number, { host: string; port: number }> }> {
  const [cluster, meta] = await Promise.all([admin.describeCluster(), admin.fetchTopicMetadata({ topics: [...topics] })]);
  const leaders = new Map<string, number>();
  for (const t of meta.topics) for (const p of t.partitions) leaders.set(`${t.name}:${p.partitionId}`, p.leader);
  return { leaders, brokers: new Map(cluster.brokers.map((b) => [b.nodeId, { host: b.host, port: b.port }])) };
}

/** {@link metadataOf} with a short-lived admin client (tools, tests, benchmarks). */
export async function clusterMetadata(brokers: readonly string[], topics: readonly string[]): Promise<{ leaders: Map<string, number>; brokers: Map<number, { host: string; port: number }> }> {
  const admin = createKafka(brokers, 'streamsql-admin').admin();
  await admin.connect();
  try {
    return await metadataOf(admin, topics);
  } finally {
    await admin.disconnect();
  }
}

/** Kafka's default `message.max.bytes` (broker) and so `max.message.bytes` (topic), used when the broker cannot be asked. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/**
 * The largest record batch the broker accepts for `topic`: the topic's `max.message.bytes`, which
 * describeConfigs reports with the broker's `message.max.bytes` as its default. A produce request
 * whose batch for a partition is larger is refused with MESSAGE_TOO_LARGE, never retried by kafkajs.
 */
export async function topicMaxMessageBytes(admin: Admin, topic: string): Promise<number> {
  const res = await admin.describeConfigs({ resources: [{ type: 2 /* ConfigResourceTypes.TOPIC */, name: topic, configNames: ['max.message.bytes'] }], includeSynonyms: false });
  const v = Number(res.resources[0]?.configEntries.find((c) => c.configName === 'max.message.bytes')?.configValue);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_MAX_MESSAGE_BYTES;
}

/** Creates a topic with topic-level configs (tests: a small `max.message.bytes`, an unmeetable `min.insync.replicas`). */
export async function createTopicWithConfig(brokers: readonly string[], topic: string, configs: Readonly<Record<string, string>>, partitions = 1): Promise<void> {
  const admin = createKafka(brokers, 'streamsql-admin').admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) }],
      waitForLeaders: true,
    }).catch((e: Error) => { if (!/already exists|does not host this topic-partition/i.test(e.message)) throw e; });
    for (let attempt = 0; ; attempt++) {
      const n = await admin.fetchTopicOffsets(topic).then((o) => o.length, () => 0);
      if (n >= partitions) return;
      if (attempt >= 50) throw new Error(`topic ${topic} has no leaders after creation`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

/** How long a repartition topic keeps records: downstream tasks read them within seconds; a day covers a long outage. */
export const REPARTITION_RETENTION_MS = 24 * 60 * 60 * 1000;

/**
 * Creates a repartition topic (planner/exchange.ts, connectors/kafka/exchange.ts) unless it exists:
 * `partitions` partitions, `cleanup.policy=delete` (rows are moved, not kept by key) and a bounded
 * `retention.ms`, up to 3 replicas. An existing topic with another partition count is refused: rows would land in
 * other partitions than the downstream tasks read (the fix: drop the query and its topic).
 */
export async function ensureRepartitionTopic(brokers: readonly string[], topic: string, partitions: number, opts: { retentionMs?: number; compact?: boolean } = {}): Promise<void> {
  const admin = createKafka(brokers, 'streamsql-admin').admin();
  await admin.connect();
  try {
    const exists = (await admin.listTopics()).includes(topic);
    if (exists) {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const n = meta.topics[0]?.partitions.length ?? 0;
      if (n !== partitions) throw new Error(`repartition topic ${topic} has ${n} partitions; this query needs ${partitions}: delete the topic (kafka-topics --delete --topic ${topic}) or recreate the query`);
      return;
    }
    // Up to 3 replicas (as the command topic): a repartition topic holds rows no source has any more.
    const replicas = Math.min(3, (await admin.describeCluster()).brokers.length);
    await admin.createTopics({
      topics: [{
        topic, numPartitions: partitions, replicationFactor: replicas,
        configEntries: [
          // `compact` (a view's changes topic, changes.ts): the newest record per key, segments rolled hourly so the cleaner gets to them.
          ...(opts.compact ? [{ name: 'cleanup.policy', value: 'compact' }, { name: 'segment.ms', value: '3600000' }] : [{ name: 'cleanup.policy', value: 'delete' }]),
          { name: 'retention.ms', value: String(opts.retentionMs ?? REPARTITION_RETENTION_MS) },
          ...(replicas >= 3 ? [{ name: 'min.insync.replicas', value: '2' }] : []),
        ],
      }],
      waitForLeaders: true,
    }).catch((e: Error) => { if (!/already exists|does not host this topic-partition/i.test(e.message)) throw e; });
    for (let attempt = 0; ; attempt++) {
      const n = await admin.fetchTopicOffsets(topic).then((o) => o.length, () => 0);
      if (n >= partitions) return;
      if (attempt >= 50) throw new Error(`repartition topic ${topic} has no leaders after creation`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

/** A topic's configuration entries (tests check what was created). */
export async function topicConfigs(brokers: readonly string[], topic: string, names: readonly string[]): Promise<Record<string, string>> {
  const admin = createKafka(brokers, 'streamsql-admin').admin();
  await admin.connect();
  try {
    const res = await admin.describeConfigs({ resources: [{ type: 2 /* TOPIC */, name: topic, configNames: [...names] }], includeSynonyms: false });
    return Object.fromEntries((res.resources[0]?.configEntries ?? []).map((c) => [c.configName, c.configValue]));
  } finally {
    await admin.disconnect();
  }
}

/** Partition counts of the topics that exist (absent from the map: no such topic yet). */
export async function topicPartitionCounts(brokers: readonly string[], topics: readonly string[]): Promise<Map<string, number>> {
  const admin = createKafka(brokers, 'streamsql-admin').admin();
  await admin.connect();
  try {
    const have = new Set(await admin.listTopics());
    const wanted = [...new Set(topics)].filter((t) => have.has(t));
    if (!wanted.length) return new Map();
    const md = await admin.fetchTopicMetadata({ topics: wanted });
    return new Map(md.topics.map((t) => [t.name, t.partitions.length]));
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Deletes the topics that exist (a dropped query's internal topics); the others are left alone. */
export async function deleteTopicsIfExist(brokers: readonly string[], topics: readonly string[], properties?: Readonly<Record<string, string>>): Promise<string[]> {
  const admin = createKafka(brokers, 'streamsql-admin', undefined, {}, securityFor(properties)).admin();
  await admin.connect();
  try {
    const have = new Set(await admin.listTopics());
    const gone = topics.filter((t) => have.has(t));
    if (gone.length) await admin.deleteTopics({ topics: gone, timeout: 10_000 });
    return gone;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The cluster's topic names. */
export async function listTopicNames(brokers: readonly string[]): Promise<string[]> {
  const admin = createKafka(brokers, 'streamsql-admin').admin();
  await admin.connect();
  try { return await admin.listTopics(); } finally { await admin.disconnect().catch(() => undefined); }
}
