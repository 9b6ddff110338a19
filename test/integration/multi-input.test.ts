/**
 * Queries over several inputs on the real broker: UNION ALL of two sources, the same source read
 * twice (a self-union), each input with its own offsets and watermark in the checkpoint; stopped and
 * restarted from the checkpoint, the counts neither lose nor double a row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';

const T0 = Date.parse('2024-01-01T12:00:00.000Z');
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

describe('queries over several inputs', () => {
  let ts: TestService;
  const a = uniqueTopic('union-a');
  const b = uniqueTopic('union-b');
  let dataDir = '';
  beforeAll(async () => {
    ts = await startTestService();
    dataDir = ts.dataDir;
    await createTopic(brokerList(), a, 2);
    await createTopic(brokerList(), b, 1);
  });
  afterAll(async () => { await ts?.close(); });

  const view = async (name: string) => (await ts.get(`/v1/views/${name}`)).body.rows as Record<string, unknown>[];

  it('UNION ALL of two sources and a self-union count every row of each input once, across a restart', async () => {
    await produce(brokerList(), a, [1, 2, 3, 4].map((k, i) => ({ value: JSON.stringify({ k, ts: iso(i) }), partition: i % 2 })));
    await produce(brokerList(), b, [1, 1, 5].map((k, i) => ({ value: JSON.stringify({ k, ts: iso(i) }) })));
    const res = await ts.sql(`
      CREATE SOURCE sa (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
        WITH (connector = 'kafka', topic = '${a}', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE SOURCE sb (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
        WITH (connector = 'kafka', topic = '${b}', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE MATERIALIZED VIEW both_counts WITH ('checkpoint.interval' = '200 ms') AS
        SELECT k, COUNT(*) AS n, SUM(w) AS weight FROM (
          SELECT k, 1 AS w FROM sa UNION ALL SELECT k, 10 AS w FROM sb
        ) GROUP BY k;
      CREATE MATERIALIZED VIEW twice WITH ('checkpoint.interval' = '200 ms') AS
        SELECT COUNT(*) AS n FROM (SELECT k FROM sa UNION ALL SELECT k FROM sa WHERE k > 2)`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const expected = (extraA: number[], extraB: number[]) => {
      const m = new Map<number, { n: number; weight: number }>();
      for (const k of [1, 2, 3, 4, ...extraA]) { const e = m.get(k) ?? { n: 0, weight: 0 }; e.n++; e.weight += 1; m.set(k, e); }
      for (const k of [1, 1, 5, ...extraB]) { const e = m.get(k) ?? { n: 0, weight: 0 }; e.n++; e.weight += 10; m.set(k, e); }
      return [...m].sort((x, y) => x[0] - y[0]).map(([k, e]) => ({ k, n: e.n, weight: e.weight }));
    };
    const rows = async () => (await view('both_counts')).map((r) => ({ k: Number(r.k), n: Number(r.n), weight: Number(r.weight) })).sort((x, y) => x.k - y.k);
    await waitFor(async () => JSON.stringify(await rows()) === JSON.stringify(expected([], [])), 30_000, 'union counts');
    await waitFor(async () => Number((await view('twice'))[0]?.n) === 6, 30_000, 'self-union count');

    // EXPLAIN shows both inputs and the union.
    const ex = await ts.sql(`EXPLAIN SELECT k FROM sa UNION ALL SELECT k FROM sb`);
    expect(ex.status).toBe(400); // a pull query over sources is refused…
    const ex2 = await ts.sql(`EXPLAIN CREATE MATERIALIZED VIEW x AS SELECT k FROM sa UNION ALL SELECT k FROM sb`);
    expect(ex2.status, JSON.stringify(ex2.body)).toBe(200);
    const graph: string = ex2.body.results[0].plan.graph;
    expect(graph).toMatch(/Union: 2 inputs <- \[n\d+, n\d+\]/);
    expect(graph).toMatch(/KafkaSource: sa .* input=#0/);
    expect(graph).toMatch(/KafkaSource: sb .* input=#1/);

    // Progress shows the partitions of both inputs; the checkpoint holds both inputs' offsets.
    const id = (await ts.get('/v1/queries')).body.queries.find((q: { name: string }) => q.name === 'both_counts').id;
    const pr = (await ts.get(`/v1/queries/${id}`)).body.progress;
    expect(pr.partitions.map((p: { topic: string }) => p.topic).sort()).toEqual([a, a, b].sort());
    expect(pr.inputRows).toBe(7);

    // Restart from the checkpoint; more rows on both topics are counted once.
    await ts.close({ keepData: true });
    ts = await startTestService({ dataDir });
    await produce(brokerList(), a, [{ value: JSON.stringify({ k: 5, ts: iso(9) }) }]);
    await produce(brokerList(), b, [{ value: JSON.stringify({ k: 2, ts: iso(9) }) }]);
    await waitFor(async () => JSON.stringify(await rows()) === JSON.stringify(expected([5], [2])), 30_000, 'union counts after restart');
    await waitFor(async () => Number((await view('twice'))[0]?.n) === 8, 30_000, 'self-union count after restart');
  });

  it('refuses UNION, EXCEPT and mismatched inputs with line:column', async () => {
    const cases: [string, RegExp][] = [
      ['CREATE MATERIALIZED VIEW u1 AS SELECT k FROM sa UNION SELECT k FROM sb', /UNION \(which removes duplicate rows\)/],
      ['CREATE MATERIALIZED VIEW u2 AS SELECT k FROM sa EXCEPT SELECT k FROM sb', /EXCEPT is not supported/],
      ['CREATE MATERIALIZED VIEW u3 AS SELECT k, ts FROM sa UNION ALL SELECT k FROM sb', /same number of columns/],
      ['CREATE MATERIALIZED VIEW u4 AS SELECT k FROM sa UNION ALL SELECT ts FROM sb', /column 1 of UNION ALL input 2 is TIMESTAMP/],
    ];
    for (const [sql, msg] of cases) {
      const r = await ts.sql(sql);
      expect(r.status, sql).toBe(400);
      expect(r.body.error.message, sql).toMatch(msg);
      expect(r.body.error.line, sql).toBe(1);
      expect(r.body.error.column, sql).toBeGreaterThan(1);
    }
  });
});

describe('a materialized view read by another continuous query', () => {
  let ts: TestService;
  const topic = uniqueTopic('mv-chain');
  beforeAll(async () => { ts = await startTestService(); await createTopic(brokerList(), topic, 2); });
  afterAll(async () => { await ts?.close(); });

  const rows = async (name: string) => ((await ts.get(`/v1/views/${name}`)).body.rows as Record<string, unknown>[])
    .map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)]))).sort((a, b) => (a.n! - b.n!) || ((a.keys ?? 0) - (b.keys ?? 0)));
  /** Expected: per k the count; then per count the number of keys with it and their sum. */
  const expected = (ks: number[]) => {
    const per = new Map<number, number>();
    for (const k of ks) per.set(k, (per.get(k) ?? 0) + 1);
    const by = new Map<number, { keys: number; total: number }>();
    for (const [k, n] of per) { const e = by.get(n) ?? { keys: 0, total: 0 }; e.keys++; e.total += k; by.set(n, e); }
    return [...by].map(([n, e]) => ({ n, keys: e.keys, total: e.total })).sort((a, b) => a.n - b.n);
  };

  it('follows the upstream view epoch by epoch, retracting, and catches up consistently after a restart', async () => {
    const ks: number[] = [];
    const send = async (batch: number[]) => { ks.push(...batch); await produce(brokerList(), topic, batch.map((k, i) => ({ value: JSON.stringify({ k }), partition: i % 2 }))); };
    await send([1, 2, 2, 3, 3, 3]);
    const res = await ts.sql(`
      CREATE SOURCE ev (k BIGINT) WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE MATERIALIZED VIEW per_k WITH ('checkpoint.interval' = '300 ms') AS SELECT k, COUNT(*) AS n FROM ev GROUP BY k;
      CREATE MATERIALIZED VIEW per_n WITH ('checkpoint.interval' = '200 ms') AS SELECT n, COUNT(*) AS keys, SUM(k) AS total FROM per_k GROUP BY n`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const ex = await ts.sql(`EXPLAIN CREATE MATERIALIZED VIEW x AS SELECT n, COUNT(*) AS keys FROM per_k GROUP BY n`);
    expect(ex.body.results[0].plan.graph).toMatch(/ViewChanges: per_k input=#0 \| changelog key=\[k\]/);
    await waitFor(async () => JSON.stringify(await rows('per_n')) === JSON.stringify(expected(ks)), 30_000, 'per_n');
    // k=1 moves from n=1 to n=2: the downstream retracts the old row of key 1.
    await send([1, 4]);
    await waitFor(async () => JSON.stringify(await rows('per_n')) === JSON.stringify(expected(ks)), 30_000, 'per_n after updates');
    // Restart: the two queries restore from their own checkpoints; more input after it is counted once.
    const dataDir = ts.dataDir;
    await ts.close({ keepData: true });
    await send([4, 5, 2]);
    ts = await startTestService({ dataDir });
    await waitFor(async () => JSON.stringify(await rows('per_n')) === JSON.stringify(expected(ks)), 30_000, 'per_n after restart');
    await send([6, 6, 6, 6]);
    await waitFor(async () => JSON.stringify(await rows('per_n')) === JSON.stringify(expected(ks)), 30_000, 'per_n after restart and more input');
    // Its progress: no Kafka input, so no watermark; the rows it took from the view are counted.
    const id = (await ts.get('/v1/queries')).body.queries.find((q: { name: string }) => q.name === 'per_n').id;
    const pr = await ts.get(`/v1/queries/${id}`);
    expect(pr.status).toBe(200);
    expect(pr.body.progress.watermark).toBe(null);
    expect(pr.body.progress.inputRows).toBeGreaterThan(0);
    // The upstream cannot be dropped under its reader.
    const drop = await ts.sql('DROP MATERIALIZED VIEW per_k');
    expect(drop.status).toBe(400);
    expect(drop.body.error.message).toMatch(/materialized view 'per_n' depends on it/);
  });
});

