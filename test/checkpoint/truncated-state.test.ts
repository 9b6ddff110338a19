/**
 * A truncated state file in the newest committed epoch: detected by its checksum, reported in the
 * query status (progress.skippedEpochs), the previous epoch used, and the output still exact.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { produce } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';
import { createTopicReady, event, expectRows, expectedCounts, latestCommit, type Ev } from '../fault/workload.ts';

const evs = (from: number, to: number): Ev[] => Array.from({ length: to - from }, (_, i) => event(from + i));
const send = (topic: string, list: Ev[]) => produce(brokerList(), topic, list.map((e) => ({ partition: e.v % 2, value: JSON.stringify(e) })));

describe('truncated state file', () => {
  let ts: TestService | undefined;
  afterAll(async () => { await ts?.close(); });

  it('skips the corrupt epoch, restores the previous one, and replays to the exact result', async () => {
    const topic = uniqueTopic('trunc');
    await createTopicReady(brokerList(), topic, 2);
    ts = await startTestService();
    const dataDir = ts.dataDir;
    const r = await ts.sql(`CREATE SOURCE ev (k BIGINT, v BIGINT, ts TIMESTAMP(3))
      WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE MATERIALIZED VIEW counts WITH ('checkpoint.interval' = '200 ms') AS SELECT k, COUNT(*) AS n, SUM(v) AS total FROM ev GROUP BY k;`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const id: string = r.body.results[1].queryId;
    // Several epochs, so there is a previous one to fall back to.
    for (let i = 0; i < 4; i++) {
      await send(topic, evs(i * 100, (i + 1) * 100));
      const e0 = latestCommit(dataDir, id);
      await waitFor(async () => latestCommit(dataDir, id) > e0 && (await ts!.get(`/v1/queries/${id}`)).body.progress.inputRows === (i + 1) * 100, 30_000, `batch ${i} checkpointed`);
    }
    await ts.close({ keepData: true });

    const newest = latestCommit(dataDir, id);
    const stateDir = path.join(dataDir, 'queries', id, 'state', String(newest));
    const arrow = (await fs.readdir(stateDir)).filter((f) => f.endsWith('.arrow')).sort()[0]!;
    const file = path.join(stateDir, arrow);
    const size = (await fs.stat(file)).size;
    await fs.truncate(file, Math.floor(size / 2));

    await send(topic, evs(400, 450));
    ts = await startTestService({ dataDir });
    const p = await waitFor(async () => { const x = (await ts!.get(`/v1/queries/${id}`)).body.progress; return x.inputRows === 450 && x.partitions.every((q: { lag: number }) => q.lag === 0) ? x : null; }, 30_000, 'replayed to the end');
    expect(p.skippedEpochs).toEqual([{ epoch: newest, reason: expect.stringMatching(new RegExp(`${arrow.replace('.', '\\.')} is corrupt`)) }]);
    expect(p.restoredFromEpoch).toBe(newest - 1);
    await expectRows(ts.sql, 'SELECT k, n, total FROM counts ORDER BY k', expectedCounts(evs(0, 450)));
  });
});
