/**
 * A pipeline runs a chain of operators: batches flow through `processBatch`; watermarks, barriers and
 * end of input visit every operator in order, each one's output reaching the next before the message
 * itself does (so a window closed by a watermark is emitted ahead of that watermark).
 */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../planner/physical.ts';
import { assertNever } from '../planner/types.ts';
import type { Message } from './message.ts';
import type { Operator, OperatorContext, OperatorMetrics, OperatorState, Output } from './operator.ts';
import { createCumulateAggregate } from './operators/cumulate-aggregate.ts';
import { createFilter } from './operators/filter.ts';
import { createHopAggregate } from './operators/hop-aggregate.ts';
import { createLimit } from './operators/limit.ts';
import { createProject } from './operators/project.ts';
import { createSessionAggregate } from './operators/session-aggregate.ts';
import { createSort } from './operators/sort.ts';
import { createTumbleAggregate } from './operators/tumble-aggregate.ts';
import { createUpdatingAggregate } from './operators/updating-aggregate.ts';
import { createWindowAssign } from './operators/window-assign.ts';

type Factory<K extends PhysicalOp['kind']> = (op: Extract<PhysicalOp, { kind: K }>, ctx: OperatorContext) => Operator;

const FACTORIES: { [K in PhysicalOp['kind']]: Factory<K> } = {
  filter: (op) => createFilter(op),
  project: (op) => createProject(op),
  window_assign: (op) => createWindowAssign(op),
  window_aggregate: (op, ctx) => {
    switch (op.spec.kind) {
      case 'tumble': return createTumbleAggregate(op, ctx);
      case 'hop': return createHopAggregate(op, ctx);
      case 'cumulate': return createCumulateAggregate(op, ctx);
      case 'session': return createSessionAggregate(op, ctx);
      default: return assertNever(op.spec, 'window');
    }
  },
  updating_aggregate: (op) => createUpdatingAggregate(op),
  sort: (op) => createSort(op),
  limit: (op) => createLimit(op),
};

export function createOperator(op: PhysicalOp, ctx: OperatorContext): Operator {
  return (FACTORIES[op.kind] as Factory<typeof op.kind>)(op as never, ctx);
}

/** Where the pipeline's output goes: the sink side of a query. */
export interface PipelineSink {
  batch(batch: RecordBatch, ops: Int8Array | null): void;
  watermark?(time: number): void;
  barrier?(epoch: number): void;
  end?(): void;
}

export interface Pipeline {
  readonly operators: readonly Operator[];
  push(msg: Message): void;
  snapshot(): OperatorState[];
  restore(states: readonly OperatorState[]): void;
  metrics(): OperatorMetrics[];
}

export function createPipeline(ops: readonly PhysicalOp[], sink: PipelineSink, ctx: OperatorContext = {}): Pipeline {
  const operators = ops.map((op) => createOperator(op, ctx));
  const outputs: Output[] = operators.map((_, i) => ({
    batch: (b, o) => deliverBatch(i + 1, b, o),
  }));
  function deliverBatch(i: number, b: RecordBatch, o: Int8Array | null): void {
    if (i === operators.length) { sink.batch(b, o); return; }
    operators[i]!.processBatch(b, o, outputs[i]!);
  }
  function deliver(i: number, msg: Message): void {
    if (i === operators.length) {
      switch (msg.kind) {
        case 'batch': sink.batch(msg.batch, msg.ops); return;
        case 'watermark': sink.watermark?.(msg.time); return;
        case 'barrier': sink.barrier?.(msg.epoch); return;
        case 'end': sink.end?.(); return;
        default: assertNever(msg, 'message');
      }
    }
    const op = operators[i]!; const out = outputs[i]!;
    switch (msg.kind) {
      case 'batch': op.processBatch(msg.batch, msg.ops, out); return;
      case 'watermark': op.processWatermark?.(msg.time, out); break;
      case 'barrier': op.flush?.(out); break;
      case 'end': op.end?.(out); break;
      default: assertNever(msg, 'message');
    }
    deliver(i + 1, msg);
  }
  return {
    operators,
    push: (msg) => deliver(0, msg),
    snapshot: () => operators.map((op) => op.snapshot?.() ?? { batch: null, meta: {} }),
    restore: (states) => { operators.forEach((op, i) => { const s = states[i]; if (s) op.restore?.(s); }); },
    metrics: () => operators.map((op) => op.metrics?.() ?? { stateRows: 0, stateBytes: 0, lateRowsDropped: 0 }),
  };
}
