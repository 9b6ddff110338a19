/**
 * The physical plan as a dataflow graph: a DAG of nodes with stable ids (`n0`, `n1`, … in topological
 * order, so the same plan shape always gets the same ids and a checkpoint's state finds its node).
 * Source nodes (one per query input, numbered by `input`), operator nodes with one or more inputs, and
 * sink nodes. Every node declares what it emits, as RisingWave's stream keys do: an append-only stream,
 * or a changelog keyed by some of its columns (upserts and deletes by key). Operators consume what their
 * inputs declare; combinations that cannot be computed exactly are refused here, never run wrongly.
 *
 * The linear plans the planner makes today (`PhysicalPlan`: a source and a chain of operators) convert
 * with `chainToGraph`; the executor runs every plan as a graph (executor/graph.ts).
 */
import type { PhysicalChain, PhysicalOp, PhysicalSink, PhysicalSource } from './physical.ts';
import { opLine, sinkLine, sourceLine, sourceColumnsUsed } from './physical.ts';
import { assertNever, type Schema } from './types.ts';

/** What a node emits: only inserts, or upserts and deletes by a key (column indices of its schema). */
export type StreamKind =
  | { readonly kind: 'append' }
  | { readonly kind: 'changelog'; readonly key: readonly number[] };

export const APPEND: StreamKind = { kind: 'append' };

export type GraphNode =
  | {
      readonly id: string; readonly role: 'source';
      /** Which query input feeds it (the driver pushes input i's messages here). */
      readonly input: number;
      /** Null for graphs built from a bare operator chain (tests, pull queries). */
      readonly source: PhysicalSource | null;
      readonly inputs: readonly string[]; readonly schema: Schema; readonly stream: StreamKind;
    }
  | { readonly id: string; readonly role: 'op'; readonly op: PhysicalOp; readonly inputs: readonly string[]; readonly schema: Schema; readonly stream: StreamKind }
  | { readonly id: string; readonly role: 'sink'; readonly sink: PhysicalSink; readonly inputs: readonly string[]; readonly schema: Schema; readonly stream: StreamKind };

export interface PhysicalGraph {
  /** In topological order: a node's inputs come before it. */
  readonly nodes: readonly GraphNode[];
  /** Identifies the plan's shape; a checkpoint taken under another fingerprint is refused on restore. */
  readonly fingerprint: string;
}

/** A plan the graph builder refuses: the combination cannot be computed exactly. */
export class GraphPlanError extends Error {}

/** The schema an operator reads. */
export function opInputSchema(op: PhysicalOp): Schema {
  switch (op.kind) {
    case 'filter': case 'sort': case 'limit': case 'union': case 'dedup': return op.schema;
    case 'join': return op.leftSchema;
    case 'project': case 'window_assign': case 'window_aggregate': case 'updating_aggregate': case 'top_n': return op.inputSchema;
    case 'expand': return op.inputSchema;
    default: return assertNever(op, 'operator');
  }
}

const names = (s: Schema, ix: readonly number[]) => ix.map((i) => s.fields[i]!.name);

/**
 * What an operator emits given what its inputs emit; throws GraphPlanError for inputs it cannot
 * consume exactly.
 */
