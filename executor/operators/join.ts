/**
 * Joins: one factory that picks the operator for the join's time bound (regular, interval, window,
 * temporal), each in its own file. Input 0 is the left side, input 1 the right. Shared pieces: key ids
 * and per-side row state in kernels/join-state.ts, gathering and residual evaluation in
 * kernels/join-output.ts.
 */
import type { PhysicalOp } from '../../planner/physical.ts';
import type { StreamKind } from '../../planner/physical-graph.ts';
import { assertNever } from '../../planner/types.ts';
import type { Operator, OperatorContext } from '../operator.ts';
import { createIntervalJoin } from './interval-join.ts';
import { createRegularJoin } from './regular-join.ts';
import { createTemporalJoin } from './temporal-join.ts';
import { createWindowJoin } from './window-join.ts';

export type JoinOp = Extract<PhysicalOp, { kind: 'join' }>;

export function createJoin(op: JoinOp, ctx: OperatorContext, inputs: readonly StreamKind[]): Operator {
  if (op.leftKeys.length !== op.rightKeys.length) throw new Error(`a join needs as many left keys as right keys (${op.leftKeys.length} vs ${op.rightKeys.length})`);
  switch (op.bound.kind) {
    case 'regular': return createRegularJoin(op, ctx, inputs);
    case 'interval': return createIntervalJoin(op, ctx);
    case 'window': return createWindowJoin(op, ctx);
    case 'temporal': return createTemporalJoin(op, ctx);
    default: return assertNever(op.bound, 'join bound');
  }
}
