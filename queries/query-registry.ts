/**
 * The continuous queries the engine runs (one behind each materialized view and sink) and the query
 * tables of the views. Starting a query creates its view's table and its runner; dropping one takes it
 * out of the registry at once and stops it in the background (`retire`), so other statements never
 * wait behind a query's Kafka I/O; `close` waits for those stops. The catalog itself is in
 * queries/catalog-store.ts; this file only runs what the catalog describes.
 */
import { createQueryTable, type QueryTable } from '../connectors/table/query-table.ts';
import { redactSql, type Planned } from '../planner/index.ts';
import type { EngineConfig, QueryInfo } from './engine-api.ts';
import { createQueryRunner, queryDir, type QueryRunner } from './runner.ts';

export type QueryPlan = Extract<Planned, { kind: 'create_materialized_view' | 'create_sink' }>;

export interface RunningQuery { readonly runner: QueryRunner; readonly kind: 'materialized_view' | 'sink'; readonly object: string }

export interface QueryRegistry {
  readonly size: number;
  ids(): string[];
  get(id: string): RunningQuery | undefined;
  info(id: string): QueryInfo | undefined;
  /** Creates the view's table (materialized views), then starts the query under `id`. */
  start(p: QueryPlan, sql: string, id: string): Promise<void>;
  /** Takes a query out of the registry (not stopped yet: `retire` it). */
  take(id: string): RunningQuery | undefined;
  /** Takes a query out and waits for its stop and the removal of its checkpoints. */
  drop(id: string): Promise<void>;
  /** Stops a runner taken out of the registry and deletes its checkpoints; close() waits for it. */
  retire(runner: QueryRunner): Promise<void>;
  /** A materialized view's table, by name. */
  table(name: string): QueryTable | undefined;
  removeTable(name: string): void;
  /** Stops every running query, each with a last checkpoint. */
  stopAll(): Promise<void>;
  /** Waits for the queries being retired. */
  retired(): Promise<void>;
}

export function createQueryRegistry(cfg: EngineConfig): QueryRegistry {
  const runners = new Map<string, RunningQuery>();
  const tables = new Map<string, QueryTable>();
  const retiring = new Set<Promise<void>>();

  const retire = (runner: QueryRunner): Promise<void> => {
    // The runner's stop is bounded in time even when its query is stuck in Kafka I/O (queries/runner.ts).
    const p: Promise<void> = (async () => {
      await runner.stop();
      await runner.destroy();
    })().catch((e) => { cfg.log('warn', `query ${runner.name}: stop: ${(e as Error).message}`); }).finally(() => { retiring.delete(p); });
    retiring.add(p);
    return p;
  };

  const reg: QueryRegistry = {
    get size() { return runners.size; },
    ids: () => [...runners.keys()],
    get: (id) => runners.get(id),
    info(id) {
      const r = runners.get(id);
      if (!r) return undefined;
      const status = r.runner.state();
      return { id, name: r.runner.name, kind: r.kind, sql: r.runner.sql, status, error: status === 'running' ? null : r.runner.lastError() };
    },
    async start(p, sql, id) {
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
    },
    take(id) {
      const r = runners.get(id);
      if (r) runners.delete(id);
      return r;
    },
    async drop(id) {
      const r = reg.take(id);
      if (r) await retire(r.runner);
    },
    retire,
    table: (name) => tables.get(name.toLowerCase()),
    removeTable(name) { tables.delete(name.toLowerCase()); },
    async stopAll() {
      await Promise.all([...runners.values()].map((r) => r.runner.stop({ checkpoint: true }).catch(() => undefined)));
    },
    async retired() { await Promise.all([...retiring]); },
  };
  return reg;
}
