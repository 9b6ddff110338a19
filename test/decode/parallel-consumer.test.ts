import { describe, expect, it } from 'vitest';
import { createBatchGenerator } from '../../connectors/demo/generator.ts';
import { createTopic } from '../../connectors/kafka/admin.ts';
import { createBenchProducer } from '../../connectors/kafka/bench-consumer.ts';
import { createParallelConsumer, type ParallelBatch } from '../../connectors/kafka/parallel-consumer.ts';
import { batchVectors } from '../../executor/arrow.ts';
import { valueAt } from '../../executor/vector.ts';
import { bidSourceSql, sourceDef } from '../../bench/lib/sources.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';

describe('parallel consumer (consume + decode in worker threads)', () => {
  it('delivers every message once, in offset order per partition, decoded exactly', async () => {
    const brokers = brokerList();
    const topic = uniqueTopic('parallel');
    await createTopic(brokers, topic, 3);
    const gen = createBatchGenerator('bid', { seed: 11 });
    const sent = new Map<number, string[]>();
    const producer = await createBenchProducer(brokers, { connections: 1 });
    try {
      for (let i = 0; i < 6; i++) {
        const msgs = gen.next(700 + i * 100);
        const p = i % 3;
        sent.set(p, [...(sent.get(p) ?? []), ...msgs.map((m) => (m.value as Buffer).toString())]);
        await producer.send(topic, p, msgs as { value: Buffer }[]);
      }
    } finally { await producer.close(); }
    const total = [...sent.values()].reduce((s, v) => s + v.length, 0);
    const def = sourceDef(bidSourceSql(topic));
    const got: ParallelBatch[] = [];
    let n = 0; let done!: () => void;
    const finished = new Promise<void>((r) => { done = r; });
    const pc = createParallelConsumer({ brokers, def, groupId: `t-${topic}`, workers: 2, onBatch: async (b) => { got.push(b); n += b.messages; if (n >= total) done(); } });
    try {
      await pc.start();
      await Promise.race([finished, new Promise((_, rej) => setTimeout(() => rej(new Error(`got ${n}/${total}`)), 40_000))]);
    } finally { await pc.stop(); }
    expect(n).toBe(total);
    for (const [p, values] of sent) {
      const batches = got.filter((b) => b.partition === p);
      // Offsets continue batch after batch: nothing lost, nothing repeated, in order.
      let next = 0;
      for (const b of batches) { expect(b.firstOffset).toBe(next); next = b.nextOffset; }
      expect(next).toBe(values.length);
      const auctions = batches.flatMap((b) => { const v = batchVectors(b.decoded.batch!, def.schema)[0]!; return Array.from({ length: v.length }, (_, i) => valueAt(v, i)); });
      expect(auctions).toEqual(values.map((s) => (JSON.parse(s) as { auction: number }).auction));
    }
  });
});
