/**
 * Executor throughput, in memory: `node --import tsx bench/executor.ts [--rows 10000000] [--only tumble]`.
 *
 * Builds the input up front as memory-resident Arrow batches (100k rows each: key BIGINT with 10k
 * distinct keys, price BIGINT, ts TIMESTAMP advancing 1 ms a row), plans each query with planRequest and
 * drives it through queries/driver.ts (the loop every query runs in, over the graph runtime) — no Kafka,
 * no decoding. The driver's tracker gives the watermark (max ts − 5 s, the batch's last ts handed in,
 * so no scan) after every batch, a barrier every 10 batches. Single thread, so rows/s is per core.
 * Prints rows per CPU-second per query (and the wall-clock rate) and the ratio to the 10M rows/s/core
 * target. Not a timed test. GC threads count in the CPU time, so this is not flattering.
 */
import { createCatalog, planRequest } from '../planner/index.ts';
import { createDriver } from '../queries/driver.ts';
import { makeBatch } from '../executor/arrow.ts';
import type { RecordBatch } from 'apache-arrow';
import { T, type Schema } from '../planner/types.ts';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1]! : def; };
const ROWS = Number(arg('rows', '10000000'));
const BATCH = Number(arg('batch', '100000'));
const ONLY = arg('only', '');
const KEYS = 10_000;
const TARGET = 10_000_000;

const DDL = `CREATE SOURCE bids (key BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
  WITH (connector = 'kafka', topic = 'bids', format = 'json')`;
const QUERIES: { name: string; sql: string }[] = [
  { name: 'tumble 1 min', sql: `SELECT window_start, window_end, key, COUNT(*) AS n, SUM(price) AS volume, MAX(price) AS high FROM TUMBLE(bids, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, key` },
  { name: 'hop 5 min / 1 min', sql: `SELECT window_start, window_end, key, COUNT(*) AS n, SUM(price) AS volume, MAX(price) AS high FROM HOP(bids, ts, INTERVAL '1' MINUTE, INTERVAL '5' MINUTE) GROUP BY window_start, window_end, key` },
  { name: 'hop 10 s / 2 s', sql: `SELECT window_start, window_end, key, COUNT(*) AS n FROM HOP(bids, ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND) GROUP BY window_start, window_end, key` },
  { name: 'session 30 s', sql: `SELECT window_start, window_end, key, COUNT(*) AS n, SUM(price) AS volume, MAX(price) AS high FROM SESSION(bids, ts, INTERVAL '30' SECOND) GROUP BY window_start, window_end, key` },
];

const schema: Schema = { fields: [
  { name: 'key', type: T.bigint, nullable: true }, { name: 'price', type: T.bigint, nullable: true }, { name: 'ts', type: T.timestamp, nullable: true },
] };

function buildInput(): RecordBatch[] {
  const T0 = Date.parse('2024-01-01T00:00:00Z');
  let seed = 42;
  const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296; };
  const out: RecordBatch[] = [];
  for (let b = 0; b * BATCH < ROWS; b++) {
    const n = Math.min(BATCH, ROWS - b * BATCH);
    const key = new Float64Array(n); const price = new Float64Array(n); const ts = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const r = b * BATCH + i;
      key[i] = Math.floor(rnd() * KEYS); price[i] = 1 + Math.floor(rnd() * 10_000); ts[i] = T0 + r; // 1 ms a row
    }
    out.push(makeBatch(schema, [
      { kind: 'f64', type: T.bigint, length: n, values: key, valid: null },
      { kind: 'f64', type: T.bigint, length: n, values: price, valid: null },
      { kind: 'f64', type: T.timestamp, length: n, values: ts, valid: null },
    ], n));
  }
  return out;
}

function run(name: string, sql: string, input: RecordBatch[]): number {
  const planned = planRequest(`${DDL};\nCREATE MATERIALIZED VIEW v AS ${sql}`, createCatalog());
  const q = planned[1]!.planned;
  if (q.kind !== 'create_materialized_view') throw new Error('expected a view');
  let outRows = 0;
  const driver = createDriver({ plan: q.physical, sink: { batch: (b) => { outRows += b.numRows; } } });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let epoch = 0;
  for (let i = 0; i < input.length; i++) {
    const b = input[i]!;
    const ts = b.data.children[2]!.values as Float64Array;
    driver.batch(0, b, null, '0', ts[b.numRows - 1]!);
    driver.advance();
    if (i % 10 === 9) driver.barrier(++epoch);
  }
  driver.end();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  // Per core = per CPU-second of this (single-threaded) process, which stays meaningful when other
  // processes share the machine; the wall-clock rate is printed beside it.
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const rate = ROWS / (cpuMs / 1000);
  const wall = ROWS / (ms / 1000);
  const state = driver.operators().reduce((s, o) => s + o.metrics.stateRows, 0);
  console.log(`${name.padEnd(18)} ${(rate / 1e6).toFixed(2).padStart(6)} M rows/s/core (CPU ${cpuMs.toFixed(0)} ms; wall ${ms.toFixed(0)} ms = ${(wall / 1e6).toFixed(2)} M rows/s)  ${outRows} output rows, state rows left ${state}  ratio to 10M target ${(rate / TARGET).toFixed(2)}`);
  return rate;
}

const t = performance.now();
const input = buildInput();
console.log(`input: ${ROWS} rows in ${input.length} Arrow batches, built in ${(performance.now() - t).toFixed(0)} ms (not timed); node ${process.version}`);
for (const q of QUERIES) {
  if (ONLY && !q.name.startsWith(ONLY)) continue;
  run(q.name, q.sql, input);
}
