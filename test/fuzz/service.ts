/**
 * The service under fuzz: `server/main.ts` (what `npm start` runs) in a child process, so a crash, a
 * hang or heap exhaustion shows as a finding instead of taking the fuzzer down with it, and the
 * fuzzer's /healthz probe runs on an event loop the service cannot block.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpRequest, rawRequest } from './raw-http.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface FuzzService {
  readonly port: number;
  readonly token: string;
  readonly pid: number;
  /** Exit code or signal once it has exited; null while it runs. */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | null;
  /** The last part of its log (stderr). */
  log(): string;
  /** SIGTERM (a graceful stop), SIGKILL after `graceMs`; removes its data directory. */
  stop(graceMs?: number): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => resolve(typeof a === 'object' && a ? a.port : 0)); });
  });
}

/**
 * Starts the service with API_TOKEN set, no demo, on a free port. With `brokers` it uses that
 * cluster (KAFKA_BROKERS); without, `npm start`'s embedded broker (a JVM; its first start is slow).
 */
export async function startFuzzService(opts: { token: string; brokers?: string; readyTimeoutMs?: number }): Promise<FuzzService> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'streamsql-fuzz-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env, PORT: String(port), HOST: '127.0.0.1', API_TOKEN: opts.token, DATA_DIR: dataDir, DEMO: '0', LOG_LEVEL: 'warn',
    // Empty lines and nothing else (a valid prefix of a request) are answered 408 within the fuzzer's limit.
    HEADERS_TIMEOUT_MS: '500',
    KAFKA_BROKERS: opts.brokers ?? '',
  };
  const proc: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'server/main.ts')], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => { log = (log + d.toString('utf8')).slice(-20_000); });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitP = new Promise<void>((r) => proc.once('exit', (code, signal) => { exited = { code, signal }; r(); }));
  const svc: FuzzService = {
    port, token: opts.token, pid: proc.pid ?? 0,
    exit: () => exited,
    log: () => log,
    async stop(graceMs = 30_000) {
      if (!exited) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => { if (!exited) proc.kill('SIGKILL'); }, graceMs);
        await exitP;
        clearTimeout(t);
      }
      // The embedded broker's JVM may still be writing for a moment after a SIGKILL of its owner.
      for (let i = 0; i < 10; i++) {
        try { rmSync(dataDir, { recursive: true, force: true }); break; } catch { await new Promise((r) => setTimeout(r, 1000)); }
      }
    },
  };
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
  for (;;) {
    if (exited) { await svc.stop(); throw new Error(`the service exited before it was ready (${JSON.stringify(exited)}):\n${log}`); }
    const r = await rawRequest(port, httpRequest('GET', '/healthz'), 1000);
    if (r.status === 200) return svc;
    if (Date.now() > deadline) { await svc.stop(1000); throw new Error(`the service did not answer /healthz in time:\n${log}`); }
    await new Promise((res) => setTimeout(res, 250));
  }
}
