/**
 * The Kafka source's partition set as an input (connectors/kafka/source/partitions.ts): given at
 * creation it reads exactly those partitions of its topics; `assign()` changes the set while it runs
 * (the stop-and-start discovery uses), dropping partitions and starting added ones at the positions
 * given or per the startup mode. This is the seam a scale-out task will be given its partitions by.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
import { createKafkaSource, type KafkaSource } from '../../connectors/kafka/source.ts';
import type { FetchedMessages } from '../../connectors/formats/packed.ts';
import { isDecoded, isPacked, unpack } from '../../connectors/formats/packed.ts';
import type { PartitionLag } from '../../connectors/source.ts';
import { createCatalog, planRequest, type SourceDef } from '../../planner/index.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';

function sourceDef(topic: string, client: string): SourceDef {
  const [ps] = planRequest(`CREATE SOURCE s (v VARCHAR) WITH (connector = 'kafka', topic = '${topic}', format = 'raw', 'source.client' = '${client}',
    'scan.startup.mode' = 'earliest', 'source.workers' = '0', 'scan.topic-partition-discovery.interval' = '0 ms')`, createCatalog());
  const p = ps!.planned;
  if (p.kind !== 'create_source') throw new Error('expected CREATE SOURCE');
  return p.def;
}

const sources: KafkaSource[] = [];
afterEach(async () => { for (const s of sources.splice(0)) await s.stop(); });

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Kafka source partition set', () => {
  it.each(['native', 'kafkajs'])('%s: reads only the partitions it is given, and a new set from the positions given', async (client) => {
    const topic = uniqueTopic('src-parts');
    await createTopic(brokerList(), topic, 3);
    const send = (partition: number, from: number, n: number) =>
      produce(brokerList(), topic, Array.from({ length: n }, (_, i) => ({ partition, value: `p${partition}-${from + i}` })));
    for (const p of [0, 1, 2]) await send(p, 0, 10);

    const got: string[] = [];
    const announced: PartitionLag[][] = [];
    const src = createKafkaSource({
      brokers: brokerList(), def: sourceDef(topic, client), groupId: uniqueTopic('src-parts-group'),
      partitions: [{ topic, partition: 0 }, { topic, partition: 2 }],
    });
    sources.push(src);
    await src.start([], async (m: FetchedMessages) => {
      if (isDecoded(m)) throw new Error('expected messages read on this thread');
      for (const v of (isPacked(m) ? unpack(m) : m).values) got.push(Buffer.from(v!).toString());
    }, { onPartitions: (ps) => { announced.push([...ps]); } });

    await until(() => got.length >= 20, '20 messages of partitions 0 and 2');
    const byPartition = (pfx: string) => got.filter((v) => v.startsWith(pfx)).length;
    expect([byPartition('p0-'), byPartition('p1-'), byPartition('p2-')]).toEqual([10, 0, 10]);
    // (A start that failed part way, e.g. the group coordinator not ready yet, is retried and announces again.)
    expect(announced.length).toBeGreaterThanOrEqual(1);
    expect(announced.at(-1)!.map((p) => [p.partition, p.offset, p.endOffset]).sort()).toEqual([[0, 0, 10], [2, 0, 10]]);
    expect(src.positions().map((p) => [p.partition, p.offset]).sort()).toEqual([[0, 10], [2, 10]]);
    expect((await src.lag()).map((p) => p.partition).sort()).toEqual([0, 2]);

    // Partition 1 from offset 4, partitions 0 and 2 dropped.
    got.length = 0;
    announced.length = 0;
    await src.assign([{ topic, partition: 1 }], [{ topic, partition: 1, offset: 4 }]);
    await until(() => got.length >= 6, 'partition 1 from offset 4');
    expect(got.slice(0, 6)).toEqual(['p1-4', 'p1-5', 'p1-6', 'p1-7', 'p1-8', 'p1-9']);
    expect(announced.map((ps) => ps.map((p) => [p.partition, p.offset]))).toEqual([[[1, 4]]]);
    await send(0, 10, 5); await send(1, 10, 5);
    await until(() => got.length >= 11, 'new messages of partition 1');
    await new Promise((r) => setTimeout(r, 500));
    expect(got.filter((v) => !v.startsWith('p1-'))).toEqual([]);
    expect(src.positions().map((p) => [p.partition, p.offset])).toEqual([[1, 15]]);

    // Every partition again (null): 0 and 2 resume where they are given; 1 keeps its position.
    got.length = 0;
    await src.assign(null, [{ topic, partition: 0, offset: 10 }, { topic, partition: 2, offset: 10 }]);
    await send(1, 15, 2);
    await until(() => got.length >= 7, 'partition 0 from 10 and the new messages of partition 1');
    expect(got.filter((v) => v.startsWith('p0-')).sort()).toEqual(['p0-10', 'p0-11', 'p0-12', 'p0-13', 'p0-14']);
    expect(got.filter((v) => v.startsWith('p1-'))).toEqual(['p1-15', 'p1-16']);
    expect(src.positions().map((p) => [p.partition, p.offset]).sort()).toEqual([[0, 15], [1, 17], [2, 10]]);
    expect(src.status().state).toBe('running');
  });
});