describe('joins on the real broker', () => {
  let ts: TestService;
  const tA = uniqueTopic('join-auction');
  const tB = uniqueTopic('join-bid');
  const tR = uniqueTopic('join-rates');
  beforeAll(async () => {
    ts = await startTestService();
    await createTopic(brokerList(), tA, 1); await createTopic(brokerList(), tB, 2); await createTopic(brokerList(), tR, 1);
  });
  afterAll(async () => { await ts?.close(); });
  const view = async (name: string) => ((await ts.get(`/v1/views/${name}`)).body.rows as Record<string, unknown>[]);

  it('regular, interval, window and temporal joins give the batch answer, and survive a restart', async () => {
    // Auctions 1..3 at 0 s; bids on them (and on auction 9, which never comes) over 0..25 s.
    await produce(brokerList(), tA, [1, 2, 3].map((id) => ({ value: JSON.stringify({ id, category: id === 2 ? 20 : 10, ts: iso(0) }) })));
    const bids = [[1, 5, 1], [1, 7, 2], [2, 9, 3], [3, 4, 12], [9, 8, 13], [1, 3, 21], [3, 6, 22]];
    await produce(brokerList(), tB, bids.map(([auction, price, s], i) => ({ value: JSON.stringify({ auction, price, ts: iso(s!) }), partition: i % 2 })));
    await produce(brokerList(), tR, [
      { key: JSON.stringify({ cur: 'EUR' }), value: JSON.stringify({ cur: 'EUR', rate: 2, ts: iso(0) }) },
      { key: JSON.stringify({ cur: 'EUR' }), value: JSON.stringify({ cur: 'EUR', rate: 3, ts: iso(10) }) },
    ]);
    const res = await ts.sql(`
      CREATE SOURCE auction (id BIGINT, category BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
        WITH (connector = 'kafka', topic = '${tA}', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE SOURCE bid (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
        WITH (connector = 'kafka', topic = '${tB}', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE TABLE rates (cur VARCHAR, rate BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND, PRIMARY KEY (cur) NOT ENFORCED)
        WITH (connector = 'upsert-kafka', topic = '${tR}', 'key.format' = 'json', 'value.format' = 'json');
      CREATE MATERIALIZED VIEW cat10 WITH ('checkpoint.interval' = '200 ms') AS
        SELECT B.auction, B.price FROM bid AS B INNER JOIN auction AS A ON B.auction = A.id WHERE A.category = 10;
      CREATE MATERIALIZED VIEW early WITH ('checkpoint.interval' = '200 ms') AS
        SELECT A.id, B.price FROM auction A LEFT JOIN bid B ON A.id = B.auction AND B.ts BETWEEN A.ts AND A.ts + INTERVAL '10' SECOND;
      CREATE MATERIALIZED VIEW max_bids WITH ('checkpoint.interval' = '200 ms') AS
        SELECT B.auction, B.price, B.ts FROM bid B JOIN (
          SELECT MAX(price) AS maxprice, window_end AS wend FROM TUMBLE(bid, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end
        ) M ON B.price = M.maxprice WHERE B.ts BETWEEN M.wend - INTERVAL '10' SECOND AND M.wend;
      CREATE MATERIALIZED VIEW in_eur WITH ('checkpoint.interval' = '200 ms') AS
        SELECT B.auction, B.price * r.rate AS eur FROM (SELECT auction, price, ts, 'EUR' AS cur FROM bid) AS B
          JOIN rates FOR SYSTEM_TIME AS OF B.ts AS r ON B.cur = r.cur`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    // Push the watermarks far ahead on every input (and partition) so every window and bound closes.
    await produce(brokerList(), tA, [{ value: JSON.stringify({ id: 100, category: 0, ts: iso(100) }) }]);
    await produce(brokerList(), tB, [0, 1].map((p) => ({ value: JSON.stringify({ auction: 100, price: 0, ts: iso(100) }), partition: p })));
    await produce(brokerList(), tR, [{ key: JSON.stringify({ cur: 'X' }), value: JSON.stringify({ cur: 'X', rate: 0, ts: iso(100) }) }]);
    const num = (v: unknown) => (v === null ? null : typeof v === 'string' && /^\d{4}-/.test(v) ? Date.parse(v) : Number(v));
    const sorted = (rows: Record<string, unknown>[], cols: string[]) => rows.map((r) => cols.map((c) => num(r[c]))).sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
    const want = {
      cat10: [[1, 3], [1, 5], [1, 7], [3, 4], [3, 6]],
      // Bids within 10 s of their auction; auction 100 has no bid in its bound… except its own at 100 s.
      early: [[1, 5], [1, 7], [2, 9], [3, null], [100, 0], [100, 0]],
      // Max per 10 s window [0,10): 9 (auction 2); [10,20): 8 (auction 9); [20,30): 6 (auction 3).
      max_bids: [[2, 9, T0 + 3000], [3, 6, T0 + 22000], [9, 8, T0 + 13000]],
      // EUR rate 2 until 10 s, 3 from 10 s on.
      in_eur: [[1, 9], [1, 10], [1, 14], [2, 18], [3, 12], [3, 18], [9, 24]],
    };
    const eq = async () => {
      const g1 = sorted(await view('cat10'), ['auction', 'price']);
      const g2 = sorted(await view('early'), ['id', 'price']);
      const g3 = sorted(await view('max_bids'), ['auction', 'price', 'ts']);
      const g4 = sorted((await view('in_eur')).filter((r) => Number(r.auction) !== 100), ['auction', 'eur']);
      const s = (x: unknown[][]) => JSON.stringify([...x].sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
      const ok = s(g1) === s(want.cat10) && s(g2) === s(want.early) && s(g3) === s(want.max_bids) && s(g4) === s(want.in_eur);
      return ok ? true : JSON.stringify({ g1, g2, g3, g4 });
    };
    let last: unknown = null;
    await waitFor(async () => { last = await eq(); return last === true; }, 40_000, 'join views').catch((e) => { throw new Error(`${(e as Error).message}: ${String(last)}`); });
    // Restart from the checkpoints: state of every join is restored; new rows join with restored ones.
    const dataDir = ts.dataDir;
    await ts.close({ keepData: true });
    ts = await startTestService({ dataDir });
    await produce(brokerList(), tB, [{ value: JSON.stringify({ auction: 3, price: 11, ts: iso(101) }), partition: 0 }]);
    // Watermarks on to ~199 s: the window [100 s, 110 s) closes, the temporal join passes 101 s.
    await produce(brokerList(), tA, [{ value: JSON.stringify({ id: 201, category: 0, ts: iso(200) }) }]);
    await produce(brokerList(), tB, [0, 1].map((p) => ({ value: JSON.stringify({ auction: 100, price: 0, ts: iso(200) }), partition: p })));
    await produce(brokerList(), tR, [{ key: JSON.stringify({ cur: 'X' }), value: JSON.stringify({ cur: 'X', rate: 0, ts: iso(200) }) }]);
    want.cat10.push([3, 11]);
    want.in_eur.push([3, 33]);
    want.max_bids.push([3, 11, T0 + 101_000]);

    await waitFor(async () => { last = await eq(); return last === true; }, 40_000, 'join views after restart').catch((e) => { throw new Error(`${(e as Error).message}: ${String(last)}`); });
  });
});
