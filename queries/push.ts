/**
 * Push: results as they change, for Server-Sent Events and the CLI.
 *
 * - A view feed follows a materialized view's query table: a snapshot, then the changes of every
 *   committed epoch. It keeps a bounded buffer of recent epochs so a client that reconnects with the
 *   last epoch it saw (SSE `Last-Event-ID`) gets exactly the changes it missed, or a fresh snapshot
 *   when they are no longer buffered.
 * - A push query is an ad-hoc `SELECT … EMIT CHANGES` over sources (one, a UNION ALL of several, a
 *   join): a transient query with no durable state (no checkpoint log, nothing in the catalog) that
 *   runs through the same driver as continuous queries (queries/driver.ts), emits its output every
 *   epoch and removes its consumer groups when it stops.
 */
import type { RecordBatch } from 'apache-arrow';
import { isChain } from '../planner/physical.ts';
import type { FetchedMessages } from '../connectors/formats/packed.ts';
import { deleteGroup } from '../connectors/kafka/admin.ts';
import type { Log } from '../connectors/kafka/client.ts';
import type { QueryTable, TableChange } from '../connectors/table/query-table.ts';
import { batchRows, rowObject } from '../executor/rows.ts';
import type { PhysicalPlan, Schema, SourceDef } from '../planner/index.ts';
import { createDriver, planInputs } from './driver.ts';
import { brokersOf, createKafkaInputs, partKey, type KafkaInput } from './kafka-inputs.ts';
import { malformedPolicy } from './malformed.ts';

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

const sleep = (ms: number) => new Promise<void>((r) => { setTimeout(r, ms).unref?.(); });

/**
 * Starts a push query: the driver (queries/driver.ts) over one Kafka source reader per input of its
 * graph (a chain, a UNION ALL of sources, a join of sources), each read from `startFrom`; every
 * `intervalMs` a barrier ends an epoch and its output goes to `onChanges`.
 */
export async function startPushQuery(cfg: PushQueryConfig): Promise<PushQuery> {
  const { plan } = cfg;
  if (!plan.sources.length || plan.sources.some((s) => s.kind !== 'kafka_source')) throw new Error('a push query reads sources');
  const groupId = `streamsql-push-${cfg.id}`;
  const schema = plan.schema;
  const sinkNode = plan.graph.nodes.find((n) => n.role === 'sink');
  const keyed = isChain(plan)
    ? plan.ops.some((o) => o.kind === 'window_aggregate' || o.kind === 'updating_aggregate')
    : sinkNode?.stream.kind === 'changelog';

  let pending: RowChange[] = [];
  let epoch = 0;
  let outputRows = 0;
  let stopped = false;
  let stopping: Promise<void> | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T> | T): Promise<T> => {
    const r = chain.then(f);
    chain = r.catch(() => undefined);
    return r;
  };

  const driver = createDriver({
    plan,
    inputs: planInputs(plan).map((s) => (s.kind === 'source' ? { ...s, def: pushSourceDef(s.def, cfg.startFrom) } : s)),
    sink: {
      batch(b: RecordBatch, ops: Int8Array | null) {
        const rows = batchRows(b, schema);
        for (let i = 0; i < rows.length; i++) {
          const op: ChangeOp = ops !== null && ops[i]! < 0 ? 'delete' : keyed ? 'upsert' : 'insert';
          pending.push({ op, row: rowObject(schema, rows[i]!, cfg.visibleCount) });
        }
      },
    },
    // A transient query never dead-letters: the source's continuous queries already do.
    onMalformed: malformedPolicy(),
  });
  const inputs = createKafkaInputs(driver.inputs, { brokers: cfg.brokers, groupId, name: `push ${cfg.id}`, log: cfg.log });

  const fail = (e: Error) => {
    if (stopped) return;
    void stop();
    cfg.onError(e);
  };

  const handle = (i: KafkaInput) => async (raw: FetchedMessages): Promise<void> => {
    await serial(async () => {
      if (stopped) return;
      await driver.fetched(i.index, raw);
      driver.advance();
    }).catch((e) => fail(e as Error));
  };

  // Each tick ends an epoch: EMIT CHANGES operators flush the groups changed in it at the barrier.
  const timer = setInterval(() => {
    void serial(() => {
      if (stopped) return;
      driver.advance();
      const e = epoch + 1;
      driver.barrier(e);
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
      await inputs.stopAll();
      // A start still under way may connect a consumer after the first stop: wait for it, stop again.
      await Promise.race([started, sleep(10_000)]);
      await inputs.stopAll();
      await serial(() => undefined);
      // The sources remove their own reader groups; should the query's groups exist (nothing commits
      // to them), a transient query leaves none behind either.
      await Promise.all(inputs.list.map((i) => deleteGroup(brokersOf(i.def, cfg.brokers), i.groupId).catch(() => false)));
    })();
    return stopping;
  }

  // Positioned once every input knows where it starts.
  const positionedInputs = new Set<number>();
  const started = Promise.all(inputs.list.map((i) => i.source.start([], handle(i), {
    onPartitions: (parts) => { positionedInputs.add(i.index); for (const p of parts) if (p.lag > 0) driver.expect(i.index, partKey(p.topic, p.partition)); },
  }))).catch((e) => fail(e as Error));

  return {
    id: cfg.id,
    groupId,
    startedAt: Date.now(),
    stats: () => ({ inputRows: driver.counters.inputRows, outputRows, malformedRows: driver.counters.malformedRows, lateRowsDropped: driver.counters.lateRows, epoch }),
    positioned: () => positionedInputs.size === inputs.list.length,
    stop,
  };
}
