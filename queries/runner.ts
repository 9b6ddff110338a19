/**
 * Runs one continuous query: its lifecycle (start, stop, status, progress) around the parts that do
 * the work, one job each:
 *
 *   queries/driver.ts        the ingest loop: decode → watermarks → graph (shared with push queries,
 *                            the test harnesses and the benchmarks)
 *   queries/kafka-inputs.ts  one Kafka source reader per source input, its group and epoch start
 *   queries/malformed.ts     the malformed-message policy (fail, skip, dead-letter)
 *   queries/side-outputs.ts  dead letters and late rows, sent before the source moves on
 *   queries/sink-output.ts   the sink: the view's query table or Kafka records
 *   queries/epochs.ts        the epoch protocol: checkpoint, restore, roll-forward, sink transaction
 *   queries/crash-points.ts  the fault tests' kill points
 *
 * Batches and checkpoints are serialized (`serial`), so a barrier always falls between two source
 * batches and an epoch is a clean prefix of every partition.
 */
import path from 'node:path';
import type { FetchedMessages } from '../connectors/formats/packed.ts';
import type { Log } from '../connectors/kafka/client.ts';
import { SideOutputAborted } from '../connectors/kafka/sink.ts';
import type { ConnectorStatus } from '../connectors/source.ts';
import type { QueryTable } from '../connectors/table/query-table.ts';
import { formatTimestamp } from '../executor/expr/calendar.ts';
import { rowsBatch } from '../executor/rows.ts';
import type { QueryOptions } from '../planner/catalog.ts';
import type { PhysicalPlan } from '../planner/physical.ts';
import { createCheckpointLog } from './checkpoint-log.ts';
import { crashPoint } from './crash-points.ts';
import { createDriver, planInputs } from './driver.ts';
import { createEpochs } from './epochs.ts';
import { brokersOf, createKafkaInputs, ofInput, partKey, type KafkaInput } from './kafka-inputs.ts';
import { malformedPolicy } from './malformed.ts';
import { createSideOutputs } from './side-outputs.ts';
import { createSinkOutput } from './sink-output.ts';
import { createViewInput, type ViewInput } from './view-input.ts';
import { STOP_CHECKPOINT_MS, STOP_STEP_MS, within } from './stop-bounds.ts';

export { crashPoint, type CrashPointName } from './crash-points.ts';

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
  /** A query run as tasks in a cluster: this instance's tasks (queries/cluster/task-wiring.ts). */
  readonly tasks?: readonly { task: string; state: string; epoch: number; inputRows: number; outputRows: number; restoreMs: number | null; lastError: string | null }[];
  /** …and what they wrote to and read from repartition topics (bytes as produced, deflated). */
  readonly repartition?: { readonly writtenRows: number; readonly writtenBytes: number; readonly readRows: number; readonly readRecords: number };
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

/** How long a stop with a final checkpoint lets a side-output send in flight finish before aborting it. */
const STOP_GRACE_MS = 2000;

