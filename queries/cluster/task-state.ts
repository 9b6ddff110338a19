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
 *
 * Large state: a value over `STATE_CHUNK_BYTES` goes as chunks under the keys `<task>/0`, `<task>/1`, …
 * ("SQTC" | u32 epoch | u32 index | bytes), each its own record batch, then a manifest under the task's
 * key ("SQTM" | JSON {epoch, chunks, bytes}), all in the epoch's transaction and in the task's
 * partition. So no record nears the topic's 64 MB limit, and compaction keeps, per key, the newest: the
 * manifest's epoch's chunks 0..n-1 (a later epoch with fewer chunks leaves older chunks above n, which
 * the manifest does not name). Read back by `assembleTaskState`; a chunk of another epoch fails loudly.
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

/** Chunk size of a large state value (well under the state topic's 64 MB per record, and quick to send). */
export const STATE_CHUNK_BYTES = 4 * 1024 * 1024;
const CHUNK = Buffer.from('SQTC', 'latin1');
const MANIFEST = Buffer.from('SQTM', 'latin1');

/** The state topic records of one encoded state value: the value itself when it fits, else its chunks and a manifest. */
export function stateRecords(task: string, epoch: number, value: Buffer, chunkBytes = STATE_CHUNK_BYTES): { key: string; value: Buffer }[] {
  if (value.length <= chunkBytes) return [{ key: task, value }];
  const out: { key: string; value: Buffer }[] = [];
  for (let i = 0, at = 0; at < value.length; i++, at += chunkBytes) {
    const h = Buffer.alloc(12);
    CHUNK.copy(h, 0); h.writeUInt32BE(epoch, 4); h.writeUInt32BE(i, 8);
    out.push({ key: `${task}/${i}`, value: Buffer.concat([h, value.subarray(at, Math.min(value.length, at + chunkBytes))]) });
  }
  out.push({ key: task, value: Buffer.concat([MANIFEST, Buffer.from(JSON.stringify({ epoch, chunks: out.length, bytes: value.length }), 'utf8')]) });
  return out;
}

/** The state value of `task` from the newest record of each of its keys (`readLatestStates`), or null when it has none. */
export function assembleTaskState(task: string, latest: ReadonlyMap<string, Buffer | null>): Buffer | null {
  const top = latest.get(task) ?? null;
  if (!top || !(top.length >= 4 && top.subarray(0, 4).equals(MANIFEST))) return top;
  const m = JSON.parse(top.subarray(4).toString('utf8')) as { epoch: number; chunks: number; bytes: number };
  const parts: Buffer[] = [];
  for (let i = 0; i < m.chunks; i++) {
    const c = latest.get(`${task}/${i}`);
    if (!c || c.length < 12 || !c.subarray(0, 4).equals(CHUNK)) throw new TaskStateError(`state of task ${task}: chunk ${i} of ${m.chunks} (epoch ${m.epoch}) is missing`);
    if (c.readUInt32BE(4) !== m.epoch || c.readUInt32BE(8) !== i) throw new TaskStateError(`state of task ${task}: chunk ${i} holds epoch ${c.readUInt32BE(4)} part ${c.readUInt32BE(8)}, the manifest epoch ${m.epoch}`);
    parts.push(c.subarray(12));
  }
  const value = Buffer.concat(parts);
  if (value.length !== m.bytes) throw new TaskStateError(`state of task ${task}: ${value.length} bytes in its chunks, the manifest says ${m.bytes}`);
  return value;
}

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
  /** The state records of `epoch` once written (the sink's transaction sends them; `stateRecords`), else null. */
  recordsFor(epoch: number): readonly { key: string; value: Buffer }[] | null;
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
  let pending: { epoch: number; bytes: Buffer; records: { key: string; value: Buffer }[] } | null = null;
  let bytesCommitted = 0; let lastRecordBytes = 0;
  return {
    async writeOffsets(e) { offsets = e; },
    async writeState(epoch, st) {
      if (!offsets || offsets.epoch !== epoch) throw new Error(`task ${task}: state of epoch ${epoch} written without its offsets`);
      const bytes = encodeTaskState(task, epoch, offsets, st);
      pending = { epoch, bytes, records: stateRecords(task, epoch, bytes) };
      return {};
    },
    async commit(epoch) {
      if (pending?.epoch === epoch) { bytesCommitted += pending.bytes.length; lastRecordBytes = pending.bytes.length; pending = null; }
    },
    async prune() { /* compaction keeps the newest record per task */ },
    async discardAfter() { /* uncommitted epochs are aborted transactions: invisible */ },
    recordsFor: (epoch) => (pending?.epoch === epoch ? pending.records : null),
    get bytesCommitted() { return bytesCommitted; },
    get lastRecordBytes() { return lastRecordBytes; },
  };
}
