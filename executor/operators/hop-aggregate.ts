/**
 * Hopping (sliding) window aggregate: windows of `size` starting every `slide`; a row is in
 * ceil(size / slide) of them. The size need not be a multiple of the slide.
 */
import type { OperatorContext } from '../operator.ts';
import { floorMod, windowAggregate, type WindowAggregateOp, type WindowAssigner, type WindowAggregateShell } from './window-common.ts';

export function hopAssigner(slideMs: number, sizeMs: number, offsetMs: number): WindowAssigner {
  return {
    passes: Math.ceil(sizeMs / slideMs),
    ends(t, n, k, out) {
      for (let i = 0; i < n; i++) {
        const x = t[i]!;
        const end = x - floorMod(x, slideMs, offsetMs) - k * slideMs + sizeMs;
        out[i] = end > x ? end : NaN;
      }
    },
    lastEnd: (t) => t - floorMod(t, slideMs, offsetMs) + sizeMs,
    startOf: (end) => end - sizeMs,
  };
}

export function createHopAggregate(op: WindowAggregateOp, ctx: OperatorContext): WindowAggregateShell {
  if (op.spec.kind !== 'hop') throw new Error('hop aggregate over a non-hop window');
  return windowAggregate(op, hopAssigner(op.spec.slideMs, op.spec.sizeMs, op.spec.offsetMs), ctx, 'hop_aggregate');
}
