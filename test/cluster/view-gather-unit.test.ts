/**
 * queries/cluster/view-gather.ts without Kafka: two instances' shares of a view as query tables behind
 * `createViewGather`, the other instance served over a real loopback HTTP server (its `localRows` and
 * `localFeed`, as server/app.ts serves them), membership given by hand. Checks what the end-to-end test
 * (view-gather.test.ts) cannot force: a task answered by two instances is taken once, from the owner the
 * group names; a member that never answers makes a GET `partial` (the task `missing`, the member
 * `unreachable`) and a SQL pull's table a 'busy' error; the feed forwards the owner's changes only and,
 * when a task moves, says `resync` and sends a fresh snapshot with the new owner's rows.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createQueryTable, type QueryTable } from '../../connectors/table/query-table.ts';
import { rowsBatchTrusted } from '../../executor/rows.ts';
import { T, type MaterializedViewDef, type Schema } from '../../planner/index.ts';
import { createViewGather, type GatheredFeedEvent, type ViewGather } from '../../queries/cluster/view-gather.ts';
import type { ClusterMember } from '../../queries/cluster/membership.ts';

const schema: Schema = { fields: [{ name: 'k', type: T.varchar, nullable: false }, { name: 'n', type: T.bigint, nullable: true }] };
const def = { kind: 'materialized_view', name: 'v', sql: '', schema, visibleCount: 2, keyColumns: [0], emit: 'changes', options: {}, dependsOn: [] } as unknown as MaterializedViewDef;
const log = () => undefined;

function table(rows: [string, number][], epoch: number): QueryTable {
  const t = createQueryTable('v', schema, [0]);
  t.load(rows, epoch);
  return t;
}
function upsert(t: QueryTable, k: string, n: number, epoch: number): void {
  t.apply(rowsBatchTrusted(schema, [[k, n]]), Int8Array.of(1));
  t.commit(epoch);
}

/** One instance: its tables, which are ready, and (for the others) an HTTP server answering as app.ts does. */
function instance(id: string, members: () => ClusterMember[]) {
  const tables = new Map<string, QueryTable>();
  const ready = new Set<string>();
  const g = createViewGather({ self: () => id, members, log, tables: (v) => (v === 'v' ? { def, tables } : undefined), ready: (t) => ready.has(t), timeoutMs: 400, pollMs: 50 });
  return { id, tables, ready, g };
}
const servers: http.Server[] = [];
afterEach(async () => { await Promise.all(servers.splice(0).map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r); }))); });

