/**
 * A pipeline is a chain of operators run as a one-input graph (graph.ts is the one runtime): batches
 * flow through `processBatch`; watermarks, barriers and end of input visit every operator in order,
 * each one's output reaching the next before the message itself does (so a window closed by a
 * watermark is emitted ahead of that watermark). Its state is one `OperatorState` per chain position,
 * the form the query runner checkpoints today.
 */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../planner/physical.ts';
import { opsToGraph } from '../planner/physical-graph.ts';
import { createGraph, type Graph } from './graph.ts';
import type { Message } from './message.ts';
import type { Operator, OperatorContext, OperatorMetrics, OperatorState } from './operator.ts';

export { createOperator } from './operators/index.ts';

/** Where the pipeline's output goes: the sink side of a query. */
export interface PipelineSink {
  batch(batch: RecordBatch, ops: Int8Array | null): void;
  watermark?(time: number): void;
  barrier?(epoch: number): void;
  end?(): void;
}

export interface Pipeline {
  readonly operators: readonly Operator[];
  /** The graph underneath (one input, one sink). */
  readonly graph: Graph;
  push(msg: Message): void;
  snapshot(): OperatorState[];
  restore(states: readonly OperatorState[]): void;
  metrics(): OperatorMetrics[];
}

const EMPTY: OperatorMetrics = { stateRows: 0, stateBytes: 0, lateRowsDropped: 0 };

export function createPipeline(ops: readonly PhysicalOp[], sink: PipelineSink, ctx: OperatorContext = {}): Pipeline {
  const plan = opsToGraph(ops);
  const graph = createGraph(plan, sink, ctx);
  const ids = plan.nodes.filter((n) => n.role === 'op').map((n) => n.id);
  const operators = ids.map((id) => graph.operators.get(id)!);
  return {
    operators,
    graph,
    push: (msg) => graph.push(0, msg),
    snapshot: () => {
      const s = graph.snapshot();
      return ids.map((id, i) => {
        const ns = s.nodes[id];
        if (!ns) return { batch: null, meta: {} };
        const names = Object.keys(ns.tables).filter((t) => t !== 'state');
        if (names.length) throw new Error(`${operators[i]!.name} keeps several state tables; checkpoint it as a graph`);
        return { batch: ns.tables.state ?? null, meta: ns.meta };
      });
    },
    restore: (states) => {
      operators.forEach((op, i) => {
        const s = states[i];
        if (!s) return;
        if (op.restoreTables) op.restoreTables({ tables: s.batch ? { state: s.batch } : {}, meta: s.meta });
        else op.restore?.(s);
      });
    },
    metrics: () => operators.map((op) => op.metrics?.() ?? EMPTY),
  };
}
