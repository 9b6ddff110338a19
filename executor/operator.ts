/**
 * The operator contract. Only `processBatch` is required: the pipeline forwards watermarks, barriers
 * and end of input for operators that do not handle them.
 */
import type { RecordBatch } from 'apache-arrow';
import type { Schema } from '../planner/types.ts';

export interface Output {
  /** Sends a batch downstream (`ops` as in Message). */
  batch(batch: RecordBatch, ops: Int8Array | null): void;
}

/** Rows an operator dropped because their window had closed. */
export interface LateRows {
  readonly batch: RecordBatch;
  readonly schema: Schema;
  /** Row indices of `batch` that were dropped. */
  readonly rows: Int32Array;
  readonly watermark: number;
  readonly reason: string;
}

/** Per-operator context: counters the query shows in its progress, and where dropped rows go. */
export interface OperatorContext {
  onLate?(late: LateRows): void;
}

export interface OperatorState {
  /** Snapshot of the operator's state as an Arrow batch (stored as Arrow IPC by the checkpoint log). */
  readonly batch: RecordBatch | null;
  /** Small scalar state (watermark, counters) stored beside it as JSON. */
  readonly meta: Record<string, unknown>;
}

export interface OperatorMetrics {
  stateRows: number;
  stateBytes: number;
  lateRowsDropped: number;
}

export interface Operator {
  readonly name: string;
  readonly schema: Schema;
  processBatch(batch: RecordBatch, ops: Int8Array | null, out: Output): void;
  /** Called when the event-time watermark advances; stateful operators close windows here. */
  processWatermark?(watermark: number, out: Output): void;
  /**
   * Called at each checkpoint barrier before `snapshot`: EMIT CHANGES operators send the groups that
   * changed during the epoch here, so each epoch yields at most one change per group.
   */
  flush?(out: Output): void;
  /** End of a bounded input: emit whatever is still held. */
  end?(out: Output): void;
  snapshot?(): OperatorState;
  restore?(state: OperatorState): void;
  metrics?(): OperatorMetrics;
}
