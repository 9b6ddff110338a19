/**
 * connectors/kafka/exchange.ts on the real broker: three "upstream tasks" re-key rows into a
 * repartition topic inside their transactions (one transaction aborted), and readers of its
 * partitions (read_committed, the native reader) get back exactly the committed rows — each in the
 * partition Java's partitioner picks for its key — and a watermark that is the least over the
 * upstream tasks, moving only when every task has moved. How fast (bytes per row, rows/s, rows per
 * CPU-second): bench/exchange.ts, not timed here.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import { clusterMetadata, ensureRepartitionTopic, topicConfigs } from '../../connectors/kafka/admin.ts';
import { ExchangeReader, ExchangeWriter, exchangeKeyBytes, exchangeProducer } from '../../connectors/kafka/exchange.ts';
import { inTransaction } from '../../connectors/kafka/client.ts';
import { partitionForKey } from '../../connectors/kafka/partitioner.ts';
import type { PackedMessages } from '../../connectors/formats/fast-json.ts';
import { createNativeReader } from '../../connectors/kafka/wire/reader.ts';
import { batchVectors, makeBatch } from '../../executor/arrow.ts';
import { valueAt, type Vector } from '../../executor/vector.ts';
import { T, type Schema, type SqlType } from '../../planner/types.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';

const SCHEMA: Schema = {
  fields: [
    { name: 'k', type: T.varchar, nullable: true },
    { name: 'id', type: T.bigint, nullable: false },
    { name: 'qty', type: T.int, nullable: true },
    { name: 'price', type: T.double, nullable: true },
    { name: 'ok', type: T.boolean, nullable: true },
    { name: 'ts', type: T.timestamp, nullable: true },
    { name: 'note', type: T.varchar, nullable: true },
  ],
} as Schema;

type Row = [string | null, number, number | null, number | null, boolean | null, number | null, string | null];

const producers: Awaited<ReturnType<typeof exchangeProducer>>[] = [];
afterAll(async () => { await Promise.all(producers.splice(0).map((p) => p.disconnect().catch(() => undefined))); });

function vectorOf(type: SqlType, values: readonly unknown[]): Vector {
  const n = values.length;
  const valid = values.some((v) => v === null) ? Uint8Array.from(values, (v) => (v === null ? 0 : 1)) : null;
  switch (type.kind) {
    case 'varchar': return { kind: 'str', type, length: n, values: values.map((v) => (v === null ? '' : String(v))), valid };
    case 'int': return { kind: 'i32', type, length: n, values: Int32Array.from(values, (v) => (v === null ? 0 : Number(v))), valid };
    case 'boolean': return { kind: 'bool', type, length: n, values: Uint8Array.from(values, (v) => (v ? 1 : 0)), valid };
    default: return { kind: 'f64', type, length: n, values: Float64Array.from(values, (v) => (v === null ? 0 : Number(v))), valid };
  }
}

function batchOf(rows: readonly Row[]) {
  return makeBatch(SCHEMA, SCHEMA.fields.map((f, c) => vectorOf(f.type, rows.map((r) => r[c]))), rows.length);
}

function rowsOf(batch: ReturnType<typeof batchOf>): Row[] {
  const vs = batchVectors(batch, SCHEMA);
  return Array.from({ length: batch.numRows }, (_, i) => vs.map((v) => valueAt(v, i)) as Row);
}

/** Reads every partition of `topic` from the start, read_committed, until `idleMs` passes without records. */
async function readPartitions(topic: string, partitions: number, until: (got: Map<number, PackedMessages[]>) => boolean, maxMs = 60_000): Promise<Map<number, PackedMessages[]>> {
  const got = new Map<number, PackedMessages[]>();
  const meta = await clusterMetadata(brokerList(), [topic]);
  let fatal: Error | null = null;
  const r = createNativeReader({
    clientId: 'exchange-test', readCommitted: true, headers: false, maxWaitMs: 50,
    metadata: async () => meta,
    onMessages: async (m) => { const p = m as PackedMessages; got.set(p.partition, [...(got.get(p.partition) ?? []), p]); },
    onSkip: () => undefined,
    outOfRange: async () => { throw new Error('unexpected out of range'); },
    onState: () => undefined,
    onFatal: (e) => { fatal = e; },
  });
  r.start(Array.from({ length: partitions }, (_, p) => ({ topic, partition: p, offset: 0 })));
  const t0 = Date.now();
  try {
    while (!until(got) && !fatal) {
      if (Date.now() - t0 > maxMs) throw new Error('timed out reading the repartition topic');
      await new Promise((res) => setTimeout(res, 20));
    }
  } finally {
    await r.stop();
  }
  if (fatal) throw fatal;
  return got;
}

