/**
 * Views reading views in a cluster (issue 17), end to end on the real broker: three services with one
 * CLUSTER_ID in this process. A keyed view run as tasks writes its changes to its changes topic
 * (queries/cluster/view-changes.ts), and a query reading it runs as tasks over that topic:
 *
 *   ev (3 partitions, keyed by k) → per_kg  GROUP BY k, g        (partition-local)
 *                                 → per_g   GROUP BY g over per_kg (re-keyed through a repartition topic)
 *                                 → g_out   upsert-kafka sink over per_g (reads per_g's changes, keyed by g)
 *                                 → g_label per_g JOIN dim (an upsert-kafka table keyed by gid): only dim re-keyed
 *
 * Every level equals the batch computation, before and after one instance stops mid-stream (its tasks
 * of all three queries move), and the chain carries the upstream watermark.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTopic, listTopicNames, produce, topicConfigs, type ProduceMessage } from '../../connectors/kafka/admin.ts';
import { readCommittedRecords } from '../../connectors/kafka/state-topic.ts';
import { keysByPartition } from './keys.ts';
import { clusterInstances, type ClusterInstance } from './instances.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { waitFor } from '../helpers/service.ts';

const P = 3;
const T0 = 1_700_000_000_000;

interface Instance extends ClusterInstance { tasks(): string[] }

const cluster = clusterInstances();
afterEach(() => cluster.cleanup());

async function start(clusterId: string, name: string, port: number): Promise<Instance> {
  const inst = await cluster.start({ clusterId, name, port, prefix: 'streamsql-vc', config: { clusterSessionTimeoutMs: 6000 } });
  return Object.assign(inst, { tasks: () => (inst.service.engine.cluster?.()?.tasks ?? []).map((t) => t.id).sort() });
}

interface Ev { k: string; g: string; v: number; ts: number; p: number }
function events(keys: string[][], from: number, to: number): Ev[] {
  const out: Ev[] = [];
  for (let p = 0; p < keys.length; p++) for (let j = from; j < to; j++) out.push({ k: keys[p]![j % 4]!, g: `g${(p * 5 + j * 3) % 5}`, v: (p * 37 + j * 11) % 97, ts: T0 + j * 200, p });
  return out;
}
const toMessages = (evs: readonly Ev[]): ProduceMessage[] => evs.map((e) => ({ key: e.k, partition: e.p, value: JSON.stringify({ k: e.k, g: e.g, v: e.v, ts: new Date(e.ts).toISOString() }) }));

/** The batch computations: per (k, g) and per g, as `key|n|s`, sorted. */
function oracle(evs: readonly Ev[]): { perKg: string[]; perG: string[] } {
  const kg = new Map<string, { n: number; s: number }>();
  const g = new Map<string, { n: number; s: number }>();
  for (const e of evs) {
    for (const [m, key] of [[kg, `${e.k}|${e.g}`], [g, e.g]] as const) {
      const a = m.get(key) ?? { n: 0, s: 0 };
      a.n++; a.s += e.v;
      m.set(key, a);
    }
  }
  const rows = (m: Map<string, { n: number; s: number }>) => [...m].map(([k, a]) => `${k}|${a.n}|${a.s}`).sort();
  return { perKg: rows(kg), perG: rows(g) };
}

