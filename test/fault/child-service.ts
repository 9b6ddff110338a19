/**
 * Runs test/fixtures/fault-service.ts as a child process and talks to it over HTTP; the fault tests
 * kill it (SIGKILL, SIGTERM, or its own crash hook) and start it again on the same DATA_DIR.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURE = path.join(ROOT, 'test/fixtures/fault-service.ts');

export interface ChildService {
  readonly proc: ChildProcess;
  readonly port: number;
  /** stderr so far (the service log, crash-hook lines). */
  stderr(): string;
  sql(sql: string): Promise<{ status: number; body: any }>;
  get(url: string): Promise<{ status: number; body: any }>;
  /** Resolves with the exit signal (or code) once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<ChildProcess>();
/** Kills every child still running (afterAll / afterEach). */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((p) => new Promise<void>((r) => { p.once('exit', () => r()); if (!p.kill('SIGKILL')) r(); })));
}

/**
 * Starts the service. With `crashAt` (STREAMSQL_CRASH_AT) the process may die before it is ready
 * (crash during restore): then `port` is 0 and `exited` tells how it ended.
 */
export async function startChild(opts: { dataDir: string; brokers: string; crashAt?: string; timeoutMs?: number }): Promise<ChildService> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: opts.dataDir, KAFKA_BROKERS: opts.brokers, STREAMSQL_CRASH_AT: opts.crashAt ?? '' };
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let err = ''; let out = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString('utf8'); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => { live.delete(proc); r({ code, signal }); }));
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`service did not start in time; stderr:\n${err.slice(-3000)}`)), opts.timeoutMs ?? 30_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) { clearTimeout(t); resolve((JSON.parse(line) as { port: number }).port); }
    });
    void exited.then((e) => { clearTimeout(t); if (opts.crashAt) resolve(0); else reject(new Error(`service exited (${e.code ?? e.signal}) before it was ready; stderr:\n${err.slice(-3000)}`)); });
  });
  const call = async (method: string, url: string, body?: unknown) => {
    const r = await fetch(`http://127.0.0.1:${port}${url}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
    const text = await r.text();
    let parsed: unknown = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, body: parsed as any };
  };
  return {
    proc, port, exited,
    stderr: () => err,
    sql: (sql) => call('POST', '/v1/sql', { sql }),
    get: (url) => call('GET', url),
    async kill(signal) { if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal); return exited; },
  };
}