const KEYS = ['alpha', 'beta', 'gamma', 'δέλτα', '', 'k-with-a-longer-name-0123456789', 'x', 'y', 'z', 'ünïcode'];

function makeRows(task: number, count: number, note: (i: number) => string | null): Row[] {
  return Array.from({ length: count }, (_, i) => {
    const id = task * 1_000_000 + i;
    return [
      i % 13 === 0 ? null : KEYS[(i * 7 + task) % KEYS.length]!,
      id,
      i % 5 === 0 ? null : i - 50,
      i % 7 === 0 ? null : i * 1.25 - 3,
      i % 3 === 0 ? null : i % 2 === 0,
      i % 11 === 0 ? null : 1_700_000_000_000 + i * 1000,
      note(i),
    ];
  });
}

const sortById = (rows: Row[]) => [...rows].sort((a, b) => a[1] - b[1]);

/**
 * The writer's records in one committed transaction, as a task's epoch sends them: through
 * `inTransaction`, which starts again when the broker is still completing the producer's previous
 * transaction (CONCURRENT_TRANSACTIONS, seen on a loaded machine).
 */
async function commitTaken(producer: Producer, w: ExchangeWriter): Promise<void> {
  const recs = w.take();
  await inTransaction(producer, async (txn) => { for (const x of recs) await txn.send({ topic: x.topic, acks: -1, messages: x.messages }); });
}

