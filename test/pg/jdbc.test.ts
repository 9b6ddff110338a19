/**
 * pgJDBC (from Maven Central) against the real service: DatabaseMetaData.getTables/getColumns, as
 * DBeaver and Metabase call them, a prepared SELECT run past pgJDBC's server-prepare threshold,
 * a fetch size inside a transaction (Execute with a row limit, PortalSuspended, resume), and an
 * error's SQLSTATE. The jar and the compiled probe are cached in .cache/.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgFixture, type PgFixture } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = path.join(ROOT, 'test/pg/jdbc');
const CACHE = path.join(ROOT, '.cache/pgjdbc');

function build(): string {
  if (!readdirSync(CACHE, { withFileTypes: true }).some((f) => f.name.startsWith('postgresql-') && f.name.endsWith('.jar'))) {
    execFileSync('mvn', ['-q', '-B', '-Dstyle.color=never', '-f', path.join(SRC, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${CACHE}`], { stdio: 'inherit', timeout: 600_000 });
  }
  const jar = readdirSync(CACHE).find((f) => f.startsWith('postgresql-') && f.endsWith('.jar'))!;
  const cp = path.join(CACHE, jar);
  const cls = path.join(CACHE, 'JdbcProbe.class');
  if (!existsSync(cls) || statSync(cls).mtimeMs < statSync(path.join(SRC, 'JdbcProbe.java')).mtimeMs) {
    execFileSync('javac', ['-cp', cp, '-d', CACHE, path.join(SRC, 'JdbcProbe.java')], { stdio: 'inherit', timeout: 120_000 });
  }
  return `${cp}:${CACHE}`;
}

describe('pgJDBC over the PostgreSQL wire protocol', () => {
  let fx: PgFixture;
  let cp: string;
  beforeAll(async () => {
    mkdirSync(CACHE, { recursive: true });
    cp = build();
    fx = await startPgFixture();
  }, 600_000);
  afterAll(async () => { await fx?.close(); });

  it('lists views and columns through DatabaseMetaData and runs a prepared SELECT', async () => {
    expect(existsSync(path.join(CACHE, 'JdbcProbe.class'))).toBe(true);
    const suspendedBefore = fx.pg.stats.portalsSuspended;
    const out = await new Promise<string>((resolve, reject) => {
      execFile('java', ['-cp', cp, 'JdbcProbe', `jdbc:postgresql://127.0.0.1:${fx.pg.port}/streamsql?sslmode=disable`], { timeout: 60_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stdout}\n${stderr}`)); else resolve(stdout);
      });
    });
    const lines = out.trim().split('\n').map((l) => l.split('\t'));
    expect(lines.find((l) => l[0] === 'product')).toEqual(['product', 'PostgreSQL', '15']);
    expect(lines.filter((l) => l[0] === 'table')).toEqual([['table', 'public', 'trades_per_min', 'VIEW']]);
    expect(lines.filter((l) => l[0] === 'column').map((l) => l.slice(1))).toEqual([
      ['window_start', 'timestamptz', '93', '1'], ['window_end', 'timestamptz', '93', '2'], ['sym', 'text', '12', '3'], ['n', 'int8', '-5', '4'],
      ['volume', 'int8', '-5', '5'], ['avg_price', 'float8', '8', '6'], ['high', 'float8', '8', '7'],
    ]);
    const rows = lines.filter((l) => l[0] === 'row');
    expect(rows.filter((r) => r[1] === '0').map((r) => r.slice(2))).toEqual([
      ['timestamptz', '2024-03-01T10:00:00Z', 'BOLT', '1', '100.0'], ['timestamptz', '2024-03-01T10:01:00Z', 'BOLT', '2', '100.125'],
    ]);
    // The same answers after pgJDBC switched to a named, server-side prepared statement (binary transfer).
    expect(rows.filter((r) => r[1] === '4').map((r) => r.slice(2))).toEqual(rows.filter((r) => r[1] === '0').map((r) => r.slice(2)));
    expect(rows.filter((r) => r[1] === '5').map((r) => r[4])).toEqual(['ACME', 'ACME']);
    expect(lines.find((l) => l[0] === 'error')).toEqual(['error', '42703']);
    // setFetchSize(2) in a transaction: all 5 rows, in order, through a portal suspended after every 2.
    expect(lines.find((l) => l[0] === 'fetch')).toEqual(['fetch', '5', 'ACME:2 BOLT:1 ACME:1 BOLT:2 ZZZ:1']);
    expect(fx.pg.stats.portalsSuspended - suspendedBefore).toBe(2);
  });
});
