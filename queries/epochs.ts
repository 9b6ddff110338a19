/**
 * The epoch protocol of a continuous query (exactly-once), on top of the driver:
 *
 *   offsets/<n> written ahead → barrier into the graph → graph snapshot, the view's rows and the view
 *   inputs' mirrors written as state → the Kafka sink's transaction (records + input 0's offsets, tagged
 *   with the epoch) → commit marker → offsets committed to the other inputs' groups → old epochs pruned.
 *
 * Restore takes the newest committed, intact epoch; an epoch with complete state whose sink transaction
 * committed but whose marker is missing is rolled forward (`resolvePending`), never replayed. The
 * checkpoint format is the runner's since graph state: node tables + `meta.graph`, `tracker` (input 0)
 * and `trackers` (several inputs), `views`, `counters`; chains written before graph state restore by
 * chain position (`op-i`).
 */
import type { RecordBatch } from 'apache-arrow';
import type { Log } from '../connectors/kafka/client.ts';
import type { SinkWriter, SourcePosition } from '../connectors/source.ts';
import type { QueryTable } from '../connectors/table/query-table.ts';
import { fromEpochState, toEpochState } from '../executor/graph-state.ts';
import { batchRows } from '../executor/rows.ts';
import { splitChanges } from '../connectors/table/table-changes.ts';
import type { WatermarkState } from '../executor/watermark.ts';
import type { CheckpointLog, LatestEpoch, PendingEpoch } from './checkpoint-log.ts';
import { crashPoint } from './crash-points.ts';
import type { Driver } from './driver.ts';
import { ofInput, partKey, type KafkaInputs, type TaggedPosition } from './kafka-inputs.ts';
import type { ViewInput } from './view-input.ts';

/**
 * What the epoch protocol writes through: the runner's checkpoint log on disk, or a scale-out task's
 * state-topic log (queries/cluster/task-state.ts), whose state goes out in the sink's transaction.
 */
export type EpochLog = Pick<CheckpointLog, 'writeOffsets' | 'writeState' | 'commit' | 'prune' | 'discardAfter'>;

export interface EpochsConfig {
  readonly name: string;
  readonly log: Log;
  readonly ckpt: EpochLog;
  readonly keepEpochs: number;
  readonly groupId: string;
  readonly driver: Driver;
  readonly inputs: KafkaInputs;
  readonly views: readonly ViewInput[];
  readonly table?: QueryTable;
  /**
   * Whether the view's table may be written as deltas after a base (checkpoint-log chains; default true).
   * A log that keeps only the newest epoch (a task's state record) needs it whole every time.
   */
  readonly incrementalTable?: boolean;
  readonly sink: SinkWriter | null;
  /** More state of the caller's, saved in every epoch's meta (JSON) and given back on restore (a task's exchanges). */
  readonly extra?: { save(): Record<string, unknown>; restore(meta: Readonly<Record<string, unknown>>): void };
  /** The counters saved with every epoch, and given back on restore. */
  counters(): Record<string, number>;
  restoreCounters(c: Record<string, number>): void;
  /** Runs `f` in the query's serial order (between two batches). */
  serial<T>(f: () => Promise<T> | T): Promise<T>;
  /** False once the query failed or a batch was torn: nothing may be checkpointed then. */
  canCheckpoint(): boolean;
  stopped(): boolean;
  setError(message: string): void;
}

export interface LastCheckpoint { readonly epoch: number; readonly durationMs: number; readonly time: string }

export interface Epochs {
  /** The last committed epoch. */
  readonly epoch: number;
  /** Input since the last epoch began. */
  dirty: boolean;
  /** An epoch whose state is durable but whose sink commit or marker has not succeeded yet. */
  readonly inflight: boolean;
  readonly running: boolean;
  readonly lastCheckpoint: LastCheckpoint | null;
  readonly checkpointFailures: number;
  readonly consecutiveFailures: number;
  readonly restoredFrom: number | null;
  readonly rolledForward: number | null;
  readonly skipped: readonly { epoch: number; reason: string }[];
  /** Whether the checkpoint timer should start one now. */
  due(): boolean;
  /** Runs a checkpoint (serialized with the batches); a failure is counted and retried with backoff. */
  checkpoint(): Promise<void>;
  /** Rolls a pending exactly-once epoch forward when its sink transaction committed; true when it did. */
  resolvePending(pend: PendingEpoch | null): Promise<boolean>;
  /** Loads the epoch found (graph, views, trackers, counters, table); returns the positions to read from. */
  restore(found: LatestEpoch): Promise<(SourcePosition & { input?: number })[]>;
}

