/**
 * The `streamsql` CLI (the bin shim scripts/cli.mjs → scripts/cli.ts) against a running service on
 * a real port: submit, query (pull tables and streamed push queries), watch, status, --token,
 * and SQL errors with their position.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { waitFor } from '../helpers/service.ts';
import { startServer, type Server } from './helpers.ts';

const BIN = fileURLToPath(new URL('../../scripts/cli.mjs', import.meta.url));
const TOKEN = 'cli-token';
const T0 = Date.parse('2024-02-01T08:00:00.000Z');
const ev = (auction: number, price: number, s: number) => ({ value: JSON.stringify({ auction, price, ts: T0 + s * 1000 }) });

interface Run { code: number | null; stdout: string; stderr: string }

function start(args: string[]): { child: ChildProcess; output: () => string; done: Promise<Run> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = ''; let stderr = '';
  child.stdout!.on('data', (d) => { stdout += d; });
  child.stderr!.on('data', (d) => { stderr += d; });
  const done = new Promise<Run>((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
  return { child, output: () => stdout, done };
}
const run = (args: string[]) => start(args).done;

describe('streamsql CLI', () => {
  let srv: Server;
  let base: string[];
  const topic = uniqueTopic('cli');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'streamsql-cli-'));

  beforeAll(async () => {
    srv = await startServer({ apiToken: TOKEN });
    base = ['--url', srv.url, '--token', TOKEN];
    await createTopic(brokerList(), topic, 1);
    await produce(brokerList(), topic, [ev(1, 10, 1), ev(1, 30, 2), ev(2, 5, 3)]);
  });
  afterAll(async () => { await srv?.close(); });

  it('submit runs a file and prints each statement\'s result', async () => {
    const file = path.join(dir, 'setup.sql');
    writeFileSync(file, `
      CREATE SOURCE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
      WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest');
      CREATE MATERIALIZED VIEW totals WITH ('checkpoint.interval' = '200 ms') AS
        SELECT auction, COUNT(*) AS bids, SUM(price) AS volume FROM bids GROUP BY auction;`);
    const r = await run([...base, 'submit', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/source bids created/);
    expect(r.stdout).toMatch(/materialized view totals created; query [0-9a-f-]{36} started/);
    await waitFor(async () => (await srv.call('GET', '/v1/views/totals', undefined, { authorization: `Bearer ${TOKEN}` })).body.rows?.length === 2, 20_000, 'view rows');
  });

  it('query prints pull results as an aligned table', async () => {
    const r = await run([...base, 'query', 'SELECT auction, bids, volume FROM totals ORDER BY auction']);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      'auction | bids | volume',
      '--------+------+-------',
      '      1 |    2 |     40',
      '      2 |    1 |      5',
      '(2 rows)',
    ]);
  });

  it('status lists queries with their progress', async () => {
    const r = await run([...base, 'status']);
    expect(r.code).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.startsWith('totals'))!;
    expect(line).toBeDefined();
    const cells = line.split('|').map((s) => s.trim());
    expect(cells.slice(0, 4)).toEqual(['totals', 'materialized_view', 'running', '3']);
    expect(cells[8]).toBe('0'); // lag
  });

  it('watch prints the rows, then live changes; Ctrl-C ends it cleanly', async () => {
    const w = start([...base, 'watch', 'totals']);
    await waitFor(() => w.output().includes('(2 rows)'), 20_000, 'the snapshot table');
    await produce(brokerList(), topic, [ev(2, 7, 4)]);
    await waitFor(() => /\[\d+\] ~ auction=2 bids=2 volume=12/.test(w.output()), 20_000, 'the change line');
    w.child.kill('SIGINT');
    const r = await w.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('query streams a SELECT … EMIT CHANGES until interrupted', async () => {
    const q = start([...base, 'query', '--from', 'earliest', 'SELECT auction, price FROM bids WHERE price >= 10 EMIT CHANGES']);
    await waitFor(() => q.output().split('\n').filter((l) => l.startsWith('+ ')).length === 2, 20_000, 'two pushed rows');
    expect(q.output()).toMatch(/^-- streaming auction, price/m);
    expect(q.output().split('\n').filter((l) => l.startsWith('+ ')).sort()).toEqual(['+ 1 | 10', '+ 1 | 30']);
    q.child.kill('SIGINT');
    expect((await q.done).code).toBe(0);
    await waitFor(() => srv.service.engine.pushQueries().length === 0, 10_000, 'the push query to stop');
  });

  it('reports errors with their position, and refuses without the token', async () => {
    const bad = await run([...base, 'query', 'SELECT nope FROM totals']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: .*nope.*\(line 1, column 8\)/);
    const noToken = await run(['--url', srv.url, 'status']);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/authentication required/);
  });
});
