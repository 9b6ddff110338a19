/**
 * The reader choice for the native client: inline on the query's thread, or in read workers, and the
 * switch between them. 'source.workers' = 'N' fixes the choice (0: inline); a rate-limited source
 * reads inline (the limit must hold the next fetch, where workers would fetch ahead of it). Unset,
 * the choice follows the load (measured, README "Performance": inline has the lower latency under
 * moderate load, workers 1.6× the throughput): workers at once when the backlog at start exceeds
 * {@link AUTO_UP_LAG}, or once reading falls that far behind; inline again after
 * {@link AUTO_DOWN_TICKS} quiet ticks. A switch stops one reader (its batch in hand finishes) and
 * starts the other at the positions reached; discovery and a new partition set use the same
 * stop-and-start ({@link NativeReading.restart}).
 *
 * The reader's "offset gone" question (`OFFSET_OUT_OF_RANGE`) is answered here by the data-loss rule.
 */
import { availableParallelism } from 'node:os';
import { countOf, type FetchedMessages } from '../../formats/packed.ts';
import { metadataOf } from '../admin.ts';
import { createNativeReader, type NativeReader, type NativeReaderConfig } from '../wire/reader.ts';
import { createWorkerReader, holdReadPool } from '../wire/worker-reader.ts';
import type { SourceContext } from './context.ts';
import { decideOffset } from './data-loss.ts';
import type { Restartable } from './discovery.ts';
import { partitionKey } from './partitions.ts';

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

/** Keeps the read workers warm for a service; call the result when it stops. */
export function holdReaders(): () => Promise<void> {
  return holdReadPool(DEFAULT_READ_WORKERS);
}

export interface NativeReading extends Restartable {
  /** Picks inline or workers (`startLag`: the backlog at start) and starts reading at ctx.positions. */
  start(startLag: number): void;
  /** Waits for a switch under way, then runs `change` (nothing else switches meanwhile). */
  serialized(change: () => Promise<void>): Promise<void>;
  /** Ends the auto switching, waits for a switch under way, stops the reader. */
  stop(): Promise<void>;
  /** For the status: 'native, 2 read workers (auto)'. */
  describe(): string;
}

