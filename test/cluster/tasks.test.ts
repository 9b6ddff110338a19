/**
 * Scale-out tasks (queries/cluster/task-runner.ts) on the real broker: a window aggregation keyed by
 * the topic's record key over a 6-partition topic, run as six tasks grouped as three "instances"
 * ({0,1}, {2,3}, {4,5}) in this process. The read_committed Kafka sink must hold exactly the batch
 * computation's rows. Then tasks move: #2 is stopped mid-stream (revocation, final epoch committed)
 * and #3's owner is abandoned without any cleanup while it keeps running (a zombie); both start on
 * other "instances", restore from the state topic, and the output is still exactly the oracle — the
 * zombie's late commit is fenced by the new owner's InitProducerId. Prints the time from starting a
 * moved task to its first committed output and the state topic's size.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTopic, produce, readTopic, type ProduceMessage } from '../../connectors/kafka/admin.ts';
import { keyBytes, partitionForKey } from '../../connectors/kafka/partitioner.ts';
import { keysByPartition } from './keys.ts';
import { readCommittedRecords, stateTopicName, stateTopicOffsets } from '../../connectors/kafka/state-topic.ts';
import { createCatalog, planRequest, type PhysicalPlan } from '../../planner/index.ts';
import type { QueryOptions } from '../../planner/catalog.ts';
import { assignTasks, taskId, tasksOf } from '../../queries/cluster/assignor.ts';
import { partitioningProblems, TaskPlanError } from '../../queries/cluster/task-partitioning.ts';
import { joinTaskGroup, type TaskGroupMember, type TaskParts, type TaskPlanner } from '../../connectors/kafka/task-assignor.ts';
import { createQueryTable, type QueryTable } from '../../connectors/table/query-table.ts';
import { createTaskHost, type TaskHost } from '../../queries/cluster/task-host.ts';
import { createTaskRunner, type TaskRunner } from '../../queries/cluster/task-runner.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';

const P = 6;
const T0 = 1_700_000_000_000; // a multiple of the 10 s window
const STEP = 250; // ms of event time between two events of one partition
const options: QueryOptions = { checkpointIntervalMs: 300, lateTopic: null, retentionRows: null };
// Quiet: the fencing of the zombies and a fresh broker's coordinator loading are expected here.
const log = (level: string, msg: string) => { if (level !== 'info' && !/old epoch|did not commit|lost|coordinator/.test(msg)) console.log(`[${level}] ${msg}`); };

const hosts: TaskHost[] = [];
const zombies: TaskRunner[] = [];
const members: TaskGroupMember[] = [];
afterEach(async () => {
  await Promise.all(members.splice(0).map((m) => m.stop().catch(() => undefined)));
  await Promise.all(hosts.splice(0).map((h) => h.close({ checkpoint: false })));
  await Promise.all(zombies.splice(0).map((t) => t.stop({ checkpoint: false }).catch(() => undefined)));
});

interface Ev { k: string; v: number; ts: number; p: number }

/** Events j in [from, to) of every partition: strictly increasing time per partition, so none is ever late. */
function events(keys: string[][], from: number, to: number): Ev[] {
  const out: Ev[] = [];
  for (let p = 0; p < keys.length; p++) for (let j = from; j < to; j++) out.push({ k: keys[p]![j % 3]!, v: (p * 131 + j * 7) % 101, ts: T0 + j * STEP, p });
  return out;
}
/** One far-future event per partition: closes every earlier window (its own never closes). */
const closing = (keys: string[][]): Ev[] => keys.map((ks, p) => ({ k: ks[0]!, v: 0, ts: T0 + 36_000_000, p }));

const toMessages = (evs: readonly Ev[]): ProduceMessage[] => evs.map((e) => ({ key: e.k, partition: e.p, value: JSON.stringify({ k: e.k, v: e.v, ts: new Date(e.ts).toISOString() }) }));

/** The batch computation: COUNT and SUM per key and 10 s window, for windows the closing events close. */
function oracle(evs: readonly Ev[]): string[] {
  const m = new Map<string, { n: number; s: number }>();
  for (const e of evs) {
    if (e.ts >= T0 + 36_000_000) continue;
    const ws = e.ts - (e.ts % 10_000);
    const key = `${e.k}|${ws}`;
    const a = m.get(key) ?? { n: 0, s: 0 };
    a.n++; a.s += e.v;
    m.set(key, a);
  }
  return [...m].map(([k, a]) => `${k}|${a.n}|${a.s}`).sort();
}

/**
 * The sink's committed rows, read_committed by the native reader's wire code (kafkajs' consumer filters
 * aborted transactions only when the broker lists them in offset order, so it may show a fenced zombie's
 * aborted rows).
 */
