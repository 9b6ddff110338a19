/**
 * One task of a continuous query in a cluster (issue 17): the query's graph over one partition group
 * of its Kafka inputs (task `<query>#p` reads partition p of every input topic), with its own driver,
 * its own epochs and its own exactly-once transaction. Made of the runner's parts, not a copy of them:
 *
 *   queries/driver.ts        the ingest loop (one per task)
 *   queries/kafka-inputs.ts  one source reader per input, narrowed to the task's partitions
 *   queries/sink-output.ts   the query table or Kafka records, with the task's transactional id
 *   queries/epochs.ts        the epoch protocol, writing through the task's state log (task-state.ts)
 *
 * Exactly-once across owners. The transactional id is `_streamsql-<clusterId>-<query>-<task>`. Each
 * epoch's one transaction carries the task's output records, its state record (graph snapshot, input
 * offsets, watermark trackers, counters) to the compacted `_streamsql-<clusterId>-<query>-state`
 * keyed by task id, and input 0's offsets to the task's group. On start the task first initialises
 * its producer (InitProducerId bumps the producer epoch: the previous owner, dead or a zombie, is
 * fenced and its open transaction aborted), then reads the newest committed state record
 * (read_committed) and restores it, then reads its inputs from the offsets in it. A view sink (no
 * Kafka output) still commits its state in a transaction of its own.
 *
 * A failed commit is never retried by the same task: the sink would initialise a new producer, which
 * could fence a legitimate new owner and then commit stale work after it. The task is `lost` instead
 * (as Kafka Streams closes a task dirty on a fenced or uncertain commit): it stops reading, and
 * whoever owns it next (TaskHost, or the same host after re-assignment) starts it fresh from the
 * state topic, where the truth about that commit is.
 *
 * A sink on another Kafka cluster (a 'single' task): the state topic and the transaction are on the
 * sink's cluster (`stateClusterOf`), so output and state still commit together.
 *
 * Scope: the plan must be partition-local (task-partitioning.ts); one that needs a repartition
 * exchange is refused at creation unless `hasExchange` says the planner put one in.
 */
import { countOf, type FetchedMessages } from '../../connectors/formats/packed.ts';
import type { Log } from '../../connectors/kafka/client.ts';
import { createKafkaSink, SideOutputAborted } from '../../connectors/kafka/sink.ts';
import type { TopicPartition } from '../../connectors/kafka/source.ts';
import { ensureStateTopic, readLatestStates, statePartition, stateTopicName } from '../../connectors/kafka/state-topic.ts';
import type { SinkWriter } from '../../connectors/source.ts';
import type { QueryTable } from '../../connectors/table/query-table.ts';
import type { GraphSink } from '../../executor/graph.ts';
import type { QueryOptions } from '../../planner/catalog.ts';
import type { PhysicalPlan } from '../../planner/physical.ts';
import { createDriver, planInputs } from '../driver.ts';
import { createEpochs } from '../epochs.ts';
import { createKafkaInputs, ofInput, partKey, type KafkaInput } from '../kafka-inputs.ts';
import { malformedPolicy } from '../malformed.ts';
import { createSideOutputs } from '../side-outputs.ts';
import { createSinkOutput } from '../sink-output.ts';
import { checkTaskPlan, TaskPlanError } from './task-partitioning.ts';
import { otherCluster } from './placement.ts';
import { assembleTaskState, createTaskStateLog, decodeTaskState } from './task-state.ts';
import { taskGraph } from './task-graph.ts';
import { createTaskExchanges, type ChangesIn, type ChangesOut, type ExchangesState, type ExchangeTotals } from './task-exchanges.ts';
import type { ExchangePlan } from '../../planner/exchange.ts';
import { STOP_CHECKPOINT_MS, STOP_STEP_MS, within } from '../stop-bounds.ts';

export type TaskState = 'idle' | 'starting' | 'running' | 'stopped' | 'lost' | 'failed';

