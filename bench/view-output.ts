/**
 * Operator vs view cost of the tumbling and HOP counting queries, in memory:
 * `node --import tsx bench/view-output.ts` (env ROWS, default 2M Nexmark bids; PB, rows per barrier, 300k).
 *
 * Drives each query through queries/driver.ts over Nexmark bids (the demo generator, as Arrow batches) into
 * a keyed query table, committing it and building the epoch's checkpoint delta at every barrier, as the
 * runner does. Prints CPU time in all, in the view's apply, and in its commit + delta, with the output and
 * view sizes: what separates the HOP counting stage from the tumbling query (README, Benchmarks). Two rounds;
 * the second is warm. Not a timed test.
 */
import { createCatalog, planRequest } from '../planner/index.ts';
import { createDriver } from '../queries/driver.ts';
import { makeBatch } from '../executor/arrow.ts';
import { createQueryTable } from '../connectors/table/query-table.ts';
import { createNexmarkGenerator } from '../connectors/demo/nexmark.ts';
import { T, type Schema } from '../planner/types.ts';
import type { RecordBatch } from 'apache-arrow';
const ROWS = Number(process.env.ROWS ?? 2_000_000); const BATCH = 20_000; const PER_BARRIER = Number(process.env.PB ?? 300_000);
const schema: Schema = { fields: [{ name: 'auction', type: T.bigint, nullable: true }, { name: 'price', type: T.bigint, nullable: true }, { name: 'dateTime', type: T.timestamp, nullable: true }] };
const gen = createNexmarkGenerator({});
const input: RecordBatch[] = [];
for (let r = 0; r < ROWS; r += BATCH) {
  const bids = gen.nextBids(BATCH);
  const a = new Float64Array(BATCH), p = new Float64Array(BATCH), t = new Float64Array(BATCH);
  bids.forEach((b, i) => { a[i] = b.auction; p[i] = b.price; t[i] = b.dateTime; });
  input.push(makeBatch(schema, [a, p, t].map((v, i) => ({ kind: 'f64' as const, type: schema.fields[i]!.type, length: BATCH, values: v, valid: null })), BATCH));
}
const DDL = `CREATE SOURCE bids (auction BIGINT, price BIGINT, dateTime TIMESTAMP(3), WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND) WITH (connector = 'kafka', topic = 'bids', format = 'json')`;
const Q: Record<string, string> = {
  tumble: `SELECT window_start, window_end, auction, COUNT(*) AS bids, MAX(price) AS max_price FROM TUMBLE(bids, dateTime, INTERVAL '1' SECOND) GROUP BY window_start, window_end, auction`,
  q5: `SELECT window_start, window_end, auction, COUNT(*) AS num FROM HOP(bids, dateTime, INTERVAL '2' SECOND, INTERVAL '10' SECOND) GROUP BY window_start, window_end, auction`,
};
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
for (let rep = 0; rep < 2; rep++) for (const [name, sql] of Object.entries(Q)) {
  const planned = planRequest(`${DDL};\nCREATE MATERIALIZED VIEW v AS ${sql}`, createCatalog());
  const q = planned[1]!.planned;
  if (q.kind !== 'create_materialized_view') throw new Error('expected a view');
  const table = createQueryTable('v', q.def.schema, q.def.keyColumns);
  let out = 0; let tableMs = 0; let ckMs = 0;
  const driver = createDriver({ plan: q.physical, sink: { batch: (b: RecordBatch, ops: Int8Array | null) => { out += b.numRows; const c = cpu(); table.apply(b, ops); tableMs += cpu() - c; } } });
  const c0 = cpu(); let epoch = 0; let since = 0;
  for (const b of input) {
    const ts = b.data.children[2]!.values as Float64Array;
    driver.batch(0, b, null, '0', ts[b.numRows - 1]!); driver.advance();
    since += b.numRows;
    if (since >= PER_BARRIER) { since = 0; driver.barrier(++epoch); const c = cpu(); table.commitEpoch(epoch).delta(); ckMs += cpu() - c; }
  }
  const total = cpu() - c0;
  console.log(`${name.padEnd(7)} CPU ${total.toFixed(0)} ms (${(ROWS / total / 1000).toFixed(2)} M rows/CPU-s); view apply ${tableMs.toFixed(0)} ms, commit+delta ${ckMs.toFixed(0)} ms; ${out} output rows; view ${table.size} rows`);
}
