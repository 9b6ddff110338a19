/**
 * The HTTP API, v1. Routes stay thin: they validate (a JSON schema on every route, which is also the
 * OpenAPI document at /docs), call the engine, and shape JSON. One error shape everywhere
 * (server/errors.ts).
 *
 *   GET  /healthz                       liveness
 *   GET  /v1/info                       version, Kafka bootstrap address, whether it is the embedded broker
 *   POST /v1/sql {sql}                  runs statements in order → {results: [...]}, one per statement
 *   GET  /v1/queries                    continuous queries
 *   GET  /v1/queries/:id                {id, name, kind, sql, status, error, progress}
 *   DELETE /v1/queries/:id              stops a query (and drops the view or sink it feeds)
 *   GET  /v1/catalog                    sources, views and sinks with their columns
 *   GET  /v1/views/:name?limit=N        a materialized view's committed rows
 *   GET  /v1/views/:name/changes        SSE: snapshot, then one event per change; resumable (Last-Event-ID)
 *   POST /v1/query-stream {sql}         SSE of an ad-hoc SELECT … EMIT CHANGES, stopped on disconnect
 *   GET  /v1/cluster                    with CLUSTER_ID: instances (id, address, alive), their tasks, queries' lag
 *   GET  /metrics                       Prometheus text format
 *   GET  /docs                          OpenAPI document (/docs/json) and an interactive page
 *   GET  /                              the dashboard (web/)
 *
 * With `apiToken` set, every route needs `Authorization: Bearer <token>` (or, for EventSource clients
 * that cannot set headers, `?access_token=<token>`) except the open ones: /healthz, /docs and the
 * dashboard's static files. The decision is taken on the route the router matched (after it decoded
 * and normalised the path), never on the raw URL, so no spelling of a path can reach a protected
 * handler without the token (server/auth.ts). Framework and socket errors use the API's error shape too
 * (server/errors.ts).
 */
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { ViewGather } from '../queries/cluster/view-gather.ts';
import type { RowChange } from '../queries/push.ts';
import type { Service } from '../queries/service.ts';
import { openScope, redactUrl, requireToken } from './auth.ts';
import { apiError, clientErrorHandler, errorHandler, frameworkErrors, notFoundHandler } from './errors.ts';
import { installLingeringClose, lingeringClose } from './lingering-close.ts';
import { createMetrics } from './metrics.ts';
import * as S from './schemas.ts';
import { createSseHub, type SseStream } from './sse.ts';

export interface AppOptions {
  /** Request logging (default off); an object sets the level and where lines go. Tokens are never logged. */
  readonly logger?: boolean | { readonly level?: string; readonly stream?: NodeJS.WritableStream };
  /** Request body limit in bytes (default 1 MiB). */
  readonly bodyLimit?: number;
  /** When set, /v1 and /metrics require this bearer token (main.ts passes API_TOKEN). */
  readonly apiToken?: string;
  /** SSE heartbeat interval (default 15 s). */
  readonly heartbeatMs?: number;
  /** Epoch length of ad-hoc push queries (default 200 ms). */
  readonly pushIntervalMs?: number;
  /** The dashboard's static files (default: web/ of this repository). */
  readonly webRoot?: string;
  /** Where the PostgreSQL wire protocol listens (server/pg), shown by GET /v1/info. */
  readonly postgres?: { readonly host: string; readonly port: number };
  /** Time to receive a request's line and headers (default HEADERS_TIMEOUT_MS). */
  readonly headersTimeoutMs?: number;
}

export const WEB_ROOT = fileURLToPath(new URL('../web/', import.meta.url));

/**
 * Longest path segment a route parameter takes, in characters as sent (percent-escapes count 3).
 * Names are at most 128 characters; one of 128 four-byte characters, percent-encoded, is 1,536.
 */
export const MAX_PARAM_LENGTH = 2048;

/** Node's limit on the request line plus headers (its default); beyond it: 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

/** Time to receive a whole request (headers and body); beyond it: 408. */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Time to receive a request's line and headers, counted from the connection (or the previous
 * response); beyond it: 408. Shorter than Node's 60 s: a connection that sends only the empty lines
 * HTTP lets precede a request line, or nothing, is answered and closed instead of held for a minute.
 */
export const HEADERS_TIMEOUT_MS = 10_000;

function loggerOptions(l: AppOptions['logger']): FastifyServerOptions['logger'] {
  if (!l) return false;
  const o = l === true ? {} : l;
  return {
    level: o.level ?? 'info',
    ...(o.stream ? { stream: o.stream } : {}),
    // No headers (Authorization), and no access_token value in the URL.
    serializers: {
      req: (req: FastifyRequest) => ({ method: req.method, url: redactUrl(req.url), remoteAddress: req.ip }),
    },
  } as FastifyServerOptions['logger'];
}

