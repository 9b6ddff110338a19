/**
 * Push: results as they change, for Server-Sent Events and the CLI.
 *
 * - A view feed follows a materialized view's query table: a snapshot, then the changes of every
 *   committed epoch. It keeps a bounded buffer of recent epochs so a client that reconnects with the
 *   last epoch it saw (SSE `Last-Event-ID`) gets exactly the changes it missed, or a fresh snapshot
 *   when they are no longer buffered.
 * - A push query is an ad-hoc `SELECT … EMIT CHANGES` over a source: a transient query with no
 *   durable state (no checkpoint log, nothing in the catalog) that emits its output every epoch and
 *   removes its consumer group when it stops.
 */
import type { RecordBatch } from 'apache-arrow';
import { sourceColumnsUsed } from '../planner/physical.ts';
import { createFetchedDecoder, type FetchedMessages } from '../connectors/formats/packed.ts';
import { deleteGroup } from '../connectors/kafka/admin.ts';
import type { Log } from '../connectors/kafka/client.ts';
import { createKafkaSource } from '../connectors/kafka/source.ts';
import type { SourceReader } from '../connectors/source.ts';
import type { QueryTable, TableChange } from '../connectors/table/query-table.ts';
import { createPipeline } from '../executor/pipeline.ts';
import { batchRows, rowObject } from '../executor/rows.ts';
import { maxTimestamp, WatermarkTracker } from '../executor/watermark.ts';
import type { PhysicalPlan, Schema, SourceDef } from '../planner/index.ts';

export type ChangeOp = 'insert' | 'upsert' | 'delete';

/** One change as clients see it: the row as JSON (TIMESTAMP as ISO-8601 UTC with ms). */
export interface RowChange {
  readonly op: ChangeOp;
  readonly row: Record<string, unknown>;
}

export type FeedEvent =
  | { readonly kind: 'snapshot'; readonly epoch: number; readonly rows: readonly Record<string, unknown>[] }
  | { readonly kind: 'changes'; readonly epoch: number; readonly changes: readonly RowChange[] }
  /** The view is gone (dropped): no more events. */
  | { readonly kind: 'end'; readonly reason: string };

export interface ViewFeed {
  readonly table: QueryTable;
  /**
   * Subscribes from `lastEpoch` (the last epoch the client saw, or null for a new client). Events
   * due at once (snapshot or buffered epochs) are delivered synchronously before this returns.
   * Returns the unsubscribe function.
   */
  subscribe(lastEpoch: number | null, send: (e: FeedEvent) => void): () => void;
  readonly subscribers: number;
  /** Stops following the table and ends every subscriber's stream. */
  close(reason?: string): void;
}

export interface ViewFeedOptions {
  /** Epochs kept for resumption (default 200). */
  readonly maxEpochs?: number;
  /** Changes kept for resumption over all buffered epochs (default 20 000). */
  readonly maxChanges?: number;
}

/** Formats committed table changes for clients: only the view's visible columns. */
export function formatChanges(schema: Schema, visible: number, changes: readonly TableChange[]): RowChange[] {
  return changes.map((c) => ({ op: c.op, row: rowObject(schema, c.row, visible) }));
}

