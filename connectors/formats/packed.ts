/**
 * What a source hands the runner per fetch: plain arrays of messages (the kafkajs reader) or
 * messages packed into one buffer (the native reader, pointing into the fetch response; decode
 * workers). The fast JSON scanner reads either; everything else reads plain arrays.
 */
import type { SourceDef } from '../../planner/catalog.ts';
import { createChangelogDecoder, isKeyedOrChangelog } from './changelog.ts';
import { createDecoder, type Decoded, type RawMessages } from './decode.ts';
import { createFastJsonDecoder, type PackedMessages } from './fast-json.ts';
import { createBuilder } from './builders.ts';
import { batchFromData, vectorToData } from '../../executor/arrow.ts';

/**
 * A fetch decoded already (by a read worker): the batch, plus the raw bytes of the malformed
 * messages (aligned with `decoded.malformed`) for dead letters.
 */
export interface PreDecoded {
  readonly topic: string;
  readonly partition: number;
  readonly count: number;
  readonly decoded: Decoded;
  readonly malformedRaw: readonly { readonly key: Uint8Array | null; readonly value: Uint8Array | null; readonly timestamp: number }[];
}

export type FetchedMessages = RawMessages | PackedMessages | PreDecoded;

export function isPacked(m: FetchedMessages): m is PackedMessages {
  return (m as PackedMessages).bytes !== undefined;
}

export function isDecoded(m: FetchedMessages): m is PreDecoded {
  return (m as PreDecoded).decoded !== undefined;
}

/** Messages in a fetch. */
export function countOf(m: FetchedMessages): number {
  return isPacked(m) || isDecoded(m) ? m.count : m.values.length;
}

/** The malformed messages of a fetch as produced, for the dead-letter topic (aligned with `malformed`). */
export function malformedMessages(m: FetchedMessages, d: Decoded): { key: Uint8Array | null; value: Uint8Array | null; timestamp: number }[] {
  if (isDecoded(m)) return [...m.malformedRaw];
  const raw = isPacked(m) ? unpack(m) : m;
  return d.malformed.map((x) => ({ key: raw.keys[x.index] ?? null, value: raw.values[x.index] ?? null, timestamp: raw.timestamps[x.index]! }));
}

/** Packed messages as plain arrays of Buffer views (no copy), for the reference decoder and dead letters. */
export function unpack(p: PackedMessages): RawMessages {
  const buf = Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength);
  const values: (Buffer | null)[] = new Array(p.count);
  const keys: (Buffer | null)[] = new Array(p.count);
  const k = p.keys;
  const kbuf = k ? Buffer.from(k.bytes.buffer, k.bytes.byteOffset, k.bytes.byteLength) : null;
  for (let m = 0; m < p.count; m++) {
    values[m] = p.nulls !== null && p.nulls[m] === 1 ? null : buf.subarray(p.starts[m]!, p.ends ? p.ends[m]! : p.starts[m + 1]!);
    keys[m] = kbuf === null || (k!.nulls !== null && k!.nulls[m] === 1) ? null : kbuf.subarray(k!.starts[m]!, k!.ends ? k!.ends[m]! : k!.starts[m + 1]!);
  }
  return {
    topic: p.topic, partition: p.partition, values, keys, offsets: Array.from(p.offsets), timestamps: Array.from(p.timestamps),
    ...(p.headers ? { headers: p.headers } : {}),
  };
}

/**
 * The decoder of a source for whatever form a fetch arrives in: the flat-JSON scanner where the
 * schema allows (2–3× JSON.parse, bench/decode.ts; it reads packed messages in place), else the
 * reference decoder. `used` (sourceColumnsUsed) lets the scanner skip columns the query never reads.
 */
export function createFetchedDecoder(def: SourceDef, used: readonly boolean[] | null = null): (m: FetchedMessages) => Decoded {
  const keyed = keyedFastPath(def, used);
  if (keyed) {
    const changelog = createChangelogDecoder(def);
    return (m) => {
      if (isDecoded(m)) return m.decoded;
      return keyed(m) ?? changelog(isPacked(m) ? unpack(m) : m);
    };
  }
  if (isKeyedOrChangelog(def)) {
    const changelog = createChangelogDecoder(def);
    return (m) => (isDecoded(m) ? m.decoded : changelog(isPacked(m) ? unpack(m) : m));
  }
  const fast = createFastJsonDecoder(def, used);
  const reference = createDecoder(def);
  return (m) => isDecoded(m) ? m.decoded
    : isPacked(m) ? (fast ? fast.decodePacked(m) : reference(unpack(m)))
    : (fast ? fast.decode(m) : reference(m));
}

/**
 * The common keyed source — JSON values holding every column, one key column read from the raw record
 * key ('key.format' = 'raw', 'key.fields' = one column), no changelog — at the flat-JSON scanner's
 * speed: the values are scanned as for an unkeyed source, then the key column is replaced by the record
 * keys, which is what the reference decoder (changelog.ts) gives (the key wins over the value's field).
 * A fetch with a record without a key returns null: the reference decoder reports it, message by
 * message. Null for every other source.
 */
export function keyedFastPath(def: SourceDef, used: readonly boolean[] | null): ((m: RawMessages | PackedMessages) => Decoded | null) | null {
  const o = def.options;
  if (o.changelog || o.valueFormat || o.format !== 'json' || o.keyFormat !== 'raw' || o.valueFieldsInclude === 'except-key' || o.keyFieldsPrefix || o.keyFields?.length !== 1) return null;
  const keyIdx = def.columns.findIndex((c) => c.metadata === null && c.name.toLowerCase() === o.keyFields![0]!.toLowerCase());
  const keyCol = def.columns[keyIdx];
  if (!keyCol) return null;
  const { keyFields: _k, keyFormat: _f, ...plain } = o;
  const fast = createFastJsonDecoder({ ...def, options: plain }, used);
  if (!fast) return null;
  const field = def.schema.fields.findIndex((f) => f.name === keyCol.name);
  if (field < 0) return null;
  return (m) => {
    const keys = isPacked(m) ? m.keys : null;
    if (isPacked(m) && (!keys || (keys.nulls && keys.nulls.some((x, i) => x && i < m.count)))) return null;
    if (!isPacked(m) && m.keys.some((k) => k === null || k === undefined)) return null;
    const d = isPacked(m) ? fast.decodePacked(m) : fast.decode(m);
    const b = d.batch;
    if (!b) return d;
    const n = b.numRows;
    const col = createBuilder(keyCol.type, n, keyCol.name);
    // The key's text into the column's type as the reference decoder converts it; a key it refuses
    // (DecodeError: that message is malformed there) sends the whole fetch to the reference decoder.
    try {
      fill(col, n, d.kept, keys, m);
    } catch {
      return null;
    }
    const children = b.data.children.slice();
    children[field] = vectorToData(col.finish(n));
    return { ...d, batch: batchFromData(def.schema, children, n) };
  };
}

function fill(col: ReturnType<typeof createBuilder>, n: number, kept: Int32Array | null, keys: PackedMessages['keys'], m: RawMessages | PackedMessages): void {
  for (let r = 0; r < n; r++) {
    const at = kept ? kept[r]! : r;
    if (keys) {
      const end = keys.ends ? keys.ends[at]! : keys.starts[at + 1]!;
      col.set(r, utf8.decode(keys.bytes.subarray(keys.starts[at]!, end)));
    } else {
      const k = (m as RawMessages).keys[at]!;
      col.set(r, Buffer.isBuffer(k) ? k.toString('utf8') : utf8.decode(k));
    }
  }
}

const utf8 = new TextDecoder();
