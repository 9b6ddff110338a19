/**
 * `npm start` (server/main.ts, in a child process as npm runs it) serves the PostgreSQL wire protocol
 * beside HTTP: PG_PORT=0 picks a free port, GET /v1/info names it, and psql reaches the service
 * there with the API token as its password (SCRAM-SHA-256), creating and reading a view.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerList } from '../helpers/kafka.ts';
import { psql } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'pg-start-token';
const freePort = () => new Promise<number>((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); }); });

describe('npm start serves the PostgreSQL wire protocol beside HTTP', () => {
  let child: ChildProcess;
  let dir: string;
  let http: number;
  let log = '';
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pg-start-'));
    http = await freePort();
    child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'server/main.ts')], {
      cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, PORT: String(http), HOST: '127.0.0.1', PG_PORT: '0', API_TOKEN: TOKEN, DATA_DIR: dir, DEMO: '0', KAFKA_BROKERS: brokerList().join(',') },
    });
    child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`server/main.ts exited (${child.exitCode}):\n${log}`);
      const ok = await fetch(`http://127.0.0.1:${http}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`no /healthz in time:\n${log}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 120_000);
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 20_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('names the listener in GET /v1/info and answers psql there, with the token as password', async () => {
    const info = await (await fetch(`http://127.0.0.1:${http}/v1/info`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as { postgres?: { host: string; port: number } };
    expect(info.postgres?.host).toBe('127.0.0.1');
    expect(info.postgres?.port).toBeGreaterThan(0);
    expect(info.postgres?.port).not.toBe(http);
    const port = info.postgres!.port;
    const env = { PGPASSWORD: TOKEN };
    const ddl = await psql(port, ['-c', "CREATE SOURCE s_start (k VARCHAR, v BIGINT, ts TIMESTAMP(3)) WITH (connector = 'kafka', topic = 'pg-start-unused', format = 'json')",
      '-c', 'CREATE MATERIALIZED VIEW v_start AS SELECT k, SUM(v) AS total FROM s_start GROUP BY k'], env, 60_000);
    expect([ddl.code, ddl.stderr]).toEqual([0, expect.stringContaining('NOTICE:  source s_start created')]);
    expect(ddl.stderr).not.toMatch(/ERROR|FATAL/);
    const r = await psql(port, ['-A', '-t', '-c', "SELECT table_name FROM information_schema.tables WHERE table_name = 'v_start'", '-c', 'SELECT k, total FROM v_start ORDER BY total DESC'], env);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('v_start');
    expect((await psql(port, ['-c', 'SELECT 1'], { PGPASSWORD: 'wrong' })).stderr).toMatch(/password authentication failed/);
  });
});
