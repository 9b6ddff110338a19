/** 'scan.startup.mode' applies on the first start only; a restart resumes from the checkpoint. */
import { afterAll, describe, expect, it } from 'vitest';
import { produce } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';
import { createTopicReady, event, expectRows, expectedCounts, type Ev } from '../fault/workload.ts';

const evs = (from: number, to: number): Ev[] => Array.from({ length: to - from }, (_, i) => event(from + i));
const send = (topic: string, list: Ev[]) => produce(brokerList(), topic, list.map((e) => ({ partition: e.v % 2, value: JSON.stringify(e) })));

describe('startup mode on first start only', () => {
  let ts: TestService | undefined;
  afterAll(async () => { await ts?.close(); });

  it("'latest' skips what came before the first start, but not what came while the service was down", async () => {
    const topic = uniqueTopic('startup');
    await createTopicReady(brokerList(), topic, 2);
    await send(topic, evs(0, 50)); // before the first start: skipped by 'latest'
    ts = await startTestService();
    const dataDir = ts.dataDir;
    const r = await ts.sql(`CREATE SOURCE ev (k BIGINT, v BIGINT, ts TIMESTAMP(3))
      WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'latest');
      CREATE MATERIALIZED VIEW counts WITH ('checkpoint.interval' = '200 ms') AS SELECT k, COUNT(*) AS n, SUM(v) AS total FROM ev GROUP BY k;`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const id: string = r.body.results[1].queryId;
    // Positioned at the end of both partitions before anything new is produced.
    await waitFor(async () => { const p = (await ts!.get(`/v1/queries/${id}`)).body.progress; return p.partitions.length === 2 && p.partitions.every((x: { offset: number }) => x.offset === 25); }, 30_000, 'positioned at latest');
    await send(topic, evs(50, 90));
    await waitFor(async () => { const p = (await ts!.get(`/v1/queries/${id}`)).body.progress; return p.inputRows === 40 && p.lastCheckpoint; }, 30_000, 'B read');
    await ts.close({ keepData: true });

    await send(topic, evs(90, 120)); // while down: must be read after the restart
    ts = await startTestService({ dataDir });
    const p = await waitFor(async () => { const x = (await ts!.get(`/v1/queries/${id}`)).body.progress; return x.inputRows === 70 && x.partitions.every((q: { lag: number }) => q.lag === 0) ? x : null; }, 30_000, 'C read after restart');
    expect(p.restoredFromEpoch).toBeGreaterThan(0);
    await expectRows(ts.sql, 'SELECT k, n, total FROM counts ORDER BY k', expectedCounts(evs(50, 120)));
  });
});
