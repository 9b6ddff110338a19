/**
 * Joins: one factory that picks the operator for the join's time bound (regular, interval, window,
 * temporal), each in its own file. Input 0 is the left side, input 1 the right.
 */
import type { PhysicalOp } from '../../planner/physical.ts';
import type { StreamKind } from '../../planner/physical-graph.ts';
import type { Operator, OperatorContext } from '../operator.ts';

export type JoinOp = Extract<PhysicalOp, { kind: 'join' }>;

export function createJoin(op: JoinOp, _ctx: OperatorContext, _inputs: readonly StreamKind[]): Operator {
  throw new Error(`${op.bound.kind} joins are not implemented yet`);
}
