/**
 * An exactly-once Kafka sink on another Kafka cluster than its source (a second real broker, started
 * here): one transaction spans one cluster, so the epoch's transaction is on the sink's cluster and
 * carries the records with the epoch tag on the sink's own topic (TxnOffsetCommit for the source's
 * topics would be refused there: the sink's cluster does not have them); the source's offsets go to
 * the source cluster's group after each epoch (connectors/kafka/sink.ts `positionsElsewhere`).
 *
 * - One instance, no cluster: rows reach the other cluster once each, across a restart.
 * - A cluster of two instances (child processes): such a sink runs as one task whose state topic and
 *   transactional id are on the sink's cluster (queries/cluster/task-runner.ts `stateClusterOf`); kill -9
 *   of the instance running it moves it to the other, which restores its window state from there: the
 *   sink, read read_committed, equals the batch computation exactly. The same the other way round: the
 *   source on the other cluster, the sink and the task's state on the service's.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce, produceTransaction, readTopic, type ProduceMessage } from '../../connectors/kafka/admin.ts';
import { startLocalBroker, type LocalBroker } from '../../connectors/kafka/local-broker.ts';
import { readCommittedRecords } from '../../connectors/kafka/state-topic.ts';
import { createKafka } from '../../connectors/kafka/client.ts';
import { brokerList, brokers, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor } from '../helpers/service.ts';
import { processInstances, type ProcessInstance } from './instance-process.ts';

let other: LocalBroker;
const t0 = Date.now();
const procs = processInstances(t0);
let failed = false;
afterEach((ctx) => { if (ctx.task.result?.state === 'fail') failed = true; });

beforeAll(async () => {
  other = await startLocalBroker({ heapMb: 256 });
  // A fresh broker loads its transaction and offsets topics at first use: warm both, on both brokers.
  for (const b of [[other.bootstrap], brokerList()]) {
    const warm = uniqueTopic('oc-warm');
    await produceTransaction(b, warm, [{ value: 'x' }], false);
    await readTopic(b, warm, { idleMs: 200 });
  }
}, 120_000);
afterAll(async () => {
  await procs.cleanup(failed);
  await other?.stop();
});

const committed = async (topic: string): Promise<string[]> => (await readCommittedRecords([other.bootstrap], topic, 0)).map((r) => r.value!);


describe('an exactly-once sink on another Kafka cluster', () => {
  it('one instance: every row once on the other cluster, across a restart; the source group on its own cluster advances', async () => {
    const src = uniqueTopic('oc-in'); const out = uniqueTopic('oc-out');
    await createTopic(brokerList(), src, 2);
    const rows = (from: number, n: number): ProduceMessage[] => Array.from({ length: n }, (_, i) => ({ partition: (from + i) % 2, value: JSON.stringify({ id: from + i, page: `/p${(from + i) % 3}` }) }));
    await produce(brokerList(), src, rows(0, 30));
    let svc = await startTestService();
    const dataDir = svc.dataDir;
    try {
      const r = await svc.sql(`CREATE SOURCE oc_in (id BIGINT, page VARCHAR) WITH (connector = 'kafka', topic = '${src}', format = 'json', 'scan.startup.mode' = 'earliest');
        CREATE SINK oc_out WITH (connector = 'kafka', topic = '${out}', format = 'json', 'properties.bootstrap.servers' = '${other.bootstrap}', 'checkpoint.interval' = '200 ms') AS SELECT id, page FROM oc_in`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const id = r.body.results[1].queryId as string;
      const status = async () => (await svc.get(`/v1/queries/${id}`)).body;
      await waitFor(async () => (await committed(out)).length >= 30, 30_000, '30 rows on the other cluster');
      // A fresh broker's coordinators may fail an epoch's first attempt (retried: the rows below prove no double);
      // the query must be running without an error once the rows are there.
      const st = await waitFor(async () => { const x = await status(); return x.status === 'running' && !x.error ? x : null; }, 15_000, 'oc_out running');
      if (process.env.DEBUG_LOGS) console.log(svc.logs.filter((l) => /checkpoint failed|warn/.test(l)).join('\n'));
      // The source's group, on the source's cluster, has its offsets (committed after the epoch, not in the sink's transaction).
      const admin = createKafka(brokerList(), 'oc-test').admin();
      await admin.connect();
      try {
        await waitFor(async () => {
          const o = await admin.fetchOffsets({ groupId: st.progress.groupId, topics: [src] });
          return o[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0) === 30;
        }, 15_000, 'the source group at 30', () => svc.logs.filter((l) => !l.startsWith('info')).slice(-8).join('\n'));
      } finally { await admin.disconnect(); }

      await svc.close({ keepData: true });
      await produce(brokerList(), src, rows(30, 20));
      svc = await startTestService({ dataDir });
      await waitFor(async () => (await committed(out)).length >= 50, 30_000, '50 rows on the other cluster');
      await new Promise((res) => setTimeout(res, 1000)); // more epochs: nothing written twice
      const ids = (await committed(out)).map((v) => (JSON.parse(v) as { id: number }).id).sort((a, b) => a - b);
      expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => i));
    } finally { await svc.close(); }
  }, 120_000);

  // Both ways across clusters: the sink on the other one (state and transaction there), and the source on the
  // other one (a single task, state on the service's cluster; its epoch tag on the sink's own topic too).
  for (const way of ['sink', 'source'] as const) {
    it(`a cluster, the ${way} on another cluster: one task${way === 'sink' ? " with its state on the sink's cluster" : ''}; kill -9 of its instance, the other resumes it exactly`, async () => {
      const clusterId = uniqueTopic('oc');
      const ev = uniqueTopic('oc-ev'); const out = uniqueTopic('oc-agg');
      const P = 3; const ROUND = 10_000; const T0 = 1_700_000_000_000;
      const srcBrokers = way === 'source' ? [other.bootstrap] : brokerList();
      const outBrokers = way === 'sink' ? [other.bootstrap] : brokerList();
      await createTopic(srcBrokers, ev, P);
      await createTopic(outBrokers, out, 1);
      const env = { CLUSTER_SESSION_TIMEOUT_MS: '6000' };
      const insts = await Promise.all(['a', 'b'].map((name) => procs.start({ clusterId, name, brokers: brokers(), env })));
      const [a, b] = insts as [ProcessInstance, ProcessInstance];
      const elsewhere = `'properties.bootstrap.servers' = '${other.bootstrap}', `;
      const r = await a.sql(`CREATE SOURCE oc_ev (k VARCHAR, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
          WITH (connector = 'kafka', topic = '${ev}', format = 'json', ${way === 'source' ? elsewhere : ''}'scan.startup.mode' = 'earliest');
        CREATE SINK oc_agg WITH (connector = 'kafka', topic = '${out}', format = 'json', ${way === 'sink' ? elsewhere : ''}'checkpoint.interval' = '300 ms') AS
          SELECT window_start, k, COUNT(*) AS n, SUM(v) AS s FROM TUMBLE(oc_ev, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, k EMIT ON WINDOW CLOSE`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const id = r.body.results[1].queryId as string;
      const placement = await waitFor(async () => (await b.get(`/v1/queries/${id}`)).body.placement as string | undefined, 15_000, 'the sink placed on b');
      expect(placement).toMatch(way === 'sink' ? /its sink writes to another Kafka cluster.*runs as one task oc_agg#0/ : /reads another Kafka cluster.*runs as one task oc_agg#0/);

      const sent: { k: string; v: number; ts: number }[] = [];
      const round = async (n: number) => {
        const evs = Array.from({ length: 30 }, (_, j) => ({ k: `k${j % 4}`, v: n * 100 + j, ts: T0 + n * ROUND + j * 300, p: j % P }));
        sent.push(...evs);
        await produce(srcBrokers, ev, evs.map((e) => ({ partition: e.p, value: JSON.stringify({ k: e.k, v: e.v, ts: new Date(e.ts).toISOString() }) })));
      };
      const oracle = (upTo: number) => {
        const m = new Map<string, { n: number; s: number }>();
        for (const e of sent) {
          const ws = e.ts - (e.ts % ROUND);
          if (ws >= upTo) continue;
          const key = `${e.k}|${ws}`;
          const x = m.get(key) ?? { n: 0, s: 0 };
          x.n++; x.s += e.v; m.set(key, x);
        }
        return [...m].map(([k, x]) => `${k}|${x.n}|${x.s}`).sort();
      };
      const got = async () => (await readCommittedRecords(outBrokers, out, 0)).map((x) => {
        const o = JSON.parse(x.value!) as { k: string; window_start: string; n: number; s: number };
        return `${o.k}|${Date.parse(o.window_start)}|${o.n}|${o.s}`;
      }).sort();

      for (let n = 0; n < 3; n++) await round(n);
      await waitFor(async () => JSON.stringify(await got()) === JSON.stringify(oracle(T0 + 2 * ROUND)), 60_000, 'windows 0-1 in the sink');
      // The task's state topic is on the sink's cluster.
      const admin = createKafka(outBrokers, 'oc-test').admin();
      await admin.connect();
      try { expect((await admin.listTopics()).some((t) => t.startsWith(`_streamsql-${clusterId}-oc_agg`) && t.endsWith('-state'))).toBe(true); } finally { await admin.disconnect(); }

      const owner = async (via: ProcessInstance) => ((await via.get('/v1/cluster')).body.members as { id: string; alive: boolean; tasks: string[] }[]).find((m) => m.alive && m.tasks.includes('oc_agg#0'))?.id;
      const ownerId = await waitFor(() => owner(a), 30_000, 'an owner of oc_agg#0');
      const victim = insts.find((i) => i.id === ownerId)!;
      const survivor = victim === a ? b : a;
      await victim.kill();
      await round(3); await round(4);
      await waitFor(async () => (await owner(survivor)) === survivor.id, 30_000, 'oc_agg#0 on the survivor');
      await waitFor(async () => JSON.stringify(await got()) === JSON.stringify(oracle(T0 + 4 * ROUND)), 60_000, 'windows 0-3 after the move');
      await new Promise((res) => setTimeout(res, 1500)); // more epochs: nothing written twice
      expect(await got()).toEqual(oracle(T0 + 4 * ROUND));
      await Promise.all([a, b].map((i) => i.kill()));
    }, 180_000);
  }
});
