/**
 * Cumulating window aggregate (Flink's CUMULATE): within each period of `size`, windows that all start
 * at the period start and end every `step`: [s, s+step), [s, s+2·step), …, [s, s+size).
 */
import type { OperatorContext } from '../operator.ts';
import { floorMod, windowAggregate, type WindowAggregateOp, type WindowAssigner, type WindowAggregateShell } from './window-common.ts';

export function cumulateAssigner(stepMs: number, sizeMs: number, offsetMs: number): WindowAssigner {
  const steps = sizeMs / stepMs;
  return {
    passes: steps,
    ends(t, n, k, out) {
      for (let i = 0; i < n; i++) {
        const x = t[i]!;
        const start = x - floorMod(x, sizeMs, offsetMs);
        // Pass k is the k-th window that contains x, counting from the smallest one.
        const first = Math.floor((x - start) / stepMs) + 1;
        const j = first + k;
        out[i] = j <= steps ? start + j * stepMs : NaN;
      }
    },
    lastEnd: (t) => t - floorMod(t, sizeMs, offsetMs) + sizeMs,
    startOf: (end) => (end - 1) - floorMod(end - 1, sizeMs, offsetMs),
  };
}

export function createCumulateAggregate(op: WindowAggregateOp, ctx: OperatorContext): WindowAggregateShell {
  if (op.spec.kind !== 'cumulate') throw new Error('cumulate aggregate over a non-cumulate window');
  return windowAggregate(op, cumulateAssigner(op.spec.stepMs, op.spec.sizeMs, op.spec.offsetMs), ctx, 'cumulate_aggregate');
}
