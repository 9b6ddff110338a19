/**
 * Record batches (magic 2) of one partition's fetched record set, read in place: the result points
 * at each value's and key's bytes inside the fetch response (starts/ends), with offsets and
 * timestamps in typed arrays. No object per message, no copy of uncompressed data; the JSON scanner
 * reads the values where they lie.
 *
 * Handles what a consumer must: a fetch that starts inside a batch (records below the fetch offset
 * are dropped), a truncated last batch (ignored; fetched again next time), LogAppendTime batches,
 * control batches (transaction markers: skipped, but they move the position), records of aborted
 * transactions under read_committed (dropped, using the response's aborted list), and compressed
 * batches: gzip (node:zlib), snappy, lz4 and zstd (codecs.ts). An unknown codec raises
 * {@link UnsupportedCompressionError}.
 */
import { gunzipSync } from 'node:zlib';
import type { PackedMessages } from '../../formats/fast-json.ts';
import { lz4Decompress, snappyDecompress, zstdDecompressFrame } from './codecs.ts';
import { getInt64, ProtocolError, type AbortedTransaction } from './fetch-protocol.ts';

export class UnsupportedCompressionError extends Error {}

/** Decompressors by the batch's codec id (attributes & 7): 1 gzip, 2 snappy, 3 lz4, 4 zstd. */
const DECOMPRESS: Record<number, (b: Uint8Array) => Uint8Array> = {
  1: (b) => gunzipSync(b), 2: snappyDecompress, 3: lz4Decompress, 4: zstdDecompressFrame,
};
const HEADER = 61; // bytes of a v2 batch header, up to and including the record count

export interface RecordSetOptions {
  readonly topic: string;
  readonly partition: number;
  /** Records below this offset (earlier records of the first batch) are not returned. */
  readonly fetchOffset: number;
  /** The response's aborted transactions (read_committed), or null. */
  readonly aborted: readonly AbortedTransaction[] | null;
  /** Parse headers into objects (only when the source reads them). */
  readonly headers: boolean;
}

export interface RecordSet {
  /** The records, or null when the fetch held none to return (empty, markers or aborted only). */
  readonly messages: PackedMessages | null;
  /** Offset after the last complete batch (the next fetch offset); fetchOffset when none was complete. */
  readonly nextOffset: number;
  /** Complete batches read. 0 with a non-empty record set means the first batch was cut off (raise the fetch size). */
  readonly batches: number;
}

interface Segment {
  readonly buf: Uint8Array;
  readonly start: number;
  readonly end: number;
  readonly count: number;
  readonly baseOffset: number;
  readonly baseTimestamp: number;
  /** LogAppendTime batches give every record the batch's max timestamp. */
  readonly fixedTimestamp: number | null;
}

// Varint reading with a module-level cursor: no object per call on the hot path.
let P = 0;
function varint(b: Uint8Array): number {
  let x = b[P++]!;
  if (x < 0x80) return (x >>> 1) ^ -(x & 1);
  let v = x & 0x7f; let mul = 128;
  do { x = b[P++]!; v += (x & 0x7f) * mul; mul *= 128; } while (x >= 0x80 && mul < 2 ** 63);
  // Zigzag on a Number (not 32-bit ops: timestamp deltas are varlongs).
  return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
}

const utf8 = new TextDecoder();

