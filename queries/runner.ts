/**
 * Runs one continuous query: Kafka source → decoder → watermarks → operator pipeline → sink (query
 * table or Kafka), with a checkpoint every `checkpoint.interval`. Batches and checkpoints are
 * serialized, so a barrier always falls between two source batches and an epoch is a clean prefix of
 * every partition.
 */
import { formatTimestamp } from '../executor/expr/calendar.ts';
import path from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import { isChain, sourceColumnsUsed } from '../planner/physical.ts';
import { createFetchedDecoder, malformedMessages, type FetchedMessages } from '../connectors/formats/packed.ts';
import type { Log } from '../connectors/kafka/client.ts';
import { createKafkaSink, createSideProducer, SIDE_ATTEMPTS, SideOutputAborted, type SideMessage } from '../connectors/kafka/sink.ts';
import { createSinkEncoder } from '../connectors/formats/sink-record.ts';
import { createKafkaSource } from '../connectors/kafka/source.ts';
import type { ConnectorStatus, PartitionLag, SinkWriter, SourcePosition, SourceReader } from '../connectors/source.ts';
import type { QueryTable } from '../connectors/table/query-table.ts';
import type { LateRows } from '../executor/operator.ts';
import { fromEpochState, toEpochState } from '../executor/graph-state.ts';
import { createPipeline, type Pipeline, type PipelineSink } from '../executor/pipeline.ts';
import { createGraph, type Graph } from '../executor/graph.ts';
import { createViewInput, type ViewInput } from './view-input.ts';
import { inputColumnsUsed } from '../planner/physical-graph.ts';
import { batchRows, rowObject, rowsBatch } from '../executor/rows.ts';
import { maxTimestamp, WatermarkTracker, type WatermarkState } from '../executor/watermark.ts';
import type { QueryOptions, SourceDef } from '../planner/catalog.ts';
import type { PhysicalPlan } from '../planner/physical.ts';
import { createCheckpointLog, positionsOf, type CheckpointLog, type LatestEpoch, type PendingEpoch } from './checkpoint-log.ts';

export type QueryState = 'starting' | 'running' | 'recovering' | 'failed' | 'stopped';

export interface PartitionProgress {
  /** Which input of the query reads it (absent: input 0). */
  readonly input?: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly endOffset: number | null;
  readonly lag: number | null;
}

export interface QueryProgress {
  readonly inputRows: number;
  readonly inputRowsPerSecond: number;
  readonly processedRowsPerSecond: number;
  readonly watermark: string | null;
  readonly watermarkDelayMs: number | null;
  readonly lateRowsDropped: number;
  readonly malformedRows: number;
  readonly deadLetteredRows: number;
  /** Dead letters and late rows cut to fit their topic's `max.message.bytes` (marked with the `streamsql-truncated` header). */
  readonly sideOutputTruncated: number;
  readonly epoch: number;
  readonly lastCheckpoint: { readonly epoch: number; readonly durationMs: number; readonly time: string } | null;
  readonly checkpointFailures: number;
  readonly restoredFromEpoch: number | null;
  /**
   * An epoch found with its sink transaction committed but no commit marker (the process died in
   * between), completed on restore instead of replayed: replaying it would write its output twice.
   */
  readonly rolledForwardEpoch: number | null;
  /** The consumer group named after the query, where its committed offsets are (lag tools read them). */
  readonly groupId: string;
  /** Offsets skipped because the broker no longer had them (failOnDataLoss = false). */
  readonly dataLoss: { readonly events: number; readonly offsets: number };
  readonly skippedEpochs: readonly { epoch: number; reason: string }[];
  readonly operators: readonly { readonly name: string; readonly stateRows: number; readonly stateBytes: number; readonly lateRowsDropped: number }[];
  readonly partitions: readonly PartitionProgress[];
  readonly source: ConnectorStatus;
}

export interface QueryRunnerConfig {
  readonly id: string;
  readonly name: string;
  readonly sql: string;
  readonly plan: PhysicalPlan;
  readonly options: QueryOptions;
  /** The service's Kafka cluster (a source or sink may name its own). */
  readonly brokers: readonly string[];
  /** This query's checkpoint directory. */
  readonly dir: string;
  readonly table?: QueryTable;
  /** Running materialized views' tables, for queries that read a view's changes. */
  readonly views?: (name: string) => QueryTable | undefined;
  readonly log: Log;
  readonly keepEpochs?: number;
}

