/**
 * Go's pgx v5 (the driver of Grafana's PostgreSQL data source) against the real service with the
 * demo running: Grafana's connect sequence and health check, its version probe, its query-builder
 * introspection, and every query of deploy/grafana/dashboards/streamsql.json expanded as Grafana
 * expands its macros. The probe (test/pg/pgx/) is built once into .cache/ and reused.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/service.ts';
import { expandGrafanaMacros } from './grafana-macros.ts';
import { startPgFixture, type PgFixture } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = path.join(ROOT, 'test/pg/pgx');
const GO = existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';

function buildProbe(): string {
  const hash = createHash('sha256');
  for (const f of ['main.go', 'go.mod', 'go.sum']) hash.update(readFileSync(path.join(SRC, f)));
  const bin = path.join(ROOT, '.cache', `pgx-probe-${hash.digest('hex').slice(0, 12)}`);
  if (!existsSync(bin)) {
    mkdirSync(path.dirname(bin), { recursive: true });
    execFileSync(GO, ['build', '-o', bin, '.'], { cwd: SRC, stdio: 'inherit', timeout: 600_000 });
  }
  return bin;
}

interface Answer { query: string; columns?: { name: string; oid: number }[]; rows?: string[][]; code?: string; error?: string }

function probe(bin: string, port: number, queries: (string | { sql: string; strs?: string[]; args?: number[] })[]): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(bin, [`postgres://grafana@127.0.0.1:${port}/streamsql?sslmode=disable`], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(stdout.trim().split('\n').map((l) => JSON.parse(l) as Answer));
    });
    child.stdin!.end(JSON.stringify(queries));
  });
}

describe('pgx v5 (Grafana) over the PostgreSQL wire protocol', () => {
  let fx: PgFixture;
  let bin: string;
  beforeAll(async () => {
    bin = buildProbe();
    fx = await startPgFixture({}, { demo: true });
    await waitFor(async () => (await fx.svc.get('/v1/views/bids_per_minute')).body.rows?.length > 0 && (await fx.svc.get('/v1/views/tweet_sentiment_per_minute')).body.rows?.length > 0, 60_000, 'demo views');
  }, 900_000);
  afterAll(async () => { await fx?.close(); });

  it('connects, pings, probes the version and lists tables and columns like the query builder', async () => {
    const [version, tables, columns, oldTables] = await probe(bin, fx.pg.port, [
      "SELECT current_setting('server_version_num')::int/100 as version",
      "select table_name from information_schema.tables where table_schema not in ('information_schema', 'pg_catalog', '_timescaledb_cache', '_timescaledb_catalog', '_timescaledb_internal', '_timescaledb_config', 'timescaledb_information', 'timescaledb_experimental') and table_type = 'BASE TABLE'",
      `select column_name as "column", data_type as "type" from information_schema.columns where table_name = 'trades_per_min'`,
      `SELECT CASE WHEN quote_ident(table_schema) IN (SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1)) as i, string_to_array(current_setting('search_path'),',') s) THEN quote_ident(table_name) ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS "table" FROM information_schema.tables WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog') ORDER BY 1`,
    ]);
    expect(version).toMatchObject({ columns: [{ name: 'version', oid: 23 }], rows: [['1500']] });
    expect(tables!.rows!.map((r) => r[0])).toEqual(expect.arrayContaining(['trades_per_min', 'bids_per_minute', 'tweet_sentiment_per_minute']));
    expect(columns!.rows).toEqual([
      ['window_start', 'timestamp with time zone'], ['window_end', 'timestamp with time zone'], ['sym', 'text'], ['n', 'bigint'],
      ['volume', 'bigint'], ['avg_price', 'double precision'], ['high', 'double precision'],
    ]);
    expect(oldTables!.error).toBeUndefined();
    expect(oldTables!.rows!.map((r) => r[0])).toContain('trades_per_min');
  });

  it('runs a time series query as Grafana expands it, with right rows and types', async () => {
    const sql = expandGrafanaMacros(
      "SELECT $__timeGroupAlias(window_start, '1m'), sym AS metric, SUM(n) AS trades FROM trades_per_min WHERE $__timeFilter(window_start) GROUP BY 1, 2 ORDER BY 1, 2",
      Date.parse('2024-03-01T09:30:00Z'), Date.parse('2024-03-01T10:30:00Z'));
    const [r] = await probe(bin, fx.pg.port, [sql]);
    expect(r!.error).toBeUndefined();
    expect(r!.columns).toEqual([{ name: 'time', oid: 701 }, { name: 'metric', oid: 25 }, { name: 'trades', oid: 20 }]);
    const t0 = Date.parse('2024-03-01T10:00:00Z') / 1000;
    expect(r!.rows).toEqual([[String(t0), 'ACME', '2'], [String(t0), 'BOLT', '1'], [String(t0 + 60), 'ACME', '1'], [String(t0 + 60), 'BOLT', '2'], [String(t0 + 600), 'ZZZ', '1']]);
    const [raw] = await probe(bin, fx.pg.port, [expandGrafanaMacros("SELECT $__time(window_start), avg_price FROM trades_per_min WHERE $__timeFilter(window_start) AND sym = 'BOLT' ORDER BY 1", Date.parse('2024-03-01T10:00:30Z'), Date.parse('2024-03-01T11:00:00Z'))]);
    expect(raw).toMatchObject({ columns: [{ name: 'time', oid: 1184 }, { name: 'avg_price', oid: 701 }], rows: [['2024-03-01T10:01:00Z', '100.125']] });
  });

  it('binds parameters in binary as pgx does, typed by the columns they are compared with', async () => {
    const [r] = await probe(bin, fx.pg.port, [{ sql: 'SELECT window_start, sym, n, avg_price FROM trades_per_min WHERE sym = $1 AND n >= $2 AND avg_price > $3 ORDER BY window_start', strs: ['BOLT'], args: [1, 99.5] }]);
    expect(r!.error).toBeUndefined();
    expect(r!.rows).toEqual([['2024-03-01T10:00:00Z', 'BOLT', '1', '100'], ['2024-03-01T10:01:00Z', 'BOLT', '2', '100.125']]);
  });

  it('runs every query of the provisioned dashboard against the demo views', async () => {
    const dash = JSON.parse(readFileSync(path.join(ROOT, 'deploy/grafana/dashboards/streamsql.json'), 'utf8')) as { panels: { title: string; targets: { rawSql: string }[] }[] };
    const now = Date.now();
    const queries = dash.panels.flatMap((p) => p.targets.map((t) => expandGrafanaMacros(t.rawSql, now - 3_600_000, now + 300_000)));
    const answers = await probe(bin, fx.pg.port, queries);
    answers.forEach((a, i) => {
      expect(a.error, `${dash.panels[i]!.title}: ${a.query}`).toBeUndefined();
      expect(a.rows?.length ?? 0, dash.panels[i]!.title).toBeGreaterThan(0);
    });
    // Time series panels return their time column first, as numbers (epoch s) or timestamptz.
    expect([701, 1184]).toContain(answers[0]!.columns![0]!.oid);
    expect(answers[1]!.columns![0]).toEqual({ name: 'time', oid: 1184 });
  });
});
