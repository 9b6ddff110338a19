/**
 * The driver (queries/driver.ts) on its own, in memory: several inputs with their own partitions and
 * watermarks (the query's is the least), the malformed hook (counted, awaited before the batch, a
 * throwing policy keeps the batch out), changes inputs that hold no watermark back, end of input,
 * and the trackers' round trip through a checkpoint's JSON.
 */
import { describe, expect, it } from 'vitest';
import type { RawMessages } from '../../connectors/formats/decode.ts';
import { batchRows, rowsBatch } from '../../executor/rows.ts';
import { createCatalog, planRequest, type PhysicalPlan } from '../../planner/index.ts';
import { createDriver, type DriverConfig } from '../../queries/driver.ts';
import { malformedPolicy } from '../../queries/malformed.ts';

const T0 = Date.parse('2024-01-01T00:00:00Z');
const DDL = `CREATE SOURCE a (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (connector = 'kafka', topic = 'a', format = 'json');
CREATE SOURCE b (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH (connector = 'kafka', topic = 'b', format = 'json', 'format.on-error' = 'fail')`;

function plan(query: string): PhysicalPlan {
  const all = planRequest(`${DDL};\nCREATE MATERIALIZED VIEW v AS ${query}`, createCatalog());
  const q = all[all.length - 1]!.planned;
  if (q.kind !== 'create_materialized_view') throw new Error('expected a view');
  return q.physical;
}

let offset = 0;
const msgs = (topic: string, partition: number, values: (string | object)[]): RawMessages => ({
  topic, partition,
  values: values.map((v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))),
  keys: values.map(() => null),
  offsets: values.map(() => offset++),
  timestamps: values.map(() => 0),
});
const ev = (k: number, s: number) => ({ k, ts: new Date(T0 + s * 1000).toISOString() });

function collect(p: PhysicalPlan, extra: Partial<DriverConfig> = {}) {
  const out: { k: unknown; ts: unknown }[] = [];
  const wms: number[] = [];
  let ended = 0;
  const driver = createDriver({
    plan: p,
    sink: {
      batch: (b) => { for (const r of batchRows(b, p.schema)) out.push({ k: r[0], ts: r[1] }); },
      watermark: (t) => { wms.push(t); },
      end: () => { ended++; },
    },
    ...extra,
  });
  return { driver, out, wms, ended: () => ended };
}

const UNION = 'SELECT k, ts FROM a UNION ALL SELECT k, ts FROM b';