async function serve(g: ViewGather | null): Promise<string> {
  const s = http.createServer((req, res) => {
    if (!g) return; // a member that never answers
    const u = new URL(req.url!, 'http://x');
    if (u.pathname.endsWith('/changes')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const off = g.localFeed('v', (e) => { const { kind, ...data } = e; res.write(`event: ${kind}\ndata: ${JSON.stringify(data)}\n\n`); });
      res.on('close', () => off?.());
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(g.localRows('v', undefined, u.searchParams.get('raw') === 'true')));
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

const lines = (rows: readonly Record<string, unknown>[]) => rows.map((r) => `${r.k}=${r.n}`).sort();

describe('view-gather: shares of a view run as tasks', () => {
  it('takes each task once (the owner), flags a silent member, and restarts the feed from a snapshot when a task moves', async () => {
    let group: ClusterMember[] = [];
    const a = instance('a', () => group);
    const b = instance('b', () => group);
    const bUrl = await serve(b.g);
    const cUrl = await serve(null);
    // a runs v#0 and v#1; b runs v#2 and still holds a stale v#1 (a move in flight): the group names a as its owner.
    a.tables.set('v#0', table([['x', 1]], 3)); a.tables.set('v#1', table([['y', 5]], 4));
    b.tables.set('v#1', table([['y', 3]], 6)); // a newer epoch than a's: the owner still wins
    b.tables.set('v#2', table([['z', 7]], 5));
    b.tables.set('v#3', table([['w', 9]], 1)); // restoring: not ready, never read
    for (const t of ['v#0', 'v#1']) a.ready.add(t);
    for (const t of ['v#1', 'v#2']) b.ready.add(t);
    group = [
      { id: 'a', address: null, alive: true, tasks: ['v#0', 'v#1'] },
      { id: 'b', address: bUrl, alive: true, tasks: ['v#2'] },
    ];

    const whole = (await a.g.rows('v', undefined))!;
    expect(lines(whole.rows)).toEqual(['x=1', 'y=5', 'z=7']);
    expect(whole.partial).toBeUndefined();
    expect(whole.epoch).toBe(3);
    const t = (await a.g.table('v'))!;
    expect(t.rows().map((r) => r.join('=')).sort()).toEqual(['x=1', 'y=5', 'z=7']);

    // A member that never answers, owning v#3: partial, and a pull query's table is refused.
    group = [...group, { id: 'c', address: cUrl, alive: true, tasks: ['v#3'] }];
    const part = (await a.g.rows('v', undefined))!;
    expect(part.partial).toBe(true);
    expect(part.missing).toEqual(['v#3']);
    expect(part.unreachable).toEqual([{ instance: 'c', address: cUrl, error: 'no answer within 400 ms' }]);
    expect(lines(part.rows)).toEqual(['x=1', 'y=5', 'z=7']);
    await expect(a.g.table('v')).rejects.toMatchObject({ kind: 'busy', message: expect.stringMatching(/v#3 did not answer \(c: no answer within 400 ms\)/) });
    group = group.slice(0, 2);

    // The feed on a: one snapshot of the whole view, then the owners' changes only.
    const events: GatheredFeedEvent[] = [];
    const off = a.g.feed('v', (e) => events.push(e))!;
    const until = async (f: () => boolean, what: string) => {
      for (let i = 0; !f(); i++) { if (i > 100) throw new Error(`timed out: ${what}: ${JSON.stringify(events)}`); await new Promise((r) => setTimeout(r, 30)); }
    };
    await until(() => events.some((e) => e.kind === 'snapshot'), 'the first snapshot');
    const snap = events.find((e) => e.kind === 'snapshot') as Extract<GatheredFeedEvent, { kind: 'snapshot' }>;
    expect(lines(snap.rows)).toEqual(['x=1', 'y=5', 'z=7']);
    upsert(b.tables.get('v#2')!, 'z', 8, 6);
    upsert(b.tables.get('v#1')!, 'y', 4, 7); // the stale share: not forwarded
    upsert(a.tables.get('v#0')!, 'x', 2, 4);
    await until(() => events.filter((e) => e.kind === 'changes').length === 2, 'two changes');
    const changes = events.filter((e) => e.kind === 'changes').flatMap((e) => (e as Extract<GatheredFeedEvent, { kind: 'changes' }>).changes.map((c) => `${c.row.k}=${c.row.n}`));
    expect(changes.sort()).toEqual(['x=2', 'z=8']);

    // v#1 moves to b: a stops serving it, the group says so; b's share (y=4 now) is taken, after a resync.
    a.ready.delete('v#1'); a.tables.delete('v#1');
    group = [{ id: 'a', address: null, alive: true, tasks: ['v#0'] }, { id: 'b', address: bUrl, alive: true, tasks: ['v#1', 'v#2'] }];
    await until(() => events.filter((e) => e.kind === 'snapshot').length === 2, 'a fresh snapshot');
    const kinds = events.map((e) => e.kind);
    expect(kinds.indexOf('resync')).toBeGreaterThan(kinds.indexOf('changes'));
    expect(kinds.lastIndexOf('snapshot')).toBeGreaterThan(kinds.indexOf('resync'));
    const snap2 = events.filter((e) => e.kind === 'snapshot').at(-1) as Extract<GatheredFeedEvent, { kind: 'snapshot' }>;
    expect(lines(snap2.rows)).toEqual(['x=2', 'y=4', 'z=8']);
    upsert(b.tables.get('v#1')!, 'y', 6, 8); // now the owner's: forwarded
    await until(() => JSON.stringify(events.at(-1)).includes('"n":6'), 'the new owner\'s change');
    off();
  }, 20_000);
});
