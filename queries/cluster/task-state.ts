/**
 * A scale-out task's checkpoint as one record of the query's state topic (issue 17): the epoch
 * protocol of queries/epochs.ts, unchanged, writes through `createTaskStateLog` instead of the
 * checkpoint directory. What the runner writes as files (offsets written ahead, the graph's tables
 * and meta, trackers, counters) becomes one value keyed by the task id; it leaves in the task's
 * sink transaction (connectors/kafka/sink.ts `extraRecords`), so output and state commit together
 * and the newest committed record is both. Nothing needs rolling forward: there is no second step.
 *
 * Value layout (all integers big-endian):
 *   "SQTS" | u32 header length | header JSON | the tables' Arrow IPC files, back to back
 * header = {v, task, epoch, offsets (the checkpoint log's OffsetsEntry), meta, tables: [[name, bytes | -1 for null]]}
 */
import { RecordBatch, Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import type { EpochState, LatestEpoch, OffsetsEntry } from '../checkpoint-log.ts';
import type { EpochLog } from '../epochs.ts';

const MAGIC = Buffer.from('SQTS', 'latin1');
export const TASK_STATE_VERSION = 1;

interface Header {
  readonly v: number;
  readonly task: string;
  readonly epoch: number;
  readonly offsets: OffsetsEntry;
  readonly meta: Record<string, unknown>;
  readonly tables: readonly (readonly [string, number])[];
}

export class TaskStateError extends Error {}

export function encodeTaskState(task: string, epoch: number, offsets: OffsetsEntry, st: EpochState): Buffer {
  const blobs: Uint8Array[] = [];
  const tables: [string, number][] = [];
  for (const [name, b] of Object.entries(st.batches)) {
    if (!b) { tables.push([name, -1]); continue; }
    const bytes = tableToIPC(new Table([b]), 'file');
    blobs.push(bytes);
    tables.push([name, bytes.byteLength]);
  }
  const header: Header = { v: TASK_STATE_VERSION, task, epoch, offsets, meta: st.meta, tables };
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(h.length);
  return Buffer.concat([MAGIC, len, h, ...blobs]);
}

/** The epoch a record holds, as the checkpoint log's `latest()` gives it to `epochs.restore`. */
export function decodeTaskState(task: string, value: Buffer): LatestEpoch {
  if (value.length < 8 || !value.subarray(0, 4).equals(MAGIC)) throw new TaskStateError(`state of task ${task} is not a task state record`);
  const hl = value.readUInt32BE(4);
  if (8 + hl > value.length) throw new TaskStateError(`state of task ${task} is cut off`);
  const header = JSON.parse(value.subarray(8, 8 + hl).toString('utf8')) as Header;
  if (header.v !== TASK_STATE_VERSION) throw new TaskStateError(`state of task ${task} has version ${header.v} (this build reads ${TASK_STATE_VERSION})`);
  if (header.task !== task) throw new TaskStateError(`state record under key ${task} belongs to task ${header.task}`);
  const batches: Record<string, RecordBatch | null> = {};
  let at = 8 + hl;
  for (const [name, n] of header.tables) {
    if (n < 0) { batches[name] = null; continue; }
    if (at + n > value.length) throw new TaskStateError(`state of task ${task}: table ${name} is cut off`);
    const t = tableFromIPC(value.subarray(at, at + n));
    if (t.batches.length > 1) throw new TaskStateError(`state of task ${task}: table ${name} holds ${t.batches.length} batches`);
    batches[name] = t.batches[0] ?? new RecordBatch(t.schema);
    at += n;
  }
  if (at !== value.length) throw new TaskStateError(`state of task ${task} has ${value.length - at} bytes past its tables`);
  return { restored: { epoch: header.epoch, offsets: header.offsets, state: { batches, meta: header.meta }, chains: {} }, skipped: [] };
}

export interface TaskStateLog extends EpochLog {
  /** The encoded state of `epoch` once written (the sink's transaction sends it), else null. */
  recordFor(epoch: number): Buffer | null;
  /** Bytes of state committed so far, and of the last committed record. */
  readonly bytesCommitted: number;
  readonly lastRecordBytes: number;
}

/**
 * The checkpoint log of a task: offsets and state of the epoch in progress held in memory and encoded
 * into one record; `commit` (after the sink's transaction committed it) only counts. Nothing to prune
 * or discard: the topic is compacted, and an epoch that did not commit left nothing visible.
 */
export function createTaskStateLog(task: string): TaskStateLog {
  let offsets: OffsetsEntry | null = null;
  let pending: { epoch: number; bytes: Buffer } | null = null;
  let bytesCommitted = 0; let lastRecordBytes = 0;
  return {
    async writeOffsets(e) { offsets = e; },
    async writeState(epoch, st) {
      if (!offsets || offsets.epoch !== epoch) throw new Error(`task ${task}: state of epoch ${epoch} written without its offsets`);
      pending = { epoch, bytes: encodeTaskState(task, epoch, offsets, st) };
      return {};
    },
    async commit(epoch) {
      if (pending?.epoch === epoch) { bytesCommitted += pending.bytes.length; lastRecordBytes = pending.bytes.length; pending = null; }
    },
    async prune() { /* compaction keeps the newest record per task */ },
    async discardAfter() { /* uncommitted epochs are aborted transactions: invisible */ },
    recordFor: (epoch) => (pending?.epoch === epoch ? pending.bytes : null),
    get bytesCommitted() { return bytesCommitted; },
    get lastRecordBytes() { return lastRecordBytes; },
  };
}
