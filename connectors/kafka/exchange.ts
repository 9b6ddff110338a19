/**
 * Moving rows through a repartition topic (issue 17, planner/exchange.ts decides where): the writer
 * side re-keys an upstream task's batches and appends them inside that task's epoch transaction; the
 * reader side turns the records of a partition back into batches for the downstream task's driver
 * and follows the upstream tasks' watermarks.
 *
 * Placement: each row's key columns become key bytes (`exchangeKeyBytes`) and the row goes to
 * `partitionForKey(bytes, partitions)` — the partition the Java client would pick for a record with
 * that key. A single key column is written as Java's serializers write it, so a topic keyed by a
 * Java producer co-partitions with ours: VARCHAR as UTF-8 (StringSerializer), integral numbers (INT,
 * BIGINT, TIMESTAMP as epoch ms, integral DOUBLEs) as an 8-byte big-endian long (LongSerializer: INT
 * too, so an INT key meets a BIGINT one), other DOUBLEs as 8 big-endian IEEE bytes, BOOLEAN as one
 * byte, NULL as no bytes. Several key columns: per column 0x00 for NULL, else 0x01 and the value
 * (strings with a 4-byte length first). Equal key values give equal bytes whatever the column names,
 * which is what lets both sides of a join meet.
 *
 * Encoding (chosen for speed): the rows of one batch bound for one partition travel as ONE Kafka record
 * holding an Arrow IPC record-batch message — the executor's own column buffers, no per-row objects on
 * either side (per-row JSON records measured ~10× slower to encode and decode here, and kafkajs pays a
 * few objects per record). The IPC schema message is left out of every record (the reader knows the
 * exchange's schema from the plan and puts its own schema message in front). Record value:
 *   byte 0: 1 = rows, 2 = watermark; rows: byte 1 flags (bit 0: ops follow), bytes 4..7 the ops length
 *   (u32 LE), the ops (+1/-1 per row, a changelog's) padded to 8, then the IPC record-batch message.
 *   Watermark: UTF-8 JSON `{"task": id, "watermark": ms | null}` after byte 0.
 * Records have no key (the placement is per row); the topic's records are only ever read by us.
 *
 * Watermarks cross as records: each upstream task writes its watermark to EVERY partition (after the
 * rows it sent before it, in the same transaction), and a reader's watermark is the minimum over the
 * upstream tasks — only once it has heard from as many as it expects (until then, -Infinity: a task
 * that never spoke may still send rows of any age).
 */
import { RecordBatchStreamWriter, tableFromIPC, type RecordBatch } from 'apache-arrow';
import type { Producer, Transaction } from 'kafkajs';
import { batchFromData, batchVectors, makeBatch } from '../../executor/arrow.ts';
import { take, type Vector } from '../../executor/vector.ts';
import type { PackedMessages } from '../formats/fast-json.ts';
import type { Schema } from '../../planner/types.ts';
import { createKafka } from './client.ts';
import { murmur2, toPositive } from './partitioner.ts';

const ROWS = 1;
const WATERMARK = 2;
/** Below kafkajs' and the broker's default 1 MiB record-batch limit, with room for record framing. */
const DEFAULT_MAX_REQUEST_PARTITION_BYTES = 900_000;

const utf8 = new TextEncoder();

/** Writes key bytes of rows into one growing scratch buffer (no allocation per row). */
class KeyBytes {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    b.set(this.buf.subarray(0, this.len));
    this.buf = b; this.view = new DataView(b.buffer);
  }

  number(v: number): void {
    this.room(8);
    if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) {
      const hi = Math.floor(v / 4294967296);
      this.view.setInt32(this.len, hi); this.view.setUint32(this.len + 4, v - hi * 4294967296);
    } else this.view.setFloat64(this.len, v);
    this.len += 8;
  }

  byte(b: number): void { this.room(1); this.buf[this.len++] = b; }

  string(s: string, withLength: boolean): void {
    this.room(s.length * 3 + 4);
    const at = withLength ? this.len + 4 : this.len;
    const { written } = utf8.encodeInto(s, this.buf.subarray(at));
    if (withLength) this.view.setUint32(this.len, written);
    this.len = at + written;
  }

  bytes(): Uint8Array { return this.buf.subarray(0, this.len); }
}

function putValue(k: KeyBytes, v: Vector, row: number, framed: boolean): void {
  switch (v.kind) {
    case 'f64': case 'i32': k.number(v.values[row]!); return;
    case 'bool': k.byte(v.values[row]!); return;
    case 'str': k.string(v.values[row]!, framed); return;
    case 'struct': throw new Error('a repartition key cannot be a ROW value');
  }
}

