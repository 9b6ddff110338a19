/**
 * The one runtime: runs a physical graph (planner/physical-graph.ts) synchronously. A message pushed
 * into input i enters that input's source node and travels depth-first: each operator's output reaches
 * its downstream nodes before the message that caused it goes on.
 *
 * - Input ports: an operator learns which of its inputs a batch came from (`processBatch(…, input)`).
 * - Watermarks: a node's watermark is the minimum over its inputs (an ended input no longer holds it
 *   back); the node handles and forwards a watermark only when that minimum advances.
 * - Barriers are aligned: once a barrier arrived on one input, that input is blocked (its messages are
 *   buffered) until the barrier arrived on every input; then the operator flushes, the barrier goes on,
 *   and the buffered messages are replayed. An ended input counts as aligned.
 * - End of input: a node ends when every input has ended.
 * - Fan-out: a node may feed several nodes; each gets every batch.
 *
 * Snapshots are consistent cuts: a node that aligned a barrier and is touched again before that barrier
 * has reached every node (data replayed from a buffer, pushed into another input, or a newer barrier)
 * captures its state first; `snapshot(epoch)` returns those captures and the current state of the
 * untouched nodes. Once a barrier is complete, take its snapshot before pushing anything else.
 *
 * Dispatch goes through per-node tables built once (targets, ports, operator); no per-row work here.
 */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalGraph } from '../planner/physical-graph.ts';
import type { Message } from './message.ts';
import type { Operator, OperatorContext, OperatorMetrics, Output, TableState } from './operator.ts';
import { createOperator } from './operators/index.ts';

/** Where a sink node's stream goes. */
export interface GraphSink {
  batch(batch: RecordBatch, ops: Int8Array | null): void;
  watermark?(time: number): void;
  barrier?(epoch: number): void;
  end?(): void;
}

/** A node's state in a snapshot: its named tables (empty ones left out) and scalar meta. */
export interface NodeSnapshot {
  readonly tables: Readonly<Record<string, RecordBatch>>;
  readonly meta: Record<string, unknown>;
}

export interface GraphSnapshot {
  readonly planFingerprint: string;
  /** The barrier the snapshot belongs to (null before any barrier). */
  readonly epoch: number | null;
  readonly nodes: Readonly<Record<string, NodeSnapshot>>;
  /**
   * Per node, the watermark of each of its inputs (null: none yet), so a restored multi-input node
   * takes the minimum over the same values as before (absent: none known).
   */
  readonly watermarks?: Readonly<Record<string, readonly (number | null)[]>>;
}

/** A snapshot that does not fit the graph: nothing was restored. */
export class StateMismatchError extends Error {}

export interface Graph {
  readonly plan: PhysicalGraph;
  /** Number of inputs (source nodes). */
  readonly inputs: number;
  /** Operators by node id (sources and sinks have none). */
  readonly operators: ReadonlyMap<string, Operator>;
  /** Pushes a message into input `input`. */
  push(input: number, msg: Message): void;
  /** Pushes a barrier into every input, in input order. */
  barrier(epoch: number): void;
  /** Pushes end of input into every input that has not ended. */
  end(): void;
  /**
   * The state at barrier `epoch` (default: the newest barrier pushed); throws while that barrier has
   * not reached every node, or once a newer barrier has completed.
   */
  snapshot(epoch?: number): GraphSnapshot;
  /** Replaces every operator's state; refuses (StateMismatchError, nothing changed) a snapshot of another plan. */
  restore(s: GraphSnapshot): void;
  metrics(): Record<string, OperatorMetrics>;
}

const EMPTY_METRICS: OperatorMetrics = { stateRows: 0, stateBytes: 0, lateRowsDropped: 0 };
const OPEN = 0; const BARRIER = 1; const ENDED = 2;

interface Target { readonly node: RtNode; readonly port: number }

interface Capture { readonly state: TableState | null; readonly wms: readonly (number | null)[] }

interface RtNode {
  readonly id: string;
  readonly op: Operator | null;
  readonly sink: GraphSink | null;
  readonly nIn: number;
  targets: readonly Target[];
  out: Output;
  /** Per input: its watermark. */
  readonly wms: Float64Array;
  wm: number;
  /** Per input: OPEN, BARRIER (blocked until alignment) or ENDED. */
  readonly port: Uint8Array;
  nBarrier: number;
  nEnded: number;
  barrierEpoch: number;
  /** Messages that arrived on a blocked input, per input (allocated on first use). */
  queues: Message[][] | null;
  done: boolean;
  /** The last epoch this node aligned, and its state at each aligned epoch still in flight elsewhere. */
  alignedEpoch: number;
  captured: Map<number, Capture> | null;
  stateful: boolean;
}

