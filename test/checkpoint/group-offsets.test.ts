/**
 * After each checkpoint the offsets are committed to the consumer group named after the query (for
 * an exactly-once sink inside its transaction): a consumer-group listing shows each query's progress.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { groupOffsets, produce } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';
import { createTopicReady, ddl, event } from '../fault/workload.ts';

describe('query progress in the consumer group', () => {
  let ts: TestService | undefined;
  afterAll(async () => { await ts?.close(); });

  it('commits each checkpoint to the group named in progress.groupId, for a view and a sink', async () => {
    const topic = uniqueTopic('groups'); const out = uniqueTopic('groups-out');
    await createTopicReady(brokerList(), topic, 2);
    ts = await startTestService();
    const r = await ts.sql(ddl(topic, out));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const ids: string[] = [r.body.results[1].queryId, r.body.results[2].queryId];
    await produce(brokerList(), topic, Array.from({ length: 300 }, (_, i) => ({ partition: i % 2, value: JSON.stringify(event(i)) })));
    for (const id of ids) {
      const p = await waitFor(async () => {
        const x = (await ts!.get(`/v1/queries/${id}`)).body.progress;
        return x.inputRows === 300 && x.partitions.every((q: { lag: number }) => q.lag === 0) ? x : null;
      }, 30_000, 'all read');
      expect(p.groupId).toMatch(/^streamsql-(counts|out_sink)-/);
      // The checkpoint after the last batch reaches the group.
      const got = await waitFor(async () => {
        const g = (await groupOffsets(brokerList(), p.groupId, topic)).sort((a, b) => a.partition - b.partition);
        return g.length === 2 && g.every((x) => x.offset === 150) ? g : null;
      }, 20_000, `group ${p.groupId} at the end offsets`);
      expect(got).toEqual([{ partition: 0, offset: 150 }, { partition: 1, offset: 150 }]);
      const now = (await ts.get(`/v1/queries/${id}`)).body.progress;
      expect(now.partitions.map((x: { partition: number; offset: number }) => ({ partition: x.partition, offset: x.offset })).sort((a: { partition: number }, b: { partition: number }) => a.partition - b.partition)).toEqual(got);
    }
  });
});
