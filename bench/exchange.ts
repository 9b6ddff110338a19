/**
 * The repartition exchange alone (connectors/kafka/exchange.ts) through a real broker: N Nexmark-bid-like
 * rows (7 columns, a string key of 10k values) re-keyed by `ExchangeWriter` into a P-partition repartition
 * topic in one transaction, then read back read_committed by the native reader and decoded by
 * `ExchangeReader`. Once with deflated records, once without. Printed per compression: records, bytes per
 * row, the phases (encode, produce+commit, consume+decode), rows/s wall and rows per CPU-second of this
 * process (the broker's CPU not counted); then per-row JSON (one record a row, as a naive exchange would
 * send) encoded and decoded on the same rows, no Kafka, and the same-run ratios.
 *
 *   node --import tsx bench/exchange.ts [--rows 200000] [--partitions 12] [--no-warmup]
 *
 * Starts its own Kafka broker (the project's script), like bench/run.ts, and stops it at the end. This used
 * to be a timed case in test/cluster/exchange.test.ts; the test now checks correctness only.
 */
import { availableParallelism, loadavg } from 'node:os';
import { clusterMetadata, ensureRepartitionTopic } from '../connectors/kafka/admin.ts';
import { ExchangeReader, ExchangeWriter, exchangeProducer } from '../connectors/kafka/exchange.ts';
import type { PackedMessages } from '../connectors/formats/fast-json.ts';
import { startLocalBroker } from '../connectors/kafka/local-broker.ts';
import { createNativeReader } from '../connectors/kafka/wire/reader.ts';
import { batchVectors, makeBatch } from '../executor/arrow.ts';
import { valueAt, type Vector } from '../executor/vector.ts';
import { T, type Schema } from '../planner/types.ts';
import { flag } from './lib/args.ts';

const total = Number(flag('rows') ?? 200_000);
const partitions = Number(flag('partitions') ?? 12);
const warmup = flag('no-warmup') === undefined;
const BATCH_ROWS = 4096;

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

type Batch = ReturnType<typeof makeBatch>;

/** Nexmark-bid-like rows: a string key with 10k distinct values, numbers, a timestamp, a short string. */
function makeBatches(n: number): Batch[] {
  const out: Batch[] = [];
  for (let at = 0; at < n; at += BATCH_ROWS) {
    const m = Math.min(BATCH_ROWS, n - at);
    const k: string[] = []; const id = new Float64Array(m); const qty = new Int32Array(m); const price = new Float64Array(m);
    const ok = new Uint8Array(m); const ts = new Float64Array(m); const note: string[] = []; const noteValid = new Uint8Array(m);
    for (let j = 0; j < m; j++) {
      const i = at + j;
      k.push(`bidder-${(i * 7919) % 10_000}`); id[j] = i; qty[j] = i % 100; price[j] = (i % 1000) / 10;
      ok[j] = i % 2 === 0 ? 1 : 0; ts[j] = 1_700_000_000_000 + i; note.push(i % 4 === 0 ? '' : 'channel-1'); noteValid[j] = i % 4 === 0 ? 0 : 1;
    }
    const f = SCHEMA.fields;
    const cols: Vector[] = [
      { kind: 'str', type: f[0]!.type, length: m, values: k, valid: null },
      { kind: 'f64', type: f[1]!.type, length: m, values: id, valid: null },
      { kind: 'i32', type: f[2]!.type, length: m, values: qty, valid: null },
      { kind: 'f64', type: f[3]!.type, length: m, values: price, valid: null },
      { kind: 'bool', type: f[4]!.type, length: m, values: ok, valid: null },
      { kind: 'f64', type: f[5]!.type, length: m, values: ts, valid: null },
      { kind: 'str', type: f[6]!.type, length: m, values: note, valid: noteValid },
    ] as Vector[];
    out.push(makeBatch(SCHEMA, cols, m));
  }
  return out;
}

interface Run {
  compression: 'deflate' | 'none'; records: number; bytes: number;
  encodeMs: number; produceMs: number; consumeMs: number; decodeMs: number; wallMs: number; cpuMs: number;
}

