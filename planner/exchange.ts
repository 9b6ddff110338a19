/**
 * Exchanges for scale-out (issue 17): where a keyed stateful operator would see rows of one key in
 * several tasks, the edge into it is cut by an Exchange. Upstream tasks write their rows, keyed by the
 * operator's key, to a repartition topic (`_streamsql-<CLUSTER_ID>-<query>-<node>-repartition`, placed
 * by the Java client's partitioner, connectors/kafka/partitioner.ts); the downstream task reads
 * partition p of it as one more input of task p (connectors/kafka/exchange.ts moves the rows).
 *
 * A pure pass over the physical graph, as Flink's and Kafka Streams' planners decide their shuffles:
 * it follows how each node's rows are spread over tasks ("partitioning") from the sources down, and
 * inserts an Exchange before an operator whose key does not contain that partitioning:
 * - sources: hashed by their Kafka key columns ('key.fields', or an upsert table's primary key) —
 *   assuming the topic was written by the key, as Java producers do — else unknown (any row anywhere);
 *   a topic of one partition is a single partition;
 * - keyed operators: window and updating aggregates (GROUP BY), dedup and Top-N (PARTITION BY) and
 *   joins (equality keys). An aggregate without GROUP BY (or a Top-N without PARTITION BY) needs all
 *   rows in one place: an exchange to a single partition. Rows of one key stay in one task exactly
 *   when the input is hashed by a subset of the key's columns;
 * - a join whose two sides are not hashed by corresponding key columns in the same way gets an
 *   exchange on both sides (one encoding of the key for both, so equal keys meet in one partition);
 * - stateless operators (filter, projection) run where their input is and keep its partitioning as
 *   far as they keep its columns.
 *
 * Every exchange of a query has the same partition count: the largest of its source topics' counts
 * (Kafka Streams' rule), so that exchanges feeding one join are co-partitioned; unknown at plan time,
 * EXPLAIN says `partitions=max(input topics)`. Node ids of the graph are kept (a checkpoint finds its
 * node); exchanges are numbered `x0, x1, …`. Nothing here runs without a cluster id: EXPLAIN prints
 * the exchanges only when the planner is given one (planner.ts `PlanOptions.cluster`).
 */
import type { PhysicalOp, PhysicalSource } from './physical.ts';
import { nodeLine, streamText, type GraphNode, type PhysicalGraph, type StreamKind } from './physical-graph.ts';
import type { Schema } from './types.ts';

/** How a query input's topic spreads its rows over partitions. */
export interface InputPartitioning {
  /** Columns of the source's schema the topic is hashed by (all together); null: unknown. */
  readonly keyColumns: readonly number[] | null;
  /** The topic's partition count when known (1 makes the input a single partition). */
  readonly partitions?: number | null;
  /**
   * How the key columns became key bytes: two inputs hashed by equal key values are co-partitioned
   * only when their key bytes are made the same way. Default: derived from the source's key format.
   */
  readonly scheme?: string;
}

/** Where a node's rows are, across tasks. */
type Partitioning =
  /** `count`: partitions of the topic the rows were hashed into (null: not known at plan time). */
  | { readonly kind: 'hash'; readonly cols: readonly number[]; readonly scheme: string; readonly count: number | null }
  | { readonly kind: 'single' }
  | { readonly kind: 'any' };

/** Key bytes made by connectors/kafka/exchange.ts (`exchangeKeyBytes`): independent of column names. */
export const EXCHANGE_SCHEME = 'exchange';

