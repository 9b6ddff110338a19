/**
 * Helpers for the HTTP surface tests: the service on a real listening port (SSE needs a socket,
 * not app.inject) against the shared broker, and a small Server-Sent Events client on fetch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../server/app.ts';
import { startService, type Service } from '../../queries/service.ts';
import { brokers } from '../helpers/kafka.ts';

export interface Server {
  service: Service;
  app: FastifyInstance;
  url: string;
  logs: string[];
  /** JSON call; `token` adds the bearer header. */
  call(method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

export async function startServer(opts: AppOptions & { maxQueries?: number; demo?: boolean; demoEventsPerSecond?: number } = {}): Promise<Server> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'streamsql-srv-'));
  const logs: string[] = [];
  const service = await startService({
    kafkaBrokers: brokers(), dataDir, demo: opts.demo ?? false, demoEventsPerSecond: opts.demoEventsPerSecond,
    maxQueries: opts.maxQueries, log: (l, m) => { logs.push(`${l} ${m}`); },
  });
  const app = await buildApp(service, opts);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  let closed = false;
  return {
    service, app, url, logs,
    async call(method, p, body, headers = {}) {
      const r = await fetch(url + p, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await r.text();
      let parsed: unknown = text;
      try { parsed = JSON.parse(text); } catch { /* text */ }
      return { status: r.status, body: parsed, headers: r.headers };
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await service.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface SseEvent { event: string; id: string | null; data: any }

export interface SseClient {
  readonly status: number;
  readonly events: SseEvent[];
  /** Comment lines (heartbeats) seen so far. */
  readonly comments: string[];
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>;
  /** Waits until `pred` holds for the events so far. */
  until(pred: (events: SseEvent[]) => boolean, timeoutMs?: number, what?: string): Promise<SseEvent[]>;
  close(): void;
}

export async function sse(url: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<SseClient> {
  const ac = new AbortController();
  const r = await fetch(url, {
    method: init.method ?? 'GET',
    headers: { accept: 'text/event-stream', ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: ac.signal,
  });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waker: { wake: (() => void) | null } = { wake: null };
  const ended = (async () => {
    if (!r.body) return;
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i); buf = buf.slice(i + 2);
          let event = 'message'; let id: string | null = null; const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) { comments.push(line.slice(1).trim()); continue; }
            const c = line.indexOf(':');
            const k = c < 0 ? line : line.slice(0, c); const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (k === 'event') event = v; else if (k === 'id') id = v; else if (k === 'data') data.push(v);
          }
          if (data.length) {
            const text = data.join('\n');
            let d: unknown = text;
            try { d = JSON.parse(text); } catch { /* text */ }
            events.push({ event, id, data: d });
          }
        }
        waker.wake?.();
      }
    } catch { /* aborted */ }
    waker.wake?.();
  })();
  return {
    status: r.status, events, comments, ended,
    async until(pred, timeoutMs = 20_000, what = 'events') {
      const start = Date.now();
      while (!pred(events)) {
        if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(events).slice(0, 2000)}`);
        await Promise.race([new Promise<void>((res) => { waker.wake = res; }), new Promise((res) => setTimeout(res, 200))]);
      }
      return events;
    },
    close() { ac.abort(); },
  };
}
