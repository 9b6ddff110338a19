/**
 * A JSON decoder for flat sources that scans message bytes once and writes numbers, booleans and
 * string bytes straight into typed columns: no JSON.parse, no intermediate objects, no JS strings
 * (VARCHAR values travel as UTF-8 bytes into Arrow Utf8 data).
 *
 * It is an accelerator, not a second JSON implementation: it accepts only the plain shape (one
 * object; keys without escapes; values that are numbers, ASCII strings without escapes, true,
 * false or null; each known key at most once) and whose value types need no coercion. Any other
 * message — escapes, non-ASCII text, nested values, numbers given as strings, malformed input —
 * goes through the same JSON.parse + column builder steps as {@link createDecoder}, one message
 * at a time, so results and error messages are exactly those of the reference decoder.
 *
 * Pure code with no Kafka client: it runs on the main thread and in decode workers.
 */
import { makeData, Utf8, type Data } from 'apache-arrow';
import { batchFromData, packValidity, vectorToData } from '../../executor/arrow.ts';
import type { SourceDef } from '../../planner/catalog.ts';
import type { SqlType } from '../../planner/types.ts';
import { createBuilder, DecodeError, TIMESTAMP_MAX_MS, TIMESTAMP_MIN_MS, type ColumnBuilder } from './builders.ts';
import type { Decoded, Decoder, Malformed, RawMessages } from './decode.ts';

/**
 * Messages packed into one byte buffer: message `m` is `bytes[starts[m] .. ends[m])` (or
 * `starts[m+1]` when there is no `ends`: back to back), or null when `nulls?.[m]` is 1. The form
 * decode workers receive (one transferable buffer, not one object per message), and the form the
 * native Kafka reader hands over, pointing into the fetch response itself.
 */
export interface PackedMessages {
  readonly topic: string;
  readonly partition: number;
  readonly count: number;
  readonly bytes: Uint8Array;
  readonly starts: Int32Array;
  readonly ends?: Int32Array | null;
  readonly nulls: Uint8Array | null;
  /** Keys in the same form, only when the source has a `key` metadata column. */
  readonly keys: { readonly bytes: Uint8Array; readonly starts: Int32Array; readonly ends?: Int32Array | null; readonly nulls: Uint8Array | null } | null;
  readonly offsets: Float64Array;
  readonly timestamps: Float64Array;
  /** Kafka headers (values as bytes), only when the source reads them. */
  readonly headers?: readonly (Record<string, unknown> | undefined)[] | null;
}

export interface FastJsonDecoder {
  decode: Decoder;
  decodePacked(msgs: PackedMessages): Decoded;
  /** Messages that took the reference path in the last call (for measurements and tests). */
  lastFallbacks(): number;
}

type ColKind = 'f64' | 'i32' | 'bool' | 'str';
const K_F64 = 0, K_I32 = 1, K_BOOL = 2, K_STR = 3;
const KIND_CODE: Record<ColKind, number> = { f64: K_F64, i32: K_I32, bool: K_BOOL, str: K_STR };
type Meta = 'timestamp' | 'partition' | 'offset' | 'key' | 'topic' | null;

interface Col {
  readonly index: number;
  readonly kind: ColKind;
  readonly type: SqlType;
  readonly isInt: boolean;
  /** TIMESTAMP: a number outside TIMESTAMP_MIN_MS..TIMESTAMP_MAX_MS is malformed; other numbers must be finite (the builders' checks). */
  readonly isTs: boolean;
  readonly meta: Meta;
  readonly name: Uint8Array;
  readonly bit: number;
}

function kindOf(t: SqlType): ColKind | null {
  switch (t.kind) {
    case 'bigint': case 'double': case 'timestamp': case 'interval': case 'null': return 'f64';
    case 'int': return 'i32';
    case 'boolean': return 'bool';
    case 'varchar': return 'str';
    case 'struct': return null;
  }
}

const enc = new TextEncoder();
const utf8 = new TextDecoder();

const Q = 34, BS = 92, COLON = 58, COMMA = 44, LB = 123, RB = 125, MINUS = 45, DOT = 46, ZERO = 48, NINE = 57;

function isWs(c: number): boolean { return c === 32 || c === 10 || c === 13 || c === 9; }

