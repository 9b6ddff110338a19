/**
 * A task with no data must not hold back event time downstream of it (issue 17). On one instance an
 * empty partition does not hold a source's watermark (executor/watermark.ts); run as tasks, the task
 * of an empty partition has no watermark at all, and an exchange's reader waits for every upstream
 * task. So an empty task says "no event time yet" through its exchanges and changes topics
 * (connectors/kafka/exchange.ts), and the windows downstream close as they would on one instance.
 *
 * One service with a CLUSTER_ID (it runs every task) over a 3-partition topic whose partition 2 stays
 * empty: a windowed sink re-keyed by another column (a repartition exchange) emits every window of the
 * batch computation, and a view over a keyed view (its changes topic) gets the upstream's watermark.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
import { readCommittedRecords } from '../../connectors/kafka/state-topic.ts';
import { keysByPartition } from './keys.ts';
import { clusterInstances } from './instances.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { waitFor } from '../helpers/service.ts';

const P = 3;
const T0 = 1_700_000_000_000;

const cluster = clusterInstances();
afterEach(() => cluster.cleanup());

describe('cluster: an empty task does not hold event time downstream', () => {
  it('partition 2 empty: a re-keyed windowed sink closes every window; a view over a view gets a watermark', async () => {
    const clusterId = uniqueTopic('et');
    const input = uniqueTopic('et-in');
    const output = uniqueTopic('et-out');
    await createTopic(brokerList(), input, P);
    await createTopic(brokerList(), output, 1);
    const keys = keysByPartition(P, 'ek');
    // Partitions 0 and 1 only; 40 s of event time, then one event far ahead on each to close the windows.
    const evs: { k: string; g: string; v: number; ts: number; p: number }[] = [];
    for (const p of [0, 1]) for (let j = 0; j < 80; j++) evs.push({ k: keys[p]![j % 3]!, g: `g${(p + j) % 3}`, v: (p * 13 + j * 7) % 50, ts: T0 + j * 500, p });
    const far = T0 + 3_600_000;
    for (const p of [0, 1]) evs.push({ k: keys[p]![0]!, g: 'g0', v: 0, ts: far, p });
    await produce(brokerList(), input, evs.map((e) => ({ key: e.k, partition: e.p, value: JSON.stringify({ k: e.k, g: e.g, v: e.v, ts: new Date(e.ts).toISOString() }) })));
    const want = new Map<string, { n: number; s: number }>();
    for (const e of evs) {
      if (e.ts >= far) continue;
      const ws = e.ts - (e.ts % 10_000);
      const key = `${e.g}|${ws}`;
      const a = want.get(key) ?? { n: 0, s: 0 };
      a.n++; a.s += e.v;
      want.set(key, a);
    }
    const expected = [...want].map(([k, a]) => `${k}|${a.n}|${a.s}`).sort();

    const a = await cluster.start({ clusterId, name: 'a', port: 18_400, prefix: 'streamsql-et', config: { clusterSessionTimeoutMs: 6000 } });
    const res = await a.sql(`CREATE SOURCE ev (k VARCHAR, g VARCHAR, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
      WITH (connector = 'kafka', topic = '${input}', format = 'json', 'key.format' = 'raw', 'key.fields' = 'k', 'scan.startup.mode' = 'earliest');
      CREATE SINK out_g WITH (connector = 'kafka', topic = '${output}', format = 'json', 'checkpoint.interval' = '300 ms') AS
        SELECT window_start, g, COUNT(*) AS n, SUM(v) AS s FROM TUMBLE(ev, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end, g EMIT ON WINDOW CLOSE;
      CREATE MATERIALIZED VIEW per_k WITH ('checkpoint.interval' = '300 ms') AS SELECT k, COUNT(*) AS n FROM ev GROUP BY k;
      CREATE MATERIALIZED VIEW busy WITH ('checkpoint.interval' = '300 ms') AS SELECT k, n FROM per_k WHERE n > 1`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const busyId = res.body.results[3].queryId as string;
    let seen = '';
    const out = await waitFor(async () => {
      const rows = (await readCommittedRecords(brokerList(), output, 0)).map((r) => {
        const o = JSON.parse(r.value!) as { window_start: string; g: string; n: number; s: number };
        return `${o.g}|${Date.parse(o.window_start)}|${o.n}|${o.s}`;
      }).sort();
      seen = `${rows.length} of ${expected.length} windows`;
      return rows.length >= expected.length && rows;
    }, 45_000, 'every window of the re-keyed sink', () => seen);
    expect(out).toEqual(expected);
    // Every task of the view over per_k (each reads one partition of per_k's changes topic) has per_k's watermark.
    const wm = await waitFor(async () => (await a.get(`/v1/queries/${busyId}`)).body.progress?.watermark as string | undefined, 30_000, 'the watermark of busy');
    expect(Date.parse(wm!)).toBe(far - 1000);
  }, 120_000);
});
