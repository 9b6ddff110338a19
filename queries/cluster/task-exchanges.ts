/**
 * The repartition exchanges of one task at run time (issue 17): the writers behind the graph's
 * `<x>-out` sinks and the readers behind its `<x>-in` inputs (queries/cluster/task-graph.ts cuts the
 * graph; connectors/kafka/exchange.ts encodes the rows). The task runner wires them in:
 *
 * - Writing: a batch reaching `<x>-out` is re-keyed into the writer's buffer at once; the task's
 *   newest watermark there is remembered. At the epoch's commit, `records(epoch)` closes the buffers,
 *   adds the watermark (when it advanced) after the epoch's rows and hands everything as produce
 *   requests to the epoch's transaction, next to the task's output and state record. So the rows of an
 *   epoch become visible downstream exactly when its state commits, and an aborted epoch's vanish.
 *   Watermarks travel once per epoch, not per fetch: a record on every partition per watermark step
 *   would cost more than the rows, and downstream cannot use it before the commit anyway.
 * - Reading: the task's partition p of each repartition topic is one more Kafka input of the task
 *   (read_committed by the native reader, positions in the task's state like any input). Its records
 *   decode straight into batches (Arrow IPC) and go into the graph input; upstream watermarks are
 *   tracked per upstream task, and the least of them (once every upstream task has spoken) is the
 *   input's watermark.
 * - State: the readers' per-task watermarks, the writers' row trackers (a changelog re-keyed by
 *   columns outside its key) and the last watermark written go into the task's state record.
 *
 * A keyed view's changes topic (queries/cluster/view-changes.ts) is one more of each: the view's tasks
 * write, through `tap` (the rows reaching the view's table), every change to it keyed by the view's key;
 * a task of a query reading the view reads its partition p of it (`views`) exactly like a repartition
 * topic, the upstream tasks being the view's.
 */
import type { RecordBatch } from 'apache-arrow';
import { isDecoded, isPacked, type FetchedMessages } from '../../connectors/formats/packed.ts';
import { ExchangeReader, ExchangeWriter, type ExchangeReaderState } from '../../connectors/kafka/exchange.ts';
import { ChangesReader, ChangesWriter } from '../../connectors/kafka/changes.ts';
import type { KafkaSourceOptions, SourceDef } from '../../planner/catalog.ts';
import type { GraphSink } from '../../executor/graph.ts';
import type { DriverInput } from '../driver.ts';
import type { TaskExchange } from './task-graph.ts';
import type { Schema } from '../../planner/types.ts';

export interface ExchangeTotals {
  /** Rows and bytes this task wrote into repartition topics (bytes as produced: deflated records). */
  writtenRows: number;
  writtenBytes: number;
  /** Rows and records it read from them. */
  readRows: number;
  readRecords: number;
}

/** A keyed view this task writes the changes of (the query is that view). */
export interface ChangesOut {
  readonly topic: string;
  readonly schema: Schema;
  readonly key: readonly number[];
  readonly partitions: number;
}

/** A keyed view's changes read as graph input `input` (the query reads that view). */
export interface ChangesIn {
  readonly input: number;
  readonly view: string;
  readonly topic: string;
  readonly schema: Schema;
  /** Partitions of the changes topic = the view's tasks (each writes its watermark to every partition). */
  readonly partitions: number;
}

export interface TaskExchanges {
  /** Graph sinks by node id (`<x>-out`). */
  readonly sinks: Readonly<Record<string, GraphSink>>;
  /** The view's changes writer, fed what reaches the view's table (null unless `changes`). */
  readonly tap: GraphSink | null;
  /** The Kafka inputs reading this task's partition of each repartition topic (for createKafkaInputs). */
  readonly inputs: readonly DriverInput[];
  /** Whether graph input `index` is an exchange's. */
  has(index: number): boolean;
  /** One fetch of an exchange input: its rows into the graph, its watermark when it advanced. */
  fetched(index: number, m: FetchedMessages, into: { batch(index: number, b: RecordBatch, ops: Int8Array | null): void; changesWatermark(index: number, w: number): void }): void;
  /** Pushes each reader's watermark again (after a restore). */
  rewatermark(into: { changesWatermark(index: number, w: number): void }): void;
  /**
   * The produce requests of epoch `epoch` (the same ones when asked again for the same epoch).
   * `empty(sinkId)`: nothing feeds the writer behind that graph sink (null: the view's sink) — its
   * inputs' partitions are empty, their upstream tasks have no event time —: a writer that never sent a
   * watermark then sends "no event time yet", so the readers downstream do not wait for this task.
   */
  records(epoch: number, empty?: (sinkId: string | null) => boolean): OutRecords;
  /** A writer that has not told its readers anything about event time yet is empty (the task should commit an epoch to say so). */
  silent(empty: (sinkId: string | null) => boolean): boolean;
  /** Exchange or view input `index` has heard from every upstream task. */
  settled(index: number): boolean;
  state(): ExchangesState;
  restore(s: ExchangesState | undefined): void;
  readonly totals: ExchangeTotals;
}

