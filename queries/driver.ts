/**
 * The driver: the one ingest loop every way of running a query goes through (continuous queries in
 * queries/runner.ts, ad-hoc push queries in queries/push.ts, the executor's test harnesses and the
 * benchmarks). Per input it owns the decoder, the malformed-message hook and the per-partition
 * watermark tracker; it pushes batches (with their ops), watermarks, barriers and end of input into
 * the graph (executor/graph.ts; chains through executor/pipeline.ts, whose per-position state older
 * checkpoints hold), wires the late-row hook, and keeps the query's watermark: the minimum over its
 * event-time inputs.
 *
 * What it does not do is decide when: callers bring the messages (a Kafka source's fetches, a view's
 * committed epochs, rows held in memory) and the epochs (the runner's checkpoint protocol, push's
 * timer, a harness's script). So a later scale-out (one task per partition group, inputs that are
 * repartition topics) is one driver per task over its part of the graph, with more inputs, not
 * another loop.
 *
 * Hot path: per fetch one decode, one tracker observation (one scan of the event-time column, or
 * none when the caller knows the batch's largest time) and one graph push; nothing per row here.
 */
import type { RecordBatch } from 'apache-arrow';
import { createFetchedDecoder, type FetchedMessages } from '../connectors/formats/packed.ts';
import type { Decoded } from '../connectors/formats/decode.ts';
import { createGraph, type Graph, type GraphSink } from '../executor/graph.ts';
import type { LateRows, OperatorContext, OperatorMetrics } from '../executor/operator.ts';
import { createPipeline, type Pipeline } from '../executor/pipeline.ts';
import { maxTimestamp, WatermarkTracker, type WatermarkState } from '../executor/watermark.ts';
import type { SourceDef } from '../planner/catalog.ts';
import { isChain, sourceColumnsUsed, type PhysicalPlan } from '../planner/physical.ts';
import { inputColumnsUsed, type PhysicalGraph } from '../planner/physical-graph.ts';

/**
 * One input of the graph, as the driver is told of it:
 * - `source`: messages of a source (decoded here, event time tracked per partition when the source
 *   declares a WATERMARK); its watermark holds the query's back.
 * - `changes`: batches decoded elsewhere (a materialized view's committed changes, view-input.ts);
 *   they carry no watermark and do not hold the query's back.
 */
export type DriverInputSpec =
  | { readonly kind: 'source'; readonly index: number; readonly def: SourceDef }
  | { readonly kind: 'changes'; readonly index: number };

export interface DriverInput {
  /** The graph input it feeds. */
  readonly index: number;
  /** Its source (null for a `changes` input). */
  readonly def: SourceDef | null;
  /** Columns the query reads of it (null: all), for the decoder and the source's reader. */
  readonly columns: readonly boolean[] | null;
  /** Per-partition event time (source inputs; a source without WATERMARK never advances it). */
  readonly tracker: WatermarkTracker | null;
  /** The newest watermark pushed into its graph input. */
  readonly watermark: number;
}

export interface DriverCounters {
  inputRows: number;
  malformedRows: number;
  lateRows: number;
}

export interface DriverConfig {
  readonly plan: PhysicalPlan;
  /** Where the sink node's stream goes (per sink node id when the graph has several: a task's exchanges). */
  readonly sink: GraphSink | Readonly<Record<string, GraphSink>>;
  /**
   * The graph to run instead of the plan's (a scale-out task's graph with its exchanges cut into
   * sinks and inputs, queries/cluster/task-graph.ts); always run as a graph, never as a chain.
   */
  readonly graph?: PhysicalGraph;
  /** The graph's inputs, by graph input index (default: one source input per Kafka source of the plan). */
  readonly inputs?: readonly DriverInputSpec[];
  /** Late rows dropped by an operator (the driver counts them first). */
  readonly onLate?: (l: LateRows) => void;
  /**
   * The malformed messages of one fetch (the driver counts them first). Throwing fails the fetch; a
   * promise (dead letters being sent) is awaited before the fetch's batch goes into the graph.
   */
  readonly onMalformed?: (input: DriverInput, fetched: FetchedMessages, decoded: Decoded) => void | Promise<void>;
  /** Wall clock for the trackers' idle timeouts and the operators' TTLs (default Date.now). */
  readonly now?: () => number;
}

