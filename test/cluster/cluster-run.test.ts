/**
 * Continuous queries run as tasks by assignment in a cluster (issue 17), end to end on the real broker:
 * three services with one CLUSTER_ID in this process, over HTTP (app.inject). A windowed COUNT/SUM per
 * record key over a 6-partition topic into an exactly-once Kafka sink runs as 6 tasks (placed by the assignor,
 * no whole runner anywhere); the instance running most of them stops gracefully mid-stream and its tasks move. The sink,
 * read read_committed by the native reader (kafkajs' consumer can show aborted records), holds every
 * window of the batch computation exactly once. Also: a view run as tasks reads `partial` per instance with `?local=true`
 * (the instances' rows together = the batch result). Queries whose keys are not the topic's record key
 * run as tasks too, re-keyed through repartition topics: a windowed sink GROUP BY another column, a
 * view GROUP BY a value, and a join whose two sides are both re-keyed; each equals the batch result
 * exactly, across the same stop.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTopic, listTopicNames, produce, type ProduceMessage } from '../../connectors/kafka/admin.ts';
import { keysByPartition } from './keys.ts';
import { readCommittedRecords } from '../../connectors/kafka/state-topic.ts';
import { clusterInstances, type ClusterInstance } from './instances.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';

const P = 6;
const T0 = 1_700_000_000_000; // a multiple of the 10 s window
const STEP = 250; // ms of event time between two events of one partition

interface Instance extends ClusterInstance { tasks(): string[] }

const cluster = clusterInstances();
afterEach(() => cluster.cleanup());

async function start(clusterId: string, name: string, port: number): Promise<Instance> {
  const inst = await cluster.start({ clusterId, name, port, prefix: 'streamsql-cr', config: { clusterSessionTimeoutMs: 6000 } });
  return Object.assign(inst, { tasks: () => (inst.service.engine.cluster?.()?.tasks ?? []).map((t) => t.id).sort() });
}

async function waitFor<T>(f: () => Promise<T | null | undefined | false>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** `g`: a column the topic is not keyed by (4 values, in every partition): grouping by it needs a repartition topic. */
interface Ev { k: string; g: string; v: number; ts: number; p: number }
function events(keys: string[][], from: number, to: number): Ev[] {
  const out: Ev[] = [];
  for (let p = 0; p < keys.length; p++) for (let j = from; j < to; j++) out.push({ k: keys[p]![j % 3]!, g: `g${(p * 7 + j) % 4}`, v: (p * 131 + j * 7) % 101, ts: T0 + j * STEP, p });
  return out;
}
const FAR = T0 + 36_000_000;
const closing = (keys: string[][]): Ev[] => keys.map((ks, p) => ({ k: ks[0]!, g: 'g0', v: 0, ts: FAR, p }));
const toMessages = (evs: readonly Ev[]): ProduceMessage[] => evs.map((e) => ({ key: e.k, partition: e.p, value: JSON.stringify({ k: e.k, g: e.g, v: e.v, ts: new Date(e.ts).toISOString() }) }));

/** The batch computation: `<by>|window_start|window_end|n|s` for the windows closed by the events. */
function oracle(evs: readonly Ev[], by: 'k' | 'g' = 'k'): string[] {
  const m = new Map<string, { n: number; s: number }>();
  for (const e of evs) {
    if (e.ts >= FAR) continue;
    const ws = e.ts - (e.ts % 10_000);
    const key = `${e[by]}|${ws}|${ws + 10_000}`;
    const a = m.get(key) ?? { n: 0, s: 0 };
    a.n++; a.s += e.v;
    m.set(key, a);
  }
  return [...m].map(([k, a]) => `${k}|${a.n}|${a.s}`).sort();
}

/** The sink's committed rows, read_committed by the native reader. */
async function committed(topic: string, by: 'k' | 'g' = 'k'): Promise<string[]> {
  const recs = await readCommittedRecords(brokerList(), topic, 0);
  return recs.map((r) => {
    const o = JSON.parse(r.value!) as { k: string; g: string; window_start: string; window_end: string; n: number; s: number };
    return `${o[by]}|${Date.parse(o.window_start)}|${Date.parse(o.window_end)}|${o.n}|${o.s}`;
  }).sort();
}

