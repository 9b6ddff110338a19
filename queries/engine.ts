/**
 * The engine: the durable catalog, the continuous queries behind materialized views and sinks, and
 * the execution of SQL requests. Statements of a request are all planned (checked) before any of
 * them takes effect; then they take effect in order.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Log } from '../connectors/kafka/client.ts';
import { holdReaders } from '../connectors/kafka/source.ts';
import { createQueryTable, type QueryTable } from '../connectors/table/query-table.ts';
import { createPipeline } from '../executor/pipeline.ts';
import { batchRows, jsonValue, rowObject } from '../executor/rows.ts';
import {
  createCatalog, kindLabel, limits, planRequest, preparseRequest, SqlError, redactSql, typeToString, warmParser,
  type CatalogObject, type MaterializedViewDef, type Planned, type PlannedStatement, type Schema,
} from '../planner/index.ts';
import { atomicWrite } from './checkpoint-log.ts';
import { createViewFeed, startPushQuery, type PushQuery, type RowChange, type StartFrom, type ViewFeed } from './push.ts';
import { createQueryRunner, queryDir, type QueryProgress, type QueryRunner, type QueryState } from './runner.ts';

export interface EngineConfig {
  readonly brokers: readonly string[];
  readonly dataDir: string;
  readonly log: Log;
  readonly maxQueries?: number;
  readonly keepEpochs?: number;
}

export interface ColumnInfo { readonly name: string; readonly type: string }

/** One entry of POST /v1/sql's `results`, per statement. */
export interface StatementResult {
  readonly statement: string;
  readonly name?: string;
  readonly queryId?: string;
  readonly message?: string;
  readonly columns?: readonly ColumnInfo[];
  readonly rows?: readonly Record<string, unknown>[];
  readonly plan?: { readonly logical: string; readonly physical: string; readonly graph: string };
}

export interface QueryInfo {
  readonly id: string;
  readonly name: string;
  readonly kind: 'materialized_view' | 'sink';
  readonly sql: string;
  readonly status: QueryState;
  readonly error: string | null;
}

interface StoredObject { readonly kind: CatalogObject['kind']; readonly name: string; readonly sql: string; readonly queryId?: string }

export interface Engine {
  start(): Promise<void>;
  close(): Promise<void>;
  execute(sql: string): Promise<StatementResult[]>;
  queries(): QueryInfo[];
  query(id: string): QueryInfo | undefined;
  progress(id: string): Promise<QueryProgress | undefined>;
  /** Stops a query and drops the view or sink it feeds. */
  stopQuery(id: string): Promise<boolean>;
  table(name: string): QueryTable | undefined;
  objects(): CatalogObject[];
  runner(id: string): QueryRunner | undefined;
  // ---- push and the dashboard's catalog (see queries/push.ts) ----
  /** Sources, views and sinks with their columns, for GET /v1/catalog. */
  catalogInfo(): CatalogInfo;
  /** A materialized view's committed rows (the newest `limit`), or undefined when there is no such view. */
  viewRows(name: string, limit?: number): ViewRows | undefined;
  /** The change feed of a materialized view (shared by its SSE clients), or undefined. */
  viewFeed(name: string): { feed: ViewFeed; columns: ColumnInfo[] } | undefined;
  /** Starts an ad-hoc `SELECT … EMIT CHANGES`; SqlError when the SQL is not one push query. */
  startPush(sql: string, opts: PushOptions): Promise<PushHandle>;
  pushQueries(): readonly PushHandle[];
}

export interface CatalogInfo {
  readonly sources: readonly { name: string; columns: ColumnInfo[]; topics: string[]; topicPattern: string | null; format: string; watermark: { column: string; delayMs: number } | null }[];
  readonly views: readonly { name: string; kind: 'view' | 'materialized_view'; columns: ColumnInfo[]; queryId?: string; keyColumns?: string[] | null; emit?: 'changes' | 'window_close' }[];
  readonly sinks: readonly { name: string; topic: string; queryId?: string; columns: ColumnInfo[] }[];
}

export interface ViewRows {
  readonly name: string;
  readonly epoch: number;
  readonly total: number;
  readonly columns: ColumnInfo[];
  readonly rows: Record<string, unknown>[];
}