describe('cluster: views reading views run as tasks', () => {
  it('view → re-keyed view → upsert sink, each through the upstream view\'s changes topic; equal to the batch result across a stop', async () => {
    const clusterId = uniqueTopic('vc');
    const input = uniqueTopic('vc-in');
    const output = uniqueTopic('vc-out');
    await createTopic(brokerList(), input, P);
    await createTopic(brokerList(), output, 1);
    const dimTopic = uniqueTopic('vc-dim');
    await createTopic(brokerList(), dimTopic, P);
    await produce(brokerList(), dimTopic, [0, 1, 2, 3, 4].map((i) => ({ key: JSON.stringify({ gid: `g${i}` }), value: JSON.stringify({ gid: `g${i}`, label: `label-${i}` }) })));
    const keys = keysByPartition(P, 'vk', 4);
    const phase1 = events(keys, 0, 60);
    await produce(brokerList(), input, toMessages(phase1));

    const insts = await Promise.all(['a', 'b', 'c'].map((n, i) => start(clusterId, n, 18_300 + i)));
    const [a, b] = insts as [Instance, Instance, Instance];
    const res = await a.sql(`CREATE SOURCE ev (k VARCHAR, g VARCHAR, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
      WITH (connector = 'kafka', topic = '${input}', format = 'json', 'key.format' = 'raw', 'key.fields' = 'k', 'scan.startup.mode' = 'earliest');
      CREATE MATERIALIZED VIEW per_kg WITH ('checkpoint.interval' = '300 ms') AS SELECT k, g, COUNT(*) AS n, SUM(v) AS s FROM ev GROUP BY k, g`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const perKgId = res.body.results[1].queryId as string;
    // Created on another instance, a moment later: it names per_kg's changes topic from the shared catalog.
    const res2 = await b.sql(`CREATE MATERIALIZED VIEW per_g WITH ('checkpoint.interval' = '300 ms') AS SELECT g, SUM(n) AS n, SUM(s) AS s FROM per_kg GROUP BY g;
      CREATE SINK g_out WITH (connector = 'upsert-kafka', topic = '${output}', 'key.format' = 'json', 'value.format' = 'json', 'checkpoint.interval' = '300 ms') AS SELECT g, n, s FROM per_g;
      CREATE TABLE dim (gid VARCHAR, label VARCHAR, PRIMARY KEY (gid) NOT ENFORCED) WITH (connector = 'upsert-kafka', topic = '${dimTopic}', 'key.format' = 'json', 'value.format' = 'json');
      CREATE MATERIALIZED VIEW g_label WITH ('checkpoint.interval' = '300 ms') AS SELECT p.g, d.label, p.n, p.s FROM per_g p JOIN dim d ON p.g = d.gid`);
    expect(res2.status, JSON.stringify(res2.body)).toBe(200);
    const perGId = res2.body.results[0].queryId as string;
    const outId = res2.body.results[1].queryId as string;
    const labelId = res2.body.results[3].queryId as string;

    // 12 tasks (4 queries × 3 partitions), 4 per instance; no whole runner anywhere.
    await waitFor(async () => insts.every((i) => i.tasks().length === 4) && insts.flatMap((i) => i.tasks()).length === 12, 45_000, '4 tasks per instance',
      () => insts.map((i) => `${i.name}: ${i.tasks().join(',')}`).join('; '));
    for (const i of insts) for (const id of [perKgId, perGId, outId, labelId]) expect(i.service.engine.runner(id), i.name).toBeUndefined();
    // The view's changes are already hashed by g: only the table's side of the join moves.
    expect((await a.get(`/v1/queries/${labelId}`)).body.placement).toMatch(/^tasks here: .*re-keyed through 1 repartition topic\(s\) \(join key \(gid\) is not how this side is partitioned\); reads per_g through its changes topic\)$/);
    expect((await a.get(`/v1/queries/${perGId}`)).body.placement).toMatch(/^tasks here: .*re-keyed through 1 repartition topic.*; reads per_kg through its changes topic\)$/);
    expect((await a.get(`/v1/queries/${outId}`)).body.placement).toMatch(/^tasks here: .*partition-local: runs as tasks; reads per_g through its changes topic\)$/);
    // Each view makes its changes topic when it is prepared (g_label's after per_g's exists): wait for the three.
    const listChanges = async () => (await listTopicNames(brokerList())).filter((t) => t.startsWith(`_streamsql-${clusterId}-`) && t.endsWith('-changes')).sort();
    const changesTopics = (await waitFor(async (): Promise<string[] | null> => { const t = await listChanges(); return t.length >= 3 ? t : null; }, 30_000, 'the views\' changes topics', () => 'fewer than 3'))!;
    expect(changesTopics.map((t) => t.replace(/-[0-9a-f]{8}-changes$/, '').replace(`_streamsql-${clusterId}-`, ''))).toEqual(['g_label', 'per_g', 'per_kg']);
    // Compacted: Kafka keeps each view row's newest version (one record per changed key, connectors/kafka/changes.ts).
    for (const t of changesTopics) expect(await topicConfigs(brokerList(), t, ['cleanup.policy', 'retention.ms'])).toEqual({ 'cleanup.policy': 'compact', 'retention.ms': '-1' });

    /** Every instance's own share of a view (`?local=true`), as `<cols>|n|s`, sorted; null while one does not answer. */
    const localUnion = async (from: readonly Instance[], view: string, cols: string[]): Promise<string[] | null> => {
      const rows: string[] = [];
      for (const i of from) {
        const r = await i.get(`/v1/views/${view}?local=true`);
        if (r.status !== 200) return null;
        rows.push(...(r.body.rows as Record<string, unknown>[]).map((x) => [...cols.map((c) => x[c]), x.n, x.s].join('|')));
      }
      return rows.sort();
    };
    /** The sink's committed records folded by key (last value wins; a null value deletes). */
    const sinkRows = async (): Promise<string[]> => {
      const m = new Map<string, string>();
      for (const r of await readCommittedRecords(brokerList(), output, 0)) {
        if (r.value === null) { m.delete(r.key!); continue; }
        const o = JSON.parse(r.value) as { g: string; n: number; s: number };
        m.set(r.key!, `${o.g}|${o.n}|${o.s}`);
      }
      return [...m.values()].sort();
    };
    let seen = '';
    const settle = async (from: readonly Instance[], want: { perKg: string[]; perG: string[] }, what: string) => {
      await waitFor(async () => {
        const kg = await localUnion(from, 'per_kg', ['k', 'g']);
        const g = await localUnion(from, 'per_g', ['g']);
        const out = await sinkRows();
        const labelled = await localUnion(from, 'g_label', ['g', 'label']);
        const wantLabelled = want.perG.map((r) => { const [g0, n, s0] = r.split('|'); return `${g0}|label-${g0!.slice(1)}|${n}|${s0}`; }).sort();
        seen = `per_kg ${kg?.length} rows, per_g ${JSON.stringify(g)}, g_out ${JSON.stringify(out)}, g_label ${JSON.stringify(labelled)}; want per_g ${JSON.stringify(want.perG)}`;
        return JSON.stringify(kg) === JSON.stringify(want.perKg) && JSON.stringify(g) === JSON.stringify(want.perG) && JSON.stringify(out) === JSON.stringify(want.perG)
          && JSON.stringify(labelled) === JSON.stringify(wantLabelled);
      }, 45_000, what, () => seen);
    };
    const t0 = Date.now();
    await settle(insts, oracle(phase1), 'phase 1 through the chain');
    console.log(`phase 1 through per_kg → per_g → g_out in ${Date.now() - t0} ms`);
    // The upstream watermark travels with the changes: per_g's tasks have one.
    await waitFor(async () => (await a.get(`/v1/queries/${perGId}`)).body.progress?.watermark != null, 20_000, 'per_g\'s watermark');

    // Mid-stream: more input, then one instance stops gracefully (its tasks of all three queries move), more input after.
    const phase2a = events(keys, 60, 90);
    await produce(brokerList(), input, toMessages(phase2a));
    const c = insts[2]!;
    const moved = c.tasks();
    await c.stop();
    const phase2b = events(keys, 90, 130);
    await produce(brokerList(), input, toMessages(phase2b));
    const survivors = insts.filter((i) => i !== c);
    await waitFor(async () => survivors.flatMap((i) => i.tasks()).length === 12, 45_000, 'the stopped instance\'s tasks moved');
    const t1 = Date.now();
    await settle(survivors, oracle([...phase1, ...phase2a, ...phase2b]), 'all input through the chain after the stop');
    console.log(`after ${c.name} stopped (tasks ${moved.join(', ')} moved): the chain equal to the batch result in ${Date.now() - t1} ms`);
  }, 150_000);
});

