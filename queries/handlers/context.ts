/**
 * What a statement handler works with: the catalog store, the running queries, and the undo list of
 * the request being applied. A request's statements are all planned before any handler runs
 * (planner/planner.ts); handlers then apply them in order, and each CREATE registers how to take it
 * back, so a request that fails half-way leaves nothing of itself behind (queries/engine.ts runs the
 * undo list). DROPs that already took effect stay done.
 */
import type { StatementResult, EngineConfig } from '../engine-api.ts';
import type { CatalogStore } from '../catalog-store.ts';
import type { QueryPlan, QueryRegistry } from '../query-registry.ts';
import type { PlannedStatement } from '../../planner/index.ts';
import type { QueryTable } from '../../connectors/table/query-table.ts';

export interface HandlerContext {
  readonly cfg: EngineConfig;
  readonly store: CatalogStore;
  readonly queries: QueryRegistry;
  /** Ends the change feed (SSE clients) of a view that is gone. */
  closeFeed(name: string): void;
  /**
   * The id of a new query. Random on a single instance; with a cluster derived from the command and the
   * statement's place in it, so every instance gives the query the same id (queries/cluster/catalog-log.ts).
   */
  newQueryId(): string;
  /**
   * Starts the query behind a created view or sink: the engine decides whether and when it runs here
   * (`EngineConfig.runQuery`; deferred while a cluster's command log is replayed at start).
   */
  startQuery(p: QueryPlan, sql: string, id: string): Promise<void>;
  /** Stops a query and deletes its checkpoints (whether it ran here or not). */
  dropQuery(id: string): Promise<void>;
  /** With a cluster: a view run as tasks, gathered whole from every instance for this request's pull queries. */
  viewTable?(name: string): QueryTable | undefined;
}

/** Steps taking back what the request has done so far; run in reverse order when it fails. */
export type UndoList = (() => Promise<void>)[];

export type Handler<K extends PlannedStatement['planned']['kind']> = (
  ctx: HandlerContext, p: Extract<PlannedStatement['planned'], { kind: K }>, sql: string, undo: UndoList,
) => StatementResult | Promise<StatementResult>;

/**
 * Removes an object with everything it has at run time: its query (stopped, checkpoints deleted), its
 * view table and change feed, its catalog entry (the file is rewritten).
 */
export async function removeObject(ctx: HandlerContext, name: string): Promise<void> {
  const id = ctx.store.queryIdOf(name);
  if (id) await ctx.dropQuery(id);
  await ctx.store.remove(name);
  ctx.queries.removeTable(name);
  ctx.closeFeed(name);
}

/** Takes back a CREATE of this request (or one whose query failed to start); never throws. */
export function undoCreate(ctx: HandlerContext, name: string): () => Promise<void> {
  return async () => {
    await removeObject(ctx, name).catch((e: Error) => ctx.cfg.log('warn', `undo of ${name}: ${e.message}`));
  };
}
