/**
 * Kafka sink. Exactly-once: one transaction per epoch carries the epoch's records and the source
 * offsets (sent to the query's consumer group inside it), so a read_committed consumer sees every
 * result once across crashes. At-least-once: records are sent and flushed at the epoch's end.
 */
import type { Kafka, Producer } from 'kafkajs';
import type { SinkRecord, SinkWriter, SourcePosition } from '../source.ts';
import { createKafka, inTransaction, type Log } from './client.ts';
import { securityFor } from './security.ts';

export interface KafkaSinkConfig {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly exactlyOnce: boolean;
  /** Stable per query, so a restarted query fences its previous incarnation's producer. */
  readonly transactionalId: string;
  readonly groupId: string;
  readonly log?: Log;
  /** The sink's own Kafka client properties (`properties.*`: security) over the service's. */
  readonly properties?: Readonly<Record<string, string>>;
  /** 'sink.partitioner': 'fixed' → partition 0, 'round-robin' → spread; default: by key. */
  readonly partitioner?: 'fixed' | 'round-robin';
}

/** Offset metadata written with the epoch's offsets inside its transaction. */
export const epochMetadata = (epoch: number) => `streamsql-epoch:${epoch}`;
const parseEpoch = (m: string | null | undefined): number | null => {
  const x = /^streamsql-epoch:(\d+)$/.exec(m ?? '');
  return x ? Number(x[1]) : null;
};

export function createKafkaSink(cfg: KafkaSinkConfig): SinkWriter {
  // Made at first use, so an unusable security setting is a failed (retried) epoch, not a failed creation.
  let kafkaClient: Kafka | null = null;
  const client = (): Kafka => {
    if (!kafkaClient) {
      const sec = securityFor(cfg.properties);
      kafkaClient = createKafka(cfg.brokers, sec.clientId ?? `streamsql-sink-${cfg.transactionalId}`, cfg.log, {}, sec);
    }
    return kafkaClient;
  };
  // 'round-robin': every record to the next partition, keyed or not (the default hashes keys).
  let rr = 0;
  const partitioner = cfg.partitioner === 'round-robin' ? { createPartitioner: () => ({ partitionMetadata }: { partitionMetadata: unknown[] }) => rr++ % partitionMetadata.length } : {};
  let producer: Producer | null = null;
  let buffered: SinkRecord[] = [];
  let ensured = false;
  /** The epoch being committed: its records are frozen at the first attempt. */
  let pending: { epoch: number; records: SinkRecord[]; uncertain: boolean } | null = null;

  const connect = async (): Promise<Producer> => {
    if (producer) return producer;
    if (!ensured) {
      const admin = client().admin();
      await admin.connect();
      try {
        if (!(await admin.listTopics()).includes(cfg.topic)) await admin.createTopics({ topics: [{ topic: cfg.topic, numPartitions: 1 }], waitForLeaders: true }).catch(() => undefined);
      } finally { await admin.disconnect().catch(() => undefined); }
      ensured = true;
    }
    // Same transactionalId as the previous incarnation: initProducerId bumps the producer epoch,
    // which fences the old producer and aborts its open transaction.
    const kafka = client();
    const p = cfg.exactlyOnce
      ? kafka.producer({ transactionalId: cfg.transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 60_000, ...partitioner })
      : kafka.producer({ idempotent: true, maxInFlightRequests: 1, ...partitioner });
    try {
      await p.connect();
      // kafkajs sends the transactional InitProducerId at the first transaction, not at connect:
      // begin (and drop) an empty one now, so the fencing happens here.
      if (cfg.exactlyOnce) await (await p.transaction()).abort();
    } catch (e) { await p.disconnect().catch(() => undefined); throw e; }
    producer = p;
    return p;
  };

  async function committedEpoch(topics: readonly string[]): Promise<number | null> {
    const admin = client().admin();
    await admin.connect();
    try {
      const res = await admin.fetchOffsets({ groupId: cfg.groupId, topics: [...topics] });
      let best: number | null = null;
      for (const t of res) for (const part of t.partitions) {
        const e = parseEpoch((part as { metadata?: string | null }).metadata);
        if (e !== null && (best === null || e > best)) best = e;
      }
      return best;
    } finally { await admin.disconnect().catch(() => undefined); }
  }

  return {
    exactlyOnce: cfg.exactlyOnce,
    write(records) { for (const r of records) buffered.push(r); },
    async connect() { await connect(); },
    committedEpoch,
    async commitEpoch(epoch, positions: readonly SourcePosition[]) {
      if (!pending || pending.epoch !== epoch) { pending = { epoch, records: buffered, uncertain: false }; buffered = []; }
      const cur = pending;
      const messages = cur.records.map((r) => (cfg.partitioner === 'fixed' ? { key: r.key, value: r.value, partition: 0 } : { key: r.key, value: r.value }));
      try {
        const p = await connect();
        if (cfg.exactlyOnce) {
          const byTopic = new Map<string, { partition: number; offset: string; metadata: string }[]>();
          for (const pos of positions) {
            const l = byTopic.get(pos.topic) ?? [];
            l.push({ partition: pos.partition, offset: String(pos.offset), metadata: epochMetadata(epoch) });
            byTopic.set(pos.topic, l);
          }
          // A failed attempt may have committed anyway (the answer to EndTxn was lost): the epoch tag
          // in the group's offsets tells. The new producer's initProducerId has completed or aborted it.
          if (cur.uncertain && byTopic.size && (await committedEpoch([...byTopic.keys()])) === epoch) {
            cfg.log?.('warn', `sink ${cfg.topic}: epoch ${epoch} had committed before its failure was reported; not sending it again`);
            pending = null;
            return;
          }
          try {
            await inTransaction(p, async (txn) => {
              if (messages.length) await txn.send({ topic: cfg.topic, messages });
              if (byTopic.size) await txn.sendOffsets({ consumerGroupId: cfg.groupId, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) });
            });
          } catch (e) {
            cur.uncertain = true;
            throw e;
          }
        } else if (messages.length) {
          await p.send({ topic: cfg.topic, messages, acks: -1 });
        }
        pending = null;
      } catch (e) {
        // A failed producer is rebuilt on the next attempt; the epoch's records stay pending.
        await producer?.disconnect().catch(() => undefined);
        producer = null;
        throw e;
      }
    },
    async abortEpoch() { buffered = []; pending = null; },
    async close() { await producer?.disconnect().catch(() => undefined); producer = null; },
  };
}