export interface ExchangesState {
  readonly readers: Record<string, ExchangeReaderState>;
  readonly trackers: Record<string, [string, number][]>;
  /** The last watermark written per writer; 'idle': only "no event time yet" so far. */
  readonly written: Record<string, number | null | 'idle'>;
}

/** Produce requests for the epoch's transaction. */
export type OutRecords = { topic: string; messages: { key: Buffer | null; value: Buffer; partition: number }[] }[];

/** A repartition topic's writer (exchange.ts) or a view's changes writer (changes.ts). */
interface TopicWriter {
  append(b: RecordBatch, ops: Int8Array | null): void;
  watermark(task: string, watermark: number): void;
  take(): { topic: string; messages: { key: Buffer | null; value: Buffer; partition: number }[]; bytes: number }[];
  trackerState?(): [string, number][];
  restoreTracker?(s: readonly [string, number][]): void;
}

/** One fetch of a repartition or changes topic as batches, and whether the watermark advanced. */
interface TopicReader {
  fetched(m: Exclude<FetchedMessages, { kind: 'decoded' }> | FetchedMessages): { batches: { batch: RecordBatch; ops: Int8Array | null }[]; advanced: boolean; records: number };
  watermark(): number;
  /** Every upstream task has spoken on every partition read. */
  settled(): boolean;
  state(): ExchangeReaderState;
  restore(s: ExchangeReaderState): void;
}

function exchangeReader(r: ExchangeReader): TopicReader {
  return {
    fetched(m) {
      if (isPacked(m)) { const got = r.accept(m); return { batches: got.batches, advanced: got.advanced, records: m.count }; }
      if (isDecoded(m)) throw new Error('an exchange input got decoded rows');
      const batches: { batch: RecordBatch; ops: Int8Array | null }[] = [];
      let advanced = false; let records = 0;
      for (const v of m.values) {
        if (!v) continue;
        records++;
        const msg = r.decode(v);
        if (msg.kind === 'rows') batches.push({ batch: msg.batch, ops: msg.ops }); else advanced = r.observe(m.partition, msg.task, msg.watermark) || advanced;
      }
      return { batches, advanced, records };
    },
    watermark: () => r.watermark(), settled: () => r.heardFromAll(), state: () => r.state(), restore: (s) => r.restore(s),
  };
}

function changesReader(r: ChangesReader): TopicReader {
  return {
    fetched(m) {
      if (isDecoded(m)) throw new Error('a changes input got decoded rows');
      const got = isPacked(m) ? r.accept(m) : r.acceptValues(m.partition, m.values);
      return { batches: got.batch ? [{ batch: got.batch, ops: got.ops }] : [], advanced: got.advanced, records: isPacked(m) ? m.count : m.values.length };
    },
    watermark: () => r.watermark(), settled: () => r.marks.heardFromAll(), state: () => r.marks.state(), restore: (s) => r.marks.restore(s),
  };
}

/** The source definition of a repartition (or changes) topic as a task input: raw records, read from the start, never decoded by the driver. */
function exchangeSourceDef(task: string, id: string, topic: string, schema: Schema): SourceDef {
  const options: KafkaSourceOptions = {
    connector: 'kafka', topics: [topic], topicPattern: null, bootstrapServers: null, format: 'raw', csvDelimiter: ',',
    startupMode: 'earliest', startupTimestampMs: null, specificOffsets: {}, idleTimeoutMs: null, maxRate: null,
    onError: 'fail', deadLetterTopic: null, failOnDataLoss: true, failOnMissingField: false,
    // Inline: the records are decoded here (Arrow IPC), not by the JSON scanner in read workers.
    client: 'native', workers: 0, discoveryIntervalMs: 0,
  };
  return { kind: 'source', name: `${task}/${id}`, columns: [], schema, watermark: null, options, sql: '' };
}