export interface ExchangeNode {
  readonly id: string;
  readonly role: 'exchange';
  /** The node whose rows cross (upstream). */
  readonly inputs: readonly [string];
  /** The node that reads them, and on which of its inputs. */
  readonly target: string;
  readonly port: number;
  /** Columns of the input's schema the rows are keyed by; empty with `single`. */
  readonly key: readonly number[];
  /** Every row to partition 0 of a one-partition topic (a global aggregate). */
  readonly single: boolean;
  readonly topic: string;
  /** 1 when single; else the query's largest source partition count; null: not known at plan time. */
  readonly partitions: number | null;
  readonly schema: Schema;
  readonly stream: StreamKind;
  /** Why it is there (EXPLAIN). */
  readonly reason: string;
  /**
   * A changelog input whose versions of one row (by its key, these columns) may go to different
   * partitions (the exchange key is not part of the row key): the writer remembers where each row
   * went and sends a delete there when it moves (connectors/kafka/exchange.ts `upsertKey`). Null
   * for append-only inputs and for keys that cannot move.
   */
  readonly tracks: readonly number[] | null;
}

/** The input key the writer must track (see `ExchangeNode.tracks`). */
function tracked(stream: StreamKind, key: readonly number[]): readonly number[] | null {
  if (stream.kind !== 'changelog' || key.length === 0) return null;
  return key.every((k) => stream.key.includes(k)) ? null : [...stream.key];
}

export type ClusterNode = GraphNode | ExchangeNode;

export interface ExchangePlan {
  /** The graph's nodes and the exchanges, topological; a node's `inputs` name the exchanges it reads. */
  readonly nodes: readonly ClusterNode[];
  readonly exchanges: readonly ExchangeNode[];
  /** The graph the plan was made from (its ids, fingerprint and node lines). */
  readonly graph: PhysicalGraph;
  /** What no exchange can fix (the query cannot run as tasks): inputs that are not one Kafka topic list of this plan. */
  readonly problems: readonly string[];
}

export interface ExchangeOptions {
  readonly clusterId: string;
  /** The query's name (a materialized view or sink), part of the topic names. */
  readonly query: string;
  /** Per query input (by input index); absent: derived from the source definition. */
  readonly inputs?: readonly (InputPartitioning | undefined)[];
  /** Partition counts of topics, when known (a source's count when its entry lacks one). */
  readonly topicPartitions?: Readonly<Record<string, number>>;
  /**
   * Keyed materialized views whose changes tasks can read (lowercase name → partitions of the view's
   * changes topic, null when not known yet): the view's tasks write each change, keyed by the view's
   * key, to its changes topic (queries/cluster/view-changes.ts), so the input is hashed by the view's
   * key columns the exchange way. A view input not listed is a problem (it is read from a runner's table).
   */
  readonly views?: Readonly<Record<string, number | null>>;
}

/** A Kafka topic name part: [a-zA-Z0-9._-]; anything else becomes '_' plus a short hash so names stay distinct. */
export function topicPart(s: string): string {
  const clean = s.replace(/[^A-Za-z0-9_-]/g, '_');
  if (clean === s) return s;
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return `${clean}_${(h >>> 0).toString(16).padStart(8, '0')}`;
}

/** The repartition topic of the edge into `node` (input `side` of a join). */
export function repartitionTopic(clusterId: string, query: string, node: string, side?: 'left' | 'right'): string {
  return `_streamsql-${topicPart(clusterId)}-${topicPart(query)}-${node}${side ? `-${side}` : ''}-repartition`;
}

