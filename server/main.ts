/**
 * `npm start`: the service with its HTTP API. With no KAFKA_BROKERS it starts the embedded Kafka
 * broker and the demo, so `curl localhost:8080/v1/sql` shows live results at once.
 *
 * Environment: PORT (8080), HOST (127.0.0.1), KAFKA_BROKERS, DATA_DIR (./data), DEMO (1/0),
 * MAX_QUERIES (cap on running queries → 429), API_TOKEN (bearer token required on /v1 and /metrics),
 * LOG_LEVEL; CLUSTER_ID, INSTANCE_ID, ADVERTISED_URL (default http://<HOST>:<PORT>: what GET /v1/cluster shows
 * for this instance); PG_PORT (4566; 0 = a free port; 'off' = none), PG_HOST (HOST), PG_TLS_CERT / PG_TLS_KEY (PEM
 * files: TLS on SSLRequest) for the PostgreSQL wire protocol (server/pg); STREAMSQL_CPU_PROFILE_DIR (SIGUSR2 starts and
 * stops a CPU profile of the main thread, written there: server/cpu-profile.ts).
 */
import { startService } from '../queries/service.ts';
import { readFileSync } from 'node:fs';
import { buildApp } from './app.ts';
import { cpuProfileOnSignal } from './cpu-profile.ts';
import { DEFAULT_PG_PORT, startPgServer, type PgServer } from './pg/server.ts';

const env = process.env;
const log = (level: 'info' | 'warn' | 'error', msg: string) => {
  if (level === 'info' && env.LOG_LEVEL === 'warn') return;
  process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} ${msg}\n`);
};

async function main(): Promise<void> {
  if (env.STREAMSQL_CPU_PROFILE_DIR) cpuProfileOnSignal(env.STREAMSQL_CPU_PROFILE_DIR, env.INSTANCE_ID || `pid${process.pid}`, log);
  const port = Number(env.PORT || 8080);
  const host = env.HOST || '127.0.0.1';
  const service = await startService({
    kafkaBrokers: env.KAFKA_BROKERS || undefined,
    dataDir: env.DATA_DIR || './data',
    demo: env.DEMO === undefined ? undefined : env.DEMO === '1' || env.DEMO === 'true',
    demoEventsPerSecond: env.DEMO_RATE ? Number(env.DEMO_RATE) : undefined,
    maxQueries: env.MAX_QUERIES ? Number(env.MAX_QUERIES) : undefined,
    advertisedUrl: env.ADVERTISED_URL || `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    log,
  });
  const pg: PgServer | null = env.PG_PORT === 'off' ? null : await startPgServer({
    engine: service.engine, host: env.PG_HOST || host, port: env.PG_PORT ? Number(env.PG_PORT) : DEFAULT_PG_PORT, token: env.API_TOKEN || undefined,
    tlsCert: env.PG_TLS_CERT ? readFileSync(env.PG_TLS_CERT) : undefined, tlsKey: env.PG_TLS_KEY ? readFileSync(env.PG_TLS_KEY) : undefined, log,
  });
  const headersTimeoutMs = env.HEADERS_TIMEOUT_MS ? Number(env.HEADERS_TIMEOUT_MS) : undefined;
  if (headersTimeoutMs !== undefined && !(Number.isInteger(headersTimeoutMs) && headersTimeoutMs > 0)) throw new Error(`HEADERS_TIMEOUT_MS must be a positive integer (milliseconds), got ${env.HEADERS_TIMEOUT_MS}`);
  const app = await buildApp(service, { apiToken: env.API_TOKEN || undefined, postgres: pg ? { host: pg.host, port: pg.port } : undefined, headersTimeoutMs });
  let stopping = false;
  const shutdown = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log('info', `${sig}: stopping (checkpointing running queries)`);
    await app.close().catch(() => undefined);
    await pg?.close().catch(() => undefined);
    await service.stop().catch((e) => log('error', String(e)));
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  await app.listen({ port, host });
  log('info', `streamsql ${service.version} listening on http://${host}:${port} (Kafka ${service.kafka.bootstrap}${service.kafka.embedded ? ', embedded' : ''})`);
}

main().catch((e) => {
  log('error', `cannot start: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
