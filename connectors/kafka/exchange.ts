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
 * Encoding (chosen for speed): the rows bound for one partition — gathered from the column buffers of
 * every batch appended since the last record, strings as bytes — travel as ONE Kafka record holding an
 * Arrow IPC record-batch message: no per-row objects on either side, and the reader's batch is the
 * decoded buffers as they are. Per-row JSON records took 2.5–5× the CPU to encode and decode in process
 * and ~2× the bytes (test/cluster/exchange.test.ts prints both), before kafkajs' cost per record. The
 * IPC schema message is left out of every record (the reader knows the exchange's schema from the plan
 * and puts its own schema message in front). Record value:
 *   byte 0: 1 = rows, 2 = watermark; rows: byte 1 flags (bit 0: ops follow, bit 1: the rest is raw
 *   deflate), bytes 4..7 the ops length (u32 LE), then the ops (+1/-1 per row, a changelog's) padded to
 *   8 and the IPC record-batch message.
 *   Compression: raw deflate at level 1 by default (`compression`), ~5× fewer bytes on Nexmark-like rows.
 *   Watermark: UTF-8 JSON `{"task": id, "watermark": ms | null}` after byte 0.
 * Records have no key (the placement is per row); the topic's records are only ever read by us.
 *
 * Watermarks cross as records: each upstream task writes its watermark to EVERY partition (after the
 * rows it sent before it, in the same transaction), and a reader's watermark is the minimum over the
 * upstream tasks — only once it has heard from as many as it expects (until then, -Infinity: a task
 * that never spoke may still send rows of any age). A task whose partitions are all empty says so with
 * a watermark of null ("no event time yet"): it counts as heard from but does not hold the minimum,
 * as an empty partition does not hold a source's watermark on one instance (executor/watermark.ts);
 * its first real watermark replaces it.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { makeData, RecordBatchStreamWriter, tableFromIPC, Type, type Data, type RecordBatch } from 'apache-arrow';
import type { Producer, Transaction } from 'kafkajs';
import { batchFromData, makeBatch, vectorToData } from '../../executor/arrow.ts';
import type { Vector } from '../../executor/vector.ts';
import type { PackedMessages } from '../formats/fast-json.ts';
import type { Schema } from '../../planner/types.ts';
import { createKafka } from './client.ts';
import { murmur2, toPositive } from './partitioner.ts';

const ROWS = 1;
const WATERMARK = 2;
/** Below kafkajs' and the broker's default 1 MiB record-batch limit, with room for record framing. */
const DEFAULT_MAX_REQUEST_PARTITION_BYTES = 900_000;

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

  /** UTF-8 bytes straight from an Arrow Utf8 buffer. */
  raw(src: Uint8Array, start: number, end: number, withLength: boolean): void {
    const n = end - start;
    this.room(n + 4);
    if (withLength) { this.view.setUint32(this.len, n); this.len += 4; }
    if (n < 16) for (let b = start; b < end; b++) this.buf[this.len++] = src[b]!;
    else { this.buf.set(src.subarray(start, end), this.len); this.len += n; }
  }

  bytes(): Uint8Array { return this.buf.subarray(0, this.len); }
}

/** Writes one column's value of a row (valid rows only) into the key bytes. */
type PutValue = (k: KeyBytes, row: number, framed: boolean) => void;

function valuePutter(d: Data): PutValue {
  switch (d.typeId) {
    case Type.Float: case Type.Int: {
      const vals = d.values as Float64Array | Int32Array;
      return (k, row) => k.number(vals[row]!);
    }
    case Type.Bool: {
      const bits = d.values as Uint8Array; const off = d.offset;
      return (k, row) => { const j = row + off; k.byte((bits[j >> 3]! >> (j & 7)) & 1); };
    }
    case Type.Utf8: {
      const offs = d.valueOffsets as Int32Array; const bytes = d.values as Uint8Array;
      return (k, row, framed) => k.raw(bytes, offs[row]!, offs[row + 1]!, framed);
    }
    default: throw new Error('a repartition key column must be a number, a string or a boolean');
  }
}