async function committedOutput(topic: string): Promise<string[]> {
  const recs = await readCommittedRecords(brokerList(), topic, 0);
  return recs.map((r) => {
    const o = JSON.parse(r.value!) as { k: string; window_start: string; n: number; s: number };
    return `${o.k}|${Date.parse(o.window_start)}|${o.n}|${o.s}`;
  }).sort();
}

function plan(input: string, output: string, groupBy = 'k'): PhysicalPlan {
  const planned = planRequest(`CREATE SOURCE ev (k VARCHAR, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
      WITH (connector = 'kafka', topic = '${input}', format = 'json', 'key.format' = 'raw', 'key.fields' = 'k', 'scan.startup.mode' = 'earliest');
    CREATE SINK out WITH (connector = 'kafka', topic = '${output}', format = 'json') AS
      SELECT ${groupBy}, window_start, window_end, COUNT(*) AS n, SUM(v) AS s FROM TUMBLE(ev, ts, INTERVAL '10' SECOND) GROUP BY ${groupBy}, window_start, window_end EMIT ON WINDOW CLOSE`, createCatalog());
  const q = planned[1]!.planned;
  if (q.kind !== 'create_sink') throw new Error('expected a sink');
  return q.physical;
}

async function waitFor<T>(f: () => T | null | undefined | false, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('scale-out tasks on the real broker', () => {
  it('refuses a plan whose GROUP BY is not the partition key, unless the planner has an exchange', () => {
    const p = plan('in-x', 'out-x', 'v');
    expect(partitioningProblems(p).join()).toMatch(/GROUP BY \[v\] over an input whose partition key is not known here.*it needs a repartition exchange/);
    expect(() => createTaskRunner({ clusterId: 'c', query: 'q', task: 'q#0', plan: p, parts: [], options, brokers: brokerList(), log })).toThrow(TaskPlanError);
    expect(partitioningProblems(p, { hasExchange: true })).toEqual([]);
    expect(partitioningProblems(plan('in-x', 'out-x'))).toEqual([]);
    // Joins: co-partitioned sides joined on their record keys run as tasks; on another column they need an exchange.
    const two = (on: string, keyed = true) => {
      const key = keyed ? `, 'key.format' = 'raw', 'key.fields' = 'k'` : '';
      const planned = planRequest(`CREATE SOURCE a (k VARCHAR, x VARCHAR, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH (connector = 'kafka', topic = 'ta', format = 'json'${key});
        CREATE SOURCE b (k VARCHAR, y BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH (connector = 'kafka', topic = 'tb', format = 'json'${key});
        CREATE SINK j WITH (connector = 'kafka', topic = 'tj', format = 'json') AS SELECT a.k, a.x, b.y FROM a JOIN b ON ${on}`, createCatalog());
      const q = planned[2]!.planned;
      if (q.kind !== 'create_sink') throw new Error('expected a sink');
      return partitioningProblems(q.physical);
    };
    expect(two('a.k = b.k')).toEqual([]);
    expect(two('a.x = b.k').join()).toMatch(/join condition does not pair both inputs' partition keys/);
    expect(two('a.k = b.k', false).join()).toMatch(/join condition does not pair/);
  });

  it('three instances of two tasks each give exactly the batch result; tasks moved by revocation and by killing their instance stay exact', async () => {
    const input = uniqueTopic('tasks-in');
    const output = uniqueTopic('tasks-out');
    const clusterId = uniqueTopic('c');
    await createTopic(brokerList(), input, P);
    await createTopic(brokerList(), output, 1);
    const keys = keysByPartition(P);
    const physical = plan(input, output);
    const query = 'agg';
    const taskList: TaskParts[] = Array.from({ length: P }, (_, p) => ({ id: taskId(query, p), parts: [{ topic: input, partition: p }] }));
    const host = () => {
      const h = createTaskHost({ clusterId, brokers: brokerList(), log, query: (n) => (n === query ? { plan: physical, options } : undefined), stateTopicPartitions: 3 });
      hosts.push(h);
      return h;
    };
    const waitOutput = async (n: number): Promise<string[]> => {
      const end = Date.now() + 30_000;
      for (;;) {
        const out = await committedOutput(output);
        if (out.length >= n || Date.now() > end) return out;
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    // Phase 1: 50 s of event time per partition; windows [0, 40) s close (watermark 48.75 s).
    const phase1 = events(keys, 0, 200);
    await produce(brokerList(), input, toMessages(phase1));
    const [A, B, C] = [host(), host(), host()];
    await Promise.all([A.assign(taskList.slice(0, 2)), B.assign(taskList.slice(2, 4)), C.assign(taskList.slice(4, 6))]);
    // Three instances' tasks together: exactly the batch result for the closed windows.
    const expected1 = oracle(phase1).filter((r) => Number(r.split('|')[1]) < T0 + 40_000);
    expect(await waitOutput(expected1.length)).toEqual(expected1);

    // Mid-stream: more input arrives; then #2 is revoked from B (its open epoch committed) and instance
    // C is killed: abandoned as it is, its runners for #4 and #5 still running (zombies).
    const phase2a = events(keys, 200, 260);
    await produce(brokerList(), input, toMessages(phase2a));
    const id = (p: number) => taskId(query, p);
    const inputRows = (h: TaskHost, p: number) => h.runner(id(p))?.status().inputRows ?? 0;
    await waitFor(() => inputRows(B, 2) >= 260 && inputRows(C, 4) >= 260 && inputRows(C, 5) >= 260, 20_000, 'phase 2a read');
    const revoked = B.runner(id(2))!;
    await B.assign(taskList.slice(3, 4));
    expect(revoked.state()).toBe('stopped');
    zombies.push(C.runner(id(4))!, C.runner(id(5))!);
    C.abandon();

    // More input while nobody runs #2, #4, #5 (the zombies read it too, and may still commit it).
    const phase2b = events(keys, 260, 400);
    await produce(brokerList(), input, toMessages(phase2b));

    // #2 moves to A; a new instance D takes #4 and #5.
    const D = host();
    const started = performance.now();
    await Promise.all([A.assign(taskList.slice(0, 3)), D.assign(taskList.slice(4, 6))]);
    const startMs = performance.now() - started;
    expect(A.runner(id(2))!.status().restoredFromEpoch).toBe(revoked.status().epoch);
    for (const p of [4, 5]) expect(D.runner(id(p))!.status().restoredFromEpoch).not.toBeNull();

    // The closing events, after the new owners' InitProducerId: the zombies read them, try to commit, and are fenced.
    const last = closing(keys);
    await produce(brokerList(), input, toMessages(last));
    const expected = oracle([...phase1, ...phase2a, ...phase2b, ...last]);
    await waitFor(() => zombies.every((z) => z.state() === 'lost'), 20_000, 'the zombies to be fenced');
    for (const z of zombies) expect(z.status().lastError).toMatch(/did not commit \(.*(old epoch|fenced)/i);
    const moved = [A.runner(id(2))!, D.runner(id(4))!, D.runner(id(5))!];
    // Each new owner restored the last epoch its zombie committed (any later commit of the zombie was fenced).
    expect(moved.slice(1).map((t) => t.status().restoredFromEpoch)).toEqual(zombies.map((z) => z.status().epoch));
    await waitFor(() => moved.every((t) => t.status().firstOutputMs !== null), 20_000, 'the moved tasks\' first output');

    const out = await waitOutput(expected.length);
    if (out.length !== expected.length) {
      const seen = new Map<string, number>();
      for (const r of out) seen.set(r, (seen.get(r) ?? 0) + 1);
      const dup = [...seen].filter(([, n]) => n > 1).map(([r]) => `${r} (partition ${keys.findIndex((ks) => ks.includes(r.split('|')[0]!))})`);
      console.log(`duplicates: ${dup.join('; ')}`);
      console.log(`kafkajs' read_committed consumer sees ${(await readTopic(brokerList(), output, { idleMs: 800 })).length} records`);
      for (const t of [...zombies, revoked, ...[A, B, D].flatMap((h) => [...h.status().map((x) => h.runner(x.task)!)])]) console.log(JSON.stringify({ ...t.status(), positions: undefined }));
    }
    expect(out.length).toBe(expected.length);
    expect(out).toEqual(expected); // sorted: a duplicate or a missing window shows here
    const viaKafkajs = (await readTopic(brokerList(), output, { idleMs: 800 })).length;
    if (viaKafkajs !== expected.length) console.log(`note: kafkajs' read_committed consumer sees ${viaKafkajs} records where the committed output has ${expected.length} (aborted rows it failed to filter)`);

    // Measured: start of a moved task → its first committed output; the state topic's size.
    const st = await stateTopicOffsets(brokerList(), stateTopicName(clusterId, query));
    const offsets = st.reduce((a, p) => a + p.high - p.low, 0);
    const live = [A, B, D].flatMap((h) => h.status());
    const bytes = [...live, revoked.status(), ...zombies.map((z) => z.status())].reduce((a, t) => a + t.stateBytesCommitted, 0);
    console.log(`moved tasks: assign → started (fence + state read + restore) ${startMs.toFixed(0)} ms; `
      + `${moved.map((t) => `${t.id}: restore ${t.status().restoreMs?.toFixed(0)} ms ${JSON.stringify(t.status().startPhasesMs)}, first committed output ${t.status().firstOutputMs?.toFixed(0)} ms after its start (input waiting)`).join('; ')}; `
      + `revivals ${[A, B, C, D].reduce((a, h) => a + h.revivals, 0)}`);
    console.log(`state topic: ${offsets} offsets (records + transaction markers), ${bytes} bytes of state committed; newest record per task `
      + `${live.map((t) => `${t.task} ${t.lastStateRecordBytes}`).join(', ')} bytes; a moved task scanned ${moved.map((t) => t.status().stateBytesScanned).join('/')} bytes for ${moved.map((t) => t.status().restoredStateBytes).join('/')} bytes of state`);
  }, 60_000);

  it('two instances in the task group run a view query\'s tasks as assigned; a leaver\'s tasks move with their rows', async () => {
    const input = uniqueTopic('tg-in');
    const clusterId = uniqueTopic('c');
    const NP = 4;
    await createTopic(brokerList(), input, NP);
    const keys = keysByPartition(P).slice(0, NP); // keys of partitions 0..3 of a 6-partition topic are not those of a 4-partition one
    const place = (k: string) => partitionForKey(keyBytes(k), NP);
    const evs = (from: number, to: number) => events(keys, from, to).map((e) => ({ ...e, p: place(e.k) }));
    const planned = planRequest(`CREATE SOURCE ev (k VARCHAR, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
        WITH (connector = 'kafka', topic = '${input}', format = 'json', 'key.format' = 'raw', 'key.fields' = 'k', 'scan.startup.mode' = 'earliest');
      CREATE MATERIALIZED VIEW big AS SELECT k, v FROM ev WHERE v > 20`, createCatalog());
    const q = planned[1]!.planned;
    if (q.kind !== 'create_materialized_view') throw new Error('expected a view');
    const query = 'big';
    const tables = new Map<string, QueryTable>(); // the newest table of each task
    const taskList: TaskParts[] = Array.from({ length: NP }, (_, p) => ({ id: taskId(query, p), parts: [{ topic: input, partition: p }] }));
    const planner: TaskPlanner = { tasks: (partitionsOf) => tasksOf([{ id: query, topics: [input] }], partitionsOf), assign: assignTasks };
    const member = async (i: number) => {
      const h = createTaskHost({
        clusterId, brokers: brokerList(), log, stateTopicPartitions: 2,
        query: (n) => (n === query ? { plan: q.physical, options, table: (task) => { const t = createQueryTable(task, q.physical.schema, null, 100_000); tables.set(task, t); return t; } } : undefined),
      });
      hosts.push(h);
      const m = await joinTaskGroup({ brokers: brokerList(), groupId: `_streamsql-${clusterId}-tasks`, topics: [input], planner, clientId: `tg-${i}`, sessionTimeoutMs: 6000, onAssignment: (owned) => { void h.onAssignment(owned, taskList); } });
      members.push(m);
      return { h, m };
    };
    const rows = (h: TaskHost) => h.status().flatMap((s) => tables.get(s.task)!.rows().map((r) => `${r[0]}|${r[1]}`)).sort();
    const expect1 = (es: Ev[]) => es.filter((e) => e.v > 20).map((e) => `${e.k}|${e.v}`).sort();

    const first = evs(0, 100);
    await produce(brokerList(), input, toMessages(first));
    const [a, b] = [await member(0), await member(1)];
    await waitFor(() => a.h.status().length === 2 && b.h.status().length === 2 && [...rows(a.h), ...rows(b.h)].length === expect1(first).length, 30_000, 'two tasks each, all rows');
    expect([...rows(a.h), ...rows(b.h)].sort()).toEqual(expect1(first));
    const movedIds = a.h.status().map((s) => s.task);

    // Instance a leaves: its tasks stop (final epochs committed), then it leaves the group; b gets all four.
    await a.h.close();
    await a.m.stop();
    const second = evs(100, 160);
    await produce(brokerList(), input, toMessages(second));
    await waitFor(() => b.h.status().length === NP && rows(b.h).length === expect1([...first, ...second]).length, 30_000, 'b with all tasks and rows');
    expect(rows(b.h)).toEqual(expect1([...first, ...second]));
    // The moved tasks restored their rows from the state topic (a view sink: state-only transactions).
    for (const id of movedIds) expect(b.h.runner(id)!.status().restoredFromEpoch).not.toBeNull();
  }, 60_000);
});
