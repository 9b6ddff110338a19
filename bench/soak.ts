/**
 * Soak: `node --import tsx bench/soak.ts [--minutes 10] [--rate 200000]` (`--minutes 1` for a quick check).
 *
 * Drives two continuous queries in memory — a 10-second tumbling COUNT/SUM/MAX and a 5-second-gap session
 * COUNT/SUM, both over 100k keys — with event time moving 20× faster than wall-clock (each second of wall
 * time carries 20 s of events), a watermark after every batch and a barrier every 10 batches, paced at
 * `--rate` rows/s per query. Every 10 s it prints rows processed, state rows and estimated bytes per
 * stateful operator (the numbers query progress reports), RSS and heap; at the end whether state rows
 * and RSS stayed flat: the mean over the last third of the samples against the middle third.
 */
import { createCatalog, planRequest } from '../planner/index.ts';
import { makeBatch } from '../executor/arrow.ts';
import { T, type Schema } from '../planner/types.ts';
import { flatVerdict } from './lib/flat.ts';
import { createDriver, type Driver } from '../queries/driver.ts';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1]! : def; };
const MINUTES = Number(arg('minutes', '10'));
const RATE = Number(arg('rate', '200000'));
const KEYS = 100_000;
const BATCH = 20_000;
const SPEEDUP = 20;
const SAMPLE_MS = 10_000;

const DDL = `CREATE SOURCE ev (key BIGINT, amount BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
  WITH (connector = 'kafka', topic = 'ev', format = 'json')`;
const QUERIES = [
  { name: 'tumble 10 s', sql: `SELECT window_start, window_end, key, COUNT(*) AS n, SUM(amount) AS total, MAX(amount) AS top FROM TUMBLE(ev, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, key` },
  { name: 'session 5 s', sql: `SELECT window_start, window_end, key, COUNT(*) AS n, SUM(amount) AS total FROM SESSION(ev, ts, INTERVAL '5' SECOND) GROUP BY window_start, window_end, key` },
];
const schema: Schema = { fields: [
  { name: 'key', type: T.bigint, nullable: true }, { name: 'amount', type: T.bigint, nullable: true }, { name: 'ts', type: T.timestamp, nullable: true },
] };

const pipelines: { name: string; d: Driver; out: number }[] = QUERIES.map((q) => {
  const planned = planRequest(`${DDL};\nCREATE MATERIALIZED VIEW v AS ${q.sql}`, createCatalog());
  const v = planned[1]!.planned;
  if (v.kind !== 'create_materialized_view') throw new Error('expected a view');
  const entry = { name: q.name, d: null as unknown as Driver, out: 0 };
  // The one driver every way of running a query uses (queries/driver.ts): its tracker makes the watermark.
  entry.d = createDriver({ plan: v.physical, sink: { batch: (b) => { entry.out += b.numRows; } } });
  return entry;
});

let seed = 7;
const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296; };
const start = Date.now();
const eventT0 = Date.parse('2024-01-01T00:00:00Z');
let rows = 0;
let batches = 0;

function nextBatch() {
  // Event time of this batch: wall time since start × SPEEDUP, with up to 1 s of disorder.
  const base = eventT0 + (rows / RATE) * 1000 * SPEEDUP;
  const span = (BATCH / RATE) * 1000 * SPEEDUP;
  const key = new Float64Array(BATCH); const amount = new Float64Array(BATCH); const ts = new Float64Array(BATCH);
  let max = -Infinity;
  for (let i = 0; i < BATCH; i++) {
    key[i] = Math.floor(rnd() * KEYS); amount[i] = Math.floor(rnd() * 1000);
    ts[i] = Math.floor(base + (i / BATCH) * span - rnd() * 1000);
    if (ts[i]! > max) max = ts[i]!;
  }
  return {
    batch: makeBatch(schema, [
      { kind: 'f64', type: T.bigint, length: BATCH, values: key, valid: null },
      { kind: 'f64', type: T.bigint, length: BATCH, values: amount, valid: null },
      { kind: 'f64', type: T.timestamp, length: BATCH, values: ts, valid: null },
    ], BATCH),
    maxTime: max,
  };
}

interface Sample { t: number; rows: number; state: number[]; bytes: number[]; rss: number; heap: number }
const samples: Sample[] = [];
const mb = (b: number) => (b / 1048576).toFixed(1);

function sample(): void {
  const m = pipelines.map((x) => x.d.operators().map((o) => o.metrics).reduce((a, o) => ({ r: a.r + o.stateRows, b: a.b + o.stateBytes }), { r: 0, b: 0 }));
  const mem = process.memoryUsage();
  const s: Sample = { t: (Date.now() - start) / 1000, rows, state: m.map((x) => x.r), bytes: m.map((x) => x.b), rss: mem.rss, heap: mem.heapUsed };
  samples.push(s);
  console.log(`${s.t.toFixed(0).padStart(5)} s  rows ${String(rows).padStart(11)}  ` +
    pipelines.map((x, i) => `${x.name}: state ${String(s.state[i]).padStart(7)} rows ${mb(s.bytes[i]!).padStart(6)} MB`).join('  ') +
    `  RSS ${mb(s.rss)} MB  heap ${mb(s.heap)} MB`);
}

function verdict(): boolean {
  return flatVerdict(samples, [
    ...pipelines.map((x, i) => ({ label: `${x.name} state rows`, value: (s: Sample) => s.state[i]!, format: (v: number) => v.toFixed(0), tolerance: 0.1 })),
    { label: 'RSS', value: (s: Sample) => s.rss, format: (v: number) => `${mb(v)} MB`, tolerance: 0.1 },
  ]);
}

console.log(`soak: ${MINUTES} min, ${RATE} rows/s per query, ${KEYS} keys, event time ${SPEEDUP}× wall-clock; node ${process.version}`);
let nextSample = start + SAMPLE_MS;
const deadline = start + MINUTES * 60_000;
function loop(): void {
  // Pace to RATE: process what wall time allows, then yield.
  const due = ((Date.now() - start) / 1000) * RATE;
  while (rows + BATCH <= due) {
    const { batch, maxTime } = nextBatch();
    for (const x of pipelines) {
      x.d.batch(0, batch, null, '0', maxTime);
      x.d.advance();
      if (batches % 10 === 9) x.d.barrier(batches);
    }
    rows += BATCH; batches++;
    if (Date.now() >= nextSample) break;
  }
  if (Date.now() >= nextSample) { sample(); nextSample += SAMPLE_MS; }
  if (Date.now() >= deadline) { verdict(); return; }
  if (rows + BATCH > ((Date.now() - start) / 1000) * RATE) setTimeout(loop, 5);
  else setImmediate(loop);
}
loop();
