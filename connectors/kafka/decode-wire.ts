/**
 * What crosses the thread boundary of the decode pool, and how: fetched messages packed into one
 * byte buffer (one transferable object instead of one per message), and decoded Arrow columns as
 * their raw buffers, moved with a transfer list and rebuilt into a RecordBatch without copying.
 */
import { makeData, RecordBatch, Struct, Type, type Bool, type Data, type DataType, type Float64, type Int32, type Schema as ArrowSchema, type Utf8 } from 'apache-arrow';
import type { Decoded, Malformed, RawMessages } from '../formats/decode.ts';
import type { PackedMessages } from '../formats/fast-json.ts';
import { unpack } from '../formats/packed.ts';

/** PackedMessages plus Kafka headers (only when the source reads them; structured-cloned). */
export interface WireMessages extends PackedMessages {
  readonly headers: readonly (Record<string, unknown> | undefined)[] | null;
}

/** One Arrow Data as its buffers. */
export interface WireData {
  readonly length: number;
  readonly nullCount: number;
  readonly bitmap: Uint8Array | null;
  readonly values: Float64Array | Int32Array | Uint8Array | null;
  readonly offsets: Int32Array | null;
  readonly children: readonly WireData[] | null;
}

export interface WireDecoded {
  readonly rows: number;
  readonly columns: readonly WireData[] | null;
  readonly kept: Int32Array | null;
  readonly malformed: readonly Malformed[];
}

function packBytes(items: readonly (Uint8Array | null | undefined)[], n: number): { bytes: Uint8Array; starts: Int32Array; nulls: Uint8Array | null } {
  let total = 0;
  for (let m = 0; m < n; m++) total += items[m]?.length ?? 0;
  const bytes = new Uint8Array(total);
  const starts = new Int32Array(n + 1);
  let nulls: Uint8Array | null = null;
  let pos = 0;
  for (let m = 0; m < n; m++) {
    const v = items[m];
    if (v === null || v === undefined) { (nulls ??= new Uint8Array(n))[m] = 1; }
    else { bytes.set(v, pos); pos += v.length; }
    starts[m + 1] = pos;
  }
  return { bytes, starts, nulls };
}

/** Packs a fetch for a worker; `transfer` lists the buffers to move rather than copy. */
export function packMessages(raw: RawMessages, opts: { keys: boolean; headers: boolean }): { msg: WireMessages; transfer: ArrayBuffer[] } {
  const n = raw.values.length;
  const v = packBytes(raw.values, n);
  const k = opts.keys ? packBytes(raw.keys, n) : null;
  const offsets = Float64Array.from(raw.offsets);
  const timestamps = Float64Array.from(raw.timestamps);
  const msg: WireMessages = {
    topic: raw.topic, partition: raw.partition, count: n, bytes: v.bytes, starts: v.starts, nulls: v.nulls, keys: k,
    offsets, timestamps, headers: opts.headers ? (raw.headers ?? null) : null,
  };
  const transfer = [v.bytes.buffer, v.starts.buffer, offsets.buffer, timestamps.buffer] as ArrayBuffer[];
  if (v.nulls) transfer.push(v.nulls.buffer as ArrayBuffer);
  if (k) { transfer.push(k.bytes.buffer as ArrayBuffer, k.starts.buffer as ArrayBuffer); if (k.nulls) transfer.push(k.nulls.buffer as ArrayBuffer); }
  return { msg, transfer };
}

/** Back to RawMessages with Buffer values (what kafkajs hands the runner), for the reference decoder. */
export function unpackMessages(p: WireMessages): RawMessages {
  return unpack(p);
}

function dataToWire(d: Data, transfer: Set<ArrayBuffer>): WireData {
  const add = (a: ArrayBufferView | null | undefined) => { if (a && a.byteLength) transfer.add(a.buffer as ArrayBuffer); };
  const bitmap = d.nullCount > 0 && d.nullBitmap && d.nullBitmap.length ? d.nullBitmap : null;
  add(bitmap);
  const isNested = d.children.length > 0;
  const values = isNested ? null : (d.values as Float64Array | Int32Array | Uint8Array | undefined) ?? null;
  add(values);
  const offsets = (d.valueOffsets as Int32Array | undefined) ?? null;
  add(offsets);
  return {
    length: d.length, nullCount: d.nullCount, bitmap, values, offsets,
    children: isNested ? d.children.map((c) => dataToWire(c, transfer)) : null,
  };
}

/** A worker's result as buffers to transfer. */
export function decodedToWire(d: Decoded): { wire: WireDecoded; transfer: ArrayBuffer[] } {
  const transfer = new Set<ArrayBuffer>();
  const columns = d.batch ? d.batch.data.children.map((c) => dataToWire(c, transfer)) : null;
  if (d.kept) transfer.add(d.kept.buffer as ArrayBuffer);
  return { wire: { rows: d.batch?.numRows ?? 0, columns, kept: d.kept, malformed: d.malformed }, transfer: [...transfer] };
}

function wireToData(w: WireData, type: DataType): Data {
  const nullBitmap = w.bitmap ?? undefined;
  if (type.typeId === Type.Struct) {
    const fields = (type as Struct).children;
    return makeData({ type: type as Struct, length: w.length, nullCount: w.nullCount, nullBitmap, children: w.children!.map((c, j) => wireToData(c, fields[j]!.type)) });
  }
  if (w.offsets) {
    return makeData({ type: type as Utf8, length: w.length, nullCount: w.nullCount, nullBitmap, valueOffsets: w.offsets, data: w.values as Uint8Array });
  }
  switch (type.typeId) {
    case Type.Int: return makeData({ type: type as Int32, length: w.length, nullCount: w.nullCount, nullBitmap, data: w.values as Int32Array });
    case Type.Bool: return makeData({ type: type as Bool, length: w.length, nullCount: w.nullCount, nullBitmap, data: w.values as Uint8Array });
    default: return makeData({ type: type as Float64, length: w.length, nullCount: w.nullCount, nullBitmap, data: w.values as Float64Array });
  }
}

/** Rebuilds the worker's batch on this thread over the transferred buffers (no copy). */
export function wireToDecoded(w: WireDecoded, schema: ArrowSchema): Decoded {
  if (!w.columns) return { batch: null, kept: w.kept, malformed: w.malformed };
  const children = w.columns.map((c, i) => wireToData(c, schema.fields[i]!.type));
  const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: w.rows, nullCount: 0, children }));
  return { batch, kept: w.kept, malformed: w.malformed };
}
