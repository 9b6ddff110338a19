/**
 * The kafkajs client path ('source.client' = 'kafkajs'): kafkajs' consumer fetches, in a reader group
 * private to this incarnation (../source.ts says why), with auto-commit off; every (re)join seeks to
 * our positions, so the reader group's own offsets never matter. Kept next to the native reader as the
 * reference the benchmarks and tests compare with.
 *
 * kafkajs resets an out-of-range position by itself, so data loss shows here only as a gap in the
 * offsets it returns; the gap is put to the data-loss rule (data-loss.ts).
 */
import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { SourceContext } from './context.ts';
import { DataLossError, decideOffset } from './data-loss.ts';
import { topicPatternRegExp } from './discovery.ts';
import { partitionKey } from './partitions.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface KafkajsReading {
  /** Connects, subscribes and runs the consumer from ctx.positions. */
  run(): Promise<void>;
  /** Rebuilds the consumer from ctx.positions, with backoff, until it runs again or the source stops. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export function createKafkajsReading(ctx: SourceContext): KafkajsReading {
  const { opts, positions } = ctx;
  let consumer: Consumer | null = null;
  let restarting: Promise<void> | null = null;

  async function onBatch(p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    // An explicit partition set: the private group assigns every partition; read only ours.
    if (ctx.partitions !== null && !ctx.reads(batch.topic, batch.partition)) return;
    const expected = positions.offsetOf(partitionKey(batch.topic, batch.partition)) ?? 0;
    const values: (Uint8Array | null)[] = []; const keys: (Uint8Array | null)[] = [];
    const offsets: number[] = []; const timestamps: number[] = []; const headers: (Record<string, unknown> | undefined)[] = [];
    let last = expected - 1;
    const first = batch.messages.length ? Number(batch.messages[0]!.offset) : expected;
    if (first > expected) {
      // A gap: transaction markers and aborted records explain small ones; retention explains the
      // rest, which is data loss (kafkajs silently resets an out-of-range position).
      const log = await logBounds(batch.topic, batch.partition);
      if (log) {
        try {
          ctx.loss.apply(batch.topic, batch.partition, decideOffset({ offset: expected, ...log, failOnDataLoss: opts.failOnDataLoss }), 'reading');
        } catch (e) {
          if (!(e instanceof DataLossError)) throw e;
          ctx.status.state = 'failed'; ctx.status.lastError = e.message;
          await ctx.onFatal?.(e);
          return;
        }
      }
    }
    for (const m of batch.messages) {
      const o = Number(m.offset);
      // A fetch may start below the restored position (before our seek applied): skip what we had.
      if (o < expected) continue;
      values.push(m.value); keys.push(m.key); offsets.push(o); timestamps.push(Number(m.timestamp));
      headers.push(m.headers && Object.keys(m.headers).length ? m.headers as Record<string, unknown> : undefined);
      last = o;
    }
    if (ctx.status.state !== 'running') { ctx.status.state = 'running'; ctx.status.lastError = null; }
    // Transaction markers take offsets too: the position moves past the whole fetched batch.
    const end = Math.max(last + 1, Number(batch.lastOffset()) + 1, expected);
    if (offsets.length && ctx.handler) {
      await ctx.handler({ topic: batch.topic, partition: batch.partition, values, keys, offsets, timestamps, headers });
      await ctx.limiter.throttle(offsets.length, () => p.isRunning(), () => p.heartbeat());
    }
    positions.set(batch.topic, batch.partition, end);
  }

  /** The partition's log start and end, or null when the broker cannot say (the gap is then let be). */
  async function logBounds(topic: string, partition: number): Promise<{ logStart: number; logEnd: number } | null> {
    try {
      const o = (await (await ctx.admin()).fetchTopicOffsets(topic)).find((x) => x.partition === partition);
      return o ? { logStart: Number(o.low), logEnd: Number(o.high) } : null;
    } catch { return null; }
  }

  const seekAll = (c: Consumer) => {
    for (const p of positions.list()) { try { c.seek({ topic: p.topic, partition: p.partition, offset: String(p.offset) }); } catch { /* not running yet */ } }
  };

  async function run(): Promise<void> {
    const c = ctx.client().consumer({
      groupId: ctx.readerGroup,
      sessionTimeout: 6_000,
      heartbeatInterval: 1000,
      rebalanceTimeout: 10_000,
      maxWaitTimeInMs: 100,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5000 },
    });
    consumer = c;
    c.on(c.events.CRASH, (e) => {
      const err = e.payload.error;
      ctx.status.lastError = `${err?.name ?? 'Error'}: ${err?.message ?? String(err)}`;
      if (!ctx.stopped) { ctx.status.state = 'recovering'; ctx.status.retries++; }
      if (!e.payload.restart && !ctx.stopped) void restart();
    });
    // Every (re)join, kafkajs' own restarts included, starts from our positions, not the reader group's.
    c.on(c.events.GROUP_JOIN, () => {
      seekAll(c);
      if (!ctx.stopped && ctx.status.state !== 'failed') { ctx.status.state = 'running'; ctx.status.lastError = null; }
    });
    await c.connect();
    if (opts.topicPattern) await c.subscribe({ topics: [topicPatternRegExp(opts)], fromBeginning: true });
    else await c.subscribe({ topics: ctx.topics, fromBeginning: true });
    await c.run({ eachBatchAutoResolve: true, autoCommit: false, partitionsConsumedConcurrently: 1, eachBatch: onBatch });
    for (const p of positions.list()) c.seek({ topic: p.topic, partition: p.partition, offset: String(p.offset) });
  }

  async function restart(): Promise<void> {
    if (restarting) return restarting;
    restarting = (async () => {
      let delay = 500;
      while (!ctx.stopped) {
        try {
          await consumer?.disconnect().catch(() => undefined);
          await ctx.dropAdmin();
          await run();
          return;
        } catch (e) {
          ctx.status.state = 'recovering'; ctx.status.retries++;
          ctx.status.lastError = (e as Error).message;
          await sleep(delay);
          delay = Math.min(delay * 2, 10_000);
        }
      }
    })().finally(() => { restarting = null; });
    return restarting;
  }

  return {
    run, restart,
    async stop() {
      await consumer?.disconnect().catch(() => undefined);
      consumer = null;
    },
  };
}