export interface QueryRunner {
  readonly id: string;
  readonly name: string;
  readonly sql: string;
  start(): Promise<void>;
  /** Stops reading; with `checkpoint` a last epoch is committed first. */
  stop(opts?: { checkpoint?: boolean }): Promise<void>;
  state(): QueryState;
  lastError(): string | null;
  progress(): Promise<QueryProgress>;
  /** Runs a checkpoint now (tests, shutdown). */
  checkpoint(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * TEST HOOK for the fault tests (test/fault): kills this process with SIGKILL at a chosen step of a
 * chosen checkpoint epoch, so a test can crash the service exactly between two durable writes.
 *
 *   STREAMSQL_CRASH_AT="<point>:<epoch>[:<query name>][,…]"     epoch '*' = the first time the point is reached
 *
 * Points, in the order a checkpoint reaches them: `mid-batch` (a source batch of the epoch has been
 * processed), `after-offsets` (offsets/<epoch> written), `state-write` (after the first state file),
 * `after-state` (state complete), `after-sink-commit` (sink transaction committed, no commit marker
 * yet), `after-commit` (marker written); and `restore` (state loaded, before reading starts).
 * Unset in production: then every call is one Map lookup on an empty map.
 */
export type CrashPointName = 'mid-batch' | 'after-offsets' | 'state-write' | 'after-state' | 'after-sink-commit' | 'after-commit' | 'restore';

const specs = new Map<string, { epoch: number | '*'; query: string | null }[]>();
for (const part of (process.env.STREAMSQL_CRASH_AT ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
  const [point, epoch, query] = part.split(':');
  const l = specs.get(point!) ?? [];
  l.push({ epoch: epoch === '*' || epoch === undefined ? '*' : Number(epoch), query: query ?? null });
  specs.set(point!, l);
}

export function crashPoint(point: CrashPointName, epoch: number, query: string, log?: Log): void {
  const l = specs.get(point);
  if (!l) return;
  if (!l.some((s) => (s.epoch === '*' || s.epoch === epoch) && (s.query === null || s.query.toLowerCase() === query.toLowerCase()))) return;
  const msg = `crash hook: ${point} epoch ${epoch} query ${query}: SIGKILL`;
  log?.('warn', msg);
  process.stderr.write(`${msg}\n`);
  process.kill(process.pid, 'SIGKILL');
  // The signal is delivered at once; never run another line of this process meanwhile.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
}

const partKey = (t: string, p: number) => `${t}:${p}`;

/** How long a stop with a final checkpoint lets a side-output send in flight finish before aborting it. */
const STOP_GRACE_MS = 2000;
/** Bound of each step of a stop (source, handler chain, producers): a stuck step is abandoned, logged. */
const STOP_STEP_MS = 5000;
/** Bound of the final checkpoint of a stop (service shutdown); an unfinished one is resolved at the next start. */
const STOP_CHECKPOINT_MS = 10_000;

/** True when `p` settles within `ms`; false (and `p` left running) otherwise. */
function within(p: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  if (!p) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.then(() => { clearTimeout(t); resolve(true); }, () => { clearTimeout(t); resolve(true); });
  });
}

/** Header values on each dead letter: where the message came from and why it was refused. */
const deadLetterHeaders = (topic: string, partition: number, offset: number, error: string): Record<string, string> => ({
  'streamsql-source-topic': topic, 'streamsql-source-partition': String(partition), 'streamsql-source-offset': String(offset), 'streamsql-error': error.slice(0, 500),
});

/**
 * One input of a query: its Kafka source, decoder, watermark tracker and the offsets it has read.
 * Input 0 keeps the query's group name (its committed offsets and the sink's epoch tag live there);
 * input i > 0 commits to `<group>-in<i>`, so one topic read twice keeps two sets of offsets.
 */
interface Input {
  readonly index: number;
  readonly def: SourceDef;
  readonly brokers: string[];
  readonly groupId: string;
  readonly decode: ReturnType<typeof createFetchedDecoder>;
  readonly tracker: WatermarkTracker;
  readonly wmIndex: number;
  readonly source: SourceReader;
  /** The newest watermark pushed into the graph for this input. */
  watermark: number;
  /** Offset each partition had when the current epoch began. */
  epochStart: Map<string, number>;
}

export function createQueryRunner(cfg: QueryRunnerConfig): QueryRunner {
  const { plan } = cfg;
  const kafkaInputs = plan.sources.flatMap((s, index) => (s.kind === 'kafka_source' ? [{ index, def: s.source }] : []));
  const viewSources = plan.sources.flatMap((s, index) => (s.kind === 'view_source' ? [{ index, source: s }] : []));
  const defs: SourceDef[] = kafkaInputs.map((k) => k.def);
  const def: SourceDef | undefined = defs[0];
  const brokersOf = (d: SourceDef) => (d.options.bootstrapServers ? d.options.bootstrapServers.split(',') : [...cfg.brokers]);
  const brokers = def ? brokersOf(def) : [...cfg.brokers];
  const groupId = `streamsql-${cfg.name}-${cfg.id}`;
  const isChainPlan = isChain(plan);
  const ckpt: CheckpointLog = createCheckpointLog(cfg.dir, { afterStateFile: (e) => crashPoint('state-write', e, cfg.name, cfg.log) });
  const side = createSideProducer(brokers, `streamsql-side-${cfg.id}`, cfg.log, def?.options.properties);

  let state: QueryState = 'starting';
  let lastError: string | null = null;
  let epoch = 0;
  let inputRows = 0; let malformedRows = 0; let deadLettered = 0; let lateRows = 0; let sideTruncated = 0;
  let processingMs = 0;
  let watermark = -Infinity;
  let dirty = false;
  let checkpointFailures = 0;
  let lastCheckpoint: QueryProgress['lastCheckpoint'] = null;
  let restoredFrom: number | null = null;
  let rolledForward: number | null = null;
  let skipped: { epoch: number; reason: string }[] = [];
  /** An epoch whose state is durable but whose sink commit or marker has not succeeded yet. */
  let inflight: { e: number; positions: (SourcePosition & { input: number })[]; sums: Record<string, string>; t0: number } | null = null;
  let consecutiveFailures = 0;
  let retryAt = 0;
  let checkpointRunning = false;
  let lossBase = { events: 0, offsets: 0 };
  let timer: NodeJS.Timeout | null = null;
  let rateTimer: NodeJS.Timeout | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  const samples: { t: number; rows: number; ms: number }[] = [];
  let stopped = false;
  /**
   * Side outputs (dead letters, late rows) are sent inside the batch's handling, before the source
   * moves past the batch, so a checkpoint never covers a dead letter or late row not yet produced.
   * A stop aborts a send stuck in retries (`abort`); the batch is then abandoned half-handled
   * (`torn`) and no checkpoint is taken after it: a restart replays from the last one.
   */
  let abort = new AbortController();
  let torn = false;
  /** The retry a side-output send is in, for the status (`recovering` meanwhile). */
  let sideError: string | null = null;
  let lateOut: SideMessage[] = [];

  const serial = <T>(f: () => Promise<T> | T): Promise<T> => {
    const r = chain.then(f);
    chain = r.catch(() => undefined);
    return r;
  };

  // ---- sink side -----------------------------------------------------------------------------
  const psink = plan.sink;
  let kafkaSink: SinkWriter | null = null;
  const schema = plan.schema;
  let encodeSinkRecord: ReturnType<typeof createSinkEncoder> | null = null;
  const sinkAdapter: PipelineSink = {
    batch(b: RecordBatch, ops: Int8Array | null) {
      switch (psink.kind) {
        case 'query_table': cfg.table!.apply(b, ops); break;
        case 'kafka_sink': {
          const rows = batchRows(b, schema);
          encodeSinkRecord ??= createSinkEncoder(schema, psink.sink, psink.keyColumns);
          kafkaSink!.write(rows.map((r, i) => encodeSinkRecord!(r, ops !== null && ops[i]! < 0)));
          break;
        }
        case 'collect': break;
      }
    },
  };
  if (psink.kind === 'kafka_sink') {
    const sb = psink.sink.bootstrapServers ? psink.sink.bootstrapServers.split(',') : [...cfg.brokers];
    kafkaSink = createKafkaSink({
      brokers: sb, topic: psink.sink.topic, exactlyOnce: psink.sink.deliveryGuarantee === 'exactly-once', transactionalId: `${psink.sink.transactionalIdPrefix ?? 'streamsql'}-${cfg.id}`, groupId, log: cfg.log,
      properties: psink.sink.properties, partitioner: psink.sink.partitioner,
    });
  }

  const onLate = (l: LateRows) => {
    lateRows += l.rows.length;
    const topic = cfg.options.lateTopic;
    if (!topic) return;
    const rows = batchRows(l.batch, l.schema);
    // Sent by the batch's handler once the pipeline has taken the batch (flushLate).
    for (const i of l.rows) {
      lateOut.push({
        key: null,
        value: JSON.stringify({ row: rowObject(l.schema, rows[i]!), reason: l.reason, watermark: formatTimestamp(l.watermark), query: cfg.name }),
      });
    }
  };

  /**
   * Sends side-output records: split by the topic's size limit, oversized ones cut and marked,
   * retriable errors retried with backoff {@link SIDE_ATTEMPTS} times (status `recovering`
   * meanwhile). A permanent failure throws (the query fails with it in its status); a stop throws
   * {@link SideOutputAborted}.
   */
  async function sendSide(what: string, topic: string, msgs: readonly SideMessage[]): Promise<void> {
    try {
      const r = await side.deliver(topic, msgs, {
        signal: abort.signal,
        onRetry: (e, attempt, delay) => {
          sideError = `cannot send ${what} to topic ${topic} (attempt ${attempt} of ${SIDE_ATTEMPTS}, next in ${delay} ms): ${e.message}`;
          cfg.log('warn', `query ${cfg.name}: ${sideError}`);
        },
      });
      if (r.truncated) {
        sideTruncated += r.truncated;
        cfg.log('warn', `query ${cfg.name}: ${r.truncated} ${what} larger than topic ${topic}'s max.message.bytes were cut to fit (header streamsql-truncated)`);
      }
    } catch (e) {
      if (e instanceof SideOutputAborted) throw e;
      throw new Error(`cannot send ${what} to topic ${topic}: ${(e as Error).message}`);
    } finally { sideError = null; }
  }

  async function flushLate(): Promise<void> {
    const topic = cfg.options.lateTopic;
    if (!topic || !lateOut.length) { lateOut = []; return; }
    const msgs = lateOut; lateOut = [];
    await sendSide('late rows', topic, msgs);
  }
  // A chain runs as the one-input graph it has always checkpointed as (its fingerprint, and the legacy
  // per-position state of older checkpoints); a plan with several inputs runs its dataflow graph.
  const pipeline: Pipeline | null = isChainPlan ? createPipeline(plan.ops, sinkAdapter, { onLate }) : null;
  const graph: Graph = pipeline ? pipeline.graph : createGraph(plan.graph, sinkAdapter, { onLate });

  const inputs: Input[] = kafkaInputs.map(({ def: d, index }) => {
    // The flat-JSON scanner writes straight into typed columns (2–3× JSON.parse, bench/decode.ts); it falls
    // back to the reference decoder for anything unusual, and for formats and options it does not handle.
    // The native reader hands packed messages (pointers into the fetch response); the scanner reads them in place.
    const used = isChainPlan ? sourceColumnsUsed(plan) : inputColumnsUsed(plan.graph, index);
    const gid = index === 0 ? groupId : `${groupId}-in${index}`;
    return {
      index, def: d, brokers: brokersOf(d), groupId: gid,
      decode: createFetchedDecoder(d, used),
      tracker: new WatermarkTracker(d.watermark?.delayMs ?? 0, d.options.idleTimeoutMs),
      wmIndex: d.watermark?.index ?? -1,
      source: createKafkaSource({
        brokers: brokersOf(d), def: d, groupId: gid, log: cfg.log, columns: used,
        onDataLoss: (p, earliest) => { cfg.log('warn', `query ${cfg.name}: offsets ${p.offset}..${earliest - 1} of ${p.topic}[${p.partition}] are gone; skipping ahead`); },
      }),
      watermark: -Infinity,
      epochStart: new Map(),
    };
  });
  const byIndex = new Map(inputs.map((i) => [i.index, i]));
  /** Inputs that read a materialized view's changes (view-input.ts). */
  const views: ViewInput[] = viewSources.map(({ index, source: v }) => createViewInput(index, v.view, v.schema, v.key ?? [], cfg.views?.(v.view)));
  /** The input whose group holds the sink's epoch tag: the first Kafka input. */
  const first = inputs[0];

  // ---- processing ------------------------------------------------------------------------------
  async function handle(input: Input, fetched: FetchedMessages): Promise<void> {
    const def = input.def;
    await serial(async () => {
      if (stopped || state === 'failed') return;
      const t0 = performance.now();
      const d = input.decode(fetched);
      const raw = { topic: fetched.topic, partition: fetched.partition };
      if (d.malformed.length) {
        malformedRows += d.malformed.length;
        switch (def.options.onError) {
          case 'fail': {
            const m = d.malformed[0]!;
            throw new Error(`malformed message at ${raw.topic}[${raw.partition}] offset ${m.offset}: ${m.error}`);
          }
          case 'dead-letter': {
            // The message as produced (key bytes kept), with headers naming its origin and the error.
            const msgs: SideMessage[] = malformedMessages(fetched, d).map((m, i) => ({
              key: m.key ? Buffer.from(m.key) : null,
              value: m.value ? Buffer.from(m.value) : Buffer.alloc(0),
              timestamp: m.timestamp,
              headers: deadLetterHeaders(raw.topic, raw.partition, d.malformed[i]!.offset, d.malformed[i]!.error),
            }));
            // The broker may be away: the batch is held (backpressure) while the send retries.
            await sendSide('dead letters', def.options.deadLetterTopic!, msgs);
            deadLettered += d.malformed.length;
            break;
          }
          case 'skip': break;
        }
      }
      if (d.batch) {
        const n = d.batch.numRows;
        if (input.wmIndex >= 0) input.tracker.observe(partKey(raw.topic, raw.partition), maxTimestamp(d.batch, input.wmIndex), Date.now());
        graph.push(input.index, { kind: 'batch', batch: d.batch, ops: d.ops ?? null }); // changelog sources carry ops
        inputRows += n;
        crashPoint('mid-batch', epoch + 1, cfg.name, cfg.log);
      }
      advanceWatermark();
      await flushLate();
      dirty = true;
      processingMs += performance.now() - t0;
      if (state !== 'running') { state = 'running'; lastError = null; }
    }).catch((e) => {
      // Stopped in a side-output send: the batch is half-handled; nothing after it may be checkpointed.
      if (e instanceof SideOutputAborted) { torn = true; lateOut = []; return; }
      fail(e as Error);
    });
  }

  function fail(e: Error): void {
    state = 'failed';
    lastError = e.message;
    cfg.log('error', `query ${cfg.name} failed: ${e.message}`);
    for (const i of inputs) void i.source.stop();
  }

  /** Each input's watermark into its graph input; the query's watermark is the least of them (what the sink sees). */
  function advanceWatermark(): void {
    const now = Date.now();
    for (const i of inputs) {
      if (i.wmIndex < 0) continue;
      const w = i.tracker.current(now);
      if (w > i.watermark) { i.watermark = w; graph.push(i.index, { kind: 'watermark', time: w }); }
    }
    const w = queryWatermark();
    if (w > watermark) watermark = w;
  }

  /** The least watermark of the inputs: Kafka inputs' and view inputs' (their upstream's, per epoch); -Infinity without any. */
  const queryWatermark = (): number => { const ws = [...inputs.map((i) => (i.wmIndex < 0 ? -Infinity : i.watermark)), ...views.map((v) => v.watermark)]; return ws.length ? Math.min(...ws) : -Infinity; };
  /** Every input's read positions (input 0 first), each tagged with its input. */
  const allPositions = (): (SourcePosition & { input: number })[] => inputs.flatMap((i) => i.source.positions().map((p) => ({ ...p, input: i.index })));
  const dataLoss = () => inputs.reduce((a, i) => { const l = i.source.dataLoss(); return { events: a.events + l.events, offsets: a.offsets + l.offsets }; }, { events: 0, offsets: 0 });
  /** The sources' status as one: the first input not running speaks for all. */
  const status = (): ConnectorStatus => inputs.map((i) => i.source.status()).find((x) => x.state !== 'running') ?? first?.source.status() ?? { state: 'running', lastError: null, retries: 0 };
  const ofInput = <T extends { input?: number }>(ps: readonly T[], i: number): T[] => ps.filter((p) => (p.input ?? 0) === i);


  // ---- checkpoints -------------------------------------------------------------------------
  /** The tail of an epoch: sink transaction (or flush), then the commit marker. Retried as is after a failure. */
  async function finishEpoch(): Promise<void> {
    const f = inflight!;
    if (kafkaSink) {
      // The sink's transaction carries input 0's offsets (and the epoch tag) to the query's group.
      await kafkaSink.commitEpoch(f.e, first ? ofInput(f.positions, first.index) : []);
      crashPoint('after-sink-commit', f.e, cfg.name, cfg.log);
    }
    await ckpt.commit(f.e, f.sums);
    crashPoint('after-commit', f.e, cfg.name, cfg.log);
    inflight = null;
    epoch = f.e;
    for (const i of inputs) i.epochStart = new Map(ofInput(f.positions, i.index).map((p) => [partKey(p.topic, p.partition), p.offset]));
    lastCheckpoint = { epoch: f.e, durationMs: Date.now() - f.t0, time: new Date().toISOString() };
    // Exactly-once sinks committed the offsets inside their transaction; others do it here.
    for (const i of inputs) {
      if (i === first && kafkaSink?.exactlyOnce) continue;
      await i.source.commit(ofInput(f.positions, i.index), f.e).catch((e) => cfg.log('warn', `query ${cfg.name}: cannot commit offsets to group ${i.groupId}: ${(e as Error).message}`));
    }
    await ckpt.prune(cfg.keepEpochs ?? 5);
  }

  async function checkpointNow(): Promise<void> {
    if (inflight) {
      await finishEpoch();
      if (!dirty) return;
    }
    const t0 = Date.now();
    const e = epoch + 1;
    const positions = allPositions();
    await ckpt.writeOffsets({
      epoch: e,
      ranges: positions.map((p) => ({
        ...(p.input ? { input: p.input } : {}),
        topic: p.topic, partition: p.partition, from: byIndex.get(p.input)!.epochStart.get(partKey(p.topic, p.partition)) ?? p.offset, to: p.offset,
      })),
      watermark: Number.isFinite(watermark) ? watermark : null,
      time: t0,
    });
    crashPoint('after-offsets', e, cfg.name, cfg.log);
    graph.barrier(e);
    // Operator state as named tables per graph node (executor/graph-state.ts), under the plan's fingerprint.
    const graphState = toEpochState(graph.snapshot(e));
    cfg.table?.commit(e, watermark);
    const batches: Record<string, RecordBatch | null> = { ...graphState.batches };
    if (cfg.table) batches.table = cfg.table.size ? cfg.table.batch() : null;
    for (const v of views) batches[v.stateName] = v.snapshot();
    const loss = dataLoss();
    const meta = {
      ...graphState.meta,
      ...(first ? { tracker: first.tracker.snapshot() } : {}),
      ...(inputs.length > 1 ? { trackers: inputs.map((i) => i.tracker.snapshot()) } : {}),
      ...(views.length ? { views: views.map((v) => ({ input: v.index, epoch: v.seenEpoch })) } : {}),
      counters: { inputRows, malformedRows, deadLettered, lateRows, sideTruncated, dataLossEvents: lossBase.events + loss.events, dataLossOffsets: lossBase.offsets + loss.offsets },
    };
    const sums = await ckpt.writeState(e, { batches, meta });
    crashPoint('after-state', e, cfg.name, cfg.log);
    // From here the epoch is fixed: a failure retries its tail, never recomputes it.
    inflight = { e, positions, sums, t0 };
    dirty = false;
    await finishEpoch();
  }

  function checkpoint(): Promise<void> {
    checkpointRunning = true;
    return serial(async () => {
      if (state === 'failed' || torn) return;
      try {
        await checkpointNow();
        if (consecutiveFailures) cfg.log('info', `query ${cfg.name}: checkpoints succeed again (epoch ${epoch})`);
        consecutiveFailures = 0;
      } catch (e) {
        checkpointFailures++;
        consecutiveFailures++;
        // Back off while the broker (or disk) is away; the epoch's input stays in memory meanwhile.
        retryAt = Date.now() + Math.min(5000, 100 * 2 ** consecutiveFailures);
        lastError = `checkpoint failed: ${(e as Error).message}`;
        cfg.log('warn', `query ${cfg.name}: ${lastError}`);
      }
    }).finally(() => { checkpointRunning = false; });
  }

  /**
   * Two-phase commit, phase two after a crash: an epoch with complete state but no commit marker may
   * have committed its sink transaction already (the process died between the two). The epoch tag
   * the transaction wrote into the query's group says whether it did; if so the marker is written
   * now and the epoch is restored, not replayed.
   */
  async function resolvePending(pend: PendingEpoch | null): Promise<boolean> {
    if (!pend || !kafkaSink?.exactlyOnce || !kafkaSink.committedEpoch) return false;
    const topics = [...new Set(ofInput(pend.offsets.ranges, first?.index ?? 0).map((r) => r.topic))];
    if (!topics.length) return false;
    for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
      if (stopped) return false;
      try {
        const committed = await kafkaSink.committedEpoch(topics);
        if (committed === pend.epoch) {
          await ckpt.commit(pend.epoch, pend.checksums);
          rolledForward = pend.epoch;
          cfg.log('warn', `query ${cfg.name}: epoch ${pend.epoch} committed its sink transaction but not its marker before the process stopped; rolled forward`);
          return true;
        }
        return false;
      } catch (e) {
        lastError = `cannot read the committed epoch from group ${groupId}: ${(e as Error).message}`;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async function restore(found: LatestEpoch): Promise<(SourcePosition & { input?: number })[]> {
    const { restored, skipped: bad } = found;
    skipped = [...bad];
    for (const s of bad) cfg.log('warn', `query ${cfg.name}: checkpoint epoch ${s.epoch} is unusable (${s.reason}); using an earlier one`);
    // Newer leftovers (torn, corrupt, uncommitted) must not mix with the epochs written from here.
    await ckpt.discardAfter(restored?.epoch ?? 0);
    if (!restored) return [];
    const st = restored.state;
    if (st.meta.graph) {
      // Refused (StateMismatchError, nothing changed) when the checkpoint belongs to another plan.
      graph.restore(fromEpochState(st, ['table', ...views.map((v) => v.stateName)]));
      for (const v of views) v.restore(st.batches[v.stateName] ?? null);
    } else {
      if (!pipeline) throw new Error('this checkpoint predates dataflow graphs and cannot restore a query with several inputs');
      // A checkpoint written before graph state: one batch per chain position.
      const metas = (st.meta.ops as Record<string, unknown>[] | undefined) ?? [];
      pipeline.restore(metas.map((m, i) => ({ batch: st.batches[`op-${i}`] ?? null, meta: m })));
    }
    const trackers = (st.meta.trackers as WatermarkState[] | undefined) ?? [st.meta.tracker as WatermarkState];
    for (const [pos, i] of inputs.entries()) {
      const t = trackers[pos];
      if (!t) continue;
      i.tracker.restore(t, Date.now());
      i.watermark = t.watermark ?? -Infinity;
    }
    watermark = queryWatermark();
    const c = (st.meta.counters ?? {}) as Record<string, number>;
    inputRows = c.inputRows ?? 0; malformedRows = c.malformedRows ?? 0; deadLettered = c.deadLettered ?? 0; lateRows = c.lateRows ?? 0;
    sideTruncated = c.sideTruncated ?? 0;
    lossBase = { events: c.dataLossEvents ?? 0, offsets: c.dataLossOffsets ?? 0 };
    if (cfg.table) {
      const tb = st.batches.table;
      cfg.table.load(tb ? batchRows(tb, cfg.table.schema) : [], restored.epoch, watermark);
    }
    epoch = restored.epoch;
    restoredFrom = restored.epoch;
    const pos = restored.offsets.ranges.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.to, input: r.input ?? 0 }));
    for (const i of inputs) i.epochStart = new Map(ofInput(pos, i.index).map((p) => [partKey(p.topic, p.partition), p.offset]));
    return pos;
  }