export function createViewFeed(table: QueryTable, visibleCount: number, opts: ViewFeedOptions = {}): ViewFeed {
  const maxEpochs = opts.maxEpochs ?? 200;
  const maxChanges = opts.maxChanges ?? 20_000;
  const buffer: { epoch: number; changes: RowChange[] }[] = [];
  let buffered = 0;
  // Every epoch after `coveredFrom` is in the buffer (epochs without changes have no entry).
  let coveredFrom = table.epoch;
  const listeners = new Set<(e: FeedEvent) => void>();

  const unsubscribe = table.subscribe((epoch, changes) => {
    const formatted = formatChanges(table.schema, visibleCount, changes);
    buffer.push({ epoch, changes: formatted });
    buffered += formatted.length;
    while (buffer.length > maxEpochs || (buffered > maxChanges && buffer.length > 1)) {
      const old = buffer.shift()!;
      buffered -= old.changes.length;
      coveredFrom = old.epoch;
    }
    const ev: FeedEvent = { kind: 'changes', epoch, changes: formatted };
    for (const l of [...listeners]) l(ev);
  });

  const snapshot = (): FeedEvent => ({
    kind: 'snapshot',
    epoch: table.epoch,
    rows: table.rows().map((r) => rowObject(table.schema, r, visibleCount)),
  });

  return {
    table,
    get subscribers() { return listeners.size; },
    subscribe(lastEpoch, send) {
      if (lastEpoch !== null && lastEpoch >= coveredFrom && lastEpoch <= table.epoch) {
        for (const b of buffer) if (b.epoch > lastEpoch) send({ kind: 'changes', epoch: b.epoch, changes: b.changes });
      } else {
        send(snapshot());
      }
      listeners.add(send);
      return () => { listeners.delete(send); };
    },
    close(reason = `view ${table.name} was dropped`) {
      unsubscribe();
      const ls = [...listeners];
      listeners.clear();
      for (const l of ls) l({ kind: 'end', reason });
    },
  };
}

// ---- ad-hoc push queries ------------------------------------------------------------------------

export type StartFrom = 'latest' | 'earliest';

export interface PushQueryConfig {
  readonly id: string;
  readonly plan: PhysicalPlan;
  readonly visibleCount: number;
  readonly brokers: readonly string[];
  readonly log: Log;
  /**
   * Where to start reading. Default (ksqlDB's semantics): the latest offsets, unless the source
   * declares its own 'scan.startup.mode', which then applies.
   */
  readonly startFrom?: StartFrom;
  /** Epoch length: output is emitted at each epoch's end (default 200 ms). */
  readonly intervalMs?: number;
  /** Called with each epoch's output (never empty). */
  onChanges(epoch: number, changes: readonly RowChange[]): void;
  /** Called once if the query fails; it is stopped already. */
  onError(e: Error): void;
}

export interface PushQuery {
  readonly id: string;
  readonly groupId: string;
  readonly startedAt: number;
  stats(): { readonly inputRows: number; readonly outputRows: number; readonly malformedRows: number; readonly lateRowsDropped: number; readonly epoch: number };
  /** True once the start offsets are fixed: events produced from then on are seen. */
  positioned(): boolean;
  /** Stops reading and deletes the consumer group; idempotent. */
  stop(): Promise<void>;
}

/** The source definition a push query reads: its startup mode resolved as described in {@link PushQueryConfig.startFrom}. */
export function pushSourceDef(def: SourceDef, startFrom?: StartFrom): SourceDef {
  // 'group-offsets' is the planner's default when the source sets no 'scan.startup.mode'.
  const mode = startFrom ?? (def.options.startupMode === 'group-offsets' ? 'latest' : def.options.startupMode);
  return { ...def, options: { ...def.options, startupMode: mode } };
}

const partKey = (t: string, p: number) => `${t}:${p}`;
const sleep = (ms: number) => new Promise<void>((r) => { setTimeout(r, ms).unref?.(); });

