/**
 * The native reader (connectors/kafka/wire) against the real broker: everything kafkajs produced
 * comes back with the same keys, values, headers, offsets and timestamps, across plain and gzip
 * batches, tombstones, a start inside a batch, committed and aborted transactions (read_committed),
 * a partition limit smaller than one batch, and offsets deleted under it.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { clusterMetadata, createTopic, deleteRecords, produce, produceTransaction, readTopic, type ProduceMessage } from '../../connectors/kafka/admin.ts';
import type { PackedMessages } from '../../connectors/formats/fast-json.ts';
import { unpack } from '../../connectors/formats/packed.ts';
import { createNativeReader, type NativeReader } from '../../connectors/kafka/wire/reader.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';

interface Got { partition: number; offset: number; key: string | null; value: string | null; timestamp: number; headers?: Record<string, string> }

const readers: NativeReader[] = [];
afterEach(async () => { for (const r of readers.splice(0)) await r.stop(); });

/** Reads until `want` messages arrived (or `ms` passed); records positions moved without messages. */
async function readAll(topic: string, partitions: number, want: number, o: { from?: number; partitionMaxBytes?: number; headers?: boolean; outOfRange?: (p: number, off: number) => Promise<number> } = {}) {
  const got: Got[] = [];
  const next = new Map<number, number>();
  const skips: number[] = [];
  let fatal: Error | null = null;
  const meta = await clusterMetadata(brokerList(), [topic]);
  const r = createNativeReader({
    clientId: 'native-reader-test', readCommitted: true, headers: o.headers ?? false, maxWaitMs: 50,
    ...(o.partitionMaxBytes ? { partitionMaxBytes: o.partitionMaxBytes } : {}),
    metadata: async () => meta,
    onMessages: async (m: PackedMessages, nextOffset) => {
      const raw = unpack(m);
      for (let i = 0; i < m.count; i++) {
        const h = raw.headers?.[i];
        got.push({
          partition: m.partition, offset: raw.offsets[i]!, key: raw.keys[i] ? Buffer.from(raw.keys[i]!).toString() : null,
          value: raw.values[i] ? Buffer.from(raw.values[i]!).toString() : null, timestamp: raw.timestamps[i]!,
          ...(h ? { headers: Object.fromEntries(Object.entries(h).map(([k, v]) => [k, String(v)])) } : {}),
        });
      }
      next.set(m.partition, nextOffset);
    },
    onSkip: (_t, p, n) => { skips.push(n); next.set(p, n); },
    outOfRange: async (_t, p, off) => { if (!o.outOfRange) throw new Error('unexpected out of range'); return o.outOfRange(p, off); },
    onState: () => undefined,
    onFatal: (e) => { fatal = e; },
  });
  readers.push(r);
  r.start(Array.from({ length: partitions }, (_, p) => ({ topic, partition: p, offset: o.from ?? 0 })));
  const t0 = Date.now();
  while (got.length < want && Date.now() - t0 < 20_000 && !fatal) await new Promise((res) => setTimeout(res, 20));
  await r.stop();
  if (fatal) throw fatal;
  return { got, next, skips };
}

