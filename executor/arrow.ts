/**
 * Zero-copy bridges between Arrow (the format batches travel in) and Vectors (what kernels work on).
 *
 * Numeric buffers are shared, never copied: a Float64 column's `values` is the Arrow data buffer.
 * Validity goes from Arrow's bitmap to one byte a row only when the column actually has nulls.
 */
import {
  Bool, Field as ArrowField, Float64, Int32, makeData, RecordBatch, Schema as ArrowSchema, Struct, Utf8,
  type Data, type DataType,
} from 'apache-arrow';
import type { Field, Schema, SqlType } from '../planner/types.ts';
import { typeToString } from '../planner/types.ts';
import type { Vector } from './vector.ts';

/** Arrow field metadata key carrying the SQL type, since BIGINT and TIMESTAMP both travel as Float64. */
export const SQL_TYPE_KEY = 'streamsql.type';

export function arrowType(t: SqlType): DataType {
  switch (t.kind) {
    case 'bigint': case 'double': case 'timestamp': case 'interval': case 'null': return new Float64();
    case 'int': return new Int32();
    case 'boolean': return new Bool();
    case 'varchar': return new Utf8();
    case 'struct': return new Struct(t.fields.map(arrowField));
  }
}

export function arrowField(f: Field): ArrowField {
  return new ArrowField(f.name, arrowType(f.type), true, new Map([[SQL_TYPE_KEY, typeToString(f.type)]]));
}