export interface Driver {
  readonly graph: Graph;
  /** The chain view of the graph for chain plans (legacy per-position checkpoints), else null. */
  readonly pipeline: Pipeline | null;
  readonly inputs: readonly DriverInput[];
  readonly counters: DriverCounters;
  /** The input feeding graph input `index`. */
  input(index: number): DriverInput;
  /**
   * Decodes one fetch of a source input and pushes its batch: the malformed hook first (awaited only
   * when it returns a promise), then the batch, observed by the input's tracker. Returns the rows
   * pushed. Watermarks move at {@link advance}.
   */
  fetched(index: number, msgs: FetchedMessages): number | Promise<number>;
  /**
   * Pushes a decoded batch into an input. For a source input, `partition` names its partition for the
   * watermark tracker (default '0'); `maxTime` is the batch's largest event time when the caller
   * knows it (saves the scan).
   */
  batch(index: number, batch: RecordBatch, ops: Int8Array | null, partition?: string, maxTime?: number): void;
  /** Marks a partition with data waiting: the input's watermark waits for its first batch. */
  expect(index: number, partition: string): void;
  /** Each source input's watermark into its graph input when it advanced; returns the query's watermark. */
  advance(): number;
  /** The query's watermark: the least of the source inputs' and of the `changes` inputs' that announced one (-Infinity without any). */
  watermark(): number;
  /**
   * A `changes` input's watermark: its upstream query's, delivered with a committed epoch
   * (view-input.ts). Pushed into its graph input when it advances.
   */
  changesWatermark(index: number, watermark: number): void;
  barrier(epoch: number): void;
  end(): void;
  /** The source inputs' trackers, in input order (a checkpoint's `tracker`/`trackers`). */
  trackerStates(): WatermarkState[];
  /** Restores the source inputs' trackers (in input order; a missing one is left as is). */
  restoreTrackers(states: readonly (WatermarkState | undefined)[]): void;
  /** Operators with their metrics: by chain position for chains, `<node id> <name>` for graphs. */
  operators(): { name: string; metrics: OperatorMetrics }[];
}

const EMPTY: OperatorMetrics = { stateRows: 0, stateBytes: 0, lateRowsDropped: 0 };

/** The inputs a plan's graph has: one per source of the plan, Kafka sources decoded, views' changes as they are. */
export function planInputs(plan: PhysicalPlan): DriverInputSpec[] {
  return plan.sources.map((s, index) => (s.kind === 'kafka_source' ? { kind: 'source', index, def: s.source } : { kind: 'changes', index }));
}

interface InputRt {
  readonly index: number;
  readonly def: SourceDef | null;
  readonly columns: readonly boolean[] | null;
  readonly tracker: WatermarkTracker | null;
  readonly wmIndex: number;
  /** Made on the first fetch (inputs fed decoded batches never need one). */
  decode: ((m: FetchedMessages) => Decoded) | null;
  watermark: number;
}

