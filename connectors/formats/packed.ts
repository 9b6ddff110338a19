/**
 * What a source hands the runner per fetch: plain arrays of messages (the kafkajs reader) or
 * messages packed into one buffer (the native reader, pointing into the fetch response; decode
 * workers). The fast JSON scanner reads either; everything else reads plain arrays.
 */
import type { SourceDef } from '../../planner/catalog.ts';
import { createChangelogDecoder, isKeyedOrChangelog } from './changelog.ts';
import { createDecoder, type Decoded, type RawMessages } from './decode.ts';
import { createFastJsonDecoder, type PackedMessages } from './fast-json.ts';

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