describe('exchange through a repartition topic', () => {
  it('re-keys rows of three upstream tasks: committed rows only, each key in the Java partition, values intact, watermark = least over tasks', async () => {
    const brokers = brokerList();
    const topic = uniqueTopic('exchange');
    const partitions = 6;
    await ensureRepartitionTopic(brokers, topic, partitions);
    expect(await topicConfigs(brokers, topic, ['cleanup.policy', 'retention.ms'])).toEqual({ 'cleanup.policy': 'delete', 'retention.ms': String(24 * 3600 * 1000) });
    await ensureRepartitionTopic(brokers, topic, partitions); // exists with the same count: fine
    await expect(ensureRepartitionTopic(brokers, topic, 4)).rejects.toThrow(/has 6 partitions; this query needs 4/);

    const tasks = await Promise.all([0, 1, 2].map((t) => exchangeProducer(brokers, `${topic}-task-${t}`)));
    producers.push(...tasks);
    const writers = tasks.map(() => new ExchangeWriter({ topic, schema: SCHEMA, key: [0], partitions }));
    const committed: Row[] = [];

    // Epoch 1: every task sends rows (small batches with '' / NULL keys / NULL values); task 1 also a changelog batch.
    for (let t = 0; t < 3; t++) {
      const rows = makeRows(t, 400, (i) => (i % 17 === 0 ? null : `t${t} row ${i} ${'✓'.repeat(i % 4)}`));
      for (let i = 0; i < rows.length; i += 128) writers[t]!.append(batchOf(rows.slice(i, i + 128)));
      await commitTaken(tasks[t]!, writers[t]!);
      committed.push(...rows);
    }
    // Task 1's next epoch fails: its rows and its watermark must never be seen.
    const doomed = makeRows(1, 50, () => 'ABORTED').map((r) => [r[0], r[1] + 500_000, ...r.slice(2)] as Row);
    {
      writers[1]!.append(batchOf(doomed));
      writers[1]!.watermark('q#1', 9_999);
      const recs = writers[1]!.take();
      for (let i = 0; ; i++) {
        const txn = await tasks[1]!.transaction();
        try {
          for (const x of recs) await txn.send({ topic: x.topic, acks: -1, messages: x.messages });
          await txn.abort();
          break;
        } catch (e) {
          await txn.abort().catch(() => undefined);
          if (i >= 8) throw e; // CONCURRENT_TRANSACTIONS on a loaded broker: start again
          await new Promise((r) => setTimeout(r, 50 * 2 ** i));
        }
      }
    }
    // Watermarks, one transaction each, in this order: the reader's watermark after each.
    const steps: [number, number][] = [[0, 100], [1, 200], [2, 50], [2, 300], [0, 400], [1, 250], [1, 500]];
    const expected = [-Infinity, -Infinity, 50, 100, 200, 250, 300];
    for (const [t, wm] of steps) {
      writers[t]!.watermark(`q#${t}`, wm);
      await commitTaken(tasks[t]!, writers[t]!);
    }

    const wmRecords = steps.length;
    const got = await readPartitions(topic, partitions, (g) => {
      let wms = 0;
      for (const ms of g.values()) for (const m of ms) for (let i = 0; i < m.count; i++) if (m.bytes[m.starts[i]!] === 2) wms++;
      return wms >= wmRecords * partitions;
    });

    const seen: Row[] = [];
    for (let p = 0; p < partitions; p++) {
      const reader = new ExchangeReader({ schema: SCHEMA, upstreamTasks: 3, partitions: [p] });
      const marks: number[] = [];
      for (const m of got.get(p) ?? []) {
        for (let i = 0; i < m.count; i++) {
          const msg = reader.decode(m.bytes.subarray(m.starts[i]!, m.ends ? m.ends[i]! : m.starts[i + 1]!));
          if (msg.kind === 'watermark') { reader.observe(p, msg.task, msg.watermark); marks.push(reader.watermark()); continue; }
          for (const row of rowsOf(msg.batch)) {
            // Every row sits in the partition the Java client picks for its key bytes.
            const key = row[0] === null ? new Uint8Array(0) : Buffer.from(row[0], 'utf8');
            expect(partitionForKey(key, partitions), `row ${row[1]} key ${row[0]}`).toBe(p);
            seen.push(row);
          }
        }
      }
      // The watermark only moves when every upstream task has moved, and never to an aborted one.
      expect(marks, `partition ${p}`).toEqual(expected);
      expect(reader.state()[p]).toEqual({ 'q#0': 400, 'q#1': 500, 'q#2': 300 });
    }
    expect(seen.some((r) => r[6] === 'ABORTED')).toBe(false);
    expect(sortById(seen)).toEqual(sortById(committed));
    // All rows of one key in one partition, and the keys spread over more than one partition.
    const partOfKey = new Map<string | null, Set<number>>();
    for (let p = 0; p < partitions; p++) for (const m of got.get(p) ?? []) for (let i = 0; i < m.count; i++) {
      const msg = new ExchangeReader({ schema: SCHEMA, upstreamTasks: 1, partitions: [p] }).decode(m.bytes.subarray(m.starts[i]!, m.ends ? m.ends[i]! : m.starts[i + 1]!));
      if (msg.kind === 'rows') for (const r of rowsOf(msg.batch)) partOfKey.set(r[0], new Set([...(partOfKey.get(r[0]) ?? []), p]));
    }
    expect([...partOfKey.values()].every((s) => s.size === 1)).toBe(true);
    expect(new Set([...partOfKey.values()].map((s) => [...s][0])).size).toBeGreaterThan(1);
  }, 120_000);

  it('key bytes: Java serializers for one column (UTF-8 strings, 8-byte longs for integral numbers), NULL-safe for several', () => {
    const v = (type: SqlType, values: unknown[]) => vectorOf(type, values);
    const bytes = (cols: Vector[], row = 0) => Buffer.from(exchangeKeyBytes(cols, row)).toString('hex');
    expect(bytes([v(T.varchar, ['héllo'])])).toBe(Buffer.from('héllo', 'utf8').toString('hex'));
    expect(bytes([v(T.bigint, [-2])])).toBe('fffffffffffffffe');
    expect(bytes([v(T.int, [258])])).toBe('0000000000000102'); // INT as a long: meets a BIGINT key
    expect(bytes([v(T.double, [3])])).toBe(bytes([v(T.bigint, [3])]));
    expect(bytes([v(T.double, [0.5])])).toBe(Buffer.from(new Float64Array([0.5]).buffer).reverse().toString('hex'));
    expect(bytes([v(T.varchar, [null])])).toBe('');
    // Several columns: (NULL, 'ab') and ('ab', NULL) differ; lengths keep ('a','bc') apart from ('ab','c').
    const two = (a: unknown, b: unknown) => bytes([v(T.varchar, [a]), v(T.varchar, [b])]);
    expect(two(null, 'ab')).not.toBe(two('ab', null));
    expect(two('a', 'bc')).not.toBe(two('ab', 'c'));
  });

  it('changelog ops cross with their rows; a single-partition exchange puts every row in partition 0', () => {
    const w = new ExchangeWriter({ topic: 't', schema: SCHEMA, key: [], partitions: 1 });
    const rows = makeRows(0, 100, (i) => `n${i}`);
    const ops = Int8Array.from(rows, (_, i) => (i % 3 === 0 ? -1 : 1));
    w.append(batchOf(rows.slice(0, 60)), ops.subarray(0, 60));
    w.append(batchOf(rows.slice(60))); // an append-only batch after a changelog one: its rows are inserts
    const recs = w.buffered();
    expect(recs.map((r) => [r.partition, r.rows])).toEqual([[0, 100]]);
    const msg = new ExchangeReader({ schema: SCHEMA, upstreamTasks: 1, partitions: [0] }).decode(recs[0]!.value);
    if (msg.kind !== 'rows') throw new Error('expected rows');
    expect(rowsOf(msg.batch)).toEqual(rows);
    expect(Array.from(msg.ops ?? [])).toEqual([...Array.from(ops.subarray(0, 60)), ...Array(40).fill(1)]);
  });

  it('rows of many batches share a record per partition, cut below the size limit, order kept', () => {
    const w = new ExchangeWriter({ topic: 't', schema: SCHEMA, key: [0, 2], partitions: 3, maxPartitionBytes: 8000, compression: 'none' });
    const rows = makeRows(2, 3000, (i) => `row ${i}`);
    for (let i = 0; i < rows.length; i += 100) w.append(batchOf(rows.slice(i, i + 100)));
    const recs = w.buffered();
    expect(recs.length).toBeGreaterThan(3);
    expect(Math.max(...recs.map((r) => r.value.byteLength))).toBeLessThan(8000);
    const reader = new ExchangeReader({ schema: SCHEMA, upstreamTasks: 1, partitions: [0, 1, 2] });
    const back = new Map<number, Row[]>();
    for (const r of recs) {
      const m = reader.decode(r.value);
      if (m.kind === 'rows') back.set(r.partition, [...(back.get(r.partition) ?? []), ...rowsOf(m.batch)]);
    }
    // Each partition holds its rows in append order, and together they are the input.
    for (const [, got] of back) expect(got.map((r) => r[1])).toEqual([...got.map((r) => r[1])].sort((a, b) => a - b));
    expect(sortById([...back.values()].flat())).toEqual(sortById(rows));
  });

  it('a changelog re-keyed outside its key: a row that moves leaves a delete in its old partition; a delete goes where the row is', () => {
    const longKey = (v: number) => { const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt(v)); return b; };
    const P = 4;
    const q1 = 1;
    const q2 = [2, 3, 4, 5, 6, 7, 8, 9].find((q) => partitionForKey(longKey(q), P) !== partitionForKey(longKey(q1), P))!;
    const [p1, p2] = [partitionForKey(longKey(q1), P), partitionForKey(longKey(q2), P)];
    const w = new ExchangeWriter({ topic: 't', schema: SCHEMA, key: [2], partitions: P, upsertKey: [0] });
    const row = (k: string, qty: number): Row => [k, qty, qty, null, null, null, null];
    w.append(batchOf([row('a', q1), row('b', q1)]), Int8Array.of(1, 1));
    w.append(batchOf([row('a', q2), row('b', q1)]), Int8Array.of(1, 1)); // a moves, b stays
    const restored = new ExchangeWriter({ topic: 't', schema: SCHEMA, key: [2], partitions: P, upsertKey: [0] });
    restored.restoreTracker(w.trackerState());
    restored.append(batchOf([row('a', 0)]), Int8Array.of(-1)); // a delete carries the key only: it goes where 'a' lives
    const got = (x: ExchangeWriter) => x.buffered().flatMap((r) => {
      const m = new ExchangeReader({ schema: SCHEMA, upstreamTasks: 1, partitions: [r.partition] }).decode(r.value);
      if (m.kind !== 'rows') return [];
      return rowsOf(m.batch).map((rw, i) => `p${r.partition} ${m.ops![i]! > 0 ? '+' : '-'}${rw[0]}/${rw[2]}`);
    });
    const sorted = (xs: string[]) => [...xs].sort();
    const out = got(w);
    expect(sorted(out)).toEqual(sorted([`p${p1} +a/${q1}`, `p${p1} +b/${q1}`, `p${p1} -a/${q2}`, `p${p2} +a/${q2}`, `p${p1} +b/${q1}`]));
    // In the old partition the delete follows the row it deletes.
    expect(out.filter((x) => x.startsWith(`p${p1} `))).toEqual([`p${p1} +a/${q1}`, `p${p1} +b/${q1}`, `p${p1} -a/${q2}`, `p${p1} +b/${q1}`]);
    expect(got(restored)).toEqual([`p${p2} -a/0`]);
  });

  it('a bigger re-key, deflated and not: every row read back exactly once, each in its key\'s Java partition; deflate is smaller', async () => {
    // Correctness only: how fast the exchange is, is bench/exchange.ts's job (it prints the figures).
    const brokers = brokerList();
    const partitions = 12;
    const total = 20_000;
    // Nexmark-bid-like rows: 2,000 string keys (each key many times), numbers, a timestamp, a string with NULLs.
    const rows = Array.from({ length: total }, (_, i) =>
      [`bidder-${(i * 7919) % 2_000}`, i, i % 100, (i % 1000) / 10, i % 2 === 0, 1_700_000_000_000 + i, i % 4 === 0 ? null : `channel-${i % 3}`] as Row);
    const bytesOf = new Map<string, number>();
    for (const compression of ['deflate', 'none'] as const) {
      const topic = uniqueTopic(`exchange-big-${compression}`);
      await ensureRepartitionTopic(brokers, topic, partitions);
      const producer = await exchangeProducer(brokers, `${topic}-task`);
      producers.push(producer);
      const w = new ExchangeWriter({ topic, schema: SCHEMA, key: [0], partitions, compression });
      for (let i = 0; i < total; i += 4096) w.append(batchOf(rows.slice(i, i + 4096)));
      const before = w.stats.bytes;
      await commitTaken(producer, w);
      bytesOf.set(compression, w.stats.bytes - before);
      const records = w.stats.records;
      const got = await readPartitions(topic, partitions, (g) => [...g.values()].flat().reduce((n, m) => n + m.count, 0) >= records);

      const seen: Row[] = [];
      const perPartition = new Map<number, number>();
      for (let p = 0; p < partitions; p++) {
        const reader = new ExchangeReader({ schema: SCHEMA, upstreamTasks: 1, partitions: [p] });
        for (const m of got.get(p) ?? []) for (let i = 0; i < m.count; i++) {
          const msg = reader.decode(m.bytes.subarray(m.starts[i]!, m.ends ? m.ends[i]! : m.starts[i + 1]!));
          if (msg.kind !== 'rows') continue;
          for (const row of rowsOf(msg.batch)) {
            const want = partitionForKey(Buffer.from(row[0]!, 'utf8'), partitions);
            if (want !== p) expect.fail(`${compression}: row ${row[1]} key ${row[0]} in partition ${p}, Java's partitioner says ${want}`);
            seen.push(row);
            perPartition.set(p, (perPartition.get(p) ?? 0) + 1);
          }
        }
      }
      // The same multiset of rows, every column (ids are unique: a row read twice or lost changes the list).
      expect(seen.length, compression).toBe(total);
      expect(sortById(seen), compression).toEqual(rows);
      expect(perPartition.size, `${compression}: partitions holding rows`).toBe(partitions);
    }
    expect(bytesOf.get('deflate')!).toBeGreaterThan(0);
    expect(bytesOf.get('deflate')!).toBeLessThan(bytesOf.get('none')!);
  }, 60_000);
});
