/**
 * The catalog shared through the command log (issue 17), end to end on the real broker: services with
 * one CLUSTER_ID, each its own data directory, in this process, over HTTP (app.inject). DDL sent to any
 * instance reaches every instance in one order, refusals are the single-instance ones (4xx with
 * line:column), DROP propagates, a late instance replays the log, and a restart with a stale
 * catalog.json converges on the log. Timings are printed (propose → applied on every instance).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
import { createEngine } from '../../queries/engine.ts';
import { queryDir } from '../../queries/runner.ts';
import { clusterInstances, type ClusterInstance } from './instances.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';

interface Instance extends ClusterInstance { position(): number }

const cluster = clusterInstances();
afterEach(() => cluster.cleanup());

async function start(clusterId: string | undefined, name: string, dataDir?: string): Promise<Instance> {
  const inst = await cluster.start({ clusterId, name, dataDir, prefix: 'streamsql-cc' });
  return Object.assign(inst, { position: () => inst.service.engine.cluster?.()?.position ?? -1 });
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until every instance has applied the log as far as the furthest one. */
async function converged(insts: readonly Instance[]): Promise<void> {
  const target = Math.max(...insts.map((i) => i.position()));
  await waitFor(() => insts.every((i) => i.position() >= target), 15_000, `every instance at command offset ${target}`);
}

/**
 * What an instance says its catalog is: SHOW of every kind, DESCRIBE of every object, GET /v1/catalog.
 * Not SHOW QUERIES: which runners run on an instance is its own (tasks, the owner of a task #0).
 */
