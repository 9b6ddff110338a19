/**
 * "After a restart of `npm start`, the demo views continue from where they were, with no gap and no
 * double counts": the service runs in its own process with the demo's example view
 * (queries/examples/nexmark-bids.sql) over a deterministic bid producer instead of the random demo
 * generator; it is stopped gracefully (SIGTERM, as Ctrl-C of `npm start`) and killed with kill -9,
 * and restarted each time. The view resumes from its checkpoint at once and ends exactly equal to
 * the bids produced.
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSideProducer } from '../../connectors/kafka/sink.ts';
import { EXAMPLES_DIR } from '../../queries/demo.ts';
import { brokerList, brokers, uniqueTopic } from '../helpers/kafka.ts';
import { waitFor } from '../helpers/service.ts';
import { killAll, startChild } from './child-service.ts';
import { createTopicReady, T0, within } from './workload.ts';

interface Bid { auction: number; bidder: number; price: number; channel: string; url: string; dateTime: string }
const bid = (i: number): Bid => ({ auction: 1000 + (i % 5), bidder: i, price: i % 13 === 0 ? 0 : (i * 7) % 90 + 1, channel: 'web', url: `https://x/${i}`, dateTime: new Date(T0 + i * 20).toISOString() });

function expected(bids: readonly Bid[]) {
  const m = new Map<string, { window_start: string; window_end: string; auction: number; bids: number; volume: number; low: number; high: number }>();
  for (const b of bids) {
    if (!(b.price > 0)) continue;
    const ws = Math.floor(Date.parse(b.dateTime) / 60_000) * 60_000;
    const k = `${ws}/${b.auction}`;
    const r = m.get(k) ?? { window_start: new Date(ws).toISOString(), window_end: new Date(ws + 60_000).toISOString(), auction: b.auction, bids: 0, volume: 0, low: Infinity, high: -Infinity };
    r.bids++; r.volume += b.price; r.low = Math.min(r.low, b.price); r.high = Math.max(r.high, b.price);
    m.set(k, r);
  }
  return [...m.values()].sort((a, b) => a.window_start.localeCompare(b.window_start) || a.auction - b.auction);
}

describe('restart of the service: the demo view continues with no gap and no double counts', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'streamsql-fault-restart-'));
  afterAll(async () => { await killAll(); rmSync(dataDir, { recursive: true, force: true }); });

  it('survives SIGTERM and kill -9 with exact counts', async () => {
    const topic = uniqueTopic('bids');
    await createTopicReady(brokerList(), topic, 3);
    const sql = readFileSync(path.join(EXAMPLES_DIR, 'nexmark-bids.sql'), 'utf8').replace("topic = 'bids'", `topic = '${topic}'`);
    expect(sql).toContain(topic);

    const producer = createSideProducer(brokerList(), 'restart-test-producer');
    const produced: Bid[] = [];
    let stop = false;
    const loop = (async () => {
      for (let i = 0; !stop;) {
        const batch = Array.from({ length: 20 }, () => bid(i++));
        await producer.send(topic, batch.map((b) => ({ key: String(b.bidder % 9), value: JSON.stringify(b) })));
        produced.push(...batch);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const total = async (c: { sql(q: string): Promise<{ body: any }> }) => Number((await c.sql('SELECT SUM(bids) AS n FROM bids_per_minute')).body.results?.[0]?.rows?.[0]?.n ?? 0);

    const c1 = await startChild({ dataDir, brokers: brokers() });
    const r = await c1.sql(sql);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await waitFor(async () => (await total(c1)) > 200, 30_000, 'first counts');
    const beforeTerm = await total(c1);
    expect((await within(c1.kill('SIGTERM'), 30_000, 'graceful stop')).code).toBe(0);

    // Graceful stop checkpointed: the restarted view shows at least what it showed before, at once.
    const c2 = await startChild({ dataDir, brokers: brokers() });
    const resumed = await total(c2);
    expect(resumed).toBeGreaterThanOrEqual(beforeTerm);
    await waitFor(async () => (await total(c2)) > resumed + 200, 30_000, 'counting again');
    expect((await c2.kill('SIGKILL')).signal).toBe('SIGKILL');

    const c3 = await startChild({ dataDir, brokers: brokers() });
    await new Promise((res) => setTimeout(res, 1000));
    stop = true;
    await loop;
    await producer.close();
    const want = expected(produced);
    const wantTotal = want.reduce((s, x) => s + x.bids, 0);
    await waitFor(async () => (await total(c3)) === wantTotal, 60_000, `all ${wantTotal} bids counted`).catch(async (e) => { throw new Error(`${(e as Error).message}: have ${await total(c3)}`); });
    const rows = (await c3.sql('SELECT * FROM bids_per_minute ORDER BY window_start, auction')).body.results[0].rows;
    expect(rows).toEqual(want);
    const q = (await c3.get('/v1/queries')).body.queries[0];
    expect(q.status).toBe('running');
    expect((await within(c3.kill('SIGTERM'), 30_000, 'graceful stop')).code).toBe(0);
  }, 120_000);
});
