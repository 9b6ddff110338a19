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
import { stateTopicName, stateTopicOffsets } from '../../connectors/kafka/state-topic.ts';
import { createCatalog, planRequest, type PhysicalPlan } from '../../planner/index.ts';
import type { QueryOptions } from '../../planner/catalog.ts';
import { taskId } from '../../queries/cluster/assignor.ts';
import { partitioningProblems, TaskPlanError } from '../../queries/cluster/task-partitioning.ts';
import type { TaskParts } from '../../connectors/kafka/task-assignor.ts';
import { createTaskHost, type TaskHost } from '../../queries/cluster/task-host.ts';
import { createTaskRunner, type TaskRunner } from '../../queries/cluster/task-runner.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';

const P = 6;
const T0 = 1_700_000_000_000; // a multiple of the 10 s window
const STEP = 250; // ms of event time between two events of one partition
const options: QueryOptions = { checkpointIntervalMs: 300, lateTopic: null, retentionRows: null };
const log = (level: string, msg: string) => { if (level !== 'info' && !/fenced|did not commit|lost/.test(msg)) console.log(`[${level}] ${msg}`); };

const hosts: TaskHost[] = [];
const zombies: TaskRunner[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close({ checkpoint: false })));
  await Promise.all(zombies.splice(0).map((t) => t.stop({ checkpoint: false }).catch(() => undefined)));
});

/** Three keys per partition, placed as Kafka's Java client places them (the producer below uses the same). */
function keysByPartition(): string[][] {
  const out: string[][] = Array.from({ length: P }, () => []);
  for (let i = 0; out.some((k) => k.length < 3); i++) {
    const k = `key-${i}`;
    const p = partitionForKey(keyBytes(k), P);
    if (out[p]!.length < 3) out[p]!.push(k);
  }
  return out;
}

interface Ev { k: string; v: number; ts: number; p: number }

/** Events j in [from, to) of every partition: strictly increasing time per partition, so none is ever late. */
function events(keys: string[][], from: number, to: number): Ev[] {
  const out: Ev[] = [];
  for (let p = 0; p < P; p++) for (let j = from; j < to; j++) out.push({ k: keys[p]![j % 3]!, v: (p * 131 + j * 7) % 101, ts: T0 + j * STEP, p });
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

async function committedOutput(topic: string): Promise<string[]> {
  const recs = await readTopic(brokerList(), topic, { idleMs: 800, maxMs: 20_000 });
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
  });

  it('three instances of two tasks each give exactly the batch result; tasks moved by revocation and by killing their instance stay exact', async () => {
    const input = uniqueTopic('tasks-in');
    const output = uniqueTopic('tasks-out');
    const clusterId = uniqueTopic('c');
    await createTopic(brokerList(), input, P);
    await createTopic(brokerList(), output, 1);
    const keys = keysByPartition();
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

    // #2 moves to A; a new instance D takes #4 and #5.
    const D = host();
    const started = performance.now();
    await Promise.all([A.assign(taskList.slice(0, 3)), D.assign(taskList.slice(4, 6))]);
    const startMs = performance.now() - started;
    expect(A.runner(id(2))!.status().restoredFromEpoch).toBe(revoked.status().epoch);
    for (const p of [4, 5]) expect(D.runner(id(p))!.status().restoredFromEpoch).not.toBeNull();

    // Phase 2b and the closing events: the zombies read them too, try to commit, and are fenced.
    const phase2b = [...events(keys, 260, 400), ...closing(keys)];
    await produce(brokerList(), input, toMessages(phase2b));
    const expected = oracle([...phase1, ...phase2a, ...phase2b]);
    await waitFor(() => zombies.every((z) => z.state() === 'lost'), 20_000, 'the zombies to be fenced');
    for (const z of zombies) expect(z.status().lastError).toMatch(/did not commit/);
    const moved = [A.runner(id(2))!, D.runner(id(4))!, D.runner(id(5))!];
    await waitFor(() => moved.every((t) => t.status().firstOutputMs !== null), 20_000, 'the moved tasks\' first output');

    const out = await waitOutput(expected.length);
    expect(out.length).toBe(expected.length);
    expect(out).toEqual(expected); // sorted: a duplicate or a missing window shows here

    // Measured: start of a moved task → its first committed output; the state topic's size.
    const st = await stateTopicOffsets(brokerList(), stateTopicName(clusterId, query));
    const offsets = st.reduce((a, p) => a + p.high - p.low, 0);
    const live = [A, B, D].flatMap((h) => h.status());
    const bytes = [...live, revoked.status(), ...zombies.map((z) => z.status())].reduce((a, t) => a + t.stateBytesCommitted, 0);
    console.log(`moved tasks: assign → started (fence + state read + restore) ${startMs.toFixed(0)} ms; `
      + `${moved.map((t) => `${t.id}: restore ${t.status().restoreMs?.toFixed(0)} ms, first committed output ${t.status().firstOutputMs?.toFixed(0)} ms after start`).join('; ')}; `
      + `revivals ${[A, B, C, D].reduce((a, h) => a + h.revivals, 0)}`);
    console.log(`state topic: ${offsets} offsets (records + transaction markers), ${bytes} bytes of state committed; newest record per task `
      + `${live.map((t) => `${t.task} ${t.lastStateRecordBytes}`).join(', ')} bytes; a moved task scanned ${moved.map((t) => t.status().stateBytesScanned).join('/')} bytes for ${moved.map((t) => t.status().restoredStateBytes).join('/')} bytes of state`);
  }, 60_000);
});
