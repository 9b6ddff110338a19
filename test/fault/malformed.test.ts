/**
 * Fault test 3: 1% malformed messages (bad JSON, wrong types, not an object) among good ones. They are
 * counted per source (progress.malformedRows) and skipped (the default) or sent, unchanged, to a
 * dead-letter topic; the queries keep running with exact results. With 'format.on-error' = 'fail'
 * the query stops in `failed` with an error naming the message.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { produce, readTopic } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';
import { createTopicReady, event, expectRows, expectedCounts, type Ev } from './workload.ts';

const BAD = [
  '{"k": 1, "v": 5, "ts": ',                    // truncated JSON
  '{"k": "seven", "v": 1, "ts": 0}',            // a string for a BIGINT
  '{"k": 1, "v": 2.5, "ts": 0}',                // not an integer
  '[1, 2, 3]',                                  // not an object
  '{"k": 1, "v": 3, "ts": "yesterday"}',        // not a timestamp
  'not json at all',
  '{"k": {"a": 1}, "v": 1, "ts": 0}',           // an object for a BIGINT
  '{"k": 1, "v": true, "ts": 0}',               // a boolean for a BIGINT
  '{"k": 1 "v": 1}',                            // missing comma
  '{"k": 1, "v": [1], "ts": 0}',                // an array for a BIGINT
];

describe('malformed messages', () => {
  let ts: TestService | undefined;
  afterAll(async () => { await ts?.close(); });

  it('counts, skips or dead-letters 1% malformed messages, and fails the query only when asked', async () => {
    const topic = uniqueTopic('malformed'); const dlt = uniqueTopic('dead-letters');
    await createTopicReady(brokerList(), topic, 2);
    // 990 good events and 10 bad ones spread through them, on both partitions.
    const good: Ev[] = [];
    const msgs: { partition: number; value: string }[] = [];
    const badAt = new Map<number, string>(BAD.map((b, j) => [50 + j * 97, b]));
    for (let i = 0, g = 0; i < 1000; i++) {
      const bad = badAt.get(i);
      if (bad !== undefined) msgs.push({ partition: i % 2, value: bad });
      else { const e = event(g++); good.push(e); msgs.push({ partition: i % 2, value: JSON.stringify(e) }); }
    }
    await produce(brokerList(), topic, msgs);
    // The first bad message 'fail' meets: the lowest offset among partition 0's, or partition 1's.
    const offsetsOf = (p: number) => msgs.filter((m) => m.partition === p).map((m, o) => ({ o, bad: BAD.includes(m.value) })).filter((x) => x.bad).map((x) => x.o);

    ts = await startTestService();
    const src = (name: string, extra: string) => `CREATE SOURCE ${name} (k BIGINT, v BIGINT, ts TIMESTAMP(3))
      WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest'${extra});
      CREATE MATERIALIZED VIEW c_${name} WITH ('checkpoint.interval' = '200 ms') AS SELECT k, COUNT(*) AS n, SUM(v) AS total FROM ${name} GROUP BY k;`;
    const r = await ts.sql([
      src('s_skip', ''),
      src('s_dl', `, 'format.on-error' = 'dead-letter', 'format.dead-letter.topic' = '${dlt}'`),
      src('s_fail', `, 'format.on-error' = 'fail'`),
    ].join('\n'));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const [skipId, dlId, failId] = [1, 3, 5].map((i) => r.body.results[i].queryId as string);

    for (const id of [skipId, dlId]) {
      await waitFor(async () => { const x = (await ts!.get(`/v1/queries/${id}`)).body; return x.progress.inputRows === good.length && x.progress.malformedRows === BAD.length; }, 30_000, 'all read');
      // GET /v1/queries/:id takes `status` before it awaits `progress`: ask again for a status that is not older than the rows.
      expect((await ts.get(`/v1/queries/${id}`)).body.status).toBe('running');
    }
    await expectRows(ts.sql, 'SELECT k, n, total FROM c_s_skip ORDER BY k', expectedCounts(good));
    await expectRows(ts.sql, 'SELECT k, n, total FROM c_s_dl ORDER BY k', expectedCounts(good));
    const dl = (await ts.get(`/v1/queries/${dlId}`)).body.progress;
    expect(dl.deadLetteredRows).toBe(BAD.length);
    expect((await ts.get(`/v1/queries/${skipId}`)).body.progress.deadLetteredRows).toBe(0);
    let dead: string[] = [];
    await waitFor(async () => { dead = (await readTopic(brokerList(), dlt, { idleMs: 1000 })).map((m) => m.value!); return dead.length >= BAD.length; }, 30_000, 'dead letters');
    expect([...dead].sort()).toEqual([...BAD].sort());

    const failed = await waitFor(async () => { const x = (await ts!.get(`/v1/queries/${failId}`)).body; return x.status === 'failed' ? x : null; }, 30_000, 'fail query failed');
    const m = /^malformed message at (.+)\[(\d)\] offset (\d+): (.+)$/.exec(failed.error);
    expect(m, failed.error).not.toBeNull();
    const [, t, part, off] = m!;
    expect(t).toBe(topic);
    expect(offsetsOf(Number(part))).toContain(Number(off));
    expect(failed.progress.malformedRows).toBeGreaterThanOrEqual(1);
  });
});
