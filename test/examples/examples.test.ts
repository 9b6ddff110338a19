/**
 * Every example in queries/examples runs against the demo generator and returns rows: the service
 * starts with the demo (which writes the fixed topics bids, auctions, persons, tweets, pageviews,
 * so this is the only test file that runs it), each example's views fill, and each of its pull
 * queries answers rows that make sense for the query.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_EXAMPLES, loadExample, type Example } from '../../queries/demo.ts';
import { waitFor } from '../helpers/service.ts';
import { startServer, type Server } from '../server/helpers.ts';

const viewsOf = (ex: Example) => [...ex.setup.matchAll(/CREATE MATERIALIZED VIEW(?: IF NOT EXISTS)?\s+(\w+)/gi)].map((m) => m[1]!);

describe('queries/examples against the demo generator', () => {
  let srv: Server;
  const examples: Example[] = [];

  beforeAll(async () => {
    for (const f of DEMO_EXAMPLES) examples.push(await loadExample(f));
    srv = await startServer({ demo: true, demoEventsPerSecond: 400 });
  });
  afterAll(async () => { await srv?.close(); });

  it('each example has a description, creates views, and the demo submitted them all', async () => {
    const { body } = await srv.call('GET', '/v1/catalog');
    const names = body.views.map((v: any) => v.name);
    for (const ex of examples) {
      expect(ex.description.length, ex.file).toBeGreaterThan(20);
      expect(viewsOf(ex).length, ex.file).toBeGreaterThan(0);
      for (const v of viewsOf(ex)) expect(names, `${ex.file}: ${v}`).toContain(v);
    }
    expect(srv.logs.filter((l) => l.startsWith('error demo example'))).toEqual([]);
    const { queries } = (await srv.call('GET', '/v1/queries')).body;
    expect(queries.filter((q: any) => q.status === 'failed')).toEqual([]);
  });

  it('every example view fills with rows and every pull query returns rows', async () => {
    const pending = new Set(examples.flatMap((ex) => [...viewsOf(ex).map((v) => `view ${v}`), ...ex.pulls]));
    const answers = new Map<string, any[]>();
    await waitFor(async () => {
      for (const item of [...pending]) {
        if (item.startsWith('view ')) {
          const r = await srv.call('GET', `/v1/views/${item.slice(5)}?limit=5`);
          if (r.body.total > 0) { pending.delete(item); answers.set(item, r.body.rows); }
        } else {
          const r = await srv.call('POST', '/v1/sql', { sql: item });
          expect(r.status, `${item}: ${JSON.stringify(r.body)}`).toBe(200);
          const rows = r.body.results[0].rows;
          if (rows.length > 0) { pending.delete(item); answers.set(item, rows); }
        }
      }
      return pending.size === 0;
    }, 45_000, `rows from ${[...pending].join('; ')}`);

    const pull = (file: string, i = 0) => answers.get(examples.find((e) => e.file === file)!.pulls[i]!)!;
    for (const r of pull('tweet-sentiment.sql')) {
      expect(r.positive + r.negative).toBeLessThanOrEqual(r.tweets);
      expect(r.tweets).toBeGreaterThan(0);
    }
    expect(pull('tweet-sentiment.sql').some((r) => r.positive > 0 && r.negative > 0)).toBe(true);
    for (const r of pull('pageviews-per-user.sql')) expect(Date.parse(r.window_end) - Date.parse(r.window_start)).toBe(10 * 60_000);
    for (const r of pull('user-sessions.sql')) expect(Date.parse(r.session_end)).toBeGreaterThanOrEqual(Date.parse(r.session_start) + 5 * 60_000);
    // price * 0.908 = price * 227 / 250: a whole number only for a price that is a multiple of 250 (then a multiple of 227).
    for (const r of pull('nexmark-q1.sql')) expect(Number.isInteger(r.price_eur) && r.price_eur % 227 !== 0, String(r.price_eur)).toBe(false);
    expect(pull('nexmark-q1.sql').some((r: { price_eur: number }) => !Number.isInteger(r.price_eur))).toBe(true);
    for (const r of pull('nexmark-q2.sql')) expect(r.auction % 123).toBe(0);
    const latest = pull('nexmark-q5.sql', 0);
    const hot = pull('nexmark-q5.sql', 1);
    for (const r of latest) expect(Date.parse(r.window_end) - Date.parse(r.window_start)).toBe(10_000);
    expect(hot[0].num).toBeGreaterThanOrEqual(Math.max(...latest.map((m: any) => m.num)));
    // q5 keeps only the top auction(s) of a window: one count per window (ties share it).
    const perWindow = new Map<string, Set<number>>();
    for (const r of latest) perWindow.set(r.window_start, (perWindow.get(r.window_start) ?? new Set()).add(r.num));
    for (const s of perWindow.values()) expect(s.size).toBe(1);
    for (const r of pull('nexmark-q18.sql')) expect(r.auctions).toBeGreaterThan(0);
    // Within an auction, rank 1, 2, 3 … with prices that never rise (the views commit whole epochs).
    const podium = pull('nexmark-q19.sql');
    for (let i = 1; i < podium.length; i++) {
      if (podium[i].auction !== podium[i - 1].auction) continue;
      expect(podium[i].rank_number).toBe(podium[i - 1].rank_number + 1);
      expect(podium[i].price).toBeLessThanOrEqual(podium[i - 1].price);
    }
    for (const r of podium) expect(r.rank_number).toBeLessThanOrEqual(3);
    // q7 as written: each window's winning bid(s), all of one window at the same (maximum) price.
    const q7 = pull('nexmark-q7.sql');
    for (const r of q7) expect(r).toMatchObject({ auction: expect.any(Number), bidder: expect.any(Number), price: expect.any(Number) });
    for (const r of pull('nexmark-q3.sql')) expect(['OR', 'ID', 'CA']).toContain(r.state);
    for (const r of pull('nexmark-q4.sql')) { expect(r.category).toBeGreaterThanOrEqual(10); expect(r.avg_final).toBeGreaterThan(0); }
    for (const r of pull('nexmark-q8.sql')) expect(Date.parse(r.starttime) % 10_000).toBe(0);
    for (const r of pull('nexmark-q9.sql')) { expect(r.price).toBeGreaterThan(0); expect(Number.isFinite(Date.parse(r.bid_dateTime))).toBe(true); }
    for (const r of pull('nexmark-q20.sql')) expect(r.category).toBe(10);
  });
});
