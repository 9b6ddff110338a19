/**
 * The dashboard end to end in real headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core; no browser is downloaded): the service listens on a real port against the shared
 * broker; the page creates a source and a materialized view through its SQL editor, the view's rows
 * arrive in the live table and update when more events are produced, the query's charts fill, and bad
 * SQL is marked at the line and column the server reports. Screenshots go to test/.artifacts/.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
import { startService, type Service } from '../../queries/service.ts';
import { buildApp } from '../../server/app.ts';
import { brokerList, brokers, uniqueTopic } from '../helpers/kafka.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ARTIFACTS = path.join(ROOT, 'test/.artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const T0 = Date.parse('2024-03-01T09:00:00.000Z');
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

// A missing browser fails the run rather than passing it unseen; SKIP_BROWSER_TESTS=1 opts out knowingly.
describe.skipIf(process.env.SKIP_BROWSER_TESTS === '1')('dashboard in headless Chromium', () => {
  let service: Service;
  let app: FastifyInstance;
  let browser: Browser;
  let page: Page;
  let base: string;
  let dataDir: string;
  const pageErrors: string[] = [];
  const topic = uniqueTopic('dash-bids');
  const suffix = topic.replace(/[^a-zA-Z0-9]/g, '_').slice(-12);
  const source = `dash_bids_${suffix}`;
  const view = `dash_per_minute_${suffix}`;

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH (or SKIP_BROWSER_TESTS=1 to skip)`);
    mkdirSync(ARTIFACTS, { recursive: true });
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'streamsql-dash-'));
    service = await startService({ kafkaBrokers: brokers(), dataDir, demo: false, log: () => undefined });
    app = await buildApp(service);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    if (!addr || typeof addr === 'string') throw new Error('no port');
    base = `http://127.0.0.1:${addr.port}`;

    await createTopic(brokerList(), topic, 2);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await service?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** The live table as objects keyed by column name, read from the DOM. */
  const tableRows = () => page.$$eval('[data-testid="view-row"]', (trs) => trs.map((tr) => {
    const o: Record<string, string> = {};
    for (const td of tr.querySelectorAll('td')) o[(td as HTMLElement).dataset.col!] = td.textContent ?? '';
    return o;
  }));

  it('creates a source and a view from the editor, shows its rows live, and updates them', async () => {
    // Window 09:00 on two partitions; the watermark (min over partitions − 5 s) stays inside it.
    await produce(brokerList(), topic, [
      { partition: 0, value: JSON.stringify({ auction: 7, price: 100, ts: iso(5) }) },
      { partition: 1, value: JSON.stringify({ auction: 7, price: 250, ts: iso(12) }) },
      { partition: 0, value: JSON.stringify({ auction: 8, price: 40, ts: iso(20) }) },
      { partition: 1, value: JSON.stringify({ auction: 8, price: 60, ts: iso(21) }) },
    ]);

    // server/ serves web/ at / with the vendored uPlot next to it.
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    expect(await index.text()).toContain('id="sql-editor"');
    const uplot = await fetch(`${base}/vendor/uPlot.esm.js`);
    expect(uplot.headers.get('content-type')).toMatch(/javascript/);
    expect(await uplot.text()).toContain('export { uPlot as default }'); // read to the end: an unread body holds the connection open past app.close()
    await page.goto(base);
    await page.waitForSelector('#conn[data-state="ok"]', { timeout: 10_000 });
    await page.fill('[data-testid="sql-editor"]', [
      `CREATE SOURCE ${source} (auction BIGINT, price BIGINT, ts TIMESTAMP(3),`,
      `  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)`,
      `WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest');`,
      '',
      `CREATE MATERIALIZED VIEW ${view} AS`,
      'SELECT window_start, window_end, auction, COUNT(*) AS bids, SUM(price) AS volume, MAX(price) AS high',
      `FROM TUMBLE(${source}, ts, INTERVAL '1' MINUTE)`,
      'GROUP BY window_start, window_end, auction;',
    ].join('\n'));
    const tRun = Date.now();
    await page.click('[data-testid="sql-run"]');
    await page.waitForSelector('[data-testid="sql-status"][data-state="ok"]', { timeout: 15_000 });
    expect(await page.$$eval('[data-testid="sql-result-item"]', (els) => els.map((e) => (e as HTMLElement).dataset.statement)))
      .toEqual(['CREATE SOURCE', 'CREATE MATERIALIZED VIEW']);

    // The catalog lists both within a refresh, and the new view's panel opens by itself.
    await page.waitForSelector(`[data-testid="source-item"][data-name="${source}"]`, { timeout: 5000 });
    await page.waitForSelector(`[data-testid="view-item"][data-name="${view}"]`, { timeout: 5000 });
    await page.waitForSelector(`[data-testid="view-panel"][data-view="${view}"]`, { timeout: 5000 });

    await page.waitForFunction(() => document.querySelectorAll('[data-testid="view-row"]').length === 2, null, { timeout: 20_000 });
    const rowsMs = Date.now() - tRun;
    const first = await tableRows();
    expect(first).toEqual([
      { window_start: iso(0), window_end: iso(60), auction: '7', bids: '2', volume: '350', high: '250' },
      { window_start: iso(0), window_end: iso(60), auction: '8', bids: '2', volume: '100', high: '60' },
    ]);
    await shot('1-view-rows');

    // More events: auction 7 in the same window changes (2 → 3 bids), auction 9 appears.
    const updatesBefore = Number(await page.getAttribute('[data-testid="view-panel"]', 'data-updates'));
    const tProduce = Date.now();
    await produce(brokerList(), topic, [
      { partition: 0, value: JSON.stringify({ auction: 7, price: 500, ts: iso(30) }) },
      { partition: 1, value: JSON.stringify({ auction: 9, price: 5, ts: iso(31) }) },
    ]);
    await page.waitForFunction(() => {
      const row = [...document.querySelectorAll('[data-testid="view-row"]')].find((tr) => tr.querySelector('[data-col="auction"]')?.textContent === '7');
      return row?.querySelector('[data-col="bids"]')?.textContent === '3';
    }, null, { timeout: 20_000 });
    const updateMs = Date.now() - tProduce;
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="view-row"]').length === 3, null, { timeout: 10_000 });
    process.stderr.write(`[dashboard] rows in the live table ${rowsMs} ms after Run; update shown ${updateMs} ms after produce\n`);
    const second = await tableRows();
    expect(second).toEqual([
      { window_start: iso(0), window_end: iso(60), auction: '7', bids: '3', volume: '850', high: '500' },
      { window_start: iso(0), window_end: iso(60), auction: '8', bids: '2', volume: '100', high: '60' },
      { window_start: iso(0), window_end: iso(60), auction: '9', bids: '1', volume: '5', high: '5' },
    ]);

    // Live means pushed: the rows came over the SSE change stream, not by polling.
    const mode = await page.getAttribute('[data-testid="view-live"]', 'data-mode');
    expect(mode).toBe('sse');
    expect(Number(await page.getAttribute('[data-testid="view-panel"]', 'data-updates'))).toBeGreaterThan(updatesBefore);

    // The time chart: one point per window_start, for the chosen column, a line per auction.
    expect(await page.$eval('[data-testid="view-chart-column"]', (s) => [...(s as HTMLSelectElement).options].map((o) => o.value))).toEqual(['bids', 'volume', 'high']);
    await page.selectOption('[data-testid="view-chart-column"]', 'volume');
    await page.waitForFunction(() => document.querySelector('#view-chart')?.getAttribute('data-column') === 'volume' && document.querySelector('#view-chart .uplot') !== null, null, { timeout: 5000 });
    expect(await page.getAttribute('#view-chart', 'data-points')).toBe('1');
    expect(await page.getAttribute('#view-chart', 'data-mode')).toBe('groups');
    expect(await page.$$eval('#view-chart .u-legend .u-series:not(:first-child) .u-label', (els) => els.map((e) => e.textContent))).toEqual(['auction=7', 'auction=8', 'auction=9']);
    await shot('2-view-updated');
    await page.selectOption('[data-testid="view-chart-mode"]', 'sum');
    await page.waitForFunction(() => document.querySelector('#view-chart')?.getAttribute('data-mode') === 'sum', null, { timeout: 5000 });
    expect(await page.$$eval('#view-chart .u-legend .u-series:not(:first-child) .u-label', (els) => els.map((e) => e.textContent))).toEqual(['sum(volume) over auction']);
    await page.selectOption('[data-testid="view-chart-mode"]', 'auto');
  });

  it('shows the query with live charts of rates, watermark delay and partition lag', async () => {
    await page.click(`[data-testid="query-item"][data-name="${view}"]`);
    await page.waitForSelector('[data-testid="query-panel"]:not([hidden])');
    // Three polls at 1 s: charts are drawn and the counters match what was produced.
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="query-panel"]')?.getAttribute('data-samples')) >= 3, null, { timeout: 10_000 });
    expect(await page.textContent('[data-testid="query-status"]')).toBe('running');
    expect(await page.textContent('[data-testid="stat-input-rows"]')).toBe('6');
    expect(await page.textContent('[data-testid="stat-watermark"]')).toBe(iso(25));
    for (const id of ['chart-rates', 'chart-watermark', 'chart-lag']) expect(await page.$(`#${id} .uplot canvas`), id).not.toBeNull();
    expect(await page.$$eval('#chart-lag .u-legend .u-series:not(:first-child) .u-label', (els) => els.map((e) => e.textContent))).toEqual(['p0', 'p1']);
    expect(await page.$$eval('#chart-rates .u-legend .u-series:not(:first-child) .u-label', (els) => els.map((e) => e.textContent))).toEqual(['input', 'processed']);
    const parts = await page.$$eval('[data-testid="query-partitions"] tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(parts).toEqual([[topic, '0', '3', '3', '0'], [topic, '1', '3', '3', '0']]);
    await page.locator('[data-testid="query-panel"]').scrollIntoViewIfNeeded();
    await shot('3-query-charts');
  });

  it('streams an ad-hoc push query (SELECT … EMIT CHANGES) and stops it', async () => {
    await page.fill('[data-testid="sql-editor"]', `SELECT auction, COUNT(*) AS n, MAX(price) AS high\nFROM ${source}\nGROUP BY auction\nEMIT CHANGES;`);
    await page.click('[data-testid="sql-run"]');
    await page.waitForSelector('[data-testid="push-result"]', { timeout: 10_000 });
    const pushRows = () => page.$$eval('[data-testid="push-row"]', (trs) => trs.map((tr) => Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [(td as HTMLElement).dataset.col, td.textContent]))));
    const sorted = async () => (await pushRows()).sort((a, b) => Number(a.auction) - Number(b.auction));
    // The source starts from the earliest offsets: all six events so far, grouped per auction.
    await page.waitForFunction(() => document.querySelector('[data-testid="push-result"]')?.getAttribute('data-rows') === '3', null, { timeout: 20_000 });
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="push-row"] [data-col="n"]')].reduce((s, td) => s + Number(td.textContent), 0) === 6, null, { timeout: 10_000 });
    expect(await sorted()).toEqual([{ auction: '7', n: '3', high: '500' }, { auction: '8', n: '2', high: '60' }, { auction: '9', n: '1', high: '5' }]);
    expect(service.engine.pushQueries()).toHaveLength(1);

    await produce(brokerList(), topic, [{ partition: 1, value: JSON.stringify({ auction: 8, price: 70, ts: iso(40) }) }]);
    await page.waitForFunction(() => {
      const tr = [...document.querySelectorAll('[data-testid="push-row"]')].find((r) => r.querySelector('[data-col="auction"]')?.textContent === '8');
      return tr?.querySelector('[data-col="n"]')?.textContent === '3';
    }, null, { timeout: 20_000 });
    expect(await sorted()).toEqual([{ auction: '7', n: '3', high: '500' }, { auction: '8', n: '3', high: '70' }, { auction: '9', n: '1', high: '5' }]);
    // The changed row moved to the top.
    expect((await pushRows())[0]!.auction).toBe('8');
    await shot('4-push-query');

    await page.click('[data-testid="push-stop"]');
    expect(await page.getAttribute('[data-testid="push-state"]', 'data-state')).toBe('stopped');
    // Disconnecting stops the query on the server.
    for (let i = 0; i < 50 && service.engine.pushQueries().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(service.engine.pushQueries()).toHaveLength(0);
  });

  it('marks bad SQL at the line and column the server reports', async () => {
    const lines = [
      'SELECT window_start,',
      '       auction,',
      '       bidz',
      `FROM ${view}`,
      'WHERE auction = 7',
    ];
    const line = 3;
    const column = lines[2]!.indexOf('bidz') + 1;
    await page.fill('[data-testid="sql-editor"]', lines.join('\n'));
    await page.keyboard.press('Control+Enter');
    await page.waitForSelector('[data-testid="sql-error"]:not([hidden])', { timeout: 5000 });
    expect(await page.getAttribute('[data-testid="sql-status"]', 'data-state')).toBe('error');
    expect(await page.getAttribute('[data-testid="sql-error"]', 'data-line')).toBe(String(line));
    expect(await page.getAttribute('[data-testid="sql-error"]', 'data-column')).toBe(String(column));
    expect(await page.textContent('[data-testid="sql-error-message"]')).toMatch(/bidz/);
    // The highlighted line is the third, the caret sits on the 'b' of bidz, the gutter number is marked.
    expect(await page.getAttribute('[data-testid="sql-error-line"]', 'data-line')).toBe(String(line));
    expect(await page.textContent('[data-testid="sql-error-line"]')).toBe(lines[2]);
    expect(await page.textContent('[data-testid="sql-error-caret"]')).toBe('b');
    expect(await page.textContent('[data-testid="sql-error-gutter"]')).toBe(String(line));
    expect(await page.textContent('[data-testid="sql-error-snippet"]')).toBe(`   3 | ${lines[2]}\n     | ${' '.repeat(column - 1)}^`);
    // The caret mark lies under the token as the textarea draws it: same row, same x as its column.
    const caret = (await page.locator('[data-testid="sql-error-caret"]').boundingBox())!;
    const lineBox = (await page.locator('[data-testid="sql-error-line"]').boundingBox())!;
    const editorBox = (await page.locator('[data-testid="sql-editor"]').boundingBox())!;
    expect(Math.abs((caret.y + caret.height / 2) - (lineBox.y + lineBox.height / 2))).toBeLessThan(2);
    expect(lineBox.y - editorBox.y).toBeGreaterThan(2 * caret.height - 1);
    expect(caret.x - editorBox.x).toBeCloseTo(12 + (column - 1) * caret.width, 0);
    await page.locator('[data-testid="editor-panel"], #editor-panel').scrollIntoViewIfNeeded();
    await shot('5-sql-error');
  });

  it('stops the query from its panel: the view leaves the catalog and its stream ends', async () => {
    // The open panels were left by the tests above: the query's (with its Stop button) and the view's.
    expect(await page.getAttribute('[data-testid="view-live"]', 'data-mode')).toBe('sse');
    // The event produced for the push query reached the view as well.
    await page.waitForFunction(() => {
      const tr = [...document.querySelectorAll('[data-testid="view-row"]')].find((r) => r.querySelector('[data-col="auction"]')?.textContent === '8');
      return tr?.querySelector('[data-col="bids"]')?.textContent === '3';
    }, null, { timeout: 20_000 });
    page.once('dialog', (d) => void d.accept());
    await page.click('[data-testid="query-stop"]');
    await page.waitForSelector('[data-testid="query-panel"]', { state: 'hidden', timeout: 20_000 });
    await page.waitForSelector(`[data-testid="view-item"][data-name="${view}"]`, { state: 'detached', timeout: 20_000 });
    await page.waitForSelector(`[data-testid="query-item"][data-name="${view}"]`, { state: 'detached', timeout: 20_000 });
    await page.waitForSelector('[data-testid="view-live"][data-mode="ended"]', { timeout: 20_000 });
    expect(service.engine.queries()).toEqual([]);
  });

  it('asks for the API token when the service requires one, and then works with it', async () => {
    const secured = await buildApp(service, { apiToken: 'dash-secret' });
    try {
      await secured.listen({ port: 0, host: '127.0.0.1' });
      const port = (secured.server.address() as { port: number }).port;
      const p2 = await browser.newPage({ viewport: { width: 1200, height: 700 } });
      p2.on('pageerror', (e) => pageErrors.push(e.message));
      await p2.goto(`http://127.0.0.1:${port}/`);
      await p2.waitForSelector('#conn[data-state="bad"]', { timeout: 5000 });
      expect(await p2.textContent('#conn')).toBe('API token required');
      await p2.fill('[data-testid="token"]', 'dash-secret');
      await p2.press('[data-testid="token"]', 'Enter');
      await p2.waitForSelector('#conn[data-state="ok"]', { timeout: 5000 });
      await p2.waitForSelector(`[data-testid="source-item"][data-name="${source}"]`, { timeout: 5000 });
      await p2.close();
    } finally {
      await secured.close();
    }
    expect(pageErrors).toEqual([]);
  });
});
