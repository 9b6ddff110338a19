/**
 * The same SELECTs against our service and against a real PostgreSQL holding the same rows: same
 * column types (OIDs) and the same rows. Runs where Debian's `postgresql` server is installed (a
 * throw-away cluster under the `postgres` user); skipped elsewhere (.ci/run does not install it).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgFixture, type PgFixture } from './helpers.ts';

const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').filter((v) => existsSync(`/usr/lib/postgresql/${v}/bin/postgres`)) : [];
const BIN = versions.length ? `/usr/lib/postgresql/${versions.sort().pop()}/bin` : null;
let hasUser = false;
try { execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' }); hasUser = true; } catch { /* no postgres user */ }
const asPostgres = (cmd: string) => execFileSync(process.getuid?.() === 0 ? 'runuser' : 'sh', process.getuid?.() === 0 ? ['-u', 'postgres', '--', 'sh', '-c', cmd] : ['-c', cmd], { stdio: 'pipe', timeout: 60_000 });

const freePort = () => new Promise<number>((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); }); });

const QUERIES = [
  'SELECT window_start, window_end, sym, n, avg_price, high FROM trades_per_min ORDER BY window_start, sym',
  "SELECT sym AS s, n AS trades FROM trades_per_min WHERE n > 1 AND window_start BETWEEN '2024-03-01T10:00:00Z' AND '2024-03-01T10:01:00Z' ORDER BY 1, 2",
  "SELECT date_trunc('minute', window_end) AS m, COUNT(*) AS windows, MAX(high) AS top FROM trades_per_min GROUP BY 1 ORDER BY 1",
  'SELECT CAST(n AS DOUBLE PRECISION) AS d, avg_price * 2 AS twice, sym || \'!\' AS loud FROM trades_per_min ORDER BY twice DESC LIMIT 3',
];

describe.skipIf(!BIN || !hasUser || process.env.SKIP_PG_COMPARE === '1')('answers compared with a real PostgreSQL', () => {
  let fx: PgFixture;
  let dir: string;
  let real: pg.Client;
  let ours: pg.Client;
  beforeAll(async () => {
    fx = await startPgFixture();
    dir = mkdtempSync(path.join(os.tmpdir(), 'pg-real-'));
    chmodSync(dir, 0o777);
    const port = await freePort();
    asPostgres(`${BIN}/initdb -D ${dir}/data -A trust -U postgres >/dev/null && ${BIN}/pg_ctl -D ${dir}/data -w -l ${dir}/log -o "-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c TimeZone=UTC" start >/dev/null`);
    real = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await real.connect();
    ours = new pg.Client({ host: '127.0.0.1', port: fx.pg.port, user: 'postgres' });
    await ours.connect();
    // The view's rows, copied into a table of the PostgreSQL types our RowDescription announces.
    await real.query('CREATE TABLE trades_per_min (window_start timestamptz, window_end timestamptz, sym text, n bigint, volume bigint, avg_price double precision, high double precision)');
    for (const r of (await ours.query('SELECT window_start, window_end, sym, n, volume, avg_price, high FROM trades_per_min')).rows) {
      await real.query('INSERT INTO trades_per_min VALUES ($1, $2, $3, $4, $5, $6, $7)', [r.window_start, r.window_end, r.sym, r.n, r.volume, r.avg_price, r.high]);
    }
  }, 120_000);
  afterAll(async () => {
    await ours?.end().catch(() => undefined);
    await real?.end().catch(() => undefined);
    if (dir) { try { asPostgres(`${BIN}/pg_ctl -D ${dir}/data -m immediate stop >/dev/null`); } catch { /* not started */ } rmSync(dir, { recursive: true, force: true }); }
    await fx?.close();
  });

  it.each(QUERIES)('%s', async (sql) => {
    const [a, b] = [await ours.query({ text: sql, rowMode: 'array' }), await real.query({ text: sql, rowMode: 'array' })];
    expect(a.fields.map((f) => [f.name, f.dataTypeID])).toEqual(b.fields.map((f) => [f.name, f.dataTypeID]));
    expect(a.rows).toEqual(b.rows);
    expect(a.rows.length).toBeGreaterThan(0);
  });
});
