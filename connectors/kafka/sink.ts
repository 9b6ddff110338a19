/**
 * Kafka sink. Exactly-once: one transaction per epoch carries the epoch's records and the source
 * offsets (sent to the query's consumer group inside it), so a read_committed consumer sees every
 * result once across crashes. At-least-once: records are sent and flushed at the epoch's end.
 */
import type { Kafka, Producer } from 'kafkajs';
import type { SinkRecord, SinkWriter, SourcePosition } from '../source.ts';
import { createKafka, type Log } from './client.ts';

export interface KafkaSinkConfig {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly exactlyOnce: boolean;
  /** Stable per query, so a restarted query fences its previous incarnation's producer. */
  readonly transactionalId: string;
  readonly groupId: string;
  readonly log?: Log;
}

export function createKafkaSink(cfg: KafkaSinkConfig): SinkWriter {
  const kafka: Kafka = createKafka(cfg.brokers, `streamsql-sink-${cfg.transactionalId}`, cfg.log);
  let producer: Producer | null = null;
  let buffered: SinkRecord[] = [];
  let ensured = false;

  const connect = async (): Promise<Producer> => {
    if (producer) return producer;
    if (!ensured) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        if (!(await admin.listTopics()).includes(cfg.topic)) await admin.createTopics({ topics: [{ topic: cfg.topic, numPartitions: 1 }], waitForLeaders: true }).catch(() => undefined);
      } finally { await admin.disconnect(); }
      ensured = true;
    }
    const p = cfg.exactlyOnce
      ? kafka.producer({ transactionalId: cfg.transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 60_000 })
      : kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    producer = p;
    return p;
  };

  return {
    exactlyOnce: cfg.exactlyOnce,
    write(records) { for (const r of records) buffered.push(r); },
    async commitEpoch(_epoch, positions: readonly SourcePosition[]) {
      const records = buffered;
      const p = await connect();
      const messages = records.map((r) => ({ key: r.key, value: r.value }));
      try {
        if (cfg.exactlyOnce) {
          const txn = await p.transaction();
          try {
            if (messages.length) await txn.send({ topic: cfg.topic, messages });
            const byTopic = new Map<string, { partition: number; offset: string }[]>();
            for (const pos of positions) {
              const l = byTopic.get(pos.topic) ?? [];
              l.push({ partition: pos.partition, offset: String(pos.offset) });
              byTopic.set(pos.topic, l);
            }
            if (byTopic.size) await txn.sendOffsets({ consumerGroupId: cfg.groupId, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) });
            await txn.commit();
          } catch (e) {
            await txn.abort().catch(() => undefined);
            throw e;
          }
        } else if (messages.length) {
          await p.send({ topic: cfg.topic, messages, acks: -1 });
        }
        buffered = buffered.slice(records.length);
      } catch (e) {
        // A failed producer is rebuilt on the next attempt; the epoch's records stay buffered.
        await producer?.disconnect().catch(() => undefined);
        producer = null;
        throw e;
      }
    },
    async abortEpoch() { buffered = []; },
    async close() { await producer?.disconnect().catch(() => undefined); producer = null; },
  };
}

/** A plain producer for side outputs (late rows, dead letters) and the demo generator. */
export function createSideProducer(brokers: readonly string[], clientId: string, log?: Log) {
  const kafka = createKafka(brokers, clientId, log);
  let producer: Producer | null = null;
  const ready = new Set<string>();
  return {
    async send(topic: string, messages: { key: string | null; value: string | Buffer; timestamp?: number }[]): Promise<void> {
      if (!producer) { producer = kafka.producer({ allowAutoTopicCreation: true }); await producer.connect(); }
      if (!ready.has(topic)) {
        const admin = kafka.admin(); await admin.connect();
        try { if (!(await admin.listTopics()).includes(topic)) await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }).catch(() => undefined); }
        finally { await admin.disconnect(); }
        ready.add(topic);
      }
      await producer.send({ topic, messages: messages.map((m) => ({ key: m.key, value: m.value, timestamp: m.timestamp === undefined ? undefined : String(m.timestamp) })) });
    },
    async close() { await producer?.disconnect().catch(() => undefined); producer = null; },
  };
}
