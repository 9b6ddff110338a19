/**
 * The Kafka Fetch API (key 1) at version 4, the one request the native reader speaks itself: the
 * oldest version Kafka 4 still accepts and the first that carries record batches (magic 2) without
 * down-conversion, with `isolation_level` and the aborted-transaction list for read_committed.
 *
 * Encoding builds one request buffer; decoding walks the response once and returns where each
 * partition's record set lies in the response buffer, without copying it (see record-set.ts).
 * Layouts follow the protocol guide (kafka.apache.org/protocol, "Fetch API", "Record Batch").
 */

export const FETCH_API_KEY = 1;
export const FETCH_VERSION = 4;

export interface FetchPartitionRequest {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly maxBytes: number;
}

export interface FetchRequest {
  readonly maxWaitMs: number;
  readonly minBytes: number;
  readonly maxBytes: number;
  /** read_committed: records of open or aborted transactions are withheld (see record-set.ts). */
  readonly readCommitted: boolean;
  readonly partitions: readonly FetchPartitionRequest[];
}

export interface AbortedTransaction {
  readonly producerId: number;
  readonly firstOffset: number;
}

export interface FetchPartitionResponse {
  readonly topic: string;
  readonly partition: number;
  readonly errorCode: number;
  readonly highWatermark: number;
  readonly lastStableOffset: number;
  readonly aborted: readonly AbortedTransaction[] | null;
  /** The record set is `buf[recordsStart, recordsEnd)` of the response buffer (empty when none). */
  readonly recordsStart: number;
  readonly recordsEnd: number;
}

export interface FetchResponse {
  readonly throttleMs: number;
  readonly partitions: readonly FetchPartitionResponse[];
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Writes the body of a Fetch v4 request (the request header is the connection's). */
export function encodeFetchRequest(r: FetchRequest): Uint8Array {
  const byTopic = new Map<string, FetchPartitionRequest[]>();
  for (const p of r.partitions) {
    const l = byTopic.get(p.topic);
    if (l) l.push(p); else byTopic.set(p.topic, [p]);
  }
  const names = new Map<string, Uint8Array>();
  let size = 4 + 4 + 4 + 4 + 1 + 4;
  for (const [t, ps] of byTopic) {
    const b = enc.encode(t);
    names.set(t, b);
    size += 2 + b.length + 4 + ps.length * (4 + 8 + 4);
  }
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let p = 0;
  dv.setInt32(p, -1); p += 4; // replica_id: a consumer
  dv.setInt32(p, r.maxWaitMs); p += 4;
  dv.setInt32(p, r.minBytes); p += 4;
  dv.setInt32(p, r.maxBytes); p += 4;
  dv.setInt8(p, r.readCommitted ? 1 : 0); p += 1;
  dv.setInt32(p, byTopic.size); p += 4;
  for (const [t, ps] of byTopic) {
    const b = names.get(t)!;
    dv.setInt16(p, b.length); p += 2;
    out.set(b, p); p += b.length;
    dv.setInt32(p, ps.length); p += 4;
    for (const x of ps) {
      dv.setInt32(p, x.partition); p += 4;
      setInt64(dv, p, x.offset); p += 8;
      dv.setInt32(p, x.maxBytes); p += 4;
    }
  }
  return out;
}

/** A signed 64-bit integer as a Number (exact up to 2^53, which offsets and timestamps stay below). */
export function getInt64(dv: DataView, p: number): number {
  return dv.getInt32(p) * 4294967296 + dv.getUint32(p + 4);
}

export function setInt64(dv: DataView, p: number, v: number): void {
  const hi = Math.floor(v / 4294967296);
  dv.setInt32(p, hi);
  dv.setUint32(p + 4, v - hi * 4294967296);
}

/** Thrown when a response does not parse: the connection is then out of step and must be dropped. */
export class ProtocolError extends Error {}

/**
 * Parses a Fetch v4 response body; `start` is where the body begins in `buf` (after the
 * correlation id). Record sets are located, not parsed.
 */
export function decodeFetchResponse(buf: Uint8Array, start: number): FetchResponse {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const end = buf.length;
  let p = start;
  const need = (n: number) => { if (p + n > end) throw new ProtocolError(`fetch response truncated at byte ${p}`); };
  const str = (): string => {
    need(2);
    const n = dv.getInt16(p); p += 2;
    if (n < 0) return '';
    need(n);
    const s = dec.decode(buf.subarray(p, p + n)); p += n;
    return s;
  };
  need(8);
  const throttleMs = dv.getInt32(p); p += 4;
  const nTopics = dv.getInt32(p); p += 4;
  const partitions: FetchPartitionResponse[] = [];
  for (let t = 0; t < nTopics; t++) {
    const topic = str();
    need(4);
    const nParts = dv.getInt32(p); p += 4;
    for (let i = 0; i < nParts; i++) {
      need(4 + 2 + 8 + 8 + 4);
      const partition = dv.getInt32(p); p += 4;
      const errorCode = dv.getInt16(p); p += 2;
      const highWatermark = getInt64(dv, p); p += 8;
      const lastStableOffset = getInt64(dv, p); p += 8;
      const nAborted = dv.getInt32(p); p += 4;
      let aborted: AbortedTransaction[] | null = null;
      if (nAborted >= 0) {
        need(nAborted * 16);
        aborted = [];
        for (let a = 0; a < nAborted; a++) {
          aborted.push({ producerId: getInt64(dv, p), firstOffset: getInt64(dv, p + 8) });
          p += 16;
        }
      }
      need(4);
      const len = dv.getInt32(p); p += 4;
      const recordsStart = p;
      if (len > 0) { need(len); p += len; }
      partitions.push({ topic, partition, errorCode, highWatermark, lastStableOffset, aborted, recordsStart, recordsEnd: p });
    }
  }
  return { throttleMs, partitions };
}

/** Error codes the reader acts on (others are retried with backoff and shown in the status). */
export const KafkaError = {
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  REPLICA_NOT_AVAILABLE: 9,
  KAFKA_STORAGE_ERROR: 56,
  FENCED_LEADER_EPOCH: 74,
  UNKNOWN_LEADER_EPOCH: 75,
  OFFSET_NOT_AVAILABLE: 78,
} as const;

/** Errors cured by asking again where the partition's leader is. */
export function needsMetadata(code: number): boolean {
  return code === KafkaError.UNKNOWN_TOPIC_OR_PARTITION || code === KafkaError.LEADER_NOT_AVAILABLE
    || code === KafkaError.NOT_LEADER_OR_FOLLOWER || code === KafkaError.REPLICA_NOT_AVAILABLE
    || code === KafkaError.KAFKA_STORAGE_ERROR || code === KafkaError.FENCED_LEADER_EPOCH
    || code === KafkaError.UNKNOWN_LEADER_EPOCH || code === KafkaError.OFFSET_NOT_AVAILABLE;
}
