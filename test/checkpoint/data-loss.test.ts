/**
 * failOnDataLoss: offsets a checkpoint wants are gone from the broker (records deleted as retention
 * would). true (the default) fails the query with a clear status; false skips ahead, warns and counts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { deleteRecords, produce } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';
import { createTopicReady, event, expectRows, expectedCounts, type Ev } from '../fault/workload.ts';

const evs = (from: number, to: number): Ev[] => Array.from({ length: to - from }, (_, i) => event(from + i));
const send = (topic: string, list: Ev[]) => produce(brokerList(), topic, list.map((e) => ({ partition: 0, value: JSON.stringify(e) })));

describe('failOnDataLoss', () => {
  let ts: TestService | undefined;
  afterAll(async () => { await ts?.close(); });

  it('fails the query by default and skips ahead with a counter when false', async () => {
    const topic = uniqueTopic('loss');
    await createTopicReady(brokerList(), topic, 1);
    await send(topic, evs(0, 100));
    ts = await startTestService();
    const dataDir = ts.dataDir;
    const src = (name: string, extra: string) => `CREATE SOURCE ${name} (k BIGINT, v BIGINT, ts TIMESTAMP(3))
      WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest'${extra});
      CREATE MATERIALIZED VIEW c_${name} WITH ('checkpoint.interval' = '200 ms') AS SELECT k, COUNT(*) AS n, SUM(v) AS total FROM ${name} GROUP BY k;`;
    const r = await ts.sql(`${src('strict', '')} ${src('lenient', `, 'failOnDataLoss' = 'false'`)}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const strictId: string = r.body.results[1].queryId;
    const lenientId: string = r.body.results[3].queryId;
    for (const id of [strictId, lenientId]) {
      await waitFor(async () => { const p = (await ts!.get(`/v1/queries/${id}`)).body.progress; return p.inputRows === 100 && p.lastCheckpoint && p.partitions[0]?.offset === 100; }, 30_000, 'first 100 read');
    }
    await ts.close({ keepData: true });

    // While the service is down: 100 more, then everything below offset 150 deleted.
    await send(topic, evs(100, 200));
    await deleteRecords(brokerList(), topic, 0, 150);

    ts = await startTestService({ dataDir });
    const strict = await waitFor(async () => { const q = (await ts!.get(`/v1/queries/${strictId}`)).body; return q.status === 'failed' ? q : null; }, 30_000, 'strict query failed');
    expect(strict.error).toMatch(/offsets 100\.\.149 of .*\[0\] are gone from the broker/);
    expect(strict.error).toMatch(/failOnDataLoss/);

    const lenient = await waitFor(async () => { const q = (await ts!.get(`/v1/queries/${lenientId}`)).body; return q.progress.inputRows === 150 ? q : null; }, 30_000, 'lenient query skipped ahead');
    expect(lenient.status).toBe('running');
    expect(lenient.progress.dataLoss).toEqual({ events: 1, offsets: 50 });
    await expectRows(ts.sql, 'SELECT k, n, total FROM c_lenient ORDER BY k', expectedCounts([...evs(0, 100), ...evs(150, 200)]));
  });

  it('detects records deleted while a running query is behind them', async () => {
    const topic = uniqueTopic('loss-live');
    await createTopicReady(brokerList(), topic, 1);
    await send(topic, evs(0, 100));
    const svc = await startTestService();
    try {
      // scan.max-rate holds the next fetch for ~3 s after the first 100 rows: the deletion falls in that pause.
      const src = (name: string, extra: string) => `CREATE SOURCE ${name} (k BIGINT, v BIGINT, ts TIMESTAMP(3))
        WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest', 'scan.max-rate' = '30'${extra});
        CREATE MATERIALIZED VIEW c_${name} WITH ('checkpoint.interval' = '200 ms') AS SELECT k, COUNT(*) AS n, SUM(v) AS total FROM ${name} GROUP BY k;`;
      const r = await svc.sql(`${src('live_strict', '')} ${src('live_lenient', `, 'failOnDataLoss' = 'false'`)}`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const strictId: string = r.body.results[1].queryId;
      const lenientId: string = r.body.results[3].queryId;
      for (const id of [strictId, lenientId]) {
        await waitFor(async () => (await svc.get(`/v1/queries/${id}`)).body.progress.inputRows === 100, 30_000, 'first 100 read');
      }
      await send(topic, evs(100, 200));
      await deleteRecords(brokerList(), topic, 0, 150);
      const strict = await waitFor(async () => { const q = (await svc.get(`/v1/queries/${strictId}`)).body; return q.status === 'failed' ? q : null; }, 30_000, 'strict query failed');
      expect(strict.error).toMatch(/offsets 100\.\.149 of .*\[0\] were deleted from the broker/);
      const lenient = await waitFor(async () => { const q = (await svc.get(`/v1/queries/${lenientId}`)).body; return q.progress.inputRows === 150 ? q : null; }, 30_000, 'lenient query skipped ahead');
      expect(lenient.status).toBe('running');
      expect(lenient.progress.dataLoss).toEqual({ events: 1, offsets: 50 });
      await expectRows(svc.sql, 'SELECT k, n, total FROM c_live_lenient ORDER BY k', expectedCounts([...evs(0, 100), ...evs(150, 200)]));
    } finally { await svc.close(); }
  });
});
