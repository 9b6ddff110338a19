/**
 * `npm start` as a newcomer runs it (package.json's start command line, flags included:
 * scripts/start-command.ts): the service with its embedded broker and demo. It must serve
 * /healthz, its demo view must change from one pull query to the next, and Ctrl-C (SIGINT) must leave
 * no Kafka JVM behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { START_ARGS } from '../../scripts/start-command.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/service.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

/** Processes whose command line mentions `needle` (our broker's JVM names its data dir). */
function processesWith(needle: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(needle) && l.includes('kafka.Kafka') && !l.includes('ps -eo'));
}

describe('npm start', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'streamsql-start-'));
  let child: ChildProcess | null = null;
  const output: string[] = [];
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the demo, and Ctrl-C stops everything', async () => {
    const port = await freePort();
    const started = Date.now();
    child = spawn(process.execPath, [...START_ARGS], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, KAFKA_BROKERS: '', DEMO_RATE: '400' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => output.push(String(d)));
    child.stderr!.on('data', (d) => output.push(String(d)));
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/healthz`)).ok, 120_000, `healthz (output: ${output.join('').slice(-2000)})`);
    expect(Date.now() - started).toBeLessThan(120_000);

    const info = await (await fetch(`${base}/v1/info`)).json() as { kafka: { embedded: boolean; bootstrap: string } };
    expect(info.kafka.embedded).toBe(true);
    expect(info.kafka.bootstrap).toMatch(/^127\.0\.0\.1:\d+$/);

    const pull = async () => {
      const r = await fetch(`${base}/v1/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: 'SELECT SUM(bids) AS total FROM bids_per_minute' }) });
      const body = await r.json() as { results: { rows: { total: number | null }[] }[] };
      return body.results[0]!.rows[0]?.total ?? 0;
    };
    const first = await waitFor(pull, 60_000, 'demo rows');
    const second = await waitFor(async () => { const t = await pull(); return t > first ? t : 0; }, 30_000, 'demo rows changing');
    expect(second).toBeGreaterThan(first);
    expect(processesWith(dataDir).length).toBeGreaterThan(0);

    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child!.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    await waitFor(() => processesWith(dataDir).length === 0, 30_000, 'the Kafka JVM to exit');
  }, 240_000);
});