/** The key bytes of `row` (a view into a scratch buffer: copy to keep it). See the header for the format. */
export function exchangeKeyBytes(cols: readonly Vector[], row: number, scratch = new KeyBytes()): Uint8Array {
  scratch.len = 0;
  if (cols.length === 1) {
    const v = cols[0]!;
    if (v.valid === null || v.valid[row] === 1) putValue(scratch, v, row, false);
    return scratch.bytes();
  }
  for (const v of cols) {
    if (v.valid !== null && v.valid[row] === 0) { scratch.byte(0); continue; }
    scratch.byte(1);
    putValue(scratch, v, row, true);
  }
  return scratch.bytes();
}

/** The partition of every row of a batch (Java's `partitionForKey` on the rows' key bytes). */
export function partitionsOf(vectors: readonly Vector[], key: readonly number[], partitions: number, length: number): Int32Array {
  const out = new Int32Array(length);
  if (key.length === 0 || partitions === 1) return out;
  const cols = key.map((k) => vectors[k]!);
  const scratch = new KeyBytes();
  for (let i = 0; i < length; i++) out[i] = toPositive(murmur2(exchangeKeyBytes(cols, i, scratch))) % partitions;
  return out;
}

/** Arrow IPC stream bytes → [schema message, record-batch message(s)] (the end-of-stream marker dropped). */
function splitIpc(stream: Uint8Array): { schema: Uint8Array; rest: Uint8Array } {
  const dv = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  if (dv.getUint32(0, true) !== 0xffffffff) throw new Error('unexpected Arrow IPC framing');
  const schemaEnd = 8 + dv.getInt32(4, true);
  let end = stream.byteLength;
  if (end - schemaEnd >= 8 && dv.getUint32(end - 8, true) === 0xffffffff && dv.getInt32(end - 4, true) === 0) end -= 8;
  return { schema: stream.subarray(0, schemaEnd), rest: stream.subarray(schemaEnd, end) };
}

/** The IPC schema message of an exchange schema (what every record leaves out). */
function schemaMessage(schema: Schema): Uint8Array {
  return splitIpc(RecordBatchStreamWriter.writeAll([makeBatch(schema, [], 0)]).toUint8Array(true)).schema;
}

export interface ExchangeRecord { readonly partition: number; readonly value: Buffer; readonly rows: number }

export interface ExchangeWriterConfig {
  readonly topic: string;
  /** The rows' columns (the exchange node's schema). */
  readonly schema: Schema;
  /** Key columns; empty = every row to partition 0 (an exchange to a single partition). */
  readonly key: readonly number[];
  readonly partitions: number;
  /** Per produce request and partition (the broker refuses a record batch above the topic's max.message.bytes). */
  readonly maxPartitionBytes?: number;
}

export interface ExchangeStats { rows: number; records: number; bytes: number; watermarks: number }

/**
 * One upstream task's writer for one exchange. `append` encodes a batch into records (buffered),
 * `watermark` adds the task's watermark to every partition after them, `flush(txn)` sends what is
 * buffered inside the caller's transaction (the task's epoch transaction: rows become visible to
 * read_committed readers exactly when the epoch commits, and vanish with an aborted one).
 */
export class ExchangeWriter {
  readonly stats: ExchangeStats = { rows: 0, records: 0, bytes: 0, watermarks: 0 };
  private pending: ExchangeRecord[] = [];
  private readonly schemaLen: number;

  constructor(readonly config: ExchangeWriterConfig) {
    if (!Number.isInteger(config.partitions) || config.partitions < 1) throw new RangeError(`an exchange needs a positive partition count, got ${config.partitions}`);
    this.schemaLen = schemaMessage(config.schema).byteLength;
  }

