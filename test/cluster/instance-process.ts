/**
 * Cluster instances as child processes, for the failover tests (issue 17): `kill -9` must end a whole
 * process — its Kafka connections, timers and half-done transactions — which an instance inside the test
 * process cannot do. Each child is `npm start`'s entry (server/main.ts, through test/cluster/instance-main.ts
 * which loads its modules first and starts it when told: `prepare` then `go`) with the cluster's
 * environment (CLUSTER_ID, KAFKA_BROKERS, PORT, DATA_DIR, INSTANCE_ID, ADVERTISED_URL, …), called over
 * real HTTP. `processInstances()` returns a start function and a cleanup for afterEach/afterAll
 * that SIGKILLs every child still running (even when the test failed) and deletes the data directories;
 * with DEBUG_LOGS, or when asked, it prints each child's log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ProcessInstance {
  readonly name: string;
  readonly id: string;
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  /** The child's stderr/stdout lines, each prefixed with the milliseconds since the test's start. */
  readonly logs: string[];
  readonly pid: number | undefined;
  /** Resolves when the child has exited (its code or signal). */
  readonly exited: Promise<string>;
  get(url: string): Promise<{ status: number; body: any }>;
  sql(sql: string): Promise<{ status: number; body: any }>;
  /** kill -9. */
  kill(): Promise<void>;
  /** SIGTERM (the service checkpoints and leaves the group), then waits for the exit; SIGKILL after `ms`. */
  stop(ms?: number): Promise<void>;
}

export interface ProcessStartOptions {
  readonly clusterId: string;
  readonly name: string;
  readonly brokers: string;
  /** Reuse a data directory (a restart); else a fresh temporary one. */
  readonly dataDir?: string;
  readonly port?: number;
  /** More environment (CLUSTER_SESSION_TIMEOUT_MS, LOG_LEVEL, …). */
  readonly env?: Record<string, string>;
  /** How long to wait for /healthz after go. Default 150 s (a loaded machine). */
  readonly readyMs?: number;
}

/** A port nobody listens on now (the OS's pick). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => resolve(typeof a === 'object' && a ? a.port : 0)); });
  });
}

/** A child that has loaded the service's modules and waits to start it. */
export interface PreparedInstance {
  /** Resolves once the child has loaded the modules (then `go` costs the service's start only). */
  readonly warm: Promise<void>;
  /** Starts the service; resolves once it answers /healthz. */
  go(): Promise<ProcessInstance>;
}

export function processInstances(t0 = Date.now()): {
  /** Spawns the child now (module loading: seconds of CPU); it starts the service at `go()`. */
  prepare(o: ProcessStartOptions): Promise<PreparedInstance>;
  start(o: ProcessStartOptions): Promise<ProcessInstance>;
  cleanup(printLogs?: boolean): Promise<void>;
  readonly all: readonly ProcessInstance[];
} {
  const children = new Set<ChildProcess>();
  const dirs = new Set<string>();
  const all: ProcessInstance[] = [];
  const api = {
    all,
    async cleanup(printLogs = false): Promise<void> {
      if (printLogs || process.env.DEBUG_LOGS) for (const i of all) console.log(`--- ${i.name} (pid ${i.pid})\n${i.logs.join('\n')}`);
      const waits: Promise<unknown>[] = [];
      for (const c of children) {
        if (c.exitCode === null && c.signalCode === null) {
          waits.push(new Promise((r) => c.once('exit', r)));
          c.kill('SIGKILL');
        }
      }
      await Promise.all(waits);
      children.clear();
      all.length = 0;
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      dirs.clear();
    },
    async start(o: ProcessStartOptions): Promise<ProcessInstance> {
      return (await api.prepare(o)).go();
    },
    async prepare(o: ProcessStartOptions): Promise<PreparedInstance> {
      const port = o.port ?? await freePort();
      const dataDir = o.dataDir ?? mkdtempSync(path.join(os.tmpdir(), `streamsql-fo-${o.name}-`));
      dirs.add(dataDir);
      const id = `${o.name}-${o.clusterId}`;
      const url = `http://127.0.0.1:${port}`;
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/cluster/instance-main.ts'], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), TMPDIR: os.tmpdir(),
          CLUSTER_ID: o.clusterId, KAFKA_BROKERS: o.brokers, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir,
          INSTANCE_ID: id, ADVERTISED_URL: url, DEMO: '0', PG_PORT: 'off', ...o.env,
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      children.add(child);
      const logs: string[] = [];
      let loaded: () => void = () => undefined;
      const warm = new Promise<void>((r) => { loaded = r; });
      const onData = (b: Buffer) => {
        for (const l of b.toString('utf8').split('\n')) {
          if (l === 'streamsql-instance: modules loaded') loaded();
          else if (l) logs.push(`+${Date.now() - t0} ${l}`);
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      const exited = new Promise<string>((r) => child.once('exit', (code, sig) => r(sig ?? String(code))));
      const call = async (method: 'GET' | 'POST', p: string, body?: unknown) => {
        const r = await fetch(url + p, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
        const text = await r.text();
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* text */ }
        return { status: r.status, body: parsed as any };
      };
      const inst: ProcessInstance = {
        name: o.name, id, port, url, dataDir, logs, pid: child.pid, exited,
        get: (p) => call('GET', p),
        sql: (sql) => call('POST', '/v1/sql', { sql }),
        async kill() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
        async stop(ms = 30_000) {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), ms);
          await exited;
          clearTimeout(timer);
        },
      };
      all.push(inst);
      const go = async (): Promise<ProcessInstance> => {
        child.stdin!.write('go\n');
        // Ready: /healthz answers (the service has replayed the command log and joined the task group by then).
        const end = Date.now() + (o.readyMs ?? 150_000);
        let gone = false;
        void exited.then(() => { gone = true; });
        for (;;) {
          if (gone) throw new Error(`instance ${o.name} exited while starting:\n${logs.slice(-20).join('\n')}`);
          try { if ((await call('GET', '/healthz')).status === 200) break; } catch { /* not listening yet */ }
          if (Date.now() > end) throw new Error(`instance ${o.name} did not answer /healthz within ${o.readyMs ?? 150_000} ms:\n${logs.slice(-20).join('\n')}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        return inst;
      };
      void exited.then(() => loaded()); // a child that died before: go() reports it
      return { warm, go };
    },
  };
  return api;
}