describe('queries/driver', () => {
  it('drives several inputs: each decoded and pushed into its graph input, the query watermark the least of them', () => {
    const { driver, out, wms } = collect(plan(UNION));
    expect(driver.pipeline).toBeNull(); // a graph, not a chain
    expect(driver.inputs.map((i) => [i.index, i.def?.name])).toEqual([[0, 'a'], [1, 'b']]);
    expect(driver.fetched(0, msgs('a', 0, [ev(1, 10), ev(2, 12)]))).toBe(2);
    // Only input 0 has data: input 1 holds the query's (and the sink's) watermark back.
    expect(driver.advance()).toBe(-Infinity);
    expect(driver.input(0).watermark).toBe(T0 + 11_000);
    expect(wms).toEqual([]);
    expect(driver.fetched(1, msgs('b', 0, [ev(3, 5)]))).toBe(1);
    expect(driver.advance()).toBe(T0 + 3_000); // min(12 s - 1 s, 5 s - 2 s)
    expect(wms).toEqual([T0 + 3_000]);
    driver.fetched(1, msgs('b', 0, [ev(4, 30)]));
    expect(driver.advance()).toBe(T0 + 11_000); // now input 0's
    expect(wms).toEqual([T0 + 3_000, T0 + 11_000]);
    expect(out.map((r) => r.k).sort()).toEqual([1, 2, 3, 4]);
    expect(driver.counters.inputRows).toBe(4);
  });

  it('takes the least over the partitions of one input, and waits for a partition announced with data', () => {
    const { driver } = collect(plan('SELECT k, ts FROM a'));
    expect(driver.pipeline).not.toBeNull(); // a chain keeps its per-position state (old checkpoints)
    driver.expect(0, 'a:1');
    driver.fetched(0, msgs('a', 0, [ev(1, 20)]));
    expect(driver.advance()).toBe(-Infinity);
    driver.fetched(0, msgs('a', 1, [ev(2, 8)]));
    expect(driver.advance()).toBe(T0 + 7_000);
    // Round trip through a checkpoint's JSON into a fresh driver: the same watermark and partitions.
    const saved = JSON.parse(JSON.stringify(driver.trackerStates()));
    const again = collect(plan('SELECT k, ts FROM a')).driver;
    again.restoreTrackers(saved);
    expect(again.watermark()).toBe(T0 + 7_000);
    again.fetched(0, msgs('a', 1, [ev(3, 25)]));
    expect(again.advance()).toBe(T0 + 19_000);
  });

  it('counts malformed messages and calls the hook before the batch goes in; a throwing policy keeps the batch out', async () => {
    const seen: string[] = [];
    let release!: () => void;
    const { driver, out } = collect(plan(UNION), {
      onMalformed: (input, fetched, d) => {
        seen.push(`${input.def!.name} ${fetched.topic}[${fetched.partition}] ${d.malformed.map((m) => m.offset).join(',')}`);
        // Input a: asynchronous (a dead letter being sent); input b: its policy ('format.on-error' = 'fail').
        if (input.index === 0) return new Promise<void>((r) => { release = r; });
        return malformedPolicy()(input, fetched, d);
      },
    });
    offset = 100;
    const r = driver.fetched(0, msgs('a', 0, [ev(1, 1), 'not json', ev(2, 2)]));
    expect(r).toBeInstanceOf(Promise);
    expect(out).toEqual([]); // held until the hook's promise settles
    release();
    expect(await r).toBe(2);
    expect(out.map((x) => x.k)).toEqual([1, 2]);
    expect(driver.counters.malformedRows).toBe(1);
    expect(() => driver.fetched(1, msgs('b', 3, [ev(5, 1), '{"k": "five"}']))).toThrow(/malformed message at b\[3\] offset 104/);
    expect(out.map((x) => x.k)).toEqual([1, 2]);
    expect(driver.counters.malformedRows).toBe(2);
    expect(seen).toEqual(['a a[0] 101', 'b b[3] 104']);
    // Without a hook, malformed messages are counted and skipped.
    const plain = collect(plan(UNION));
    expect(plain.driver.fetched(1, msgs('b', 0, ['{', ev(9, 1)]))).toBe(1);
    expect(plain.driver.counters.malformedRows).toBe(1);
  });

  it('a changes input (a view\'s) holds no watermark back; end reaches the sink once, after every input ended', () => {
    const p = plan(UNION);
    const { driver, out, wms, ended } = collect(p, { inputs: [{ kind: 'source', index: 0, def: p.sources[0]!.kind === 'kafka_source' ? p.sources[0]!.source : null! }, { kind: 'changes', index: 1 }] });
    expect(() => driver.fetched(1, msgs('b', 0, [ev(1, 1)]))).toThrow(/decoded changes/);
    driver.fetched(0, msgs('a', 0, [ev(1, 10)]));
    expect(driver.advance()).toBe(T0 + 9_000);
    // The graph's own rule: its union node waits for both inputs' watermarks.
    expect(wms).toEqual([]);
    const bDef = p.sources[1]!.kind === 'kafka_source' ? p.sources[1]!.source : null!;
    driver.batch(1, rowsBatch(bDef.schema, [[7, T0 + 3_000]]), Int8Array.from([1]));
    expect(out.map((x) => x.k)).toEqual([1, 7]);
    driver.graph.push(1, { kind: 'end' });
    expect(ended()).toBe(0);
    expect(wms).toEqual([T0 + 9_000]); // an ended input no longer holds the node back
    driver.end();
    expect(ended()).toBe(1);
    expect(driver.counters.inputRows).toBe(2);
  });

  it('refuses inputs the graph does not have', () => {
    const p = plan('SELECT k, ts FROM a');
    expect(() => createDriver({ plan: p, sink: { batch: () => undefined }, inputs: [{ kind: 'changes', index: 1 }] })).toThrow(/not an input of the graph/);
  });
});