async function catalogOf(i: Instance): Promise<unknown> {
  const show: Record<string, unknown> = {};
  for (const what of ['SOURCES', 'VIEWS', 'SINKS']) {
    const r = await i.sql(`SHOW ${what}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    show[what] = r.body.results[0].rows;
  }
  const describes: Record<string, unknown> = {};
  for (const o of i.service.engine.objects()) describes[o.name] = (await i.sql(`DESCRIBE ${o.name}`)).body.results[0].rows;
  return { order: i.service.engine.objects().map((o) => o.name), show, describes, catalog: (await i.get('/v1/catalog')).body };
}

const cachedNames = (i: Instance) => JSON.parse(readFileSync(path.join(i.dataDir, 'catalog.json'), 'utf8')).objects.map((o: any) => `${o.kind}:${o.name}:${o.queryId ?? ''}`);

const source = (name: string, topic: string) =>
  `CREATE SOURCE ${name} (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest')`;

describe('the catalog shared through the command log', () => {
  it('DDL on any instance shows on every instance; refusals are identical; DROP propagates', async () => {
    const clusterId = uniqueTopic('cc');
    const topic = uniqueTopic('cc-in');
    await createTopic(brokerList(), topic, 2);
    await produce(brokerList(), topic, [
      { key: null, value: JSON.stringify({ k: 1, v: 10, ts: 1000 }) },
      { key: null, value: JSON.stringify({ k: 1, v: 20, ts: 2000 }) },
      { key: null, value: JSON.stringify({ k: 2, v: 5, ts: 3000 }) },
    ]);
    const insts = await Promise.all(['a', 'b', 'c'].map((n) => start(clusterId, n)));
    const [a, b, c] = insts as [Instance, Instance, Instance];

    // A source on a, a materialized view over it on b, a view on c.
    const latencies: number[] = [];
    const timed = async (i: Instance, sql: string) => {
      const t0 = performance.now();
      const r = await i.sql(sql);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const answered = performance.now() - t0;
      await converged(insts);
      latencies.push(performance.now() - t0);
      return { r, answered };
    };
    const s1 = await timed(a, source('s', topic));
    expect(s1.r.body.results).toEqual([{ statement: 'CREATE SOURCE', name: 's', message: 'source s created' }]);
    const mv = await timed(b, `CREATE MATERIALIZED VIEW totals WITH ('checkpoint.interval' = '200 ms') AS SELECT k, SUM(v) AS total FROM s GROUP BY k`);
    const queryId = mv.r.body.results[0].queryId;
    expect(queryId).toMatch(/^[0-9a-f-]{36}$/);
    await timed(c, `CREATE VIEW big AS SELECT k, v FROM s WHERE v > 10; SHOW VIEWS`);

    const first = await catalogOf(a);
    expect(await catalogOf(b)).toEqual(first);
    expect(await catalogOf(c)).toEqual(first);
    expect((first as any).order).toEqual(['s', 'totals', 'big']);
    // Every instance lists the view's query under the one id the command gave it; it runs as tasks re-keyed
    // through a repartition topic (GROUP BY k over an unkeyed topic): its 2 keys are in the tasks' tables, each
    // once over the instances (these instances do not listen: each reads its own share, `?local=true`).
    for (const i of insts) {
      expect(i.service.engine.queries().map((q) => q.id)).toEqual([queryId]);
      expect(cachedNames(i)).toEqual(cachedNames(a));
    }
    await waitFor(async () => {
      const keys = (await Promise.all(insts.map(async (i) => ((await i.get('/v1/views/totals?local=true')).body.rows ?? []) as { k: number }[]))).flat().map((r) => r.k).sort();
      return keys.length === 2 && keys[0] !== keys[1];
    }, 30_000, 'totals\' 2 keys over the instances');

    // Refusals: on every instance the status, message and line:column a single instance (no CLUSTER_ID,
    // the same catalog) gives, and nothing is appended.
    const solo = await start(undefined, 'solo');
    for (const sql of [source('s', topic), 'CREATE MATERIALIZED VIEW totals AS SELECT k, SUM(v) AS total FROM s GROUP BY k', 'CREATE VIEW big AS SELECT k, v FROM s WHERE v > 10']) {
      expect((await solo.sql(sql)).status).toBe(200);
    }
    expect(solo.service.engine.cluster?.()).toBeNull();
    const before = a.position();
    const refusals = [
      source('s', topic),
      'CREATE VIEW w AS\n  SELECT nope FROM s',
      'DROP SOURCE s', // totals and big depend on it
      'CREATE SOURCE x (a INT) WITH (connector = \'kafka\', topic = \'t\', format = \'json\'); SELECT * FROM s EMIT CHANGES',
      'CREATE VIEW big2 AS SELECT k FROM s; DROP VIEW nope',
    ];
    for (const sql of refusals) {
      const expected = await solo.sql(sql);
      expect(expected.status, sql).toBeGreaterThanOrEqual(400);
      expect(expected.status, sql).toBeLessThan(500);
      const answers = await Promise.all(insts.map((i) => i.sql(sql)));
      for (const r of answers) expect({ status: r.status, body: r.body }, sql).toEqual({ status: expected.status, body: expected.body });
    }
    await solo.stop();
    const withLine = (await b.sql('CREATE VIEW w AS\n  SELECT nope FROM s')).body.error;
    expect(withLine).toMatchObject({ line: 2 });
    expect(withLine.column).toBeGreaterThan(1);
    expect([a.position(), b.position(), c.position()]).toEqual([before, before, before]);
    expect(a.service.engine.objects().map((o) => o.name)).toEqual(['s', 'totals', 'big']);

    // DROP on c: gone everywhere, its query stopped and its checkpoints deleted on every instance.
    const dropped = await timed(c, 'DROP MATERIALIZED VIEW totals');
    expect(dropped.r.body.results[0]).toMatchObject({ statement: 'DROP', name: 'totals' });
    for (const i of insts) {
      expect(i.service.engine.objects().map((o) => o.name)).toEqual(['s', 'big']);
      expect(i.service.engine.queries()).toEqual([]);
      expect((await i.get('/v1/views/totals')).status).toBe(404);
      await waitFor(() => !existsSync(queryDir(i.dataDir, queryId)), 10_000, `checkpoints of ${queryId} removed on ${i.name}`);
    }
    // DELETE /v1/queries/:id is a DROP through the log too.
    const mv2 = await timed(a, `CREATE MATERIALIZED VIEW n WITH ('checkpoint.interval' = '200 ms') AS SELECT k, COUNT(*) AS c FROM s GROUP BY k`);
    const del = await b.service.engine.stopQuery(mv2.r.body.results[0].queryId);
    expect(del).toBe(true);
    await converged(insts);
    for (const i of insts) expect(i.service.engine.objects().map((o) => o.name)).toEqual(['s', 'big']);

    // The first proposal on a fresh broker also waits for __transaction_state to be created and loaded.
    const rest = latencies.slice(1).sort((x, y) => x - y);
    console.log(`[cluster-catalog] POST /v1/sql → applied on 3 instances: first ${latencies[0]!.toFixed(0)} ms (answered ${s1.answered.toFixed(0)}), then ${latencies.slice(1).map((x) => x.toFixed(0)).join(', ')} ms (median ${rest[rest.length >> 1]!.toFixed(0)}; CREATE MATERIALIZED VIEW answered after ${mv.answered.toFixed(0)} ms)`);
  });

  it('concurrent DDL from two instances applies in one order everywhere; a late instance replays it', async () => {
    const clusterId = uniqueTopic('cc-conc');
    const [a, b] = await Promise.all([start(clusterId, 'a'), start(clusterId, 'b')]);
    const N = 3;
    const t0 = performance.now();
    const answers = await Promise.all([
      (async () => { const out = []; for (let i = 0; i < N; i++) out.push(await a.sql(source(`a${i}`, 'ta'))); return out; })(),
      (async () => { const out = []; for (let i = 0; i < N; i++) out.push(await b.sql(source(`b${i}`, 'tb'))); return out; })(),
      a.sql(source('both', 'x')),
      b.sql(source('both', 'y')),
    ]);
    const ms = performance.now() - t0;
    for (const r of [...answers[0], ...answers[1]]) expect(r.status, JSON.stringify(r.body)).toBe(200);
    // Of two equal CREATEs one wins, the other is the single-instance conflict.
    expect([answers[2].status, answers[3].status].sort()).toEqual([200, 400]);
    expect([answers[2].body, answers[3].body].find((x) => x.error)?.error).toMatchObject({ message: "source 'both' already exists", line: 1, column: 15 });
    await converged([a, b]);
    const order = a.service.engine.objects().map((o) => o.name);
    expect(order).toHaveLength(2 * N + 1);
    expect(b.service.engine.objects().map((o) => o.name)).toEqual(order);
    expect(await catalogOf(b)).toEqual(await catalogOf(a));
    // Each instance's own statements stay in the order it sent them.
    expect(order.filter((n) => n.startsWith('a'))).toEqual(['a0', 'a1', 'a2']);
    expect(order.filter((n) => n.startsWith('b') && n !== 'both')).toEqual(['b0', 'b1', 'b2']);

    const t1 = performance.now();
    const late = await start(clusterId, 'late');
    const replayMs = performance.now() - t1;
    expect(late.position()).toBe(a.position());
    expect(await catalogOf(late)).toEqual(await catalogOf(a));
    expect(cachedNames(late)).toEqual(cachedNames(a));
    console.log(`[cluster-catalog] ${2 * N + 2} concurrent CREATEs from 2 instances: ${ms.toFixed(0)} ms; a late instance started and replayed ${late.position()} offsets in ${replayMs.toFixed(0)} ms`);
  });

  it('a restart with a stale catalog.json converges on the log; queries resume under their ids', async () => {
    const clusterId = uniqueTopic('cc-restart');
    const [a, b] = await Promise.all([start(clusterId, 'a'), start(clusterId, 'b')]);
    const goneTopic = uniqueTopic('cc-gone');
    await createTopic(brokerList(), goneTopic, 1);
    expect((await a.sql(`${source('s', 'ts')}; CREATE MATERIALIZED VIEW keep WITH ('checkpoint.interval' = '200 ms') AS SELECT k, COUNT(*) AS n FROM s GROUP BY k;
      CREATE SINK gone WITH (connector = 'kafka', topic = '${goneTopic}', format = 'json') AS SELECT k, v FROM s`)).status).toBe(200);
    await converged([a, b]);
    const goneId = b.service.engine.queries().find((q) => q.name === 'gone')!.id;
    const keepId = b.service.engine.queries().find((q) => q.name === 'keep')!.id;
    const bDir = b.dataDir;
    const keepDirBefore = existsSync(queryDir(bDir, keepId));
    await b.stop();
    // While b is away: a drop, a create.
    expect((await a.sql('DROP SINK gone; CREATE VIEW v2 AS SELECT k FROM s')).status).toBe(200);
    expect(cachedNames(b)).toContain(`sink:gone:${goneId}`); // b's cache is stale
    const b2 = await start(clusterId, 'b2', bDir);
    expect(b2.position()).toBe(a.position());
    expect(await catalogOf(b2)).toEqual(await catalogOf(a));
    expect(cachedNames(b2)).toEqual(cachedNames(a));
    expect(b2.service.engine.queries().map((q) => q.id)).toEqual([keepId]);
    expect(existsSync(queryDir(bDir, keepId))).toBe(keepDirBefore);
    expect(b2.logs.some((l) => l.includes('gone was dropped from the cluster'))).toBe(true);

    // A data directory from before the cluster: its objects are not the cluster's (left out, with a warning),
    // their checkpoints are kept.
    const solo = await start(undefined, 'pre');
    expect((await solo.sql(`${source('old_s', 'to')}; CREATE MATERIALIZED VIEW old_v AS SELECT k, COUNT(*) AS n FROM old_s GROUP BY k`)).status).toBe(200);
    const oldId = solo.service.engine.queries()[0]!.id;
    await solo.stop();
    const joined = await start(clusterId, 'joined', solo.dataDir);
    expect(await catalogOf(joined)).toEqual(await catalogOf(a));
    expect(joined.logs.some((l) => l.includes(`old_v of ${path.join(solo.dataDir, 'catalog.json')} is not in the cluster's command log`))).toBe(true);
    expect(existsSync(queryDir(solo.dataDir, oldId))).toBe(true);
  });

  it('runQuery: an instance may keep a query in its catalog without running it', async () => {
    const clusterId = uniqueTopic('cc-hook');
    const a = await start(clusterId, 'a');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'streamsql-cc-hook-'));
    cluster.track(dir);
    const asked: string[] = [];
    const engine = createEngine({
      brokers: brokerList(), dataDir: dir, log: () => undefined, cluster: { clusterId },
      runQuery: (name) => { asked.push(name); return name !== 'off'; },
    });
    await engine.start();
    try {
      expect((await a.sql(`${source('s', 'th')}; CREATE MATERIALIZED VIEW off AS SELECT k, COUNT(*) AS n FROM s GROUP BY k; CREATE MATERIALIZED VIEW on1 AS SELECT k, SUM(v) AS t FROM s GROUP BY k`)).status).toBe(200);
      await waitFor(() => (engine.cluster?.()?.position ?? 0) >= a.position(), 10_000, 'the hooked engine to apply');
      expect(engine.objects().map((o) => o.name)).toEqual(['s', 'off', 'on1']);
      expect(asked).toEqual(['off', 'on1']);
      expect(engine.queries().map((q) => q.name)).toEqual(['on1']);
      expect(engine.table('off')).toBeUndefined();
      // A DROP from the hooked engine goes through the log like any other.
      const r = await engine.execute('DROP MATERIALIZED VIEW off');
      expect(r[0]).toMatchObject({ statement: 'DROP', name: 'off' });
      // `a` must reach the hooked engine's position (the DROP), not only its own.
      const dropAt = engine.cluster?.()?.position ?? 0;
      await waitFor(() => a.position() >= dropAt, 15_000, `a at command offset ${dropAt}`);
      expect(a.service.engine.objects().map((o) => o.name)).toEqual(['s', 'on1']);
    } finally {
      await engine.close();
    }
  });
});
