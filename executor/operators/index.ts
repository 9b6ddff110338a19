/**
 * Operator factories by physical operator kind: the one table the graph runtime consults to build a
 * node's operator. A factory sees what its inputs emit (append-only or a keyed changelog), so an
 * aggregate over a changelog retracts.
 */
import type { PhysicalOp } from '../../planner/physical.ts';
import type { StreamKind } from '../../planner/physical-graph.ts';
import { assertNever } from '../../planner/types.ts';
import type { Operator, OperatorContext } from '../operator.ts';
import { createCumulateAggregate } from './cumulate-aggregate.ts';
import { createDedup } from './dedup.ts';
import { createExpand } from './expand.ts';
import { createFilter } from './filter.ts';
import { createHopAggregate } from './hop-aggregate.ts';
import { createJoin } from './join.ts';
import { createLimit } from './limit.ts';
import { createProject } from './project.ts';
import { createRetractAggregate } from './retract-aggregate.ts';
import { createSessionAggregate } from './session-aggregate.ts';
import { createSort } from './sort.ts';
import { createTopN } from './top-n.ts';
import { createTumbleAggregate } from './tumble-aggregate.ts';
import { createUnion } from './union.ts';
import { createUpdatingAggregate } from './updating-aggregate.ts';
import { createWindowAssign } from './window-assign.ts';
import { createWindowTopN } from './window-top-n.ts';

type Factory<K extends PhysicalOp['kind']> = (op: Extract<PhysicalOp, { kind: K }>, ctx: OperatorContext, inputs: readonly StreamKind[]) => Operator;

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
  updating_aggregate: (op, _ctx, inputs) => {
    const input = inputs[0];
    const key = input && input.kind === 'changelog' ? input.key : op.retractKey;
    return key ? createRetractAggregate(op, key) : createUpdatingAggregate(op);
  },
  sort: (op) => createSort(op),
  limit: (op) => createLimit(op),
  join: (op, ctx, inputs) => createJoin(op, ctx, inputs),
  union: (op, _ctx, inputs) => createUnion(op, inputs.some((s) => s.kind === 'changelog')),
  dedup: (op, ctx) => createDedup(op, ctx),
  expand: (op) => createExpand(op),
  top_n: (op, ctx, inputs) => (op.window ? createWindowTopN(op, ctx) : createTopN(op, inputs[0] ?? { kind: 'append' })),
};

export function createOperator(op: PhysicalOp, ctx: OperatorContext, inputs: readonly StreamKind[] = [{ kind: 'append' }]): Operator {
  return (FACTORIES[op.kind] as Factory<typeof op.kind>)(op as never, ctx, inputs);
}
