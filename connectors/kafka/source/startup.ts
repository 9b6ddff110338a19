/**
 * Where each partition starts when a source starts. A partition the checkpoint knows resumes at its
 * checkpointed offset (through the data-loss rule: the offset may be gone). Any other partition
 * starts per 'scan.startup.mode', as Flink names them:
 * - earliest: the log start; latest: the log end (only what arrives from now on);
 * - timestamp: the first offset at or after 'scan.startup.timestamp-millis' (the end when none);
 * - specific-offsets: the offset given for the partition, kept inside the log (the log start when
 *   none is given);
 * - group-offsets: the offset committed in the query's consumer group, raised to the log start
 *   (the log start when none is committed).
 */
import type { Admin } from 'kafkajs';
import type { KafkaSourceOptions } from '../../../planner/catalog.ts';
import type { PartitionLag, SourcePosition } from '../../source.ts';
import { decideOffset, type LossLedger } from './data-loss.ts';
import { partitionKey } from './partitions.ts';

export interface StartupInput {
  readonly opts: KafkaSourceOptions;
  /** The query's consumer group (for 'group-offsets'). */
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Positions restored from a checkpoint. */
  readonly restored: readonly SourcePosition[];
  /** Which partitions are read (see partitions.ts). */
  readonly reads: (topic: string, partition: number) => boolean;
  readonly loss: LossLedger;
}

/** The start offset, log end and lag of every partition read. Throws DataLossError per the rule. */
export async function startOffsets(a: Admin, s: StartupInput): Promise<PartitionLag[]> {
  const restored = new Map(s.restored.map((p) => [partitionKey(p.topic, p.partition), p.offset]));
  const out: PartitionLag[] = [];
  for (const topic of s.topics) {
    const offs = await a.fetchTopicOffsets(topic);
    const mode = startupLookup(a, s, topic);
    for (const o of offs) {
      if (!s.reads(topic, o.partition)) continue;
      const low = Number(o.low); const high = Number(o.high);
      const r = restored.get(partitionKey(topic, o.partition));
      const offset = r !== undefined
        ? s.loss.apply(topic, o.partition, decideOffset({ offset: r, logStart: low, logEnd: high, failOnDataLoss: s.opts.failOnDataLoss }), 'restore')
        : await mode(o.partition, low, high);
      out.push({ topic, partition: o.partition, offset, endOffset: high, lag: Math.max(0, high - offset) });
    }
  }
  return out;
}

/** The startup mode's offset for partitions of one topic (broker lookups made once per topic, when needed). */
function startupLookup(a: Admin, s: StartupInput, topic: string): (partition: number, low: number, high: number) => Promise<number> {
  const { opts } = s;
  let byTime: Map<number, number> | null = null;
  let committed: Map<number, number> | null = null;
  return async (partition, low, high) => {
    switch (opts.startupMode) {
      case 'earliest': return low;
      case 'latest': return high;
      case 'timestamp': {
        if (!byTime) {
          byTime = new Map((await a.fetchTopicOffsetsByTimestamp(topic, opts.startupTimestampMs ?? 0)).map((x) => [x.partition, Number(x.offset)]));
        }
        const offset = byTime.get(partition) ?? high;
        return offset < 0 ? high : offset;
      }
      case 'specific-offsets': return Math.min(Math.max(opts.specificOffsets[partition] ?? low, low), high);
      case 'group-offsets': {
        if (!committed) {
          const res = await a.fetchOffsets({ groupId: s.groupId, topics: [topic] });
          committed = new Map((res[0]?.partitions ?? []).map((x) => [x.partition, Number(x.offset)]));
        }
        const c = committed.get(partition);
        return c !== undefined && c >= 0 ? Math.max(c, low) : low;
      }
    }
  };
}