export function deriveStream(op: PhysicalOp, inputs: readonly StreamKind[]): StreamKind {
  const one = inputs[0] ?? APPEND;
  const needAppend = (what: string) => {
    if (one.kind !== 'append') throw new GraphPlanError(`${what} needs an append-only input; its input is a changelog (updates and deletes)`);
  };
  switch (op.kind) {
    case 'filter': case 'sort': case 'limit': return one;
    case 'project': {
      if (one.kind === 'append') return one;
      // The key must survive the projection as plain column references.
      const key: number[] = [];
      for (const k of one.key) {
        const at = op.exprs.findIndex((e) => e.kind === 'column' && e.index === k);
        if (at < 0) throw new GraphPlanError(`a projection over a changelog must keep its key columns (${names(op.inputSchema, one.key).join(', ')})`);
        key.push(at);
      }
      return { kind: 'changelog', key };
    }
    case 'window_assign': needAppend('a window table function'); return APPEND;
    case 'window_aggregate': {
      needAppend('a window aggregate');
      if (op.emit === 'window_close') return APPEND;
      return { kind: 'changelog', key: [0, 1, ...op.groupBy.map((_, i) => 2 + i)] };
    }
    case 'updating_aggregate': return { kind: 'changelog', key: op.groupBy.map((_, i) => i) };
    case 'union': {
      const logs = inputs.filter((s): s is Extract<StreamKind, { kind: 'changelog' }> => s.kind === 'changelog');
      if (logs.length === 0) return APPEND;
      const key = logs[0]!.key;
      if (logs.some((l) => l.key.join(',') !== key.join(','))) throw new GraphPlanError('UNION ALL of changelogs needs the same key columns in every input');
      return { kind: 'changelog', key };
    }
    case 'dedup':
      needAppend('deduplication');
      return op.keep === 'first' ? APPEND : { kind: 'changelog', key: op.keys };
    case 'top_n': {
      if (op.window) {
        needAppend('a window Top-N');
        if (!op.partitionBy.includes(op.window.start) || !op.partitionBy.includes(op.window.end)) throw new GraphPlanError('a window Top-N partitions by window_start and window_end');
        return APPEND;
      }
      const n = op.schema.fields.length;
      if (op.rankColumn && op.rankFn === 'row_number') return { kind: 'changelog', key: [...op.partitionBy, n - 1] };
      // Without a row number the row itself (or the input's key) identifies it.
      if (one.kind === 'changelog') return { kind: 'changelog', key: one.key };
      return { kind: 'changelog', key: Array.from({ length: n }, (_, i) => i) };
    }
    case 'join': return joinStream(op, inputs[0] ?? APPEND, inputs[1] ?? APPEND);
    case 'expand': {
      if (one.kind === 'append') return APPEND;
      // Each input row becomes one row per grouping set: the copies are told apart by the grouping id,
      // so the key is the input's key plus the id; a key column the expand may set to NULL would lose rows.
      const nulled = one.key.filter((k) => op.keys.includes(k));
      if (nulled.length) throw new GraphPlanError(`GROUPING SETS over a changelog cannot set its key columns (${names(op.inputSchema, nulled).join(', ')}) to NULL`);
      return { kind: 'changelog', key: [...one.key, op.schema.fields.length - 1] };
    }
    default: return assertNever(op, 'operator');
  }
}

/**
 * What a join emits. Time-bounded joins (window, interval, temporal) read append-only streams (the
 * temporal join's right side: a changelog keyed by its join keys) and emit final rows, append-only. A
 * regular join of two append-only streams emits inserts when its result only grows (inner, semi);
 * over two keyed changelogs it emits a changelog keyed by both inputs' keys. What needs row identity
 * it does not have (an outer or anti join of append-only streams, a stream against a changelog) is
 * refused with the join that computes it.
 */
function joinStream(op: Extract<PhysicalOp, { kind: 'join' }>, l: StreamKind, r: StreamKind): StreamKind {
  const nl = op.leftSchema.fields.length;
  switch (op.bound.kind) {
    case 'window': case 'interval':
      if (l.kind !== 'append' || r.kind !== 'append') throw new GraphPlanError(`a${op.bound.kind === 'interval' ? 'n interval' : ' window'} join needs append-only inputs; one of its inputs is a changelog (updates and deletes)`);
      return APPEND;
    case 'temporal': {
      if (l.kind !== 'append') throw new GraphPlanError('the left side of a temporal join (FOR SYSTEM_TIME AS OF) must be append-only');
      if (r.kind !== 'changelog') throw new GraphPlanError('the right side of a temporal join (FOR SYSTEM_TIME AS OF) must be a keyed table: an upsert source or a view with a key');
      const same = r.key.length === op.rightKeys.length && r.key.every((k) => op.rightKeys.includes(k));
      if (!same) throw new GraphPlanError(`a temporal join must join on the whole key of its table (${names(op.rightSchema, r.key).join(', ')})`);
      if (op.joinType !== 'inner' && op.joinType !== 'left') throw new GraphPlanError('a temporal join is INNER or LEFT');
      return APPEND;
    }
    case 'regular': {
      if (l.kind === 'append' && r.kind === 'append') {
        if (op.joinType === 'inner' || op.joinType === 'semi') return APPEND;
        throw new GraphPlanError(`${op.joinType === 'anti' ? 'an' : 'a'} ${op.joinType.toUpperCase()} join of two append-only streams without a time bound would retract rows it cannot identify; bound it in time (an interval join: a.ts BETWEEN b.ts - INTERVAL … AND b.ts + INTERVAL …, or a window join)`);
      }
      if (l.kind === 'changelog' && r.kind === 'changelog') {
        if (op.joinType === 'semi' || op.joinType === 'anti') return { kind: 'changelog', key: l.key };
        return { kind: 'changelog', key: [...l.key, ...r.key.map((k) => nl + k)] };
      }
      throw new GraphPlanError('a join of an append-only stream with a changelog (updates and deletes) is not supported as a regular join; join the stream to the table\'s version at its time instead: JOIN t FOR SYSTEM_TIME AS OF s.ts ON …');
    }
    default: return assertNever(op.bound, 'join bound');
  }
}

