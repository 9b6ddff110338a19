/**
 * A view run as tasks, read whole on any instance (issue 17, queries/cluster/view-gather.ts), on the real
 * broker: three services with one CLUSTER_ID in this process, each listening on its own loopback port (they
 * call each other over HTTP). A COUNT/SUM per record key over a 6-partition topic runs as 6 tasks spread over
 * the instances; GET /v1/views/<v> on each instance returns the whole view, equal to the batch computation.
 * A SQL pull query over the view on any instance reads it whole as well (also in a request that changes the
 * catalog), and so does psql's SUBSCRIBE on one instance's PostgreSQL port. An SSE client on one instance follows the view's change feed while another instance first stops answering
 * HTTP (a GET then says `partial` and names the missing tasks and the silent instance) and then stops, its
 * tasks moving to the others: the client's rows, rebuilt from the events (a snapshot replaces them), end
 * equal to the batch computation, and no key's count ever goes back (nothing stale or doubled in between).
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTopic, produce, type ProduceMessage } from '../../connectors/kafka/admin.ts';
import { keysByPartition } from './keys.ts';
import { clusterInstances, type ClusterInstance } from './instances.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startPgServer } from '../../server/pg/server.ts';

const P = 6;
const cluster = clusterInstances();
afterEach(() => cluster.cleanup());

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const port = (s.address() as net.AddressInfo).port; s.close(() => resolve(port)); });
  });
}

async function waitFor<T>(f: () => Promise<T | null | undefined | false>, ms: number, what: () => string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Ev { k: string; v: number; p: number }
const events = (keys: string[][], from: number, to: number): Ev[] => {
  const out: Ev[] = [];
  for (let p = 0; p < P; p++) for (let j = from; j < to; j++) out.push({ k: keys[p]![j % 3]!, v: (p * 131 + j * 7) % 101, p });
  return out;
};
const toMessages = (evs: readonly Ev[]): ProduceMessage[] => evs.map((e) => ({ key: e.k, partition: e.p, value: JSON.stringify(e) }));
/** The batch computation: `k|n|s` per key. */
function oracle(evs: readonly Ev[]): string[] {
  const m = new Map<string, { n: number; s: number }>();
  for (const e of evs) { const a = m.get(e.k) ?? { n: 0, s: 0 }; a.n++; a.s += e.v; m.set(e.k, a); }
  return [...m].map(([k, a]) => `${k}|${a.n}|${a.s}`).sort();
}
const asLines = (rows: readonly { k: string; n: number; s: number }[]): string[] => rows.map((r) => `${r.k}|${r.n}|${r.s}`).sort();

/** An SSE client of a view's change feed: its rows rebuilt from the events, and what it saw. */
function follow(url: string) {
  const rows = new Map<string, { k: string; n: number; s: number }>();
  const seen: string[] = [];
  const highest = new Map<string, number>();
  const backwards: string[] = [];
  const ac = new AbortController();
  const see = (r: { k: string; n: number; s: number }) => {
    if ((highest.get(r.k) ?? 0) > r.n) backwards.push(`${r.k}: ${highest.get(r.k)} then ${r.n}`);
    highest.set(r.k, Math.max(highest.get(r.k) ?? 0, r.n));
  };
  const done = (async () => {
    const res = await fetch(url, { signal: ac.signal });
    if (res.status !== 200) throw new Error(`SSE answered ${res.status}: ${await res.text()}`);
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (!event || !data) continue;
        const d = JSON.parse(data);
        seen.push(event);
        if (event === 'snapshot') { rows.clear(); for (const r of d.rows) { rows.set(r.k, r); see(r); } }
        if (event === 'change') { if (d.op === 'delete') rows.delete(d.row.k); else { rows.set(d.row.k, d.row); see(d.row); } }
      }
    }
  })().catch((e: Error) => { if (e.name !== 'AbortError') throw e; });
  return { rows: () => asLines([...rows.values()]), seen, backwards, close: async () => { ac.abort(); await done; } };
}

