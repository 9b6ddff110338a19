/**
 * Fault test 2: a dedicated broker is stopped for 10 s while a view and an exactly-once sink are
 * reading (with lag). Both queries show `recovering` with the last error, come back to `running` when
 * the broker returns, and the final view rows and read_committed sink records are exact.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { produce, readTopic } from '../../connectors/kafka/admin.ts';
import { startLocalBroker, type LocalBroker } from '../../connectors/kafka/local-broker.ts';
import { startService, type Service } from '../../queries/service.ts';
import { buildApp } from '../../server/app.ts';
import { waitFor } from '../helpers/service.ts';
import { createTopicReady, ddl, event, expectRows, expectedCounts, expectedWindows, flushWindows, sortWindows, startProducing, type Ev, type WindowRow } from './workload.ts';

const PARTITIONS = 3;
const OUTAGE_MS = 10_000;

describe('broker outage', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'streamsql-fault-outage-'));
  const brokerDir = path.join(root, 'kafka');
  let broker: LocalBroker | undefined;
  let service: Service | undefined;
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  afterAll(async () => {
    await app?.close().catch(() => undefined);
    await service?.stop().catch(() => undefined);
    await broker?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('goes to recovering while the broker is away, comes back, and loses nothing', async () => {
    broker = await startLocalBroker({ dir: brokerDir, heapMb: 256 });
    const bootstrap = [broker.bootstrap];
    const topic = 'outage-in'; const out = 'outage-out';
    await createTopicReady(bootstrap, topic, PARTITIONS);
    await createTopicReady(bootstrap, out, 1);
    const send = (evs: Ev[]) => produce(bootstrap, topic, evs.map((e) => ({ partition: e.v % PARTITIONS, value: JSON.stringify(e) })));
    const first = Array.from({ length: 3000 }, (_, i) => event(i));
    await send(first);

    const logs: string[] = [];
    service = await startService({ kafkaBrokers: broker.bootstrap, dataDir: path.join(root, 'data'), demo: false, log: (l, m) => { logs.push(`${l} ${m}`); } });
    app = await buildApp(service);
    const get = async (url: string) => (await app!.inject({ method: 'GET', url })).json();
    const sql = async (q: string) => { const r = await app!.inject({ method: 'POST', url: '/v1/sql', payload: { sql: q } }); return { status: r.statusCode, body: r.json() }; };
    const r = await sql(ddl(topic, out));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const ids: string[] = [r.body.results[1].queryId, r.body.results[2].queryId];
    // Events keep arriving until the broker goes: the outage falls mid-stream.
    const producer = startProducing(bootstrap, topic, { from: first.length });
    await waitFor(async () => (await get(`/v1/queries/${ids[1]}`)).progress.inputRows >= first.length + 300, 30_000, 'reading');
    const live = await producer.stop();

    await broker.stop();
    const stoppedAt = Date.now();
    const seen: { status: string; error: string | null; checkpointFailures: number }[] = [];
    for (const id of ids) {
      const q = await waitFor(async () => { const x = await get(`/v1/queries/${id}`); return x.status === 'recovering' && x.error ? x : null; }, OUTAGE_MS, `${id} recovering`);
      seen.push({ status: q.status, error: q.error, checkpointFailures: q.progress.checkpointFailures });
    }
    await new Promise((res) => setTimeout(res, Math.max(0, stoppedAt + OUTAGE_MS - Date.now())));
    const sinkDuring = await get(`/v1/queries/${ids[1]}`);
    expect(sinkDuring.status).toBe('recovering');
    expect(sinkDuring.progress.checkpointFailures).toBeGreaterThan(0);

    broker = await startLocalBroker({ dir: brokerDir, port: broker.port, controllerPort: broker.controllerPort, heapMb: 256 });
    const backAt = Date.now();
    for (const id of ids) await waitFor(async () => (await get(`/v1/queries/${id}`)).status === 'running', 60_000, `${id} running again`);
    const recoveredMs = Date.now() - backAt;

    const second = Array.from({ length: 500 }, (_, i) => event(first.length + live.length + i));
    await send(second);
    await flushWindows(bootstrap, topic, PARTITIONS);
    const all = [...first, ...live, ...second];
    await expectRows(sql, 'SELECT k, n, total FROM counts ORDER BY k', expectedCounts(all), 60_000);
    const want = expectedWindows(all);
    let got: WindowRow[] = [];
    await waitFor(async () => {
      got = sortWindows((await readTopic(bootstrap, out, { idleMs: 1000 })).map((m) => JSON.parse(m.value!) as WindowRow));
      return got.length >= want.length;
    }, 60_000, 'sink records');
    expect(got).toEqual(want);
    const after = await get(`/v1/queries/${ids[1]}`);
    expect(after.status).toBe('running');
    console.log(`outage: recovering seen ${JSON.stringify(seen)}; running again ${recoveredMs} ms after the broker was back; sink checkpoint failures ${after.progress.checkpointFailures}`);
  }, 150_000);
});
