import { describe, expect, it } from 'vitest';
import { createBatchGenerator } from '../../connectors/demo/generator.ts';
import { createDecoder, type Decoded, type RawMessages } from '../../connectors/formats/decode.ts';
import { createTopic } from '../../connectors/kafka/admin.ts';
import { consumeAll, createBenchProducer } from '../../connectors/kafka/bench-consumer.ts';
import { createFastJsonDecoder } from '../../connectors/formats/fast-json.ts';
import { batchVectors } from '../../executor/arrow.ts';
import { valueAt } from '../../executor/vector.ts';
import { flag, flags } from '../../bench/lib/args.ts';
import { barChart, lineChart } from '../../bench/lib/svg.ts';
import { bidSourceSql, sourceDef } from '../../bench/lib/sources.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';

describe('bench helpers', () => {
  it('reads flags in both spellings and lists', () => {
    const argv = ['--events', '500', '--skip=spark,kcat', '--latency', '--out', 'x'];
    expect(flag('events', argv)).toBe('500');
    expect(flag('latency', argv)).toBe('true');
    expect(flag('missing', argv)).toBeUndefined();
    expect(flags('skip', argv)).toEqual(['spark', 'kcat']);
  });

  it('draws bars proportional to the values and a line through the samples', () => {
    const svg = barChart('t <1>', [{ label: 'a', value: 100, group: 'limit' }, { label: 'b', value: 50 }]);
    expect(svg).toContain('t &lt;1&gt;');
    const widths = [...svg.matchAll(/<rect x="300" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths).toHaveLength(2);
    expect(widths[0]! / widths[1]!).toBeCloseTo(2, 5);
    const line = lineChart('rss', [{ x: 0, y: 10 }, { x: 5, y: 20 }, { x: 10, y: 15 }], 's', 'MB');
    expect(line.match(/[ML]\d/g)).toHaveLength(3);
  });
});

describe('bench clients on the real broker', () => {
  it('loads a topic, reads it back completely, and the fast decoder decodes fetches exactly as the reference decoder', async () => {
    const brokers = brokerList();
    const topic = uniqueTopic('bench-lib');
    await createTopic(brokers, topic, 2);
    const producer = await createBenchProducer(brokers, { connections: 2 });
    const gen = createBatchGenerator('bid', { seed: 4 });
    const total = 6000;
    try {
      await Promise.all([0, 1, 2].map((i) => producer.send(topic, i % 2, gen.next(2000) as { value: Buffer; timestamp: number }[])));
    } finally { await producer.close(); }
    const def = sourceDef(bidSourceSql(topic));
    const ref = createDecoder(def);
    const fast = createFastJsonDecoder(def)!;
    const pairs: { got: Decoded; want: Decoded; raw: RawMessages }[] = [];
    {
      const r = await consumeAll(brokers, topic, total, { onBatch: (raw) => { pairs.push({ raw, got: fast.decode(raw), want: ref(raw) }); }, timeoutMs: 45_000 });
      expect(r.messages).toBe(total);
      expect(r.bytes).toBeGreaterThan(total * 80);
      let rows = 0;
      for (const p of pairs) {
        const got = p.got;
        rows += got.batch?.numRows ?? 0;
        expect(got.malformed).toEqual(p.want.malformed);
        const g = batchVectors(got.batch!, def.schema).map((v) => Array.from({ length: v.length }, (_, i) => valueAt(v, i)));
        const w = batchVectors(p.want.batch!, def.schema).map((v) => Array.from({ length: v.length }, (_, i) => valueAt(v, i)));
        expect(g).toEqual(w);
      }
      expect(rows).toBe(total);
    }
  });
});
