/**
 * A restarted exactly-once sink (same transactionalId) fences its previous incarnation: the old
 * producer can no longer commit, its open transaction is aborted, and a read_committed reader sees
 * only what was committed.
 */
import { describe, expect, it } from 'vitest';
import { readTopic } from '../../connectors/kafka/admin.ts';
import { createKafkaSink } from '../../connectors/kafka/sink.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { createTopicReady } from '../fault/workload.ts';
import { waitFor } from '../helpers/service.ts';

describe('exactly-once sink fencing', () => {
  it('fences the old producer when a new one starts with the same transactionalId', async () => {
    const topic = uniqueTopic('fence'); const src = uniqueTopic('fence-src');
    await createTopicReady(brokerList(), topic, 1);
    await createTopicReady(brokerList(), src, 1);
    const mk = () => createKafkaSink({ brokers: brokerList(), topic, exactlyOnce: true, transactionalId: `fence-${topic}`, groupId: `fence-group-${topic}` });
    const old = mk();
    try {
      old.write([{ key: 'a', value: 'old-1' }]);
      // A broker that has just started may still be loading its offsets topic: retry the epoch as the
      // runner does (the sink keeps the epoch's records and checks whether a failed attempt committed).
      await waitFor(() => old.commitEpoch(1, [{ topic: src, partition: 0, offset: 1 }]).then(() => true), 40_000, 'first commit');
      const next = mk();
      try {
        await next.connect!();
        // The old incarnation keeps running (a zombie): its next epoch must not land.
        old.write([{ key: 'a', value: 'old-2' }]);
        await expect(old.commitEpoch(2, [{ topic: src, partition: 0, offset: 2 }])).rejects.toThrow(/fenced|epoch|producer/i);
        next.write([{ key: 'a', value: 'new-2' }]);
        await next.commitEpoch(2, [{ topic: src, partition: 0, offset: 2 }]);
        expect(await next.committedEpoch!([src])).toBe(2);
      } finally { await next.close(); }
      let got: (string | null)[] = [];
      await waitFor(async () => { got = (await readTopic(brokerList(), topic, { idleMs: 1000 })).map((r) => r.value); return got.length >= 2; }, 30_000, 'records');
      expect(got).toEqual(['old-1', 'new-2']);
    } finally { await old.close(); }
  });
});
