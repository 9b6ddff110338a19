/** Tumbling-window aggregate: each row is in exactly one window, [start, start + size). */
import type { OperatorContext } from '../operator.ts';
import { floorMod, windowAggregate, type WindowAggregateOp, type WindowAssigner, type WindowAggregateShell } from './window-common.ts';

export function tumbleAssigner(sizeMs: number, offsetMs: number): WindowAssigner {
  return {
    passes: 1,
    ends(t, n, _k, out) {
      for (let i = 0; i < n; i++) { const x = t[i]!; out[i] = x - floorMod(x, sizeMs, offsetMs) + sizeMs; }
    },
    lastEnd: (t) => t - floorMod(t, sizeMs, offsetMs) + sizeMs,
    startOf: (end) => end - sizeMs,
  };
}

export function createTumbleAggregate(op: WindowAggregateOp, ctx: OperatorContext): WindowAggregateShell {
  if (op.spec.kind !== 'tumble') throw new Error('tumble aggregate over a non-tumble window');
  return windowAggregate(op, tumbleAssigner(op.spec.sizeMs, op.spec.offsetMs), ctx, 'tumble_aggregate');
}
