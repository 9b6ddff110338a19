/**
 * Kafka source: reads every partition of the source's topics, hands each fetched batch to the runner
 * as plain arrays (decoding happens outside, so it can move to worker threads), and tracks the next
 * offset per partition itself: offsets come from the query's checkpoint, never from auto-commit.
 *
 * Two consumer groups: the query's group (named after the query) holds its committed progress, so
 * Kafka's lag tools show it; it has no members, which lets checkpoints write it directly (admin, or
 * inside the sink's transaction). Fetching uses a reader group private to this incarnation, so a
 * restart after kill -9 does not wait out the dead member's session before partitions are assigned.
 */
import type { Admin, Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type { SourceDef } from '../../planner/catalog.ts';
import type { RawMessages } from '../formats/decode.ts';
import { countOf, type FetchedMessages } from '../formats/packed.ts';
import { createSchemaPreparer, untilPrepared } from '../formats/registry.ts';
import type { ConnectorStatus, PartitionLag, SourcePosition, SourceReader } from '../source.ts';
import { metadataOf } from './admin.ts';
import { createKafka, inTransaction, type Log } from './client.ts';
import { securityFor, type KafkaSecurity } from './security.ts';
import { createNativeReader, type ClusterMetadata, type NativeReader, type NativeReaderConfig } from './wire/reader.ts';
import { createWorkerReader, holdReadPool } from './wire/worker-reader.ts';
import { availableParallelism } from 'node:os';

/**
 * Read workers when a source reads in workers without saying how many ('source.workers'): one per
 * core (a source with fewer partitions uses fewer). Measured (README, "Performance"): on 2 cores,
 * 2 workers read the tumbling benchmark 1.6× faster than the inline reader.
 */
export const DEFAULT_READ_WORKERS = availableParallelism();

/** Auto mode: workers once the unread backlog stays above this many messages for AUTO_UP_TICKS ticks. */
const AUTO_UP_LAG = 100_000;
const AUTO_UP_TICKS = 2;
/** …and inline again once it stays below AUTO_DOWN_LAG for AUTO_DOWN_TICKS ticks (10 s). */
const AUTO_DOWN_LAG = 10_000;
const AUTO_DOWN_TICKS = 20;
const AUTO_TICK_MS = 500;
/** 'scan.topic-partition-discovery.interval' when unset (Flink: 5 min; Spark looks every micro-batch). */
export const DEFAULT_DISCOVERY_MS = 30_000;

/** Keeps the read workers warm for a service; call the result when it stops. */
export function holdReaders(): () => Promise<void> {
  return holdReadPool(DEFAULT_READ_WORKERS);
}

export interface KafkaSourceConfig {
  readonly brokers: readonly string[];
  readonly def: SourceDef;
  /** The consumer group: named after the query, so lag tools show its progress. */
  readonly groupId: string;
  readonly log?: Log;
  /** Source columns the query reads (sourceColumnsUsed); read workers decode only these. Null: all. */
  readonly columns?: readonly boolean[] | null;
  /** Called when offsets a checkpoint wants are gone (retention) and failOnDataLoss is false. */
  readonly onDataLoss?: (p: SourcePosition, earliest: number) => void;
}

/** Raised when restored offsets are no longer on the broker and failOnDataLoss is true. */
export class DataLossError extends Error { override name = 'DataLossError'; }

const key = (t: string, p: number) => `${t}:${p}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createKafkaSource(cfg: KafkaSourceConfig): SourceReader {
  const opts = cfg.def.options;
  // Made at first use: a security setting that cannot be resolved (an unset ${VAR}, a missing CA file)
  // then shows in the status and is retried like an unreachable broker, instead of failing creation.
  let kafkaClient: Kafka | null = null;
  let security: KafkaSecurity | null = null;
  const client = (): Kafka => {
    if (!kafkaClient) {
      security = securityFor(opts.properties);
      kafkaClient = createKafka(cfg.brokers, security.clientId ?? `streamsql-${cfg.groupId}`, cfg.log, {}, security);
    }
    return kafkaClient;
  };
  let admin: Admin | null = null;
  let consumer: Consumer | null = null;
  let committer: Producer | null = null;
  const next = new Map<string, SourcePosition>();
  let topics: string[] = [];
  let state: ConnectorStatus['state'] = 'starting';
  let lastError: string | null = null;
  let retries = 0;
  let stopped = false;
  let handler: ((m: FetchedMessages) => Promise<void>) | null = null;
  let native: NativeReader | null = null;
  /** Read workers of the running native reader (0: inline). */
  let readerWorkers = 0;
  let startLag = 0;
  let autoTimer: NodeJS.Timeout | null = null;
  let discoveryTimer: NodeJS.Timeout | null = null;
  /** The worker count the running native reader was started with (before capping by partitions). */
  let requestedWorkers = 0;
  let onPartitions: ((parts: readonly PartitionLag[]) => void) | undefined;
  let switching: Promise<void> | null = null;
  const highWatermarks = new Map<string, number>();
  let rateStart = 0; let rateRows = 0;
  let restarting: Promise<void> | null = null;
  let lossEvents = 0; let lossOffsets = 0;
  /** This incarnation's fetch group (see the file comment). */
  const readerGroup = `${cfg.groupId}.reader-${process.pid}-${Date.now().toString(36)}`;

  let onFatal: ((e: Error) => Promise<void> | void) | undefined;
  const lowWatermark = async (topic: string, partition: number): Promise<number> => {
    const offs = await (await getAdmin()).fetchTopicOffsets(topic);
    return Number(offs.find((o) => o.partition === partition)?.low ?? -1);
  };

  const getAdmin = async (): Promise<Admin> => {
    if (!admin) { admin = client().admin(); await admin.connect(); }
    return admin;
  };

  async function resolveTopics(a: Admin): Promise<string[]> {
    const existing = await a.listTopics();
    if (opts.topicPattern) {
      const re = new RegExp(`^(?:${opts.topicPattern})$`);
      return existing.filter((t) => re.test(t)).sort();
    }
    const missing = opts.topics.filter((t) => !existing.includes(t));
    if (missing.length) {
      // Like a Flink job started before its producers: the topic is created so the query can wait on it.
      await a.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true }).catch(() => undefined);
      cfg.log?.('info', `created missing topic(s) ${missing.join(', ')} for source ${cfg.def.name}`);
    }
    return [...opts.topics];
  }

  async function startOffsets(a: Admin, from: readonly SourcePosition[]): Promise<PartitionLag[]> {
    const restored = new Map(from.map((p) => [key(p.topic, p.partition), p.offset]));
    const out: PartitionLag[] = [];
    for (const topic of topics) {
      const offs = await a.fetchTopicOffsets(topic);
      let byTime: Map<number, number> | null = null;
      let committed: Map<number, number> | null = null;
      for (const o of offs) {
        const low = Number(o.low); const high = Number(o.high);
        const r = restored.get(key(topic, o.partition));
        let offset: number;
        if (r !== undefined) {
          offset = r;
          if (r < low) {
            if (opts.failOnDataLoss) throw new DataLossError(`offsets ${r}..${low - 1} of ${topic}[${o.partition}] are gone from the broker (retention); set 'failOnDataLoss' = 'false' to skip ahead`);
            cfg.onDataLoss?.({ topic, partition: o.partition, offset: r }, low);
            lossEvents++; lossOffsets += low - r;
            offset = low;
          }
          if (r > high) offset = high;
        } else {
          switch (opts.startupMode) {
            case 'earliest': offset = low; break;
            case 'latest': offset = high; break;
            case 'timestamp': {
              if (!byTime) {
                byTime = new Map((await a.fetchTopicOffsetsByTimestamp(topic, opts.startupTimestampMs ?? 0)).map((x) => [x.partition, Number(x.offset)]));
              }
              offset = byTime.get(o.partition) ?? high;
              if (offset < 0) offset = high;
              break;
            }
            case 'specific-offsets': offset = Math.min(Math.max(opts.specificOffsets[o.partition] ?? low, low), high); break;
            case 'group-offsets': {
              if (!committed) {
                const res = await a.fetchOffsets({ groupId: cfg.groupId, topics: [topic] });
                committed = new Map((res[0]?.partitions ?? []).map((x) => [x.partition, Number(x.offset)]));
              }
              const c = committed.get(o.partition);
              offset = c !== undefined && c >= 0 ? Math.max(c, low) : low;
              break;
            }
          }
        }
        out.push({ topic, partition: o.partition, offset, endOffset: high, lag: Math.max(0, high - offset) });
      }
    }
    return out;
  }

  async function onBatch(p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    const k = key(batch.topic, batch.partition);
    const expected = next.get(k)?.offset ?? 0;
    const values: (Uint8Array | null)[] = []; const keys: (Uint8Array | null)[] = [];
    const offsets: number[] = []; const timestamps: number[] = []; const headers: (Record<string, unknown> | undefined)[] = [];
    let last = expected - 1;
    const first = batch.messages.length ? Number(batch.messages[0]!.offset) : expected;
    if (first > expected) {
      // A gap: transaction markers and aborted records explain small ones; retention explains the
      // rest, which is data loss (kafkajs silently resets an out-of-range position).
      const low = await lowWatermark(batch.topic, batch.partition).catch(() => -1);
      if (low > expected) {
        if (opts.failOnDataLoss) {
          const err = new DataLossError(`offsets ${expected}..${low - 1} of ${batch.topic}[${batch.partition}] were deleted from the broker (retention) before they were read; set 'failOnDataLoss' = 'false' to skip ahead`);
          state = 'failed'; lastError = err.message;
          await onFatal?.(err);
          return;
        }
        cfg.onDataLoss?.({ topic: batch.topic, partition: batch.partition, offset: expected }, low);
        lossEvents++; lossOffsets += low - expected;
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
    if (state !== 'running') { state = 'running'; lastError = null; }
    // Transaction markers take offsets too: the position moves past the whole fetched batch.
    const end = Math.max(last + 1, Number(batch.lastOffset()) + 1, expected);
    if (offsets.length && handler) {
      await handler({ topic: batch.topic, partition: batch.partition, values, keys, offsets, timestamps, headers });
      await throttle(offsets.length, () => p.isRunning(), () => p.heartbeat());
    }
    next.set(k, { topic: batch.topic, partition: batch.partition, offset: end });
  }

  /** scan.max-rate: holds the next fetch until the rows so far fit the rate. */
  async function throttle(rows: number, alive: () => boolean, beat?: () => Promise<void>): Promise<void> {
    if (!opts.maxRate) return;
    rateRows += rows;
    const due = rateStart + (rateRows / opts.maxRate) * 1000;
    while (Date.now() < due && alive() && !stopped) { await sleep(Math.min(500, due - Date.now())); await beat?.(); }
  }

  const clusterMetadata = async (): Promise<ClusterMetadata> => metadataOf(await getAdmin(), topics);

  /**
   * The native reader, inline or in read workers. With 'source.workers' unset the choice follows the
   * load (measured, README "Performance": inline has the lower latency under moderate load, workers
   * 1.6× the throughput): inline while reading keeps up, workers once it falls behind by
   * {@link AUTO_UP_LAG} messages, inline again after {@link AUTO_DOWN_TICKS} quiet ticks. A switch stops
   * one reader (its batch in hand finishes) and starts the other at the positions reached.
   */
  function runNative(): void {
    // A rate-limited source reads on the query's thread: the limit then holds the next fetch itself,
    // where workers would fetch ahead of it.
    const fixed = opts.workers ?? (opts.maxRate || DEFAULT_READ_WORKERS === 0 ? 0 : null);
    // A backlog at start (a new query over a full topic, a restart after downtime): workers at once.
    startReader(fixed ?? (startLag > AUTO_UP_LAG ? DEFAULT_READ_WORKERS : 0));
    const every = opts.discoveryIntervalMs ?? DEFAULT_DISCOVERY_MS;
    if (every > 0) {
      discoveryTimer = setInterval(() => {
        if (stopped || switching || !native || state === 'failed') return;
        switching = discover().catch(async (e: Error) => {
          cfg.log?.('warn', `source ${cfg.def.name}: looking for new partitions failed: ${e.message}`);
          // As for metadata: a broker that went away needs a fresh admin client next time.
          await admin?.disconnect().catch(() => undefined); admin = null;
        })
          .finally(() => { switching = null; });
      }, every);
      discoveryTimer.unref();
    }
    if (fixed !== null) return;
    let up = 0; let down = 0;
    autoTimer = setInterval(() => {
      // No high watermark seen yet: nothing to judge by.
      if (stopped || switching || !native || state === 'failed' || highWatermarks.size === 0) return;
      let lag = 0;
      for (const [k, hw] of highWatermarks) lag += Math.max(0, hw - (next.get(k)?.offset ?? hw));
      if (readerWorkers === 0) { up = lag > AUTO_UP_LAG ? up + 1 : 0; down = 0; } else { down = lag < AUTO_DOWN_LAG ? down + 1 : 0; up = 0; }
      const to = up >= AUTO_UP_TICKS ? DEFAULT_READ_WORKERS : down >= AUTO_DOWN_TICKS ? 0 : -1;
      if (to < 0) return;
      up = 0; down = 0;
      switching = (async () => {
        const old = native;
        native = null;
        await old?.stop();
        if (!stopped) { cfg.log?.('info', `source ${cfg.def.name}: ${to ? `${to} read workers` : 'reading inline'} (lag ${lag})`); startReader(to); }
      })().finally(() => { switching = null; });
    }, AUTO_TICK_MS);
    autoTimer.unref();
  }

  /**
   * Partitions added to the source's topics, and topics matching its pattern, since it started: they
   * join at their earliest offset (as in Flink: data written there before discovery is not skipped),
   * the runner hears of them (the watermark waits for their first batch when they hold data), and the
   * reader restarts over the larger set at the positions reached, like a switch between readers.
   */
  async function discover(): Promise<void> {
    const a = await getAdmin();
    const now = opts.topicPattern ? await resolveTopics(a) : topics;
    const found: PartitionLag[] = [];
    for (const topic of now) {
      for (const o of await a.fetchTopicOffsets(topic)) {
        if (next.has(key(topic, o.partition))) continue;
        const low = Number(o.low); const high = Number(o.high);
        found.push({ topic, partition: o.partition, offset: low, endOffset: high, lag: Math.max(0, high - low) });
      }
    }
    if (found.length === 0 || stopped) return;
    topics = [...now];
    for (const p of found) next.set(key(p.topic, p.partition), { topic: p.topic, partition: p.partition, offset: p.offset });
    onPartitions?.(found);
    cfg.log?.('info', `source ${cfg.def.name}: reading ${found.length} new partition(s): ${found.map((p) => `${p.topic}[${p.partition}]`).join(', ')}`);
    const old = native;
    native = null;
    await old?.stop();
    if (!stopped) startReader(requestedWorkers);
  }

  function startReader(workers: number): void {
    requestedWorkers = workers;
    readerWorkers = Math.min(workers, next.size);
    const r = (workers > 0 ? (c: NativeReaderConfig) => createWorkerReader({ ...c, def: cfg.def, workers, columns: cfg.columns ?? null }) : createNativeReader)({
      clientId: security?.clientId ?? `streamsql-${cfg.groupId}`,
      security: security ?? securityFor(opts.properties),
      readCommitted: true,
      headers: cfg.def.columns.some((c) => c.metadata === 'headers'),
      maxWaitMs: 100,
      metadata: async () => {
        try { return await clusterMetadata(); } catch (e) {
          // A broker that went away: the next attempt needs a fresh admin client.
          await admin?.disconnect().catch(() => undefined); admin = null;
          throw e;
        }
      },
      onMessages: async (m: FetchedMessages, nextOffset: number) => {
        if (state !== 'running') { state = 'running'; lastError = null; }
        if (handler) await handler(m);
        next.set(key(m.topic, m.partition), { topic: m.topic, partition: m.partition, offset: nextOffset });
        await throttle(countOf(m), () => native === r);
      },
      onSkip: (topic, partition, nextOffset) => { next.set(key(topic, partition), { topic, partition, offset: nextOffset }); },
      onHighWatermark: (topic, partition, hw) => { highWatermarks.set(key(topic, partition), hw); },
      outOfRange: async (topic, partition, offset) => {
        const offs = await (await getAdmin()).fetchTopicOffsets(topic);
        const o = offs.find((x) => x.partition === partition);
        const low = Number(o?.low ?? 0); const high = Number(o?.high ?? 0);
        let to = offset;
        if (offset < low) {
          if (opts.failOnDataLoss) throw new DataLossError(`offsets ${offset}..${low - 1} of ${topic}[${partition}] were deleted from the broker (retention) before they were read; set 'failOnDataLoss' = 'false' to skip ahead`);
          cfg.onDataLoss?.({ topic, partition, offset }, low);
          lossEvents++; lossOffsets += low - offset;
          to = low;
        } else if (offset > high) {
          cfg.log?.('warn', `${topic}[${partition}]: position ${offset} is past the end (${high}); the topic was truncated or recreated, reading on from ${high}`);
          to = high;
        }
        next.set(key(topic, partition), { topic, partition, offset: to });
        return to;
      },
      onState: (s, err) => {
        if (stopped || state === 'failed') return;
        if (s === 'recovering') { state = 'recovering'; retries++; lastError = err; } else { state = 'running'; lastError = null; }
      },
      onFatal: (e) => { state = 'failed'; lastError = e.message; void onFatal?.(e); },
    });
    native = r;
    r.start([...next.values()]);
  }

  async function run(): Promise<void> {
    if (opts.client === 'native') { runNative(); return; }
    const c = client().consumer({
      groupId: readerGroup,
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
      lastError = `${err?.name ?? 'Error'}: ${err?.message ?? String(err)}`;
      if (!stopped) { state = 'recovering'; retries++; }
      if (!e.payload.restart && !stopped) void restart();
    });
    // Every (re)join, kafkajs' own restarts included, starts from our positions, not the reader group's.
    c.on(c.events.GROUP_JOIN, () => {
      for (const p of next.values()) { try { c.seek({ topic: p.topic, partition: p.partition, offset: String(p.offset) }); } catch { /* not running yet */ } }
      if (!stopped && state !== 'failed') { state = 'running'; lastError = null; }
    });
    await c.connect();
    if (opts.topicPattern) await c.subscribe({ topics: [new RegExp(`^(?:${opts.topicPattern})$`)], fromBeginning: true });
    else await c.subscribe({ topics, fromBeginning: true });
    await c.run({ eachBatchAutoResolve: true, autoCommit: false, partitionsConsumedConcurrently: 1, eachBatch: onBatch });
    for (const p of next.values()) c.seek({ topic: p.topic, partition: p.partition, offset: String(p.offset) });
  }

  /** Rebuilds the consumer from our own positions, with backoff, until it runs again or we stop. */
  async function restart(): Promise<void> {
    if (restarting) return restarting;
    restarting = (async () => {
      let delay = 500;
      while (!stopped) {
        try {
          await consumer?.disconnect().catch(() => undefined);
          await admin?.disconnect().catch(() => undefined);
          admin = null;
          await run();
          return;
        } catch (e) {
          state = 'recovering'; retries++;
          lastError = (e as Error).message;
          await sleep(delay);
          delay = Math.min(delay * 2, 10_000);
        }
      }
    })().finally(() => { restarting = null; });
    return restarting;
  }

  return {
    async start(from, handle, hooks) {
      // 'avro-confluent': the writer schemas a fetch names are loaded before it is handled; while the
      // registry cannot answer, the fetch is held (retried with backoff) and the source shows why.
      const prepare = createSchemaPreparer(cfg.def);
      handler = prepare ? async (m) => {
        if (!(await untilPrepared(prepare, m, { stopped: () => stopped, onRetry: (err) => { state = 'recovering'; retries++; lastError = err; }, onRecovered: () => { if (state === 'recovering') { state = 'running'; lastError = null; } } }))) return;
        await handle(m);
      } : handle;
      onFatal = hooks?.onFatal;
      onPartitions = hooks?.onPartitions;
      stopped = false;
      rateStart = Date.now(); rateRows = 0;
      let delay = 500;
      for (;;) {
        try {
          const a = await getAdmin();
          topics = await resolveTopics(a);
          const starts = await startOffsets(a, from);
          for (const p of starts) next.set(key(p.topic, p.partition), { topic: p.topic, partition: p.partition, offset: p.offset });
          startLag = starts.reduce((a, p) => a + p.lag, 0);
          onPartitions?.(starts);
          // No pre-positioning of the reader group (kafkajs' setOffsets joins the group: slow); the
          // seek on GROUP_JOIN applies before the first fetch, and onBatch skips anything below.
          await run();
          return;
        } catch (e) {
          if (e instanceof DataLossError) { state = 'failed'; lastError = e.message; throw e; }
          // Broker not reachable yet: keep trying, visible in the query status.
          state = 'recovering'; retries++;
          lastError = (e as Error).message;
          await admin?.disconnect().catch(() => undefined);
          admin = null;
          if (stopped) return;
          await sleep(delay);
          delay = Math.min(delay * 2, 10_000);
        }
      }
    },
    async stop() {
      stopped = true;
      state = 'stopped';
      if (autoTimer) { clearInterval(autoTimer); autoTimer = null; }
      if (discoveryTimer) { clearInterval(discoveryTimer); discoveryTimer = null; }
      await switching;
      const r = native; native = null;
      await r?.stop();
      await consumer?.disconnect().catch(() => undefined);
      await committer?.disconnect().catch(() => undefined);
      committer = null;
      // The reader group held no offsets worth keeping; leave no empty group behind.
      if (admin && opts.client === 'kafkajs') await admin.deleteGroups([readerGroup]).catch(() => undefined);
      await admin?.disconnect().catch(() => undefined);
      consumer = null; admin = null;
    },
    positions: () => [...next.values()],
    async lag(): Promise<PartitionLag[]> {
      const a = await getAdmin();
      const out: PartitionLag[] = [];
      for (const topic of topics) {
        const offs = await a.fetchTopicOffsets(topic);
        for (const o of offs) {
          const pos = next.get(key(topic, o.partition))?.offset ?? Number(o.low);
          const endOffset = Number(o.high);
          out.push({ topic, partition: o.partition, offset: pos, endOffset, lag: Math.max(0, endOffset - pos) });
        }
      }
      return out;
    },
    async commit(positions, epoch) {
      if (positions.length === 0) return;
      // The query's group has no members: a transaction holding only the offsets (TxnOffsetCommit)
      // writes them without joining it, tagged with the epoch like an exactly-once sink's.
      if (!committer) {
        const p = client().producer({ transactionalId: `${cfg.groupId}.offsets`, idempotent: true, maxInFlightRequests: 1 });
        try { await p.connect(); } catch (e) { await p.disconnect().catch(() => undefined); throw e; }
        committer = p;
      }
      const byTopic = new Map<string, { partition: number; offset: string; metadata: string | null }[]>();
      for (const p of positions) {
        const l = byTopic.get(p.topic) ?? [];
        l.push({ partition: p.partition, offset: String(p.offset), metadata: epoch === undefined ? null : `streamsql-epoch:${epoch}` });
        byTopic.set(p.topic, l);
      }
      try {
        await inTransaction(committer, (txn) => txn.sendOffsets({ consumerGroupId: cfg.groupId, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) }));
      } catch (e) {
        await committer.disconnect().catch(() => undefined);
        committer = null;
        throw e;
      }
    },
    status: () => ({
      state, lastError, retries,
      reader: opts.client === 'kafkajs' ? 'kafkajs consumer'
        : `native, ${readerWorkers ? `${readerWorkers} read worker${readerWorkers > 1 ? 's' : ''}` : 'inline'}${autoTimer ? ' (auto)' : ''}`,
    }),
    dataLoss: () => ({ events: lossEvents, offsets: lossOffsets }),
  };
}
