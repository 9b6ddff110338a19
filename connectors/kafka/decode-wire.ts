/**
 * What crosses the thread boundary from a read worker: decoded Arrow columns as their raw buffers,
 * moved with a transfer list and rebuilt into a RecordBatch without copying.
 */
import { makeData, RecordBatch, Struct, Type, type Bool, type Data, type DataType, type Float64, type Int32, type Schema as ArrowSchema, type Utf8 } from 'apache-arrow';
import type { Decoded, Malformed } from '../formats/decode.ts';

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
  readonly ops?: Int8Array | null;
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
  if (d.ops) transfer.add(d.ops.buffer as ArrayBuffer);
  return { wire: { rows: d.batch?.numRows ?? 0, columns, kept: d.kept, malformed: d.malformed, ...(d.ops ? { ops: d.ops } : {}) }, transfer: [...transfer] };
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
  if (!w.columns) return { batch: null, kept: w.kept, malformed: w.malformed, ops: w.ops ?? null };
  const children = w.columns.map((c, i) => wireToData(c, schema.fields[i]!.type));
  const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: w.rows, nullCount: 0, children }));
  return { batch, kept: w.kept, malformed: w.malformed, ops: w.ops ?? null };
}
