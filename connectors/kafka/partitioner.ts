/**
 * The Java client's partitioner for keyed records, so that a repartition topic we write places each
 * key in the partition a Java producer (Kafka Streams, ksqlDB, Flink's Kafka sink with the default
 * partitioner) would: `toPositive(murmur2(keyBytes)) % numPartitions`, as
 * `BuiltInPartitioner.partitionForKey` in kafka-clients computes it (and the old `DefaultPartitioner`
 * for keyed records). A co-partitioned join of one of our repartition topics with a topic written by
 * Java then sees equal keys in equal partitions.
 *
 * Keys are bytes: exactly the serialized key. A string is encoded as UTF-8 (what Java's
 * StringSerializer writes) by `keyBytes`; the one difference is a lone UTF-16 surrogate, which Node
 * encodes as U+FFFD (EF BF BD) and Java as '?' (3F) — a string with one is not well-formed text, so
 * keys should be bytes that came from a serializer, never re-encoded strings.
 *
 * Keyless records have no partition here: Java spreads them (sticky batches), so no placement is
 * "where Java would put it"; the caller decides (a repartition by a NULL key drops or routes them).
 *
 * Proven equal to kafka-clients 3.9.1 in connectors/kafka/partitioner.test.ts (Utils.murmur2 and
 * BuiltInPartitioner.partitionForKey on thousands of random keys, and records a Java producer wrote
 * to the real broker). kafkajs' `Partitioners.DefaultPartitioner` (alias `JavaCompatiblePartitioner`)
 * computes the same partitions (checked in the same test); its `LegacyPartitioner` does not.
 */
import type { ICustomPartitioner } from 'kafkajs';

const SEED = 0x9747b28c | 0;
const M = 0x5bd1e995;

/** Kafka's murmur2 (Utils.murmur2): a signed 32-bit hash of the bytes, int arithmetic as in Java. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (SEED ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length & ~3;
  // Java's switch falls through from case 3 to case 1.
  const rest = length & 3;
  if (rest === 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) h = Math.imul(h ^ data[tail]!, M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Utils.toPositive: clears the sign bit (not Math.abs: abs(MIN_VALUE) would stay negative in Java). */
export const toPositive = (n: number): number => n & 0x7fffffff;

/** The partition of a keyed record among `numPartitions` (BuiltInPartitioner.partitionForKey). */
export function partitionForKey(key: Uint8Array, numPartitions: number): number {
  if (!Number.isInteger(numPartitions) || numPartitions < 1) throw new RangeError(`numPartitions must be a positive integer, got ${numPartitions}`);
  return toPositive(murmur2(key)) % numPartitions;
}

/** A string key's bytes as Java's StringSerializer writes them (UTF-8; see the header for lone surrogates). */
export function keyBytes(key: string): Uint8Array {
  return Buffer.from(key, 'utf8');
}

/**
 * The same placement as a kafkajs producer's partitioner, for producers that write repartition
 * topics: keyed records by {@link partitionForKey}, an explicit partition as given; a keyless record
 * is refused (see the header) rather than placed somewhere Java would not have put it.
 */
export const javaKeyPartitioner: ICustomPartitioner = () => ({ topic, partitionMetadata, message }) => {
  if (message.partition !== undefined && message.partition !== null) return message.partition;
  if (message.key === null || message.key === undefined) throw new Error(`a record for ${topic} has no key: repartition topics take keyed records only`);
  const key = typeof message.key === 'string' ? keyBytes(message.key) : message.key;
  return partitionForKey(key, partitionMetadata.length);
};

/**
 * A sink's default partitioner: keyed records where Java's client (and kafkajs' DefaultPartitioner)
 * put them, with the murmur2 above — kafkajs computes it with its Long emulation and filters the
 * partition list for every record, a cost per output record that showed in the scale-out profiles —
 * and keyless records round-robin over the partitions that have a leader, as kafkajs does.
 */
export const javaSinkPartitioner: ICustomPartitioner = () => {
  let next = Math.floor(Math.random() * 0x7fffffff);
  return ({ partitionMetadata, message }) => {
    if (message.partition !== undefined && message.partition !== null) return message.partition;
    if (message.key !== null && message.key !== undefined) return partitionForKey(typeof message.key === 'string' ? keyBytes(message.key) : message.key, partitionMetadata.length);
    const up = partitionMetadata.filter((p) => p.leader >= 0);
    const from = up.length ? up : partitionMetadata;
    return from[toPositive(next++) % from.length]!.partitionId;
  };
};
