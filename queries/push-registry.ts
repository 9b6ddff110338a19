/**
 * Ad-hoc push queries (`SELECT … EMIT CHANGES` at POST /v1/query-stream): planned against the catalog,
 * started by queries/push.ts, and counted with the continuous queries under MAX_QUERIES until stopped.
 */
import { randomUUID } from 'node:crypto';
import { planRequest, preparseRequest, SqlError } from '../planner/index.ts';
import type { CatalogStore } from './catalog-store.ts';
import type { EngineConfig, PushHandle, PushOptions } from './engine-api.ts';
import { startPushQuery } from './push.ts';
import { columnsOf } from './results.ts';

export interface PushRegistry {
  readonly size: number;
  /** Starts a push query; `running` is how many continuous queries run now (for MAX_QUERIES). */
  start(sql: string, opts: PushOptions, running: number): Promise<PushHandle>;
  list(): readonly PushHandle[];
  stopAll(): Promise<void>;
}

export function createPushRegistry(cfg: EngineConfig, store: CatalogStore): PushRegistry {
  const pushes = new Map<string, PushHandle>();
  return {
    get size() { return pushes.size; },
    async start(sql, opts, running) {
      const planned = planRequest(sql, store.catalog, await preparseRequest(sql));
      const p = planned[0]?.planned;
      if (planned.length !== 1 || p?.kind !== 'push') {
        throw new SqlError('POST /v1/query-stream takes one push query: SELECT … FROM <source> … EMIT CHANGES', 1, 1);
      }
      if (cfg.maxQueries !== undefined && running + pushes.size >= cfg.maxQueries) {
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
    },
    list: () => [...pushes.values()],
    async stopAll() { await Promise.all([...pushes.values()].map((p) => p.stop().catch(() => undefined))); },
  };
}