/** A plain producer for side outputs (late rows, dead letters) and the demo generator. */
export function createSideProducer(brokers: readonly string[], clientId: string, log?: Log, properties?: Readonly<Record<string, string>>) {
  let kafkaClient: Kafka | null = null;
  let producer: Producer | null = null;
  const ready = new Set<string>();
  return {
    async send(topic: string, messages: { key: string | null; value: string | Buffer; timestamp?: number }[]): Promise<void> {
      const kafka = kafkaClient ??= createKafka(brokers, clientId, log, {}, securityFor(properties));
      if (!producer) {
        const p = kafka.producer({ allowAutoTopicCreation: true });
        try { await p.connect(); } catch (e) { await p.disconnect().catch(() => undefined); throw e; }
        producer = p;
      }
      if (!ready.has(topic)) {
        const admin = kafka.admin();
        try { await admin.connect(); } catch (e) { await producer.disconnect().catch(() => undefined); producer = null; throw e; }
        try { if (!(await admin.listTopics()).includes(topic)) await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }).catch(() => undefined); }
        finally { await admin.disconnect(); }
        ready.add(topic);
      }
      try {
        await producer.send({ topic, messages: messages.map((m) => ({ key: m.key, value: m.value, timestamp: m.timestamp === undefined ? undefined : String(m.timestamp) })) });
      } catch (e) {
        // Rebuilt on the next call (the broker may have been away).
        await producer.disconnect().catch(() => undefined);
        producer = null;
        throw e;
      }
    },
    async close() { await producer?.disconnect().catch(() => undefined); producer = null; },
  };
}