export interface TaskRunnerConfig {
  readonly clusterId: string;
  /** The query's name (state topic and transactional id are named after it). */
  readonly query: string;
  /** `<query>#<partition>` (queries/cluster/assignor.ts `taskId`). */
  readonly task: string;
  /** The continuous query's plan, as the runner receives it. */
  readonly plan: PhysicalPlan;
  /** The task's topic partitions (assignor `Task.parts`): each input reads those of its topics. */
  readonly parts: readonly TopicPartition[];
  readonly options: QueryOptions;
  readonly brokers: readonly string[];
  readonly log: Log;
  /** A view sink's table (the view's rows of this task's partitions). */
  readonly table?: QueryTable;
  /** The planner put a repartition exchange where the plan needs one (skips the partition-locality check). */
  readonly hasExchange?: boolean;
  /** Partitions of the state topic when this task creates it (default 1). */
  readonly stateTopicPartitions?: number;
  /**
   * The query's repartition exchanges (planner/exchange.ts, made with its source topics' partition
   * counts) and its task count: the task runs its graph cut at them (task-graph.ts), writing and reading
   * partition p of each repartition topic (task-exchanges.ts). The topics must exist.
   */
  /**
   * The query's only task (queries/cluster/placement.ts 'single': a topic pattern, another cluster's
   * topic): each input reads every partition of its topics, the views' changes topics included.
   */
  readonly single?: boolean;
  readonly exchanges?: {
    readonly plan: ExchangePlan; readonly tasks: number;
    /** The query is a keyed view run as tasks: its changes go to this topic (view-changes.ts). */
    readonly changes?: ChangesOut | null;
    /** Keyed views it reads, through their changes topics. */
    readonly views?: readonly ChangesIn[];
  };
}

export interface TaskStatus {
  readonly task: string;
  readonly state: TaskState;
  readonly lastError: string | null;
  /** The last committed epoch of this incarnation (restored epoch until it commits one). */
  readonly epoch: number;
  readonly restoredFromEpoch: number | null;
  readonly inputRows: number;
  /** Output rows committed by this incarnation. */
  readonly outputRows: number;
  /** From `start()` to the restored state being in the graph (fencing + state read + restore). */
  readonly restoreMs: number | null;
  /** Where that time went: state topic ensured, InitProducerId (fencing), state read, group coordinator (beyond the read), restore. */
  readonly startPhasesMs: Readonly<Record<string, number>>;
  /** From `start()` to the first committed epoch with output rows. */
  readonly firstOutputMs: number | null;
  /** Bytes of the state record read at start, and of the state-topic partition scanned to find it. */
  readonly restoredStateBytes: number;
  readonly stateBytesScanned: number;
  /** State bytes this incarnation committed, and the size of its last state record. */
  readonly stateBytesCommitted: number;
  readonly lastStateRecordBytes: number;
  readonly positions: readonly { input: number; topic: string; partition: number; offset: number }[];
  /** The task's watermark (event time, ms; null before it has one), late and malformed rows (restored counts included). */
  readonly watermark: number | null;
  readonly lateRows: number;
  readonly malformedRows: number;
  /** Repartition traffic of this incarnation (null without exchanges). */
  readonly exchange: ExchangeTotals | null;
}

export interface TaskRunner {
  readonly id: string;
  /** Fences the previous owner, restores the newest committed state, starts reading. */
  start(): Promise<void>;
  /**
   * Revocation. `checkpoint` (default true): the open epoch is committed first, so the next owner
   * resumes exactly here; false: it is dropped (its input is read again by the next owner).
   */
  stop(opts?: { checkpoint?: boolean }): Promise<void>;
  /** Commits an epoch now (tests, shutdown). */
  checkpoint(): Promise<void>;
  state(): TaskState;
  status(): TaskStatus;
}


/**
 * Where a task's state topic and transaction live: the service's cluster, or — for a sink on another
 * Kafka cluster — the sink's, since the epoch's one transaction (output records, state record, epoch
 * tag) can only span one cluster, and the output has to be in it. Then the task's transactional id
 * fences a zombie on the sink's cluster, and its input offsets are committed to the sources' group
 * after each epoch (the state record holds the truth; the group shows lag).
 */
