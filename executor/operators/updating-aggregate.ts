/**
 * Non-windowed GROUP BY: an updating aggregate. Its groups never close, so it emits upserts of the
 * groups that changed at every barrier (and at end of input).
 */
import type { RecordBatch } from 'apache-arrow';
import type { PhysicalOp } from '../../planner/physical.ts';
import { batchVectors } from '../arrow.ts';
import { aggInputs, WindowedAggregation } from '../kernels/window-state.ts';
import type { Operator, OperatorState, Output } from '../operator.ts';
import { upserts } from './window-common.ts';

export function createUpdatingAggregate(op: Extract<PhysicalOp, { kind: 'updating_aggregate' }>): Operator {
  const keyTypes = op.groupBy.map((i) => op.inputSchema.fields[i]!.type);
  const state = new WindowedAggregation({ keyTypes, aggs: op.aggs, windowed: false, startOf: () => 0, schema: op.schema });
  return {
    name: 'updating_aggregate',
    schema: op.schema,
    processBatch(batch: RecordBatch) {
      const n = batch.numRows;
      if (n === 0) return;
      state.accumulateOne(0, null, n, aggInputs(batchVectors(batch, op.inputSchema), op.groupBy, op.aggs));
    },
    flush(out: Output) {
      const changes = state.takeChanges();
      if (changes) out.batch(changes, upserts(changes.numRows));
    },
    end(out: Output) { this.flush!(out); },
    snapshot(): OperatorState { return { batch: state.snapshot(), meta: {} }; },
    restore(s: OperatorState) { state.restore(s.batch); },
    metrics() { return { stateRows: state.stateRows(), stateBytes: state.stateBytes(), lateRowsDropped: 0 }; },
  };
}
