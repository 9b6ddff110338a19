/**
 * Fault test 1: the service is killed with SIGKILL at precise steps of a checkpoint (through the
 * STREAMSQL_CRASH_AT test hook) and at a random moment, while events keep arriving, and restarted on
 * the same DATA_DIR each time. The view (pull query over HTTP) and the read_committed sink records
 * must equal the results computed from the produced events exactly: nothing lost, nothing twice.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTopic } from '../../connectors/kafka/admin.ts';
import { brokerList, brokers, uniqueTopic } from '../helpers/kafka.ts';
import { waitFor } from '../helpers/service.ts';
import { killAll, startChild, type ChildService } from './child-service.ts';
import { createTopicReady, ddl, expectedCounts, expectedWindows, flushWindows, latestCommit, sortWindows, startProducing, within, type WindowRow } from './workload.ts';

const PARTITIONS = 3;

describe('kill -9 at every step of a checkpoint, restart, exact output', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'streamsql-fault-kill-'));
  afterAll(async () => { await killAll(); rmSync(dataDir, { recursive: true, force: true }); });

  it('keeps the view and the exactly-once sink exact across six kills', async () => {
    const t0 = Date.now();
    const topic = uniqueTopic('fault-in');
    const outTopic = uniqueTopic('fault-out');
    await createTopicReady(brokerList(), topic, PARTITIONS);
    await createTopicReady(brokerList(), outTopic, 1);
    const producer = startProducing(brokerList(), topic);
    const steps: string[] = [];
    const start = async (crashAt?: string) => {
      const c = await startChild({ dataDir, brokers: brokers(), crashAt });
      return c;
    };
    /** Starts a child that must die by its own crash hook at `crashAt`; checks that it did. */
    const crashRun = async (crashAt: string, expectLine: RegExp): Promise<void> => {
      const c = await start(crashAt);
      const exit = await within(c.exited, 40_000, `crash at ${crashAt}`).catch((err) => { throw new Error(`${(err as Error).message}\n${c.stderr().slice(-4000)}`); });
      expect(exit.signal, c.stderr().slice(-2000)).toBe('SIGKILL');
      expect(c.stderr()).toMatch(expectLine);
      steps.push(`${crashAt} (+${Date.now() - t0} ms)`);
    };

    // 1. Mid-batch: a batch of the view's epoch 3 is processed, then the process dies.
    const c1 = await start('mid-batch:3:counts');
    const created = await c1.sql(ddl(topic, outTopic));
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const viewId: string = created.body.results[1].queryId;
    const sinkId: string = created.body.results[2].queryId;
    expect((await within(c1.exited, 40_000, 'mid-batch crash')).signal).toBe('SIGKILL');
    expect(c1.stderr()).toMatch(/crash hook: mid-batch epoch 3 query counts/);
    if (process.env.FAULT_DEBUG) console.log(c1.stderr());
    steps.push(`mid-batch (+${Date.now() - t0} ms)`);

    // 2. During a state write: the first state file of the sink's epoch is down, the rest is not.
    //    Two epochs ahead of the last marker: the kill above may have caught the sink between its
    //    transaction and its marker, and such an epoch is rolled forward on restart, never written again.
    let e = latestCommit(dataDir, sinkId);
    await crashRun(`state-write:${e + 2}:out_sink`, new RegExp(`crash hook: state-write epoch ${e + 2} query out_sink`));

    // 3. After the sink transaction committed, before the commit marker: the next start must roll
    //    this epoch forward (its output is already visible), not replay it.
    e = latestCommit(dataDir, sinkId);
    const committedNoMarker = e + 1;
    await crashRun(`after-sink-commit:${committedNoMarker}:out_sink`, new RegExp(`crash hook: after-sink-commit epoch ${committedNoMarker} query out_sink`));
    expect(latestCommit(dataDir, sinkId)).toBe(committedNoMarker - 1);

    // 4. A clean start: it rolls the epoch forward; then a kill -9 from outside at a random moment.
    const c4 = await start();
    const p4 = await waitFor(async () => {
      const p = (await c4.get(`/v1/queries/${sinkId}`)).body.progress;
      return p && p.epoch > committedNoMarker + 1 ? p : null;
    }, 30_000, 'sink running after the roll-forward');
    expect(p4.rolledForwardEpoch).toBe(committedNoMarker);
    expect(p4.restoredFromEpoch).toBe(committedNoMarker);
    await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 400)));
    expect((await c4.kill('SIGKILL')).signal).toBe('SIGKILL');
    steps.push(`external SIGKILL (+${Date.now() - t0} ms)`);
    if (process.env.FAULT_DEBUG) console.log(c4.stderr());

    // 5 and 6. Twice in a row: during restore, then right after the next epoch's offsets are written.
    await crashRun('restore:*', /crash hook: restore epoch \d+/);
    e = latestCommit(dataDir, viewId);
    // The view's table is checkpointed incrementally: the epochs restored here were a base plus deltas.
    const stateDir = path.join(dataDir, 'queries', viewId, 'state');
    const chains = readdirSync(stateDir).filter((n) => /^\d+$/.test(n)).map((n) => ({ epoch: Number(n), base: (JSON.parse(readFileSync(path.join(stateDir, n, 'meta.json'), 'utf8')) as { chains?: { table?: { base: number } } }).chains?.table?.base }));
    expect(chains.some((c) => c.base !== undefined && c.base < c.epoch), JSON.stringify(chains)).toBe(true);
    await crashRun(`after-offsets:${e + 1}:counts`, new RegExp(`crash hook: after-offsets epoch ${e + 1} query counts`));

    // 7. The last start runs to the end of the input.
    const c7 = await start();
    const produced = await producer.stop();
    await flushWindows(brokerList(), topic, PARTITIONS);
    const wantCounts = expectedCounts(produced);
    const wantWindows = expectedWindows(produced);
    expect(produced.length).toBeGreaterThan(1000);

    const rows = await waitFor(async () => {
      const r = await c7.sql('SELECT k, n, total FROM counts ORDER BY k');
      const got = r.body.results?.[0]?.rows as { n: number }[] | undefined;
      return got && got.reduce((s, x) => s + x.n, 0) === produced.length ? got : null;
    }, 60_000, 'view complete');
    expect(rows).toEqual(wantCounts);

    // The sink is complete once every window is in its topic (read_committed); more would be duplicates.
    await waitFor(async () => {
      const p = (await c7.get(`/v1/queries/${sinkId}`)).body.progress;
      return p && p.partitions.length === PARTITIONS && p.partitions.every((x: { lag: number }) => x.lag === 0);
    }, 60_000, 'sink caught up');
    let records: Awaited<ReturnType<typeof readTopic>> = [];
    await waitFor(async () => {
      records = await readTopic(brokerList(), outTopic, { idleMs: 800 });
      return records.length >= wantWindows.length;
    }, 30_000, 'sink records');
    const got = sortWindows(records.map((r) => JSON.parse(r.value!) as WindowRow));
    expect(got.length).toBe(wantWindows.length);
    expect(got).toEqual(wantWindows);

    const status = (await c7.get(`/v1/queries/${sinkId}`)).body;
    expect(status.status).toBe('running');
    expect((await within(c7.kill('SIGTERM'), 30_000, 'graceful stop')).code).toBe(0);
    console.log(`kill points: ${steps.join(', ')}; ${produced.length} events, ${wantWindows.length} windows, total ${Date.now() - t0} ms`);
  }, 170_000);
});
