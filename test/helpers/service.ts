/** Starts the service (engine + HTTP app) against the shared test broker, in a temp DATA_DIR. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../server/app.ts';
import { startService, type Service } from '../../queries/service.ts';
import { brokers } from './kafka.ts';

export interface TestService {
  service: Service;
  app: FastifyInstance;
  dataDir: string;
  /** The service's log lines (level and message). */
  logs: string[];
  sql(sql: string): Promise<{ status: number; body: any }>;
  get(url: string): Promise<{ status: number; body: any }>;
  close(opts?: { keepData?: boolean }): Promise<void>;
}

export async function startTestService(opts: { dataDir?: string; demo?: boolean } = {}): Promise<TestService> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'streamsql-test-'));
  const logs: string[] = [];
  const service = await startService({ kafkaBrokers: brokers(), dataDir, demo: opts.demo ?? false, log: (l, m) => { logs.push(`${l} ${m}`); } });
  const app = await buildApp(service);
  const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) => {
    const r = await app.inject({ method, url, payload: payload as never });
    let body: unknown = r.body;
    try { body = r.json(); } catch { /* not JSON */ }
    return { status: r.statusCode, body };
  };
  return {
    service, app, dataDir, logs,
    sql: (sql) => call('POST', '/v1/sql', { sql }),
    get: (url) => call('GET', url),
    async close(o = {}) {
      await app.close();
      await service.stop();
      if (!o.keepData && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `f` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(f: () => Promise<T> | T, timeoutMs = 30_000, what = 'condition', detail?: () => string): Promise<T> {
  const start = Date.now();
  let last: unknown;
  for (;;) {
    try { const v = await f(); if (v) return v; last = v; } catch (e) { last = e; }
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}; last: ${detail ? detail() : last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