function operatorTables(op: Operator): readonly string[] {
  if (op.snapshotTables) return op.stateTables ?? [];
  return op.snapshot ? ['state'] : [];
}

function captureOf(op: Operator): TableState {
  if (op.snapshotTables) return op.snapshotTables();
  const s = op.snapshot!();
  return { tables: s.batch ? { state: s.batch } : {}, meta: s.meta };
}

export function createGraph(plan: PhysicalGraph, sinks: GraphSink | Readonly<Record<string, GraphSink>>, ctx: OperatorContext = {}): Graph {
  const byId = new Map<string, RtNode>();
  const sources: RtNode[] = [];
  const operators = new Map<string, Operator>();
  const sinkNodes = plan.nodes.filter((n) => n.role === 'sink');
  const sinkFor = (id: string): GraphSink => {
    if (typeof (sinks as GraphSink).batch === 'function') {
      if (sinkNodes.length > 1) throw new Error('a graph with several sinks needs a sink per sink node id');
      return sinks as GraphSink;
    }
    const s = (sinks as Record<string, GraphSink>)[id];
    if (!s) throw new Error(`no sink given for sink node ${id}`);
    return s;
  };
  const streamOf = new Map(plan.nodes.map((n) => [n.id, n.stream]));

  for (const n of plan.nodes) {
    const nIn = n.role === 'source' ? 1 : n.inputs.length;
    const op = n.role === 'op' ? createOperator(n.op, ctx, n.inputs.map((i) => streamOf.get(i)!)) : null;
    if (op) operators.set(n.id, op);
    const rt: RtNode = {
      id: n.id, op, sink: n.role === 'sink' ? sinkFor(n.id) : null, nIn, targets: [], out: { batch: () => undefined },
      wms: new Float64Array(nIn).fill(-Infinity), wm: -Infinity, port: new Uint8Array(nIn), nBarrier: 0, nEnded: 0,
      barrierEpoch: -1, queues: null, done: false, alignedEpoch: -1, captured: null,
      stateful: op !== null && operatorTables(op).length > 0,
    };
    byId.set(n.id, rt);
    if (n.role === 'source') sources[n.input] = rt;
  }
  // Targets: node ids in topological order, ports by position in the consumer's input list.
  for (const n of plan.nodes) {
    n.inputs.forEach((from, port) => {
      const src = byId.get(from)!;
      src.targets = [...src.targets, { node: byId.get(n.id)!, port }];
    });
  }
  const nodes = [...byId.values()];
  for (const rt of nodes) rt.out = makeOutput(rt);

  /** The newest barrier epoch pushed. */
  let curEpoch = -1;
  /** Per barrier epoch in flight: how many nodes have yet to align it. */
  const pending = new Map<number, number>();
  /** The newest complete epoch: captures of older ones are dropped, their snapshots refused. */
  let completed = -1;
  /** Number of epochs in flight: while > 0, touched nodes capture their state first. */
  let unaligned = 0;
  const settle = (e: number) => {
    const left = pending.get(e)! - 1;
    if (left > 0) { pending.set(e, left); return; }
    pending.delete(e); unaligned = pending.size;
    completed = Math.max(completed, e);
    // Captures of older complete epochs can no longer be asked for.
    for (const n of nodes) if (n.captured) for (const k of n.captured.keys()) if (k < completed) n.captured.delete(k);
  };

  function makeOutput(rt: RtNode): Output {
    const ts = rt.targets;
    if (ts.length === 1) { const t = ts[0]!; return { batch: (b, o) => deliverBatch(t.node, t.port, b, o) }; }
    return { batch: (b, o) => { for (let i = 0; i < ts.length; i++) deliverBatch(ts[i]!.node, ts[i]!.port, b, o); } };
  }

  /** A node about to change after aligning a barrier others have not: keep its state at the barrier. */
  function touch(rt: RtNode): void {
    const e = rt.alignedEpoch;
    if (unaligned > 0 && pending.has(e) && !rt.captured?.has(e)) (rt.captured ??= new Map()).set(e, { state: rt.stateful ? captureOf(rt.op!) : null, wms: wmsOf(rt) });
  }

  function wmsOf(rt: RtNode): (number | null)[] {
    return Array.from(rt.wms, (w) => (Number.isFinite(w) ? w : null));
  }

  function enqueue(rt: RtNode, port: number, msg: Message): void {
    rt.queues ??= Array.from({ length: rt.nIn }, () => []);
    rt.queues[port]!.push(msg);
  }

  function deliverBatch(rt: RtNode, port: number, b: RecordBatch, o: Int8Array | null): void {
    if (rt.port[port] !== OPEN) {
      if (rt.port[port] === BARRIER) enqueue(rt, port, { kind: 'batch', batch: b, ops: o });
      return; // nothing may follow end of input
    }
    if (unaligned > 0) touch(rt);
    if (rt.op !== null) rt.op.processBatch(b, o, rt.out, port);
    else if (rt.sink !== null) rt.sink.batch(b, o);
    else rt.out.batch(b, o);
  }

  function deliver(rt: RtNode, port: number, msg: Message): void {
    if (msg.kind === 'batch') { deliverBatch(rt, port, msg.batch, msg.ops); return; }
    if (rt.port[port] === BARRIER) { enqueue(rt, port, msg); return; }
    if (rt.port[port] === ENDED) return;
    switch (msg.kind) {
      case 'watermark': {
        if (msg.time <= rt.wms[port]!) return;
        if (unaligned > 0) touch(rt);
        rt.wms[port] = msg.time;
        advanceWatermark(rt);
        return;
      }
      case 'barrier': {
        if (msg.epoch > curEpoch) { curEpoch = msg.epoch; pending.set(msg.epoch, nodes.filter((n) => !n.done).length); unaligned = pending.size; }
        if (rt.nIn === 1) { align(rt, msg.epoch); return; }
        rt.port[port] = BARRIER; rt.nBarrier++; rt.barrierEpoch = msg.epoch;
        if (rt.nBarrier + rt.nEnded === rt.nIn) align(rt, msg.epoch);
        return;
      }
      case 'end': {
        if (unaligned > 0) touch(rt);
        rt.port[port] = ENDED; rt.nEnded++; rt.wms[port] = Infinity;
        if (rt.nEnded === rt.nIn) { finish(rt); return; }
        if (rt.nBarrier > 0 && rt.nBarrier + rt.nEnded === rt.nIn) align(rt, rt.barrierEpoch);
        advanceWatermark(rt);
        return;
      }
    }
  }

  function advanceWatermark(rt: RtNode): void {
    let min = Infinity;
    for (let i = 0; i < rt.nIn; i++) { const w = rt.wms[i]!; if (w < min) min = w; }
    if (min === Infinity || min <= rt.wm) return; // all inputs ended: end() closes what is left
    rt.wm = min;
    if (unaligned > 0) touch(rt);
    if (rt.op !== null) rt.op.processWatermark?.(min, rt.out);
    if (rt.sink !== null) { rt.sink.watermark?.(min); return; }
    const m: Message = { kind: 'watermark', time: min };
    for (const t of rt.targets) deliver(t.node, t.port, m);
  }

  function align(rt: RtNode, epoch: number): void {
    if (unaligned > 0) touch(rt); // the previous epoch may still be in flight elsewhere
    rt.op?.flush?.(rt.out);
    rt.alignedEpoch = epoch;
    for (let i = 0; i < rt.nIn; i++) if (rt.port[i] === BARRIER) rt.port[i] = OPEN;
    rt.nBarrier = 0;
    if (rt.sink !== null) rt.sink.barrier?.(epoch);
    else { const m: Message = { kind: 'barrier', epoch }; for (const t of rt.targets) deliver(t.node, t.port, m); }
    // What arrived behind the barrier belongs to the next epoch: replay it now, in arrival order per
    // input. The epoch counts as complete only after that, so every node it touches keeps its state at
    // the barrier.
    const qs = rt.queues;
    if (qs !== null) {
      for (let p = 0; p < qs.length; p++) {
        const q = qs[p]!;
        if (q.length === 0) continue;
        qs[p] = [];
        for (const m of q) deliver(rt, p, m);
      }
    }
    if (pending.has(epoch)) settle(epoch);
  }


  function finish(rt: RtNode): void {
    rt.done = true;
    if (unaligned > 0) touch(rt);
    // It will never see the barriers still to come.
    for (const e of [...pending.keys()]) if (e > rt.alignedEpoch) settle(e);
    if (rt.op !== null) rt.op.end?.(rt.out);
    if (rt.sink !== null) { rt.sink.end?.(); return; }
    const m: Message = { kind: 'end' };
    for (const t of rt.targets) deliver(t.node, t.port, m);
  }

  function snapshot(epoch?: number): GraphSnapshot {
    const e = epoch ?? curEpoch;
    if (pending.has(e)) throw new Error(`barrier ${e} has not reached every node yet (${pending.get(e)} to go)`);
    if (e >= 0 && e < completed) throw new Error(`barrier ${e} is older than the last complete one (${completed}); its state is gone`);
    const out: Record<string, NodeSnapshot> = {};
    const watermarks: Record<string, (number | null)[]> = {};
    for (const rt of nodes) {
      const c = rt.captured?.get(e);
      if (!c && rt.alignedEpoch > e && !rt.done) throw new Error(`node ${rt.id} has moved past barrier ${e}; its state at that barrier is gone`);
      const wms = c?.wms ?? wmsOf(rt);
      if (wms.some((w) => w !== null)) watermarks[rt.id] = [...wms];
      if (!rt.stateful) continue;
      const s = c?.state ?? captureOf(rt.op!);
      const tables: Record<string, RecordBatch> = {};
      for (const [name, b] of Object.entries(s.tables)) if (b) tables[name] = b;
      out[rt.id] = { tables, meta: s.meta };
    }
    for (const rt of nodes) rt.captured?.delete(e);
    return { planFingerprint: plan.fingerprint, epoch: e >= 0 ? e : null, nodes: out, watermarks };
  }

  function restore(s: GraphSnapshot): void {
    if (s.planFingerprint !== plan.fingerprint) {
      throw new StateMismatchError(`the checkpoint was taken for another plan (fingerprint ${s.planFingerprint}, this plan ${plan.fingerprint}); its state cannot be restored into this query`);
    }
    // Check everything before changing anything.
    for (const [id, ns] of Object.entries(s.nodes)) {
      const rt = byId.get(id);
      if (!rt || !rt.stateful) throw new StateMismatchError(`the checkpoint holds state for node ${id}, which has no state in this plan`);
      const known = new Set(operatorTables(rt.op!));
      for (const name of Object.keys(ns.tables)) if (!known.has(name)) throw new StateMismatchError(`the checkpoint holds a table ${name} for node ${id} (${rt.op!.name}), which keeps only [${[...known].join(', ')}]`);
    }
    for (const rt of nodes) if (rt.stateful && !s.nodes[rt.id]) throw new StateMismatchError(`the checkpoint has no state for node ${rt.id} (${rt.op!.name})`);
    for (const [id, w] of Object.entries(s.watermarks ?? {})) {
      const rt = byId.get(id);
      if (!rt || rt.nIn !== w.length) throw new StateMismatchError(`the checkpoint holds watermarks for ${w.length} inputs of node ${id}, which ${rt ? `has ${rt.nIn}` : 'does not exist'}`);
    }
    for (const rt of nodes) {
      const w = s.watermarks?.[rt.id];
      for (let i = 0; i < rt.nIn; i++) rt.wms[i] = w?.[i] ?? -Infinity;
      let min = Infinity;
      for (let i = 0; i < rt.nIn; i++) min = Math.min(min, rt.wms[i]!);
      rt.wm = min;
    }
    for (const rt of nodes) {
      if (!rt.stateful) continue;
      const ns = s.nodes[rt.id]!;
      const op = rt.op!;
      if (op.restoreTables) op.restoreTables({ tables: ns.tables, meta: ns.meta });
      else op.restore?.({ batch: ns.tables.state ?? null, meta: ns.meta });
    }
  }

  return {
    plan,
    inputs: sources.length,
    operators,
    push(input, msg) {
      const rt = sources[input];
      if (!rt) throw new Error(`no input #${input} (the graph has ${sources.length})`);
      deliver(rt, 0, msg);
    },
    barrier(epoch) { for (const rt of sources) deliver(rt, 0, { kind: 'barrier', epoch }); },
    end() { for (const rt of sources) if (!rt.done) deliver(rt, 0, { kind: 'end' }); },
    snapshot,
    restore,
    metrics() {
      const m: Record<string, OperatorMetrics> = {};
      for (const [id, op] of operators) m[id] = op.metrics?.() ?? EMPTY_METRICS;
      return m;
    },
  };
}