/**
 * Bytes that end the plain run of a string or key: the closing quote, and what the scanner leaves
 * to the reference path (backslash escapes, control characters, non-ASCII). One table lookup a
 * byte instead of four comparisons (the scan is most of a read worker's busy time, README "Performance").
 */
const STOPS = (() => {
  const t = new Uint8Array(256);
  for (let i = 0; i < 0x20; i++) t[i] = 1;
  for (let i = 0x80; i < 256; i++) t[i] = 1;
  t[Q] = 1; t[BS] = 1;
  return t;
})();

/**
 * The fast decoder for a source, or null when its schema is not flat JSON (CSV/raw formats, ROW
 * columns, headers metadata, more than 30 data columns, 'json.fail-on-missing-field'): use
 * {@link createDecoder} then.
 */
export function createFastJsonDecoder(source: SourceDef, used: readonly boolean[] | null = null): FastJsonDecoder | null {
  if (source.options.format !== 'json') return null;
  // 'json.fail-on-missing-field': the reference decoder's check (`name in object`) stays the one authority.
  if ((source.options as { failOnMissingField?: boolean }).failOnMissingField === true) return null;
  const cols: Col[] = [];
  let dataBits = 0;
  for (let i = 0; i < source.columns.length; i++) {
    const c = source.columns[i]!;
    const kind = kindOf(c.type);
    if (kind === null || c.metadata === 'headers') return null;
    const meta = c.metadata as Meta;
    if ((meta === 'key' || meta === 'topic') && kind !== 'str') return null;
    if ((meta === 'timestamp' || meta === 'partition' || meta === 'offset') && (kind === 'str' || kind === 'bool')) return null;
    let bit = 0;
    if (meta === null) { if (dataBits >= 30) return null; bit = 1 << dataBits++; }
    cols.push({ index: i, kind, type: c.type, isInt: c.type.kind === 'bigint', isTs: c.type.kind === 'timestamp', meta, name: enc.encode(c.name), bit });
  }
  // Columns the query never reads are checked but not stored: a message is malformed or not by the
  // source's schema, whatever the query; the column arrives all NULL (sourceColumnsUsed, planner/physical.ts).
  const isUsed = (c: Col) => used === null || used[c.index] !== false;
  const dataCols = cols.filter((c) => c.meta === null);
  const metaCols = cols.filter((c) => c.meta !== null && isUsed(c));
  const usedCol = cols.map((c) => isUsed(c));
  const nCols = cols.length;
  // The scanner's per-key lookups as flat arrays (no object property loads in the byte loop).
  const nData = dataCols.length;
  const dataNames = dataCols.map((c) => c.name);
  const dataIndex = Int32Array.from(dataCols, (c) => c.index);
  const bits = Int32Array.from(cols, (c) => c.bit);
  const kinds = Uint8Array.from(cols, (c) => KIND_CODE[c.kind]);
  const strCols = Int32Array.from(cols.filter((c, i) => c.kind === 'str' && usedCol[i]), (c) => c.index);
  let guess = 0;
  // Reference path for one message: the same builders createDecoder uses, with room for one row.
  const scratch: ColumnBuilder[] = source.columns.map((c) => createBuilder(c.type, 1, c.name));
  const topicBytes = new Map<string, Uint8Array>();

  // Per-call column state, reset by `begin`.
  let cap = 0;
  let f64: (Float64Array | null)[] = [];
  let i32: (Int32Array | null)[] = [];
  let u8: (Uint8Array | null)[] = [];
  let valid: (Uint8Array | null)[] = [];
  let soff: (Int32Array | null)[] = [];
  let sbytes: (Uint8Array | null)[] = [];
  let spos: Int32Array = new Int32Array(nCols);
  let fallbacks = 0;

  function begin(n: number, avgBytes: number): void {
    cap = n;
    f64 = []; i32 = []; u8 = []; valid = []; soff = []; sbytes = [];
    spos = new Int32Array(nCols);
    for (let c = 0; c < nCols; c++) {
      const col = cols[c]!;
      const u = usedCol[c]!;
      f64.push(u && col.kind === 'f64' ? new Float64Array(n) : null);
      i32.push(u && col.kind === 'i32' ? new Int32Array(n) : null);
      u8.push(u && col.kind === 'bool' ? new Uint8Array(n) : null);
      valid.push(null);
      soff.push(u && col.kind === 'str' ? new Int32Array(n + 1) : null);
      sbytes.push(u && col.kind === 'str' ? new Uint8Array(Math.max(64, Math.ceil(n * Math.min(avgBytes, 64) / 2))) : null);
    }
  }

  function room(c: number, extra: number): Uint8Array {
    let b = sbytes[c]!;
    const need = spos[c]! + extra;
    if (need > b.length) {
      const nb = new Uint8Array(Math.max(need, b.length * 2));
      nb.set(b.subarray(0, spos[c]!));
      sbytes[c] = b = nb;
    }
    return b;
  }

  function setNull(c: number, row: number): void {
    (valid[c] ??= new Uint8Array(cap).fill(1))[row] = 0;
    const col = cols[c]!;
    if (col.kind === 'f64') f64[c]![row] = 0;
    else if (col.kind === 'i32') i32[c]![row] = 0;
    else if (col.kind === 'bool') u8[c]![row] = 0;
    else soff[c]![row + 1] = spos[c]!;
  }

  function setValid(c: number, row: number): void {
    const v = valid[c];
    if (v) v[row] = 1;
  }

  /** The builders' checks of {@link setNum} without the write (columns the query does not read). */
  function numFits(c: number, x: number): boolean {
    const col = cols[c]!;
    if (col.kind === 'f64') return col.isInt ? Number.isInteger(x) : col.isTs ? x >= TIMESTAMP_MIN_MS && x <= TIMESTAMP_MAX_MS : Number.isFinite(x);
    if (col.kind === 'i32') return Number.isInteger(x) && x <= 2147483647 && x >= -2147483648;
    return false;
  }

  /** Writes a number with the builders' checks; false when the builder would reject it. */
  function setNum(c: number, row: number, x: number): boolean {
    const col = cols[c]!;
    if (col.kind === 'f64') {
      if (col.isInt ? !Number.isInteger(x) : col.isTs ? !(x >= TIMESTAMP_MIN_MS && x <= TIMESTAMP_MAX_MS) : !Number.isFinite(x)) return false;
      f64[c]![row] = x;
    } else if (col.kind === 'i32') {
      if (!Number.isInteger(x) || x > 2147483647 || x < -2147483648) return false;
      i32[c]![row] = x;
    } else return false;
    setValid(c, row);
    return true;
  }

  function appendAscii(c: number, row: number, b: Uint8Array, s: number, e: number): void {
    const out = room(c, e - s);
    out.set(b.subarray(s, e), spos[c]!);
    spos[c]! += e - s;
    soff[c]![row + 1] = spos[c]!;
    setValid(c, row);
  }

  function appendString(c: number, row: number, s: string): void {
    const out = room(c, s.length * 3);
    spos[c]! += enc.encodeInto(s, out.subarray(spos[c]!)).written;
    soff[c]![row + 1] = spos[c]!;
    setValid(c, row);
  }

  /** Scans one message; returns false (with nothing committed) when it needs the reference path. */
  function scan(b: Uint8Array, s: number, e: number, row: number): boolean {
    let p = s;
    while (p < e && isWs(b[p]!)) p++;
    if (p >= e || b[p] !== LB) return false;
    p++;
    let seen = 0;
    while (p < e && isWs(b[p]!)) p++;
    if (p < e && b[p] === RB) p++;
    else {
      for (;;) {
        if (p >= e || b[p] !== Q) return false;
        const ks = ++p;
        while (p < e && STOPS[b[p]!] === 0) p++;
        if (p >= e || b[p] !== Q) return false;
        const ke = p++;
        // Which column the key names: producers write keys in one order, so the column after the
        // last one matched is tried first; then all, lengths first, then bytes.
        let c = -1;
        const klen = ke - ks;
        for (let t = 0, j = guess; t < nData; t++, j = j + 1 === nData ? 0 : j + 1) {
          const name = dataNames[j]!;
          if (name.length !== klen) continue;
          let k = 0;
          while (k < klen && name[k] === b[ks + k]) k++;
          if (k === klen) { c = dataIndex[j]!; guess = j + 1 === nData ? 0 : j + 1; break; }
        }
        while (p < e && isWs(b[p]!)) p++;
        if (p >= e || b[p] !== COLON) return false;
        p++;
        while (p < e && isWs(b[p]!)) p++;
        if (p >= e) return false;
        if (c >= 0) {
          const bit = bits[c]!;
          if (seen & bit) return false; // a repeated key: JSON.parse keeps the last, the reference path knows
          seen |= bit;
        }
        const ch = b[p]!;
        if (ch === Q) {
          const vs = ++p;
          while (p < e && STOPS[b[p]!] === 0) p++;
          if (p >= e || b[p] !== Q) return false;
          if (c >= 0) { if (kinds[c] !== K_STR) return false; if (usedCol[c]) appendAscii(c, row, b, vs, p); }
          p++;
        } else if (ch === MINUS || (ch >= ZERO && ch <= NINE)) {
          const ns = p;
          let neg = false;
          if (ch === MINUS) { neg = true; p++; }
          let v = 0; let digits = 0;
          if (p < e && b[p] === ZERO) { p++; digits = 1; } else {
            while (p < e) { const d = b[p]! - ZERO; if (d < 0 || d > 9) break; v = v * 10 + d; digits++; p++; }
            if (digits === 0) return false;
          }
          let simple = digits <= 15;
          if (p < e && b[p] === DOT) {
            simple = false; p++;
            const fs = p;
            while (p < e && b[p]! >= ZERO && b[p]! <= NINE) p++;
            if (p === fs) return false;
          }
          if (p < e && (b[p] === 101 || b[p] === 69)) {
            simple = false; p++;
            if (p < e && (b[p] === 43 || b[p] === MINUS)) p++;
            const xs = p;
            while (p < e && b[p]! >= ZERO && b[p]! <= NINE) p++;
            if (p === xs) return false;
          }
          if (c >= 0) {
            let x: number;
            if (simple) x = neg ? -v : v;
            else { let t = ''; for (let k = ns; k < p; k++) t += String.fromCharCode(b[k]!); x = Number(t); }
            if (usedCol[c] ? !setNum(c, row, x) : !numFits(c, x)) return false;
          }
        } else if (ch === 116 /* t */ || ch === 102 /* f */) {
          const isTrue = ch === 116;
          const len = isTrue ? 4 : 5;
          if (p + len > e) return false;
          if (isTrue ? !(b[p + 1] === 114 && b[p + 2] === 117 && b[p + 3] === 101) : !(b[p + 1] === 97 && b[p + 2] === 108 && b[p + 3] === 115 && b[p + 4] === 101)) return false;
          p += len;
          if (c >= 0) { if (kinds[c] !== K_BOOL) return false; if (usedCol[c]) { u8[c]![row] = isTrue ? 1 : 0; setValid(c, row); } }
        } else if (ch === 110 /* n */) {
          if (p + 4 > e || b[p + 1] !== 117 || b[p + 2] !== 108 || b[p + 3] !== 108) return false;
          p += 4;
          if (c >= 0 && usedCol[c]) setNull(c, row);
        } else return false; // nested objects and arrays, or not JSON at all
        while (p < e && isWs(b[p]!)) p++;
        if (p >= e) return false;
        if (b[p] === COMMA) { p++; while (p < e && isWs(b[p]!)) p++; continue; }
        if (b[p] === RB) { p++; break; }
        return false;
      }
    }
    while (p < e && isWs(b[p]!)) p++;
    if (p !== e) return false;
    for (let j = 0; j < dataCols.length; j++) {
      const col = dataCols[j]!;
      if (!(seen & col.bit) && usedCol[col.index]) setNull(col.index, row);
    }
    return true;
  }

  /** The reference path for one message (exactly createDecoder's steps), copied into the columns. */
  function reference(raw: Uint8Array | null, row: number, meta: MetaValues): string | null {
    fallbacks++;
    try {
      // Same text as createDecoder: kafkajs hands Buffers, and packed input is wrapped in a Buffer too.
      const s = raw === null ? null : Buffer.isBuffer(raw) ? raw.toString('utf8') : utf8.decode(raw);
      if (s === null) throw new DecodeError('empty message (tombstone)');
      let obj: unknown;
      try { obj = JSON.parse(s); } catch (e) { throw new DecodeError(`invalid JSON: ${(e as Error).message}`); }
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new DecodeError('expected a JSON object');
      const o = obj as Record<string, unknown>;
      for (const col of dataCols) scratch[col.index]!.set(0, o[source.columns[col.index]!.name]);
      for (const col of metaCols) scratch[col.index]!.set(0, metaValue(col.meta!, meta));
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      return e.message;
    }
    for (let c = 0; c < nCols; c++) {
      if (!usedCol[c]) continue;
      const v = scratch[c]!.finish(1);
      if (v.valid !== null && v.valid[0] === 0) { setNull(c, row); continue; }
      switch (v.kind) {
        case 'f64': f64[c]![row] = v.values[0]!; break;
        case 'i32': i32[c]![row] = v.values[0]!; break;
        case 'bool': u8[c]![row] = v.values[0]!; break;
        case 'str': appendString(c, row, v.values[0]!); break;
        case 'struct': throw new Error('unreachable: ROW columns are not decoded here');
      }
      setValid(c, row);
    }
    return null;
  }

  interface MetaValues { topic: string; partition: number; offset: number; timestamp: number; key: Uint8Array | null }
  function metaValue(m: Exclude<Meta, null>, v: MetaValues): unknown {
    switch (m) {
      case 'timestamp': return v.timestamp;
      case 'partition': return v.partition;
      case 'offset': return v.offset;
      case 'topic': return v.topic;
      case 'key': return v.key === null ? null : (Buffer.isBuffer(v.key) ? v.key.toString('utf8') : utf8.decode(v.key));
    }
  }

  /** Metadata columns of a message the scanner read; false when a value needs the reference path. */
  function writeMeta(row: number, v: MetaValues): boolean {
    for (const col of metaCols) {
      const c = col.index;
      switch (col.meta) {
        case 'timestamp': if (!setNum(c, row, v.timestamp)) return false; break;
        case 'partition': if (!setNum(c, row, v.partition)) return false; break;
        case 'offset': if (!setNum(c, row, v.offset)) return false; break;
        case 'topic': {
          let tb = topicBytes.get(v.topic);
          if (!tb) { tb = enc.encode(v.topic); topicBytes.set(v.topic, tb); }
          appendAscii(c, row, tb, 0, tb.length);
          break;
        }
        case 'key': {
          const k = v.key;
          if (k === null) { setNull(c, row); break; }
          let ascii = true;
          for (let i = 0; i < k.length; i++) if (k[i]! >= 0x80) { ascii = false; break; }
          if (!ascii) return false;
          appendAscii(c, row, k, 0, k.length);
          break;
        }
        case null: break;
      }
    }
    return true;
  }

  function finish(rows: number, malformed: Malformed[], kept: Int32Array | null): Decoded {
    if (rows === 0) return { batch: null, kept: kept ? kept.subarray(0, 0) : null, malformed };
    const children: Data[] = [];
    for (let c = 0; c < nCols; c++) {
      const col = cols[c]!;
      if (!usedCol[c]) { children.push(nullData(col, rows)); continue; }
      const v = valid[c] ? valid[c]!.subarray(0, rows) : null;
      switch (col.kind) {
        case 'f64': children.push(vectorToData({ kind: 'f64', type: col.type, length: rows, values: f64[c]!.subarray(0, rows), valid: v })); break;
        case 'i32': children.push(vectorToData({ kind: 'i32', type: col.type, length: rows, values: i32[c]!.subarray(0, rows), valid: v })); break;
        case 'bool': children.push(vectorToData({ kind: 'bool', type: col.type, length: rows, values: u8[c]!.subarray(0, rows), valid: v })); break;
        case 'str': {
          const { bitmap, nullCount } = packValidity(v, rows);
          children.push(makeData({ type: new Utf8(), length: rows, nullCount, nullBitmap: bitmap, valueOffsets: soff[c]!.subarray(0, rows + 1), data: sbytes[c]!.subarray(0, spos[c]!) }));
          break;
        }
      }
    }
    return { batch: batchFromData(source.schema, children, rows), kept: kept ? kept.subarray(0, rows) : null, malformed };
  }

  /** An all-NULL column of `rows` (a column the query does not read). */
  function nullData(col: Col, rows: number): Data {
    const none = new Uint8Array(rows); // validity: all 0
    switch (col.kind) {
      case 'f64': return vectorToData({ kind: 'f64', type: col.type, length: rows, values: new Float64Array(rows), valid: none });
      case 'i32': return vectorToData({ kind: 'i32', type: col.type, length: rows, values: new Int32Array(rows), valid: none });
      case 'bool': return vectorToData({ kind: 'bool', type: col.type, length: rows, values: new Uint8Array(rows), valid: none });
      case 'str': {
        const { bitmap, nullCount } = packValidity(none, rows);
        return makeData({ type: new Utf8(), length: rows, nullCount, nullBitmap: bitmap, valueOffsets: new Int32Array(rows + 1), data: new Uint8Array(0) });
      }
    }
  }

  /** The shared loop: `get(m)` points `cur*` at message m's bytes. */
  function run(n: number, avgBytes: number, topic: string, partition: number, offsets: ArrayLike<number>, timestamps: ArrayLike<number>,
    get: (m: number) => void, keyOf: (m: number) => Uint8Array | null): Decoded {
    fallbacks = 0;
    begin(n, avgBytes);
    const malformed: Malformed[] = [];
    let kept: Int32Array | null = null;
    let row = 0;
    const mv: MetaValues = { topic, partition, offset: 0, timestamp: 0, key: null };
    for (let m = 0; m < n; m++) {
      get(m);
      mv.offset = offsets[m]!; mv.timestamp = timestamps[m]!; mv.key = metaCols.length ? keyOf(m) : null;
      let ok = false;
      if (cur !== null) {
        for (let j = 0; j < strCols.length; j++) { const c = strCols[j]!; spos[c] = soff[c]![row]!; }
        ok = scan(cur, curS, curE, row) && writeMeta(row, mv);
      }
      let err: string | null = null;
      if (!ok) {
        for (let j = 0; j < strCols.length; j++) { const c = strCols[j]!; spos[c] = soff[c]![row]!; }
        err = reference(cur === null ? null : curS === 0 && curE === cur.length ? cur : cur.subarray(curS, curE), row, mv);
      }
      if (err === null) {
        if (kept) kept[row] = m;
        row++;
        // Columns whose value was NULL or set via a reference row already carry offsets[row].
      } else {
        if (!kept) { kept = new Int32Array(n); for (let k = 0; k < row; k++) kept[k] = k; }
        malformed.push({ index: m, offset: offsets[m]!, error: err });
      }
    }
    return finish(row, malformed, kept);
  }

  let cur: Uint8Array | null = null; let curS = 0; let curE = 0;

  return {
    decode(msgs: RawMessages): Decoded {
      const vals = msgs.values;
      let total = 0;
      for (let m = 0; m < vals.length; m++) total += vals[m]?.length ?? 0;
      return run(vals.length, vals.length ? total / vals.length : 0, msgs.topic, msgs.partition, msgs.offsets, msgs.timestamps,
        (m) => { const v = vals[m] ?? null; cur = v; curS = 0; curE = v ? v.length : 0; },
        (m) => msgs.keys[m] ?? null);
    },
    decodePacked(p: PackedMessages): Decoded {
      const { bytes, starts, nulls } = p;
      const ends = p.ends ?? null;
      const keys = p.keys;
      const kends = keys?.ends ?? null;
      const avg = p.count ? (ends ? (ends[p.count - 1]! - starts[0]!) : bytes.length) / p.count : 0;
      return run(p.count, avg, p.topic, p.partition, p.offsets, p.timestamps,
        ends
          ? (m) => { if (nulls !== null && nulls[m] === 1) { cur = null; return; } cur = bytes; curS = starts[m]!; curE = ends[m]!; }
          : (m) => { if (nulls !== null && nulls[m] === 1) { cur = null; return; } cur = bytes; curS = starts[m]!; curE = starts[m + 1]!; },
        (m) => keys === null || (keys.nulls !== null && keys.nulls[m] === 1) ? null
          : keys.bytes.subarray(keys.starts[m]!, kends ? kends[m]! : keys.starts[m + 1]!));
    },
    lastFallbacks: () => fallbacks,
  };
}