/** Last-Event-ID header (EventSource reconnects) or ?lastEventId= (a first connection that resumes). */
function lastEventId(req: FastifyRequest<{ Querystring: { lastEventId?: string } }>): number | null {
  const v = req.headers['last-event-id'] ?? req.query.lastEventId;
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined || s === '') return null;
  const n = Number(s);
  return Number.isInteger(n) && n >= 0 ? n : null;
}

export async function buildApp(service: Service, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: loggerOptions(opts.logger),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    // Expired connections (headers or request timeouts) are looked for every second, not every 30 s.
    http: { maxHeaderSize: MAX_HEADER_BYTES, connectionsCheckingInterval: 1000 },
    // A request must arrive whole within this (fastify's default, 0, lets a slow client hold a
    // connection, and app.close(), forever). SSE replies are not requests in flight: not affected.
    requestTimeout: REQUEST_TIMEOUT_MS,
    // `//v1/x` and `/v1/x/` reach /v1/x (and its auth); names in paths stay case-sensitive.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH, ignoreDuplicateSlashes: true, ignoreTrailingSlash: true, caseSensitive: true },
    frameworkErrors: frameworkErrors(MAX_PARAM_LENGTH),
    clientErrorHandler,
  });
  app.server.headersTimeout = Math.min(opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
  // Answers given before a request's body was read close without resetting the client (see the file).
  installLingeringClose(app.server);
  const { engine } = service;
  const hub = createSseHub({ heartbeatMs: opts.heartbeatMs });
  const metrics = createMetrics(engine, { sseStreams: () => hub.size });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler(MAX_PARAM_LENGTH));
  if (opts.apiToken) requireToken(app, opts.apiToken);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'streamsql HTTP API',
        version: service.version,
        description: 'Streaming SQL over Kafka: create sources and materialized views with SQL, read their results (pull), or follow them as they change (push, Server-Sent Events). Errors are always `{"error": {"message", "line"?, "column"?}}`.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'Required on /v1 and /metrics when the service runs with API_TOKEN' } } },
      security: opts.apiToken ? [{ bearerAuth: [] }] : [],
      tags: [
        { name: 'sql', description: 'SQL statements and pull queries' },
        { name: 'queries', description: 'Continuous queries' },
        { name: 'views', description: 'Materialized views: rows and live changes' },
        { name: 'service', description: 'Health, info and metrics' },
      ],
    },
  });
  // The open routes: docs and the dashboard's files. Everything else needs the token (auth.ts).
  const webRoot = opts.webRoot ?? WEB_ROOT;
  await app.register(async (open) => {
    openScope(open);
    await open.register(fastifySwaggerUi, { routePrefix: '/docs' });
    if (existsSync(webRoot)) await open.register(fastifyStatic, { root: webRoot, prefix: '/', index: ['index.html'] });
  });

  // CONNECT (proxy tunnels) never reaches fastify: Node hands it to 'connect' listeners and, with
  // none, drops the socket without an answer. Answer it like any other refused request.
  app.server.on('connect', (_req: unknown, socket: Socket) => {
    const body = JSON.stringify(apiError('CONNECT is not supported'));
    // The socket is ours now (Node no longer reads it): answer, then close it with a lingering close
    // (FIN, drain, destroy within 2 s): destroyed at once, a client still sending its body was reset
    // before it read the answer (found by `npm run fuzz`, seed 20261204).
    socket.on('error', () => undefined);
    socket.write(`HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    lingeringClose(socket);
  });

  // SSE streams end before the server waits for its connections to drain.
  app.addHook('preClose', async () => {
    hub.closeAll();
    await Promise.all(engine.pushQueries().map((p) => p.stop().catch(() => undefined)));
  });

  app.get('/healthz', { config: { open: true }, schema: { tags: ['service'], summary: 'Liveness', response: { 200: S.health } } }, async () => ({ status: 'ok' }));

  app.get('/v1/info', { schema: { tags: ['service'], summary: 'Version and Kafka cluster', response: { 200: S.info, ...S.errors } } }, async () => ({
    name: 'streamsql',
    version: service.version,
    kafka: { bootstrap: service.kafka.bootstrap, embedded: service.kafka.embedded },
    ...(opts.postgres ? { postgres: { host: opts.postgres.host, port: opts.postgres.port } } : {}),
  }));

  app.post<{ Body: { sql: string } }>('/v1/sql', {
    schema: { tags: ['sql'], summary: 'Run SQL statements in order', body: S.sqlBody, response: { 200: S.sqlResults, ...S.errors } },
  }, async (req) => ({ results: await engine.execute(req.body.sql) }));

  app.get('/v1/queries', { schema: { tags: ['queries'], summary: 'Continuous queries', response: { 200: S.queryList, ...S.errors } } }, async () => ({ queries: engine.queries() }));

  app.get<{ Params: { id: string } }>('/v1/queries/:id', {
    schema: { tags: ['queries'], summary: 'One query with its progress', params: S.idParams, response: { 200: S.queryWithProgress, ...S.errors } },
  }, async (req, reply) => {
    if (!engine.query(req.params.id)) return reply.status(404).send(apiError(`no query '${req.params.id}'`));
    // Progress first, then the status, so the status is never older than the progress beside it.
    const progress = await engine.progress(req.params.id);
    const q = engine.query(req.params.id);
    if (!q) return reply.status(404).send(apiError(`no query '${req.params.id}'`));
    return { ...q, progress };
  });

  app.delete<{ Params: { id: string } }>('/v1/queries/:id', {
    schema: { tags: ['queries'], summary: 'Stop a query and drop the view or sink it feeds', params: S.idParams, response: { 200: S.stopped, ...S.errors } },
  }, async (req, reply) => {
    if (!(await engine.stopQuery(req.params.id))) return reply.status(404).send(apiError(`no query '${req.params.id}'`));
    return { id: req.params.id, status: 'stopped' };
  });

  app.get('/v1/catalog', { schema: { tags: ['views'], summary: 'Sources, views and sinks', response: { 200: S.catalog, ...S.errors } } }, async () => engine.catalogInfo());

  app.get<{ Params: { name: string }; Querystring: { limit?: number; local?: boolean; raw?: boolean } }>('/v1/views/:name', {
    schema: { tags: ['views'], summary: "A materialized view's committed rows (the newest `limit`)", params: S.nameParams, querystring: S.limitQuery, response: { 200: S.viewRows, ...S.errors } },
  }, async (req, reply) => {
    // A view run as tasks (CLUSTER_ID): gathered from every instance, or this instance's share (local=true).
    const g = engine.viewGather?.();
    const limit = req.query.limit ?? 1000;
    const v = g?.isTaskView(req.params.name)
      ? (req.query.local ? g.localRows(req.params.name, req.query.raw ? undefined : limit, req.query.raw === true) : await g.rows(req.params.name, limit, { token: opts.apiToken }))
      : engine.viewRows(req.params.name, limit);
    if (!v) return reply.status(404).send(apiError(`no materialized view '${req.params.name}'`));
    return v;
  });

  app.get<{ Params: { name: string }; Querystring: { lastEventId?: string; local?: boolean } }>('/v1/views/:name/changes', {
    schema: {
      tags: ['views'],
      summary: 'Live changes of a materialized view (Server-Sent Events)',
      description: 'First `event: snapshot` (`id` = epoch, data `{epoch, columns, rows}`), then one `event: change` per changed row (`id` = epoch, data `{op: "insert"|"upsert"|"delete", row}`). Reconnect with `Last-Event-ID` (or `?lastEventId=`) to receive only what was missed while it is still buffered; otherwise a fresh snapshot comes first. `event: end` when the view is dropped. With CLUSTER_ID, a view run as tasks: its rows are gathered from every instance; `event: resync` (`{reason, missing}`) when one of its tasks moves or an instance stops answering, then a fresh `snapshot` of the whole view once every task is served again (a reconnect always starts with a snapshot). Heartbeat comments keep the connection open.',
      params: S.nameParams, querystring: S.changesQuery, headers: S.lastEventIdHeader,
      produces: ['text/event-stream'],
      response: { 200: { description: 'text/event-stream', type: 'string' }, ...S.errors },
    },
  }, async (req, reply) => {
    const g = engine.viewGather?.();
    if (g?.isTaskView(req.params.name)) return taskViewFeed(g, req.params.name, req.query.local === true, reply);
    const f = engine.viewFeed(req.params.name);
    if (!f) return reply.status(404).send(apiError(`no materialized view '${req.params.name}'`));
    const stream = hub.open(reply);
    const unsubscribe = f.feed.subscribe(lastEventId(req), (ev) => {
      switch (ev.kind) {
        case 'snapshot': stream.send('snapshot', { epoch: ev.epoch, columns: f.columns, rows: ev.rows }, ev.epoch); break;
        case 'changes': stream.sendMany(ev.changes.map((c) => ({ event: 'change', data: c, id: ev.epoch }))); break;
        case 'end': stream.send('end', { reason: ev.reason }); stream.close(); break;
      }
    });
    stream.onClose(unsubscribe);
    return reply;
  });

  /**
   * The change feed of a view run as tasks (CLUSTER_ID, queries/cluster/view-gather.ts). Whole: `snapshot`,
   * `change` events as for any view, and `resync` ({reason, missing}) when a task moves: a fresh `snapshot` of
   * the whole view follows once every task is served again. Local (what instances ask each other): this
   * instance's share, task by task.
   */
  function taskViewFeed(g: ViewGather, name: string, local: boolean, reply: FastifyReply): FastifyReply {
    const columns = g.columns(name) ?? [];
    let stream: SseStream | null = null;
    const early: { event: string; data: unknown; id?: number }[] = [];
    const emit = (event: string, data: unknown, id?: number) => {
      if (!stream) { early.push({ event, data, id }); return; }
      stream.send(event, data, id);
      if (event === 'end') stream.close();
    };
    const off = local
      ? g.localFeed(name, (e) => {
        if (e.kind === 'change') emit('change', { task: e.task, epoch: e.epoch, changes: e.changes }, e.epoch);
        else { const { kind, ...data } = e; emit(kind, data); }
      })
      : g.feed(name, (e) => {
        switch (e.kind) {
          case 'snapshot': emit('snapshot', { epoch: e.epoch, columns, rows: e.rows }, e.epoch); break;
          case 'changes': if (stream) stream.sendMany(e.changes.map((c) => ({ event: 'change', data: c, id: e.epoch }))); else for (const c of e.changes) early.push({ event: 'change', data: c, id: e.epoch }); break;
          case 'resync': emit('resync', { reason: e.reason, missing: e.missing }); break;
          case 'end': emit('end', { reason: e.reason }); break;
        }
      }, { token: opts.apiToken });
    if (!off) return reply.status(404).send(apiError(`no materialized view '${name}'`));
    stream = hub.open(reply);
    stream.onClose(off);
    for (const e of early.splice(0)) { stream.send(e.event, e.data, e.id); if (e.event === 'end') stream.close(); }
    return reply;
  }

  app.post<{ Body: { sql: string; startFrom?: 'latest' | 'earliest' } }>('/v1/query-stream', {
    schema: {
      tags: ['sql'],
      summary: 'Run an ad-hoc push query (SELECT … EMIT CHANGES) as Server-Sent Events',
      description: 'Answers `event: schema` (data `{queryId, columns, keyColumns}`), then `event: change` per output row (`id` = epoch, data `{op, row}`). Reads from the latest offsets unless the source sets its own \'scan.startup.mode\' or `startFrom` is given. The query stops, and its consumer group is deleted, when the client disconnects. `event: error` if it fails.',
      body: S.pushBody,
      produces: ['text/event-stream'],
      response: { 200: { description: 'text/event-stream', type: 'string' }, ...S.errors },
    },
  }, async (req, reply) => {
    let stream: SseStream | null = null;
    const early: { epoch: number; changes: readonly RowChange[] }[] = [];
    const send = (epoch: number, changes: readonly RowChange[]) => stream!.sendMany(changes.map((c) => ({ event: 'change', data: c, id: epoch })));
    // Planning errors throw here, before the reply turns into a stream: a plain 4xx answer.
    const handle = await engine.startPush(req.body.sql, {
      startFrom: req.body.startFrom,
      intervalMs: opts.pushIntervalMs,
      onChanges: (epoch, changes) => { if (stream) send(epoch, changes); else early.push({ epoch, changes }); },
      onError: (e) => { if (stream) { stream.send('error', apiError(e.message)); stream.close(); } },
    });
    stream = hub.open(reply);
    stream.onClose(() => { void handle.stop(); });
    stream.send('schema', { queryId: handle.id, columns: handle.columns, keyColumns: handle.keyColumns });
    for (const e of early.splice(0)) send(e.epoch, e.changes);
    return reply;
  });

  app.get('/v1/cluster', { schema: { tags: ['service'], summary: 'Instances of the cluster, their tasks, and the queries\' lag', response: { 200: S.cluster, ...S.errors } } }, async (_req, reply) => {
    const c = engine.cluster?.();
    if (!c) return reply.status(404).send(apiError('not in cluster mode: this instance runs alone (start it with CLUSTER_ID to join a cluster)'));
    const queries = (await engine.clusterLag?.()) ?? [];
    return { clusterId: c.clusterId, instance: c.instanceId, members: c.members.map((m) => ({ id: m.id, address: m.address, alive: m.alive, tasks: m.tasks })), queries };
  });

  app.get('/metrics', {
    schema: { tags: ['service'], summary: 'Prometheus metrics (text format)', produces: ['text/plain'], response: { 200: { type: 'string' }, ...S.errors } },
  }, async (_req, reply) => {
    const text = await metrics.render();
    return reply.type(metrics.contentType).send(text);
  });

  return app;
}
