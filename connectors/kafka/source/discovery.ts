/**
 * Partition discovery: which topics a source reads, and partitions that appear while it runs.
 *
 * At start the topics are the source's list (missing ones are created, so a query can wait for its
 * producers, as a Flink job started before them does) or those matching its pattern. Every
 * 'scan.topic-partition-discovery.interval' a running native source looks again: partitions added to
 * its topics, and topics newly matching its pattern, join at their earliest offset (as in Flink: data
 * written there before discovery is not skipped), the runner hears of them through `onPartitions`
 * (the watermark waits for their first batch when they hold data), and the reader restarts over the
 * larger set at the positions reached, like a switch between readers. With an explicit partition set
 * (partitions.ts) only partitions in the set can join.
 */
import type { Admin } from 'kafkajs';
import type { KafkaSourceOptions } from '../../../planner/catalog.ts';
import type { PartitionLag } from '../../source.ts';
import type { SourceContext } from './context.ts';

/** 'scan.topic-partition-discovery.interval' when unset (Flink: 5 min; Spark looks every micro-batch). */
export const DEFAULT_DISCOVERY_MS = 30_000;

export async function resolveTopics(a: Admin, ctx: SourceContext): Promise<string[]> {
  const { opts, cfg } = ctx;
  const existing = await a.listTopics();
  if (opts.topicPattern) {
    const re = topicPatternRegExp(opts);
    return existing.filter((t) => re.test(t)).sort();
  }
  const missing = opts.topics.filter((t) => !existing.includes(t));
  if (missing.length) {
    await a.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true }).catch(() => undefined);
    cfg.log?.('info', `created missing topic(s) ${missing.join(', ')} for source ${cfg.def.name}`);
  }
  return [...opts.topics];
}

/** The whole-name regular expression of 'topic-pattern'. */
export function topicPatternRegExp(opts: KafkaSourceOptions): RegExp {
  return new RegExp(`^(?:${opts.topicPattern})$`);
}

/** Partitions read (per ctx.reads) but not yet positioned, at their earliest offset; and the topics now read. */
export async function findNewPartitions(ctx: SourceContext): Promise<{ topics: string[]; found: PartitionLag[] }> {
  const a = await ctx.admin();
  const topics = ctx.opts.topicPattern ? await resolveTopics(a, ctx) : ctx.topics;
  const found: PartitionLag[] = [];
  for (const topic of topics) {
    for (const o of await a.fetchTopicOffsets(topic)) {
      if (ctx.positions.has(topic, o.partition) || !ctx.reads(topic, o.partition)) continue;
      const low = Number(o.low); const high = Number(o.high);
      found.push({ topic, partition: o.partition, offset: low, endOffset: high, lag: Math.max(0, high - low) });
    }
  }
  return { topics, found };
}

/** What discovery needs of the reader: a stop-and-start at the positions reached, one at a time. */
export interface Restartable {
  /** Whether a reader runs and no switch is under way. */
  idle(): boolean;
  /** Runs `change` unless a switch is under way (then skips it). */
  exclusive(change: () => Promise<void>): void;
  /**
   * Stops the running reader (its batch in hand finishes), runs `change` if given (nothing reads
   * meanwhile), and starts it again over ctx.positions.
   */
  restart(change?: () => Promise<void>): Promise<void>;
}

/** Looks for new partitions every `every` ms; returns the stop. */
export function startDiscovery(ctx: SourceContext, reader: Restartable, every: number): () => void {
  if (every <= 0) return () => undefined;
  const timer = setInterval(() => {
    if (ctx.stopped || !reader.idle() || ctx.status.state === 'failed') return;
    reader.exclusive(() => discover(ctx, reader).catch(async (e: Error) => {
      ctx.cfg.log?.('warn', `source ${ctx.cfg.def.name}: looking for new partitions failed: ${e.message}`);
      // As for metadata: a broker that went away needs a fresh admin client next time.
      await ctx.dropAdmin();
    }));
  }, every);
  timer.unref();
  return () => clearInterval(timer);
}

async function discover(ctx: SourceContext, reader: Restartable): Promise<void> {
  const { topics, found } = await findNewPartitions(ctx);
  if (found.length === 0 || ctx.stopped) return;
  ctx.topics = [...topics];
  for (const p of found) ctx.positions.set(p.topic, p.partition, p.offset);
  ctx.onPartitions?.(found);
  ctx.cfg.log?.('info', `source ${ctx.cfg.def.name}: reading ${found.length} new partition(s): ${found.map((p) => `${p.topic}[${p.partition}]`).join(', ')}`);
  await reader.restart();
}