async function runOnce(brokers: string[], compression: 'deflate' | 'none', batches: Batch[], rows: number, tag: string): Promise<Run> {
  const topic = `exchange-bench-${compression}-${tag}-${Date.now().toString(36)}`;
  await ensureRepartitionTopic(brokers, topic, partitions);
  const producer = await exchangeProducer(brokers, `${topic}-task`);
  try {
    const w = new ExchangeWriter({ topic, schema: SCHEMA, key: [0], partitions, compression });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const b of batches) w.append(b);
    const t1 = performance.now();
    const txn = await producer.transaction();
    const bytes = await w.flush(txn);
    await txn.commit();
    const t2 = performance.now();
    let rowsRead = 0;
    let decodeMs = 0;
    const readers = new Map<number, ExchangeReader>();
    const meta = await clusterMetadata(brokers, [topic]);
    let fatal: Error | null = null;
    const t3 = performance.now();
    const r = createNativeReader({
      clientId: 'exchange-bench', readCommitted: true, headers: false, maxWaitMs: 50,
      metadata: async () => meta,
      onMessages: async (m) => {
        const p = m as PackedMessages;
        let reader = readers.get(p.partition);
        if (!reader) { reader = new ExchangeReader({ schema: SCHEMA, upstreamTasks: 1, partitions: [p.partition] }); readers.set(p.partition, reader); }
        const d0 = performance.now();
        for (const b of reader.accept(p).batches) rowsRead += b.batch.numRows;
        decodeMs += performance.now() - d0;
      },
      onSkip: () => undefined,
      outOfRange: async () => { throw new Error('unexpected out of range'); },
      onState: () => undefined,
      onFatal: (e) => { fatal = e; },
    });
    r.start(Array.from({ length: partitions }, (_, p) => ({ topic, partition: p, offset: 0 })));
    try {
      while (rowsRead < rows && !fatal && performance.now() - t3 < 120_000) await new Promise((res) => setTimeout(res, 5));
    } finally {
      await r.stop();
    }
    const t4 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    if (fatal) throw fatal;
    if (rowsRead !== rows) throw new Error(`read ${rowsRead} rows of ${rows} (${compression})`);
    return {
      compression, records: w.stats.records, bytes, encodeMs: t1 - t0, produceMs: t2 - t1, consumeMs: t4 - t3, decodeMs,
      wallMs: (t1 - t0) + (t2 - t1) + (t4 - t3), cpuMs: (cpu.user + cpu.system) / 1000,
    };
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}

/** Per-row JSON, one record a row: encode (object + stringify + UTF-8) and decode (UTF-8 + parse) alone. */
function perRowJson(batches: Batch[]): { bytes: number; ms: number } {
  const vs = batches.map((b) => batchVectors(b, SCHEMA));
  const names = SCHEMA.fields.map((f) => f.name);
  let bytes = 0;
  const j0 = performance.now();
  for (const cols of vs) {
    const n = cols[0]!.length;
    for (let i = 0; i < n; i++) {
      const o: Record<string, unknown> = {};
      for (let c = 0; c < cols.length; c++) o[names[c]!] = valueAt(cols[c]!, i);
      const s = Buffer.from(JSON.stringify(o));
      bytes += s.length;
      JSON.parse(s.toString());
    }
  }
  return { bytes, ms: performance.now() - j0 };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const broker = await startLocalBroker({ heapMb: 1024 });
const brokers = [broker.bootstrap];
try {
  const batches = makeBatches(total);
  if (warmup) {
    // One small unmeasured run per compression: a fresh process otherwise charges JIT warm-up to the first row.
    const small = makeBatches(Math.min(20_000, total));
    for (const c of ['deflate', 'none'] as const) await runOnce(brokers, c, small, Math.min(20_000, total), 'warmup');
    perRowJson(small);
  }
  const runs: Run[] = [];
  for (const c of ['deflate', 'none'] as const) {
    const x = await runOnce(brokers, c, batches, total, 'run');
    runs.push(x);
    console.log(`exchange (${c}): ${fmt(total)} rows, ${partitions} partitions, ${x.records} records, ${(x.bytes / total).toFixed(1)} bytes/row; `
      + `encode ${x.encodeMs.toFixed(0)} ms, produce+commit ${x.produceMs.toFixed(0)} ms, consume+decode ${x.consumeMs.toFixed(0)} ms (decode ${x.decodeMs.toFixed(0)} ms); `
      + `${fmt(total / (x.wallMs / 1000))} rows/s wall; CPU ${x.cpuMs.toFixed(0)} ms = ${fmt(total / (x.cpuMs / 1000))} rows per CPU-second (this process, broker not counted)`);
  }
  const json = perRowJson(batches);
  console.log(`per-row JSON for comparison: ${(json.bytes / total).toFixed(1)} bytes/row (+ ~10 bytes of record framing each), encode+decode alone ${json.ms.toFixed(0)} ms`);
  for (const x of runs) {
    const mine = x.encodeMs + x.decodeMs;
    console.log(`ratio (${x.compression}): exchange encode+decode ${mine.toFixed(0)} ms vs per-row JSON ${json.ms.toFixed(0)} ms = ${(mine / json.ms).toFixed(2)}× the CPU time; `
      + `bytes/row ${(x.bytes / json.bytes).toFixed(2)}× JSON's`);
  }
  const [d, n] = runs as [Run, Run];
  console.log(`ratio: deflate bytes / none bytes = ${(d.bytes / n.bytes).toFixed(3)} (${fmt(d.bytes)} vs ${fmt(n.bytes)})`);
  console.log(`machine: load ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores, Node ${process.version}`);
} finally {
  await broker.stop();
}
