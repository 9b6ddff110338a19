/**
 * The HTTP API, v1. Routes stay thin: they validate, call the engine, and shape JSON.
 *
 *   GET  /healthz                 liveness
 *   GET  /v1/info                 version, Kafka bootstrap address, whether it is the embedded broker
 *   POST /v1/sql {sql}            runs statements in order → {results: [...]}, one per statement
 *   GET  /v1/queries              continuous queries
 *   GET  /v1/queries/:id          {id, name, sql, status, progress}
 *   DELETE /v1/queries/:id        stops a query (and drops the view or sink it feeds)
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Service } from '../queries/service.ts';
import { apiError, errorHandler } from './errors.ts';

export interface AppOptions {
  readonly logger?: boolean;
  readonly bodyLimit?: number;
}

const sqlBody = {
  type: 'object',
  required: ['sql'],
  properties: { sql: { type: 'string', minLength: 1 } },
  additionalProperties: false,
} as const;

export async function buildApp(service: Service, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: opts.bodyLimit ?? 1024 * 1024 });
  const { engine } = service;
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => { void reply.status(404).send(apiError(`no route ${req.method} ${req.url}`)); });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/v1/info', async () => ({
    name: 'streamsql',
    version: service.version,
    kafka: { bootstrap: service.kafka.bootstrap, embedded: service.kafka.embedded },
  }));

  app.post<{ Body: { sql: string } }>('/v1/sql', { schema: { body: sqlBody } }, async (req) => {
    return { results: await engine.execute(req.body.sql) };
  });

  app.get('/v1/queries', async () => ({ queries: engine.queries() }));

  app.get<{ Params: { id: string } }>('/v1/queries/:id', async (req, reply) => {
    const q = engine.query(req.params.id);
    if (!q) return reply.status(404).send(apiError(`no query '${req.params.id}'`));
    return { ...q, progress: await engine.progress(req.params.id) };
  });

  app.delete<{ Params: { id: string } }>('/v1/queries/:id', async (req, reply) => {
    if (!(await engine.stopQuery(req.params.id))) return reply.status(404).send(apiError(`no query '${req.params.id}'`));
    return { id: req.params.id, status: 'stopped' };
  });

  return app;
}