  return {
    id: cfg.id, name: cfg.name, sql: cfg.sql,
    async start() {
      stopped = false;
      torn = false;
      abort = new AbortController();
      await ckpt.writeMetadata({ id: cfg.id, name: cfg.name, sql: cfg.sql });
      const launch = async () => {
        const rolled = await resolvePending(pend);
        if (stopped) return;
        const from = await restore(rolled ? await ckpt.latest() : found);
        crashPoint('restore', epoch, cfg.name, cfg.log);
        timer = setInterval(() => {
          if ((dirty || inflight) && !stopped && !torn && state !== 'failed' && !checkpointRunning && Date.now() >= retryAt) void checkpoint();
        }, cfg.options.checkpointIntervalMs);
        rateTimer = setInterval(() => {
          samples.push({ t: Date.now(), rows: inputRows, ms: processingMs });
          while (samples.length > 11) samples.shift();
          // Idle partitions release the watermark on time, not only when data arrives.
          if (defs.some((d) => d.options.idleTimeoutMs !== null)) void serial(() => { advanceWatermark(); });
        }, 1000);
        // Fence the previous incarnation's producer now, which also aborts its open transaction.
        kafkaSink?.connect?.().catch(() => undefined);
        // Source start retries while the broker is unreachable; it must not block the caller.
        for (const v of views) {
          v.attach((task) => { void serial(() => { if (!stopped && state !== 'failed') task(); }).catch((e) => fail(e as Error)); }, (batch, ops) => {
            graph.push(v.index, { kind: 'batch', batch, ops });
            inputRows += batch.numRows;
            dirty = true;
            if (state !== 'running') { state = 'running'; lastError = null; }
          }, (w) => { graph.push(v.index, { kind: 'watermark', time: w }); advanceWatermark(); dirty = true; });
        }
        if (!inputs.length) state = 'running';
        for (const i of inputs) {
          i.source.start(ofInput(from, i.index), (f) => handle(i, f), {
            onPartitions: (parts) => { for (const p of parts) if (p.lag > 0) i.tracker.expect(partKey(p.topic, p.partition)); },
            onFatal: (e) => serial(() => fail(e)),
          }).catch((e) => { state = 'failed'; lastError = (e as Error).message; cfg.log('error', `query ${cfg.name} failed: ${lastError}`); for (const x of inputs) void x.source.stop(); });
        }
      };
      // Only a pending exactly-once epoch needs the broker before restoring; don't block startup on it.
      // Read (and checksum) the log once; a roll-forward reads it again.
      const found = await ckpt.latest();
      const pend = kafkaSink?.exactlyOnce ? await ckpt.pending(found.restored?.epoch ?? 0) : null;
      const needsBroker = pend !== null;
      if (needsBroker) void launch().catch((e) => fail(e as Error));
      else await launch();
    },
    /**
     * Bounded in time, whatever the broker does: a side-output send in flight gets STOP_GRACE_MS
     * (none without a final checkpoint) and is then aborted; each later step gets STOP_STEP_MS; a
     * step that does not finish is abandoned (logged), and a half-handled batch rules out the
     * final checkpoint, so what is checkpointed is always a clean prefix of the input.
     */
    async stop(opts = {}) {
      if (timer) clearInterval(timer);
      if (rateTimer) clearInterval(rateTimer);
      timer = rateTimer = null;
      const grace = setTimeout(() => abort.abort(), opts.checkpoint ? STOP_GRACE_MS : 0);
      try {
        // The source waits for the batch in hand: its handler returns once a stuck send is aborted.
        for (const v of views) v.detach();
        if (!(await within(Promise.all(inputs.map((i) => i.source.stop())), STOP_STEP_MS))) {
          torn = true;
          cfg.log('warn', `query ${cfg.name}: its source did not stop within ${STOP_STEP_MS} ms; abandoned (no final checkpoint)`);
        }
        if (opts.checkpoint && !torn && (dirty || inflight) && state !== 'failed') {
          if (!(await within(checkpoint(), STOP_CHECKPOINT_MS))) cfg.log('warn', `query ${cfg.name}: the final checkpoint did not finish within ${STOP_CHECKPOINT_MS} ms; the next start resolves it`);
        }
        stopped = true;
        abort.abort();
        if (!(await within(serial(() => undefined), STOP_STEP_MS))) cfg.log('warn', `query ${cfg.name}: work still in progress abandoned at stop`);
        await within(kafkaSink?.close(), STOP_STEP_MS);
        await within(side.close(), STOP_STEP_MS);
      } finally {
        clearTimeout(grace);
        stopped = true;
        abort.abort();
      }
      if (state !== 'failed') state = 'stopped';
    },
    state: () => {
      const s = status();
      if (state === 'failed' || state === 'stopped') return state;
      if (s.state === 'recovering' || s.state === 'starting') return s.state === 'starting' && state === 'starting' ? 'starting' : 'recovering';
      if (consecutiveFailures > 0 || sideError !== null) return 'recovering';
      return state;
    },
    lastError: () => (consecutiveFailures > 0 || state === 'failed' ? lastError : sideError ?? status().lastError ?? lastError),
    async progress(): Promise<QueryProgress> {
      const lagOf = async (i: Input): Promise<(PartitionLag & { input: number })[]> => {
        let l: PartitionLag[];
        try { l = await Promise.race([i.source.lag(), new Promise<PartitionLag[]>((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000))]); } catch {
          l = i.source.positions().map((p) => ({ ...p, endOffset: NaN, lag: NaN }));
        }
        return l.map((p) => ({ ...p, input: i.index }));
      };
      const parts = (await Promise.all(inputs.map(lagOf))).flat();
      const first = samples[0]; const last = samples[samples.length - 1];
      const dt = first && last && last.t > first.t ? (last.t - first.t) / 1000 : 0;
      const rows = first && last ? last.rows - first.rows : 0;
      const ms = first && last ? last.ms - first.ms : 0;
      const byNode = graph.metrics();
      const operators = pipeline
        ? pipeline.operators.map((o, i) => ({ name: o.name, ...pipeline.metrics()[i]! }))
        : [...graph.operators].map(([id, o]) => ({ name: `${id} ${o.name}`, ...(byNode[id] ?? { stateRows: 0, stateBytes: 0, lateRowsDropped: 0 }) }));
      const loss = dataLoss();
      return {
        inputRows,
        inputRowsPerSecond: dt > 0 ? Math.round(rows / dt) : 0,
        processedRowsPerSecond: ms > 0 ? Math.round(rows / (ms / 1000)) : 0,
        watermark: formatTimestamp(watermark),
        watermarkDelayMs: Number.isFinite(watermark) ? Date.now() - watermark : null,
        lateRowsDropped: lateRows,
        malformedRows,
        deadLetteredRows: deadLettered,
        sideOutputTruncated: sideTruncated,
        epoch,
        lastCheckpoint,
        checkpointFailures,
        restoredFromEpoch: restoredFrom,
        rolledForwardEpoch: rolledForward,
        groupId,
        dataLoss: { events: lossBase.events + loss.events, offsets: lossBase.offsets + loss.offsets },
        skippedEpochs: skipped,
        operators: operators.map((o) => ({ name: o.name, stateRows: o.stateRows, stateBytes: o.stateBytes, lateRowsDropped: o.lateRowsDropped })),
        partitions: parts.map((p) => ({ ...(p.input ? { input: p.input } : {}), topic: p.topic, partition: p.partition, offset: p.offset, endOffset: Number.isFinite(p.endOffset) ? p.endOffset : null, lag: Number.isFinite(p.lag) ? p.lag : null })),
        source: status(),
      };
    },
    checkpoint,
    async destroy() { await ckpt.destroy(); },
  };
}

export function queryDir(dataDir: string, id: string): string {
  return path.join(dataDir, 'queries', id);
}

export { rowsBatch };