  /** Encodes a batch (with its changelog ops, if any) into one record per partition that gets rows. */
  append(batch: RecordBatch, ops: Int8Array | null = null): void {
    const n = batch.numRows;
    if (n === 0) return;
    const vectors = batchVectors(batch, this.config.schema);
    const parts = partitionsOf(vectors, this.config.key, this.config.partitions, n);
    // Counting sort of row indices by partition: one pass to count, one to place.
    const counts = new Int32Array(this.config.partitions + 1);
    for (let i = 0; i < n; i++) counts[parts[i]! + 1]!++;
    for (let p = 0; p < this.config.partitions; p++) counts[p + 1]! += counts[p]!;
    const order = new Int32Array(n);
    const at = counts.slice(0, this.config.partitions);
    for (let i = 0; i < n; i++) order[at[parts[i]!]!++] = i;
    for (let p = 0; p < this.config.partitions; p++) {
      const from = counts[p]!; const to = counts[p + 1]!;
      if (to === from) continue;
      const sel = order.subarray(from, to);
      const rows = to - from === n ? vectors : vectors.map((v) => take(v, sel));
      const rowOps = ops ? (to - from === n ? ops : Int8Array.from(sel, (i) => ops[i]!)) : null;
      this.pending.push({ partition: p, value: this.encode(rows, to - from, rowOps), rows: to - from });
    }
    this.stats.rows += n;
  }

  private encode(vectors: readonly Vector[], rows: number, ops: Int8Array | null): Buffer {
    const ipc = RecordBatchStreamWriter.writeAll([makeBatch(this.config.schema, vectors, rows)]).toUint8Array(true);
    const { rest } = splitIpc(ipc);
    if (ipc.byteLength < this.schemaLen) throw new Error('unexpected Arrow IPC stream');
    const opsLen = ops ? ops.length : 0;
    const pad = (8 - (opsLen % 8)) % 8;
    const out = Buffer.allocUnsafe(8 + opsLen + pad + rest.byteLength);
    out[0] = ROWS; out[1] = ops ? 1 : 0; out[2] = 0; out[3] = 0;
    out.writeUInt32LE(opsLen, 4);
    if (ops) out.set(new Uint8Array(ops.buffer, ops.byteOffset, opsLen), 8);
    out.fill(0, 8 + opsLen, 8 + opsLen + pad);
    out.set(rest, 8 + opsLen + pad);
    return out;
  }

  /** The upstream task's watermark, to every partition (after the rows appended before it). */
  watermark(taskId: string, watermark: number): void {
    const value = Buffer.concat([Buffer.from([WATERMARK]), Buffer.from(JSON.stringify({ task: taskId, watermark: Number.isFinite(watermark) ? watermark : null }))]);
    for (let p = 0; p < this.config.partitions; p++) this.pending.push({ partition: p, value, rows: 0 });
    this.stats.watermarks++;
  }

  /** Records appended and not yet flushed (tests, measurements). */
  buffered(): readonly ExchangeRecord[] { return this.pending; }

  /**
   * Sends the buffered records in order through `sender` (a transaction, or a producer for tests of
   * the non-transactional path). A produce request keeps each partition under `maxPartitionBytes`,
   * so the broker never sees a record batch it must refuse; order within a partition is kept.
   */
  async flush(sender: Pick<Transaction, 'send'> | Pick<Producer, 'send'>): Promise<number> {
    const recs = this.pending; this.pending = [];
    const limit = this.config.maxPartitionBytes ?? DEFAULT_MAX_REQUEST_PARTITION_BYTES;
    let bytes = 0;
    let chunk: ExchangeRecord[] = [];
    const size = new Map<number, number>();
    const send = async () => {
      if (!chunk.length) return;
      await sender.send({ topic: this.config.topic, acks: -1, messages: chunk.map((r) => ({ partition: r.partition, key: null, value: r.value })) });
      chunk = []; size.clear();
    };
    for (const r of recs) {
      const s = size.get(r.partition) ?? 0;
      if (s > 0 && s + r.value.byteLength > limit) await send();
      chunk.push(r);
      size.set(r.partition, (size.get(r.partition) ?? 0) + r.value.byteLength);
      bytes += r.value.byteLength;
    }
    await send();
    this.stats.records += recs.length;
    this.stats.bytes += bytes;
    return bytes;
  }
}

export type ExchangeMessage =
  | { readonly kind: 'rows'; readonly batch: RecordBatch; readonly ops: Int8Array | null }
  | { readonly kind: 'watermark'; readonly task: string; readonly watermark: number };

export interface ExchangeReaderConfig {
  readonly schema: Schema;
  /** How many upstream tasks write to each partition: the watermark stays -Infinity until all have spoken. */
  readonly upstreamTasks: number;
  /** The partitions this reader reads (its watermark is the least over them). */
  readonly partitions: readonly number[];
}

/** Reader state in a checkpoint: the last watermark of every upstream task, per partition. */
export type ExchangeReaderState = Record<number, Record<string, number | null>>;

/**
 * The downstream side: decodes records back into batches (`decode`, or `accept` for a native
 * reader's fetch) and tracks the upstream tasks' watermarks per partition.
 */
