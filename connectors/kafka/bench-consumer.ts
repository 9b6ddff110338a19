/**
 * kafkajs clients for the benchmark harness (bench/run.ts): a fast bulk loader and a bare consumer
 * that reads a topic to its end with the engine's own consumer settings, optionally handing each
 * fetch to a callback (to measure decoding on top of the client). Kept here because kafkajs is
 * imported only under connectors/kafka.
 */
import './kafkajs-patches.ts'; // before kafkajs: its read_committed filter, corrected
import { CompressionTypes, type Producer } from 'kafkajs';
import type { RawMessages } from '../formats/decode.ts';
import { createKafka } from './client.ts';

export interface BenchProducer {
  /** Sends one batch to one partition (acks = leader, like a load tool). */
  send(topic: string, partition: number, messages: readonly { value: Buffer; timestamp?: number; key?: Buffer | null }[]): Promise<void>;
  close(): Promise<void>;
}

/** `count` producers (connections) sending round-robin, so several batches travel at once. */
export async function createBenchProducer(brokers: readonly string[], opts: { compression?: 'none' | 'gzip'; connections?: number } = {}): Promise<BenchProducer> {
  const kafka = createKafka(brokers, 'streamsql-bench-producer');
  const producers: Producer[] = [];
  for (let i = 0; i < (opts.connections ?? 2); i++) {
    const p = kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: 8 });
    await p.connect();
    producers.push(p);
  }
  const compression = opts.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
  let rr = 0;
  return {
    async send(topic, partition, messages) {
      const p = producers[rr++ % producers.length]!;
      await p.send({
        topic, acks: 1, compression,
        messages: messages.map((m) => ({ partition, value: m.value, key: m.key ?? null, timestamp: m.timestamp === undefined ? undefined : String(m.timestamp) })),
      });
    },
    async close() { await Promise.all(producers.map((p) => p.disconnect())); },
  };
}

export interface ConsumeResult {
  readonly messages: number;
  readonly bytes: number;
  /** From the consumer's start (connect, join) to the last message. */
  readonly ms: number;
  /** From the first fetched message to the last. */
  readonly steadyMs: number;
}

/**
 * Reads `topic` from the beginning until `total` messages have arrived, with the engine source's
 * consumer settings (connectors/kafka/source.ts). `onBatch` sees each fetch as RawMessages.
 */
export async function consumeAll(brokers: readonly string[], topic: string, total: number, opts: {
  onBatch?: (raw: RawMessages) => Promise<void> | void;
  partitionsConsumedConcurrently?: number;
  timeoutMs?: number;
} = {}): Promise<ConsumeResult> {
  const kafka = createKafka(brokers, 'streamsql-bench-consumer');
  const consumer = kafka.consumer({
    groupId: `streamsql-bench-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    sessionTimeout: 6_000, heartbeatInterval: 1000, rebalanceTimeout: 10_000, maxWaitTimeInMs: 100, readUncommitted: false,
  });
  const t0 = performance.now();
  let first = 0; let messages = 0; let bytes = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => { done = r; });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 1,
      eachBatch: async ({ batch }) => {
        if (first === 0) first = performance.now();
        const ms = batch.messages;
        if (opts.onBatch) {
          const n = ms.length;
          const values = new Array<Buffer | null>(n); const keys = new Array<Buffer | null>(n);
          const offsets = new Array<number>(n); const timestamps = new Array<number>(n);
          for (let i = 0; i < n; i++) {
            const m = ms[i]!;
            values[i] = m.value; keys[i] = m.key; offsets[i] = Number(m.offset); timestamps[i] = Number(m.timestamp);
          }
          await opts.onBatch({ topic: batch.topic, partition: batch.partition, values, keys, offsets, timestamps });
        }
        for (const m of ms) bytes += m.value?.length ?? 0;
        messages += ms.length;
        if (messages >= total) done();
      },
    });
    const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`consumed ${messages}/${total} before the timeout`)), opts.timeoutMs ?? 600_000).unref());
    await Promise.race([finished, timeout]);
    const end = performance.now();
    return { messages, bytes, ms: end - t0, steadyMs: end - first };
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}
