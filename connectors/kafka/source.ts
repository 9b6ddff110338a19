/**
 * Kafka source: reads the partitions of the source's topics, hands each fetched batch to the runner
 * as plain arrays (decoding happens outside, so it can move to worker threads), and tracks the next
 * offset per partition itself: offsets come from the query's checkpoint, never from auto-commit.
 *
 * Two consumer groups: the query's group (named after the query) holds its committed progress, so
 * Kafka's lag tools show it; it has no members, which lets checkpoints write it directly (admin, or
 * inside the sink's transaction). Fetching uses a reader group private to this incarnation, so a
 * restart after kill -9 does not wait out the dead member's session before partitions are assigned.
 *
 * This file puts the parts together (one job each, under source/): the shared state (context.ts),
 * which partitions are read and where (partitions.ts), startup modes (startup.ts), the data-loss rule
 * (data-loss.ts), partition discovery (discovery.ts), the native reader inline or in workers and the
 * switch between them (native-reading.ts), kafkajs' consumer (kafkajs-reader.ts), 'scan.max-rate'
 * (rate-limit.ts) and offset commits (offset-commit.ts).
 */
import type { PartitionLag, SourceReader } from '../source.ts';
import { createSchemaPreparer, untilPrepared } from '../formats/registry.ts';
import { createSourceContext, type KafkaSourceConfig } from './source/context.ts';
import { DataLossError } from './source/data-loss.ts';
import { DEFAULT_DISCOVERY_MS, resolveTopics, startDiscovery } from './source/discovery.ts';
import { createKafkajsReading } from './source/kafkajs-reader.ts';
import { createNativeReading } from './source/native-reading.ts';
import { createOffsetCommitter } from './source/offset-commit.ts';
import { partitionFilter, partitionKey, type PartitionChoice } from './source/partitions.ts';
import { startOffsets } from './source/startup.ts';

export type { KafkaSourceConfig } from './source/context.ts';
export type { TopicPartition, PartitionChoice } from './source/partitions.ts';
export { DataLossError } from './source/data-loss.ts';
export { DEFAULT_DISCOVERY_MS } from './source/discovery.ts';
export { DEFAULT_READ_WORKERS, holdReaders } from './source/native-reading.ts';

