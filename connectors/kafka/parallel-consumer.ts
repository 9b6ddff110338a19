/**
 * Consumption and decoding on every core: N worker threads, each a kafkajs consumer for a static
 * share of the partitions (p % N), that decodes its fetches into Arrow columns and
 * transfers them here. The calling thread only rebuilds batches (no copy) and runs the pipeline, so
 * the client's per-process ceiling no longer bounds the engine. Per partition, batches arrive in
 * offset order (one consumer owns a partition; a worker posts in fetch order).
 *
 * A standalone building block for the query runner (see bench/README.md, "Integration"): offsets
 * are reported per batch (`nextOffset`), so the runner can keep tracking positions itself.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { arrowSchema } from '../../executor/arrow.ts';
import type { SourceDef } from '../../planner/catalog.ts';
import type { Decoded } from '../formats/decode.ts';
import { wireToDecoded } from './decode-wire.ts';
import type { ConsumeWorkerData, FromConsumeWorker } from './consume-worker.ts';

export interface ParallelBatch {
  readonly topic: string;
  readonly partition: number;
  readonly firstOffset: number;
  /** The position after this batch (what a checkpoint records). */
  readonly nextOffset: number;
  readonly messages: number;
  readonly decoded: Decoded;
}

export interface ParallelConsumerConfig {
  readonly brokers: readonly string[];
  readonly def: SourceDef;
  readonly groupId: string;
  readonly workers?: number;
  /** Unacknowledged batches per worker before it pauses fetching; default 4. */
  readonly credit?: number;
  /** Called in arrival order; the worker may fetch on when the returned promise settles. */
  readonly onBatch: (b: ParallelBatch) => void | Promise<void>;
  readonly onError?: (e: Error) => void;
}

export interface ParallelConsumer {
  readonly workers: number;
  /** Resolves once every worker's consumer runs. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createParallelConsumer(cfg: ParallelConsumerConfig): ParallelConsumer {
  const count = Math.max(1, cfg.workers ?? availableParallelism());
  const schema = arrowSchema(cfg.def.schema);
  const boot = new URL('./consume-worker-boot.mjs', import.meta.url);
  const threads: Worker[] = [];
  let stopped = false;
  return {
    workers: count,
    async start() {
      const ready: Promise<void>[] = [];
      for (let i = 0; i < count; i++) {
        const data: ConsumeWorkerData = { brokers: cfg.brokers, topics: cfg.def.options.topics, groupId: cfg.groupId, def: cfg.def, credit: cfg.credit ?? 4, index: i, of: count };
        const w = new Worker(boot, { workerData: data });
        threads.push(w);
        let chain: Promise<void> = Promise.resolve();
        ready.push(new Promise<void>((resolve, reject) => {
          w.on('message', (m: FromConsumeWorker) => {
            switch (m.kind) {
              case 'ready': resolve(); break;
              case 'error': { const e = new Error(m.message); reject(e); cfg.onError?.(e); break; }
              case 'batch': {
                const b: ParallelBatch = { topic: m.topic, partition: m.partition, firstOffset: m.firstOffset, nextOffset: m.nextOffset, messages: m.messages, decoded: wireToDecoded(m.wire, schema) };
                chain = chain.then(() => cfg.onBatch(b)).then(() => { if (!stopped) w.postMessage({ kind: 'ack' }); }, (e: Error) => cfg.onError?.(e));
                break;
              }
            }
          });
          w.on('error', (e) => { reject(e); if (!stopped) cfg.onError?.(e); });
        }));
      }
      await Promise.all(ready);
    },
    async stop() {
      stopped = true;
      await Promise.all(threads.map(async (w) => {
        const exited = new Promise<void>((r) => w.once('exit', () => r()));
        w.postMessage({ kind: 'stop' });
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        await w.terminate();
      }));
    },
  };
}
