/**
 * GET /v1/cluster (issue 17) end to end on the real broker: three services with one CLUSTER_ID in this
 * process (each its own data directory and advertised address), over HTTP (app.inject). After a
 * CREATE of a query over a 6-partition topic every instance lists the same three members with their
 * addresses and the 6 tasks spread 2/2/2; when one instance stops, the others list two alive members
 * with the tasks 3/3 (the time is printed); metrics carry the instance label; without CLUSTER_ID the
 * route answers 404 and metrics have no instance label. Also the dashboard panel's rendering.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
// @ts-expect-error: a plain ES module of the dashboard (web/), no type declarations
import { renderCluster } from '../../web/cluster-render.js';
import { killAll, startChild } from '../fault/child-service.ts';
import { clusterInstances, type ClusterInstance } from './instances.ts';
import { brokerList, brokers, uniqueTopic } from '../helpers/kafka.ts';

interface Instance extends ClusterInstance {
  /** Tasks handed to the engine's `onAssignment`, latest last. */
  readonly assigned: string[][];
  engineTasks(): { id: string; parts: readonly { topic: string; partition: number }[] }[];
}

const cluster = clusterInstances();
afterEach(async () => { await killAll(); await cluster.cleanup(); });

async function start(clusterId: string | undefined, name: string, port: number): Promise<Instance> {
  const assigned: string[][] = [];
  const inst = await cluster.start({ clusterId, name, port, prefix: 'streamsql-cs', config: { clusterSessionTimeoutMs: 6000, onAssignment: (tasks) => { assigned.push(tasks.map((t) => t.id)); } } });
  return Object.assign(inst, { assigned, engineTasks: () => [...(inst.service.engine.cluster?.()?.tasks ?? [])] });
}