describe('native Kafka reader', () => {
  it('returns what was produced: plain and gzip batches, keys, tombstones, headers, timestamps', async () => {
    const topic = uniqueTopic('native');
    await createTopic(brokerList(), topic, 2);
    const mk = (i: number): ProduceMessage => ({
      partition: i % 2, key: i % 7 === 0 ? null : `k${i}`, value: i % 11 === 0 ? null : JSON.stringify({ i, s: 'é✓'.repeat(i % 3) }),
      timestamp: 1_700_000_000_000 + i * 13, ...(i % 5 === 0 ? { headers: { h: `v${i}`, other: 'x', 'ключ': 'значение' } } : {}),
    });
    await produce(brokerList(), topic, Array.from({ length: 300 }, (_, i) => mk(i)));
    await produce(brokerList(), topic, Array.from({ length: 300 }, (_, i) => mk(300 + i)), { compression: 'gzip' });
    const { got, next } = await readAll(topic, 2, 600, { headers: true });
    expect(got.length).toBe(600);
    const byI = (g: Got) => g.value === null ? -1 : (JSON.parse(g.value) as { i: number }).i;
    for (const g of got) {
      if (g.value === null) continue;
      const want = mk(byI(g));
      expect(g.partition).toBe(want.partition);
      expect(g.key).toBe(want.key);
      expect(g.value).toBe(want.value);
      expect(g.timestamp).toBe(want.timestamp);
      expect(g.headers).toEqual(want.headers);
    }
    expect(got.filter((g) => g.value === null).length).toBe(Array.from({ length: 600 }, (_, i) => i).filter((i) => i % 11 === 0).length);
    // Offsets per partition are 0..299 in order, and the position is after the last.
    for (const p of [0, 1]) {
      expect(got.filter((g) => g.partition === p).map((g) => g.offset)).toEqual(Array.from({ length: 300 }, (_, i) => i));
      expect(next.get(p)).toBe(300);
    }
    // The same records kafkajs' consumer reads.
    const ref = await readTopic(brokerList(), topic);
    expect(ref.map((x) => `${x.partition}:${x.offset}:${x.key}:${x.value}`).sort()).toEqual(got.map((x) => `${x.partition}:${x.offset}:${x.key}:${x.value}`).sort());
  });

  it('reads snappy, lz4 and zstd batches as librdkafka writes them (kcat -z)', async () => {
    // kcat is a Debian package (.ci/run installs it): librdkafka compresses the way other clients do.
    for (const codec of ['snappy', 'lz4', 'zstd']) {
      const topic = uniqueTopic(`native-${codec}`);
      await createTopic(brokerList(), topic, 1);
      // Repetitive values (back-references) and unique ones (literals), 2,000 of them: several batches.
      const lines = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ i, pad: 'ab'.repeat(i % 40), u: (i * 2654435761) % 4294967296 }));
      const r = spawnSync('kcat', ['-P', '-b', brokerList().join(','), '-t', topic, '-p', '0', '-z', codec, '-X', 'linger.ms=50', '-X', 'batch.num.messages=700'], { input: lines.join('\n') + '\n' });
      expect(r.status, `kcat: ${r.error?.message ?? r.stderr?.toString()}`).toBe(0);
      const { got } = await readAll(topic, 1, lines.length);
      expect(got.map((g) => g.value), codec).toEqual(lines);
      expect(got.map((g) => g.offset), codec).toEqual(lines.map((_, i) => i));
      // kafkajs' consumer reads them too, with the same decoders registered as its codecs.
      expect((await readTopic(brokerList(), topic)).map((x) => x.value), `kafkajs ${codec}`).toEqual(lines);
    }
  });

  it('starts inside a batch and reads batches larger than the partition limit', async () => {
    const topic = uniqueTopic('native-mid');
    await createTopic(brokerList(), topic, 1);
    // One produce call = one batch of 50 (plain) and one of 50 (gzip).
    await produce(brokerList(), topic, Array.from({ length: 50 }, (_, i) => ({ partition: 0, value: `{"i":${i}}` })));
    await produce(brokerList(), topic, Array.from({ length: 50 }, (_, i) => ({ partition: 0, value: `{"i":${50 + i}}` })), { compression: 'gzip' });
    const mid = await readAll(topic, 1, 80, { from: 20 });
    expect(mid.got.map((g) => g.offset)).toEqual(Array.from({ length: 80 }, (_, i) => 20 + i));
    const midGzip = await readAll(topic, 1, 25, { from: 75 });
    expect(midGzip.got.map((g) => g.value)).toEqual(Array.from({ length: 25 }, (_, i) => `{"i":${75 + i}}`));
    // 64 bytes per partition: smaller than any batch here; the reader raises its limit and goes on.
    const small = await readAll(topic, 1, 100, { partitionMaxBytes: 64 });
    expect(small.got.map((g) => g.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('skips aborted transactions and transaction markers under read_committed', async () => {
    const topic = uniqueTopic('native-txn');
    await createTopic(brokerList(), topic, 1);
    const vals = (tag: string, n: number): ProduceMessage[] => Array.from({ length: n }, (_, i) => ({ partition: 0, value: `${tag}-${i}` }));
    await produceTransaction(brokerList(), topic, vals('committed1', 5), false);
    await produceTransaction(brokerList(), topic, vals('aborted', 4), true);
    await produce(brokerList(), topic, vals('plain', 3));
    await produceTransaction(brokerList(), topic, vals('committed2', 2), false);
    const { got, next } = await readAll(topic, 1, 10);
    expect(got.map((g) => g.value)).toEqual([...vals('committed1', 5), ...vals('plain', 3), ...vals('committed2', 2)].map((m) => m.value));
    // 5 + marker, 4 aborted + marker, 3, 2 + marker = 17 offsets: the position is past the last marker.
    await new Promise((r) => setTimeout(r, 300));
    expect(next.get(0)).toBe(17);
    // Offsets keep their gaps (the aborted ones and the markers are not renumbered).
    expect(got.map((g) => g.offset)).toEqual([0, 1, 2, 3, 4, 11, 12, 13, 14, 15]);
  });

  it('asks where to go on when offsets were deleted under it', async () => {
    const topic = uniqueTopic('native-loss');
    await createTopic(brokerList(), topic, 1);
    await produce(brokerList(), topic, Array.from({ length: 30 }, (_, i) => ({ partition: 0, value: `v${i}` })));
    await deleteRecords(brokerList(), topic, 0, 10);
    const asked: number[] = [];
    const { got } = await readAll(topic, 1, 20, { outOfRange: async (_p, off) => { asked.push(off); return 10; } });
    expect(asked).toEqual([0]);
    expect(got.map((g) => g.offset)).toEqual(Array.from({ length: 20 }, (_, i) => 10 + i));
  });
});