/** What a task moves through topics: its repartition exchanges, the changes of the view it is (`changes`), the changes of the views it reads (`views`). */
export function createTaskExchanges(cfg: {
  task: string; partition: number; tasks: number; exchanges: readonly TaskExchange[];
  changes?: ChangesOut | null; views?: readonly ChangesIn[];
  /** The query's only task: it reads every partition of each view's changes topic. */
  single?: boolean;
}): TaskExchanges {
  const totals: ExchangeTotals = { writtenRows: 0, writtenBytes: 0, readRows: 0, readRecords: 0 };
  // Writers by state id: each exchange's (its id) and the view's changes ('changes').
  const writers: { id: string; sinkId: string | null; tracks: boolean; w: TopicWriter; wm: number; written: number; idle: boolean }[] = [
    ...cfg.exchanges.map((e) => ({
      id: e.x.id, sinkId: e.sinkId as string | null, tracks: e.x.tracks !== null,
      w: new ExchangeWriter({ topic: e.x.topic, schema: e.x.schema, key: e.x.key, partitions: e.partitions, ...(e.x.tracks ? { upsertKey: e.x.tracks } : {}) }),
      wm: -Infinity, written: -Infinity, idle: false,
    })),
    // The view's changes: one compacted record per changed key (connectors/kafka/changes.ts).
    ...(cfg.changes ? [{
      id: 'changes', sinkId: null, tracks: false,
      w: new ChangesWriter({ topic: cfg.changes.topic, schema: cfg.changes.schema, key: cfg.changes.key, partitions: cfg.changes.partitions }),
      wm: -Infinity, written: -Infinity, idle: false,
    }] : []),
  ];
  // Task p reads partition p of an exchange that has one (a single-partition exchange: task 0 only), and of each view's changes topic.
  const readers = new Map<number, { id: string; topic: string; schema: Schema; r: TopicReader }>([
    ...cfg.exchanges.filter((e) => cfg.partition < e.partitions).map((e) => [e.input, {
      id: e.x.id, topic: e.x.topic, schema: e.x.schema, r: exchangeReader(new ExchangeReader({ schema: e.x.schema, upstreamTasks: cfg.tasks, partitions: [cfg.partition] })),
    }] as const),
    ...(cfg.views ?? []).filter((v) => cfg.single || cfg.partition < v.partitions).map((v) => [v.input, {
      id: `view-${v.input}`, topic: v.topic, schema: v.schema,
      r: changesReader(new ChangesReader({ schema: v.schema, upstreamTasks: v.partitions, partitions: cfg.single ? Array.from({ length: v.partitions }, (_, p) => p) : [cfg.partition] })),
    }] as const),
  ]);
  const sinks: Record<string, GraphSink> = {};
  let tap: GraphSink | null = null;
  for (const x of writers) {
    const sink: GraphSink = {
      batch(b, ops) { x.w.append(b, ops); totals.writtenRows += b.numRows; },
      watermark(t) { if (t > x.wm) x.wm = t; },
    };
    if (x.sinkId) sinks[x.sinkId] = sink; else tap = sink;
  }
  const inputs: DriverInput[] = [...readers].map(([index, x]) => ({ index, def: exchangeSourceDef(cfg.task, x.id, x.topic, x.schema), columns: null, tracker: null, watermark: -Infinity }));
  let cached: { epoch: number; recs: OutRecords } | null = null;

  return {
    sinks, tap, inputs, totals,
    has: (index) => readers.has(index),
    fetched(index, m, into) {
      const x = readers.get(index);
      if (!x) throw new Error(`graph input ${index} reads no exchange in task ${cfg.task}`);
      if (isDecoded(m)) throw new Error(`exchange input ${index} of task ${cfg.task} got decoded rows (read workers); it reads inline`);
      const got = x.r.fetched(m);
      for (const b of got.batches) { into.batch(index, b.batch, b.ops); totals.readRows += b.batch.numRows; }
      totals.readRecords += got.records;
      if (got.advanced) into.changesWatermark(index, x.r.watermark());
    },
    rewatermark(into) {
      for (const [index, x] of readers) { const w = x.r.watermark(); if (w > -Infinity) into.changesWatermark(index, w); }
    },
    silent: (empty) => writers.some((x) => x.written === -Infinity && !x.idle && x.wm === -Infinity && empty(x.sinkId)),
    settled: (index) => readers.get(index)?.r.settled() ?? true,
    records(epoch, empty = () => false) {
      if (cached?.epoch === epoch) return cached.recs;
      const recs: OutRecords = [];
      for (const x of writers) {
        if (x.wm > x.written) { x.w.watermark(cfg.task, x.wm); x.written = x.wm; }
        else if (x.written === -Infinity && !x.idle && x.wm === -Infinity && empty(x.sinkId)) { x.w.watermark(cfg.task, -Infinity); x.idle = true; }
        for (const r of x.w.take()) { recs.push({ topic: r.topic, messages: r.messages }); totals.writtenBytes += r.bytes; }
      }
      cached = { epoch, recs };
      return recs;
    },
    state: () => ({
      readers: Object.fromEntries([...readers.values()].map(({ id, r }) => [id, r.state()])),
      trackers: Object.fromEntries(writers.filter((x) => x.tracks).map((x) => [x.id, x.w.trackerState?.() ?? []])),
      written: Object.fromEntries(writers.map((x) => [x.id, Number.isFinite(x.written) ? x.written : x.idle ? 'idle' as const : null])),
    }),
    restore(s) {
      if (!s) return;
      for (const { id, r } of readers.values()) { const rs = s.readers[id]; if (rs) r.restore(rs); }
      for (const x of writers) {
        const t = s.trackers[x.id];
        if (t) x.w.restoreTracker?.(t);
        const w = s.written[x.id];
        x.idle = w === 'idle';
        x.written = x.wm = typeof w === 'number' ? w : -Infinity;
      }
    },
  };
}