/** Builds a graph node by node; each node's inputs must exist already, so ids come out topological. */
export class GraphBuilder {
  private readonly nodes: GraphNode[] = [];
  private inputCount = 0;

  private node(id: string): GraphNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new GraphPlanError(`unknown node ${id}`);
    return n;
  }

  private nextId(): string { return `n${this.nodes.length}`; }

  /** A query input; `stream` is what it delivers (a view's changes are a changelog). */
  source(source: PhysicalSource | null, schema: Schema, stream: StreamKind = APPEND): string {
    const id = this.nextId();
    this.nodes.push({ id, role: 'source', input: this.inputCount++, source, inputs: [], schema, stream });
    return id;
  }

  /**
   * `checkSchemas` false: the caller vouches for the plan (chains the planner already checked): columns
   * are not compared, and a stream kind that cannot be derived becomes an unkeyed changelog.
   */
  op(op: PhysicalOp, inputs: readonly string[], checkSchemas = true): string {
    if (inputs.length === 0) throw new GraphPlanError(`${op.kind} has no input`);
    const arity = op.kind === 'union' ? op.inputs : op.kind === 'join' ? 2 : 1;
    if (inputs.length !== arity) throw new GraphPlanError(`${op.kind} takes ${arity} input${arity === 1 ? '' : 's'}, got ${inputs.length}`);
    const ins = inputs.map((i) => this.node(i));
    for (const [port, n] of (checkSchemas ? ins : []).entries()) {
      const want = (op.kind === 'join' && port === 1 ? op.rightSchema : opInputSchema(op)).fields;
      const got = n.schema.fields;
      if (got.length !== want.length || got.some((f, i) => f.type.kind !== want[i]!.type.kind)) {
        throw new GraphPlanError(`${op.kind} expects columns (${want.map((f) => f.name).join(', ')}) but ${n.id} gives (${got.map((f) => f.name).join(', ')})`);
      }
    }
    let stream: StreamKind;
    try { stream = deriveStream(op, ins.map((n) => n.stream)); } catch (e) {
      // A chain from today's planner runs as it always has: its sink carries the key it needs.
      if (checkSchemas || !(e instanceof GraphPlanError)) throw e;
      stream = { kind: 'changelog', key: [] };
    }
    const id = this.nextId();
    this.nodes.push({ id, role: 'op', op, inputs: [...inputs], schema: op.schema, stream });
    return id;
  }

  sink(sink: PhysicalSink, input: string): string {
    const from = this.node(input);
    const id = this.nextId();
    this.nodes.push({ id, role: 'sink', sink, inputs: [input], schema: from.schema, stream: from.stream });
    return id;
  }

  build(): PhysicalGraph {
    const nodes = [...this.nodes];
    const used = new Set(nodes.flatMap((n) => n.inputs));
    for (const n of nodes) if (n.role !== 'sink' && !used.has(n.id)) throw new GraphPlanError(`node ${n.id} feeds nothing`);
    if (!nodes.some((n) => n.role === 'sink')) throw new GraphPlanError('a graph needs a sink');
    return { nodes, fingerprint: fingerprint(nodes) };
  }
}

/** The current planner's linear plan as a graph: source → ops… → sink. */
export function chainToGraph(plan: PhysicalChain): PhysicalGraph {
  const g = new GraphBuilder();
  let at = g.source(plan.source, plan.source.schema, plan.source.kind === 'view_source' ? viewStream(plan) : APPEND);
  for (const op of plan.ops) at = g.op(op, [at], false);
  g.sink(plan.sink, at);
  return g.build();
}

