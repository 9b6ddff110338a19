/**
 * The whole path once, on the real broker: events with chosen timestamps on a 3-partition topic,
 * SQL over HTTP, the exact windows read back with a pull query, and the late event counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
import { brokerList, brokers, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';

const T0 = Date.parse('2024-01-01T12:00:00.000Z');
const at = (s: number) => T0 + s * 1000;
const iso = (s: number) => new Date(at(s)).toISOString();

describe('foundation: Kafka → SQL over HTTP → windowed view → pull query', () => {
  let ts: TestService;
  const topic = uniqueTopic('bids');
  beforeAll(async () => {
    ts = await startTestService();
    await createTopic(brokerList(), topic, 3);
  });
  afterAll(async () => { await ts?.close(); });

  it('reports the cluster in /v1/info and answers /healthz', async () => {
    expect((await ts.get('/healthz')).status).toBe(200);
    const info = await ts.get('/v1/info');
    expect(info.body.kafka).toEqual({ bootstrap: brokers(), embedded: false });
    expect(info.body.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('computes the exact windows and drops the late event', async () => {
    // Auction 7 and 8 across three partitions; ISO strings and epoch millis both accepted.
    const phase1 = [
      { p: 0, v: { auction: 7, bidder: 1, price: 100, ts: iso(5) } },
      { p: 1, v: { auction: 7, bidder: 2, price: 250, ts: at(20) } },
      { p: 2, v: { auction: 8, bidder: 3, price: 40, ts: iso(30) } },
      { p: 2, v: { auction: 7, bidder: 3, price: 0, ts: iso(31) } }, // filtered by WHERE price > 0
      { p: 0, v: { auction: 7, bidder: 4, price: 75, ts: iso(61) } },
      { p: 1, v: { auction: 8, bidder: 5, price: 60, ts: at(62) } },
      // Every partition passes 70 s, so the watermark (min over partitions, minus 5 s) passes 60 s.
      { p: 0, v: { auction: 7, bidder: 6, price: 10, ts: iso(70) } },
      { p: 1, v: { auction: 7, bidder: 7, price: 20, ts: iso(71) } },
      { p: 2, v: { auction: 9, bidder: 8, price: 30, ts: iso(72) } },
    ];
    await produce(brokerList(), topic, phase1.map((m) => ({ partition: m.p, value: JSON.stringify(m.v) })));
    const res = await ts.sql(`
      CREATE SOURCE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3),
        WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
      WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest');

      CREATE MATERIALIZED VIEW bids_per_minute AS
      SELECT window_start, window_end, auction, COUNT(*) AS bids, SUM(price) AS volume,
             MIN(price) AS low, MAX(price) AS high
      FROM TUMBLE(bids, ts, INTERVAL '1' MINUTE)
      WHERE price > 0
      GROUP BY window_start, window_end, auction;`);
    expect(res.status).toBe(200);
    expect(res.body.results).toHaveLength(2);
    const queryId: string = res.body.results[1].queryId;
    expect(queryId).toMatch(/[0-9a-f-]{36}/);

    const progress = async () => (await ts.get(`/v1/queries/${queryId}`)).body.progress;
    let seen: unknown;
    await waitFor(async () => { const p = await progress(); seen = p; return p.inputRows === phase1.length && p.watermark === iso(65); }, 30_000, 'phase 1 consumed')
      .catch((e) => { throw new Error(`${(e as Error).message}: ${JSON.stringify(seen)}`); });
    // The late event: its window [12:00, 12:01) closed when the watermark reached 12:01:05.
    await produce(brokerList(), topic, [{ partition: 1, value: JSON.stringify({ auction: 7, bidder: 9, price: 5000, ts: iso(40) }) }]);
    const p = await waitFor(async () => { const x = await progress(); return x.lateRowsDropped === 1 && x.epoch > 0 ? x : null; }, 30_000, 'late event counted');
    expect(p.inputRows).toBe(phase1.length + 1);
    expect(p.partitions.map((x: { partition: number }) => x.partition).sort()).toEqual([0, 1, 2]);
    expect(p.partitions.reduce((s: number, x: { lag: number }) => s + x.lag, 0)).toBe(0);

    const expected = [
      { window_start: iso(0), window_end: iso(60), auction: 7, bids: 2, volume: 350, low: 100, high: 250 },
      { window_start: iso(60), window_end: iso(120), auction: 7, bids: 3, volume: 105, low: 10, high: 75 },
    ];
    const rows = await waitFor(async () => {
      const r = await ts.sql('SELECT * FROM bids_per_minute WHERE auction = 7 ORDER BY window_start LIMIT 10');
      return r.body.results?.[0]?.rows?.length === 2 ? r.body.results[0].rows : null;
    }, 15_000, 'view rows');
    expect(rows).toEqual(expected);
    const all = await ts.sql('SELECT auction, SUM(bids) AS n FROM bids_per_minute GROUP BY auction ORDER BY auction');
    expect(all.body.results[0].rows).toEqual([{ auction: 7, n: 5 }, { auction: 8, n: 2 }, { auction: 9, n: 1 }]);
    expect(all.body.results[0].columns).toEqual([{ name: 'auction', type: 'BIGINT' }, { name: 'n', type: 'BIGINT' }]);

    const list = await ts.get('/v1/queries');
    expect(list.body.queries.map((q: { id: string }) => q.id)).toContain(queryId);
    const del = await ts.app.inject({ method: 'DELETE', url: `/v1/queries/${queryId}` });
    expect(del.statusCode).toBe(200);
    expect((await ts.get(`/v1/queries/${queryId}`)).status).toBe(404);
  });

  it('answers bad SQL and unknown names with 400, a message and line:column', async () => {
    const bad = await ts.sql('SELECT *\nFROM nowhere');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ line: 2, column: 6 });
    expect(bad.body.error.message).toMatch(/unknown source or view 'nowhere'/);
    const syntax = await ts.sql('CREATE SOURCE s (a BIGINT WITH (connector = \'kafka\')');
    expect(syntax.status).toBe(400);
    expect(syntax.body.error.line).toBe(1);
    const empty = await ts.app.inject({ method: 'POST', url: '/v1/sql', payload: { nope: 1 } });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.message).toBeTruthy();
    const notJson = await ts.app.inject({ method: 'POST', url: '/v1/sql', headers: { 'content-type': 'application/json' }, payload: '{"sql": ' });
    expect(notJson.statusCode).toBe(400);
  });
});