async function waitFor<T>(f: () => Promise<T | null>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** instance id → [address, sorted tasks] of the alive members, when this answer has exactly `n` of them. */
function aliveView(body: any, n: number): Map<string, [string, string[]]> | null {
  const alive = (body.members as any[]).filter((m) => m.alive);
  if (alive.length !== n) return null;
  return new Map(alive.map((m) => [m.id, [m.address, [...m.tasks].sort()]]));
}

describe('GET /v1/cluster', () => {
  it('lists the members, their addresses and tasks on every instance; a stopped instance\'s tasks move to the others', async () => {
    const clusterId = uniqueTopic('cs');
    const topic = uniqueTopic('cs-in');
    await createTopic(brokerList(), topic, 6);
    await produce(brokerList(), topic, Array.from({ length: 60 }, (_, i) => ({ key: String(i), value: JSON.stringify({ k: i % 7, v: i, ts: 1000 + i }) })));
    const names = ['a', 'b', 'c'];
    const insts = await Promise.all(names.map((n, i) => start(clusterId, n, 18_100 + i)));
    const [a, b, c] = insts as [Instance, Instance, Instance];

    const src = await a.sql(`CREATE SOURCE s (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest')`);
    expect(src.status, JSON.stringify(src.body)).toBe(200);
    const t0 = Date.now();
    const mv = await b.sql(`CREATE MATERIALIZED VIEW totals WITH ('checkpoint.interval' = '200 ms') AS SELECT k, SUM(v) AS total FROM s GROUP BY k`);
    expect(mv.status, JSON.stringify(mv.body)).toBe(200);
    const queryId = mv.body.results[0].queryId as string;
    const allTasks = Array.from({ length: 6 }, (_, p) => `totals#${p}`);

    // Every instance answers the same three members, each with its address and 2 of the 6 tasks.
    const views = await waitFor(async () => {
      const out: { i: Instance; body: any; v: Map<string, [string, string[]]> }[] = [];
      for (const i of insts) {
        const r = await i.get('/v1/cluster');
        if (r.status !== 200) throw new Error(JSON.stringify(r.body));
        const v = aliveView(r.body, 3);
        if (!v || ![...v.values()].every(([, ts]) => ts.length === 2)) return null;
        out.push({ i, body: r.body, v });
      }
      const key = (v: Map<string, unknown>) => JSON.stringify([...v].sort());
      return out.every((o) => key(o.v) === key(out[0]!.v)) ? out : null;
    }, 40_000, 'every instance listing 3 members with 2 tasks each');
    console.log(`CREATE → 6 tasks over 3 members, seen by all 3: ${Date.now() - t0} ms`);
    for (const { i, body, v } of views) {
      expect(body.clusterId).toBe(clusterId);
      expect(body.instance).toBe(i.id);
      expect([...v.keys()].sort()).toEqual(insts.map((x) => x.id).sort());
      insts.forEach((x, k) => expect(v.get(x.id!)![0]).toBe(`http://127.0.0.1:${18_100 + k}`));
      expect([...v.values()].flatMap(([, ts]) => ts).sort()).toEqual([...allTasks].sort());
      expect(body.queries).toHaveLength(1);
      expect(body.queries[0]).toMatchObject({ name: 'totals', id: queryId });
      const lag = body.queries[0].lag;
      expect(lag === null || (Number.isInteger(lag) && lag >= 0 && lag <= 60), `lag ${lag}`).toBe(true);
    }
    const before = views[0]!.v;
    // The engine's own assignment (engine.cluster().tasks, onAssignment) is what the others see it own, with its partitions.
    for (const i of insts) {
      const mine = i.engineTasks();
      expect(mine.map((t) => t.id).sort()).toEqual(before.get(i.id!)![1]);
      for (const t of mine) expect(t.parts).toEqual([{ topic, partition: Number(t.id.split('#')[1]) }]);
      expect([...i.assigned.at(-1)!].sort()).toEqual(before.get(i.id!)![1]);
    }

    // Metrics: every series carries this instance's label.
    const metrics = await a.get('/metrics');
    expect(metrics.status).toBe(200);
    const series = String(metrics.body).split('\n').filter((l) => l && !l.startsWith('#'));
    expect(series.length).toBeGreaterThan(10);
    for (const l of series) expect(l, l).toContain(`instance="${a.id}"`);
    expect(String(metrics.body)).toMatch(new RegExp(`streamsql_cluster_members_alive\\{instance="${a.id}"\\} 3`));
    expect(String(metrics.body)).toMatch(new RegExp(`streamsql_cluster_tasks\\{instance="${a.id}"\\} 2`));

    // b stops: a and c list two alive members, 3 tasks each, b's tasks only moved.
    const t1 = Date.now();
    await b.stop();
    const after = await waitFor(async () => {
      const out: Map<string, [string, string[]]>[] = [];
      for (const i of [a, c]) {
        const r = await i.get('/v1/cluster');
        const v = aliveView(r.body, 2);
        if (!v || ![...v.values()].every(([, ts]) => ts.length === 3)) return null;
        expect(r.body.members.find((m: any) => m.id === b.id)).toMatchObject({ alive: false, tasks: [] });
        out.push(v);
      }
      return JSON.stringify([...out[0]!].sort()) === JSON.stringify([...out[1]!].sort()) ? out[0]! : null;
    }, 15_000, 'a and c listing 2 alive members with 3 tasks each');
    const moveMs = Date.now() - t1;
    console.log(`stop of one instance → survivors list 2 members with 3/3 tasks: ${moveMs} ms`);
    expect([...after.values()].flatMap(([, ts]) => ts).sort()).toEqual([...allTasks].sort());
    for (const id of [a.id!, c.id!]) for (const t of before.get(id)![1]) expect(after.get(id)![1]).toContain(t); // sticky
  }, 90_000);

  it('kill -9 of an instance: the others list it dead and take its tasks after the session timeout', async () => {
    const clusterId = uniqueTopic('csk');
    const topic = uniqueTopic('csk-in');
    await createTopic(brokerList(), topic, 6);
    const [a, c] = await Promise.all([start(clusterId, 'a', 18_300), start(clusterId, 'c', 18_302)]);
    // b in its own process (test/fixtures/fault-service.ts), configured by the environment as `npm start` is.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'streamsql-cs-b-'));
    cluster.track(dir);
    const bId = `b-${clusterId}`;
    const saved = { ...process.env };
    Object.assign(process.env, { CLUSTER_ID: clusterId, INSTANCE_ID: bId, ADVERTISED_URL: 'http://127.0.0.1:18301', CLUSTER_SESSION_TIMEOUT_MS: '6000' });
    const child = startChild({ dataDir: dir, brokers: brokers(), timeoutMs: 60_000 }); // its env is taken now
    for (const k of ['CLUSTER_ID', 'INSTANCE_ID', 'ADVERTISED_URL', 'CLUSTER_SESSION_TIMEOUT_MS']) { if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k]; }
    const b = await child;
    const mv = await a.sql(`CREATE SOURCE s (k BIGINT, v BIGINT) WITH (connector = 'kafka', topic = '${topic}', format = 'json'); CREATE MATERIALIZED VIEW m AS SELECT k, COUNT(*) AS n FROM s GROUP BY k`);
    expect(mv.status, JSON.stringify(mv.body)).toBe(200);
    await waitFor(async () => {
      for (const i of [a, c]) {
        const v = aliveView((await i.get('/v1/cluster')).body, 3);
        if (!v || v.get(bId)?.[0] !== 'http://127.0.0.1:18301' || ![...v.values()].every(([, ts]) => ts.length === 2)) return null;
      }
      return true;
    }, 40_000, 'a and c listing 3 members (b in its own process) with 2 tasks each');
    const t0 = Date.now();
    await b.kill('SIGKILL');
    await waitFor(async () => {
      for (const i of [a, c]) {
        const r = await i.get('/v1/cluster');
        const v = aliveView(r.body, 2);
        if (!v || ![...v.values()].every(([, ts]) => ts.length === 3)) return null;
        expect(r.body.members.find((m: any) => m.id === bId)).toMatchObject({ alive: false, tasks: [] });
      }
      return true;
    }, 20_000, 'a and c listing 2 alive members with 3 tasks each after the kill');
    const ms = Date.now() - t0;
    console.log(`kill -9 of one instance (session timeout 6 s) → survivors list 2 members with 3/3 tasks: ${ms} ms`);
    expect(ms).toBeGreaterThan(3000); // no LeaveGroup: the coordinator waited for the session timeout
  }, 120_000);

  it('answers 404 without CLUSTER_ID, and metrics have no instance label', async () => {
    const single = await start(undefined, 'single', 18_200);
    const r = await single.get('/v1/cluster');
    expect(r.status).toBe(404);
    expect(r.body.error.message).toMatch(/not in cluster mode/);
    const m = await single.get('/metrics');
    expect(m.status).toBe(200);
    expect(String(m.body)).not.toContain('instance=');
    expect(String(m.body)).not.toContain('streamsql_cluster_');
    const doc = (await single.get('/docs/json')).body;
    expect(Object.keys(doc.paths['/v1/cluster'].get.responses)).toEqual(expect.arrayContaining(['200', '4XX']));
  });

  it('the dashboard panel renders members, tasks and lag (escaped), and nothing without a cluster', () => {
    const html: string = renderCluster({
      clusterId: 'c1', instance: 'a',
      members: [
        { id: 'a', address: 'http://h:1', alive: true, tasks: ['q#0', 'q#1'] },
        { id: 'b<x>', address: null, alive: false, tasks: [] },
      ],
      queries: [{ name: 'q', id: 'id-1', lag: 42 }, { name: 'r', id: 'id-2', lag: null }],
    });
    expect(html).toContain('c1');
    expect(html).toContain('http://h:1');
    expect(html).toContain('q#0, q#1');
    expect(html).toContain('b&lt;x&gt;');
    expect(html).not.toContain('b<x>');
    expect(html).toMatch(/data-alive="true"[^]*data-alive="false"/);
    expect(html).toMatch(/q<\/td><td[^>]*>42</);
    expect(html).toMatch(/r<\/td><td[^>]*>–</);
    expect(renderCluster(null)).toBe('');
  });
});