export function createDriver(cfg: DriverConfig): Driver {
  const { plan } = cfg;
  const now = cfg.now ?? Date.now;
  const counters: DriverCounters = { inputRows: 0, malformedRows: 0, lateRows: 0 };
  const onLate = cfg.onLate;
  const ctx: OperatorContext = {
    onLate: (l) => { counters.lateRows += l.rows.length; onLate?.(l); },
    ...(cfg.now ? { now: cfg.now } : {}),
  };
  // A chain runs as the one-input graph it has always checkpointed as (its fingerprint, and the legacy
  // per-position state of older checkpoints); a plan with several inputs runs its dataflow graph.
  const chain = !cfg.graph && isChain(plan);
  const pipeline = chain ? createPipeline(plan.ops, cfg.sink as GraphSink, ctx) : null;
  const graphPlan = cfg.graph ?? plan.graph;
  const graph = pipeline ? pipeline.graph : createGraph(graphPlan, cfg.sink, ctx);

  const specs = cfg.inputs ?? planInputs(plan);
  const inputs: InputRt[] = specs.map((s) => {
    if (s.kind === 'changes') return { index: s.index, def: null, columns: null, tracker: null, wmIndex: -1, decode: null, watermark: -Infinity };
    // The flat-JSON scanner skips the columns the query never reads (validated, not stored).
    const columns = chain ? sourceColumnsUsed(plan) : inputColumnsUsed(graphPlan, s.index);
    return {
      index: s.index, def: s.def, columns,
      tracker: new WatermarkTracker(s.def.watermark?.delayMs ?? 0, s.def.options.idleTimeoutMs),
      wmIndex: s.def.watermark?.index ?? -1,
      decode: null,
      watermark: -Infinity,
    };
  });
  const byIndex: InputRt[] = [];
  for (const i of inputs) {
    if (i.index < 0 || i.index >= graph.inputs) throw new Error(`driver input ${i.index} is not an input of the graph (it has ${graph.inputs})`);
    if (byIndex[i.index]) throw new Error(`driver input ${i.index} given twice`);
    byIndex[i.index] = i;
  }
  const sources = inputs.filter((i) => i.tracker !== null);
  /** `changes` inputs whose upstream has announced a watermark (view-input.ts); until then they do not hold the query's back. */
  const changeInputs: InputRt[] = [];
  const inputOf = (index: number): InputRt => {
    const i = byIndex[index];
    if (!i) throw new Error(`no driver input ${index}`);
    return i;
  };

  function batch(index: number, b: RecordBatch, ops: Int8Array | null, partition = '0', maxTime?: number): void {
    const i = inputOf(index);
    if (i.wmIndex >= 0) i.tracker!.observe(partition, maxTime ?? maxTimestamp(b, i.wmIndex), now());
    graph.push(index, { kind: 'batch', batch: b, ops });
    counters.inputRows += b.numRows;
  }

  const pushDecoded = (i: InputRt, m: FetchedMessages, d: Decoded): number => {
    if (!d.batch) return 0;
    batch(i.index, d.batch, d.ops ?? null, `${m.topic}:${m.partition}`); // changelog sources carry ops
    return d.batch.numRows;
  };

  function watermark(): number {
    let w = Infinity;
    for (const i of sources) {
      const x = i.wmIndex < 0 ? -Infinity : i.watermark;
      if (x < w) w = x;
    }
    for (const i of changeInputs) if (i.watermark < w) w = i.watermark;
    return sources.length || changeInputs.length ? w : -Infinity;
  }

  return {
    graph, pipeline, counters,
    inputs,
    input: inputOf,
    fetched(index, m) {
      const i = inputOf(index);
      if (!i.def) throw new Error(`input ${index} takes decoded changes, not messages`);
      i.decode ??= createFetchedDecoder(i.def, i.columns);
      const d = i.decode(m);
      if (d.malformed.length) {
        counters.malformedRows += d.malformed.length;
        const r = cfg.onMalformed?.(i, m, d);
        if (r) return r.then(() => pushDecoded(i, m, d));
      }
      return pushDecoded(i, m, d);
    },
    batch,
    expect(index, partition) { inputOf(index).tracker?.expect(partition); },
    advance() {
      const t = now();
      for (const i of sources) {
        if (i.wmIndex < 0) continue;
        const w = i.tracker!.current(t);
        if (w > i.watermark) { i.watermark = w; graph.push(i.index, { kind: 'watermark', time: w }); }
      }
      return watermark();
    },
    watermark,
    changesWatermark(index, w) {
      const i = inputOf(index);
      if (i.def) throw new Error(`input ${index} is a source: its watermark comes from its tracker`);
      if (!(w > i.watermark)) return;
      if (!changeInputs.includes(i)) changeInputs.push(i);
      i.watermark = w;
      graph.push(index, { kind: 'watermark', time: w });
    },
    barrier(epoch) { graph.barrier(epoch); },
    end() { graph.end(); },
    trackerStates: () => sources.map((i) => i.tracker!.snapshot()),
    restoreTrackers(states) {
      const t = now();
      sources.forEach((i, pos) => {
        const s = states[pos];
        if (!s) return;
        i.tracker!.restore(s, t);
        i.watermark = s.watermark ?? -Infinity;
      });
    },
    operators() {
      if (pipeline) {
        const m = pipeline.metrics();
        return pipeline.operators.map((o, i) => ({ name: o.name, metrics: m[i] ?? EMPTY }));
      }
      const byNode = graph.metrics();
      return [...graph.operators].map(([id, o]) => ({ name: `${id} ${o.name}`, metrics: byNode[id] ?? EMPTY }));
    },
  };
}
