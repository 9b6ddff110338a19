/**
 * The engine: what runs a SQL request from start to end, and nothing else. It owns the order of
 * things: requests one at a time (the serial lock), every statement of a request planned (checked)
 * before any takes effect, capacity checked before any query starts, the statements applied in order by
 * their handlers (queries/handlers/), and a request that fails half-way taken back (the undo list), so
 * it leaves nothing of itself behind. At start it replays the stored catalog and restarts its queries;
 * at close it stops them with a last checkpoint.
 *
 * Where the rest lives: the catalog and DATA_DIR/catalog.json in queries/catalog-store.ts, running
 * queries and view tables in queries/query-registry.ts, catalog and view reads in
 * queries/view-reads.ts, push queries in queries/push-registry.ts, the public types in
 * queries/engine-api.ts.
 */
import { promises as fs } from 'node:fs';
import { holdReaders } from '../connectors/kafka/source.ts';
import { planRequest, preparseRequest, SqlError, warmParser, type PlannedStatement } from '../planner/index.ts';
import { createCatalogStore } from './catalog-store.ts';
import type { Engine, EngineConfig, StatementResult } from './engine-api.ts';
import { applyStatement, type HandlerContext, type UndoList } from './handlers/index.ts';
import { createPushRegistry } from './push-registry.ts';
import { createQueryRegistry } from './query-registry.ts';
import { createViewReads } from './view-reads.ts';

export type { CatalogInfo, ColumnInfo, Engine, EngineConfig, PushHandle, PushOptions, QueryInfo, StatementResult, ViewRows } from './engine-api.ts';
export { columnsOf } from './results.ts';

export function createEngine(cfg: EngineConfig): Engine {
  const store = createCatalogStore(cfg.dataDir);
  const queries = createQueryRegistry(cfg);
  const reads = createViewReads(store, queries);
  const pushes = createPushRegistry(cfg, store);
  const ctx: HandlerContext = { cfg, store, queries, closeFeed: (name) => reads.closeFeed(name) };
  let releaseReaders: (() => Promise<void>) | null = null;

  let lock: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => { const r = lock.then(f); lock = r.catch(() => undefined); return r; };

  /** Refuses a request whose new queries would go past MAX_QUERIES, before any statement takes effect. */
  function checkCapacity(planned: readonly PlannedStatement[]): void {
    if (cfg.maxQueries === undefined) return;
    const starts = planned.filter((ps) => (ps.planned.kind === 'create_materialized_view' || ps.planned.kind === 'create_sink') && !ps.planned.exists).length;
    const running = queries.size + pushes.size;
    if (starts > 0 && running + starts > cfg.maxQueries) {
      throw new SqlError(`too many running queries: this request starts ${starts}, ${Math.max(0, cfg.maxQueries - running)} more may run (MAX_QUERIES = ${cfg.maxQueries}); drop one first`, 1, 1, 'busy');
    }
  }

  /** Replays the stored catalog: each statement planned again, its query restarted from its checkpoints. */
  async function restore(): Promise<void> {
    for (const s of await store.load()) {
      try {
        const [ps] = planRequest(s.sql, store.catalog);
        const p = ps!.planned;
        if (p.kind === 'create_source' || p.kind === 'create_view' || p.kind === 'create_materialized_view' || p.kind === 'create_sink') {
          store.restore(p.def, s);
          if ((p.kind === 'create_materialized_view' || p.kind === 'create_sink') && s.queryId) await queries.start(p, s.sql, s.queryId);
        }
      } catch (e) {
        // Left out of the catalog (and of the file at its next write); the log says why.
        cfg.log('error', `cannot restore ${s.kind} ${s.name}: ${(e as Error).message}`);
      }
    }
  }

  return {
    async start() {
      releaseReaders ??= holdReaders();
      warmParser();
      await fs.mkdir(cfg.dataDir, { recursive: true });
      await restore();
    },
    async close() {
      await pushes.stopAll();
      reads.closeAll('the server is stopping');
      await serial(() => queries.stopAll());
      await queries.retired();
      const release = releaseReaders; releaseReaders = null;
      await release?.();
    },
    async execute(sql: string) {
      // Parsed off the main thread under a deadline, before waiting for the engine's turn.
      const parsed = await preparseRequest(sql);
      return serial(async () => {
        const planned = planRequest(sql, store.catalog, parsed);
        checkCapacity(planned);
        const results: StatementResult[] = [];
        // A statement that fails while taking effect takes back the CREATEs of its request (DROPs stay done).
        const undo: UndoList = [];
        try {
          for (const ps of planned) results.push(await applyStatement(ctx, ps, undo));
        } catch (e) {
          for (const u of undo.reverse()) await u().catch((x: Error) => cfg.log('warn', `undo failed: ${x.message}`));
          throw e;
        }
        return results;
      });
    },
    queries: () => queries.ids().map((id) => queries.info(id)!),
    query: (id) => queries.info(id),
    async progress(id) { return queries.get(id)?.runner.progress(); },
    async stopQuery(id) {
      // The catalog change is serialised with other statements; the runner's stop is not: other
      // requests never wait behind a query's Kafka I/O (its stop is bounded, see queries/runner.ts).
      const r = await serial(async () => {
        const x = queries.take(id);
        if (!x) return null;
        queries.removeTable(x.object);
        reads.closeFeed(x.object);
        await store.remove(x.object);
        return x;
      });
      if (!r) return false;
      await queries.retire(r.runner);
      return true;
    },
    table: (name) => queries.table(name),
    objects: () => store.all(),
    runner: (id) => queries.get(id)?.runner,
    catalogInfo: () => reads.catalogInfo(),
    viewRows: (name, limit) => reads.viewRows(name, limit),
    viewFeed: (name) => reads.viewFeed(name),
    startPush: (sql, opts) => pushes.start(sql, opts, queries.size),
    pushQueries: () => pushes.list(),
  };
}
