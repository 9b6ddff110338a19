/**
 * Record keys for the scale-out tests: `perPartition` keys for each partition of a `partitions`-partition
 * topic, placed as Kafka's Java client places them (murmur2), so a test knows which task reads which key.
 */
import { keyBytes, partitionForKey } from '../../connectors/kafka/partitioner.ts';

export function keysByPartition(partitions: number, prefix = 'key-', perPartition = 3): string[][] {
  const out: string[][] = Array.from({ length: partitions }, () => []);
  for (let i = 0; out.some((k) => k.length < perPartition); i++) {
    const k = `${prefix}${i}`;
    const p = partitionForKey(keyBytes(k), partitions);
    if (out[p]!.length < perPartition) out[p]!.push(k);
  }
  return out;
}