/** A pull query over a view reads the view's current rows: inserts only. */
function viewStream(_plan: PhysicalChain): StreamKind { return APPEND; }

/** A bare operator chain (no source definition), collecting into one sink. */
export function opsToGraph(ops: readonly PhysicalOp[], inputSchema?: Schema): PhysicalGraph {
  const g = new GraphBuilder();
  const schema = inputSchema ?? (ops[0] ? opInputSchema(ops[0]) : { fields: [] });
  let at = g.source(null, schema);
  for (const op of ops) at = g.op(op, [at], false);
  g.sink({ kind: 'collect' }, at);
  return g.build();
}

/**
 * A structural hash of the plan: node ids, roles, inputs, schemas and operator specs. Source
 * connection options (brokers, rates) are left out: they may change between runs of one query.
 */
function fingerprint(nodes: readonly GraphNode[]): string {
  const shape = nodes.map((n) => {
    const base = { id: n.id, role: n.role, inputs: n.inputs, schema: n.schema.fields.map((f) => [f.name, f.type]), stream: n.stream };
    switch (n.role) {
      case 'source': return { ...base, input: n.input };
      case 'op': return { ...base, op: n.op };
      case 'sink': return { ...base, sink: n.sink.kind };
      default: return assertNever(n, 'node');
    }
  });
  return hash64(JSON.stringify(shape));
}

/** Two FNV-1a lanes with different seeds: 64 bits, as 16 hex digits. Not cryptographic; it need not be. */
export function hash64(s: string): string {
  let a = 0x811c9dc5 | 0; let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995); b ^= b >>> 13;
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

export function streamText(s: StreamKind, schema: Schema): string {
  return s.kind === 'append' ? 'append-only' : `changelog key=[${names(schema, s.key).join(', ')}]`;
}

/**
 * EXPLAIN text of a graph: one line per node, sinks first (reverse topological order), each with its
 * inputs and what it emits.
 */
export function printGraph(g: PhysicalGraph): string {
  return [...g.nodes].reverse().map((n) => nodeLine(g, n)).join('\n');
}

/**
 * One node's EXPLAIN line; `inputs` overrides the ids printed after `<-` (planner/exchange.ts prints
 * a node behind the Exchange nodes it reads from).
 */
export function nodeLine(g: PhysicalGraph, n: GraphNode, inputs: readonly string[] = n.inputs): string {
  let body: string;
  switch (n.role) {
    case 'source': {
      if (!n.source) { body = `Input #${n.input}`; break; }
      const plan: PhysicalChain = { source: n.source, ops: opsAfter(g, n.id), sink: { kind: 'collect' }, schema: n.schema };
      body = `${sourceLine(n.source, sourceColumnsUsed(plan))} input=#${n.input}`;
      break;
    }
    case 'op': body = opLine(n.op); break;
    case 'sink': body = sinkLine(n.sink, n.schema); break;
    default: body = assertNever(n, 'node');
  }
  const ins = inputs.length ? ` <- [${inputs.join(', ')}]` : '';
  return `${n.id} ${body}${ins} | ${streamText(n.stream, n.schema)}`;
}

/** The columns input `input` must decode (null: all): what the operators right after its source read. */
export function inputColumnsUsed(g: PhysicalGraph, input: number): boolean[] | null {
  const n = g.nodes.find((x) => x.role === 'source' && x.input === input);
  if (!n || n.role !== 'source' || !n.source) return null;
  return sourceColumnsUsed({ source: n.source, ops: opsAfter(g, n.id), sink: { kind: 'collect' }, schema: n.schema });
}

/** The single-input operators right after a source (for its decode=[…] column list). */
function opsAfter(g: PhysicalGraph, id: string): PhysicalOp[] {
  const out: PhysicalOp[] = [];
  let at = id;
  for (;;) {
    const next = g.nodes.filter((n) => n.inputs.includes(at));
    if (next.length !== 1) return out;
    const n = next[0]!;
    if (n.role !== 'op' || n.inputs.length !== 1) return out;
    out.push(n.op); at = n.id;
  }
}
