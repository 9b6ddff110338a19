/**
 * How long a moved task takes to restore its state, by state size (issue 17: the recovery-time figure
 * of the README's "beyond one machine" estimate). One task of `SELECT k, COUNT(*), SUM(v) … GROUP BY k`
 * (a view) over a one-partition topic of N distinct keys: it reads everything, commits an epoch and
 * stops; a second incarnation (as on another instance) fences it, reads the newest state (one record, or chunks) from the
 * state topic and restores the aggregate's state and the view's rows. Printed per N: the state
 * record's bytes, the restore time (fencing + state read + decode + load) and its phases.
 *
 *   node --import tsx bench/task-restore.ts [--keys 100000,1000000]
 *
 * Starts its own Kafka broker (the project's script), like bench/run.ts.
 */
import { createTopic, produce, type ProduceMessage } from '../connectors/kafka/admin.ts';
import { startLocalBroker } from '../connectors/kafka/local-broker.ts';
import { createQueryTable } from '../connectors/table/query-table.ts';
import { createCatalog, planRequest } from '../planner/index.ts';
import type { QueryOptions } from '../planner/catalog.ts';
import { createTaskRunner } from '../queries/cluster/task-runner.ts';
import { flag } from './lib/args.ts';

const keysList = (flag('keys') ?? '100000,1000000').split(',').map(Number);
const options: QueryOptions = { checkpointIntervalMs: 3_600_000, lateTopic: null, retentionRows: null };
const log = (level: string, msg: string) => { if (level === 'error') console.error(msg); };

const broker = await startLocalBroker({ heapMb: 1024 });
const brokers = [broker.bootstrap];
try {
  console.log('keys       state record   restore   (fence / read / restore ms)   MB/s');
  for (const n of keysList) {
    const topic = `restore-${n}-${Date.now().toString(36)}`;
    await createTopic(brokers, topic, 1);
    for (let at = 0; at < n; at += 50_000) {
      const msgs: ProduceMessage[] = [];
      for (let i = at; i < Math.min(n, at + 50_000); i++) msgs.push({ key: `key-${i}`, partition: 0, value: JSON.stringify({ k: `key-${i}`, v: i % 997 }) });
      await produce(brokers, topic, msgs, { compression: 'gzip' });
    }
    const planned = planRequest(`CREATE SOURCE ev (k VARCHAR, v BIGINT) WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'key.format' = 'raw', 'key.fields' = 'k', 'scan.startup.mode' = 'earliest');
      CREATE MATERIALIZED VIEW agg AS SELECT k, COUNT(*) AS n, SUM(v) AS s FROM ev GROUP BY k`, createCatalog());
    const q = planned[1]!.planned;
    if (q.kind !== 'create_materialized_view') throw new Error('expected a view');
    let table = createQueryTable('agg', q.def.schema, q.def.keyColumns, null);
    const mk = () => {
      table = createQueryTable('agg', q.def.schema, q.def.keyColumns, null);
      return createTaskRunner({ clusterId: 'bench', query: `agg-${topic}`, task: 'agg#0', plan: q.physical, parts: [{ topic, partition: 0 }], options, brokers, log, table });
    };
    const first = mk();
    await first.start();
    while (first.status().inputRows < n) await new Promise((r) => setTimeout(r, 100));
    await first.checkpoint();
    await first.stop({ checkpoint: false });
    const second = mk();
    await second.start();
    const s = second.status();
    // The restored view holds every key (a state written in chunks comes back whole).
    const restoredRows = table.rows().length;
    await second.stop({ checkpoint: false });
    if (restoredRows !== n) throw new Error(`restored ${restoredRows} rows of ${n}`);
    const mb = s.restoredStateBytes / 1e6;
    const p = s.startPhasesMs;
    console.log(`${String(n).padEnd(10)} ${`${mb.toFixed(1)} MB`.padStart(12)}   ${`${Math.round(s.restoreMs ?? 0)} ms`.padStart(8)}   (${p.fence} / ${p.read} / ${p.restore})${' '.repeat(16)}${(mb / ((s.restoreMs ?? 1) / 1000)).toFixed(1)}`);
  }
} finally {
  await broker.stop();
}
// A client of a stopped runner may still retry its connection to the stopped broker: nothing is left to do.
process.exit(0);