export class ExchangeReader {
  private readonly schemaMsg: Uint8Array;
  private readonly marks = new Map<number, Map<string, number>>();

  constructor(readonly config: ExchangeReaderConfig) {
    if (!Number.isInteger(config.upstreamTasks) || config.upstreamTasks < 1) throw new RangeError(`an exchange reader expects at least one upstream task, got ${config.upstreamTasks}`);
    this.schemaMsg = schemaMessage(config.schema);
    for (const p of config.partitions) this.marks.set(p, new Map());
  }

  /** One record's value as rows or a watermark (a watermark is not applied: see `accept`/`observe`). */
  decode(value: Uint8Array): ExchangeMessage {
    if (value[0] === WATERMARK) {
      const j = JSON.parse(Buffer.from(value.buffer, value.byteOffset + 1, value.byteLength - 1).toString('utf8')) as { task: string; watermark: number | null };
      return { kind: 'watermark', task: j.task, watermark: j.watermark ?? -Infinity };
    }
    if (value[0] !== ROWS) throw new Error(`not an exchange record (kind byte ${value[0]})`);
    const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
    const opsLen = dv.getUint32(4, true);
    const ops = value[1]! & 1 ? Int8Array.from(value.subarray(8, 8 + opsLen), (b) => (b << 24) >> 24) : null;
    const body = value.subarray(8 + opsLen + ((8 - (opsLen % 8)) % 8));
    const ipc = new Uint8Array(this.schemaMsg.byteLength + body.byteLength);
    ipc.set(this.schemaMsg); ipc.set(body, this.schemaMsg.byteLength);
    const arrow = tableFromIPC(ipc).batches[0];
    if (!arrow) throw new Error('an exchange record without rows');
    // Our own schema object (the executor reads types from it), over the decoded column data.
    return { kind: 'rows', batch: batchFromData(this.config.schema, arrow.data.children, arrow.numRows), ops };
  }

  /** Applies an upstream task's watermark read from `partition`; true when the reader's watermark advanced. */
  observe(partition: number, task: string, watermark: number): boolean {
    const before = this.watermark();
    let m = this.marks.get(partition);
    if (!m) { m = new Map(); this.marks.set(partition, m); }
    // A task's watermark never goes back (a task restarted elsewhere may repeat an older one).
    if (!(m.get(task)! >= watermark)) m.set(task, watermark);
    return this.watermark() > before;
  }

  /** The rows of a native reader's fetch, in order; watermark records are applied on the way. */
  accept(m: PackedMessages): { batches: { batch: RecordBatch; ops: Int8Array | null }[]; advanced: boolean } {
    const out: { batch: RecordBatch; ops: Int8Array | null }[] = [];
    let advanced = false;
    for (let i = 0; i < m.count; i++) {
      if (m.nulls && m.nulls[i]) continue;
      const end = m.ends ? m.ends[i]! : m.starts[i + 1]!;
      const msg = this.decode(m.bytes.subarray(m.starts[i]!, end));
      if (msg.kind === 'rows') out.push({ batch: msg.batch, ops: msg.ops });
      else advanced = this.observe(m.partition, msg.task, msg.watermark) || advanced;
    }
    return { batches: out, advanced };
  }

  /** Least over partitions of the least over upstream tasks; -Infinity until every expected task has spoken on every partition. */
  watermark(): number {
    let wm = Infinity;
    for (const p of this.config.partitions) {
      const m = this.marks.get(p)!;
      if (m.size < this.config.upstreamTasks) return -Infinity;
      for (const v of m.values()) if (v < wm) wm = v;
    }
    return wm === Infinity ? -Infinity : wm;
  }

  state(): ExchangeReaderState {
    const out: ExchangeReaderState = {};
    for (const [p, m] of this.marks) out[p] = Object.fromEntries([...m].map(([t, w]) => [t, Number.isFinite(w) ? w : null]));
    return out;
  }

  restore(s: ExchangeReaderState): void {
    this.marks.clear();
    for (const p of this.config.partitions) this.marks.set(p, new Map());
    for (const [p, m] of Object.entries(s)) this.marks.set(Number(p), new Map(Object.entries(m).map(([t, w]) => [t, w ?? -Infinity])));
  }
}

/** A transactional, idempotent producer for an upstream task (one transactional id per task fences its zombies). */
export async function exchangeProducer(brokers: readonly string[], transactionalId: string): Promise<Producer> {
  const p = createKafka(brokers, 'streamsql-exchange').producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await p.connect();
  return p;
}