/** Change rows beyond the table's size allowed before the table is written whole again. */
const FULL_TABLE_SLACK = 10_000;

export function createEpochs(cfg: EpochsConfig): Epochs {
  const { ckpt, driver, inputs, views, sink: kafkaSink } = cfg;
  const graph = driver.graph;
  const first = inputs.first;
  let epoch = 0;
  let dirty = false;
  let inflight: { e: number; positions: TaggedPosition[]; sums: Record<string, string>; t0: number } | null = null;
  let running = false;
  let lastCheckpoint: LastCheckpoint | null = null;
  let checkpointFailures = 0;
  let consecutiveFailures = 0;
  let retryAt = 0;
  let restoredFrom: number | null = null;
  let rolledForward: number | null = null;
  let skipped: { epoch: number; reason: string }[] = [];
  /** The epoch the view's table was last written whole at (null: write it whole next), and the change rows since. */
  let tableBase: number | null = null;
  let sinceBase = 0;

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
    inputs.startEpochAt(f.positions);
    lastCheckpoint = { epoch: f.e, durationMs: Date.now() - f.t0, time: new Date().toISOString() };
    // Exactly-once sinks committed the offsets inside their transaction (unless the sink is on another
    // cluster than the sources: then its transaction holds only the epoch tag); the rest are committed here.
    for (const i of inputs.list) {
      if (i === first && kafkaSink && (kafkaSink.positionsInTransaction ?? kafkaSink.exactlyOnce)) continue;
      await i.source.commit(ofInput(f.positions, i.index), f.e).catch((e) => cfg.log('warn', `query ${cfg.name}: cannot commit offsets to group ${i.groupId}: ${(e as Error).message}`));
    }
    await ckpt.prune(cfg.keepEpochs);
  }

  async function checkpointNow(): Promise<void> {
    if (inflight) {
      await finishEpoch();
      if (!dirty) return;
    }
    const t0 = Date.now();
    const e = epoch + 1;
    const positions = inputs.positions();
    const watermark = driver.watermark();
    await ckpt.writeOffsets({
      epoch: e,
      ranges: positions.map((p) => ({
        ...(p.input ? { input: p.input } : {}),
        topic: p.topic, partition: p.partition, from: inputs.byIndex(p.input)!.epochStart.get(partKey(p.topic, p.partition)) ?? p.offset, to: p.offset,
      })),
      watermark: Number.isFinite(watermark) ? watermark : null,
      time: t0,
    });
    crashPoint('after-offsets', e, cfg.name, cfg.log);
    driver.barrier(e);
    // Operator state as named tables per graph node (executor/graph-state.ts), under the plan's fingerprint.
    const graphState = toEpochState(graph.snapshot(e));
    const committed = cfg.table?.commitEpoch(e, watermark) ?? null;
    const changed = committed?.size ?? 0;
    const batches: Record<string, RecordBatch | null> = { ...graphState.batches };
    // The view's rows: whole at a base epoch, then each epoch's changes only (checkpoint-log.ts ChainMeta),
    // until the changes since the base outgrow the table: restore reads at most about twice the table.
    const table = cfg.table;
    const full = table !== undefined && (cfg.incrementalTable === false || tableBase === null || sinceBase + changed > table.size + FULL_TABLE_SLACK);
    if (table) {
      if (full) batches.table = table.size ? table.batch() : null;
      else if (changed) batches['table-delta'] = committed!.delta();
    }
    for (const v of views) batches[v.stateName] = v.snapshot();
    const trackers = driver.trackerStates();
    const meta = {
      ...graphState.meta,
      ...(first ? { tracker: trackers[0] } : {}),
      ...(inputs.list.length > 1 ? { trackers } : {}),
      ...(views.length ? { views: views.map((v) => ({ input: v.index, epoch: v.seenEpoch })) } : {}),
      counters: cfg.counters(),
      ...(cfg.extra?.save() ?? {}),
      ...(table ? { chains: { table: { base: full ? e : tableBase! } } } : {}),
    };
    let sums: Record<string, string>;
    try {
      sums = await ckpt.writeState(e, { batches, meta });
    } catch (err) {
      // The table committed these changes already; the retry writes it whole rather than lose them.
      tableBase = null;
      throw err;
    }
    if (full) { tableBase = e; sinceBase = 0; } else sinceBase += changed;
    crashPoint('after-state', e, cfg.name, cfg.log);
    // From here the epoch is fixed: a failure retries its tail, never recomputes it.
    inflight = { e, positions, sums, t0 };
    dirty = false;
    await finishEpoch();
  }

  function checkpoint(): Promise<void> {
    running = true;
    return cfg.serial(async () => {
      if (!cfg.canCheckpoint()) return;
      try {
        await checkpointNow();
        if (consecutiveFailures) cfg.log('info', `query ${cfg.name}: checkpoints succeed again (epoch ${epoch})`);
        consecutiveFailures = 0;
      } catch (e) {
        checkpointFailures++;
        consecutiveFailures++;
        // Back off while the broker (or disk) is away; the epoch's input stays in memory meanwhile.
        retryAt = Date.now() + Math.min(5000, 100 * 2 ** consecutiveFailures);
        const msg = `checkpoint failed: ${(e as Error).message}`;
        cfg.setError(msg);
        cfg.log('warn', `query ${cfg.name}: ${msg}`);
      }
    }).finally(() => { running = false; });
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
      if (cfg.stopped()) return false;
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
        cfg.setError(`cannot read the committed epoch from group ${cfg.groupId}: ${(e as Error).message}`);
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
      graph.restore(fromEpochState(st, ['table', 'table-delta', ...views.map((v) => v.stateName)]));
      for (const v of views) v.restore(st.batches[v.stateName] ?? null);
    } else {
      const pipeline = driver.pipeline;
      if (!pipeline) throw new Error('this checkpoint predates dataflow graphs and cannot restore a query with several inputs');
      // A checkpoint written before graph state: one batch per chain position.
      const metas = (st.meta.ops as Record<string, unknown>[] | undefined) ?? [];
      pipeline.restore(metas.map((m, i) => ({ batch: st.batches[`op-${i}`] ?? null, meta: m })));
    }
    driver.restoreTrackers((st.meta.trackers as WatermarkState[] | undefined) ?? [st.meta.tracker as WatermarkState]);
    cfg.restoreCounters((st.meta.counters ?? {}) as Record<string, number>);
    cfg.extra?.restore(st.meta);
    if (cfg.table) {
      const w = restored.offsets.watermark ?? -Infinity;
      const chain = restored.chains.table;
      // Before chains the table was written whole at every epoch.
      const base = chain ? chain.base : st.batches.table ?? null;
      const schema = cfg.table.schema;
      cfg.table.load(base ? batchRows(base, schema) : [], restored.epoch, w);
      for (const d of chain?.deltas ?? []) {
        const { batch, ops } = splitChanges(schema, d.batch);
        cfg.table.replay(batch, ops, d.epoch);
      }
      // After replayed deltas, loaded again so their epoch and watermark are the restored one's.
      if (chain?.deltas.length) cfg.table.load(cfg.table.rows(), restored.epoch, w);
      // The chain continues from the restored epoch's base: the next epoch may write a delta again.
      const cm = (st.meta.chains as Record<string, { base: number }> | undefined)?.table;
      tableBase = cm ? cm.base : null;
      sinceBase = chain ? chain.deltas.reduce((n, d) => n + d.batch.numRows, 0) : 0;
    }
    epoch = restored.epoch;
    restoredFrom = restored.epoch;
    const pos = restored.offsets.ranges.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.to, input: r.input ?? 0 }));
    inputs.startEpochAt(pos);
    return pos;
  }

  return {
    get epoch() { return epoch; },
    get dirty() { return dirty; },
    set dirty(v: boolean) { dirty = v; },
    get inflight() { return inflight !== null; },
    get running() { return running; },
    get lastCheckpoint() { return lastCheckpoint; },
    get checkpointFailures() { return checkpointFailures; },
    get consecutiveFailures() { return consecutiveFailures; },
    get restoredFrom() { return restoredFrom; },
    get rolledForward() { return rolledForward; },
    get skipped() { return skipped; },
    due: () => (dirty || inflight !== null) && !running && Date.now() >= retryAt,
    checkpoint,
    resolvePending,
    restore,
  };
}
