/**
 * The service with its PostgreSQL listener for the wire-protocol tests: the shared test broker, a
 * source of trades and a materialized view over them with known rows, and the pg port.
 */
import { execFile } from 'node:child_process';
import { createTopic, produce } from '../../connectors/kafka/admin.ts';
import { startDemo, type Demo } from '../../queries/demo.ts';
import { startPgServer, type PgServer, type PgServerOptions } from '../../server/pg/server.ts';
import { brokerList, uniqueTopic } from '../helpers/kafka.ts';
import { startTestService, waitFor, type TestService } from '../helpers/service.ts';

export const T0 = Date.parse('2024-03-01T10:00:00.000Z');

/** Trades: two symbols over two minutes, then one event far later that closes the windows. */
export const TRADES = [
  { sym: 'ACME', price: 10.5, qty: 3, s: 1 }, { sym: 'ACME', price: 11.5, qty: 1, s: 20 }, { sym: 'BOLT', price: 100, qty: 7, s: 30 },
  { sym: 'ACME', price: 12, qty: 2, s: 70 }, { sym: 'BOLT', price: 99.25, qty: 5, s: 80 }, { sym: 'BOLT', price: 101, qty: 1, s: 95 },
];

export interface PgFixture {
  readonly svc: TestService;
  readonly pg: PgServer;
  readonly logs: string[];
  close(): Promise<void>;
}

/** `demo`: the demo generator and the example files whose views the Grafana dashboard reads (only those: it is quicker). */
export async function startPgFixture(opts: Partial<PgServerOptions> = {}, svcOpts: { demo?: boolean } = {}): Promise<PgFixture> {
  const svc = await startTestService();
  const logs: string[] = [];
  const demo: Demo | null = svcOpts.demo
    ? await startDemo(svc.service.engine, brokerList(), (l, m) => logs.push(`${l} ${m}`), { examples: ['nexmark-bids.sql', 'tweet-sentiment.sql', 'pageviews-per-user.sql'] })
    : null;
  const pg = await startPgServer({ engine: svc.service.engine, port: 0, log: (l, m) => logs.push(`${l} ${m}`), pushIntervalMs: 200, ...opts });
  const topic = uniqueTopic('pg-trades');
  await createTopic(brokerList(), topic, 1);
  await produce(brokerList(), topic, [...TRADES, { sym: 'ZZZ', price: 1, qty: 1, s: 600 }].map((t) => ({ value: JSON.stringify({ sym: t.sym, price: t.price, qty: t.qty, ts: T0 + t.s * 1000 }) })));
  const r = await svc.sql(`
    CREATE SOURCE trades (sym VARCHAR, price DOUBLE, qty INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
      WITH (connector = 'kafka', topic = '${topic}', format = 'json', 'scan.startup.mode' = 'earliest');
    CREATE MATERIALIZED VIEW trades_per_min WITH ('checkpoint.interval' = '200 ms') AS
      SELECT window_start, window_end, sym, COUNT(*) AS n, SUM(qty) AS volume, AVG(price) AS avg_price, MAX(price) AS high
      FROM TUMBLE(trades, ts, INTERVAL '1' MINUTE) GROUP BY window_start, window_end, sym;`);
  if (r.status !== 200) throw new Error(JSON.stringify(r.body));
  await waitFor(async () => (await svc.get('/v1/views/trades_per_min')).body.rows?.length >= 4, 30_000, 'view rows');
  return {
    svc, pg, logs,
    async close() { await demo?.stop(); await pg.close(); await svc.close(); },
  };
}

/** Runs psql (no .psqlrc, no pager) and returns stdout, stderr and the exit code. */
export function psql(port: number, args: string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'grafana', '-d', 'streamsql', ...args], {
      env: { ...process.env, PGCONNECT_TIMEOUT: '5', PAGER: '', PSQL_PAGER: '', PGSSLMODE: 'disable', ...env }, timeout: timeoutMs,
    }, (err, stdout, stderr) => resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr }));
  });
}
