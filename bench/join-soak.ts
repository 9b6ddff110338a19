/**
 * Join soak: `node --import tsx bench/join-soak.ts [--minutes 10] [--rate 30000]` (`--minutes 1` for a quick check).
 *
 * Issue 14's state proof: three joins run in memory through the graph runtime — an interval join (LEFT,
 * rows within 2 s), a window join (FULL, 5 s tumbling windows) and a regular join with `'state.ttl' =
 * '20 s'` — over two inputs with 100k keys each, event time moving 20× faster than wall-clock (up to 1 s
 * out of order), a watermark after every batch and a barrier every 10 batches, paced at `--rate` rows/s
 * per input. Every 10 s it prints rows, state rows per join (what query progress reports), RSS and heap;
 * at the end whether state rows and RSS stayed flat (mean of the last third of the samples against the
 * middle third, 10% tolerance). Keys that never come back must not stay: each key is drawn at random,
 * so most keys see no further row in the state's lifetime.
 */
import { createCatalog, planRequest } from '../planner/index.ts';
import { makeBatch } from '../executor/arrow.ts';
import { T, type Schema } from '../planner/types.ts';
import { flatVerdict } from './lib/flat.ts';
import { createDriver, type Driver } from '../queries/driver.ts';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1]! : def; };
const MINUTES = Number(arg('minutes', '10'));
const RATE = Number(arg('rate', '30000'));
const KEYS = 100_000;
const BATCH = 5_000;
const SPEEDUP = 20;
const SAMPLE_MS = 10_000;

const DDL = ['l', 'r'].map((n) => `CREATE SOURCE ${n} (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
  WITH (connector = 'kafka', topic = '${n}', format = 'json')`).join(';\n');
const QUERIES = [
  { name: 'interval', with: '', sql: `SELECT l.k, l.v, r.v AS rv FROM l LEFT JOIN r ON l.k = r.k AND r.ts BETWEEN l.ts - INTERVAL '2' SECOND AND l.ts + INTERVAL '2' SECOND` },
  { name: 'window', with: '', sql: `SELECT a.k, a.v, b.v AS rv FROM TUMBLE(l, ts, INTERVAL '5' SECOND) a FULL JOIN TUMBLE(r, ts, INTERVAL '5' SECOND) b ON a.k = b.k AND a.window_start = b.window_start AND a.window_end = b.window_end` },
  { name: 'regular+ttl', with: `WITH ('state.ttl' = '20 s') `, sql: `SELECT l.k, l.v, r.v AS rv FROM l JOIN r ON l.k = r.k` },
];
const schema: Schema = { fields: [
  { name: 'k', type: T.bigint, nullable: true }, { name: 'v', type: T.bigint, nullable: true }, { name: 'ts', type: T.timestamp, nullable: true },
] };

const graphs: { name: string; d: Driver; out: number }[] = QUERIES.map((q) => {
  const planned = planRequest(`${DDL};\nCREATE MATERIALIZED VIEW v ${q.with}AS ${q.sql}`, createCatalog());
  const v = planned[2]!.planned;
  if (v.kind !== 'create_materialized_view') throw new Error('expected a view');
  const entry = { name: q.name, d: null as unknown as Driver, out: 0 };
  // The one driver every way of running a query uses (queries/driver.ts): its trackers make the watermarks.
  entry.d = createDriver({ plan: v.physical, sink: { batch: (b) => { entry.out += b.numRows; } }, now: () => Date.now() });
  return entry;
});

let seed = 11;
const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296; };
const start = Date.now();
const eventT0 = Date.parse('2024-01-01T00:00:00Z');
let rows = 0;
let batches = 0;

function nextBatch() {
  const base = eventT0 + (rows / RATE) * 1000 * SPEEDUP;
  const span = (BATCH / RATE) * 1000 * SPEEDUP;
  const k = new Float64Array(BATCH); const v = new Float64Array(BATCH); const ts = new Float64Array(BATCH);
  let max = -Infinity;
  for (let i = 0; i < BATCH; i++) {
    k[i] = Math.floor(rnd() * KEYS); v[i] = Math.floor(rnd() * 1000);
    ts[i] = Math.floor(base + (i / BATCH) * span - rnd() * 1000);
    if (ts[i]! > max) max = ts[i]!;
  }
  const col = (values: Float64Array, type: typeof T.bigint | typeof T.timestamp) => ({ kind: 'f64' as const, type, length: BATCH, values, valid: null });
  return { batch: makeBatch(schema, [col(k, T.bigint), col(v, T.bigint), col(ts, T.timestamp)], BATCH), maxTime: max };
}

interface Sample { t: number; rows: number; state: number[]; rss: number; heap: number }
const samples: Sample[] = [];
const mb = (b: number) => (b / 1048576).toFixed(1);
const stateOf = (d: Driver) => d.operators().reduce((a, o) => a + o.metrics.stateRows, 0);

function sample(): void {
  const mem = process.memoryUsage();
  const s: Sample = { t: (Date.now() - start) / 1000, rows, state: graphs.map((x) => stateOf(x.d)), rss: mem.rss, heap: mem.heapUsed };
  samples.push(s);
  console.log(`${s.t.toFixed(0).padStart(5)} s  rows/input ${String(rows).padStart(10)}  ` +
    graphs.map((x, i) => `${x.name}: state ${String(s.state[i]).padStart(7)} out ${String(x.out).padStart(9)}`).join('  ') +
    `  RSS ${mb(s.rss)} MB  heap ${mb(s.heap)} MB`);
}

function verdict(): boolean {
  return flatVerdict(samples, [
    ...graphs.map((x, i) => ({ label: `${x.name} state rows`, value: (s: Sample) => s.state[i]!, format: (v: number) => v.toFixed(0), tolerance: 0.1 })),
    { label: 'RSS', value: (s: Sample) => s.rss, format: (v: number) => `${mb(v)} MB`, tolerance: 0.1 },
  ]);
}

console.log(`join soak: ${MINUTES} min, ${RATE} rows/s per input, ${KEYS} keys, event time ${SPEEDUP}× wall-clock; node ${process.version}`);
let nextSample = start + SAMPLE_MS;
const deadline = start + MINUTES * 60_000;
function loop(): void {
  const due = ((Date.now() - start) / 1000) * RATE;
  while (rows + BATCH <= due) {
    const left = nextBatch(); const right = nextBatch();
    for (const x of graphs) {
      x.d.batch(0, left.batch, null, '0', left.maxTime);
      x.d.batch(1, right.batch, null, '0', right.maxTime);
      x.d.advance();
      if (batches % 10 === 9) x.d.barrier(batches);
    }
    rows += BATCH; batches++;
    if (Date.now() >= nextSample) break;
  }
  if (Date.now() >= nextSample) { sample(); nextSample += SAMPLE_MS; }
  if (Date.now() >= deadline) { process.exitCode = verdict() ? 0 : 1; return; }
  if (rows + BATCH > ((Date.now() - start) / 1000) * RATE) setTimeout(loop, 5);
  else setImmediate(loop);
}
loop();