export function createQueryRunner(cfg: QueryRunnerConfig): QueryRunner {
  const { plan } = cfg;
  const specs = planInputs(plan);
  const firstDef = specs.flatMap((s) => (s.kind === 'source' ? [s.def] : []))[0];
  const brokers = firstDef ? brokersOf(firstDef, cfg.brokers) : [...cfg.brokers];
  const groupId = `streamsql-${cfg.name}-${cfg.id}`;
  const ckpt = createCheckpointLog(cfg.dir, { afterStateFile: (e) => crashPoint('state-write', e, cfg.name, cfg.log) });
  const side = createSideOutputs({ brokers, id: cfg.id, name: cfg.name, log: cfg.log, properties: firstDef?.options.properties, lateTopic: cfg.options.lateTopic ?? null });
  const output = createSinkOutput(plan, { id: cfg.id, brokers: cfg.brokers, groupId, log: cfg.log, table: cfg.table });
  const kafkaSink = output.kafka;
  const driver = createDriver({
    plan, sink: output.sink, inputs: specs,
    onLate: (l) => side.onLate(l),
    onMalformed: malformedPolicy((def, fetched, d) => side.deadLetter(def, fetched, d)),
  });
  const inputs = createKafkaInputs(driver.inputs, { brokers: cfg.brokers, groupId, name: cfg.name, log: cfg.log });
  /** Inputs that read a materialized view's changes (view-input.ts). */
  const views: ViewInput[] = plan.sources.flatMap((s, index) => (s.kind === 'view_source' ? [createViewInput(index, s.view, s.schema, s.key ?? [], cfg.views?.(s.view))] : []));

  let state: QueryState = 'starting';
  let lastError: string | null = null;
  let processingMs = 0;
  let lossBase = { events: 0, offsets: 0 };
  let timer: NodeJS.Timeout | null = null;
  let rateTimer: NodeJS.Timeout | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  const samples: { t: number; rows: number; ms: number }[] = [];
  let stopped = false;
  /** A batch abandoned half-handled (a side-output send aborted by a stop): no checkpoint after it. */
  let torn = false;

  const serial = <T>(f: () => Promise<T> | T): Promise<T> => {
    const r = chain.then(f);
    chain = r.catch(() => undefined);
    return r;
  };
  const dataLoss = () => inputs.dataLoss();

  const epochs = createEpochs({
    name: cfg.name, log: cfg.log, ckpt, keepEpochs: cfg.keepEpochs ?? 5, groupId,
    driver, inputs, views, table: cfg.table, sink: kafkaSink,
    counters: () => {
      const loss = dataLoss();
      const c = driver.counters;
      return {
        inputRows: c.inputRows, malformedRows: c.malformedRows, deadLettered: side.counters.deadLettered, lateRows: c.lateRows, sideTruncated: side.counters.sideTruncated,
        dataLossEvents: lossBase.events + loss.events, dataLossOffsets: lossBase.offsets + loss.offsets,
      };
    },
    restoreCounters: (c) => {
      driver.counters.inputRows = c.inputRows ?? 0; driver.counters.malformedRows = c.malformedRows ?? 0; driver.counters.lateRows = c.lateRows ?? 0;
      side.counters.deadLettered = c.deadLettered ?? 0; side.counters.sideTruncated = c.sideTruncated ?? 0;
      lossBase = { events: c.dataLossEvents ?? 0, offsets: c.dataLossOffsets ?? 0 };
    },
    serial,
    canCheckpoint: () => state !== 'failed' && !torn,
    stopped: () => stopped,
    setError: (m) => { lastError = m; },
  });

  // ---- processing ------------------------------------------------------------------------------
  async function handle(input: KafkaInput, fetched: FetchedMessages): Promise<void> {
    await serial(async () => {
      if (stopped || state === 'failed') return;
      const t0 = performance.now();
      const n = await driver.fetched(input.index, fetched);
      if (n > 0) crashPoint('mid-batch', epochs.epoch + 1, cfg.name, cfg.log);
      driver.advance();
      await side.flushLate();
      epochs.dirty = true;
      processingMs += performance.now() - t0;
      if (state !== 'running') { state = 'running'; lastError = null; }
    }).catch((e) => {
      // Stopped in a side-output send: the batch is half-handled; nothing after it may be checkpointed.
      if (e instanceof SideOutputAborted) { torn = true; side.dropLate(); return; }
      fail(e as Error);
    });
  }

  function fail(e: Error): void {
    state = 'failed';
    lastError = e.message;
    cfg.log('error', `query ${cfg.name} failed: ${e.message}`);
    for (const i of inputs.list) void i.source.stop();
  }

  return {
    id: cfg.id, name: cfg.name, sql: cfg.sql,
    async start() {
      stopped = false;
      torn = false;
      side.reset();
      await ckpt.writeMetadata({ id: cfg.id, name: cfg.name, sql: cfg.sql });
      const launch = async () => {
        const rolled = await epochs.resolvePending(pend);
        if (stopped) return;
        const from = await epochs.restore(rolled ? await ckpt.latest() : found);
        crashPoint('restore', epochs.epoch, cfg.name, cfg.log);
        timer = setInterval(() => {
          if (!stopped && !torn && state !== 'failed' && epochs.due()) void epochs.checkpoint();
        }, cfg.options.checkpointIntervalMs);
        rateTimer = setInterval(() => {
          samples.push({ t: Date.now(), rows: driver.counters.inputRows, ms: processingMs });
          while (samples.length > 11) samples.shift();
          // Idle partitions release the watermark on time, not only when data arrives.
          if (inputs.list.some((i) => i.def.options.idleTimeoutMs !== null)) void serial(() => { driver.advance(); });
        }, 1000);
        // Fence the previous incarnation's producer now, which also aborts its open transaction.
        kafkaSink?.connect?.().catch(() => undefined);
        // Source start retries while the broker is unreachable; it must not block the caller.
        for (const v of views) {
          v.attach((task) => { void serial(() => { if (!stopped && state !== 'failed') task(); }).catch((e) => fail(e as Error)); }, (batch, ops) => {
            driver.batch(v.index, batch, ops);
            epochs.dirty = true;
            if (state !== 'running') { state = 'running'; lastError = null; }
          }, (w) => {
            // The upstream query's watermark, after its epoch's changes (view-input.ts).
            driver.changesWatermark(v.index, w);
            driver.advance();
            epochs.dirty = true;
          });
        }
        if (!inputs.list.length) state = 'running';
        for (const i of inputs.list) {
          i.source.start(ofInput(from, i.index), (f) => handle(i, f), {
            onPartitions: (parts) => { for (const p of parts) if (p.lag > 0) driver.expect(i.index, partKey(p.topic, p.partition)); },
            onFatal: (e) => serial(() => fail(e)),
          }).catch((e) => { state = 'failed'; lastError = (e as Error).message; cfg.log('error', `query ${cfg.name} failed: ${lastError}`); for (const x of inputs.list) void x.source.stop(); });
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
      const grace = setTimeout(() => side.abort(), opts.checkpoint ? STOP_GRACE_MS : 0);
      try {
        // The source waits for the batch in hand: its handler returns once a stuck send is aborted.
        for (const v of views) v.detach();
        if (!(await within(inputs.stopAll(), STOP_STEP_MS))) {
          torn = true;
          cfg.log('warn', `query ${cfg.name}: its source did not stop within ${STOP_STEP_MS} ms; abandoned (no final checkpoint)`);
        }
        if (opts.checkpoint && !torn && (epochs.dirty || epochs.inflight) && state !== 'failed') {
          if (!(await within(epochs.checkpoint(), STOP_CHECKPOINT_MS))) cfg.log('warn', `query ${cfg.name}: the final checkpoint did not finish within ${STOP_CHECKPOINT_MS} ms; the next start resolves it`);
        }
        stopped = true;
        side.abort();
        if (!(await within(serial(() => undefined), STOP_STEP_MS))) cfg.log('warn', `query ${cfg.name}: work still in progress abandoned at stop`);
        await within(kafkaSink?.close(), STOP_STEP_MS);
        await within(side.close(), STOP_STEP_MS);
      } finally {
        clearTimeout(grace);
        stopped = true;
        side.abort();
      }
      if (state !== 'failed') state = 'stopped';
    },
    state: () => {
      const s = inputs.status();
      if (state === 'failed' || state === 'stopped') return state;
      if (s.state === 'recovering' || s.state === 'starting') return s.state === 'starting' && state === 'starting' ? 'starting' : 'recovering';
      if (epochs.consecutiveFailures > 0 || side.error !== null) return 'recovering';
      return state;
    },
    lastError: () => (epochs.consecutiveFailures > 0 || state === 'failed' ? lastError : side.error ?? inputs.status().lastError ?? lastError),
    async progress(): Promise<QueryProgress> {
      const parts = await inputs.lag();
      const first = samples[0]; const last = samples[samples.length - 1];
      const dt = first && last && last.t > first.t ? (last.t - first.t) / 1000 : 0;
      const rows = first && last ? last.rows - first.rows : 0;
      const ms = first && last ? last.ms - first.ms : 0;
      const loss = dataLoss();
      const watermark = driver.watermark();
      const c = driver.counters;
      return {
        inputRows: c.inputRows,
        inputRowsPerSecond: dt > 0 ? Math.round(rows / dt) : 0,
        processedRowsPerSecond: ms > 0 ? Math.round(rows / (ms / 1000)) : 0,
        watermark: formatTimestamp(watermark),
        watermarkDelayMs: Number.isFinite(watermark) ? Date.now() - watermark : null,
        lateRowsDropped: c.lateRows,
        malformedRows: c.malformedRows,
        deadLetteredRows: side.counters.deadLettered,
        sideOutputTruncated: side.counters.sideTruncated,
        epoch: epochs.epoch,
        lastCheckpoint: epochs.lastCheckpoint,
        checkpointFailures: epochs.checkpointFailures,
        restoredFromEpoch: epochs.restoredFrom,
        rolledForwardEpoch: epochs.rolledForward,
        groupId,
        dataLoss: { events: lossBase.events + loss.events, offsets: lossBase.offsets + loss.offsets },
        skippedEpochs: epochs.skipped,
        operators: driver.operators().map((o) => ({ name: o.name, stateRows: o.metrics.stateRows, stateBytes: o.metrics.stateBytes, lateRowsDropped: o.metrics.lateRowsDropped })),
        partitions: parts.map((p) => ({ ...(p.input ? { input: p.input } : {}), topic: p.topic, partition: p.partition, offset: p.offset, endOffset: Number.isFinite(p.endOffset) ? p.endOffset : null, lag: Number.isFinite(p.lag) ? p.lag : null })),
        source: inputs.status(),
      };
    },
    checkpoint: () => epochs.checkpoint(),
    async destroy() { await ckpt.destroy(); },
  };
}

export function queryDir(dataDir: string, id: string): string {
  return path.join(dataDir, 'queries', id);
}

export { rowsBatch };
