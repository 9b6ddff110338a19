/**
 * 'late.topic': rows dropped because their window had closed go to a Kafka topic as JSON, with the
 * reason and the watermark at the time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce, readTopic } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';

const T0 = Date.parse('2024-01-01T12:00:00.000Z');
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

describe("'late.topic'", () => {
  let ts: TestService;
  const topic = uniqueTopic('late-in');
  const late = uniqueTopic('late-out');
  beforeAll(async () => { ts = await startTestService(); await createTopic(brokerList(), topic, 1); });
  afterAll(async () => { await ts?.close(); });

  it('sends dropped rows with the reason and the watermark', async () => {
    await produce(brokerList(), topic, [5, 30, 75].map((s, i) => ({ value: JSON.stringify({ k: i, ts: iso(s) }) })));
    const res = await ts.sql(`
      CREATE SOURCE ev (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
        WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE MATERIALIZED VIEW per_minute WITH ('late.topic' = '${late}', 'checkpoint.interval' = '200 ms') AS
        SELECT window_start, window_end, COUNT(*) AS n FROM TUMBLE(ev, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end`);
    expect(res.status).toBe(200);
    const id = res.body.results[1].queryId;
    await waitFor(async () => (await ts.get(`/v1/queries/${id}`)).body.progress.inputRows === 3, 30_000, 'input consumed');
    await produce(brokerList(), topic, [{ value: JSON.stringify({ k: 9, ts: iso(20) }) }]); // window [0, 60) closed at watermark 70 s
    const recs = await waitFor(async () => { const r = await readTopic(brokerList(), late, { idleMs: 500 }); return r.length ? r : null; }, 30_000, 'late record');
    const body = JSON.parse(recs![0]!.value!);
    // The row as the window operator saw it: the columns the query reads (here only ts).
    expect(body).toMatchObject({ row: { ts: iso(20) }, watermark: iso(70), query: 'per_minute' });
    expect(body.reason).toMatch(/window closed/);
    expect((await ts.get(`/v1/queries/${id}`)).body.progress.lateRowsDropped).toBe(1);
  });
});