describe('cluster: a query that cannot be split by partition runs as one task', () => {
  it('a topic-pattern view runs as task #0 on one instance, a sink reads it through its changes topic; exactly the batch result across a stop of its owner', async () => {
    const clusterId = uniqueTopic('vs');
    const prefix = uniqueTopic('vs-in');
    const topics = [`${prefix}-a`, `${prefix}-b`];
    const output = uniqueTopic('vs-out');
    await createTopic(brokerList(), topics[0]!, 2);
    await createTopic(brokerList(), topics[1]!, 1);
    await createTopic(brokerList(), output, 1);
    const evs = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ k: `k${(from + i) % 7}`, v: (from + i) % 13, t: topics[(from + i) % 2]! }));
    const send = (xs: ReturnType<typeof evs>) => Promise.all(topics.map((t) => produce(brokerList(), t, xs.filter((x) => x.t === t).map((x) => ({ value: JSON.stringify({ k: x.k, v: x.v }) })))));
    const oracle = (xs: ReturnType<typeof evs>) => {
      const m = new Map<string, { n: number; s: number }>();
      for (const x of xs) { const a = m.get(x.k) ?? { n: 0, s: 0 }; a.n++; a.s += x.v; m.set(x.k, a); }
      return [...m].map(([k, a]) => `${k}|${a.n}|${a.s}`).sort();
    };
    const phase1 = evs(0, 100);
    await send(phase1);
    const insts = await Promise.all(['a', 'b'].map((n, i) => start(clusterId, n, 18_310 + i)));
    const res = await insts[0]!.sql(`CREATE SOURCE sp (k VARCHAR, v BIGINT) WITH (connector = 'kafka', 'topic-pattern' = '${prefix}-.*', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE MATERIALIZED VIEW pat WITH ('checkpoint.interval' = '300 ms') AS SELECT k, COUNT(*) AS n, SUM(v) AS s FROM sp GROUP BY k;
      CREATE SINK pat_out WITH (connector = 'upsert-kafka', topic = '${output}', 'key.format' = 'json', 'value.format' = 'json', 'checkpoint.interval' = '300 ms') AS SELECT k, n, s FROM pat`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const patId = res.body.results[1].queryId as string;
    const outId = res.body.results[2].queryId as string;
    // One task each (pat#0, and pat_out#0 over pat's one-partition changes topic), no whole runner anywhere.
    await waitFor(async () => insts.flatMap((i) => i.tasks()).sort().join() === 'pat#0,pat_out#0', 45_000, 'pat#0 and pat_out#0 placed',
      () => insts.map((i) => `${i.name}: ${i.tasks().join(',')}`).join('; '));
    for (const i of insts) for (const id of [patId, outId]) expect(i.service.engine.runner(id), i.name).toBeUndefined();
    expect((await insts[0]!.get(`/v1/queries/${patId}`)).body.placement).toMatch(/reads a topic pattern.*: runs as one task pat#0 that reads every partition\)$/);
    const sinkRows = async (): Promise<string[]> => {
      const m = new Map<string, string>();
      for (const r of await readCommittedRecords(brokerList(), output, 0)) {
        if (r.value === null) { m.delete(r.key!); continue; }
        const o = JSON.parse(r.value) as { k: string; n: number; s: number };
        m.set(r.key!, `${o.k}|${o.n}|${o.s}`);
      }
      return [...m.values()].sort();
    };
    const viewRows = async (from: readonly Instance[]) => {
      const rows: string[] = [];
      for (const i of from) rows.push(...((await i.get('/v1/views/pat?local=true')).body.rows as { k: string; n: number; s: number }[]).map((x) => `${x.k}|${x.n}|${x.s}`));
      return rows.sort();
    };
    let seen = '';
    const settle = (from: readonly Instance[], want: string[], what: string) => waitFor(async () => {
      const [v, o] = [await viewRows(from), await sinkRows()];
      seen = `pat ${JSON.stringify(v)}, pat_out ${JSON.stringify(o)}, want ${JSON.stringify(want)}`;
      return JSON.stringify(v) === JSON.stringify(want) && JSON.stringify(o) === JSON.stringify(want);
    }, 45_000, what, () => seen);
    await settle(insts, oracle(phase1), 'phase 1');
    // The owner of pat#0 stops; more input; the task resumes on the other instance from its committed state.
    const owner = insts.find((i) => i.tasks().includes('pat#0'))!;
    const other = insts.find((i) => i !== owner)!;
    await send(evs(100, 140));
    await owner.stop();
    await send(evs(140, 200));
    await waitFor(async () => other.tasks().join() === 'pat#0,pat_out#0', 45_000, 'both tasks on the survivor');
    await settle([other], oracle(evs(0, 200)), 'all input after the stop');
  }, 120_000);
});
