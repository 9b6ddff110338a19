/**
 * `npm start`: the service with its HTTP API. With no KAFKA_BROKERS it starts the embedded Kafka
 * broker and the demo, so `curl localhost:8080/v1/sql` shows live results at once.
 *
 * Environment: PORT (8080), HOST (127.0.0.1), KAFKA_BROKERS, DATA_DIR (./data), DEMO (1/0),
 * MAX_QUERIES (cap on running queries → 429), API_TOKEN (bearer token required on /v1 and /metrics),
 * LOG_LEVEL.
 */
import { startService } from '../queries/service.ts';
import { buildApp } from './app.ts';

const env = process.env;
const log = (level: 'info' | 'warn' | 'error', msg: string) => {
  if (level === 'info' && env.LOG_LEVEL === 'warn') return;
  process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} ${msg}\n`);
};

async function main(): Promise<void> {
  const service = await startService({
    kafkaBrokers: env.KAFKA_BROKERS || undefined,
    dataDir: env.DATA_DIR || './data',
    demo: env.DEMO === undefined ? undefined : env.DEMO === '1' || env.DEMO === 'true',
    demoEventsPerSecond: env.DEMO_RATE ? Number(env.DEMO_RATE) : undefined,
    maxQueries: env.MAX_QUERIES ? Number(env.MAX_QUERIES) : undefined,
    log,
  });
  const app = await buildApp(service, { apiToken: env.API_TOKEN || undefined });
  const port = Number(env.PORT || 8080);
  const host = env.HOST || '127.0.0.1';
  let stopping = false;
  const shutdown = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log('info', `${sig}: stopping (checkpointing running queries)`);
    await app.close().catch(() => undefined);
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