/** A source's partitioning from its definition: its Kafka key columns ('key.fields' / primary key), else unknown. */
export function sourcePartitioning(src: PhysicalSource | null, topicPartitions?: Readonly<Record<string, number>>, views?: Readonly<Record<string, number | null>>): InputPartitioning {
  if (src?.kind === 'view_source' && src.key?.length && views && src.view.toLowerCase() in views) {
    return { keyColumns: [...src.key], partitions: views[src.view.toLowerCase()] ?? null, scheme: EXCHANGE_SCHEME };
  }
  if (!src || src.kind !== 'kafka_source') return { keyColumns: null };
  const o = src.source.options;
  const counts = o.topicPattern ? [] : o.topics.map((t) => topicPartitions?.[t]);
  const partitions = counts.length === 1 && counts[0] !== undefined ? counts[0] : null;
  const fields = o.keyFields?.length ? o.keyFields : o.changelog === 'upsert' ? o.primaryKey ?? [] : [];
  if (!fields.length) return { keyColumns: null, partitions };
  const cols = fields.map((f) => src.schema.fields.findIndex((x) => x.name.toLowerCase() === f.toLowerCase()));
  if (cols.some((c) => c < 0)) return { keyColumns: null, partitions };
  // JSON keys carry the field names (without 'key.fields-prefix'), so two topics co-partition only
  // with the same names; raw keys are the value's bytes.
  const prefix = o.keyFieldsPrefix ?? '';
  const keyNames = fields.map((f) => (prefix && f.startsWith(prefix) ? f.slice(prefix.length) : f).toLowerCase());
  const scheme = o.keyFormat === 'raw' ? 'kafka-key:raw' : `kafka-key:json:${keyNames.join(';')}`;
  return { keyColumns: cols, partitions, scheme };
}

const ANY: Partitioning = { kind: 'any' };
const SINGLE: Partitioning = { kind: 'single' };

/** True when rows equal on `key` (columns of the same schema) are all in one task under `p`. */
function keeps(p: Partitioning, key: readonly number[]): boolean {
  if (p.kind === 'single') return true;
  return p.kind === 'hash' && p.cols.length > 0 && p.cols.every((c) => key.includes(c));
}

/** `p` through a column mapping (old index → new index, or -1 when the column is gone). */
function remap(p: Partitioning, to: (c: number) => number): Partitioning {
  if (p.kind !== 'hash') return p;
  const cols = p.cols.map(to);
  return cols.some((c) => c < 0) ? ANY : { kind: 'hash', cols, scheme: p.scheme, count: p.count };
}

const samePart = (a: Partitioning, b: Partitioning) => JSON.stringify(a) === JSON.stringify(b);

/** The key an operator needs its rows grouped by (columns of input `port`), or null for none. */
function requiredKey(op: PhysicalOp, port: number): { key: readonly number[]; what: string } | null {
  switch (op.kind) {
    case 'window_aggregate': return { key: op.groupBy, what: 'GROUP BY' };
    case 'updating_aggregate': return { key: op.groupBy, what: 'GROUP BY' };
    case 'dedup': return { key: op.keys, what: 'PARTITION BY' };
    case 'top_n': {
      if (!op.window) return { key: op.partitionBy, what: 'PARTITION BY' };
      // A window Top-N ranks within a window: its other partition columns suffice, else the window itself.
      const rest = op.partitionBy.filter((c) => c !== op.window!.start && c !== op.window!.end);
      return { key: rest.length ? rest : [op.window.start, op.window.end], what: 'PARTITION BY' };
    }
    case 'join': return { key: port === 0 ? op.leftKeys : op.rightKeys, what: 'join key' };
    // A continuous ORDER BY / LIMIT is over all rows: one place.
    case 'sort': case 'limit': return { key: [], what: 'ORDER BY / LIMIT' };
    case 'filter': case 'project': case 'window_assign': case 'union': case 'expand': return null;
    default: return null;
  }
}

/** What an operator's output partitioning is, given its inputs' (after any exchange). */
function outPartitioning(op: PhysicalOp, ins: readonly Partitioning[]): Partitioning {
  const one = ins[0] ?? ANY;
  const byName = (from: Schema, to: Schema) => (c: number) => (to.fields[c]?.name === from.fields[c]?.name ? c : -1);
  switch (op.kind) {
    case 'filter': case 'sort': case 'limit': case 'dedup': return one;
    case 'project': return remap(one, (c) => op.exprs.findIndex((e) => e.kind === 'column' && e.index === c));
    case 'window_assign': case 'top_n': return remap(one, byName(op.inputSchema, op.schema));
    case 'expand': return remap(one, (c) => (op.keys.includes(c) ? -1 : byName(op.inputSchema, op.schema)(c)));
    case 'window_aggregate': return remap(one, (c) => { const i = op.groupBy.indexOf(c); return i < 0 ? -1 : 2 + i; });
    case 'updating_aggregate': return remap(one, (c) => op.groupBy.indexOf(c));
    case 'union': return ins.every((p) => samePart(p, one)) ? one : ANY;
    case 'join': {
      const nl = op.leftSchema.fields.length;
      // Rows of an outer side's unmatched keys carry NULLs on the other side's columns.
      if (op.joinType === 'full') return ANY;
      if (op.joinType === 'right') return remap(ins[1] ?? ANY, (c) => nl + c);
      return one;
    }
    default: return ANY;
  }
}

