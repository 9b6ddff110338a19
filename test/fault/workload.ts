/**
 * The workload of the fault tests: a deterministic stream of events produced while the service runs
 * (and dies), the SQL over it, and the exact expected results computed from what was produced.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
import { createSideProducer } from '../../connectors/kafka/sink.ts';

export const T0 = Date.parse('2024-01-01T00:00:00.000Z');
/** Event-time step between consecutive events: a 1-second window holds 50 events. */
export const STEP_MS = 20;

export interface Ev { readonly k: number; readonly v: number; readonly ts: number }
export const event = (i: number): Ev => ({ k: i % 7, v: i, ts: T0 + i * STEP_MS });

export function ddl(topic: string, outTopic?: string, opts: { source?: string } = {}): string {
  const src = `CREATE SOURCE ev (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
    WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest'${opts.source ?? ''});
  CREATE MATERIALIZED VIEW counts WITH ('checkpoint.interval' = '200 ms') AS
    SELECT k, COUNT(*) AS n, SUM(v) AS total FROM ev WHERE v >= 0 GROUP BY k;`;
  if (!outTopic) return src;
  return `${src}
  CREATE SINK out_sink WITH (connector = 'kafka', topic = '${outTopic}', format = 'json', 'checkpoint.interval' = '200 ms') AS
    SELECT window_start, window_end, k, COUNT(*) AS n, SUM(v) AS total
    FROM TUMBLE(ev, ts, INTERVAL '1' SECOND) WHERE v >= 0
    GROUP BY window_start, window_end, k EMIT ON WINDOW CLOSE;`;
}

export function expectedCounts(evs: readonly Ev[]): { k: number; n: number; total: number }[] {
  const m = new Map<number, { k: number; n: number; total: number }>();
  for (const e of evs) { const r = m.get(e.k) ?? { k: e.k, n: 0, total: 0 }; r.n++; r.total += e.v; m.set(e.k, r); }
  return [...m.values()].sort((a, b) => a.k - b.k);
}

export interface WindowRow { window_start: string; window_end: string; k: number; n: number; total: number }
export function expectedWindows(evs: readonly Ev[]): WindowRow[] {
  const m = new Map<string, WindowRow>();
  for (const e of evs) {
    const ws = Math.floor(e.ts / 1000) * 1000;
    const key = `${ws}/${e.k}`;
    const r = m.get(key) ?? { window_start: new Date(ws).toISOString(), window_end: new Date(ws + 1000).toISOString(), k: e.k, n: 0, total: 0 };
    r.n++; r.total += e.v; m.set(key, r);
  }
  return sortWindows([...m.values()]);
}
export const sortWindows = (rows: WindowRow[]) => rows.sort((a, b) => a.window_start.localeCompare(b.window_start) || a.k - b.k);

/**
 * Produces events 0, 1, 2, … in order, `perTick` every `tickMs`, keyed over 12 keys (so over every
 * partition, each partition in event-time order), until stopped. `stop` resolves with the events produced.
 */
export function startProducing(brokers: readonly string[], topic: string, opts: { perTick?: number; tickMs?: number; from?: number } = {}) {
  const producer = createSideProducer(brokers, 'fault-test-producer');
  const produced: Ev[] = [];
  let i = opts.from ?? 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const evs = Array.from({ length: opts.perTick ?? 25 }, () => event(i++));
      await producer.send(topic, evs.map((e) => ({ key: String(e.v % 12), value: JSON.stringify(e) })));
      produced.push(...evs);
      await new Promise((r) => setTimeout(r, opts.tickMs ?? 50));
    }
  })();
  return {
    count: () => produced.length,
    async stop(): Promise<Ev[]> { stopped = true; await loop; await producer.close(); return produced; },
  };
}

/** One event far ahead in event time on every partition (filtered out by `v >= 0`): closes every window. */
export async function flushWindows(brokers: readonly string[], topic: string, partitions: number): Promise<void> {
  const far = T0 + 24 * 3600_000;
  await produce(brokers, topic, Array.from({ length: partitions }, (_, p) => ({ partition: p, value: JSON.stringify({ k: 0, v: -1, ts: far }) })));
}

/** The newest epoch with a commit marker in a query's checkpoint log (0 if none). */
export function latestCommit(dataDir: string, queryId: string): number {
  try {
    return Math.max(0, ...readdirSync(path.join(dataDir, 'queries', queryId, 'commits')).filter((n) => /^\d+$/.test(n)).map(Number));
  } catch { return 0; }
}

export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => { t = setTimeout(() => rej(new Error(`timed out (${ms} ms) waiting for ${what}`)), ms); })]);
  } finally { clearTimeout(t); }
}

/** createTopic, retried: a broker that has just started may not host the new partitions yet. */
export async function createTopicReady(brokers: readonly string[], topic: string, partitions: number): Promise<void> {
  for (let i = 0; ; i++) {
    try { await createTopic(brokers, topic, partitions); return; } catch (e) {
      if (i >= 10) throw e;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

/** Polls a pull query until it returns `want` (a view shows whole epochs, after their checkpoint); then asserts it for a readable diff. */
export async function expectRows(sql: (q: string) => Promise<{ body: any }>, query: string, want: unknown, timeoutMs = 20_000): Promise<void> {
  const { expect } = await import('vitest');
  const until = Date.now() + timeoutMs;
  let rows: unknown;
  for (;;) {
    rows = (await sql(query)).body.results?.[0]?.rows;
    if (JSON.stringify(rows) === JSON.stringify(want) || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(rows).toEqual(want);
}