export async function startPushQuery(cfg: PushQueryConfig): Promise<PushQuery> {
  const { plan } = cfg;
  if (plan.source.kind !== 'kafka_source') throw new Error('a push query reads a source');
  const def = pushSourceDef(plan.source.source, cfg.startFrom);
  const brokers = def.options.bootstrapServers ? def.options.bootstrapServers.split(',') : [...cfg.brokers];
  const groupId = `streamsql-push-${cfg.id}`;
  const used = sourceColumnsUsed(plan);
  const decode = createFetchedDecoder(def, used);
  const tracker = new WatermarkTracker(def.watermark?.delayMs ?? 0, def.options.idleTimeoutMs);
  const wmIndex = def.watermark?.index ?? -1;
  const schema = plan.schema;
  const keyed = plan.ops.some((o) => o.kind === 'window_aggregate' || o.kind === 'updating_aggregate');

  let pending: RowChange[] = [];
  let epoch = 0;
  let watermark = -Infinity;
  let inputRows = 0; let outputRows = 0; let malformedRows = 0; let lateRows = 0;
  let stopped = false;
  let stopping: Promise<void> | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T> | T): Promise<T> => {
    const r = chain.then(f);
    chain = r.catch(() => undefined);
    return r;
  };

  const pipeline = createPipeline(plan.ops, {
    batch(b: RecordBatch, ops: Int8Array | null) {
      const rows = batchRows(b, schema);
      for (let i = 0; i < rows.length; i++) {
        const op: ChangeOp = ops !== null && ops[i]! < 0 ? 'delete' : keyed ? 'upsert' : 'insert';
        pending.push({ op, row: rowObject(schema, rows[i]!, cfg.visibleCount) });
      }
    },
  }, { onLate: (l) => { lateRows += l.rows.length; } });

  const source: SourceReader = createKafkaSource({ brokers, def, groupId, log: cfg.log, columns: used });

  const advanceWatermark = () => {
    if (wmIndex < 0) return;
    const w = tracker.current(Date.now());
    if (w > watermark) { watermark = w; pipeline.push({ kind: 'watermark', time: w }); }
  };

  const fail = (e: Error) => {
    if (stopped) return;
    void stop();
    cfg.onError(e);
  };

  async function handle(raw: FetchedMessages): Promise<void> {
    await serial(() => {
      if (stopped) return;
      const d = decode(raw);
      if (d.malformed.length) {
        malformedRows += d.malformed.length;
        // A transient query never dead-letters: the source's continuous queries already do.
        if (def.options.onError === 'fail') {
          const m = d.malformed[0]!;
          throw new Error(`malformed message at ${raw.topic}[${raw.partition}] offset ${m.offset}: ${m.error}`);
        }
      }
      if (d.batch) {
        const n = d.batch.numRows;
        if (wmIndex >= 0) tracker.observe(partKey(raw.topic, raw.partition), maxTimestamp(d.batch, wmIndex), Date.now());
        pipeline.push({ kind: 'batch', batch: d.batch, ops: d.ops ?? null });
        inputRows += n;
      }
      advanceWatermark();
    }).catch((e) => fail(e as Error));
  }

  // Each tick ends an epoch: EMIT CHANGES operators flush the groups changed in it at the barrier.
  const timer = setInterval(() => {
    void serial(() => {
      if (stopped) return;
      advanceWatermark();
      const e = epoch + 1;
      pipeline.push({ kind: 'barrier', epoch: e });
      epoch = e;
      if (pending.length === 0) return;
      const out = pending;
      pending = [];
      outputRows += out.length;
      cfg.onChanges(e, out);
    }).catch((e) => fail(e as Error));
  }, cfg.intervalMs ?? 200);

  function stop(): Promise<void> {
    if (stopping) return stopping;
    stopped = true;
    clearInterval(timer);
    stopping = (async () => {
      await source.stop();
      // A start still under way may connect a consumer after the first stop: wait for it, stop again.
      await Promise.race([started, sleep(10_000)]);
      await source.stop();
      await serial(() => undefined);
      // The source removes its own reader group; should the query's group exist (nothing commits
      // to it), a transient query leaves none behind either.
      await deleteGroup(brokers, groupId).catch(() => false);
    })();
    return stopping;
  }

  let positioned = false;
  const started = source.start([], handle, {
    onPartitions: (parts) => { positioned = true; for (const p of parts) if (p.lag > 0) tracker.expect(partKey(p.topic, p.partition)); },
  }).catch((e) => fail(e as Error));

  return {
    id: cfg.id,
    groupId,
    startedAt: Date.now(),
    stats: () => ({ inputRows, outputRows, malformedRows, lateRowsDropped: lateRows, epoch }),
    positioned: () => positioned,
    stop,
  };
}
