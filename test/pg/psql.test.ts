/**
 * psql (Debian's postgresql-client) against the real service: connect, \dv, \d view, pull SELECTs,
 * paging through a cursor (FETCH_COUNT), a bad query's error with its position, and a live SUBSCRIBE over COPY.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPgServer } from '../../server/pg/server.ts';
import { waitFor } from '../helpers/service.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psql, startPgFixture, type PgFixture } from './helpers.ts';

describe('psql over the PostgreSQL wire protocol', () => {
  let fx: PgFixture;
  beforeAll(async () => { fx = await startPgFixture(); });
  afterAll(async () => { await fx?.close(); });

  it('connects and lists the materialized views with \\dv', async () => {
    const r = await psql(fx.pg.port, ['-c', '\\dv']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/public\s*\|\s*trades_per_min\s*\|\s*view/);
  });

  it('describes a view with \\d: its columns and PostgreSQL types', async () => {
    const r = await psql(fx.pg.port, ['-c', '\\d trades_per_min']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('View "public.trades_per_min"');
    for (const [c, t] of [['window_start', 'timestamp with time zone'], ['sym', 'text'], ['n', 'bigint'], ['volume', 'bigint'], ['avg_price', 'double precision']]) {
      expect(r.stdout).toMatch(new RegExp(`${c}\\s*\\|\\s*${t}`));
    }
  });

  it('runs pull SELECTs and prints the rows', async () => {
    const r = await psql(fx.pg.port, ['-A', '-F', ',', '-c', "SELECT sym, n, volume FROM trades_per_min WHERE window_start = TIMESTAMP '2024-03-01 10:00:00' ORDER BY sym"]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['sym,n,volume', 'ACME,2,4', 'BOLT,1,7', '(2 rows)']);
  });

  it('pages a result through a cursor with \\set FETCH_COUNT (BEGIN; DECLARE; FETCH FORWARD n; CLOSE; COMMIT)', async () => {
    const sql = 'SELECT sym, n, window_start FROM trades_per_min ORDER BY window_start, sym';
    const whole = await psql(fx.pg.port, ['-A', '-F', ',', '-c', sql]);
    const before = fx.pg.stats.cursorFetches;
    const paged = await psql(fx.pg.port, ['-A', '-F', ',', '-v', 'FETCH_COUNT=2', '-c', sql]);
    expect(paged.stderr).toBe('');
    expect(whole.stdout.trim().split('\n')).toHaveLength(7); // header, 5 rows, (5 rows)
    expect(paged.stdout).toBe(whole.stdout);
    // 5 rows, 2 at a time: FETCH gives 2, 2, 1 (psql stops at a short page).
    expect(fx.pg.stats.cursorFetches - before).toBe(3);
    // The cursor was closed with its transaction: the session goes on.
    const after = await psql(fx.pg.port, ['-A', '-t', '-v', 'FETCH_COUNT=10', '-c', 'SELECT count(*) FROM trades_per_min']);
    expect(after.stdout.trim()).toBe('5');
  });

  it('shows a bad query\'s error with the position of the offending token', async () => {
    const r = await psql(fx.pg.port, ['-v', 'VERBOSITY=verbose', '-c', 'SELECT sym, nope FROM trades_per_min']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ERROR:\s+42703: .*nope/);
    // psql draws a caret under the character position the server reports.
    expect(r.stderr).toMatch(/LINE 1: SELECT sym, nope FROM trades_per_min\n\s{20}\^/);
  });

  it('streams a view\'s changes with COPY (SUBSCRIBE TO view) TO STDOUT until cancelled', async () => {
    // stdbuf: psql's stdout is a pipe here, and stdio would hold the rows back until 4 KiB have come.
    const child = spawn('stdbuf', ['-o0', 'psql', '-X', '-h', '127.0.0.1', '-p', String(fx.pg.port), '-U', 'x', '-c', 'COPY (SUBSCRIBE TO trades_per_min) TO STDOUT'], { env: { ...process.env, PGSSLMODE: 'disable' } });
    let out = '';
    child.stdout.on('data', (d) => { out += String(d); });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no snapshot rows: ${out}`)), 10_000);
        child.stdout.on('data', () => { if (out.split('\n').length > 4) { clearTimeout(t); resolve(); } });
      });
      const lines = out.trim().split('\n').map((l) => l.split('\t'));
      expect(lines.length).toBeGreaterThanOrEqual(4);
      expect(lines[0]![1]).toBe('insert');
      expect(lines.map((l) => l[4]).sort()).toEqual(expect.arrayContaining(['ACME', 'BOLT']));
    } finally {
      // psql answers SIGINT with a CancelRequest on a new connection.
      child.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(code).not.toBe(null);
    }
    // The session went back to idle: the server still answers.
    expect((await psql(fx.pg.port, ['-c', 'SELECT 1'])).stdout).toContain('1');
  });

  it('streams an ad-hoc push query with COPY (SELECT … EMIT CHANGES) TO STDOUT', async () => {
    const child = spawn('stdbuf', ['-o0', 'psql', '-X', '-h', '127.0.0.1', '-p', String(fx.pg.port), '-U', 'x', '-c', "COPY (SELECT sym, qty FROM trades WHERE qty >= 5 EMIT CHANGES) TO STDOUT"], { env: { ...process.env, PGSSLMODE: 'disable' } });
    let out = '';
    child.stdout.on('data', (d) => { out += String(d); });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no rows: ${out}`)), 20_000);
        child.stdout.on('data', () => { if (out.includes('BOLT\t5')) { clearTimeout(t); resolve(); } });
      });
      // The source reads from the earliest offset: both big trades come, each as one row.
      expect(out.trim().split('\n').map((l) => l.split('\t').slice(2)).sort()).toEqual([['BOLT', '5'], ['BOLT', '7']]);
    } finally {
      child.kill('SIGINT');
      await new Promise((resolve) => child.on('exit', resolve));
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(fx.svc.service.engine.pushQueries()).toHaveLength(0);
  });

  it('speaks TLS when a certificate is configured: cleartext password inside TLS, refused without one', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-subj', '/CN=localhost', '-days', '1'], { stdio: 'ignore' });
      const tls = await startPgServer({ engine: fx.svc.service.engine, port: 0, token: 'tok', tlsCert: readFileSync(path.join(dir, 'cert.pem')), tlsKey: readFileSync(path.join(dir, 'key.pem')) });
      try {
        const ok = await psql(tls.port, ['-A', '-t', '-c', 'SELECT count(*) FROM trades_per_min', '-c', '\\conninfo'], { PGSSLMODE: 'require', PGPASSWORD: 'tok' });
        expect(ok.stderr).toBe('');
        expect(ok.stdout).toMatch(/^5\n/);
        expect(ok.stdout).toMatch(/SSL connection \(protocol: TLSv1\.[23]/);
        const bad = await psql(tls.port, ['-c', 'SELECT 1'], { PGSSLMODE: 'require', PGPASSWORD: 'nope' });
        expect(bad.stderr).toMatch(/password authentication failed/);
        // Connections upgraded to TLS are counted until they close.
        await waitFor(() => tls.connections === 0, 5000, 'TLS connections to close');
      } finally { await tls.close(); }
      // Without a certificate the SSLRequest is declined: sslmode=require fails, prefer falls back to plain.
      expect((await psql(fx.pg.port, ['-c', 'SELECT 1'], { PGSSLMODE: 'require' })).stderr).toMatch(/does not support SSL/);
      expect((await psql(fx.pg.port, ['-A', '-t', '-c', 'SELECT 1'], { PGSSLMODE: 'prefer' })).stdout.trim()).toBe('1');
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