export function stateClusterOf(plan: PhysicalPlan, brokers: readonly string[]): { brokers: readonly string[]; properties: Readonly<Record<string, string>> | undefined; elsewhere: boolean } {
  if (plan.sink.kind !== 'kafka_sink' || !otherCluster(plan.sink.sink.bootstrapServers, brokers)) return { brokers, properties: undefined, elsewhere: false };
  return { brokers: plan.sink.sink.bootstrapServers!.split(','), properties: plan.sink.sink.properties, elsewhere: true };
}

/** The transactional id of a task: one per task, so a new owner's InitProducerId fences the old one. */
export const taskTransactionalId = (clusterId: string, query: string, task: string): string => `_streamsql-${clusterId}-${query}-${task}`;

export function createTaskRunner(cfg: TaskRunnerConfig): TaskRunner {
  const { plan } = cfg;
  if (!cfg.single) checkTaskPlan(plan, { hasExchange: cfg.hasExchange || cfg.exchanges !== undefined, query: cfg.query });
  const sc = stateClusterOf(plan, cfg.brokers);
  if (sc.elsewhere && !cfg.single) throw new TaskPlanError(`query ${cfg.query}: its sink writes to another Kafka cluster (${sc.brokers.join()}); it runs as a single task (placement.ts), not split`);
  const partition = Number(cfg.task.slice(cfg.task.lastIndexOf('#') + 1));
  const tg = cfg.exchanges?.plan.exchanges.length ? taskGraph(plan, cfg.exchanges.plan, cfg.exchanges.tasks) : null;
  const xc = cfg.exchanges;
  const ex = tg || xc?.changes || xc?.views?.length
    ? createTaskExchanges({ task: cfg.task, partition, tasks: xc!.tasks, exchanges: tg?.exchanges ?? [], changes: xc!.changes ?? null, views: xc!.views ?? [], single: cfg.single ?? false })
    : null;
  const specs = [...planInputs(plan), ...(tg?.exchanges.map((e) => ({ kind: 'changes' as const, index: e.input })) ?? [])];
  const stateTopic = stateTopicName(cfg.clusterId, cfg.query);
  const transactionalId = taskTransactionalId(cfg.clusterId, cfg.query, cfg.task);
  // The task's own group: its input-0 offsets and the epoch tag, per task (tasks' epochs are independent).
  const groupId = transactionalId;
  const stateLog = createTaskStateLog(cfg.task);
  let statePartitions = 1;
  const extraRecords = (epoch: number) => {
    const state = stateLog.recordsFor(epoch) ?? [];
    const partition = statePartition(cfg.task, statePartitions);
    // The exchanges' rows of the epoch travel in its transaction, with the state record that says they were sent.
    return [...(ex?.records(epoch, empty) ?? []), ...state.map((r) => ({ topic: stateTopic, messages: [{ key: r.key, value: r.value, partition }] }))];
  };
  const firstDef = specs.flatMap((s) => (s.kind === 'source' ? [s.def] : []))[0];
  const side = createSideOutputs({ brokers: cfg.brokers, id: cfg.task, name: cfg.task, log: cfg.log, properties: firstDef?.options.properties, lateTopic: cfg.options.lateTopic ?? null });
  const output = createSinkOutput(plan, { id: cfg.task, brokers: cfg.brokers, groupId, log: cfg.log, table: cfg.table, kafka: { transactionalId, exactlyOnce: true, extraRecords } });
  // Without Kafka output (a view), the state still commits in a transaction: a sink writer of the state topic carrying no records.
  const txn: SinkWriter = output.kafka ?? createKafkaSink({ brokers: cfg.brokers, topic: stateTopic, exactlyOnce: true, transactionalId, groupId, log: cfg.log, extraRecords });

  // Whether nothing feeds the writer behind a graph sink: each source input upstream of it had empty
  // partitions when the task started and has read no rows since, each exchange or view input upstream
  // of it has heard from every upstream task (none with event time, else the writer would have a
  // watermark). Then the writer says "no event time yet" (task-exchanges.ts), so the readers downstream
  // do not wait for this task, as an empty partition does not hold a source's watermark on one instance.
  let started = false;
  const ends = new Map<string, number>();
  const reported = new Set<number>();
  const rowsSeen = new Set<number>();
  const nodes = new Map((tg?.graph ?? plan.graph).nodes.map((n) => [n.id, n]));
  const feeding = (id: string, seen = new Set<string>()): number[] => {
    const n = nodes.get(id);
    if (!n || seen.has(id)) return [];
    seen.add(id);
    return n.role === 'source' ? [n.input] : n.inputs.flatMap((i) => feeding(i, seen));
  };
  const quiet = (index: number): boolean => {
    if (ex?.has(index)) return ex.settled(index);
    if (!reported.has(index) || rowsSeen.has(index)) return false;
    return inputs.positions().filter((p) => p.input === index).every((p) => p.offset >= (ends.get(`${p.input}|${partKey(p.topic, p.partition)}`) ?? 0));
  };
  const empty = (sink: string | null): boolean => started && feeding(sink ?? sinkId ?? '').every(quiet);
  let epochRows = 0;
  const tap = ex?.tap ?? null;
  // A view's rows also go to its changes topic (in the same epoch transaction), with its watermark.
  const counted: GraphSink = tap
    ? { batch(b, ops) { epochRows += b.numRows; output.sink.batch(b, ops); tap.batch(b, ops); }, watermark(t) { tap.watermark?.(t); } }
    : { batch(b, ops) { epochRows += b.numRows; output.sink.batch(b, ops); } };
  const sinkId = plan.graph.nodes.find((n) => n.role === 'sink')?.id;
  const driver = createDriver({
    plan, inputs: specs,
    ...(tg && sinkId ? { graph: tg.graph, sink: { ...ex!.sinks, [sinkId]: counted } } : { sink: counted }),
    onLate: (l) => side.onLate(l),
    onMalformed: malformedPolicy((def, fetched, d) => side.deadLetter(def, fetched, d)),
  });
  const mine = new Set(cfg.parts.map((p) => partKey(p.topic, p.partition)));
  const inputs = createKafkaInputs([...driver.inputs, ...(ex?.inputs ?? [])], {
    brokers: cfg.brokers, groupId, name: cfg.task, log: cfg.log,
    // A single task reads every partition (null), as a query's runner does.
    partitions: (i) => (cfg.single ? null : ex?.has(i.index) ? (i.def?.options.topics ?? []).map((topic) => ({ topic, partition }))
      : (i.def?.options.topics ?? []).flatMap((topic) => cfg.parts.filter((p) => p.topic === topic)).filter((p) => mine.has(partKey(p.topic, p.partition)))),
  });

  let state: TaskState = 'idle';
  let lastError: string | null = null;
  let stopped = false;
  let torn = false;
  let t0 = 0;
  let restoreMs: number | null = null;
  let firstOutputMs: number | null = null;
  let outputRows = 0;
  let restoredStateBytes = 0; let stateBytesScanned = 0;
  const phases: Record<string, number> = {};
  let lap = 0;
  const mark = (name: string) => { const t = performance.now(); phases[name] = Math.round(t - lap); lap = t; };
  let timer: NodeJS.Timeout | null = null;
  let idleTimer: NodeJS.Timeout | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T> | T): Promise<T> => {
    const r = chain.then(f);
    chain = r.catch(() => undefined);
    return r;
  };
  const clearTimers = () => { if (timer) clearInterval(timer); if (idleTimer) clearInterval(idleTimer); timer = idleTimer = null; };

  /** Stops reading without a checkpoint; the task's next incarnation resumes from the state topic. */
  function giveUp(to: 'lost' | 'failed', e: Error): void {
    if (state === 'lost' || state === 'failed') return;
    state = to;
    lastError = e.message;
    clearTimers();
    cfg.log(to === 'lost' ? 'warn' : 'error', `task ${cfg.task} ${to}: ${e.message}`);
    // Not awaited: called inside the serial chain, which the sources' handlers wait on.
    for (const i of inputs.list) void i.source.stop();
  }

  // The epochs' sink: every commit carries the state record (extraRecords); a failed one loses the task.
  const sink: SinkWriter = {
    ...txn,
    async commitEpoch(e, positions) {
      const rows = epochRows;
      try {
        await txn.commitEpoch(e, positions);
      } catch (err) {
        giveUp('lost', new Error(`epoch ${e} did not commit (${(err as Error).message}); fenced by a new owner, or its outcome is unknown`));
        throw err;
      }
      epochRows -= rows;
      outputRows += rows;
      if (rows > 0 && firstOutputMs === null) firstOutputMs = performance.now() - t0;
    },
  };

  const epochs = createEpochs({
    incrementalTable: false, // the state record keeps one epoch: the table goes whole
    name: cfg.task, log: cfg.log, ckpt: stateLog, keepEpochs: 1, groupId,
    driver, inputs, views: [], table: cfg.table, sink,
    counters: () => ({ inputRows: driver.counters.inputRows, malformedRows: driver.counters.malformedRows, lateRows: driver.counters.lateRows, deadLettered: side.counters.deadLettered, sideTruncated: side.counters.sideTruncated }),
    restoreCounters: (c) => {
      driver.counters.inputRows = c.inputRows ?? 0; driver.counters.malformedRows = c.malformedRows ?? 0; driver.counters.lateRows = c.lateRows ?? 0;
      side.counters.deadLettered = c.deadLettered ?? 0; side.counters.sideTruncated = c.sideTruncated ?? 0;
    },
    ...(ex ? { extra: { save: () => ({ exchanges: ex.state() }), restore: (m: Readonly<Record<string, unknown>>) => { ex.restore(m.exchanges as ExchangesState | undefined); ex.rewatermark(driver); } } } : {}),
    serial,
    canCheckpoint: () => state === 'running' && !torn,
    stopped: () => stopped,
    setError: (m) => { if (state === 'running') lastError = m; }, // a lost task keeps the reason it was lost
  });

  async function handle(input: KafkaInput, fetched: FetchedMessages): Promise<void> {
    await serial(async () => {
      if (stopped || state !== 'running') return;
      if (countOf(fetched) > 0) rowsSeen.add(input.index);
      if (ex?.has(input.index)) ex.fetched(input.index, fetched, driver);
      else await driver.fetched(input.index, fetched);
      driver.advance();
      await side.flushLate();
      epochs.dirty = true;
    }).catch((e) => {
      if (e instanceof SideOutputAborted) { torn = true; side.dropLate(); return; }
      giveUp('failed', e as Error);
    });
  }

  return {
    id: cfg.task,
    async start() {
      if (state !== 'idle') throw new Error(`task ${cfg.task} was started before; make a new runner for its next incarnation`);
      state = 'starting';
      t0 = lap = performance.now();
      try {
        statePartitions = await ensureStateTopic(sc.brokers, stateTopic, cfg.stateTopicPartitions ?? 1, cfg.log, sc.properties);
        mark('stateTopic');
        // InitProducerId first: from here the previous owner can commit nothing, so the state read next is final.
        await txn.connect!();
        mark('fence');
        // In parallel: the newest committed state, and the task group's coordinator asked once (retried while
        // it loads, e.g. on a fresh broker), so the first epoch's TxnOffsetCommit does not fail on it and lose the task.
        const topics = inputs.first?.def.options.topics ?? [];
        const coordinator = (async () => {
          for (let i = 0; topics.length && txn.committedEpoch; i++) {
            try { await txn.committedEpoch(topics); return; } catch (e) {
              if (i >= 20 || stopped) throw e;
              await new Promise((r) => setTimeout(r, 300));
            }
          }
        })();
        coordinator.catch(() => undefined);
        const read = await readLatestStates(sc.brokers, stateTopic, cfg.task, { log: cfg.log, properties: sc.properties });
        const value = assembleTaskState(cfg.task, read.values);
        mark('read');
        await coordinator;
        mark('coordinator');
        stateBytesScanned = read.bytesRead;
        restoredStateBytes = value?.length ?? 0;
        const from = await epochs.restore(value ? decodeTaskState(cfg.task, value) : { restored: null, skipped: [] });
        mark('restore');
        restoreMs = performance.now() - t0;
        started = true;
        if (stopped) return;
        state = 'running';
        timer = setInterval(() => {
          // An empty task commits one epoch to tell its exchanges' readers so.
          if (state === 'running' && !epochs.dirty && ex?.silent(empty)) epochs.dirty = true;
          if (state === 'running' && !torn && epochs.due()) void epochs.checkpoint();
        }, cfg.options.checkpointIntervalMs);
        idleTimer = setInterval(() => {
          if (inputs.list.some((i) => i.def.options.idleTimeoutMs !== null)) void serial(() => { if (state === 'running') driver.advance(); });
        }, 1000);
        for (const i of inputs.list) {
          i.source.start(ofInput(from, i.index), (f) => handle(i, f), {
            onPartitions: (parts) => {
              for (const p of parts) {
                ends.set(`${i.index}|${partKey(p.topic, p.partition)}`, p.offset + p.lag);
                if (p.lag > 0) driver.expect(i.index, partKey(p.topic, p.partition));
              }
              reported.add(i.index);
            },
            onFatal: (e) => serial(() => giveUp('failed', e)),
          }).catch((e) => giveUp('failed', e as Error));
        }
      } catch (e) {
        state = 'failed';
        lastError = (e as Error).message;
        await txn.close().catch(() => undefined);
        throw e;
      }
    },
    async stop(opts = {}) {
      const checkpoint = opts.checkpoint ?? true;
      clearTimers();
      const grace = setTimeout(() => side.abort(), checkpoint ? 2000 : 0);
      try {
        if (!(await within(inputs.stopAll(), STOP_STEP_MS))) { torn = true; cfg.log('warn', `task ${cfg.task}: its sources did not stop within ${STOP_STEP_MS} ms (no final checkpoint)`); }
        if (checkpoint && state === 'running' && !torn && (epochs.dirty || epochs.inflight)) {
          if (!(await within(epochs.checkpoint(), STOP_CHECKPOINT_MS))) cfg.log('warn', `task ${cfg.task}: the final epoch did not commit within ${STOP_CHECKPOINT_MS} ms; the next owner resumes from the one before`);
        }
        stopped = true;
        side.abort();
        await within(serial(() => undefined), STOP_STEP_MS);
        // The open epoch's records, if not committed, are dropped; nothing of them is visible (no transaction is open between commits).
        await txn.abortEpoch();
        await within(txn.close(), STOP_STEP_MS);
        await within(side.close(), STOP_STEP_MS);
      } finally {
        clearTimeout(grace);
        stopped = true;
      }
      if (state === 'running' || state === 'starting' || state === 'idle') state = 'stopped';
    },
    checkpoint: () => epochs.checkpoint(),
    state: () => state,
    status: () => ({
      task: cfg.task, state, lastError,
      epoch: epochs.epoch, restoredFromEpoch: epochs.restoredFrom,
      inputRows: driver.counters.inputRows, outputRows,
      watermark: Number.isFinite(driver.watermark()) ? driver.watermark() : null, lateRows: driver.counters.lateRows, malformedRows: driver.counters.malformedRows,
      restoreMs, startPhasesMs: { ...phases }, firstOutputMs, restoredStateBytes, stateBytesScanned,
      stateBytesCommitted: stateLog.bytesCommitted, lastStateRecordBytes: stateLog.lastRecordBytes,
      positions: inputs.positions().map((p) => ({ input: p.input, topic: p.topic, partition: p.partition, offset: p.offset })),
      exchange: ex ? { ...ex.totals } : null,
    }),
  };
}