describe('cluster: continuous queries run as tasks', () => {
  it('a windowed sink runs as 6 tasks over 3 instances; a graceful stop of the instance running most of them moves its tasks; every window exactly once', async () => {
    const clusterId = uniqueTopic('cr');
    const input = uniqueTopic('cr-in');
    const output = uniqueTopic('cr-out');
    const outputG = uniqueTopic('cr-out-g');
    await createTopic(brokerList(), input, P);
    await createTopic(brokerList(), output, 1);
    await createTopic(brokerList(), outputG, 1);
    // A dimension keyed by its label, joined on its gid: neither side is partitioned by the join key.
    const dimTopic = uniqueTopic('cr-dim');
    const outputJ = uniqueTopic('cr-out-j');
    await createTopic(brokerList(), dimTopic, P);
    await createTopic(brokerList(), outputJ, 1);
    await produce(brokerList(), dimTopic, ['g0', 'g1', 'g2', 'g3'].map((g) => ({ key: `label-${g}`, value: JSON.stringify({ gid: g, label: `label-${g}` }) })));
    const keys = keysByPartition(P);
    const phase1 = events(keys, 0, 200); // windows [0, 40) s close
    await produce(brokerList(), input, toMessages(phase1));

    const insts = await Promise.all(['a', 'b', 'c'].map((n, i) => start(clusterId, n, 18_200 + i)));
    const [a, b] = insts as [Instance, Instance, Instance];
    const src = await a.sql(`CREATE SOURCE ev (k VARCHAR, g VARCHAR, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
      WITH (connector = 'kafka', topic = '${input}', format = 'json', 'key.format' = 'raw', 'key.fields' = 'k', 'scan.startup.mode' = 'earliest')`);
    expect(src.status, JSON.stringify(src.body)).toBe(200);
    const dim = await a.sql(`CREATE SOURCE dim (gid VARCHAR, label VARCHAR)
      WITH (connector = 'kafka', topic = '${dimTopic}', format = 'json', 'key.format' = 'raw', 'key.fields' = 'label', 'scan.startup.mode' = 'earliest')`);
    expect(dim.status, JSON.stringify(dim.body)).toBe(200);
    const t0 = Date.now();
    const created = await b.sql(`CREATE SINK out WITH (connector = 'kafka', topic = '${output}', format = 'json', 'checkpoint.interval' = '300 ms') AS
        SELECT window_start, window_end, k, COUNT(*) AS n, SUM(v) AS s FROM TUMBLE(ev, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, k EMIT ON WINDOW CLOSE;
      CREATE MATERIALIZED VIEW per_key WITH ('checkpoint.interval' = '300 ms') AS SELECT k, COUNT(*) AS n FROM ev GROUP BY k;
      CREATE MATERIALIZED VIEW per_v WITH ('checkpoint.interval' = '300 ms') AS SELECT v, COUNT(*) AS n FROM ev GROUP BY v;
      CREATE SINK out_g WITH (connector = 'kafka', topic = '${outputG}', format = 'json', 'checkpoint.interval' = '300 ms') AS
        SELECT window_start, window_end, g, COUNT(*) AS n, SUM(v) AS s FROM TUMBLE(ev, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, g EMIT ON WINDOW CLOSE;
      CREATE SINK joined WITH (connector = 'kafka', topic = '${outputJ}', format = 'json', 'checkpoint.interval' = '300 ms') AS
        SELECT e.k, e.ts, d.label FROM ev e JOIN dim d ON e.g = d.gid`);
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const sinkId = created.body.results[0].queryId as string;
    const perVId = created.body.results[2].queryId as string;
    const outGId = created.body.results[3].queryId as string;
    const joinedId = created.body.results[4].queryId as string;

    // 30 tasks (5 queries × 6 partitions), 10 per instance; no whole runner of any query anywhere.
    await waitFor(async () => insts.every((i) => i.tasks().length === 10) && insts.flatMap((i) => i.tasks()).length === 30, 45_000, '10 tasks per instance');
    let last = '';
    // Each instance's query status names the sink's tasks it runs (once the first, transient, assignments settle).
    await waitFor(async () => {
      for (const i of insts) {
        const q = (await i.get(`/v1/queries/${sinkId}`)).body;
        if (q.placement !== `tasks here: ${i.tasks().filter((t) => t.startsWith('out#')).join(', ') || 'none'} (partition-local: runs as tasks)`) { last = `${i.name}: ${q.placement} vs ${i.tasks().join(',')} ${JSON.stringify(i.service.engine.cluster?.()?.members)}`; return false; }
      }
      return true;
    }, 20_000, 'the sink\'s tasks in each instance\'s query status').catch((e) => { throw new Error(`${e.message}: ${last}`); });
    for (const i of insts) for (const id of [sinkId, perVId, outGId, joinedId]) expect(i.service.engine.runner(id), i.name).toBeUndefined();
    // The assignor balances each query too: 2 of the sink's 6 tasks per instance.
    expect(insts.map((i) => i.tasks().filter((t) => t.startsWith('out#')).length)).toEqual([2, 2, 2]);
    console.log(`tasks of out: ${insts.map((i) => `${i.name} ${i.tasks().filter((t) => t.startsWith('out#')).length}`).join(', ')}`);
    const expected1 = oracle(phase1).filter((r) => Number(r.split('|')[1]) < T0 + 40_000);
    expect(await waitFor(async () => { const o = await committed(output); return o.length >= expected1.length && o; }, 40_000, 'phase 1 output')).toEqual(expected1);
    console.log(`CREATE → phase-1 output (${expected1.length} windows from the 6 sink tasks) committed in ${Date.now() - t0} ms`);

    // Re-keyed through a repartition topic (GROUP BY g, not the record key): as tasks, every window exactly once.
    expect((await a.get(`/v1/queries/${outGId}`)).body.placement).toMatch(/^tasks here: .*re-keyed through 1 repartition topic/);
    const expectedG1 = oracle(phase1, 'g').filter((r) => Number(r.split('|')[1]) < T0 + 40_000);
    expect(await waitFor(async () => { const o = await committed(outputG, 'g'); return o.length >= expectedG1.length && o; }, 40_000, 'phase 1 output of out_g')).toEqual(expectedG1);
    // A view re-keyed (GROUP BY v): each v's count in exactly one task; the instances' rows together are the batch counts.
    const perV = new Map<number, number>();
    for (const e of phase1) perV.set(e.v, (perV.get(e.v) ?? 0) + 1);
    /** `<col>|n` of every instance's own share of a view (`?local=true`), sorted; null while one does not answer. */
    const localUnion = async (view: string, col: string): Promise<string[] | null> => {
      const rows: string[] = [];
      for (const i of insts) {
        const r = await i.get(`/v1/views/${view}?local=true`);
        if (r.status !== 200 || r.body.partial !== true) return null;
        rows.push(...(r.body.rows as Record<string, unknown>[]).map((x) => `${x[col]}|${x.n}`));
      }
      return rows.sort();
    };
    const unionV = await waitFor(async () => {
      const rows = await localUnion('per_v', 'v');
      return rows && rows.length === perV.size && rows.every((x) => perV.get(Number(x.split('|')[0])) === Number(x.split('|')[1])) && rows;
    }, 20_000, 'per_v rows across instances');
    expect(unionV).toEqual([...perV].map(([v, n]) => `${v}|${n}`).sort());

    // The view run as tasks: each instance's own share (local=true, partial); together, the batch counts.
    const counts = new Map<string, number>();
    for (const e of phase1) counts.set(e.k, (counts.get(e.k) ?? 0) + 1);
    const union = await waitFor(async () => {
      const rows = await localUnion('per_key', 'k');
      return rows && rows.length === counts.size && rows.every((x) => counts.get(x.split('|')[0]!) === Number(x.split('|')[1])) && rows;
    }, 20_000, 'per_key rows across instances');
    expect(union).toEqual([...counts].map(([k, n]) => `${k}|${n}`).sort());

    // Mid-stream: more input (windows up to [50, 60) s close), then c stops gracefully; more input after.
    const phase2a = events(keys, 200, 260);
    await produce(brokerList(), input, toMessages(phase2a));
    // The instance that runs the most of the sink's tasks stops.
    const c = insts.reduce((x, y) => (y.tasks().filter((t) => t.startsWith('out#')).length > x.tasks().filter((t) => t.startsWith('out#')).length ? y : x));
    const survivors = insts.filter((i) => i !== c);
    const cTasks = c.tasks().filter((t) => t.startsWith('out#'));
    const cKeys = new Set(cTasks.flatMap((t) => keys[Number(t.split('#')[1])]!));
    const tStop = Date.now();
    await c.stop();
    const stopMs = Date.now() - tStop;
    const phase2b = events(keys, 260, 320); // windows [60, 70) s close
    await produce(brokerList(), input, toMessages(phase2b));
    await waitFor(async () => (await committed(output)).some((r) => cKeys.has(r.split('|')[0]!) && Number(r.split('|')[1]) === T0 + 60_000), 50_000, 'the moved tasks\' output');
    const movedMs = Date.now() - tStop;
    const [ta, tb] = survivors.map((i) => i.tasks().filter((t) => t.startsWith('out#'))) as [string[], string[]];
    expect(ta.length + tb.length).toBe(6);
    expect([...ta, ...tb]).toEqual(expect.arrayContaining(cTasks));
    console.log(`graceful stop of ${c.name} (its tasks ${cTasks.join(', ')}): stop took ${stopMs} ms; their output advanced (window [60, 70) s committed) ${movedMs} ms after the stop began`);

    // Every window, exactly once: the batch result of all the input.
    const all = [...phase1, ...phase2a, ...phase2b, ...closing(keys)];
    await produce(brokerList(), input, toMessages(closing(keys)));
    const expected = oracle(all);
    const out = await waitFor(async () => { const o = await committed(output); return o.length >= expected.length && o; }, 40_000, 'the final output');
    expect(out).toEqual(expected);
    expect(new Set(out.map((r) => r.split('|').slice(0, 2).join('|'))).size).toBe(out.length);
    // The join re-keyed on both sides: each event once with its group's label.
    expect((await survivors[0]!.get(`/v1/queries/${joinedId}`)).body.placement).toMatch(/re-keyed through 2 repartition topic/);
    const expectedJ = all.filter((e) => e.ts < FAR).map((e) => `${e.k}|${e.ts}|label-${e.g}`).concat(closing(keys).map((e) => `${e.k}|${e.ts}|label-${e.g}`)).sort();
    const joinedRows = async () => (await readCommittedRecords(brokerList(), outputJ, 0)).map((r) => { const o = JSON.parse(r.value!) as { k: string; ts: string; label: string }; return `${o.k}|${Date.parse(o.ts)}|${o.label}`; }).sort();
    expect(await waitFor(async () => { const o = await joinedRows(); return o.length >= expectedJ.length && o; }, 40_000, 'the join\'s output')).toEqual(expectedJ);
    // GET /v1/cluster: a query run as tasks has its lag summed over its tasks' groups; 0 once all input is committed.
    await waitFor(async () => (await survivors[0]!.get('/v1/cluster')).body.queries.find((q: { name: string }) => q.name === 'out')?.lag === 0, 20_000, 'out\'s lag 0 in /v1/cluster');
    // Progress of a re-keyed query: this instance's tasks and their repartition traffic, also in /metrics.
    const prog = (await survivors[0]!.get(`/v1/queries/${outGId}`)).body.progress;
    expect(prog.tasks.length).toBeGreaterThan(0);
    expect(prog.repartition.writtenRows).toBeGreaterThan(0);
    // (g has 4 values: some tasks' partitions of the repartition topic get none.)
    let readRows = 0;
    for (const i of survivors) readRows += (await i.get(`/v1/queries/${outGId}`)).body.progress.repartition.readRows as number;
    expect(readRows).toBeGreaterThan(0);
    console.log(`out_g on ${survivors[0]!.name}: ${prog.repartition.writtenRows} rows → ${prog.repartition.writtenBytes} bytes into its repartition topic (${(prog.repartition.writtenBytes / prog.repartition.writtenRows).toFixed(1)} bytes/row with the per-epoch watermark records)`);
    const metrics = (await survivors[0]!.get('/metrics')).body as string;
    expect(metrics).toMatch(/streamsql_exchange_rows_total\{[^}]*query="out_g"[^}]*\} [1-9]/);
    const expectedG = oracle(all, 'g');
    expect(await waitFor(async () => { const o = await committed(outputG, 'g'); return o.length >= expectedG.length && o; }, 40_000, 'the final output of out_g')).toEqual(expectedG);

    // DROP: the query's internal topics (its state topic and repartition topic) are deleted with it.
    const internal = async () => (await listTopicNames(brokerList())).filter((t) => t.includes(`-out_g-${outGId.slice(0, 8)}-`)).sort();
    expect((await internal()).map((t) => t.replace(/.*-out_g-[0-9a-f]{8}-/, ''))).toEqual(['n2-repartition', 'state']);
    expect((await survivors[0]!.sql('DROP SINK out_g')).status).toBe(200);
    await waitFor(async () => (await internal()).length === 0, 20_000, 'out_g\'s internal topics deleted');
  }, 170_000);
});