describe('cluster: a view run as tasks, whole on every instance', () => {
  it('GET on each instance = the batch result; an SSE client sees every change across an instance going silent, then stopping', async () => {
    const clusterId = uniqueTopic('vg');
    const input = uniqueTopic('vg-in');
    await createTopic(brokerList(), input, P);
    const keys = keysByPartition(P);
    const phase1 = events(keys, 0, 100);
    await produce(brokerList(), input, toMessages(phase1));

    const ports = [await freePort(), await freePort(), await freePort()];
    const insts: ClusterInstance[] = await Promise.all(['a', 'b', 'c'].map((name, i) => cluster.start({
      clusterId, name, port: ports[i], listen: true, prefix: 'streamsql-vg', config: { clusterSessionTimeoutMs: 6000 },
    })));
    const [a] = insts as [ClusterInstance, ClusterInstance, ClusterInstance];
    const tasksOf = (i: ClusterInstance) => (i.service.engine.cluster?.()?.tasks ?? []).map((t) => t.id).filter((t) => t.startsWith('per_key#')).sort();
    const created = await a.sql(`CREATE SOURCE ev (k VARCHAR, v BIGINT, p INT)
        WITH (connector = 'kafka', topic = '${input}', format = 'json', 'key.format' = 'raw', 'key.fields' = 'k', 'scan.startup.mode' = 'earliest');
      CREATE MATERIALIZED VIEW per_key WITH ('checkpoint.interval' = '300 ms') AS SELECT k, COUNT(*) AS n, SUM(v) AS s FROM ev GROUP BY k`);
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const t0 = Date.now();

    // Every instance answers the whole view (no `partial`), equal to the batch result.
    let last = '';
    const whole = async (i: ClusterInstance, expected: string[]) => {
      const r = await i.get('/v1/views/per_key');
      last = `${i.name}: ${r.status} partial=${r.body.partial} missing=${JSON.stringify(r.body.missing)} unreachable=${JSON.stringify(r.body.unreachable)} ${r.body.rows?.length} rows; members ${JSON.stringify(i.service.engine.cluster?.()?.members)}; ${JSON.stringify(i.service.engine.queries().map((q) => [q.status, q.placement, q.error]))}`;
      return r.status === 200 && r.body.partial === undefined && JSON.stringify(asLines(r.body.rows)) === JSON.stringify(expected);
    };
    const expected1 = oracle(phase1);
    for (const i of insts) await waitFor(() => whole(i, expected1), 40_000, () => `the whole view on ${i.name} (${last})`);
    console.log(`CREATE → the whole view on all 3 instances: ${Date.now() - t0} ms; tasks ${insts.map((i) => `${i.name} ${tasksOf(i).length}`).join(', ')}`);
    const lat: number[] = [];
    for (let n = 0; n < 10; n++) { const t = performance.now(); await a.get('/v1/views/per_key'); lat.push(performance.now() - t); }
    lat.sort((x, y) => x - y);
    console.log(`a gathered GET (3 instances, ${expected1.length} rows): median ${lat[5]!.toFixed(1)} ms, max ${lat[9]!.toFixed(1)} ms`);
    // Each instance's own share is partial and the shares add up to the view, every task once.
    const shares = await Promise.all(insts.map((i) => i.get('/v1/views/per_key?local=true')));
    expect(shares.every((s) => s.body.partial === true)).toBe(true);
    expect(shares.flatMap((s) => s.body.tasks.map((t: { task: string }) => t.task)).sort()).toEqual(Array.from({ length: P }, (_, p) => `per_key#${p}`).sort());

    // A SQL pull query over the view, on any instance, reads the whole view too.
    for (const i of insts) {
      const q = await i.sql('SELECT k, n, s FROM per_key ORDER BY k; SELECT SUM(n) AS events, COUNT(*) AS keys FROM per_key');
      expect(q.status, JSON.stringify(q.body)).toBe(200);
      expect(asLines(q.body.results[0].rows)).toEqual(expected1);
      expect(q.body.results[1].rows).toEqual([{ events: phase1.length, keys: expected1.length }]);
    }
    // psql's SUBSCRIBE on the PostgreSQL port of one instance: the snapshot is the whole view too.
    const pg = await startPgServer({ engine: insts[2]!.service.engine, port: 0 });
    const child = spawn('stdbuf', ['-o0', 'psql', '-X', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'x', '-c', 'COPY (SUBSCRIBE TO per_key) TO STDOUT'], { env: { ...process.env, PGSSLMODE: 'disable' } });
    let out = '';
    child.stdout.on('data', (d) => { out += String(d); });
    try {
      await waitFor(async () => out.trim().split('\n').length >= expected1.length, 15_000, () => `psql SUBSCRIBE snapshot: ${out}`);
      // epoch, op, k, n, s
      const snap = out.trim().split('\n').map((l) => l.split('\t')).filter((c) => c[1] === 'insert').map((c) => `${c[2]}|${c[3]}|${c[4]}`).sort();
      expect(snap).toEqual(expected1);
    } finally {
      child.kill('SIGINT');
      await new Promise((resolve) => child.on('exit', resolve));
      await pg.close();
    }
    // Also in a request that changes the catalog (applied through the command log, answered by the proposer).
    const mixed = await insts[1]!.sql('CREATE VIEW keys_only AS SELECT k FROM ev; SELECT SUM(n) AS events, COUNT(*) AS keys FROM per_key');
    expect(mixed.status, JSON.stringify(mixed.body)).toBe(200);
    expect(mixed.body.results.find((r: { statement: string }) => r.statement === 'SELECT').rows).toEqual([{ events: phase1.length, keys: expected1.length }]);

    // An SSE client on a: the snapshot, then the changes of more input.
    const sse = follow(`http://127.0.0.1:${ports[0]}/v1/views/per_key/changes`);
    const phase2 = events(keys, 100, 150);
    await produce(brokerList(), input, toMessages(phase2));
    const expected2 = oracle([...phase1, ...phase2]);
    await waitFor(async () => JSON.stringify(sse.rows()) === JSON.stringify(expected2), 20_000, () => `the SSE client to see phase 2 (${sse.seen.length} events)`);
    expect(sse.seen[0]).toBe('snapshot');
    expect(sse.seen).toContain('change');

    // The other instance with the most tasks goes silent on HTTP (still in the cluster, its tasks running):
    // a GET on a says which tasks are missing and which instance did not answer.
    const victim = [insts[1]!, insts[2]!].sort((x, y) => tasksOf(y).length - tasksOf(x).length)[0]!;
    const victimTasks = tasksOf(victim);
    expect(victimTasks.length).toBeGreaterThan(0);
    await victim.closeHttp();
    const silent = await a.get('/v1/views/per_key');
    expect(silent.status).toBe(200);
    expect(silent.body.partial).toBe(true);
    expect(silent.body.missing).toEqual(expect.arrayContaining(victimTasks.filter((t) => !tasksOf(a).includes(t))));
    expect(silent.body.unreachable.map((u: { instance: string }) => u.instance)).toContain(victim.id);
    // A SQL pull query cannot say which rows are missing: refused, to be tried again.
    const refused = await a.sql('SELECT COUNT(*) AS keys FROM per_key');
    expect(refused.status).toBe(429);
    expect(refused.body.error.message).toMatch(/per_key runs as tasks .* did not answer/);

    // Then it stops (its tasks move to the others) while input continues.
    const phase3 = events(keys, 150, 200);
    await produce(brokerList(), input, toMessages(phase3.slice(0, phase3.length / 2)));
    const tStop = Date.now();
    await victim.stop();
    await produce(brokerList(), input, toMessages(phase3.slice(phase3.length / 2)));
    const expected3 = oracle([...phase1, ...phase2, ...phase3]);
    await waitFor(async () => JSON.stringify(sse.rows()) === JSON.stringify(expected3), 40_000, () => `the SSE client to see every change (${sse.seen.slice(-5).join(', ')})`);
    const movedMs = Date.now() - tStop;
    const survivors = insts.filter((i) => i !== victim);
    expect(survivors.flatMap(tasksOf).sort()).toEqual(Array.from({ length: P }, (_, p) => `per_key#${p}`).sort());
    // The feed told the client and started again from a fresh snapshot of the whole view.
    const after = sse.seen.slice(sse.seen.indexOf('resync'));
    expect(sse.seen).toContain('resync');
    expect(after).toContain('snapshot');
    expect(sse.backwards).toEqual([]);
    for (const i of survivors) await waitFor(() => whole(i, expected3), 20_000, () => `the whole view on ${i.name} after the stop (${last})`);
    console.log(`stop of ${victim.name} (tasks ${victimTasks.join(', ')}): the SSE client on a had every change ${movedMs} ms after the stop began; events: ${sse.seen.filter((e) => e !== 'change').join(', ')} + ${sse.seen.filter((e) => e === 'change').length} changes`);
    await sse.close();
  }, 90_000);
});