export interface PushOptions {
  readonly startFrom?: StartFrom;
  readonly intervalMs?: number;
  onChanges(epoch: number, changes: readonly RowChange[]): void;
  onError(e: Error): void;
}

export interface PushHandle {
  readonly id: string;
  readonly sql: string;
  readonly columns: ColumnInfo[];
  readonly keyColumns: string[] | null;
  readonly query: PushQuery;
  stop(): Promise<void>;
}

const STATEMENT_LABEL: Record<Planned['kind'], string> = {
  create_source: 'CREATE SOURCE', create_view: 'CREATE VIEW', create_materialized_view: 'CREATE MATERIALIZED VIEW',
  create_sink: 'CREATE SINK', drop: 'DROP', show: 'SHOW', describe: 'DESCRIBE', explain: 'EXPLAIN', pull: 'SELECT', push: 'SELECT',
};

/** Rows of a view pushed through a pull query at a time. */
const PULL_SLICE_ROWS = 1024;

export function createEngine(cfg: EngineConfig): Engine {
  const catalog = createCatalog();
  let releaseReaders: (() => Promise<void>) | null = null;
  const stored: StoredObject[] = [];
  const runners = new Map<string, { runner: QueryRunner; kind: 'materialized_view' | 'sink'; object: string }>();
  const tables = new Map<string, QueryTable>();
  const feeds = new Map<string, ViewFeed>();
  const pushes = new Map<string, PushHandle>();
  let lock: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => { const r = lock.then(f); lock = r.catch(() => undefined); return r; };
  const catalogFile = path.join(cfg.dataDir, 'catalog.json');

  // Owner-only: the SQL may hold Kafka credentials ('properties.sasl.jaas.config').
  const persist = () => atomicWrite(catalogFile, JSON.stringify({ version: 1, objects: stored }, null, 2), 0o600);

  async function startQuery(p: Extract<Planned, { kind: 'create_materialized_view' | 'create_sink' }>, sql: string, id: string): Promise<void> {
    let table: QueryTable | undefined;
    if (p.kind === 'create_materialized_view') {
      table = createQueryTable(p.def.name, p.def.schema, p.def.keyColumns, p.def.options.retentionRows);
      tables.set(p.def.name.toLowerCase(), table);
    }
    const runner = createQueryRunner({
      id, name: p.def.name, sql: redactSql(sql), plan: p.physical, options: p.def.options, brokers: cfg.brokers,
      dir: queryDir(cfg.dataDir, id), table, log: cfg.log, keepEpochs: cfg.keepEpochs, views: (name) => tables.get(name.toLowerCase()),
    });
    runners.set(id, { runner, kind: p.kind === 'create_materialized_view' ? 'materialized_view' : 'sink', object: p.def.name });
    await runner.start();
  }

  function info(id: string): QueryInfo | undefined {
    const r = runners.get(id);
    if (!r) return undefined;
    return { id, name: r.runner.name, kind: r.kind, sql: r.runner.sql, status: r.runner.state(), error: r.runner.state() === 'running' ? null : r.runner.lastError() };
  }

  function pull(p: Extract<Planned, { kind: 'pull' }>): StatementResult {
    const src = p.physical.source;
    if (src.kind !== 'view_source') throw new Error('pull queries read views');
    const table = tables.get(src.view.toLowerCase());
    if (!table) throw new Error(`view ${src.view} has no table`);
    const schema = p.physical.schema;
    const out: Record<string, unknown>[] = [];
    const budget = resultBudget('the result');
    const pipeline = createPipeline(p.physical.ops, {
      batch(b) {
        for (const r of batchRows(b, schema)) {
          const o: Record<string, unknown> = {};
          for (let c = 0; c < p.visibleCount; c++) o[schema.fields[c]!.name] = jsonValue(schema.fields[c]!.type, r[c]);
          budget.add(o);
          out.push(o);
        }
      },
    });
    // In slices, so a result over its budget stops after a slice, not after the whole view.
    if (table.size) {
      const all = table.batch();
      for (let at = 0; at < all.numRows; at += PULL_SLICE_ROWS) pipeline.push({ kind: 'batch', batch: all.slice(at, at + PULL_SLICE_ROWS), ops: null });
    }
    pipeline.push({ kind: 'end' });
    return { statement: 'SELECT', columns: columnsOf(schema, p.visibleCount), rows: out };
  }

  function show(what: Extract<Planned, { kind: 'show' }>['what']): StatementResult {
    if (what === 'queries') {
      const rows = [...runners.keys()].map((id) => info(id)!).map((q) => ({ id: q.id, name: q.name, kind: q.kind, status: q.status }));
      return { statement: 'SHOW', columns: [{ name: 'id', type: 'VARCHAR' }, { name: 'name', type: 'VARCHAR' }, { name: 'kind', type: 'VARCHAR' }, { name: 'status', type: 'VARCHAR' }], rows };
    }
    const kind = ({ sources: 'source', views: 'view', materialized_views: 'materialized_view', sinks: 'sink' } as const)[what];
    const objs = catalog.all().filter((o) => o.kind === kind || (what === 'views' && o.kind === 'materialized_view'));
    const rows = objs.map((o) => ({ name: o.name, kind: kindLabel(o), ...(o.kind === 'source' ? { topics: o.options.topics.join(',') || o.options.topicPattern } : {}), ...queryIdOf(o.name) }));
    return { statement: 'SHOW', columns: [{ name: 'name', type: 'VARCHAR' }, { name: 'kind', type: 'VARCHAR' }], rows };
  }

  function queryIdOf(name: string): { queryId?: string } {
    const s = stored.find((x) => x.name.toLowerCase() === name.toLowerCase());
    return s?.queryId ? { queryId: s.queryId } : {};
  }

  function describe(o: CatalogObject): StatementResult {
    const schema = o.kind === 'sink' ? o.schema : o.schema;
    const visible = o.kind === 'materialized_view' ? o.visibleCount : schema.fields.length;
    const rows = schema.fields.slice(0, visible).map((f, i) => ({
      column: f.name, type: typeToString(f.type),
      ...(o.kind === 'source' && o.columns[i]!.metadata ? { metadata: o.columns[i]!.metadata } : {}),
      ...(o.kind === 'source' && o.watermark?.index === i ? { watermark: `${o.watermark.column} - INTERVAL '${o.watermark.delayMs}' MILLISECOND` } : {}),
      ...((o.kind === 'materialized_view' || o.kind === 'sink') && o.keyColumns?.includes(i) ? { key: true } : {}),
    }));
    return { statement: 'DESCRIBE', name: o.name, message: `${kindLabel(o)} ${o.name}`, columns: [{ name: 'column', type: 'VARCHAR' }, { name: 'type', type: 'VARCHAR' }], rows };
  }

  /** Refuses a request whose new queries would go past MAX_QUERIES, before any statement takes effect. */
  function checkCapacity(planned: readonly PlannedStatement[]): void {
    if (cfg.maxQueries === undefined) return;
    const starts = planned.filter((ps) => (ps.planned.kind === 'create_materialized_view' || ps.planned.kind === 'create_sink') && !ps.planned.exists).length;
    if (starts > 0 && runners.size + pushes.size + starts > cfg.maxQueries) {
      throw new SqlError(`too many running queries: this request starts ${starts}, ${Math.max(0, cfg.maxQueries - runners.size - pushes.size)} more may run (MAX_QUERIES = ${cfg.maxQueries}); drop one first`, 1, 1, 'busy');
    }
  }

  /**
   * Takes back a CREATE whose request failed later (or whose query failed to start): no catalog entry,
   * stored statement, table or query of it stays behind.
   */
  async function undoCreate(name: string, queryId: string | undefined): Promise<void> {
    if (queryId) await dropQuery(queryId).catch((e: Error) => cfg.log('warn', `undo of ${name}: ${e.message}`));
    catalog.remove(name);
    tables.delete(name.toLowerCase());
    closeFeed(name);
    const i = stored.findIndex((x) => x.name.toLowerCase() === name.toLowerCase());
    if (i >= 0) stored.splice(i, 1);
    await persist();
  }

  async function apply(ps: PlannedStatement, undo: (() => Promise<void>)[]): Promise<StatementResult> {
    const p = ps.planned;
    const label = STATEMENT_LABEL[p.kind];
    switch (p.kind) {
      case 'create_source': case 'create_view': {
        if (p.exists) return { statement: label, name: p.def.name, message: `${p.def.name} already exists` };
        catalog.put(p.def);
        stored.push({ kind: p.def.kind, name: p.def.name, sql: ps.sql });
        undo.push(() => undoCreate(p.def.name, undefined));
        await persist();
        return { statement: label, name: p.def.name, message: `${kindLabel(p.def)} ${p.def.name} created` };
      }
      case 'create_materialized_view': case 'create_sink': {
        if (p.exists) return { statement: label, name: p.def.name, message: `${p.def.name} already exists`, ...queryIdOf(p.def.name) };
        const id = randomUUID();
        catalog.put(p.def);
        stored.push({ kind: p.def.kind, name: p.def.name, sql: ps.sql, queryId: id });
        undo.push(() => undoCreate(p.def.name, id));
        await persist();
        await startQuery(p, ps.sql, id);
        return { statement: label, name: p.def.name, queryId: id, message: `${kindLabel(p.def)} ${p.def.name} created; query ${id} started` };
      }
      case 'drop': {
        if (!p.exists) return { statement: label, name: p.name, message: `${p.name} does not exist` };
        const s = stored.find((x) => x.name.toLowerCase() === p.name.toLowerCase());
        if (s?.queryId) await dropQuery(s.queryId);
        catalog.remove(p.name);
        tables.delete(p.name.toLowerCase());
        closeFeed(p.name);
        stored.splice(stored.findIndex((x) => x.name.toLowerCase() === p.name.toLowerCase()), 1);
        await persist();
        return { statement: label, name: p.name, message: `${p.object.replace('_', ' ')} ${p.name} dropped` };
      }
      case 'show': return show(p.what);
      case 'describe': return describe(p.object);
      case 'explain': return {
        statement: label, plan: { logical: p.logical, physical: p.physical, graph: p.graph }, columns: [{ name: 'plan', type: 'VARCHAR' }],
        rows: [{ plan: `Logical plan:\n${p.logical}\n\nPhysical plan:\n${p.physical}\n\nDataflow graph (node, inputs, what it emits):\n${p.graph}` }],
      };
      case 'pull': return pull(p);
      case 'push': throw new SqlError('push queries (SELECT … EMIT CHANGES) are served as a stream at POST /v1/query-stream', 1, 1);
    }
  }

  async function dropQuery(id: string): Promise<void> {
    const r = runners.get(id);
    if (!r) return;
    runners.delete(id);
    await retire(r.runner);
  }

  /** Runners being stopped and destroyed (close waits for them). */
  const retiring = new Set<Promise<void>>();

  /**
   * Stops a runner taken out of the engine and deletes its checkpoints. The runner's stop is bounded
   * in time even when its query is stuck in Kafka I/O (queries/runner.ts), so this always ends.
   */
  function retire(runner: QueryRunner): Promise<void> {
    const p: Promise<void> = (async () => {
      await runner.stop();
      await runner.destroy();
    })().catch((e) => { cfg.log('warn', `query ${runner.name}: stop: ${(e as Error).message}`); }).finally(() => { retiring.delete(p); });
    retiring.add(p);
    return p;
  }

  return {
    async start() {
      releaseReaders ??= holdReaders();
      warmParser();
      await fs.mkdir(cfg.dataDir, { recursive: true });
      let saved: StoredObject[] = [];
      try { saved = (JSON.parse(await fs.readFile(catalogFile, 'utf8')) as { objects: StoredObject[] }).objects; } catch { saved = []; }
      for (const s of saved) {
        try {
          const [ps] = planRequest(s.sql, catalog);
          const p = ps!.planned;
          if (p.kind === 'create_source' || p.kind === 'create_view' || p.kind === 'create_materialized_view' || p.kind === 'create_sink') {
            catalog.put(p.def);
            stored.push(s);
            if ((p.kind === 'create_materialized_view' || p.kind === 'create_sink') && s.queryId) await startQuery(p, s.sql, s.queryId);
          }
        } catch (e) {
          cfg.log('error', `cannot restore ${s.kind} ${s.name}: ${(e as Error).message}`);
        }
      }
    },
    async close() {
      await Promise.all([...pushes.values()].map((p) => p.stop().catch(() => undefined)));
      for (const f of feeds.values()) f.close('the server is stopping');
      feeds.clear();
      await serial(async () => {
        await Promise.all([...runners.values()].map((r) => r.runner.stop({ checkpoint: true }).catch(() => undefined)));
      });
      await Promise.all([...retiring]);
      const release = releaseReaders; releaseReaders = null;
      await release?.();
    },
    async execute(sql: string) {
      // Parsed off the main thread under a deadline, before waiting for the engine's turn.
      const parsed = await preparseRequest(sql);
      return serial(async () => {
        const planned = planRequest(sql, catalog, parsed);
        checkCapacity(planned);
        const results: StatementResult[] = [];
        // A statement that fails while taking effect takes back the CREATEs of its request (DROPs stay done).
        const undo: (() => Promise<void>)[] = [];
        try {
          for (const ps of planned) results.push(await apply(ps, undo));
        } catch (e) {
          for (const u of undo.reverse()) await u().catch((x: Error) => cfg.log('warn', `undo failed: ${x.message}`));
          throw e;
        }
        return results;
      });
    },
    queries: () => [...runners.keys()].map((id) => info(id)!),
    query: info,
    async progress(id) { return runners.get(id)?.runner.progress(); },
    async stopQuery(id) {
      // The catalog change is serialised with other statements; the runner's stop is not: other
      // requests never wait behind a query's Kafka I/O (its stop is bounded, see queries/runner.ts).
      const r = await serial(async () => {
        const x = runners.get(id);
        if (!x) return null;
        runners.delete(id);
        catalog.remove(x.object);
        tables.delete(x.object.toLowerCase());
        closeFeed(x.object);
        const i = stored.findIndex((o) => o.queryId === id);
        if (i >= 0) stored.splice(i, 1);
        await persist();
        return x;
      });
      if (!r) return false;
      await retire(r.runner);
      return true;
    },
    table: (name) => tables.get(name.toLowerCase()),
    objects: () => catalog.all(),
    runner: (id) => runners.get(id)?.runner,
    catalogInfo: () => catalogInfo(),
    viewRows(name, limit) {
      const v = materialized(name);
      if (!v) return undefined;
      const all = v.table.rows();
      const rows = limit !== undefined && all.length > limit ? all.slice(all.length - limit) : all;
      const budget = resultBudget(`the newest ${rows.length} rows of ${v.def.name}`, 'ask for fewer with ?limit=N');
      const objects = rows.map((r) => budget.add(rowObject(v.def.schema, r, v.def.visibleCount)));
      return { name: v.def.name, epoch: v.table.epoch, total: all.length, columns: columnsOf(v.def.schema, v.def.visibleCount), rows: objects };
    },
    viewFeed(name) {
      const v = materialized(name);
      if (!v) return undefined;
      const key = v.def.name.toLowerCase();
      let feed = feeds.get(key);
      // A view dropped and created again has a new table: its old feed is stale.
      if (feed && feed.table !== v.table) { feed.close(); feed = undefined; }
      if (!feed) { feed = createViewFeed(v.table, v.def.visibleCount); feeds.set(key, feed); }
      return { feed, columns: columnsOf(v.def.schema, v.def.visibleCount) };
    },
    startPush,
    pushQueries: () => [...pushes.values()],
  };

  function closeFeed(name: string): void {
    const f = feeds.get(name.toLowerCase());
    if (f) { f.close(); feeds.delete(name.toLowerCase()); }
  }

  function materialized(name: string): { def: MaterializedViewDef; table: QueryTable } | undefined {
    const def = catalog.get(name);
    const table = tables.get(name.toLowerCase());
    if (!def || def.kind !== 'materialized_view' || !table) return undefined;
    return { def, table };
  }

  function catalogInfo(): CatalogInfo {
    const all = catalog.all();
    const sources: CatalogInfo['sources'][number][] = [];
    const views: CatalogInfo['views'][number][] = [];
    const sinks: CatalogInfo['sinks'][number][] = [];
    for (const o of all) {
      switch (o.kind) {
        case 'source':
          sources.push({
            name: o.name, columns: columnsOf(o.schema), topics: [...o.options.topics], topicPattern: o.options.topicPattern,
            format: o.options.format, watermark: o.watermark ? { column: o.watermark.column, delayMs: o.watermark.delayMs } : null,
          });
          break;
        case 'view': views.push({ name: o.name, kind: 'view', columns: columnsOf(o.schema) }); break;
        case 'materialized_view':
          views.push({
            name: o.name, kind: 'materialized_view', columns: columnsOf(o.schema, o.visibleCount), ...queryIdOf(o.name),
            keyColumns: o.keyColumns ? o.keyColumns.map((i) => o.schema.fields[i]!.name) : null, emit: o.emit,
          });
          break;
        case 'sink': sinks.push({ name: o.name, topic: o.sink.topic, columns: columnsOf(o.schema), ...queryIdOf(o.name) }); break;
      }
    }
    return { sources, views, sinks };
  }

  async function startPush(sql: string, opts: PushOptions): Promise<PushHandle> {
    const planned = planRequest(sql, catalog, await preparseRequest(sql));
    const p = planned[0]?.planned;
    if (planned.length !== 1 || p?.kind !== 'push') {
      throw new SqlError('POST /v1/query-stream takes one push query: SELECT … FROM <source> … EMIT CHANGES', 1, 1);
    }
    if (cfg.maxQueries !== undefined && runners.size + pushes.size >= cfg.maxQueries) {
      throw new SqlError(`too many running queries (MAX_QUERIES = ${cfg.maxQueries}); stop one first`, 1, 1, 'busy');
    }
    const id = randomUUID();
    const schema = p.physical.schema;
    const query = await startPushQuery({
      id, plan: p.physical, visibleCount: p.visibleCount, brokers: cfg.brokers, log: cfg.log,
      startFrom: opts.startFrom, intervalMs: opts.intervalMs,
      onChanges: opts.onChanges,
      onError: (e) => { pushes.delete(id); opts.onError(e); },
    });
    const handle: PushHandle = {
      id, sql, query,
      columns: columnsOf(schema, p.visibleCount),
      keyColumns: p.keyColumns ? p.keyColumns.filter((i) => i < p.visibleCount).map((i) => schema.fields[i]!.name) : null,
      // Counted until it has stopped, so close() waits for a stop already under way.
      async stop() { await query.stop(); pushes.delete(id); },
    };
    pushes.set(id, handle);
    return handle;
  }
}