/** Whether a join's sides are hashed by corresponding key columns in the same way (or both single). */
function coPartitioned(op: Extract<PhysicalOp, { kind: 'join' }>, l: Partitioning, r: Partitioning): boolean {
  if (l.kind === 'single' && r.kind === 'single') return true;
  if (l.kind !== 'hash' || r.kind !== 'hash' || l.scheme !== r.scheme || l.cols.length !== r.cols.length || l.cols.length === 0) return false;
  // Equal hashes meet only among equal partition counts (unknown counts: the task assignment checks them).
  if (l.count !== null && r.count !== null && l.count !== r.count) return false;
  return l.cols.every((lc, j) => op.leftKeys.some((k, p) => k === lc && op.rightKeys[p] === r.cols[j]));
}

/**
 * Decides the exchanges of a graph for cluster mode. Pure: the same graph and options give the same
 * plan. The graph itself is not changed; `nodes` is it with the exchanges spliced in.
 */
export function planExchanges(graph: PhysicalGraph, opts: ExchangeOptions): ExchangePlan {
  const parts = new Map<string, Partitioning>();
  const counts: number[] = [];
  let unknownCount = false;
  for (const n of graph.nodes) {
    if (n.role !== 'source') continue;
    const ip = opts.inputs?.[n.input] ?? sourcePartitioning(n.source, opts.topicPartitions, opts.views);
    if (ip.partitions) counts.push(ip.partitions); else unknownCount = true;
    parts.set(n.id, ip.partitions === 1 ? SINGLE
      : ip.keyColumns && ip.keyColumns.length ? { kind: 'hash', cols: [...ip.keyColumns], scheme: ip.scheme ?? 'kafka-key', count: ip.partitions ?? null } : ANY);
  }
  const partitions = unknownCount || counts.length === 0 ? null : Math.max(...counts);
  const problems: string[] = [];
  for (const n of graph.nodes) {
    if (n.role !== 'source') continue;
    if (n.source?.kind === 'view_source' && n.source.key?.length && opts.views && n.source.view.toLowerCase() in opts.views) continue;
    if (!n.source || n.source.kind !== 'kafka_source') problems.push(`${n.id}: input ${n.input} is not a Kafka source nor the changes of a view run as tasks`);
    else if (n.source.source.options.topicPattern) problems.push(`${n.id}: source ${n.source.source.name} reads a topic pattern; tasks need a fixed topic list`);
  }
  const exchanges: ExchangeNode[] = [];
  const nodes: ClusterNode[] = [];
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const cut = (n: GraphNode, port: number, key: readonly number[], reason: string, side?: 'left' | 'right'): string => {
    const from = byId.get(n.inputs[port]!)!;
    const single = key.length === 0;
    const x: ExchangeNode = {
      id: `x${exchanges.length}`, role: 'exchange', inputs: [from.id], target: n.id, port, key: [...key], single,
      topic: repartitionTopic(opts.clusterId, opts.query, n.id, side), partitions: single ? 1 : partitions,
      schema: from.schema, stream: from.stream, reason, tracks: tracked(from.stream, key),
    };
    exchanges.push(x); nodes.push(x);
    return x.id;
  };
  for (const n of graph.nodes) {
    if (n.role === 'source') { nodes.push(n); continue; }
    const ins = n.inputs.map((i) => parts.get(i) ?? ANY);
    if (n.role === 'sink') {
      // A changelog's versions of one row must reach one task's table (or one producer, in order).
      if (n.stream.kind === 'changelog' && !keeps(ins[0] ?? ANY, n.stream.key)) {
        const schema = byId.get(n.inputs[0]!)!.schema;
        const x = cut(n, 0, n.stream.key, `the output changelog's key (${n.stream.key.map((k) => schema.fields[k]!.name).join(', ')}) is not how its rows are partitioned`);
        parts.set(n.id, { kind: 'hash', cols: [...n.stream.key], scheme: EXCHANGE_SCHEME, count: partitions });
        nodes.push({ ...n, inputs: [x] });
        continue;
      }
      parts.set(n.id, ins[0] ?? ANY); nodes.push(n); continue;
    }
    const op = n.op;
    const inputs = [...n.inputs];
    const after = [...ins];
    if (op.kind === 'join') {
      if (!coPartitioned(op, ins[0]!, ins[1]!)) {
        const single = op.leftKeys.length === 0;
        for (const port of [0, 1]) {
          const key = port === 0 ? op.leftKeys : op.rightKeys;
          const p = ins[port]!;
          // A side already hashed by exactly this key by an exchange meets the other side's exchange.
          const ready = single ? p.kind === 'single' : p.kind === 'hash' && p.scheme === EXCHANGE_SCHEME && p.count === partitions && p.cols.join(',') === key.join(',');
          if (ready) continue;
          const names = key.map((k) => (port === 0 ? op.leftSchema : op.rightSchema).fields[k]!.name);
          inputs[port] = cut(n, port, key, single ? 'a join without equality keys reads all rows in one place' : `join key (${names.join(', ')}) is not how this side is partitioned`, port === 0 ? 'left' : 'right');
          after[port] = single ? SINGLE : { kind: 'hash', cols: [...key], scheme: EXCHANGE_SCHEME, count: partitions };
        }
      }
    } else {
      const need = requiredKey(op, 0);
      if (need && !keeps(ins[0]!, need.key)) {
        const schema = byId.get(n.inputs[0]!)!.schema;
        const single = need.key.length === 0;
        inputs[0] = cut(n, 0, need.key, single ? `no ${need.what}: every row to one partition` : `${need.what} (${need.key.map((k) => schema.fields[k]!.name).join(', ')}) is not how the input is partitioned`);
        after[0] = single ? SINGLE : { kind: 'hash', cols: [...need.key], scheme: EXCHANGE_SCHEME, count: partitions };
      }
    }
    parts.set(n.id, outPartitioning(op, after));
    nodes.push(inputs.every((x, i) => x === n.inputs[i]) ? n : { ...n, inputs });
  }
  return { nodes, exchanges, graph, problems };
}

/** One Exchange's EXPLAIN line. */
export function exchangeLine(x: ExchangeNode): string {
  const key = x.single ? 'single partition' : `key=[${x.key.map((k) => x.schema.fields[k]!.name).join(', ')}]`;
  const parts = x.partitions === null ? 'max(input topics)' : String(x.partitions);
  const tracks = x.tracks ? ` tracks=[${x.tracks.map((k) => x.schema.fields[k]!.name).join(', ')}]` : '';
  return `${x.id} Exchange: ${key} topic=${x.topic} partitions=${parts}${tracks} (${x.reason}) <- [${x.inputs[0]}] | ${streamText(x.stream, x.schema)}`;
}

/** EXPLAIN text of the graph with its exchanges: as `printGraph`, one line per node, sinks first. */
export function printExchangePlan(plan: ExchangePlan): string {
  return [...plan.nodes].reverse().map((n) => (n.role === 'exchange' ? exchangeLine(n) : nodeLine(plan.graph, plan.graph.nodes.find((g) => g.id === n.id)!, n.inputs))).join('\n');
}