function validity(d: Data): ((row: number) => boolean) | null {
  if (d.nullCount === 0 || !d.nullBitmap || d.nullBitmap.length === 0) return null;
  const bm = d.nullBitmap; const off = d.offset;
  return (row) => { const j = row + off; return ((bm[j >> 3]! >> (j & 7)) & 1) === 1; };
}

/** A function writing the key bytes of a row of these key columns (Arrow data of one batch). */
function keyWriter(cols: readonly Data[]): (k: KeyBytes, row: number) => Uint8Array {
  const put = cols.map(valuePutter);
  const valid = cols.map(validity);
  if (cols.length === 1) {
    const p = put[0]!; const v = valid[0];
    return (k, row) => { k.len = 0; if (!v || v(row)) p(k, row, false); return k.bytes(); };
  }
  return (k, row) => {
    k.len = 0;
    for (let c = 0; c < put.length; c++) {
      const v = valid[c];
      if (v && !v(row)) { k.byte(0); continue; }
      k.byte(1);
      put[c]!(k, row, true);
    }
    return k.bytes();
  };
}

/** The key bytes of `row` of these key columns (a view into a scratch buffer: copy to keep it). See the header for the format. */
export function exchangeKeyBytes(cols: readonly Vector[], row: number): Uint8Array {
  return keyWriter(cols.map(vectorToData))(new KeyBytes(), row);
}

/** The partition of every row of a batch (Java's `partitionForKey` on the rows' key bytes). */
export function partitionsOf(keyCols: readonly Data[], partitions: number, length: number): Int32Array {
  const out = new Int32Array(length);
  if (keyCols.length === 0 || partitions === 1) return out;
  const write = keyWriter(keyCols);
  const scratch = new KeyBytes();
  for (let i = 0; i < length; i++) out[i] = toPositive(murmur2(write(scratch, i))) % partitions;
  return out;
}

/** Rows `sel` of one column of one batch. */
interface Piece { readonly d: Data; readonly sel: Int32Array }

/**
 * The selected rows of one column from several batches, in order, as one Arrow column: copied at
 * the Arrow level (strings stay bytes: nothing is decoded to JS strings and encoded again).
 */
