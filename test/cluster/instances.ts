/**
 * Cluster instances in one test process, for the scale-out tests: each a service (its own data
 * directory, one CLUSTER_ID) behind the HTTP app called in-process. `clusterInstances()` returns a start
 * function and a cleanup for `afterEach` that stops every instance still running and deletes their
 * directories (DEBUG_LOGS prints each instance's log first).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startService, type Service, type ServiceConfig } from '../../queries/service.ts';
import { buildApp } from '../../server/app.ts';
import { brokers } from '../helpers/kafka.ts';

export interface ClusterInstance {
  readonly name: string;
  /** The instance id (`<name>-<clusterId>`), undefined without a cluster. */
  readonly id: string | undefined;
  readonly dataDir: string;
  readonly service: Service;
  readonly logs: string[];
  get(url: string): Promise<{ status: number; body: any }>;
  sql(sql: string): Promise<{ status: number; body: any }>;
  /** Closes its HTTP server only (the instance stays in the cluster, unreachable); `stop` still stops the rest. */
  closeHttp(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly clusterId: string | undefined;
  readonly name: string;
  /** Prefix of the temporary data directory (ignored with `dataDir`). */
  readonly prefix: string;
  /** An existing data directory (a restart); not deleted at cleanup. */
  readonly dataDir?: string;
  /** Advertised as http://127.0.0.1:<port>. */
  readonly port?: number;
  /** Also listen on 127.0.0.1:<port> (real HTTP, for instances that call each other: view-gather.ts). */
  readonly listen?: boolean;
  /** More service settings (session timeout, onAssignment, …). */
  readonly config?: Partial<ServiceConfig>;
}

export function clusterInstances(): { start(o: StartOptions): Promise<ClusterInstance>; cleanup(): Promise<void>; track(dir: string): void } {
  const dirs: string[] = [];
  const running = new Set<ClusterInstance>();
  return {
    track: (dir) => { dirs.push(dir); },
    async cleanup() {
      if (process.env.DEBUG_LOGS) for (const i of running) console.log(`--- ${i.name}\n${i.logs.join('\n')}`);
      await Promise.all([...running].map((i) => i.stop()));
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
    async start(o) {
      const dir = o.dataDir ?? mkdtempSync(path.join(os.tmpdir(), `${o.prefix}-${o.name}-`));
      if (!o.dataDir) dirs.push(dir);
      const logs: string[] = [];
      const id = o.clusterId && `${o.name}-${o.clusterId}`;
      const service = await startService({
        kafkaBrokers: brokers(), dataDir: dir, demo: false, clusterId: o.clusterId, instanceId: id,
        ...(o.port !== undefined ? { advertisedUrl: `http://127.0.0.1:${o.port}` } : {}),
        log: (l, m) => { logs.push(`${Date.now()} ${l} ${m}`); },
        ...o.config,
      });
      const app = await buildApp(service);
      if (o.listen && o.port !== undefined) await app.listen({ port: o.port, host: '127.0.0.1' });
      const call = async (method: 'GET' | 'POST', url: string, payload?: unknown) => {
        const r = await app.inject({ method, url, payload: payload as never });
        let body: unknown = r.body;
        try { body = r.json(); } catch { /* text */ }
        return { status: r.statusCode, body: body as any };
      };
      let stopped = false;
      let httpClosed: Promise<void> | null = null;
      const closeHttp = () => (httpClosed ??= app.close());
      const inst: ClusterInstance = {
        name: o.name, id, dataDir: dir, service, logs,
        get: (url) => call('GET', url),
        sql: (sql) => call('POST', '/v1/sql', { sql }),
        closeHttp,
        async stop() {
          if (stopped) return;
          stopped = true;
          running.delete(inst);
          await closeHttp();
          await service.stop();
        },
      };
      running.add(inst);
      return inst;
    },
  };
}