/** Reads the complete batches of `buf[start, end)`. */
export function readRecordSet(buf: Uint8Array, start: number, end: number, o: RecordSetOptions): RecordSet {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const segments: Segment[] = [];
  let next = o.fetchOffset;
  let batches = 0;
  let total = 0;
  let compressed = false;
  let abortedIdx = 0;
  const abortedList = o.aborted && o.aborted.length ? [...o.aborted].sort((a, b) => a.firstOffset - b.firstOffset) : null;
  const abortedProducers = new Set<number>();
  let p = start;
  while (p + HEADER <= end) {
    const baseOffset = getInt64(dv, p);
    const size = 12 + dv.getInt32(p + 8);
    if (p + size > end) break; // cut off by the fetch size: fetched again next time
    const magic = buf[p + 16]!;
    if (magic !== 2) throw new ProtocolError(`record batch with magic ${magic} at offset ${baseOffset} (only v2 batches are read; Kafka ≥ 0.11 writes them)`);
    const attributes = dv.getInt16(p + 21);
    const lastOffset = baseOffset + dv.getInt32(p + 23);
    const count = dv.getInt32(p + 57);
    const batchStart = p;
    p += size;
    batches++;
    if (lastOffset < o.fetchOffset) continue; // wholly below the position (a fetch may start in an earlier batch)
    next = lastOffset + 1;
    const transactional = (attributes & 0x10) !== 0;
    const control = (attributes & 0x20) !== 0;
    if (abortedList) {
      while (abortedIdx < abortedList.length && abortedList[abortedIdx]!.firstOffset <= lastOffset) abortedProducers.add(abortedList[abortedIdx++]!.producerId);
    }
    if (control) {
      // A transaction marker: its one record's key is (version int16, type int16); type 0 = ABORT.
      if (abortedProducers.size && count > 0) {
        const producerId = getInt64(dv, batchStart + 43);
        P = batchStart + HEADER;
        varint(buf); P++; varint(buf); varint(buf);
        const kl = varint(buf);
        if (kl >= 4 && dv.getInt16(P + 2) === 0) abortedProducers.delete(producerId);
      }
      continue;
    }
    if (transactional && abortedProducers.size && abortedProducers.has(getInt64(dv, batchStart + 43))) continue;
    if (count <= 0) continue;
    const codec = attributes & 0x07;
    const fixedTimestamp = (attributes & 0x08) !== 0 ? getInt64(dv, batchStart + 35) : null;
    const seg = { baseOffset, baseTimestamp: getInt64(dv, batchStart + 27), fixedTimestamp, count };
    if (codec === 0) segments.push({ ...seg, buf, start: batchStart + HEADER, end: batchStart + size });
    else {
      const decompress = DECOMPRESS[codec];
      if (!decompress) throw new UnsupportedCompressionError(`${o.topic}[${o.partition}] offset ${baseOffset}: codec ${codec} is not one Kafka defines (none, gzip, snappy, lz4, zstd)`);
      const raw = decompress(buf.subarray(batchStart + HEADER, batchStart + size));
      segments.push({ ...seg, buf: raw, start: 0, end: raw.length });
      compressed = true;
    }
    total += count;
  }
  if (total === 0) return { messages: null, nextOffset: next, batches };

  // All values must index one buffer: with compressed batches the record sections are joined.
  let bytes = buf;
  if (compressed || segments.some((s) => s.buf !== buf)) {
    let n = 0;
    for (const s of segments) n += s.end - s.start;
    bytes = new Uint8Array(n);
    let at = 0;
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i]!;
      bytes.set(s.buf.subarray(s.start, s.end), at);
      segments[i] = { ...s, buf: bytes, start: at, end: at + (s.end - s.start) };
      at += s.end - s.start;
    }
  }

  const starts = new Int32Array(total);
  const ends = new Int32Array(total);
  const kstarts = new Int32Array(total);
  const kends = new Int32Array(total);
  const offsets = new Float64Array(total);
  const timestamps = new Float64Array(total);
  let nulls: Uint8Array | null = null;
  let knulls: Uint8Array | null = null;
  const headers: (Record<string, unknown> | undefined)[] | null = o.headers ? [] : null;
  let m = 0;
  for (const s of segments) {
    P = s.start;
    for (let r = 0; r < s.count; r++) {
      if (P >= s.end) throw new ProtocolError(`${o.topic}[${o.partition}]: batch at offset ${s.baseOffset} ends before its ${s.count} records`);
      const len = varint(bytes);
      const recEnd = P + len;
      P++; // record attributes (unused)
      const tsDelta = varint(bytes);
      const offset = s.baseOffset + varint(bytes);
      const kl = varint(bytes);
      const ks = P;
      if (kl > 0) P += kl;
      const vl = varint(bytes);
      const vs = P;
      if (vl > 0) P += vl;
      if (offset < o.fetchOffset) { P = recEnd; continue; }
      let h: Record<string, unknown> | undefined;
      if (headers) {
        const hc = varint(bytes);
        for (let i = 0; i < hc; i++) {
          const hkl = varint(bytes);
          const hk = utf8.decode(bytes.subarray(P, P + hkl)); P += hkl;
          const hvl = varint(bytes);
          const hv = hvl < 0 ? null : Buffer.from(bytes.buffer, bytes.byteOffset + P, hvl); if (hvl > 0) P += hvl;
          h ??= {};
          // kafkajs' shape: a repeated header key collects its values in an array.
          const prev = h[hk];
          h[hk] = prev === undefined ? hv : Array.isArray(prev) ? [...prev, hv] : [prev, hv];
        }
        headers.push(h);
      }
      P = recEnd;
      if (vl < 0) { (nulls ??= new Uint8Array(total))[m] = 1; starts[m] = vs; ends[m] = vs; } else { starts[m] = vs; ends[m] = vs + vl; }
      if (kl < 0) { (knulls ??= new Uint8Array(total))[m] = 1; kstarts[m] = ks; kends[m] = ks; } else { kstarts[m] = ks; kends[m] = ks + kl; }
      offsets[m] = offset;
      timestamps[m] = s.fixedTimestamp ?? s.baseTimestamp + tsDelta;
      m++;
    }
  }
  if (m === 0) return { messages: null, nextOffset: next, batches };
  // A record set's keys: non-ASCII/binary keys are bytes like values; the decoders read them as UTF-8.
  const messages: PackedMessages = {
    topic: o.topic, partition: o.partition, count: m, bytes,
    starts: starts.subarray(0, m), ends: ends.subarray(0, m), nulls: nulls ? nulls.subarray(0, m) : null,
    keys: { bytes, starts: kstarts.subarray(0, m), ends: kends.subarray(0, m), nulls: knulls ? knulls.subarray(0, m) : null },
    offsets: offsets.subarray(0, m), timestamps: timestamps.subarray(0, m),
    ...(headers ? { headers } : {}),
  };
  return { messages, nextOffset: next, batches };
}