export function arrowSchema(schema: Schema): ArrowSchema {
  return new ArrowSchema(schema.fields.map(arrowField));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Packs a byte-per-row validity into an Arrow bitmap; null stays null (all valid). */
export function packValidity(valid: Uint8Array | null, length: number): { bitmap: Uint8Array | undefined; nullCount: number } {
  if (valid === null) return { bitmap: undefined, nullCount: 0 };
  const bitmap = new Uint8Array(((length + 63) >> 6) << 3);
  let nulls = 0;
  for (let i = 0; i < length; i++) {
    if (valid[i]) bitmap[i >> 3]! |= 1 << (i & 7);
    else nulls++;
  }
  return nulls === 0 ? { bitmap: undefined, nullCount: 0 } : { bitmap, nullCount: nulls };
}

function unpackValidity(data: Data): Uint8Array | null {
  if (data.nullCount === 0 || !data.nullBitmap || data.nullBitmap.length === 0) return null;
  const out = new Uint8Array(data.length);
  const bm = data.nullBitmap; const off = data.offset;
  for (let i = 0; i < data.length; i++) { const j = i + off; out[i] = (bm[j >> 3]! >> (j & 7)) & 1; }
  return out;
}

export function encodeUtf8Column(values: readonly string[], valid: Uint8Array | null, length: number): { offsets: Int32Array; bytes: Uint8Array } {
  const offsets = new Int32Array(length + 1);
  let cap = 16; for (let i = 0; i < length; i++) cap += values[i]!.length * 3;
  let bytes = new Uint8Array(cap);
  let pos = 0;
  for (let i = 0; i < length; i++) {
    if (valid === null || valid[i]) {
      const s = values[i]!;
      // ASCII fast path: most keys and channel names are ASCII and avoid the encoder call entirely.
      let ascii = true;
      for (let k = 0; k < s.length; k++) { const c = s.charCodeAt(k); if (c > 127) { ascii = false; break; } bytes[pos + k] = c; }
      if (ascii) pos += s.length;
      else {
        const r = encoder.encodeInto(s, bytes.subarray(pos));
        pos += r.written;
      }
    }
    offsets[i + 1] = pos;
  }
  if (pos < bytes.length / 2) bytes = bytes.slice(0, pos);
  return { offsets, bytes };
}

/** Builds an Arrow Data for a vector. Numeric buffers are handed over without copying. */
export function vectorToData(v: Vector): Data {
  const { bitmap, nullCount } = packValidity(v.valid, v.length);
  const type = arrowType(v.type);
  switch (v.kind) {
    case 'f64': return makeData({ type: type as Float64, length: v.length, nullCount, nullBitmap: bitmap, data: v.values });
    case 'i32': return makeData({ type: type as Int32, length: v.length, nullCount, nullBitmap: bitmap, data: v.values });
    case 'bool': {
      const packed = new Uint8Array(((v.length + 63) >> 6) << 3);
      for (let i = 0; i < v.length; i++) if (v.values[i]) packed[i >> 3]! |= 1 << (i & 7);
      return makeData({ type: type as Bool, length: v.length, nullCount, nullBitmap: bitmap, data: packed });
    }
    case 'str': {
      const { offsets, bytes } = encodeUtf8Column(v.values, v.valid, v.length);
      const d = makeData({ type: type as Utf8, length: v.length, nullCount, nullBitmap: bitmap, valueOffsets: offsets, data: bytes });
      decodedStrings.set(d, v.values); // the strings are already known: spare the consumer a decode
      return d;
    }
    case 'struct':
      return makeData({ type: type as Struct, length: v.length, nullCount, nullBitmap: bitmap, children: v.children.map(vectorToData) });
  }
}

/** Decoded strings per Utf8 Data, so that several operators reading one column decode it once. */
const decodedStrings = new WeakMap<Data, readonly string[]>();

function decodeUtf8(data: Data): readonly string[] {
  const cached = decodedStrings.get(data);
  if (cached) return cached;
  const offsets = data.valueOffsets as Int32Array; const bytes = data.values as Uint8Array;
  const out = new Array<string>(data.length);
  for (let i = 0; i < data.length; i++) {
    const s = offsets[i]!; const e = offsets[i + 1]!;
    let ascii = true;
    for (let k = s; k < e; k++) if (bytes[k]! > 127) { ascii = false; break; }
    if (ascii && e - s < 64) {
      let str = '';
      for (let k = s; k < e; k++) str += String.fromCharCode(bytes[k]!);
      out[i] = str;
    } else out[i] = decoder.decode(bytes.subarray(s, e));
  }
  decodedStrings.set(data, out);
  return out;
}

/**
 * The Vector view of an Arrow column. Zero-copy for numbers; strings decoded once and cached.
 * Arrow's `slice` already moves fixed-width data buffers to the slice start (Bool excepted: its
 * offset counts bits), so only Bool and the validity bitmap read `data.offset`.
 */
export function dataToVector(data: Data, type: SqlType): Vector {
  const valid = unpackValidity(data);
  const length = data.length;
  switch (type.kind) {
    case 'bigint': case 'double': case 'timestamp': case 'interval': case 'null':
      return { kind: 'f64', type, length, values: (data.values as Float64Array).subarray(0, length), valid };
    case 'int':
      return { kind: 'i32', type, length, values: (data.values as Int32Array).subarray(0, length), valid };
    case 'boolean': {
      const out = new Uint8Array(length); const bits = data.values as Uint8Array; const off = data.offset;
      for (let i = 0; i < length; i++) { const j = i + off; out[i] = (bits[j >> 3]! >> (j & 7)) & 1; }
      return { kind: 'bool', type, length, values: out, valid };
    }
    case 'varchar': {
      // Arrow slices a Utf8 column's offsets buffer, so offsets[0..length] are this slice's own.
      return { kind: 'str', type, length, values: decodeUtf8(data), valid };
    }
    case 'struct':
      return { kind: 'struct', type, length, valid, children: type.fields.map((f, j) => dataToVector(data.children[j]!, f.type)) };
  }
}

/** Builds a RecordBatch from vectors matching `schema` field by field. */
export function makeBatch(schema: Schema, columns: readonly Vector[], length?: number): RecordBatch {
  const n = length ?? columns[0]?.length ?? 0;
  const aschema = arrowSchema(schema);
  const data = makeData({
    type: new Struct(aschema.fields),
    length: n,
    nullCount: 0,
    children: columns.map(vectorToData),
  });
  return new RecordBatch(aschema, data);
}

/** All columns of a batch as Vectors, typed by `schema`. */
export function batchVectors(batch: RecordBatch, schema: Schema): Vector[] {
  return schema.fields.map((f, i) => dataToVector(batch.data.children[i]!, f.type));
}

export function columnVector(batch: RecordBatch, schema: Schema, i: number): Vector {
  return dataToVector(batch.data.children[i]!, schema.fields[i]!.type);
}

/**
 * Builds a RecordBatch from Arrow column data. Operators use it to pass columns through untouched
 * (zero-copy) while replacing others.
 */
export function batchFromData(schema: Schema, children: readonly Data[], length: number): RecordBatch {
  const aschema = arrowSchema(schema);
  return new RecordBatch(aschema, makeData({ type: new Struct(aschema.fields), length, nullCount: 0, children: [...children] }));
}

/**
 * Vectors of the columns listed in `used` only; the others stay undefined. Operators that read a few
 * columns of a wide batch skip decoding (string columns, validity bitmaps) the rest.
 */
export function usedVectors(batch: RecordBatch, schema: Schema, used: ReadonlySet<number>): (Vector | undefined)[] {
  return schema.fields.map((f, i) => (used.has(i) ? dataToVector(batch.data.children[i]!, f.type) : undefined));
}
