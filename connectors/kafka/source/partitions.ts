/**
 * Which partitions a source reads, and the next offset in each. Offsets are ours (from the query's
 * checkpoint, moved on as batches are handled), never the consumer group's, so they live here.
 *
 * By default a source reads every partition of its topics, and partitions discovery finds later. An
 * explicit partition set (`KafkaSourceConfig.partitions` at creation, `KafkaSource.assign()` at
 * runtime, applied with the same stop-and-start discovery uses) narrows that to exactly those
 * partitions of the source's topics: the seam through which a scale-out task (one per partition
 * group, issue 17) will be given its share.
 */
import type { SourcePosition } from '../../source.ts';

export interface TopicPartition { readonly topic: string; readonly partition: number }

export const partitionKey = (topic: string, partition: number): string => `${topic}:${partition}`;

/** An explicit partition set, or null: every partition of the source's topics. */
export type PartitionChoice = readonly TopicPartition[] | null;

/** Whether a partition of the source's topics is read under `choice`. */
export function partitionFilter(choice: PartitionChoice): (topic: string, partition: number) => boolean {
  if (choice === null) return () => true;
  const keys = new Set(choice.map((p) => partitionKey(p.topic, p.partition)));
  return (topic, partition) => keys.has(partitionKey(topic, partition));
}

/** The next offset to read per partition read. */
export class Positions {
  private readonly byKey = new Map<string, SourcePosition>();
  get size(): number { return this.byKey.size; }
  has(topic: string, partition: number): boolean { return this.byKey.has(partitionKey(topic, partition)); }
  /** The next offset of the partition with key `k` (see {@link partitionKey}). */
  offsetOf(k: string): number | undefined { return this.byKey.get(k)?.offset; }
  set(topic: string, partition: number, offset: number): void {
    this.byKey.set(partitionKey(topic, partition), { topic, partition, offset });
  }
  /** Drops the partitions `keep` does not select; returns them. */
  retain(keep: (topic: string, partition: number) => boolean): SourcePosition[] {
    const dropped: SourcePosition[] = [];
    for (const [k, p] of this.byKey) if (!keep(p.topic, p.partition)) { this.byKey.delete(k); dropped.push(p); }
    return dropped;
  }
  list(): SourcePosition[] { return [...this.byKey.values()]; }
}