function gather(pieces: readonly Piece[]): Data {
  const d0 = pieces[0]!.d;
  let n = 0;
  for (const pc of pieces) n += pc.sel.length;
  let nullBitmap: Uint8Array | undefined = new Uint8Array(((n + 63) >> 6) << 3);
  let nullCount = 0;
  let at = 0;
  for (const pc of pieces) {
    const v = validity(pc.d); const sel = pc.sel;
    if (!v) { for (let i = 0; i < sel.length; i++, at++) nullBitmap[at >> 3]! |= 1 << (at & 7); continue; }
    for (let i = 0; i < sel.length; i++, at++) { if (v(sel[i]!)) nullBitmap[at >> 3]! |= 1 << (at & 7); else nullCount++; }
  }
  if (nullCount === 0) nullBitmap = undefined;
  switch (d0.typeId) {
    case Type.Float: case Type.Int: {
      const out = d0.typeId === Type.Float ? new Float64Array(n) : new Int32Array(n);
      let o = 0;
      for (const pc of pieces) { const src = pc.d.values as Float64Array | Int32Array; const sel = pc.sel; for (let i = 0; i < sel.length; i++) out[o++] = src[sel[i]!]!; }
      return makeData({ type: d0.type, length: n, nullCount, nullBitmap, data: out } as Parameters<typeof makeData>[0]);
    }
    case Type.Bool: {
      const out = new Uint8Array(((n + 63) >> 6) << 3);
      let o = 0;
      for (const pc of pieces) {
        const bits = pc.d.values as Uint8Array; const off = pc.d.offset; const sel = pc.sel;
        for (let i = 0; i < sel.length; i++, o++) { const j = sel[i]! + off; if ((bits[j >> 3]! >> (j & 7)) & 1) out[o >> 3]! |= 1 << (o & 7); }
      }
      return makeData({ type: d0.type, length: n, nullCount, nullBitmap, data: out } as Parameters<typeof makeData>[0]);
    }
    case Type.Utf8: {
      const outOffs = new Int32Array(n + 1);
      let total = 0; let o = 0;
      for (const pc of pieces) {
        const offs = pc.d.valueOffsets as Int32Array; const sel = pc.sel;
        for (let i = 0; i < sel.length; i++) { const r = sel[i]!; total += offs[r + 1]! - offs[r]!; outOffs[++o] = total; }
      }
      const out = new Uint8Array(total);
      o = 0;
      for (const pc of pieces) {
        const offs = pc.d.valueOffsets as Int32Array; const bytes = pc.d.values as Uint8Array; const sel = pc.sel;
        for (let i = 0; i < sel.length; i++, o++) {
          const r = sel[i]!; const st = offs[r]!; const e = offs[r + 1]!;
          if (e - st < 16) { let q = outOffs[o]!; for (let b = st; b < e; b++) out[q++] = bytes[b]!; } else out.set(bytes.subarray(st, e), outOffs[o]!);
        }
      }
      return makeData({ type: d0.type, length: n, nullCount, nullBitmap, valueOffsets: outOffs, data: out } as Parameters<typeof makeData>[0]);
    }
    case Type.Struct:
      return makeData({ type: d0.type, length: n, nullCount, nullBitmap, children: d0.children.map((_, c) => gather(pieces.map((pc) => ({ d: pc.d.children[c]!, sel: pc.sel })))) } as Parameters<typeof makeData>[0]);
    default: throw new Error(`an exchange cannot carry Arrow type ${String(d0.type)}`);
  }
}

