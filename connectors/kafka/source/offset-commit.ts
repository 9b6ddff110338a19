/**
 * Offset commits: a checkpoint's positions written to the query's consumer group, so Kafka's lag
 * tools show its progress. The group has no members (fetching uses a private reader group), so a
 * transaction holding only the offsets (TxnOffsetCommit) writes them without joining it, tagged with
 * the checkpoint epoch like an exactly-once sink's. Nothing here is read back by the source: restores
 * come from the checkpoint; the 'group-offsets' startup mode reads the group (startup.ts).
 */
import type { Kafka, Producer } from 'kafkajs';
import type { SourcePosition } from '../../source.ts';
import { inTransaction } from '../client.ts';

export interface OffsetCommitter {
  commit(positions: readonly SourcePosition[], epoch?: number): Promise<void>;
  close(): Promise<void>;
}

export function createOffsetCommitter(client: () => Kafka, groupId: string): OffsetCommitter {
  let committer: Producer | null = null;
  return {
    async commit(positions, epoch) {
      if (positions.length === 0) return;
      if (!committer) {
        const p = client().producer({ transactionalId: `${groupId}.offsets`, idempotent: true, maxInFlightRequests: 1 });
        try { await p.connect(); } catch (e) { await p.disconnect().catch(() => undefined); throw e; }
        committer = p;
      }
      const byTopic = new Map<string, { partition: number; offset: string; metadata: string | null }[]>();
      for (const p of positions) {
        const l = byTopic.get(p.topic) ?? [];
        l.push({ partition: p.partition, offset: String(p.offset), metadata: epoch === undefined ? null : `streamsql-epoch:${epoch}` });
        byTopic.set(p.topic, l);
      }
      // Held here: close() may clear `committer` while this commit is in flight.
      const used = committer;
      try {
        await inTransaction(used, (txn) => txn.sendOffsets({ consumerGroupId: groupId, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) }));
      } catch (e) {
        // A broken producer (fenced, broker gone): the next commit starts a fresh one.
        await used.disconnect().catch(() => undefined);
        if (committer === used) committer = null;
        throw e;
      }
    },
    async close() {
      await committer?.disconnect().catch(() => undefined);
      committer = null;
    },
  };
}
