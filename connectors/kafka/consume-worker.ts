/**
 * A consume-and-decode worker: one kafkajs consumer per thread, reading the partitions
 * p % of === index (a static split: one group per worker, other partitions paused at their first
 * fetch, so no rebalance moves a partition between workers mid-run), decoding each fetch with the
 * flat-JSON scanner (reference decoder otherwise) and posting the columns back as transferred
 * buffers. At most `credit` batches are unacknowledged by the main thread at a time (backpressure).
 * Loaded through consume-worker-boot.mjs (tsx registered in the thread).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createDecoder } from '../formats/decode.ts';
import { createFastJsonDecoder } from '../formats/fast-json.ts';
import type { SourceDef } from '../../planner/catalog.ts';
import { createKafka } from './client.ts';
import { decodedToWire } from './decode-wire.ts';

export interface ConsumeWorkerData {
  readonly brokers: readonly string[];
  readonly topics: readonly string[];
  readonly groupId: string;
  readonly def: SourceDef;
  readonly credit: number;
  /** This worker reads the partitions p with p % of === index. */
  readonly index: number;
  readonly of: number;
}

/** Messages a consume worker posts. */
export type FromConsumeWorker =
  | { readonly kind: 'batch'; readonly topic: string; readonly partition: number; readonly firstOffset: number; readonly nextOffset: number; readonly messages: number; readonly wire: import('./decode-wire.ts').WireDecoded }
  | { readonly kind: 'ready' }
  | { readonly kind: 'error'; readonly message: string };

const port = parentPort;
if (port) {
  const cfg = workerData as ConsumeWorkerData;
  const decode = createFastJsonDecoder(cfg.def)?.decode ?? createDecoder(cfg.def);
  let unacked = 0;
  let wake: (() => void) | null = null;
  const consumer = createKafka(cfg.brokers, `streamsql-consume-worker`).consumer({
    groupId: `${cfg.groupId}-w${cfg.index}`, sessionTimeout: 6_000, heartbeatInterval: 1000, rebalanceTimeout: 10_000, maxWaitTimeInMs: 100, readUncommitted: false,
  });
  port.on('message', (m: { kind: 'ack' } | { kind: 'stop' }) => {
    if (m.kind === 'ack') { unacked--; wake?.(); wake = null; }
    else void consumer.disconnect().finally(() => process.exit(0));
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [...cfg.topics], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat, pause }) => {
        if (batch.partition % cfg.of !== cfg.index) { pause(); return; }
        const ms = batch.messages;
        const n = ms.length;
        if (n === 0) return;
        const values = new Array<Buffer | null>(n); const keys = new Array<Buffer | null>(n);
        const offsets = new Array<number>(n); const timestamps = new Array<number>(n);
        for (let i = 0; i < n; i++) {
          const m = ms[i]!;
          values[i] = m.value; keys[i] = m.key; offsets[i] = Number(m.offset); timestamps[i] = Number(m.timestamp);
        }
        const d = decode({ topic: batch.topic, partition: batch.partition, values, keys, offsets, timestamps });
        const { wire, transfer } = decodedToWire(d);
        unacked++;
        port.postMessage({
          kind: 'batch', topic: batch.topic, partition: batch.partition, firstOffset: offsets[0]!, nextOffset: Number(batch.lastOffset()) + 1, messages: n, wire,
        } satisfies FromConsumeWorker, transfer);
        while (unacked >= cfg.credit) { await new Promise<void>((r) => { wake = r; }); await heartbeat(); }
      },
    });
    port.postMessage({ kind: 'ready' } satisfies FromConsumeWorker);
  } catch (e) {
    port.postMessage({ kind: 'error', message: (e as Error).message } satisfies FromConsumeWorker);
  }
}