/** Bytes a row of this batch takes in a record, on average (to cut records below the size limit). */
function rowBytes(cols: readonly Data[], n: number): number {
  let b = 0;
  for (const d of cols) {
    if (d.typeId === Type.Utf8) { const offs = d.valueOffsets as Int32Array; b += 4 + (offs[n]! - offs[0]!) / Math.max(1, n); }
    else if (d.typeId === Type.Struct) b += rowBytes(d.children, n);
    else b += d.typeId === Type.Bool ? 1 : d.typeId === Type.Int ? 4 : 8;
  }
  return b + 1;
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

/** A rows record: the kind byte, the ops (a changelog's), the IPC record-batch message (see the header). */
function encodeRows(batch: RecordBatch, ops: Int8Array | null, deflate: boolean): Buffer {
  const { rest } = splitIpc(RecordBatchStreamWriter.writeAll([batch]).toUint8Array(true));
  const opsLen = ops ? ops.length : 0;
  const pad = (8 - (opsLen % 8)) % 8;
  let body = Buffer.allocUnsafe(opsLen + pad + rest.byteLength);
  if (ops) body.set(new Uint8Array(ops.buffer, ops.byteOffset, opsLen), 0);
  body.fill(0, opsLen, opsLen + pad);
  body.set(rest, opsLen + pad);
  if (deflate) body = deflateRawSync(body, { level: 1 });
  const head = Buffer.allocUnsafe(8);
  head[0] = ROWS; head[1] = (ops ? 1 : 0) | (deflate ? 2 : 0); head[2] = 0; head[3] = 0;
  head.writeUInt32LE(opsLen, 4);
  return Buffer.concat([head, body]);
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
  /**
   * A changelog's key columns when rows may change partition (planner/exchange.ts `tracks`): the
   * writer remembers each row's partition and sends a delete to the old one when it moves. This
   * map is state: `trackerState`/`restoreTracker` carry it through the task's checkpoints.
   */
  readonly upsertKey?: readonly number[];
  /**
   * 'deflate' (default): each rows record's body is raw deflate at level 1 — on the test's
   * Nexmark-like rows 54 → 11 bytes a row for ~0.5 µs of CPU a row (kafkajs and the broker then move
   * a fifth of the bytes); 'none' spends the least CPU in this process, for a fast local network or
   * data that does not compress.
   */
  readonly compression?: 'deflate' | 'none';
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
  /** Rows appended and not yet encoded, per partition: encoded together, one record per partition. */
  private open: { pieces: Piece[][]; ops: (Int8Array | null)[]; rows: number; bytes: number }[];
  private readonly maxRecordBytes: number;

  constructor(readonly config: ExchangeWriterConfig) {
    if (!Number.isInteger(config.partitions) || config.partitions < 1) throw new RangeError(`an exchange needs a positive partition count, got ${config.partitions}`);
    this.open = Array.from({ length: config.partitions }, () => ({ pieces: [], ops: [], rows: 0, bytes: 0 }));
    // A record stays well under one request's share of a partition.
    this.maxRecordBytes = Math.floor((config.maxPartitionBytes ?? DEFAULT_MAX_REQUEST_PARTITION_BYTES) / 2);
  }

  /**
   * Re-keys a batch (with its changelog ops, if any): each row is placed in its partition's open
   * record. Rows of several batches share a record (fewer, larger records: Arrow's per-message cost
   * is paid once), which is closed at a watermark, at `flush`, or when it reaches half the limit.
   */
  append(batch: RecordBatch, ops: Int8Array | null = null): void {
    const n = batch.numRows;
    if (n === 0) return;
    const cols = batch.data.children;
    const P = this.config.partitions;
    let parts = partitionsOf(this.config.key.map((k) => cols[k]!), P, n);
    // Entries to place: row i of the batch with its op; tracking adds deletes for rows that moved.
    let rows: Int32Array | null = null;
    let entryOps = ops;
    if (this.config.upsertKey?.length) ({ rows, parts, ops: entryOps } = this.track(cols, parts, ops, n));
    const m = parts.length;
    // Counting sort of the entries by partition (stable: a partition keeps the batch's order).
    const counts = new Int32Array(P + 1);
    for (let i = 0; i < m; i++) counts[parts[i]! + 1]!++;
    for (let p = 0; p < P; p++) counts[p + 1]! += counts[p]!;
    const order = new Int32Array(m);
    const at = counts.slice(0, P);
    for (let i = 0; i < m; i++) order[at[parts[i]!]!++] = i;
    const perRow = rowBytes(cols, n);
    for (let p = 0; p < P; p++) {
      const from = counts[p]!; const to = counts[p + 1]!;
      if (to === from) continue;
      const entries = order.subarray(from, to);
      const sel = rows ? Int32Array.from(entries, (e) => rows![e]!) : entries;
      if (this.open[p]!.rows > 0 && this.open[p]!.bytes + perRow * (to - from) > this.maxRecordBytes) this.close(p);
      const o = this.open[p]!;
      o.pieces.push(cols.map((d) => ({ d, sel })));
      o.ops.push(entryOps ? Int8Array.from(entries, (e) => entryOps![e]!) : null);
      o.rows += to - from; o.bytes += perRow * (to - from);
    }
    this.stats.rows += n;
  }

  /** Where each tracked row (by `upsertKey`) lives now: its key bytes (latin1) → partition. */
  private readonly where = new Map<string, number>();

  /**
   * Changelog rows re-keyed by columns outside their own key: an upsert whose row lived in another
   * partition first sends a delete (by the row key) there; a delete goes where the row lives.
   */
  private track(cols: readonly Data[], parts: Int32Array, ops: Int8Array | null, n: number): { rows: Int32Array; parts: Int32Array; ops: Int8Array } {
    const write = keyWriter(this.config.upsertKey!.map((k) => cols[k]!));
    const scratch = new KeyBytes();
    const rows: number[] = []; const to: number[] = []; const op: number[] = [];
    for (let i = 0; i < n; i++) {
      const k = Buffer.from(write(scratch, i)).toString('latin1');
      const prev = this.where.get(k);
      if (ops && ops[i]! < 0) {
        rows.push(i); to.push(prev ?? parts[i]!); op.push(-1);
        this.where.delete(k);
        continue;
      }
      if (prev !== undefined && prev !== parts[i]) { rows.push(i); to.push(prev); op.push(-1); }
      rows.push(i); to.push(parts[i]!); op.push(1);
      this.where.set(k, parts[i]!);
    }
    return { rows: Int32Array.from(rows), parts: Int32Array.from(to), ops: Int8Array.from(op) };
  }

  /** The tracked rows' partitions, for the task's checkpoint (with `upsertKey` only). */
  trackerState(): [string, number][] { return [...this.where]; }

  restoreTracker(state: readonly [string, number][]): void {
    this.where.clear();
    for (const [k, p] of state) this.where.set(k, p);
  }

  /** Encodes partition p's open rows into one record. */
  private close(p: number): void {
    const o = this.open[p]!;
    if (o.rows === 0) return;
    const width = this.config.schema.fields.length;
    const batch = batchFromData(this.config.schema, Array.from({ length: width }, (_, c) => gather(o.pieces.map((cols) => cols[c]!))), o.rows);
    let ops: Int8Array | null = null;
    if (o.ops.some((x) => x !== null)) {
      ops = new Int8Array(o.rows);
      let at = 0;
      o.pieces.forEach((cols, i) => { const x = o.ops[i]; const len = cols[0]!.sel.length; if (x) ops!.set(x, at); else ops!.fill(1, at, at + len); at += len; });
    }
    this.pending.push({ partition: p, value: encodeRows(batch, ops, this.config.compression !== 'none'), rows: o.rows });
    this.open[p] = { pieces: [], ops: [], rows: 0, bytes: 0 };
  }

  private closeAll(): void { for (let p = 0; p < this.config.partitions; p++) this.close(p); }

  /** The upstream task's watermark, to every partition (after the rows appended before it). */
  watermark(taskId: string, watermark: number): void {
    this.closeAll();
    const value = Buffer.concat([Buffer.from([WATERMARK]), Buffer.from(JSON.stringify({ task: taskId, watermark: Number.isFinite(watermark) ? watermark : null }))]);
    for (let p = 0; p < this.config.partitions; p++) this.pending.push({ partition: p, value, rows: 0 });
    this.stats.watermarks++;
  }

  /** The records `flush` would send now (tests, measurements). */
  buffered(): readonly ExchangeRecord[] { this.closeAll(); return this.pending; }

  /**
   * Sends the buffered records in order through `sender` (a transaction, or a producer for tests of
   * the non-transactional path). A produce request keeps each partition under `maxPartitionBytes`,
   * so the broker never sees a record batch it must refuse; order within a partition is kept.
   */
  async flush(sender: Pick<Transaction, 'send'> | Pick<Producer, 'send'>): Promise<number> {
    const sends = this.take();
    for (const x of sends) await sender.send({ topic: x.topic, acks: -1, messages: x.messages });
    return sends.reduce((n, x) => n + x.bytes, 0);
  }

  /**
   * The buffered records as produce requests, in order, each keeping every partition under
   * `maxPartitionBytes` (the broker never sees a record batch it must refuse); what `flush` sends,
   * for a caller whose transaction sends them (a task's epoch, queries/cluster/task-exchanges.ts).
   * Counted as sent.
   */
  take(): { topic: string; messages: { key: null; value: Buffer; partition: number }[]; bytes: number }[] {
    this.closeAll();
    const recs = this.pending; this.pending = [];
    const limit = this.config.maxPartitionBytes ?? DEFAULT_MAX_REQUEST_PARTITION_BYTES;
    const out: { topic: string; messages: { key: null; value: Buffer; partition: number }[]; bytes: number }[] = [];
    let chunk: ExchangeRecord[] = [];
    let chunkBytes = 0;
    const size = new Map<number, number>();
    const cut = () => {
      if (!chunk.length) return;
      out.push({ topic: this.config.topic, messages: chunk.map((r) => ({ partition: r.partition, key: null, value: r.value })), bytes: chunkBytes });
      chunk = []; chunkBytes = 0; size.clear();
    };
    for (const r of recs) {
      const s = size.get(r.partition) ?? 0;
      if (s > 0 && s + r.value.byteLength > limit) cut();
      chunk.push(r);
      chunkBytes += r.value.byteLength;
      size.set(r.partition, (size.get(r.partition) ?? 0) + r.value.byteLength);
    }
    cut();
    this.stats.records += recs.length;
    this.stats.bytes += out.reduce((n, x) => n + x.bytes, 0);
    return out;
  }
}

export type ExchangeMessage =
  | { readonly kind: 'rows'; readonly batch: RecordBatch; readonly ops: Int8Array | null }
  /** `watermark` NaN: the task has no event time yet (it does not hold the reader's watermark). */
  | { readonly kind: 'watermark'; readonly task: string; readonly watermark: number };

export interface ExchangeReaderConfig {
  readonly schema: Schema;
  /** How many upstream tasks write to each partition: the watermark stays -Infinity until all have spoken. */
  readonly upstreamTasks: number;
  /** The partitions this reader reads (its watermark is the least over them). */
  readonly partitions: readonly number[];
}

/** Reader state in a checkpoint: the last watermark of every upstream task, per partition ('idle': no event time yet). */
export type ExchangeReaderState = Record<number, Record<string, number | null | 'idle'>>;

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
      return { kind: 'watermark', task: j.task, watermark: j.watermark ?? NaN };
    }
    if (value[0] !== ROWS) throw new Error(`not an exchange record (kind byte ${value[0]})`);
    const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
    const opsLen = dv.getUint32(4, true);
    const payload: Uint8Array = value[1]! & 2 ? inflateRawSync(value.subarray(8)) : value.subarray(8);
    const ops = value[1]! & 1 ? Int8Array.from(payload.subarray(0, opsLen), (b) => (b << 24) >> 24) : null;
    const body = payload.subarray(opsLen + ((8 - (opsLen % 8)) % 8));
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
    // "No event time yet" only counts for a task not heard from before.
    if (Number.isNaN(watermark)) { if (!m.has(task)) m.set(task, NaN); return this.watermark() > before; }
    // A task's watermark never goes back (a task restarted elsewhere may repeat an older one).
    if (!(m.get(task)! >= watermark)) m.set(task, watermark);
    return this.watermark() > before;
  }

  /** Whether every expected upstream task has spoken on every partition (a watermark, or "no event time yet"). */
  heardFromAll(): boolean {
    return this.config.partitions.every((p) => (this.marks.get(p)?.size ?? 0) >= this.config.upstreamTasks);
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

  /**
   * Least over partitions of the least over upstream tasks (those with no event time yet left out);
   * -Infinity until every expected task has spoken on every partition, or when none has event time.
   */
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
    for (const [p, m] of this.marks) out[p] = Object.fromEntries([...m].map(([t, w]) => [t, Number.isNaN(w) ? 'idle' : Number.isFinite(w) ? w : null]));
    return out;
  }

  restore(s: ExchangeReaderState): void {
    this.marks.clear();
    for (const p of this.config.partitions) this.marks.set(p, new Map());
    for (const [p, m] of Object.entries(s)) this.marks.set(Number(p), new Map(Object.entries(m).map(([t, w]) => [t, w === 'idle' ? NaN : w ?? -Infinity])));
  }
}

/** A transactional, idempotent producer for an upstream task (one transactional id per task fences its zombies). */
export async function exchangeProducer(brokers: readonly string[], transactionalId: string): Promise<Producer> {
  const p = createKafka(brokers, 'streamsql-exchange').producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await p.connect();
  return p;
}