/** A Kafka source: a SourceReader whose partition set can be changed while it runs. */
export interface KafkaSource extends SourceReader {
  /**
   * Reads exactly `partitions` of the source's topics from now on (null: all of them, as by default).
   * Partitions dropped stop being read and leave `positions()`; partitions added start at `from` when
   * listed there, else per the startup mode, and are announced through `onPartitions`. A running
   * source applies it with the stop-and-start discovery uses.
   */
  assign(partitions: PartitionChoice, from?: readonly { topic: string; partition: number; offset: number }[]): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createKafkaSource(cfg: KafkaSourceConfig): KafkaSource {
  const ctx = createSourceContext(cfg);
  const { opts, status } = ctx;
  const native = createNativeReading(ctx);
  const kafkajs = createKafkajsReading(ctx);
  const committer = createOffsetCommitter(() => ctx.client(), cfg.groupId);
  let stopDiscovery = (): void => undefined;
  let started = false;

  async function run(startLag: number): Promise<void> {
    if (opts.client === 'native') {
      native.start(startLag);
      stopDiscovery = startDiscovery(ctx, native, opts.discoveryIntervalMs ?? DEFAULT_DISCOVERY_MS);
      return;
    }
    await kafkajs.run();
  }

  return {
    async start(from, handle, hooks) {
      // 'avro-confluent': the writer schemas a fetch names are loaded before it is handled; while the
      // registry cannot answer, the fetch is held (retried with backoff) and the source shows why.
      const prepare = createSchemaPreparer(cfg.def);
      ctx.handler = prepare ? async (m) => {
        if (!(await untilPrepared(prepare, m, { stopped: () => ctx.stopped, onRetry: (err) => { status.state = 'recovering'; status.retries++; status.lastError = err; }, onRecovered: () => { if (status.state === 'recovering') { status.state = 'running'; status.lastError = null; } } }))) return;
        await handle(m);
      } : handle;
      ctx.onFatal = hooks?.onFatal;
      ctx.onPartitions = hooks?.onPartitions;
      ctx.stopped = false;
      ctx.limiter.reset();
      let delay = 500;
      for (;;) {
        try {
          const a = await ctx.admin();
          ctx.topics = await resolveTopics(a, ctx);
          const starts = await startOffsets(a, { opts, groupId: cfg.groupId, topics: ctx.topics, restored: from, reads: ctx.reads, loss: ctx.loss });
          for (const p of starts) ctx.positions.set(p.topic, p.partition, p.offset);
          ctx.onPartitions?.(starts);
          // No pre-positioning of the reader group (kafkajs' setOffsets joins the group: slow); the
          // seek on GROUP_JOIN applies before the first fetch, and onBatch skips anything below.
          await run(starts.reduce((a, p) => a + p.lag, 0));
          started = true;
          return;
        } catch (e) {
          if (e instanceof DataLossError) { status.state = 'failed'; status.lastError = e.message; throw e; }
          // Broker not reachable yet: keep trying, visible in the query status.
          status.state = 'recovering'; status.retries++;
          status.lastError = (e as Error).message;
          await ctx.dropAdmin();
          if (ctx.stopped) return;
          await sleep(delay);
          delay = Math.min(delay * 2, 10_000);
        }
      }
    },
    async stop() {
      ctx.stopped = true;
      status.state = 'stopped';
      started = false;
      stopDiscovery();
      await native.stop();
      await kafkajs.stop();
      await committer.close();
      // The reader group held no offsets worth keeping; leave no empty group behind.
      const admin = ctx.openAdmin();
      if (admin && opts.client === 'kafkajs') await admin.deleteGroups([ctx.readerGroup]).catch(() => undefined);
      await ctx.dropAdmin();
    },
    positions: () => ctx.positions.list(),
    async lag(): Promise<PartitionLag[]> {
      const a = await ctx.admin();
      const out: PartitionLag[] = [];
      for (const topic of ctx.topics) {
        const offs = await a.fetchTopicOffsets(topic);
        for (const o of offs) {
          if (!ctx.reads(topic, o.partition)) continue;
          const pos = ctx.positions.offsetOf(partitionKey(topic, o.partition)) ?? Number(o.low);
          const endOffset = Number(o.high);
          out.push({ topic, partition: o.partition, offset: pos, endOffset, lag: Math.max(0, endOffset - pos) });
        }
      }
      return out;
    },
    commit: (positions, epoch) => committer.commit(positions, epoch),
    status: () => ({
      state: status.state, lastError: status.lastError, retries: status.retries,
      reader: opts.client === 'kafkajs' ? 'kafkajs consumer' : native.describe(),
    }),
    dataLoss: () => ctx.loss.totals(),
    async assign(partitions, from = []) {
      if (!started || ctx.stopped) { ctx.partitions = partitions; return; } // start() reads the set
      // With no reader running: the added partitions' starts first (a broker error changes nothing), then the set.
      const change = async (): Promise<void> => {
        const wanted = partitionFilter(partitions);
        const added = await startOffsets(await ctx.admin(), { opts, groupId: cfg.groupId, topics: ctx.topics, restored: from, reads: (t, p) => wanted(t, p) && !ctx.positions.has(t, p), loss: ctx.loss });
        ctx.partitions = partitions;
        ctx.positions.retain(ctx.reads);
        for (const p of added) ctx.positions.set(p.topic, p.partition, p.offset);
        if (added.length) ctx.onPartitions?.(added);
      };
      if (opts.client === 'native') { await native.serialized(() => native.restart(change)); return; }
      await kafkajs.stop();
      try { await change(); } finally { await kafkajs.restart(); }
    },
  };
}