export function createNativeReading(ctx: SourceContext): NativeReading {
  const { cfg, opts, positions } = ctx;
  let native: NativeReader | null = null;
  /** Read workers of the running reader (0: inline). */
  let readerWorkers = 0;
  /** The worker count the running reader was started with (before capping by partitions). */
  let requestedWorkers = 0;
  let autoTimer: NodeJS.Timeout | null = null;
  let switching: Promise<void> | null = null;
  const highWatermarks = new Map<string, number>();

  const exclusive = (change: () => Promise<void>): void => {
    if (switching) return;
    switching = change().finally(() => { switching = null; });
  };

  async function restart(change?: () => Promise<void>): Promise<void> {
    const old = native;
    native = null;
    await old?.stop();
    try { await change?.(); } finally { if (!ctx.stopped) startReader(requestedWorkers); }
  }

  /** Where to go on when the broker no longer has `offset`: the data-loss rule (throws to fail). */
  async function outOfRange(topic: string, partition: number, offset: number): Promise<number> {
    const offs = await (await ctx.admin()).fetchTopicOffsets(topic);
    const o = offs.find((x) => x.partition === partition);
    const low = Number(o?.low ?? 0); const high = Number(o?.high ?? 0);
    const d = decideOffset({ offset, logStart: low, logEnd: high, failOnDataLoss: opts.failOnDataLoss });
    if (d.kind === 'past-end') cfg.log?.('warn', `${topic}[${partition}]: position ${offset} is past the end (${high}); the topic was truncated or recreated, reading on from ${high}`);
    const to = ctx.loss.apply(topic, partition, d, 'reading');
    positions.set(topic, partition, to);
    return to;
  }

  function startReader(workers: number): void {
    requestedWorkers = workers;
    readerWorkers = Math.min(workers, positions.size);
    const r = (workers > 0 ? (c: NativeReaderConfig) => createWorkerReader({ ...c, def: cfg.def, workers, columns: cfg.columns ?? null }) : createNativeReader)({
      clientId: ctx.clientId(),
      security: ctx.security(),
      readCommitted: true,
      headers: cfg.def.columns.some((c) => c.metadata === 'headers'),
      maxWaitMs: 100,
      metadata: async () => {
        try { return await metadataOf(await ctx.admin(), ctx.topics); } catch (e) {
          // A broker that went away: the next attempt needs a fresh admin client.
          await ctx.dropAdmin();
          throw e;
        }
      },
      onMessages: async (m: FetchedMessages, nextOffset: number) => {
        const st = ctx.status;
        if (st.state !== 'running') { st.state = 'running'; st.lastError = null; }
        if (ctx.handler) await ctx.handler(m);
        positions.set(m.topic, m.partition, nextOffset);
        await ctx.limiter.throttle(countOf(m), () => native === r);
      },
      onSkip: (topic, partition, nextOffset) => { positions.set(topic, partition, nextOffset); },
      onHighWatermark: (topic, partition, hw) => { highWatermarks.set(partitionKey(topic, partition), hw); },
      outOfRange,
      onState: (s, err) => {
        const st = ctx.status;
        if (ctx.stopped || st.state === 'failed') return;
        if (s === 'recovering') { st.state = 'recovering'; st.retries++; st.lastError = err; } else { st.state = 'running'; st.lastError = null; }
      },
      onFatal: (e) => { ctx.status.state = 'failed'; ctx.status.lastError = e.message; void ctx.onFatal?.(e); },
    });
    native = r;
    r.start(positions.list());
  }

  /** Auto mode: judges the backlog every tick and switches when it stayed high (or low) long enough. */
  function watchBacklog(): void {
    let up = 0; let down = 0;
    autoTimer = setInterval(() => {
      // No high watermark seen yet: nothing to judge by.
      if (ctx.stopped || switching || !native || ctx.status.state === 'failed' || highWatermarks.size === 0) return;
      let lag = 0;
      for (const [k, hw] of highWatermarks) lag += Math.max(0, hw - (positions.offsetOf(k) ?? hw));
      if (readerWorkers === 0) { up = lag > AUTO_UP_LAG ? up + 1 : 0; down = 0; } else { down = lag < AUTO_DOWN_LAG ? down + 1 : 0; up = 0; }
      const to = up >= AUTO_UP_TICKS ? DEFAULT_READ_WORKERS : down >= AUTO_DOWN_TICKS ? 0 : -1;
      if (to < 0) return;
      up = 0; down = 0;
      exclusive(async () => {
        const old = native;
        native = null;
        await old?.stop();
        if (!ctx.stopped) { cfg.log?.('info', `source ${cfg.def.name}: ${to ? `${to} read workers` : 'reading inline'} (lag ${lag})`); startReader(to); }
      });
    }, AUTO_TICK_MS);
    autoTimer.unref();
  }

  return {
    start(startLag) {
      const fixed = opts.workers ?? (opts.maxRate || DEFAULT_READ_WORKERS === 0 ? 0 : null);
      // A backlog at start (a new query over a full topic, a restart after downtime): workers at once.
      startReader(fixed ?? (startLag > AUTO_UP_LAG ? DEFAULT_READ_WORKERS : 0));
      if (fixed === null) watchBacklog();
    },
    idle: () => !switching && native !== null,
    exclusive,
    async serialized(change) {
      while (switching) await switching;
      const run = change();
      switching = run.finally(() => { switching = null; });
      await switching;
    },
    restart,
    async stop() {
      if (autoTimer) { clearInterval(autoTimer); autoTimer = null; }
      await switching;
      const r = native; native = null;
      await r?.stop();
    },
    describe: () => `native, ${readerWorkers ? `${readerWorkers} read worker${readerWorkers > 1 ? 's' : ''}` : 'inline'}${autoTimer ? ' (auto)' : ''}`,
  };
}
