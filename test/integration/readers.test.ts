/**
 * The three ways a source reads Kafka give the same answer: kafkajs' consumer, the native reader on
 * the query's thread, and the native reader in read workers (1 worker for 3 partitions, and 2).
 * One topic holds plain and gzip batches, malformed messages (dead-lettered), and an aborted
 * transaction (never counted under read_committed); each reader's view must equal the expected
 * counts, and each dead-letter topic the malformed messages.
 */
import { availableParallelism } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { addPartitions, createTopic, produce, produceTransaction, readTopic } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';

const T0 = Date.parse('2024-01-01T00:00:00.000Z');

describe('source readers', () => {
  let ts: TestService | undefined;
  afterAll(async () => { await ts?.close(); });

  /** The view's rows (ordered by k) once their counts `n` add up to `total`. */
  const viewOnceTotal = <R extends { n: number }>(view: string, columns: string, total: number) => waitFor(async () => {
    const q = await ts!.sql(`SELECT ${columns} FROM ${view} ORDER BY k`);
    const rs = q.body.results?.[0]?.rows as R[] | undefined;
    return rs && rs.reduce((a, x) => a + x.n, 0) === total ? rs : null;
  }, 30_000, `view ${view} to hold ${total} rows`);

  it('kafkajs, native inline and native in read workers read the same rows', async () => {
    const topic = uniqueTopic('readers');
    await createTopic(brokerList(), topic, 3);
    const ev = (i: number) => ({ k: i % 5, v: i, ts: T0 + i * 10 });
    const good: ReturnType<typeof ev>[] = [];
    const plain: { partition: number; value: string }[] = [];
    const bad = ['{"k": 1, "v": ', '{"k": "x", "v": 1, "ts": 0}', '[1]'];
    for (let i = 0; i < 600; i++) { const e = ev(i); good.push(e); plain.push({ partition: i % 3, value: JSON.stringify(e) }); }
    bad.forEach((b, j) => plain.splice(100 + j * 150, 0, { partition: j, value: b }));
    await produce(brokerList(), topic, plain);
    const zipped = Array.from({ length: 400 }, (_, j) => ev(600 + j));
    good.push(...zipped);
    await produce(brokerList(), topic, zipped.map((e, j) => ({ partition: j % 3, value: JSON.stringify(e) })), { compression: 'gzip' });
    await produceTransaction(brokerList(), topic, Array.from({ length: 50 }, (_, j) => ({ partition: j % 3, value: JSON.stringify({ k: 99, v: 1, ts: T0 }) })), true);
    const tail = Array.from({ length: 30 }, (_, j) => ev(1000 + j));
    good.push(...tail);
    await produce(brokerList(), topic, tail.map((e, j) => ({ partition: j % 3, value: JSON.stringify(e) })));

    const want = new Map<number, { n: number; total: number }>();
    for (const e of good) { const w = want.get(e.k) ?? { n: 0, total: 0 }; w.n++; w.total += e.v; want.set(e.k, w); }

    ts = await startTestService();
    const variants: Record<string, string> = {
      kafkajs: `'source.client' = 'kafkajs'`,
      inline: `'source.workers' = '0'`,
      one: `'source.workers' = '1'`,
      two: `'source.workers' = '2'`,
    };
    const dlts: Record<string, string> = {};
    for (const [name, opt] of Object.entries(variants)) {
      dlts[name] = uniqueTopic(`dlt-${name}`);
      const r = await ts.sql(`CREATE SOURCE s_${name} (k BIGINT, v BIGINT, ts TIMESTAMP(3))
        WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest',
              'format.on-error' = 'dead-letter', 'format.dead-letter.topic' = '${dlts[name]}', ${opt});
        CREATE MATERIALIZED VIEW v_${name} WITH ('checkpoint.interval' = '200 ms') AS SELECT k, COUNT(*) AS n, SUM(v) AS total FROM s_${name} GROUP BY k;`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    const explain = await ts.sql(`EXPLAIN CREATE MATERIALIZED VIEW x AS SELECT k, COUNT(*) AS n FROM s_two GROUP BY k`);
    expect(JSON.stringify(explain.body)).toContain('workers=2');

    for (const name of Object.keys(variants)) {
      const rows = await viewOnceTotal<{ k: number; n: number; total: number }>(`v_${name}`, 'k, n, total', good.length);
      expect(rows, name).toEqual([...want].sort((a, b) => a[0] - b[0]).map(([k, w]) => ({ k, n: w.n, total: w.total })));
      const q = (await ts.get('/v1/queries')).body.queries.find((x: { name: string }) => x.name === `v_${name}`);
      const p = (await ts.get(`/v1/queries/${q.id}`)).body.progress;
      expect(p.malformedRows, name).toBe(bad.length);
      expect(p.inputRows, name).toBe(good.length);
      const dead = await waitFor(async () => { const d = await readTopic(brokerList(), dlts[name]!, { idleMs: 500 }); return d.length === bad.length ? d : null; }, 20_000, `dead letters of ${name}`);
      expect(dead!.map((d) => d.value).sort(), name).toEqual([...bad].sort());
    }
  });

  it('auto mode: a backlog at start reads in workers, then inline once caught up, losing and repeating nothing', async () => {
    const topic = uniqueTopic('readers-auto');
    await createTopic(brokerList(), topic, 2);
    const N = 120_000; // above the 100k backlog that starts workers
    const msgs = Array.from({ length: N }, (_, i) => ({ partition: i % 2, value: `{"k":${i % 3},"v":1}` }));
    await produce(brokerList(), topic, msgs);
    ts ??= await startTestService();
    const r = await ts.sql(`CREATE SOURCE auto_src (k BIGINT, v BIGINT) WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE MATERIALIZED VIEW auto_v WITH ('checkpoint.interval' = '200 ms') AS SELECT k, COUNT(*) AS n FROM auto_src GROUP BY k;`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const id: string = r.body.results[1].queryId;
    const status = async () => (await ts!.get(`/v1/queries/${id}`)).body.progress;
    const readers: string[] = [];
    const seen = async (pred: (p: { inputRows: number; source: { reader: string } }) => boolean, what: string, ms: number) =>
      waitFor(async () => { const p = await status(); if (readers.at(-1) !== p.source.reader) readers.push(p.source.reader); return pred(p) ? p : null; }, ms, what);
    // Before its first rows the query has not chosen a reader yet.
    await seen((p) => p.inputRows > 0, 'the first rows', 30_000);
    readers.length = 0;
    await seen((p) => p.inputRows === N, 'the backlog read', 60_000);
    // One worker per core, at most one per partition (2 here).
    const w = Math.min(2, availableParallelism());
    expect(readers).toEqual([`native, ${w} read worker${w > 1 ? 's' : ''} (auto)`]);
    // Caught up and quiet for 10 s: back on the query's thread.
    await seen((p) => p.source.reader === 'native, inline (auto)', 'the switch to inline', 30_000);
    await produce(brokerList(), topic, Array.from({ length: 1000 }, (_, i) => ({ partition: i % 2, value: `{"k":${i % 3},"v":1}` })));
    await seen((p) => p.inputRows === N + 1000, 'the rows after the switch', 30_000);
    const rows = await viewOnceTotal<{ k: number; n: number }>('auto_v', 'k, n', N + 1000);
    const want = [0, 1, 2].map((k) => ({ k, n: Math.ceil((N - k) / 3) + Math.ceil((1000 - k) / 3) }));
    expect(rows).toEqual(want);
  }, 120_000);

  it('partitions added to a running source, and topics matching its pattern, are read from their earliest offset', async () => {
    const topic = uniqueTopic('grow');
    const other = `${topic}-b`;
    await createTopic(brokerList(), topic, 1);
    await produce(brokerList(), topic, Array.from({ length: 10 }, (_, i) => ({ partition: 0, value: `{"k":${i % 2},"v":1}` })));
    ts ??= await startTestService();
    const variants = { inline: `'source.workers' = '0'`, two: `'source.workers' = '2'` };
    for (const [name, opt] of Object.entries(variants)) {
      const r = await ts.sql(`CREATE SOURCE grow_${name} (k BIGINT, v BIGINT) WITH (connector = 'kafka', 'topic-pattern' = '${topic}(-b)?', format = 'json',
          'scan.startup.mode' = 'earliest', 'scan.topic-partition-discovery.interval' = '300 ms', ${opt});
        CREATE MATERIALIZED VIEW grow_v_${name} WITH ('checkpoint.interval' = '200 ms') AS SELECT k, COUNT(*) AS n FROM grow_${name} GROUP BY k;`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    const counts = (name: string, total: number) => viewOnceTotal<{ k: number; n: number }>(`grow_v_${name}`, 'k, n', total);
    for (const name of Object.keys(variants)) await counts(name, 10);
    // Written to the new partitions before the sources can have seen them: not skipped.
    await addPartitions(brokerList(), topic, 3);
    await produce(brokerList(), topic, Array.from({ length: 20 }, (_, i) => ({ partition: 1 + (i % 2), value: `{"k":${i % 2},"v":1}` })));
    await createTopic(brokerList(), other, 2);
    await produce(brokerList(), other, Array.from({ length: 6 }, (_, i) => ({ partition: i % 2, value: `{"k":${i % 2},"v":1}` })));
    for (const name of Object.keys(variants)) {
      expect(await counts(name, 36), name).toEqual([{ k: 0, n: 18 }, { k: 1, n: 18 }]);
      const q = (await ts.get('/v1/queries')).body.queries.find((x: { name: string }) => x.name === `grow_v_${name}`);
      const parts = (await ts.get(`/v1/queries/${q.id}`)).body.progress.partitions as { topic: string; partition: number }[];
      expect(parts.map((p) => `${p.topic}[${p.partition}]`).sort(), name).toEqual([`${other}[0]`, `${other}[1]`, `${topic}[0]`, `${topic}[1]`, `${topic}[2]`]);
    }
  }, 90_000);
});