/**
 * Counts the JSON bytes of result rows as they are built and refuses a result over
 * MAX_PULL_RESULT_BYTES with a 4xx naming the limit (past ~512 MB a JSON string cannot even be made).
 */
function resultBudget(what: string, hint = 'add a LIMIT or a WHERE clause'): { add<T>(row: T): T } {
  let bytes = 0;
  return {
    add(row) {
      bytes += jsonSize(row);
      if (bytes > limits.MAX_PULL_RESULT_BYTES) {
        throw new SqlError(`${what} is larger than ${limits.MAX_PULL_RESULT_BYTES / 1048576} MiB of JSON (limit MAX_PULL_RESULT_BYTES): ${hint}`, 1, 1, 'limit');
      }
      return row;
    },
  };
}

/** About the length of `v` as JSON (strings by their length; escapes not counted). */
function jsonSize(v: unknown): number {
  if (v === null || v === undefined) return 4;
  switch (typeof v) {
    case 'string': return v.length + 2;
    case 'number': return 24;
    case 'boolean': return 5;
    case 'object': {
      let n = 2;
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) n += k.length + 4 + jsonSize(x);
      return n;
    }
    default: return 8;
  }
}

export function columnsOf(schema: Schema, visible = schema.fields.length): ColumnInfo[] {
  return schema.fields.slice(0, visible).map((f) => ({ name: f.name, type: typeToString(f.type) }));
}
