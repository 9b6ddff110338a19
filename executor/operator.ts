/**
 * The operator contract. Only `processBatch` is required: the graph runtime (graph.ts) forwards
 * watermarks, barriers and end of input for operators that do not handle them. An operator with
 * several inputs learns which one a batch came from by `input` (0-based, the order of the node's
 * inputs); watermarks, barriers and end reach it once they hold on every input.
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
  /** Processing time in ms (state TTLs); Date.now when absent. Tests pass a clock. */
  now?(): number;
}

export interface OperatorState {
  /** Snapshot of the operator's state as an Arrow batch (stored as Arrow IPC by the checkpoint log). */
  readonly batch: RecordBatch | null;
  /** Small scalar state (watermark, counters) stored beside it as JSON. */
  readonly meta: Record<string, unknown>;
}

/**
 * State as named tables (graph snapshots): each table one Arrow batch (null or absent when empty),
 * plus small scalar state as JSON. Names are fixed per operator (`stateTables`), so a restore can
 * refuse tables it does not know.
 */
export interface TableState {
  readonly tables: Readonly<Record<string, RecordBatch | null>>;
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
  processBatch(batch: RecordBatch, ops: Int8Array | null, out: Output, input?: number): void;
  /** Called when the event-time watermark advances; stateful operators close windows here. */
  processWatermark?(watermark: number, out: Output): void;
  /**
   * Called at each checkpoint barrier before `snapshot`: EMIT CHANGES operators send the groups that
   * changed during the epoch here, so each epoch yields at most one change per group.
   */
  flush?(out: Output): void;
  /** End of a bounded input: emit whatever is still held. */
  end?(out: Output): void;
  /** Single-table state (the original form); the graph stores it as the table `state`. */
  snapshot?(): OperatorState;
  restore?(state: OperatorState): void;
  /** Names of the tables `snapshotTables` may return. */
  readonly stateTables?: readonly string[];
  /** Named-table state; preferred over `snapshot` when present. */
  snapshotTables?(): TableState;
  restoreTables?(state: TableState): void;
  metrics?(): OperatorMetrics;
}
